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

/// Applies the trust policy to a decoded trailer: nothing to check without trusted keys.
pub(crate) fn check_signature(
    bytes: &[u8],
    signed: SignedPart,
    trusted_keys: &[[u8; PUBLIC_KEY_LEN]],
    verifier: &dyn Verifier,
) -> Result<(), DecodeError> {
    if trusted_keys.is_empty() {
        return Ok(());
    }
    let Some((message_len, key, signature)) = signed else {
        return Err(DecodeError::new(K::Unsigned, bytes.len()));
    };
    if !trusted_keys.contains(&key) {
        return Err(DecodeError::new(K::UntrustedKey, message_len));
    }
    if !verifier.verify(&key, &bytes[..message_len], &signature) {
        return Err(DecodeError::new(K::BadSignature, message_len));
    }
    Ok(())
}
