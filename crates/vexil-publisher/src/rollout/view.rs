//! A rollout as `vexil rollout status` and the dashboard show it: every step (done when, with
//! which versions; the next one due when, or waiting for approval), every guard with its
//! readings over time, the events, and the outcome.

use super::decide::{self, Reading};
use super::frozen;
use super::plan_file::{Check, OnBreach};
use crate::error::Result;
use crate::project::Project;
use crate::store::{RolloutEvent, RolloutRow, Store};
use serde::Serialize;

/// How many readings per guard a view carries: enough for a graph.
const READINGS_KEPT: usize = 120;

/// One rollout.
#[derive(Clone, Debug, Serialize)]
pub struct RolloutView {
    /// Its id.
    pub id: i64,
    /// The flag.
    pub flag: String,
    /// `running`, `paused`, `rolled_back`, `completed` or `aborted`.
    pub status: String,
    /// Why it is paused or over.
    pub reason: Option<String>,
    /// Who started it, and when (ms since the epoch).
    pub started_by: String,
    /// See `started_by`.
    pub started_at: i64,
    /// The steps.
    pub steps: Vec<StepView>,
    /// The guards.
    pub guards: Vec<GuardView>,
    /// What a breach does.
    pub on_breach: OnBreach,
    /// What a rollback sets.
    pub rollback: String,
    /// How often guards are read (ms).
    pub check_interval_ms: u64,
    /// Everything that happened, oldest first (guard checks left out: see the guards).
    pub events: Vec<EventView>,
    /// How it ended, once it has.
    pub outcome: Option<String>,
}

/// One step.
#[derive(Clone, Debug, Serialize)]
pub struct StepView {
    /// 1-based.
    pub number: u32,
    /// The chatops value.
    pub set: String,
    /// Where.
    pub environments: Vec<String>,
    /// Its least wait before the next step (ms).
    pub wait_ms: u64,
    /// Whether it needs `vexil rollout approve`.
    pub approval: bool,
    /// `done`, `next` or `pending`.
    pub state: String,
    /// When it was applied.
    pub applied_at: Option<i64>,
    /// The versions it committed.
    pub versions: Vec<(String, u64)>,
    /// For the next step: when it is due.
    pub due_at: Option<i64>,
    /// For the next step: whether it waits for an approval not yet given.
    pub awaiting_approval: bool,
}

/// One guard.
#[derive(Clone, Debug, Serialize)]
pub struct GuardView {
    /// Its name.
    pub name: String,
    /// The PromQL query, if one.
    pub query: Option<String>,
    /// The command, if one.
    pub command: Option<String>,
    /// Its threshold, in words.
    pub threshold: String,
    /// The environments it watches (empty: all).
    pub environments: Vec<String>,
    /// Whether it is read where the rollout is now.
    pub in_force: bool,
    /// Its readings, oldest first (the last ones).
    pub readings: Vec<Reading>,
}

/// One event.
#[derive(Clone, Debug, Serialize)]
pub struct EventView {
    /// When.
    pub at: i64,
    /// `started`, `applied`, `paused`, …
    pub kind: String,
    /// The step (1-based), if one.
    pub step: Option<u32>,
    /// Who or what.
    pub author: String,
    /// In words.
    pub summary: String,
}

/// The view of `row` from its events.
pub fn view(row: &RolloutRow, events: &[RolloutEvent]) -> Result<RolloutView> {
    let plan = frozen(row)?;
    let details: Vec<(&RolloutEvent, serde_json::Value)> =
        events.iter().map(|e| (e, serde_json::from_str(&e.detail).unwrap_or(serde_json::Value::Null))).collect();
    let in_force: Vec<String> = decide::guards_in_force(&plan, row.next_step).iter().map(|g| g.name.clone()).collect();
    let steps = plan
        .steps
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let i = i as u32;
            let applied = details.iter().rev().find(|(e, _)| e.kind == "applied" && e.step == Some(i));
            let next = i == row.next_step && crate::store::is_active(&row.status);
            StepView {
                number: i + 1,
                set: s.set.clone(),
                environments: s.environments.clone(),
                wait_ms: s.wait_ms,
                approval: s.approval,
                state: if i < row.next_step {
                    "done"
                } else if next {
                    "next"
                } else {
                    "pending"
                }
                .into(),
                applied_at: applied.map(|(e, _)| e.at),
                versions: applied
                    .and_then(|(_, d)| serde_json::from_value(d["versions"].clone()).ok())
                    .unwrap_or_default(),
                due_at: next.then(|| decide::due_at(&plan, row)),
                awaiting_approval: next && s.approval && row.approved_step != Some(i),
            }
        })
        .collect();
    let guards = plan
        .guards
        .iter()
        .map(|g| {
            let mut readings: Vec<Reading> = details
                .iter()
                .filter_map(|(_, d)| serde_json::from_value::<Vec<Reading>>(d["readings"].clone()).ok())
                .flatten()
                .filter(|r| r.guard == g.name)
                .collect();
            readings.drain(..readings.len().saturating_sub(READINGS_KEPT));
            let (query, command) = match &g.check {
                Check::Query { query, .. } => (Some(query.clone()), None),
                Check::Command { command, .. } => (None, Some(command.clone())),
            };
            GuardView {
                name: g.name.clone(),
                query,
                command,
                threshold: g.check.threshold(),
                environments: g.environments.clone(),
                in_force: in_force.contains(&g.name),
                readings,
            }
        })
        .collect();
    let events = details
        .iter()
        .filter(|(e, d)| e.kind != "checked" || d.get("summary").is_some())
        .map(|(e, d)| EventView {
            at: e.at,
            kind: e.kind.clone(),
            step: e.step.map(|s| s + 1),
            author: e.author.clone(),
            summary: d["summary"].as_str().or(d["reason"].as_str()).unwrap_or(&e.kind).to_string(),
        })
        .collect();
    let outcome = match row.status.as_str() {
        "completed" => Some(format!("completed: all {} steps", plan.steps.len())),
        "rolled_back" | "aborted" => {
            Some(format!("{}: {}", row.status.replace('_', " "), row.reason.clone().unwrap_or_default()))
        }
        _ => None,
    };
    Ok(RolloutView {
        id: row.id,
        flag: row.flag.clone(),
        status: row.status.clone(),
        reason: row.reason.clone(),
        started_by: row.started_by.clone(),
        started_at: row.started_at,
        steps,
        guards,
        on_breach: plan.on_breach,
        rollback: plan.rollback.clone(),
        check_interval_ms: plan.check_interval_ms,
        events,
        outcome,
    })
}

/// The newest rollout of each flag (or of `flag`), newest first.
pub fn views(store: &mut dyn Store, flag: Option<&str>) -> Result<Vec<RolloutView>> {
    let mut rows = store.rollouts()?;
    rows.reverse();
    let mut seen: Vec<String> = Vec::new();
    let mut out = Vec::new();
    for row in rows {
        if flag.is_some_and(|f| f != row.flag) || seen.contains(&row.flag) {
            continue;
        }
        seen.push(row.flag.clone());
        let events = store.rollout_events(Some(row.id))?;
        out.push(view(&row, &events)?);
    }
    Ok(out)
}

impl Project {
    /// The newest rollout of each flag (or of `flag`), newest first.
    pub fn rollout_views(&mut self, flag: Option<&str>) -> Result<Vec<RolloutView>> {
        views(self.store(), flag)
    }
}
