//! `vexil stale`: which flags should go, and why — as a pure function of the definitions,
//! every environment's newest state, the whole change log and the clock's reading, so each
//! rule is tested with a history made at chosen times rather than by waiting.
//!
//! The rules: GitLab's housekeeping (keeps/delete_old_feature_flags.rb: `development`,
//! `gitlab_com_derisk` and `beta` flags on everywhere and introduced 4 milestones ago, or
//! off everywhere and introduced 12 ago); a lifetime per flag type (Unleash's "potentially
//! stale"), counted from the change that left the flag fully on or off everywhere; state
//! with no definition; a definition never set anywhere; a flag left conditional with no
//! rollout running it. A future `intended_to_rollout_by` keeps a defined flag, as GitLab's.

use super::Milestone;
use crate::config::Config;
use crate::definitions::Definitions;
use crate::duration;
use crate::store::Change;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::Duration;
use vexil_core::{FlagType, Snapshot, State, Timestamp, UtcDateTime};

/// GitLab's cutoffs, in milestones.
pub const ENABLED_CUTOFF: u32 = 4;
/// For flags off everywhere.
pub const DISABLED_CUTOFF: u32 = 12;

/// The types GitLab's housekeeper proposes for removal by milestone.
const MILESTONE_TYPES: [FlagType; 3] = [FlagType::Development, FlagType::GitlabComDerisk, FlagType::Beta];

/// Everything the report is made from.
pub struct Facts<'a> {
    /// vexil.toml.
    pub config: &'a Config,
    /// The definitions.
    pub definitions: &'a Definitions,
    /// Every environment's newest snapshot.
    pub heads: &'a BTreeMap<String, Snapshot>,
    /// The change log, in any order.
    pub changes: &'a [Change],
    /// Flags a rollout is running (or has paused) now.
    pub rollouts: &'a BTreeSet<String>,
    /// The current milestone and where it was read, if known.
    pub milestone: Option<(Milestone, String)>,
    /// Now (ms since the epoch).
    pub now: i64,
}

/// Which rule says a flag should go.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Rule {
    /// GitLab's milestone cutoff.
    Milestone,
    /// Fully on or off everywhere for longer than the type's lifetime.
    Lifetime,
    /// State without a definition.
    Orphaned,
    /// Defined, never set anywhere, for a long time.
    NeverSet,
    /// Conditional for a long time, with no running rollout.
    Conditional,
}

/// One reason, in words, with the time it counts from.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Reason {
    /// The rule.
    pub rule: Rule,
    /// What it found.
    pub message: String,
    /// When the condition began (ms since the epoch), where a time is what the rule measures.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub since: Option<i64>,
}

/// A flag that should go.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct StaleFlag {
    /// The flag.
    pub flag: String,
    /// Its definition file, if it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub definition: Option<PathBuf>,
    /// Why, every rule that applies.
    pub reasons: Vec<Reason>,
}

/// A flag a rule would report, kept by its `intended_to_rollout_by`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Kept {
    /// The flag.
    pub flag: String,
    /// The date it is meant to be rolled out by.
    pub intended_to_rollout_by: String,
    /// The rules it would otherwise trip.
    pub rules: Vec<Rule>,
}

/// What `vexil stale` reports.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct StaleReport {
    /// The current milestone, if known.
    pub milestone: Option<String>,
    /// Where it was read.
    pub milestone_from: Option<String>,
    /// How many flags were looked at.
    pub checked: usize,
    /// Those that should go, by name.
    pub stale: Vec<StaleFlag>,
    /// Those kept by a future rollout date.
    pub kept: Vec<Kept>,
    /// What could not be judged (an unreadable milestone or date).
    pub notes: Vec<String>,
}

/// One flag in one environment: what everyone gets, and since when.
struct Standing {
    environment: String,
    state: State,
    persisted: bool,
    /// The newest change to the flag there; else the environment's first version.
    since: i64,
    /// The oldest entry naming the flag there; else the environment's first version.
    first_seen: i64,
    gates: String,
}

