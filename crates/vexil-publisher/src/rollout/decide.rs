//! What a rollout does next, decided from its plan, where it is, the time and what its guards
//! read: pure, so every rule is tested without a clock, a database or a Prometheus.
//!
//! - A guard that reads outside its bounds is a breach: the plan's `on_breach`.
//! - A guard that reads nothing (no data, an error, a timeout) pauses: never advance blind,
//!   never roll back on a guess.
//! - A step is due once the previous step's wait has passed since it was applied (or since
//!   the rollout resumed); an approval step also needs `vexil rollout approve`.
//! - After the last step's wait, the rollout is complete.

use super::plan_file::{Check, Guard, Plan};
use crate::store::RolloutRow;
use serde::{Deserialize, Serialize};

/// One guard's reading.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Reading {
    /// The guard.
    pub guard: String,
    /// When it was read (ms since the epoch).
    pub at: i64,
    /// The worst value read (a query's), if any.
    pub value: Option<f64>,
    /// Whether it is within its threshold.
    pub healthy: bool,
    /// Why there is no reading: Prometheus unreachable, no series, a command that did not
    /// finish.
    pub error: Option<String>,
    /// What a command that ran reported against itself: its failing exit status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<String>,
    /// The threshold, in words.
    pub threshold: String,
}

impl Reading {
    /// The reading in words: "`errors` read 0.12 (at most 0.05)", "`e2e`: exit status 1".
    pub fn describe(&self) -> String {
        match (self.value, &self.error, &self.failure) {
            (_, _, Some(f)) => format!("guard `{}` failed: {f}", self.guard),
            (Some(v), _, _) => format!("guard `{}` read {v} ({})", self.guard, self.threshold),
            (None, Some(e), _) => format!("guard `{}` has no reading: {e}", self.guard),
            (None, None, None) => format!("guard `{}` has no reading", self.guard),
        }
    }
}

/// What to do now.
#[derive(Clone, Debug, PartialEq)]
pub enum Next {
    /// Nothing yet.
    Wait,
    /// Apply this step (0-based).
    Apply(u32),
    /// This step is due but waits for `vexil rollout approve`.
    AwaitApproval(u32),
    /// Every step applied and waited for.
    Complete,
    /// A guard read outside its bounds, or its command failed: the plan's `on_breach`.
    Breach(Reading),
    /// A guard has no reading: pause.
    Blind(Reading),
}

/// When step `row.next_step` is due (for the end, when the rollout completes).
pub fn due_at(plan: &Plan, row: &RolloutRow) -> i64 {
    match row.next_step.checked_sub(1).and_then(|i| plan.steps.get(i as usize)) {
        Some(previous) => row.wait_from.saturating_add(previous.wait_ms as i64),
        None => row.wait_from,
    }
}

/// Whether guards are to be read now: a step is due, or a check interval has passed.
pub fn reading_due(plan: &Plan, row: &RolloutRow, now: i64) -> bool {
    now >= due_at(plan, row) || row.last_check_at.is_none_or(|t| now - t >= plan.check_interval_ms as i64)
}

/// The guards that watch the rollout where it is: those without environments, and those
/// whose environments a step applied or about to apply changes.
pub fn guards_in_force(plan: &Plan, next_step: u32) -> Vec<&Guard> {
    let reached =
        plan.steps.iter().take(next_step as usize + 1).flat_map(|s| s.environments.iter()).collect::<Vec<_>>();
    plan.guards
        .iter()
        .filter(|g| g.environments.is_empty() || g.environments.iter().any(|e| reached.contains(&e)))
        .collect()
}

/// The environments the steps applied so far changed, in first-changed order.
pub fn environments_changed(plan: &Plan, next_step: u32) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for env in plan.steps.iter().take(next_step as usize).flat_map(|s| s.environments.iter()) {
        if !out.contains(env) {
            out.push(env.clone());
        }
    }
    out
}

/// Whether `value` is within a query guard's bounds.
pub fn within(check: &Check, value: f64) -> bool {
    match check {
        Check::Query { max, min, .. } => max.is_none_or(|m| value <= m) && min.is_none_or(|m| value >= m),
        Check::Command { .. } => true,
    }
}

/// The next move of a running rollout at `now`, given what its guards in force read.
pub fn decide(plan: &Plan, row: &RolloutRow, now: i64, readings: &[Reading]) -> Next {
    if row.status != "running" {
        return Next::Wait;
    }
    if let Some(bad) = readings.iter().find(|r| !r.healthy) {
        return if bad.error.is_none() { Next::Breach(bad.clone()) } else { Next::Blind(bad.clone()) };
    }
    if now < due_at(plan, row) {
        return Next::Wait;
    }
    let next = row.next_step;
    match plan.steps.get(next as usize) {
        None => Next::Complete,
        Some(step) if step.approval && row.approved_step != Some(next) => Next::AwaitApproval(next),
        Some(_) => Next::Apply(next),
    }
}

