//! Freshness statements: what TUF's timestamp role gives its clients, for snapshots.
//!
//! A signed snapshot proves who published a state, not that it is still the newest: an
//! origin (or anyone between it and a client) can serve an old signed snapshot to a client
//! that holds none yet (rollback), stop serving new ones (freeze), or serve another
//! environment's or audience's (mix-and-match). A freshness statement closes that: a small
//! signed object naming the environment, the audience, the newest version and that
//! version's signature, and until when the publisher vouches for it. It is re-issued on
//! every change and on a schedule, so snapshots themselves stay canonical (same state, same
//! bytes) while the statement's expiry moves.
//!
//! ```text
//!  "VXFR" 1 | environment | audience | version | snapshot signature (64) | issued | expires
//!          | 1 | public key (32) | ed25519 signature (64) over everything before it
//! ```
//!
//! The core only checks; the caller brings the clock (sans-I/O).

use crate::error::{DecodeError, DecodeErrorKind as K};
use crate::limits::MAX_FRESHNESS_BYTES;
use crate::model::AudienceKind;
use crate::snapshot::{Snapshot, PUBLIC_KEY_LEN, SIGNATURE_LEN};
use crate::verify::{verify_trailer, Trailer, Verifier};
use crate::wire::Reader;
use alloc::string::String;

/// The first four bytes of every freshness statement.
pub const FRESHNESS_MAGIC: [u8; 4] = *b"VXFR";
/// The freshness statement format this build reads and writes.
pub const FRESHNESS_FORMAT: u8 = 1;

/// A verified freshness statement.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Freshness {
    environment: String,
    audience: AudienceKind,
    version: u64,
    snapshot_signature: [u8; SIGNATURE_LEN],
    issued_at: i64,
    expires_at: i64,
}

impl Freshness {
    /// Decodes and verifies `bytes`. A statement means nothing unsigned, so it must be signed
    /// by one of `trusted_keys` (none given: refused as untrusted).
    #[cfg(feature = "verify")]
    pub fn decode(bytes: &[u8], trusted_keys: &[[u8; PUBLIC_KEY_LEN]]) -> Result<Freshness, DecodeError> {
        Freshness::decode_with(bytes, trusted_keys, &crate::verify::Ed25519)
    }

    /// [`Freshness::decode`] with signatures checked by `verifier`.
    pub fn decode_with(
        bytes: &[u8],
        trusted_keys: &[[u8; PUBLIC_KEY_LEN]],
        verifier: &dyn Verifier,
    ) -> Result<Freshness, DecodeError> {
        if bytes.len() > MAX_FRESHNESS_BYTES {
            return Err(DecodeError::new(K::TooLarge, MAX_FRESHNESS_BYTES));
        }
        if bytes.len() < 5 || bytes[..4] != FRESHNESS_MAGIC {
            return Err(DecodeError::new(K::BadMagic, 0));
        }
        if bytes[4] != FRESHNESS_FORMAT {
            return Err(DecodeError::new(K::VersionMismatch { expected: FRESHNESS_FORMAT, found: bytes[4] }, 4));
        }
        if trusted_keys.is_empty() {
            return Err(DecodeError::new(K::UntrustedKey, bytes.len()));
        }
        let message_len = match verify_trailer(bytes, trusted_keys, verifier)? {
            Some(Trailer::Verified(len)) => len,
            _ => return Err(DecodeError::new(K::UntrustedKey, bytes.len())),
        };
        let mut r = Reader::new(&bytes[..message_len], 5);
        let environment = String::from(r.str_span()?.str(bytes));
        let audience = match r.varint()? {
            0 => AudienceKind::Server,
            1 => AudienceKind::Browser,
            _ => return Err(DecodeError::new(K::UnknownTag, r.pos() - 1)),
        };
        let version = r.varint()?;
        let snapshot_signature = r.array()?;
        let issued_at = r.zigzag()?;
        let expires_at = r.zigzag()?;
        if r.remaining() != 0 {
            return Err(r.err(K::TrailingBytes));
        }
        Ok(Freshness { environment, audience, version, snapshot_signature, issued_at, expires_at })
    }

    /// The environment it vouches for.
    pub fn environment(&self) -> &str {
        &self.environment
    }

