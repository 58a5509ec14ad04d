//! Who a snapshot is for. Servers and edge workers get an environment's full state; browsers
//! get only its client-side flags, with allow-lists and opt-outs as salted hashes
//! ([`vexil_core::Environment::for_browser`]). Each version's browser snapshot is made and
//! signed when the version is committed and stored next to the full one, so serving it
//! needs no signing key. Lint's warnings about what browsers would receive live here too.

use crate::error::{Error, Result};
use crate::store::VersionRow;
use sha2::{Digest, Sha256};
use vexil_core::{encode, Environment, SigningKey};

/// The salt of an environment's browser snapshot at one version.
///
/// It cannot be secret: a page hashes its own actor's id with it. What it buys is that no
/// table of hashed ids carries over from one environment or version to the next. It is
/// derived, not drawn, so encoding stays canonical (same state, same bytes) and a version
/// stored before browser snapshots were, derived again later, comes out the same; and it
/// depends on nothing a browser may not see.
pub fn browser_salt(environment: &str, version: u64, published_at: i64) -> [u8; 16] {
    let mut h = Sha256::new();
    h.update(b"vexil browser salt v1\0");
    h.update(environment.as_bytes());
    h.update([0]);
    h.update(version.to_le_bytes());
    h.update(published_at.to_le_bytes());
    let digest = h.finalize();
    let mut salt = [0; 16];
    salt.copy_from_slice(&digest[..16]);
    salt
}

/// What browsers may see of the state in `server`.
pub fn browser_environment(server: &Environment) -> Result<Environment> {
    server
        .for_browser(browser_salt(&server.name, server.version, server.published_at))
        .map_err(|e| Error::refused(format!("environment {}: {e}", server.name)))
}

/// The browser snapshot of a stored version: the one made when it was committed, or, for a
/// version committed before vexil stored them, one derived now and signed with `key`.
pub fn browser_snapshot(row: &VersionRow, key: Option<&SigningKey>) -> Result<Vec<u8>> {
    if let Some(bytes) = &row.browser_snapshot {
        return Ok(bytes.clone());
    }
    let env = browser_environment(&row.decode()?.to_environment())?;
    encode(&env, key).map_err(|e| Error::refused(format!("environment {}: {e}", env.name)))
}

/// A literal in what browsers receive that looks like it identifies someone.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Exposure {
    /// The environment whose state holds it.
    pub environment: String,
    /// The client-side flag that brings it to browsers.
    pub flag: String,
    /// The feature group holding it, or None for the flag's own expression.
    pub group: Option<String>,
    /// The literal.
    pub literal: String,
    /// What it looks like (`an e-mail address`).
    pub looks_like: &'static str,
}

impl std::fmt::Display for Exposure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let place = match &self.group {
            Some(g) => format!("feature group `{g}` (vexil.toml), which it uses,"),
            None => "its expression".to_string(),
        };
        write!(
            f,
            "{}: client-side flag {}: {place} has {:?}, {}; every browser receives it (allow-lists are hashed in browser snapshots; edge bootstrap reveals nothing)",
            self.environment, self.flag, self.literal, self.looks_like
        )
    }
}

/// Literals in the client-side parts of `env` (a server environment) that look personal.
pub fn exposures(env: &Environment) -> Vec<Exposure> {
    let mut out = Vec::new();
    for (name, flag) in env.flags.iter().filter(|(_, f)| f.client_side) {
        let groups = flag.gates.groups.iter().filter_map(|g| env.groups.get(g).map(|e| (Some(g.clone()), e)));
        for (group, e) in flag.gates.expression.iter().map(|e| (None, e)).chain(groups) {
            for literal in e.string_constants() {
                if let Some(looks_like) = looks_personal(literal) {
                    out.push(Exposure {
                        environment: env.name.clone(),
                        flag: name.clone(),
                        group: group.clone(),
                        literal: literal.to_string(),
                        looks_like,
                    });
                }
            }
        }
    }
    out
}

/// Whether `text` looks like an e-mail address, a Flipper actor id or an IP address.
pub fn looks_personal(text: &str) -> Option<&'static str> {
    let text = text.trim();
    if let Some((local, domain)) = text.split_once('@') {
        if !local.is_empty() && domain.contains('.') && !domain.starts_with('.') && !domain.ends_with('.') {
            return Some("an e-mail address");
        }
    }
    if let Some((kind, id)) = text.split_once(':') {
        let kind_ok = kind.len() > 1
            && kind.starts_with(|c: char| c.is_ascii_uppercase())
            && kind.chars().all(|c| c.is_ascii_alphanumeric());
        if kind_ok && !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()) {
            return Some("an actor id");
        }
    }
    if text.parse::<std::net::IpAddr>().is_ok() {
        return Some("an IP address");
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn personal_literals() {
        for (text, kind) in [
            ("alice@example.com", Some("an e-mail address")),
            (" bob@gitlab.co.uk ", Some("an e-mail address")),
            ("User:42", Some("an actor id")),
            ("Project:7", Some("an actor id")),
            ("10.0.0.1", Some("an IP address")),
            ("2001:db8::1", Some("an IP address")),
            ("gold", None),
            ("@handle", None),
            ("a@localhost", None),
            ("User:", None),
            ("team:gitlab", None),
            ("1.5", None),
        ] {
            assert_eq!(looks_personal(text), kind, "{text:?}");
        }
    }

    #[test]
    fn salts_differ_by_environment_and_version_and_repeat_exactly() {
        assert_eq!(browser_salt("production", 3, 10), browser_salt("production", 3, 10));
        assert_ne!(browser_salt("production", 3, 10), browser_salt("production", 4, 10));
        assert_ne!(browser_salt("production", 3, 10), browser_salt("staging", 3, 10));
        assert_ne!(browser_salt("production", 3, 10), browser_salt("production", 3, 11));
    }
}