#[cfg(test)]
mod tests {
    use super::super::plan_file::{OnBreach, Step};
    use super::*;

    fn plan() -> Plan {
        let step = |set: &str, envs: &[&str], wait_ms: u64, approval: bool| Step {
            set: set.into(),
            environments: envs.iter().map(|e| e.to_string()).collect(),
            wait_ms,
            approval,
            line: 0,
        };
        Plan {
            flag: "f".into(),
            steps: vec![
                step("50 --actors", &["staging"], 1000, false),
                step("true", &["staging"], 1000, false),
                step("true", &["production"], 5000, true),
            ],
            guards: vec![
                Guard {
                    name: "everywhere".into(),
                    check: Check::Command { command: "true".into(), timeout_ms: 1000 },
                    environments: vec![],
                    line: 0,
                },
                Guard {
                    name: "prod".into(),
                    check: Check::Query { query: "q".into(), max: Some(0.05), min: None },
                    environments: vec!["production".into()],
                    line: 0,
                },
            ],
            on_breach: OnBreach::Rollback,
            rollback: "false".into(),
            check_interval_ms: 500,
        }
    }

    fn row(next_step: u32, wait_from: i64) -> RolloutRow {
        RolloutRow {
            id: 1,
            flag: "f".into(),
            plan: String::new(),
            status: "running".into(),
            next_step,
            started_at: 0,
            started_by: "a".into(),
            wait_from,
            approved_step: None,
            reason: None,
            last_check_at: Some(wait_from),
            updated_at: 0,
            revision: 1,
        }
    }

    fn reading(value: Option<f64>, healthy: bool) -> Reading {
        let error = (value.is_none() && !healthy).then(|| "no data".to_string());
        Reading { guard: "g".into(), at: 0, value, healthy, error, failure: None, threshold: "at most 1".into() }
    }

    #[test]
    fn steps_wait_for_the_previous_steps_wait_then_for_approval() {
        let p = plan();
        assert_eq!(decide(&p, &row(0, 100), 100, &[]), Next::Apply(0), "the first step is due at the start");
        assert_eq!(decide(&p, &row(1, 100), 1099, &[]), Next::Wait, "never before its wait");
        assert_eq!(decide(&p, &row(1, 100), 1100, &[]), Next::Apply(1));
        assert_eq!(decide(&p, &row(2, 0), 1000, &[]), Next::AwaitApproval(2));
        assert_eq!(decide(&p, &RolloutRow { approved_step: Some(2), ..row(2, 0) }, 1000, &[]), Next::Apply(2));
        assert_eq!(decide(&p, &row(3, 0), 4999, &[]), Next::Wait, "the last wait too");
        assert_eq!(decide(&p, &row(3, 0), 5000, &[]), Next::Complete);
        assert_eq!(decide(&p, &RolloutRow { status: "paused".into(), ..row(1, 0) }, 9999, &[]), Next::Wait);
    }

    #[test]
    fn a_bad_reading_is_a_breach_and_no_reading_pauses() {
        let p = plan();
        let bad = reading(Some(0.2), false);
        assert_eq!(decide(&p, &row(1, 0), 10, &[reading(Some(0.0), true), bad.clone()]), Next::Breach(bad));
        let none = reading(None, false);
        assert_eq!(
            decide(&p, &row(1, 0), 10_000, std::slice::from_ref(&none)),
            Next::Blind(none.clone()),
            "not even a due step"
        );
        let failed = Reading { failure: Some("`e2e` exited with 1".into()), ..reading(None, true) };
        let failed = Reading { healthy: false, ..failed };
        assert_eq!(
            decide(&p, &row(1, 0), 10, std::slice::from_ref(&failed)),
            Next::Breach(failed.clone()),
            "a failing command is a breach"
        );
    }

    #[test]
    fn guards_join_when_the_rollout_reaches_their_environments() {
        let p = plan();
        let names = |n| guards_in_force(&p, n).iter().map(|g| g.name.clone()).collect::<Vec<_>>();
        assert_eq!(names(0), ["everywhere"]);
        assert_eq!(names(1), ["everywhere"]);
        assert_eq!(names(2), ["everywhere", "prod"], "read before the production step");
        assert_eq!(names(3), ["everywhere", "prod"]);
        assert_eq!(environments_changed(&p, 2), ["staging"]);
        assert_eq!(environments_changed(&p, 3), ["staging", "production"]);
        assert!(reading_due(&p, &row(1, 0), 500) && !reading_due(&p, &row(1, 0), 499));
        assert!(within(&p.guards[1].check, 0.05) && !within(&p.guards[1].check, 0.0501));
    }
}