    /// The audience it vouches for.
    pub fn audience(&self) -> AudienceKind {
        self.audience
    }

    /// The newest version when it was issued.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// When it was issued (ms since the epoch).
    pub fn issued_at(&self) -> i64 {
        self.issued_at
    }

    /// Until when it vouches (ms since the epoch).
    pub fn expires_at(&self) -> i64 {
        self.expires_at
    }
}

impl Snapshot {
    /// The ed25519 signature of a signed snapshot (what a freshness statement names).
    pub fn signature(&self) -> Option<&[u8; SIGNATURE_LEN]> {
        self.signer()?;
        let bytes = self.bytes();
        bytes[bytes.len() - SIGNATURE_LEN..].try_into().ok()
    }

    /// Whether this is the snapshot a caller configured for: its environment and audience
    /// (both inside the signed body). Without it, one key's signature on staging's snapshot,
    /// or on a browser snapshot, would pass for production's full one.
    pub fn expect(&self, environment: &str, audience: AudienceKind) -> Result<(), DecodeError> {
        if self.environment() != environment {
            return Err(DecodeError::new(K::WrongEnvironment, 0));
        }
        if self.audience().kind() != audience {
            return Err(DecodeError::new(K::WrongAudience, 0));
        }
        Ok(())
    }

    /// Whether `statement` vouches for this snapshot at `now_ms`: same environment and
    /// audience, not expired, and naming this version (with this signature) or an older
    /// one — a snapshot newer than the statement was published after it, and is signed.
    pub fn check_freshness(&self, statement: &Freshness, now_ms: i64) -> Result<(), DecodeError> {
        let end = self.bytes().len();
        if statement.environment != self.environment() {
            return Err(DecodeError::new(K::WrongEnvironment, end));
        }
        if statement.audience != self.audience().kind() {
            return Err(DecodeError::new(K::WrongAudience, end));
        }
        if now_ms > statement.expires_at {
            return Err(DecodeError::new(K::Expired, end));
        }
        if statement.version > self.version() {
            return Err(DecodeError::new(K::Rollback, end));
        }
        if statement.version == self.version() && self.signature() != Some(&statement.snapshot_signature) {
            return Err(DecodeError::new(K::BadSignature, end));
        }
        Ok(())
    }
}

/// The freshness statement for `snapshot` (a signed one, as decoded), issued at `issued_at`
/// and vouching until `expires_at` (ms since the epoch), signed with `key`.
#[cfg(feature = "encode")]
pub fn encode_freshness(
    snapshot: &Snapshot,
    issued_at: i64,
    expires_at: i64,
    key: &crate::SigningKey,
) -> Result<alloc::vec::Vec<u8>, crate::EncodeError> {
    let refuse = |m: &str| crate::EncodeError::new(None, m);
    let Some(signature) = snapshot.signature() else {
        return Err(refuse("a freshness statement vouches for signed snapshots only"));
    };
    if expires_at < issued_at {
        return Err(refuse("a freshness statement expires after it is issued"));
    }
    let mut w = crate::wire::Writer { out: alloc::vec::Vec::new() };
    w.out.extend_from_slice(&FRESHNESS_MAGIC);
    w.byte(FRESHNESS_FORMAT);
    w.str(snapshot.environment());
    w.varint(match snapshot.audience().kind() {
        AudienceKind::Server => 0,
        AudienceKind::Browser => 1,
    });
    w.varint(snapshot.version());
    w.out.extend_from_slice(signature);
    w.zigzag(issued_at);
    w.zigzag(expires_at);
    let signature = key.sign(&w.out);
    w.byte(1);
    w.out.extend_from_slice(&key.public_key());
    w.out.extend_from_slice(&signature);
    Ok(w.out)
}

#[cfg(all(test, feature = "encode", feature = "verify"))]
mod tests {
    use super::*;
    use crate::model::{Audience, Environment};
    use crate::{encode, SigningKey};

    fn key(seed: u8) -> SigningKey {
        SigningKey::from_seed([seed; 32]).unwrap()
    }

    fn statement(bytes: &[u8], issued: i64, expires: i64, k: &SigningKey) -> alloc::vec::Vec<u8> {
        encode_freshness(&Snapshot::decode(bytes, &[]).unwrap(), issued, expires, k).unwrap()
    }

