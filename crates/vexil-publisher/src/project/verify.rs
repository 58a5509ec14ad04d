//! Tamper evidence: the change log's hash chain, and every stored version checked against
//! what the chain recorded and against the project's trusted keys — all of it by `vexil log
//! --verify`; the newest entry and each version a change builds on by every commit, before
//! it writes anything. The database is not trusted to hand back what vexil wrote.

use super::Project;
use crate::error::{Error, Result};
use crate::store::{broken_link, snapshot_digest, ChainEntry, VersionRow, WriteTx};
use serde::Serialize;
use std::collections::BTreeMap;
use vexil_core::Snapshot;

/// What `vexil log --verify` checked.
#[derive(Clone, Debug, Serialize)]
pub struct Verified {
    /// Change-log entries whose links verified (the whole log).
    pub entries: usize,
    /// Versions checked.
    pub versions: usize,
    /// The environments whose versions were checked.
    pub environments: Vec<String>,
    /// The newest entry's hash: the whole log's fingerprint.
    pub head: Option<String>,
}

/// What is wrong with `entry`, following `prev`, as one line naming it.
fn entry_problem(prev: Option<&ChainEntry>, entry: &ChainEntry) -> Option<String> {
    let s = &entry.stored;
    broken_link(prev, entry)
        .map(|why| format!("change-log entry {} ({} v{}, {}): {why}", s.id, s.environment, s.version, s.action))
}

/// Why version `row` cannot be built on or served as vexil committed it, if it cannot.
/// `recorded` is the digest its change-log entry holds (none: no entry records it); with
/// `keys`, a signed snapshot must be signed by one of them, and an unsigned one is accepted
/// only where the log vouches for it (versions published before the project signed).
pub(crate) fn version_problem(row: &VersionRow, recorded: Option<&str>, keys: &[[u8; 32]]) -> Option<String> {
    let name = format!("{} v{}", row.environment, row.version);
    let sides =
        std::iter::once(("snapshot", Some(&row.snapshot))).chain([("browser snapshot", row.browser_snapshot.as_ref())]);
    for (what, bytes) in sides {
        let Some(bytes) = bytes else { continue };
        let snapshot = match Snapshot::decode(bytes, &[]) {
            Ok(s) => s,
            Err(e) => return Some(format!("{name}: its stored {what} does not decode: {e}")),
        };
        if snapshot.environment() != row.environment || snapshot.version() != row.version {
            return Some(format!(
                "{name}: its stored {what} is {} v{}, not {name}",
                snapshot.environment(),
                snapshot.version()
            ));
        }
        if keys.is_empty() {
            continue;
        }
        match snapshot.signer() {
            Some(_) => {
                if let Err(e) = Snapshot::decode(bytes, keys) {
                    return Some(format!("{name}: its stored {what} is not signed by a trusted key ([signing]): {e}"));
                }
            }
            None if recorded.is_none() => {
                return Some(format!("{name}: its stored {what} is unsigned, and no change-log entry records it"))
            }
            None => {}
        }
    }
    if recorded.is_some_and(|r| r != snapshot_digest(row)) {
        return Some(format!(
            "{name}: its stored snapshot is not the one the change log recorded when it was committed (overwritten)"
        ));
    }
    None
}

/// The refusal of a commit that would build on `problem`.
fn refuse(problem: String) -> Error {
    Error::refused(format!(
        "refusing to commit on a state that does not verify: {problem}. Nothing was changed; `vexil log --verify` checks the whole log"
    ))
}

/// Checks, inside a commit's transaction, the entry it will follow.
pub(super) fn check_tail(tx: &mut dyn WriteTx) -> Result<()> {
    let tail = tx.chain_tail(2)?;
    let Some(last) = tail.last() else { return Ok(()) };
    let prev = if tail.len() == 2 { tail.first() } else { None };
    match entry_problem(prev, last) {
        Some(problem) => Err(refuse(problem)),
        None => Ok(()),
    }
}

/// Checks, inside a commit's transaction, a version it builds on.
pub(super) fn check_version(tx: &mut dyn WriteTx, row: &VersionRow, keys: &[[u8; 32]]) -> Result<()> {
    let recorded = tx.recorded_snapshot(&row.environment, row.version)?;
    match version_problem(row, recorded.as_deref(), keys) {
        Some(problem) => Err(refuse(problem)),
        None => Ok(()),
    }
}

/// Checks, inside a transaction, the newest version of each of `environments`.
pub(super) fn check_heads(tx: &mut dyn WriteTx, environments: &[String], keys: &[[u8; 32]]) -> Result<()> {
    for env in environments {
        if let Some(row) = tx.latest(env)? {
            check_version(tx, &row, keys)?;
        }
    }
    Ok(())
}

impl Project {
    /// `vexil log --verify`: every link of the change log, then every stored version (of
    /// `environment`, or all) against what the log recorded and the trusted keys. The error
    /// names the first entry or version that does not verify, and what does not match.
    pub fn verify_log(&mut self, environment: Option<&str>) -> Result<Verified> {
        if let Some(env) = environment {
            self.config.environment(env)?;
        }
        let keys = self.trusted_keys();
        let describe = self.store.describe();
        let fail = |problem: String| Error::refused(format!("{describe}: the change log does not verify: {problem}"));
        let chain = self.store.chain()?;
        let mut prev = None;
        let mut recorded: BTreeMap<(&str, i64), Option<&str>> = BTreeMap::new();
        for entry in &chain {
            if let Some(problem) = entry_problem(prev, entry) {
                return Err(fail(problem));
            }
            recorded.insert((&entry.stored.environment, entry.stored.version), entry.snapshot_sha256.as_deref());
            prev = Some(entry);
        }
        let mut versions = 0;
        let mut environments = std::collections::BTreeSet::new();
        for row in self.store.all_versions()? {
            if environment.is_some_and(|e| e != row.environment) {
                continue;
            }
            let digest = recorded.get(&(row.environment.as_str(), row.version as i64)).copied().flatten();
            if let Some(problem) = version_problem(&row, digest, &keys) {
                return Err(fail(problem));
            }
            environments.insert(row.environment.clone());
            versions += 1;
        }
        Ok(Verified {
            entries: chain.len(),
            versions,
            environments: environments.into_iter().collect(),
            head: chain.last().and_then(|e| e.hash.clone()),
        })
    }
}
