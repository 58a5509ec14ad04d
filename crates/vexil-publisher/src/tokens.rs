//! API tokens: who may change flags through `vexil serve --api` without the database's
//! credentials, and in which environments. A token is 32 random bytes shown once when it is
//! made; the database keeps only its SHA-256, so a copy of the database hands out no token.
//! Every change made with a token records the token's name as its author.
//!
//! A token's environments are listed by name; `*` stands for every environment except the one
//! vexil.toml calls production, which must always be named: production access is given on
//! purpose, never by a wildcard. Access is read (the API's GETs) or write (GETs and changes).

use crate::duration;
use crate::error::{Error, Result};
use crate::project::Project;
use crate::store::{Store, TokenRecord};
use base64::Engine;
use sha2::{Digest, Sha256};
use std::time::Duration;

/// What a token may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Access {
    /// Read state, definitions and the log.
    Read,
    /// Read, and change flags.
    Write,
}

impl Access {
    /// `read` or `write`.
    pub const fn name(self) -> &'static str {
        match self {
            Access::Read => "read",
            Access::Write => "write",
        }
    }

    /// The access called `name`.
    pub fn from_name(name: &str) -> Option<Access> {
        [Access::Read, Access::Write].into_iter().find(|a| a.name() == name)
    }
}

/// The environments of a token as the database stores them.
pub fn environments_from_text(text: &str) -> Vec<String> {
    text.split(',').filter(|s| !s.is_empty()).map(String::from).collect()
}

/// Who presented a valid token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    /// The token's name.
    pub name: String,
    /// Its environments (`*`: every one but production).
    pub environments: Vec<String>,
    /// Its access.
    pub access: Access,
}

impl Identity {
    /// Whether the token may read (or, with `write`, change) `environment`, where
    /// `production` is the environment vexil.toml calls production.
    pub fn allows(&self, environment: &str, write: bool, production: Option<&str>) -> bool {
        let named = self.environments.iter().any(|e| e == environment);
        let wildcard = self.environments.iter().any(|e| e == "*") && production != Some(environment);
        (named || wildcard) && (!write || self.access == Access::Write)
    }
}

/// A new token and what it may do.
#[derive(Clone, Debug)]
pub struct NewToken {
    /// The token itself: shown once, never stored.
    pub token: String,
    /// Its record, as stored.
    pub record: TokenRecord,
}