/// The report.
pub fn report(facts: &Facts<'_>) -> StaleReport {
    let rules = &facts.config.housekeeping;
    let mut notes = Vec::new();
    // Per environment: its first version's time, and per flag the newest and oldest entry.
    let mut opened: BTreeMap<&str, i64> = BTreeMap::new();
    let mut touched: BTreeMap<(&str, &str), (i64, i64)> = BTreeMap::new();
    for c in facts.changes {
        let first = opened.entry(c.environment.as_str()).or_insert(c.at);
        *first = (*first).min(c.at);
        if let Some(flag) = &c.flag {
            let t = touched.entry((c.environment.as_str(), flag.as_str())).or_insert((c.at, c.at));
            t.0 = t.0.max(c.at);
            t.1 = t.1.min(c.at);
        }
    }
    let names: BTreeSet<&str> = facts
        .definitions
        .by_name
        .keys()
        .map(String::as_str)
        .chain(facts.heads.values().flat_map(|s| s.flags().filter(|f| f.persisted()).map(|f| f.name())))
        .collect();
    let mut stale = Vec::new();
    let mut kept = Vec::new();
    for name in &names {
        let standings: Vec<Standing> = facts
            .config
            .environments
            .iter()
            .filter_map(|e| {
                let head = facts.heads.get(&e.name)?;
                let flag = head.flag(name)?.to_flag();
                let opened = opened.get(e.name.as_str()).copied().unwrap_or(head.published_at());
                let (since, first_seen) = touched.get(&(e.name.as_str(), *name)).copied().unwrap_or((opened, opened));
                Some(Standing {
                    environment: e.name.clone(),
                    state: flag.effective_state(),
                    persisted: flag.persisted,
                    since,
                    first_seen,
                    gates: crate::gates_json::summary(&flag.gates),
                })
            })
            .collect();
        let definition = facts.definitions.by_name.get(*name);
        let mut reasons = Vec::new();
        match definition {
            None => {
                let held: Vec<&str> =
                    standings.iter().filter(|s| s.persisted).map(|s| s.environment.as_str()).collect();
                if !held.is_empty() {
                    reasons.push(Reason {
                        rule: Rule::Orphaned,
                        message: format!(
                            "state on {} but no definition (set with --force, or its YAML was removed without `vexil cleanup`)",
                            held.join(", ")
                        ),
                        since: None,
                    });
                }
            }
            Some(def) => {
                let everywhere = uniform(&standings);
                if let (Some(state), Some((current, _))) = (everywhere, &facts.milestone) {
                    if MILESTONE_TYPES.contains(&def.flag_type) {
                        match def.milestone.as_deref().map(Milestone::parse) {
                            Some(Ok(introduced)) => {
                                let cutoff = if state == State::On { ENABLED_CUTOFF } else { DISABLED_CUTOFF };
                                if introduced < current.before(cutoff) {
                                    reasons.push(Reason {
                                        rule: Rule::Milestone,
                                        message: format!(
                                            "introduced in {introduced}, more than {cutoff} milestones before {current}, and {} in every environment",
                                            state.name()
                                        ),
                                        since: None,
                                    });
                                }
                            }
                            Some(Err(e)) => notes.push(format!("{}: milestone: {e}", def.path.display())),
                            None => {}
                        }
                    }
                }
                let any_persisted = standings.iter().any(|s| s.persisted);
                if let (Some(state), Some(Some(life)), true) =
                    (everywhere, rules.lifetimes.get(&def.flag_type), any_persisted)
                {
                    let since = standings.iter().map(|s| s.since).max().unwrap_or(facts.now);
                    if older_than(facts.now, since, *life) {
                        reasons.push(Reason {
                            rule: Rule::Lifetime,
                            message: format!(
                                "{} in every environment since {} ({}; {} flags live {})",
                                state.name(),
                                day(since),
                                age(facts.now, since),
                                def.flag_type.name(),
                                duration::Text(*life)
                            ),
                            since: Some(since),
                        });
                    }
                }
                if !any_persisted && !standings.is_empty() {
                    let since = standings.iter().map(|s| s.first_seen).min().unwrap_or(facts.now);
                    if older_than(facts.now, since, rules.unused_for) {
                        reasons.push(Reason {
                            rule: Rule::NeverSet,
                            message: format!(
                                "defined since {} ({}) and never set in any environment: its YAML default ({}) is all it has been",
                                day(since),
                                age(facts.now, since),
                                if def.default_enabled { "on" } else { "off" }
                            ),
                            since: Some(since),
                        });
                    }
                }
                if !facts.rollouts.contains(*name) {
                    for s in standings.iter().filter(|s| s.state == State::Conditional) {
                        if older_than(facts.now, s.since, rules.conditional_for) {
                            reasons.push(Reason {
                                rule: Rule::Conditional,
                                message: format!(
                                    "conditional on {} ({}) since {} ({}) with no rollout running it",
                                    s.environment,
                                    s.gates,
                                    day(s.since),
                                    age(facts.now, s.since)
                                ),
                                since: Some(s.since),
                            });
                        }
                    }
                }
                if let (Some(date), false) = (&def.intended_to_rollout_by, reasons.is_empty()) {
                    match UtcDateTime::parse_date(date) {
                        Some(by) if by > Timestamp::from_unix_millis(facts.now) => {
                            let mut rules: Vec<Rule> = reasons.iter().map(|r| r.rule).collect();
                            rules.dedup();
                            kept.push(Kept { flag: name.to_string(), intended_to_rollout_by: date.clone(), rules });
                            continue;
                        }
                        Some(_) => {}
                        None => notes.push(format!(
                            "{}: intended_to_rollout_by {date:?} is not a date (YYYY-MM-DD); ignored, as GitLab's housekeeper does",
                            def.path.display()
                        )),
                    }
                }
            }
        }
        if !reasons.is_empty() {
            stale.push(StaleFlag { flag: name.to_string(), definition: definition.map(|d| d.path.clone()), reasons });
        }
    }
    let (milestone, milestone_from) = match &facts.milestone {
        Some((m, from)) => (Some(m.to_string()), Some(from.clone())),
        None => {
            notes.push(
                "no current milestone ([housekeeping] milestone in vexil.toml, or a VERSION file): GitLab's milestone rule was not applied"
                    .into(),
            );
            (None, None)
        }
    };
    StaleReport { milestone, milestone_from, checked: names.len(), stale, kept, notes }
}

/// The state the flag has in every environment, if it is the same everywhere and not
/// conditional anywhere (GitLab's housekeeper skips partly rolled-out flags).
fn uniform(standings: &[Standing]) -> Option<State> {
    let first = standings.first()?.state;
    (first != State::Conditional && standings.iter().all(|s| s.state == first)).then_some(first)
}

fn older_than(now: i64, since: i64, life: Duration) -> bool {
    now.saturating_sub(since) > life.as_millis() as i64
}

fn day(ms: i64) -> String {
    let t = Timestamp::from_unix_millis(ms).to_utc();
    format!("{:04}-{:02}-{:02}", t.year, t.month, t.day)
}

fn age(now: i64, since: i64) -> String {
    let days = now.saturating_sub(since) / 86_400_000;
    if days == 1 {
        "1 day".into()
    } else {
        format!("{days} days")
    }
}
