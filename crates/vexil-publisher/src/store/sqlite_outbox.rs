//! The outbox on SQLite: announcements written in the change's transaction, taken in id
//! order per sink by whoever holds the sink's lease.

use super::{OutboxRow, OutboxSummary};
use crate::error::{ErrorContext, Result};
use rusqlite::{params, Connection, OptionalExtension};

const COLUMNS: &str = "id, event, sink, payload, created_at, attempts, next_attempt_at, delivered_at, last_error";

fn row(r: &rusqlite::Row) -> rusqlite::Result<OutboxRow> {
    Ok(OutboxRow {
        id: r.get(0)?,
        event: r.get(1)?,
        sink: r.get(2)?,
        payload: r.get(3)?,
        created_at: r.get(4)?,
        attempts: r.get(5)?,
        next_attempt_at: r.get(6)?,
        delivered_at: r.get(7)?,
        last_error: r.get(8)?,
    })
}

/// Inserts `r`; with `keep_id`, under its own id (a migration's copy).
pub(super) fn insert(c: &Connection, describe: &str, r: &OutboxRow, keep_id: bool) -> Result<()> {
    let id = keep_id.then_some(r.id);
    c.execute(
        &format!("INSERT INTO outbox ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"),
        params![
            id,
            r.event,
            r.sink,
            r.payload,
            r.created_at,
            r.attempts,
            r.next_attempt_at,
            r.delivered_at,
            r.last_error
        ],
    )
    .context(describe)?;
    Ok(())
}

pub(super) fn next(c: &Connection, describe: &str, sink: &str) -> Result<Option<OutboxRow>> {
    c.query_row(
        &format!("SELECT {COLUMNS} FROM outbox WHERE sink = ?1 AND delivered_at IS NULL ORDER BY id LIMIT 1"),
        params![sink],
        row,
    )
    .optional()
    .context(describe)
}

pub(super) fn update(c: &Connection, describe: &str, r: &OutboxRow) -> Result<()> {
    c.execute(
        "UPDATE outbox SET attempts = ?2, next_attempt_at = ?3, delivered_at = ?4, last_error = ?5
         WHERE id = ?1 AND delivered_at IS NULL",
        params![r.id, r.attempts, r.next_attempt_at, r.delivered_at, r.last_error],
    )
    .context(describe)?;
    Ok(())
}

pub(super) fn lease(c: &Connection, describe: &str, sink: &str, holder: &str, now: i64, until: i64) -> Result<bool> {
    let changed = c
        .execute(
            "INSERT INTO outbox_leases (sink, holder, until) VALUES (?1, ?2, ?4)
             ON CONFLICT (sink) DO UPDATE SET holder = excluded.holder, until = excluded.until
             WHERE outbox_leases.holder = excluded.holder OR outbox_leases.until <= ?3",
            params![sink, holder, now, until],
        )
        .context(describe)?;
    Ok(changed == 1)
}

pub(super) fn all(c: &Connection, describe: &str) -> Result<Vec<OutboxRow>> {
    let mut stmt = c.prepare(&format!("SELECT {COLUMNS} FROM outbox ORDER BY id")).context(describe)?;
    let rows = stmt.query_map([], row).context(describe)?;
    rows.collect::<rusqlite::Result<Vec<_>>>().context(describe)
}

pub(super) fn summary(c: &Connection, describe: &str) -> Result<Vec<OutboxSummary>> {
    // The next attempt and last error are the head's: later rows wait behind it.
    let mut stmt = c
        .prepare(
            "SELECT sink,
                    sum(delivered_at IS NOT NULL),
                    sum(delivered_at IS NULL),
                    sum(delivered_at IS NULL AND attempts > 0),
                    min(CASE WHEN delivered_at IS NULL THEN created_at END),
                    (SELECT next_attempt_at FROM outbox o WHERE o.sink = outbox.sink AND o.delivered_at IS NULL ORDER BY id LIMIT 1),
                    (SELECT last_error FROM outbox o WHERE o.sink = outbox.sink AND o.delivered_at IS NULL ORDER BY id LIMIT 1)
             FROM outbox GROUP BY sink ORDER BY sink",
        )
        .context(describe)?;
    let rows = stmt
        .query_map([], |r| {
            Ok(OutboxSummary {
                sink: r.get(0)?,
                delivered: r.get::<_, i64>(1)? as u64,
                pending: r.get::<_, i64>(2)? as u64,
                failing: r.get::<_, i64>(3)? as u64,
                oldest_pending_at: r.get(4)?,
                next_attempt_at: r.get(5)?,
                last_error: r.get(6)?,
            })
        })
        .context(describe)?;
    rows.collect::<rusqlite::Result<Vec<_>>>().context(describe)
}
