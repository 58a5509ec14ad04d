//! Rollouts on PostgreSQL.

use super::postgres::io;
use super::{RolloutEvent, RolloutRow};
use crate::error::Result;
use postgres::types::ToSql;
use postgres::GenericClient;

const COLUMNS: &str = "id, flag, plan, status, next_step, started_at, started_by, wait_from, approved_step, reason,
    last_check_at, updated_at, revision";

fn row(r: &postgres::Row) -> RolloutRow {
    RolloutRow {
        id: r.get(0),
        flag: r.get(1),
        plan: r.get(2),
        status: r.get(3),
        next_step: r.get::<_, i32>(4) as u32,
        started_at: r.get(5),
        started_by: r.get(6),
        wait_from: r.get(7),
        approved_step: r.get::<_, Option<i32>>(8).map(|s| s as u32),
        reason: r.get(9),
        last_check_at: r.get(10),
        updated_at: r.get(11),
        revision: r.get(12),
    }
}

pub(super) fn newest_of(c: &mut impl GenericClient, describe: &str, flag: &str) -> Result<Option<RolloutRow>> {
    let found = c
        .query_opt(&format!("SELECT {COLUMNS} FROM rollouts WHERE flag = $1 ORDER BY id DESC LIMIT 1"), &[&flag])
        .map_err(|e| io(describe, &e))?;
    Ok(found.as_ref().map(row))
}

pub(super) fn insert(c: &mut impl GenericClient, describe: &str, r: &RolloutRow, keep_id: bool) -> Result<i64> {
    let (next, approved) = (r.next_step as i32, r.approved_step.map(|s| s as i32));
    let values: [&(dyn ToSql + Sync); 12] = [
        &r.flag,
        &r.plan,
        &r.status,
        &next,
        &r.started_at,
        &r.started_by,
        &r.wait_from,
        &approved,
        &r.reason,
        &r.last_check_at,
        &r.updated_at,
        &r.revision,
    ];
    let columns = "flag, plan, status, next_step, started_at, started_by, wait_from, approved_step, reason,
        last_check_at, updated_at, revision";
    let placeholders = "$1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12";
    let inserted = if keep_id {
        let mut with_id: Vec<&(dyn ToSql + Sync)> = values.to_vec();
        with_id.push(&r.id);
        c.query_one(
            &format!("INSERT INTO rollouts ({columns}, id) VALUES ({placeholders}, $13) RETURNING id"),
            &with_id,
        )
    } else {
        c.query_one(&format!("INSERT INTO rollouts ({columns}) VALUES ({placeholders}) RETURNING id"), &values)
    };
    Ok(inserted.map_err(|e| io(describe, &e))?.get(0))
}

pub(super) fn update(c: &mut impl GenericClient, describe: &str, r: &RolloutRow, expected: i64) -> Result<bool> {
    let (next, approved) = (r.next_step as i32, r.approved_step.map(|s| s as i32));
    let n = c
        .execute(
            "UPDATE rollouts SET status = $3, next_step = $4, wait_from = $5, approved_step = $6, reason = $7,
                 last_check_at = $8, updated_at = $9, revision = $2 + 1
             WHERE id = $1 AND revision = $2",
            &[&r.id, &expected, &r.status, &next, &r.wait_from, &approved, &r.reason, &r.last_check_at, &r.updated_at],
        )
        .map_err(|e| io(describe, &e))?;
    Ok(n == 1)
}

pub(super) fn insert_event(c: &mut impl GenericClient, describe: &str, e: &RolloutEvent, keep_id: bool) -> Result<()> {
    let step = e.step.map(|s| s as i32);
    let values: [&(dyn ToSql + Sync); 6] = [&e.rollout, &e.at, &step, &e.kind, &e.author, &e.detail];
    let result = if keep_id {
        let mut with_id: Vec<&(dyn ToSql + Sync)> = values.to_vec();
        with_id.push(&e.id);
        c.execute(
            "INSERT INTO rollout_events (rollout, at, step, kind, author, detail, id) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            &with_id,
        )
    } else {
        c.execute(
            "INSERT INTO rollout_events (rollout, at, step, kind, author, detail) VALUES ($1, $2, $3, $4, $5, $6)",
            &values,
        )
    };
    result.map_err(|e| io(describe, &e))?;
    Ok(())
}

pub(super) fn all(c: &mut impl GenericClient, describe: &str) -> Result<Vec<RolloutRow>> {
    let rows = c.query(&format!("SELECT {COLUMNS} FROM rollouts ORDER BY id"), &[]).map_err(|e| io(describe, &e))?;
    Ok(rows.iter().map(row).collect())
}

/// Events of `rollout` (all rollouts: none), oldest first.
pub(super) fn events(c: &mut impl GenericClient, describe: &str, rollout: Option<i64>) -> Result<Vec<RolloutEvent>> {
    let rows = c
        .query(
            "SELECT id, rollout, at, step, kind, author, detail FROM rollout_events
             WHERE $1::bigint IS NULL OR rollout = $1 ORDER BY id",
            &[&rollout],
        )
        .map_err(|e| io(describe, &e))?;
    Ok(rows
        .iter()
        .map(|r| RolloutEvent {
            id: r.get(0),
            rollout: r.get(1),
            at: r.get(2),
            step: r.get::<_, Option<i32>>(3).map(|s| s as u32),
            kind: r.get(4),
            author: r.get(5),
            detail: r.get(6),
        })
        .collect())
}

/// After a migration's copy: new rows continue after the copied ids.
pub(super) fn continue_ids(c: &mut impl GenericClient, describe: &str) -> Result<()> {
    c.batch_execute(
        "SELECT setval(pg_get_serial_sequence('rollouts', 'id'), GREATEST((SELECT max(id) FROM rollouts), 1));
         SELECT setval(pg_get_serial_sequence('rollout_events', 'id'), GREATEST((SELECT max(id) FROM rollout_events), 1));",
    )
    .map_err(|e| io(describe, &e))
}
