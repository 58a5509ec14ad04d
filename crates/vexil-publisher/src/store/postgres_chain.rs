//! The change log's hash chain on PostgreSQL (see `chain.rs`): appending an entry inside the
//! writer's transaction (which holds the write lock, so the newest entry cannot move under
//! it), chaining the entries written before schema 7, reading it back.

use super::chain::{self, ChainEntry};
use super::postgres::{io, version_in};
use super::{Change, StoredChange};
use crate::error::Result;
use postgres::GenericClient;

/// Schema 7: each change-log entry's place in the hash chain.
pub(super) const SCHEMA_V7: &str = "ALTER TABLE changes ADD COLUMN snapshot_sha256 text;
    ALTER TABLE changes ADD COLUMN prev_hash text;
    ALTER TABLE changes ADD COLUMN hash text;
    CREATE INDEX changes_by_version ON changes (environment, version, id);";

/// A change-log entry's own columns, as `stored_change` reads them.
pub(super) const CHANGE_COLUMNS: &str =
    "id, environment, version, flag, action, command, author, via, at, before, after";

const COLUMNS: &str =
    "id, environment, version, flag, action, command, author, via, at, before, after, snapshot_sha256, prev_hash, hash";

/// The entry of a row whose first columns are [`CHANGE_COLUMNS`].
pub(super) fn stored_change(r: &postgres::Row) -> StoredChange {
    StoredChange {
        id: r.get(0),
        environment: r.get(1),
        version: r.get(2),
        flag: r.get(3),
        action: r.get(4),
        command: r.get(5),
        author: r.get(6),
        via: r.get(7),
        at: r.get(8),
        before: r.get(9),
        after: r.get(10),
    }
}

fn entry(r: &postgres::Row) -> ChainEntry {
    ChainEntry { stored: stored_change(r), snapshot_sha256: r.get(11), prev_hash: r.get(12), hash: r.get(13) }
}

/// Appends `c` and chains it.
pub(super) fn insert(c: &mut impl GenericClient, describe: &str, change: &Change) -> Result<()> {
    let version = change.version as i64;
    let (before, after) = change.stored_sides();
    let row = c
        .query_one(
            "INSERT INTO changes (environment, version, flag, action, command, author, via, at, before, after)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id",
            &[
                &change.environment,
                &version,
                &change.flag,
                &change.action.name(),
                &change.command,
                &change.author,
                &change.via.name(),
                &change.at,
                &before,
                &after,
            ],
        )
        .map_err(|e| io(describe, &e))?;
    append(c, describe, &StoredChange::of(change, row.get(0)))
}

/// Chains `stored`, already in the table, after the entry before it.
fn append(c: &mut impl GenericClient, describe: &str, stored: &StoredChange) -> Result<()> {
    let prev: Option<String> = c
        .query_opt("SELECT hash FROM changes WHERE id < $1 ORDER BY id DESC LIMIT 1", &[&stored.id])
        .map_err(|e| io(describe, &e))?
        .and_then(|r| r.get(0));
    let version = version_in(c, describe, &stored.environment, stored.version as u64)?;
    let (digest, prev, hash) = chain::link(prev.as_deref(), stored, version.as_ref());
    c.execute(
        "UPDATE changes SET snapshot_sha256 = $2, prev_hash = $3, hash = $4 WHERE id = $1",
        &[&stored.id, &digest, &prev, &hash],
    )
    .map_err(|e| io(describe, &e))?;
    Ok(())
}

/// Chains every entry, oldest first, as the log and the versions hold them now: the
/// migration to schema 7 (nothing before it can be vouched for) and an import.
pub(super) fn chain_existing(c: &mut impl GenericClient, describe: &str) -> Result<()> {
    for e in all(c, describe)? {
        append(c, describe, &e.stored)?;
    }
    Ok(())
}

/// Every entry, oldest first.
pub(super) fn all(c: &mut impl GenericClient, describe: &str) -> Result<Vec<ChainEntry>> {
    let rows = c.query(&format!("SELECT {COLUMNS} FROM changes ORDER BY id"), &[]).map_err(|e| io(describe, &e))?;
    Ok(rows.iter().map(entry).collect())
}

/// The newest `n` entries, oldest first.
pub(super) fn tail(c: &mut impl GenericClient, describe: &str, n: usize) -> Result<Vec<ChainEntry>> {
    let rows = c
        .query(&format!("SELECT {COLUMNS} FROM changes ORDER BY id DESC LIMIT $1"), &[&(n as i64)])
        .map_err(|e| io(describe, &e))?;
    Ok(rows.iter().rev().map(entry).collect())
}

/// The digest the newest entry for `version` of `environment` recorded.
pub(super) fn recorded(
    c: &mut impl GenericClient,
    describe: &str,
    environment: &str,
    version: u64,
) -> Result<Option<String>> {
    let row = c
        .query_opt(
            "SELECT snapshot_sha256 FROM changes WHERE environment = $1 AND version = $2 ORDER BY id DESC LIMIT 1",
            &[&environment, &(version as i64)],
        )
        .map_err(|e| io(describe, &e))?;
    Ok(row.and_then(|r| r.get(0)))
}
