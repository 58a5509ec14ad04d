//! Rollouts on SQLite.

use super::{RolloutEvent, RolloutRow};
use crate::error::{ErrorContext, Result};
use rusqlite::{params, Connection, OptionalExtension};

const COLUMNS: &str = "id, flag, plan, status, next_step, started_at, started_by, wait_from, approved_step, reason,
    last_check_at, updated_at, revision";

fn row(r: &rusqlite::Row) -> rusqlite::Result<RolloutRow> {
    Ok(RolloutRow {
        id: r.get(0)?,
        flag: r.get(1)?,
        plan: r.get(2)?,
        status: r.get(3)?,
        next_step: r.get(4)?,
        started_at: r.get(5)?,
        started_by: r.get(6)?,
        wait_from: r.get(7)?,
        approved_step: r.get(8)?,
        reason: r.get(9)?,
        last_check_at: r.get(10)?,
        updated_at: r.get(11)?,
        revision: r.get(12)?,
    })
}

pub(super) fn newest_of(c: &Connection, describe: &str, flag: &str) -> Result<Option<RolloutRow>> {
    c.query_row(&format!("SELECT {COLUMNS} FROM rollouts WHERE flag = ?1 ORDER BY id DESC LIMIT 1"), params![flag], row)
        .optional()
        .context(describe)
}

pub(super) fn insert(c: &Connection, describe: &str, r: &RolloutRow, keep_id: bool) -> Result<i64> {
    c.execute(
        &format!("INSERT INTO rollouts ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)"),
        params![
            keep_id.then_some(r.id),
            r.flag,
            r.plan,
            r.status,
            r.next_step,
            r.started_at,
            r.started_by,
            r.wait_from,
            r.approved_step,
            r.reason,
            r.last_check_at,
            r.updated_at,
            r.revision
        ],
    )
    .context(describe)?;
    Ok(c.last_insert_rowid())
}

pub(super) fn update(c: &Connection, describe: &str, r: &RolloutRow, expected: i64) -> Result<bool> {
    let n = c
        .execute(
            "UPDATE rollouts SET status = ?3, next_step = ?4, wait_from = ?5, approved_step = ?6, reason = ?7,
                 last_check_at = ?8, updated_at = ?9, revision = ?2 + 1
             WHERE id = ?1 AND revision = ?2",
            params![
                r.id,
                expected,
                r.status,
                r.next_step,
                r.wait_from,
                r.approved_step,
                r.reason,
                r.last_check_at,
                r.updated_at
            ],
        )
        .context(describe)?;
    Ok(n == 1)
}

pub(super) fn insert_event(c: &Connection, describe: &str, e: &RolloutEvent, keep_id: bool) -> Result<()> {
    c.execute(
        "INSERT INTO rollout_events (id, rollout, at, step, kind, author, detail) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![keep_id.then_some(e.id), e.rollout, e.at, e.step, e.kind, e.author, e.detail],
    )
    .context(describe)?;
    Ok(())
}

pub(super) fn all(c: &Connection, describe: &str) -> Result<Vec<RolloutRow>> {
    let mut stmt = c.prepare(&format!("SELECT {COLUMNS} FROM rollouts ORDER BY id")).context(describe)?;
    let rows = stmt.query_map([], row).context(describe)?;
    rows.collect::<rusqlite::Result<Vec<_>>>().context(describe)
}

/// Events of `rollout` (all rollouts: none), oldest first.
pub(super) fn events(c: &Connection, describe: &str, rollout: Option<i64>) -> Result<Vec<RolloutEvent>> {
    let mut stmt = c
        .prepare(
            "SELECT id, rollout, at, step, kind, author, detail FROM rollout_events
             WHERE ?1 IS NULL OR rollout = ?1 ORDER BY id",
        )
        .context(describe)?;
    let rows = stmt
        .query_map(params![rollout], |r| {
            Ok(RolloutEvent {
                id: r.get(0)?,
                rollout: r.get(1)?,
                at: r.get(2)?,
                step: r.get(3)?,
                kind: r.get(4)?,
                author: r.get(5)?,
                detail: r.get(6)?,
            })
        })
        .context(describe)?;
    rows.collect::<rusqlite::Result<Vec<_>>>().context(describe)
}
