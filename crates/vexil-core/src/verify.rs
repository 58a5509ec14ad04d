//! Signatures: a snapshot may end in an ed25519 trailer (public key, signature over every
//! byte before it). With trusted keys given, a snapshot must carry one, by a trusted key,
//! that verifies.

use crate::error::{DecodeError, DecodeErrorKind as K};
use crate::snapshot::{PUBLIC_KEY_LEN, SIGNATURE_LEN};

/// Checks an ed25519 signature. [`crate::Snapshot::decode`] uses the built-in one (feature
/// `verify`); the browser build passes one that calls a separately loaded module, so pages
/// that never check signatures never download the curve arithmetic.
pub trait Verifier {
    /// Whether `signature` is `public_key`'s signature of `message`.
    fn verify(&self, public_key: &[u8; PUBLIC_KEY_LEN], message: &[u8], signature: &[u8; SIGNATURE_LEN]) -> bool;
}

/// ed25519-compact's verification.
#[cfg(feature = "verify")]
#[derive(Clone, Copy, Debug, Default)]
pub struct Ed25519;

#[cfg(feature = "verify")]
impl Verifier for Ed25519 {
    fn verify(&self, public_key: &[u8; PUBLIC_KEY_LEN], message: &[u8], signature: &[u8; SIGNATURE_LEN]) -> bool {
        let key = ed25519_compact::PublicKey::new(*public_key);
        key.verify(message, &ed25519_compact::Signature::new(*signature)).is_ok()
    }
}

/// A snapshot's signature trailer as decoded: where the signed message ends, the key, the
/// signature. None for an unsigned snapshot.
pub(crate) type SignedPart = Option<(usize, [u8; PUBLIC_KEY_LEN], [u8; SIGNATURE_LEN])>;

/// Length of the trailer of a signed snapshot: tag, public key, signature.
pub(crate) const TRAILER_LEN: usize = 1 + PUBLIC_KEY_LEN + SIGNATURE_LEN;

/// What the trailer at the end of `bytes` says, read without parsing anything before it:
/// a signed snapshot ends in exactly one, so its signature can be checked first.
pub(crate) enum Trailer {
    /// Signed by a trusted key, and the signature verifies; the message is `..len`.
    Verified(usize),
    /// Signed by a key that is not trusted — or an unsigned snapshot whose body happens to
    /// hold the tag byte there; only parsing tells which.
    Untrusted,
}

/// Applies the trust policy to the fixed-size trailer before any parsing: nothing to check
/// without trusted keys (None).
pub(crate) fn verify_trailer(
    bytes: &[u8],
    trusted_keys: &[[u8; PUBLIC_KEY_LEN]],
    verifier: &dyn Verifier,
) -> Result<Option<Trailer>, DecodeError> {
    if trusted_keys.is_empty() {
        return Ok(None);
    }
    let Some(message_len) = bytes.len().checked_sub(TRAILER_LEN) else {
        return Err(DecodeError::new(K::Unsigned, bytes.len()));
    };
    // Every snapshot has at least its header before the trailer.
    if message_len < 5 || bytes[message_len] != 1 {
        return Err(DecodeError::new(K::Unsigned, bytes.len()));
    }
    let mut key = [0u8; PUBLIC_KEY_LEN];
    key.copy_from_slice(&bytes[message_len + 1..message_len + 1 + PUBLIC_KEY_LEN]);
    if !trusted_keys.contains(&key) {
        return Ok(Some(Trailer::Untrusted));
    }
    let mut signature = [0u8; SIGNATURE_LEN];
    signature.copy_from_slice(&bytes[message_len + 1 + PUBLIC_KEY_LEN..]);
    if !verifier.verify(&key, &bytes[..message_len], &signature) {
        return Err(DecodeError::new(K::BadSignature, message_len));
    }
    Ok(Some(Trailer::Verified(message_len)))
}
