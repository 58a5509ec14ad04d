//! The outbox on PostgreSQL: announcements written in the change's transaction, taken in
//! id order per sink by whoever holds the sink's lease.

use super::postgres::io;
use super::{OutboxRow, OutboxSummary};
use crate::error::Result;
use postgres::GenericClient;

const COLUMNS: &str = "id, event, sink, payload, created_at, attempts, next_attempt_at, delivered_at, last_error";

fn row(r: &postgres::Row) -> OutboxRow {
    OutboxRow {
        id: r.get(0),
        event: r.get(1),
        sink: r.get(2),
        payload: r.get(3),
        created_at: r.get(4),
        attempts: r.get::<_, i32>(5) as u32,
        next_attempt_at: r.get(6),
        delivered_at: r.get(7),
        last_error: r.get(8),
    }
}

/// Inserts `r`; with `keep_id`, under its own id (a migration's copy).
pub(super) fn insert(c: &mut impl GenericClient, describe: &str, r: &OutboxRow, keep_id: bool) -> Result<()> {
    let attempts = r.attempts as i32;
    let values: [&(dyn postgres::types::ToSql + Sync); 8] =
        [&r.event, &r.sink, &r.payload, &r.created_at, &attempts, &r.next_attempt_at, &r.delivered_at, &r.last_error];
    let columns = "event, sink, payload, created_at, attempts, next_attempt_at, delivered_at, last_error";
    if keep_id {
        let mut with_id: Vec<&(dyn postgres::types::ToSql + Sync)> = vec![&r.id];
        with_id.extend_from_slice(&values);
        c.execute(&format!("INSERT INTO outbox (id, {columns}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"), &with_id)
    } else {
        c.execute(&format!("INSERT INTO outbox ({columns}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"), &values)
    }
    .map_err(|e| io(describe, &e))?;
    Ok(())
}

pub(super) fn next(c: &mut impl GenericClient, describe: &str, sink: &str) -> Result<Option<OutboxRow>> {
    let found = c
        .query_opt(
            &format!("SELECT {COLUMNS} FROM outbox WHERE sink = $1 AND delivered_at IS NULL ORDER BY id LIMIT 1"),
            &[&sink],
        )
        .map_err(|e| io(describe, &e))?;
    Ok(found.as_ref().map(row))
}

/// Every announcement, oldest first.
pub(super) fn all(c: &mut impl GenericClient, describe: &str) -> Result<Vec<OutboxRow>> {
    let rows = c.query(&format!("SELECT {COLUMNS} FROM outbox ORDER BY id"), &[]).map_err(|e| io(describe, &e))?;
    Ok(rows.iter().map(row).collect())
}

pub(super) fn update(c: &mut impl GenericClient, describe: &str, r: &OutboxRow) -> Result<()> {
    let attempts = r.attempts as i32;
    c.execute(
        "UPDATE outbox SET attempts = $2, next_attempt_at = $3, delivered_at = $4, last_error = $5
         WHERE id = $1 AND delivered_at IS NULL",
        &[&r.id, &attempts, &r.next_attempt_at, &r.delivered_at, &r.last_error],
    )
    .map_err(|e| io(describe, &e))?;
    Ok(())
}

/// Takes or renews `sink`'s lease for `holder` until `until`; false while another holds it.
pub(super) fn lease(
    c: &mut impl GenericClient,
    describe: &str,
    sink: &str,
    holder: &str,
    now: i64,
    until: i64,
) -> Result<bool> {
    let changed = c
        .execute(
            "INSERT INTO outbox_leases (sink, holder, until) VALUES ($1, $2, $4)
             ON CONFLICT (sink) DO UPDATE SET holder = EXCLUDED.holder, until = EXCLUDED.until
             WHERE outbox_leases.holder = EXCLUDED.holder OR outbox_leases.until <= $3",
            &[&sink, &holder, &now, &until],
        )
        .map_err(|e| io(describe, &e))?;
    Ok(changed == 1)
}

/// Each sink's deliveries; the next attempt and last error are the head's, which later rows
/// wait behind.
pub(super) fn summary(c: &mut impl GenericClient, describe: &str) -> Result<Vec<OutboxSummary>> {
    let rows = c
        .query(
            "SELECT sink,
                    count(*) FILTER (WHERE delivered_at IS NOT NULL),
                    count(*) FILTER (WHERE delivered_at IS NULL),
                    count(*) FILTER (WHERE delivered_at IS NULL AND attempts > 0),
                    min(created_at) FILTER (WHERE delivered_at IS NULL),
                    (SELECT next_attempt_at FROM outbox o WHERE o.sink = outbox.sink AND o.delivered_at IS NULL ORDER BY id LIMIT 1),
                    (SELECT last_error FROM outbox o WHERE o.sink = outbox.sink AND o.delivered_at IS NULL ORDER BY id LIMIT 1)
             FROM outbox GROUP BY sink ORDER BY sink",
            &[],
        )
        .map_err(|e| io(describe, &e))?;
    Ok(rows
        .iter()
        .map(|r| OutboxSummary {
            sink: r.get(0),
            delivered: r.get::<_, i64>(1) as u64,
            pending: r.get::<_, i64>(2) as u64,
            failing: r.get::<_, i64>(3) as u64,
            oldest_pending_at: r.get(4),
            next_attempt_at: r.get(5),
            last_error: r.get(6),
        })
        .collect())
}