    fn snapshot(env: &str, version: u64, audience: Audience, k: &SigningKey) -> alloc::vec::Vec<u8> {
        let e = Environment { audience, ..Environment::new(env, version, 1_000) };
        encode(&e, Some(k)).unwrap()
    }

    #[test]
    fn a_statement_vouches_for_its_snapshot_until_it_expires() {
        let k = key(1);
        let trusted = [k.public_key()];
        let v5 = snapshot("production", 5, Audience::Server, &k);
        let statement = statement(&v5, 10_000, 20_000, &k);
        let f = Freshness::decode(&statement, &trusted).unwrap();
        assert_eq!((f.environment(), f.version(), f.issued_at(), f.expires_at()), ("production", 5, 10_000, 20_000));
        let s = Snapshot::decode(&v5, &trusted).unwrap();
        assert_eq!(s.check_freshness(&f, 20_000), Ok(()));
        assert_eq!(s.check_freshness(&f, 20_001).unwrap_err().kind(), K::Expired);

        // A snapshot published after the statement is newer and signed: vouched for.
        let v6 = Snapshot::decode(&snapshot("production", 6, Audience::Server, &k), &trusted).unwrap();
        assert_eq!(v6.check_freshness(&f, 15_000), Ok(()));
        // An older one is a rollback, however validly signed.
        let v4 = Snapshot::decode(&snapshot("production", 4, Audience::Server, &k), &trusted).unwrap();
        assert_eq!(v4.check_freshness(&f, 15_000).unwrap_err().kind(), K::Rollback);
        // Another snapshot under the same version number is not the one vouched for.
        let other_v5 = Environment { published_at: 2_000, ..Environment::new("production", 5, 0) };
        let other_v5 = Snapshot::decode(&encode(&other_v5, Some(&k)).unwrap(), &trusted).unwrap();
        assert_eq!(other_v5.check_freshness(&f, 15_000).unwrap_err().kind(), K::BadSignature);
    }

    #[test]
    fn mix_and_match_is_refused() {
        let k = key(2);
        let trusted = [k.public_key()];
        let staging = Snapshot::decode(&snapshot("staging", 5, Audience::Server, &k), &trusted).unwrap();
        let browser =
            Snapshot::decode(&snapshot("production", 5, Audience::Browser { salt: [3; 16] }, &k), &trusted).unwrap();
        assert_eq!(staging.expect("production", AudienceKind::Server).unwrap_err().kind(), K::WrongEnvironment);
        assert_eq!(browser.expect("production", AudienceKind::Server).unwrap_err().kind(), K::WrongAudience);
        assert_eq!(browser.expect("production", AudienceKind::Browser), Ok(()));
        let production = statement(&snapshot("production", 5, Audience::Server, &k), 0, 10, &k);
        let f = Freshness::decode(&production, &trusted).unwrap();
        assert_eq!(staging.check_freshness(&f, 0).unwrap_err().kind(), K::WrongEnvironment);
        assert_eq!(browser.check_freshness(&f, 0).unwrap_err().kind(), K::WrongAudience);
    }

    #[test]
    fn only_a_trusted_intact_statement_decodes() {
        let k = key(3);
        let v1 = snapshot("production", 1, Audience::Server, &k);
        let statement = statement(&v1, 0, 10, &k);
        assert_eq!(Freshness::decode(&statement, &[]).unwrap_err().kind(), K::UntrustedKey);
        assert_eq!(Freshness::decode(&statement, &[key(4).public_key()]).unwrap_err().kind(), K::UntrustedKey);
        for i in 0..statement.len() {
            let mut forged = statement.clone();
            forged[i] ^= 0x10;
            assert!(Freshness::decode(&forged, &[k.public_key()]).is_err(), "byte {i}");
            assert!(Freshness::decode(&statement[..i], &[k.public_key()]).is_err(), "cut at {i}");
        }
        // A snapshot is not a statement, though the same key signed it.
        assert_eq!(Freshness::decode(&v1, &[k.public_key()]).unwrap_err().kind(), K::BadMagic);
        let unsigned = encode(&Environment::new("production", 1, 0), None).unwrap();
        assert!(encode_freshness(&Snapshot::decode(&unsigned, &[]).unwrap(), 0, 10, &k).is_err());
    }
}
