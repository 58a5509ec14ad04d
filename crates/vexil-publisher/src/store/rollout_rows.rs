//! What the state database keeps of rollouts: one row per rollout (its frozen plan, where it
//! is, and a revision that moves on every transition, so that of several drivers racing
//! exactly one makes each move), and its events (steps applied, guard readings, pauses),
//! the evidence of every decision.

/// One rollout.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RolloutRow {
    /// Assigned by the store.
    pub id: i64,
    /// The flag.
    pub flag: String,
    /// The plan as validated when it started, as JSON.
    pub plan: String,
    /// `running`, `paused`, `rolled_back`, `completed` or `aborted`.
    pub status: String,
    /// The next step to apply (0-based; the number of steps once all are applied).
    pub next_step: u32,
    /// When it started (ms since the epoch).
    pub started_at: i64,
    /// Who started it.
    pub started_by: String,
    /// When the wait before the next step began: the last step, or a resume.
    pub wait_from: i64,
    /// The step an approval was given for.
    pub approved_step: Option<u32>,
    /// Why it is paused or over.
    pub reason: Option<String>,
    /// When guards were last read.
    pub last_check_at: Option<i64>,
    /// When it last moved.
    pub updated_at: i64,
    /// Moves by one with every update.
    pub revision: i64,
}

/// One thing that happened to a rollout.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RolloutEvent {
    /// Assigned by the store.
    pub id: i64,
    /// The rollout's id.
    pub rollout: i64,
    /// When (ms since the epoch).
    pub at: i64,
    /// The step it concerns, if one.
    pub step: Option<u32>,
    /// `started`, `applied`, `checked`, `paused`, `resumed`, `approved`, `rolled_back`,
    /// `completed`, `aborted`.
    pub kind: String,
    /// Who or what.
    pub author: String,
    /// The evidence, as JSON: guard readings, versions, the reason.
    pub detail: String,
}

/// Whether a rollout's status still lets it move.
pub fn is_active(status: &str) -> bool {
    status == "running" || status == "paused"
}
