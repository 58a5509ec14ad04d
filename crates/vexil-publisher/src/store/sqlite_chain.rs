//! The change log's hash chain on SQLite (see `chain.rs`): appending an entry inside the
//! writer's transaction, chaining the entries written before schema 7, reading it back.

use super::chain::{self, ChainEntry};
use super::sqlite::version_in;
use super::{Change, StoredChange};
use crate::error::{ErrorContext, Result};
use rusqlite::{params, Connection, OptionalExtension};

/// Version 7: each change-log entry's place in the hash chain.
pub(super) const SCHEMA_V7: &str = "
ALTER TABLE changes ADD COLUMN snapshot_sha256 TEXT;
ALTER TABLE changes ADD COLUMN prev_hash TEXT;
ALTER TABLE changes ADD COLUMN hash TEXT;
CREATE INDEX changes_by_version ON changes (environment, version, id);
";

/// A change-log entry's own columns, as `stored_change` reads them.
pub(super) const CHANGE_COLUMNS: &str =
    "id, environment, version, flag, action, command, author, via, at, before, after";

const COLUMNS: &str =
    "id, environment, version, flag, action, command, author, via, at, before, after, snapshot_sha256, prev_hash, hash";

/// The entry of a row whose first columns are [`CHANGE_COLUMNS`].
pub(super) fn stored_change(r: &rusqlite::Row<'_>) -> rusqlite::Result<StoredChange> {
    Ok(StoredChange {
        id: r.get(0)?,
        environment: r.get(1)?,
        version: r.get(2)?,
        flag: r.get(3)?,
        action: r.get(4)?,
        command: r.get(5)?,
        author: r.get(6)?,
        via: r.get(7)?,
        at: r.get(8)?,
        before: r.get(9)?,
        after: r.get(10)?,
    })
}

fn entry(r: &rusqlite::Row<'_>) -> rusqlite::Result<ChainEntry> {
    Ok(ChainEntry { stored: stored_change(r)?, snapshot_sha256: r.get(11)?, prev_hash: r.get(12)?, hash: r.get(13)? })
}

/// Appends `c` and chains it.
pub(super) fn insert(conn: &Connection, describe: &str, c: &Change) -> Result<()> {
    let (before, after) = c.stored_sides();
    conn.execute(
        "INSERT INTO changes (environment, version, flag, action, command, author, via, at, before, after)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        params![
            c.environment,
            c.version as i64,
            c.flag,
            c.action.name(),
            c.command,
            c.author,
            c.via.name(),
            c.at,
            before,
            after
        ],
    )
    .context(describe)?;
    append(conn, describe, &StoredChange::of(c, conn.last_insert_rowid()))
}

/// Chains `stored`, already in the table, after the entry before it.
fn append(conn: &Connection, describe: &str, stored: &StoredChange) -> Result<()> {
    let prev: Option<String> = conn
        .query_row("SELECT hash FROM changes WHERE id < ?1 ORDER BY id DESC LIMIT 1", [stored.id], |r| r.get(0))
        .optional()
        .context(describe)?
        .flatten();
    let version = version_in(conn, &stored.environment, stored.version as u64).context(describe)?;
    let (digest, prev, hash) = chain::link(prev.as_deref(), stored, version.as_ref());
    conn.execute(
        "UPDATE changes SET snapshot_sha256 = ?2, prev_hash = ?3, hash = ?4 WHERE id = ?1",
        params![stored.id, digest, prev, hash],
    )
    .context(describe)?;
    Ok(())
}

/// Chains every entry, oldest first, as the log and the versions hold them now: the
/// migration to schema 7 (nothing before it can be vouched for) and an import.
pub(super) fn chain_existing(conn: &Connection, describe: &str) -> Result<()> {
    for e in all(conn, describe)? {
        append(conn, describe, &e.stored)?;
    }
    Ok(())
}

/// Every entry, oldest first.
pub(super) fn all(conn: &Connection, describe: &str) -> Result<Vec<ChainEntry>> {
    let mut stmt = conn.prepare(&format!("SELECT {COLUMNS} FROM changes ORDER BY id")).context(describe)?;
    let rows = stmt.query_map([], entry).context(describe)?;
    rows.collect::<rusqlite::Result<Vec<_>>>().context(describe)
}

/// The newest `n` entries, oldest first.
pub(super) fn tail(conn: &Connection, describe: &str, n: usize) -> Result<Vec<ChainEntry>> {
    let mut stmt =
        conn.prepare(&format!("SELECT {COLUMNS} FROM changes ORDER BY id DESC LIMIT ?1")).context(describe)?;
    let rows = stmt.query_map([n as i64], entry).context(describe)?;
    let mut out = rows.collect::<rusqlite::Result<Vec<_>>>().context(describe)?;
    out.reverse();
    Ok(out)
}

/// The digest the newest entry for `version` of `environment` recorded.
pub(super) fn recorded(conn: &Connection, describe: &str, environment: &str, version: u64) -> Result<Option<String>> {
    conn.query_row(
        "SELECT snapshot_sha256 FROM changes WHERE environment = ?1 AND version = ?2 ORDER BY id DESC LIMIT 1",
        params![environment, version as i64],
        |r| r.get(0),
    )
    .optional()
    .map(Option::flatten)
    .context(describe)
}