/// The SHA-256 of `token`, hex: what the database keeps.
pub fn hash(token: &str) -> String {
    Sha256::digest(token.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

/// Compares without stopping at the first difference, so timing does not reveal how much of
/// a secret matched.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The token `presented`, if it is one the database holds, unrevoked and unexpired at `now`.
/// Every stored hash is compared, in constant time, whether or not one matched already.
pub fn authenticate(store: &mut dyn Store, presented: &str, now: i64) -> Result<Option<Identity>> {
    let presented = hash(presented);
    let mut found: Option<TokenRecord> = None;
    for t in store.tokens()? {
        if constant_time_eq(t.hash.as_bytes(), presented.as_bytes()) {
            found = Some(t);
        }
    }
    Ok(found.filter(|t| t.revoked_at.is_none() && t.expires_at.is_none_or(|e| now < e)).map(|t| Identity {
        name: t.name,
        environments: t.environments,
        access: t.access,
    }))
}

fn valid_name(name: &str) -> bool {
    !name.is_empty() && name.len() <= 64 && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.@".contains(&b))
}

impl Project {
    /// `vexil token create`: a token named `name` (the author of its changes) for
    /// `environments`, read-only unless `write`, expiring after `expires_in` if given.
    pub fn create_token(
        &mut self,
        name: &str,
        environments: &[String],
        write: bool,
        expires_in: Option<Duration>,
        now: i64,
    ) -> Result<NewToken> {
        if !valid_name(name) {
            return Err(Error::refused(format!(
                "token name {name:?}: letters, digits and - _ . @ only, at most 64 (it becomes the author of the changes made with it)"
            )));
        }
        if environments.is_empty() {
            return Err(Error::usage(
                "--environments names the environments the token may act on (`*`: all but production)",
            ));
        }
        for env in environments.iter().filter(|e| *e != "*") {
            self.config.environment(env)?;
        }
        let mut random = [0u8; 32];
        getrandom::fill(&mut random).map_err(|e| Error::io(format!("no randomness for a token: {e}")))?;
        let token = format!("vxl_{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random));
        let expires_at = match expires_in {
            Some(d) => {
                Some(now + i64::try_from(d.as_millis()).map_err(|_| Error::refused("--expires-in is too long"))?)
            }
            None => None,
        };
        let record = TokenRecord {
            name: name.to_string(),
            hash: hash(&token),
            environments: environments.to_vec(),
            access: if write { Access::Write } else { Access::Read },
            created_at: now,
            expires_at,
            revoked_at: None,
        };
        self.store().write(&mut |tx| {
            let taken = tx.tokens()?.iter().any(|t| t.name == name && t.revoked_at.is_none());
            if taken {
                return Err(Error::refused(format!(
                    "a token called {name:?} exists; revoke it first (vexil token revoke {name}) or choose another name"
                )));
            }
            tx.insert_token(&record)
        })?;
        Ok(NewToken { token, record })
    }

    /// `vexil token list`: every token, revoked and expired ones included.
    pub fn tokens(&mut self) -> Result<Vec<TokenRecord>> {
        self.store().tokens()
    }

    /// `vexil token revoke NAME`.
    pub fn revoke_token(&mut self, name: &str, now: i64) -> Result<()> {
        let mut revoked = 0;
        self.store().write(&mut |tx| {
            revoked = tx.revoke_token(name, now)?;
            Ok(())
        })?;
        if revoked == 0 {
            return Err(Error::refused(format!("no active token is called {name:?} (vexil token list shows them)")));
        }
        Ok(())
    }
}

/// `--expires-in`, read.
pub fn expires_in(text: &str) -> Result<Duration> {
    duration::parse(text).map_err(|e| Error::usage(format!("--expires-in {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::MemoryStore;
    use crate::testing::{config, definitions};

    fn project(store: &MemoryStore) -> Project {
        Project::with_store(config(), definitions(&[]), Box::new(store.clone()), None).unwrap()
    }

    #[test]
    fn tokens_are_stored_hashed_scoped_and_revocable() {
        let store = MemoryStore::new();
        let mut p = project(&store);
        let ci = p.create_token("ci", &["*".into()], true, None, 1_000).unwrap();
        assert!(ci.token.starts_with("vxl_") && ci.token.len() > 40);
        let stored = p.tokens().unwrap();
        assert!(stored.iter().all(|t| t.hash != ci.token && !t.hash.contains(&ci.token[4..])), "hashed at rest");
        let who = authenticate(&mut store.clone(), &ci.token, 2_000).unwrap().unwrap();
        assert_eq!(who.name, "ci");
        assert!(who.allows("staging", true, Some("production")));
        assert!(!who.allows("production", false, Some("production")), "the wildcard never covers production");
        assert!(authenticate(&mut store.clone(), "vxl_nope", 2_000).unwrap().is_none());

        let reader =
            p.create_token("dashboards", &["production".into()], false, Some(Duration::from_secs(60)), 1_000).unwrap();
        let r = authenticate(&mut store.clone(), &reader.token, 2_000).unwrap().unwrap();
        assert!(r.allows("production", false, Some("production")) && !r.allows("production", true, Some("production")));
        assert!(authenticate(&mut store.clone(), &reader.token, 61_000).unwrap().is_none(), "expired");

        assert!(p.create_token("ci", &["dev".into()], false, None, 3_000).unwrap_err().to_string().contains("exists"));
        p.revoke_token("ci", 4_000).unwrap();
        assert!(authenticate(&mut store.clone(), &ci.token, 5_000).unwrap().is_none(), "revoked");
        assert!(p.revoke_token("ci", 6_000).is_err(), "nothing left to revoke");
        p.create_token("ci", &["dev".into()], false, None, 7_000).unwrap();
        assert!(p.create_token("no spaces", &["dev".into()], false, None, 0).is_err());
        assert!(p
            .create_token("x", &["qa".into()], false, None, 0)
            .unwrap_err()
            .to_string()
            .contains("unknown environment"));
    }

    #[test]
    fn comparison_reads_every_byte() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(
            !constant_time_eq(b"abc", b"abd") && !constant_time_eq(b"xbc", b"abc") && !constant_time_eq(b"ab", b"abc")
        );
    }
}
