//! Rollouts: the plan in `config/rollouts/<flag>.yml`, run by vexil step by step — each step
//! a `feature set` through [`crate::project::Project::apply`] like any other change (checked,
//! atomic, logged, announced), the rollout's own move made in the same transaction, so that
//! of several drivers (`vexil rollout tick` from cron and CI, a driving `vexil serve`)
//! exactly one applies each step, and a driver killed mid-step leaves either the step and
//! the move or neither.
//!
//! - [`plan_file`] reads a plan, [`validate`] judges it, [`template`] writes GitLab's;
//! - [`decide`] is what happens next (pure), [`guards`] reads Prometheus and commands;
//! - [`run`] is the `vexil rollout` operations, [`view`] what `status` and the dashboard show.

pub mod decide;
pub mod guards;
pub mod plan_file;
mod run;
pub mod template;
pub mod validate;
pub mod view;

pub use plan_file::Plan;
pub use run::Tick;
pub use view::RolloutView;

use crate::config::{Config, Sink};
use crate::definitions::Definitions;
use crate::error::{Error, Result};
use crate::project::Origin;
use crate::store::{RolloutEvent, RolloutRow, WriteTx};

/// One move of a rollout: its row afterwards, the event that records why, and what the
/// team's channels are told (nothing, for a routine guard check).
pub(crate) struct Move<'a> {
    /// The row after the move.
    pub row: RolloutRow,
    /// The revision it must still be at.
    pub expected: i64,
    /// The event's kind.
    pub kind: &'static str,
    /// The step it concerns.
    pub step: Option<u32>,
    /// Its evidence.
    pub detail: serde_json::Value,
    /// The announcement's summary, if the move is announced.
    pub announce: Option<String>,
    /// Who or what moved it.
    pub origin: &'a Origin,
}

/// Writes `m` in `tx` if the rollout is still at its expected revision; false when another
/// driver moved it first.
pub(crate) fn record(
    tx: &mut dyn WriteTx,
    m: &Move<'_>,
    sinks: &[Sink],
    rollout_issue_url: Option<&str>,
) -> Result<bool> {
    if !tx.update_rollout(&m.row, m.expected)? {
        return Ok(false);
    }
    let mut detail = m.detail.clone();
    if let (Some(summary), Some(obj)) = (&m.announce, detail.as_object_mut()) {
        obj.entry("summary").or_insert_with(|| summary.clone().into());
    }
    tx.insert_rollout_event(&RolloutEvent {
        id: 0,
        rollout: m.row.id,
        at: m.origin.at,
        step: m.step,
        kind: m.kind.to_string(),
        author: m.origin.author.clone(),
        detail: detail.to_string(),
    })?;
    if let (Some(summary), false) = (&m.announce, sinks.is_empty()) {
        let plan = frozen(&m.row)?;
        let mut environments = decide::environments_changed(&plan, m.row.next_step);
        if environments.is_empty() {
            environments = plan.steps.first().map(|s| s.environments.clone()).unwrap_or_default();
        }
        let event = crate::notify::Event::rollout(
            crate::notify::event_id()?,
            &m.row.flag,
            summary.clone(),
            &environments,
            m.origin,
            rollout_issue_url.map(String::from),
        );
        for row in crate::notify::outbox_rows(&event, sinks)? {
            tx.insert_outbox(&row)?;
        }
    }
    Ok(true)
}

/// The flag's rollout issue, for announcements.
pub(crate) fn issue_url<'d>(definitions: &'d Definitions, flag: &str) -> Option<&'d str> {
    definitions.by_name.get(flag).and_then(|d| d.rollout_issue_url.as_deref())
}

/// The plan a rollout runs, as frozen when it started.
pub fn frozen(row: &RolloutRow) -> Result<Plan> {
    serde_json::from_str(&row.plan)
        .map_err(|e| Error::io(format!("the stored plan of rollout {} (`{}`) does not read: {e}", row.id, row.flag)))
}

/// In the transaction of a change to `flag` made by hand: a running rollout of the flag is
/// paused, since it no longer decides the flag's state. Returns what to tell the person.
pub fn pause_for_manual_change(
    tx: &mut dyn WriteTx,
    flag: &str,
    origin: &Origin,
    config: &Config,
    definitions: &Definitions,
) -> Result<Vec<String>> {
    let Some(row) = tx.rollout_of(flag)? else { return Ok(Vec::new()) };
    if row.status != "running" {
        return Ok(Vec::new());
    }
    let reason = format!(
        "paused by a change made by hand: {} ran `{}` (via {})",
        origin.author,
        origin.command,
        origin.via.name()
    );
    let step = row.next_step;
    let paused =
        RolloutRow { status: "paused".into(), reason: Some(reason.clone()), updated_at: origin.at, ..row.clone() };
    let summary = format!("paused the rollout of `{flag}` at step {} by changing the flag by hand", step + 1);
    let m = Move {
        row: paused,
        expected: row.revision,
        kind: "paused",
        step: Some(step),
        detail: serde_json::json!({ "reason": reason }),
        announce: Some(summary),
        origin,
    };
    record(tx, &m, &config.sinks, issue_url(definitions, flag))?;
    Ok(vec![format!(
        "the rollout of `{flag}` is paused: this change takes the flag over from it (`vexil rollout resume {flag}` continues at step {})",
        step + 1
    )])
}

/// The refusal of a cleanup while `row` is still running or paused.
pub fn running_refusal(row: &RolloutRow) -> Error {
    Error::refused(format!(
        "the rollout of `{0}` is {1} at step {2}: let it finish or `vexil rollout abort {0}` first, or pass --force",
        row.flag,
        row.status,
        row.next_step + 1
    ))
}

/// In the transaction of `vexil cleanup`: a rollout still running (or paused) refuses it,
/// unless forced, when it ends the rollout — it has no flag left to move.
pub fn end_for_cleanup(
    tx: &mut dyn WriteTx,
    flag: &str,
    force: bool,
    origin: &Origin,
    config: &Config,
    definitions: &Definitions,
) -> Result<Vec<String>> {
    let Some(row) = tx.rollout_of(flag)? else { return Ok(Vec::new()) };
    if !crate::store::is_active(&row.status) {
        return Ok(Vec::new());
    }
    let step = row.next_step + 1;
    if !force {
        return Err(running_refusal(&row));
    }
    let reason = format!("ended by `vexil cleanup` ({})", origin.author);
    let ended =
        RolloutRow { status: "aborted".into(), reason: Some(reason.clone()), updated_at: origin.at, ..row.clone() };
    let m = Move {
        row: ended,
        expected: row.revision,
        kind: "aborted",
        step: Some(row.next_step),
        detail: serde_json::json!({ "reason": reason }),
        announce: Some(format!("ended the rollout of `{flag}` at step {step}: the flag was cleaned up")),
        origin,
    };
    record(tx, &m, &config.sinks, issue_url(definitions, flag))?;
    Ok(vec![format!("the rollout of `{flag}` was ended at step {step}: the flag is gone")])
}
