//! Signing keys: the secret key file (base64 of the 32-byte seed, mode 0600, outside
//! version control) and public keys as vexil.toml and the SDKs take them (base64).

use crate::atomic_file::write_secret_atomically;
use crate::config::{self, Config};
use crate::error::{Error, ErrorContext, Result};
use base64::Engine;
use std::path::{Path, PathBuf};
use vexil_core::SigningKey;

/// Decodes a base64 ed25519 public key.
pub fn decode_key(text: &str) -> std::result::Result<[u8; 32], String> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .map_err(|e| format!("{text:?} is not base64: {e}"))?;
    bytes.try_into().map_err(|b: Vec<u8>| format!("{text:?} is {} bytes, an ed25519 public key is 32", b.len()))
}

/// Encodes a public key as `vexil.toml` and the SDKs take it.
pub fn encode_key(key: &[u8; 32]) -> String {
    base64::engine::general_purpose::STANDARD.encode(key)
}

/// Reads a signing key file (base64 of the 32-byte seed).
pub fn load_key(path: &Path) -> Result<SigningKey> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(format!("signing key {}: {e}", path.display())))?;
    let seed = decode_key(&text).map_err(|e| Error::refused(format!("signing key {}: {e}", path.display())))?;
    SigningKey::from_seed(seed)
        .ok_or_else(|| Error::refused(format!("signing key {}: an all-zero key is not a key", path.display())))
}

/// What `vexil keygen` made.
#[derive(Clone, Debug)]
pub struct NewKey {
    /// The secret key file.
    pub path: PathBuf,
    /// Its public key, base64, now trusted in vexil.toml.
    pub public_key: String,
}

/// `vexil keygen`: a new signing key in the file vexil.toml names (`.vexil/signing.key` by
/// default), trusted in vexil.toml next to the keys trusted before (a rotation keeps them,
/// so SDKs holding them accept snapshots signed before it). Refuses to replace a key unless
/// `force`.
pub fn keygen(config: &Config, force: bool) -> Result<NewKey> {
    let path = config.signing_key.clone().unwrap_or_else(|| config.root.join(".vexil/signing.key"));
    if path.exists() && !force {
        return Err(Error::refused(format!(
            "{} exists; pass --force to replace it (its public key stays trusted)",
            path.display()
        )));
    }
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| Error::io(format!("no randomness for a key: {e}")))?;
    let key = SigningKey::from_seed(seed).ok_or_else(|| Error::io("the random source returned zeros"))?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).context(format!("cannot create {}", dir.display()))?;
    }
    write_secret_atomically(&path, format!("{}\n", encode_key(&seed)).as_bytes())?;
    let public_key = encode_key(&key.public_key());
    config::trust_signing_key(&config.root, &path, &public_key)?;
    Ok(NewKey { path, public_key })
}
