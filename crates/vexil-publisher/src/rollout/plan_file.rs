//! A rollout plan as a team writes it, `config/rollouts/<flag>.yml`: steps (a chatops value
//! for some environments, a least wait before the next, perhaps an approval), guards (a
//! PromQL query with a bound, or a command that exits 0 while healthy), what a breach does,
//! and the state a rollback returns to. Read here into a [`Plan`] with every node's line;
//! [`super::validate`] judges it.

use crate::definitions::yaml::Value;
use crate::duration;
use crate::yaml_tree::{self, Kind, Node};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// A plan, as validated and frozen when its rollout starts.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    /// The flag it rolls out.
    pub flag: String,
    /// The steps, in order.
    pub steps: Vec<Step>,
    /// What must stay healthy.
    #[serde(default)]
    pub guards: Vec<Guard>,
    /// What a breach does.
    pub on_breach: OnBreach,
    /// The chatops value a rollback sets, on every environment the rollout changed.
    pub rollback: String,
    /// How often guards are read while a step waits (ms).
    pub check_interval_ms: u64,
}

/// One step.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Step {
    /// The chatops value and options: `50 --actors`, `true --feature-group=gitlab_team_members`.
    pub set: String,
    /// Where (never empty once validated: the default environment when the file names none).
    pub environments: Vec<String>,
    /// The least time before the next step (ms).
    pub wait_ms: u64,
    /// Whether `vexil rollout approve` must be given before this step applies.
    #[serde(default)]
    pub approval: bool,
    /// Its line in the plan file.
    #[serde(default)]
    pub line: usize,
}

/// One guard.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Guard {
    /// Its name, in status and notifications.
    pub name: String,
    /// What is read.
    pub check: Check,
    /// The environments it watches (empty: the whole rollout); it is read once the rollout
    /// reaches one of them.
    #[serde(default)]
    pub environments: Vec<String>,
    /// Its line in the plan file.
    #[serde(default)]
    pub line: usize,
}

/// What a guard reads.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Check {
    /// A PromQL instant query: every series must stay within the bounds.
    Query {
        /// The query.
        query: String,
        /// Healthy while at most this.
        max: Option<f64>,
        /// Healthy while at least this.
        min: Option<f64>,
    },
    /// A command run by `sh -c` in the project: healthy when it exits 0 in time.
    Command {
        /// The command.
        command: String,
        /// How long it may take (ms).
        timeout_ms: u64,
    },
}

impl Check {
    /// The threshold in words: `≤ 0.05`, `≥ 10`, `exit 0`.
    pub fn threshold(&self) -> String {
        match self {
            Check::Query { max: Some(max), min: Some(min), .. } => format!("between {min} and {max}"),
            Check::Query { max: Some(max), .. } => format!("at most {max}"),
            Check::Query { min: Some(min), .. } => format!("at least {min}"),
            Check::Query { .. } => "no bound".into(),
            Check::Command { .. } => "exit status 0".into(),
        }
    }
}

/// What a breach does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnBreach {
    /// Stop where it is, for a person to look.
    Pause,
    /// Set the rollback state on every environment the rollout changed.
    Rollback,
}

/// How long a guard command may run unless the plan says.
pub const DEFAULT_COMMAND_TIMEOUT: Duration = Duration::from_secs(300);

/// A problem found reading a plan: its line and what is wrong.
pub type Found = (usize, String);

/// Reads the document into a plan, leaving environments as written (empty: default) and
/// collecting every problem with its line; the plan is returned when its shape is right.
pub fn read(text: &str, flag: &str, check_interval: Duration) -> (Option<Plan>, Vec<Found>) {
    let mut found: Vec<Found> = Vec::new();
    let root = match yaml_tree::parse(text) {
        Ok(n) => n,
        Err(e) => return (None, vec![(e.line, e.message)]),
    };
    let Some(top) = mapping(&root, "the plan", &mut found) else { return (None, found) };
    let mut plan = Plan {
        flag: flag.to_string(),
        steps: Vec::new(),
        guards: Vec::new(),
        on_breach: OnBreach::Rollback,
        rollback: "false".into(),
        check_interval_ms: check_interval.as_millis() as u64,
    };
    let mut saw_steps = false;
    for (key, line, node) in top {
        match key.as_str() {
            "flag" => match node.text() {
                Some(f) if f == flag => {}
                other => found.push((*line, format!("flag: {other:?} is not {flag:?}, whose plan this file is"))),
            },
            "steps" => {
                saw_steps = true;
                for step in sequence(node, "steps", &mut found) {
                    if let Some(s) = read_step(step, &mut found) {
                        plan.steps.push(s);
                    }
                }
            }
            "guards" => {
                for guard in sequence(node, "guards", &mut found) {
                    if let Some(g) = read_guard(guard, &mut found) {
                        plan.guards.push(g);
                    }
                }
            }
            "on_breach" => match node.text().as_deref() {
                Some("pause") => plan.on_breach = OnBreach::Pause,
                Some("rollback") => plan.on_breach = OnBreach::Rollback,
                _ => found.push((*line, "on_breach: expected `pause` or `rollback`".into())),
            },
            "rollback" => match node.text() {
                Some(v) => plan.rollback = v,
                None => found.push((
                    *line,
                    format!("rollback: expected a chatops value such as false, found {}", node.describe()),
                )),
            },
            "check_interval" => {
                if let Some(d) = span(node, "check_interval", &mut found) {
                    if d.is_zero() {
                        found.push((*line, "check_interval: must be at least 1s".into()));
                    }
                    plan.check_interval_ms = d.as_millis() as u64;
                }
            }
            other => found
                .push((*line, unknown(other, &["flag", "steps", "guards", "on_breach", "rollback", "check_interval"]))),
        }
    }
    if !saw_steps {
        found.push((root.line, "the plan has no `steps:`".into()));
    } else if plan.steps.is_empty() && found.is_empty() {
        found.push((root.line, "steps: the plan needs at least one step".into()));
    }
    (Some(plan), found)
}

fn unknown(key: &str, known: &[&str]) -> String {
    format!("unknown key `{key}` (expected one of: {})", known.join(", "))
}

fn mapping<'a>(node: &'a Node, what: &str, found: &mut Vec<Found>) -> Option<&'a [(String, usize, Node)]> {
    match &node.kind {
        Kind::Map(entries) => Some(entries),
        _ => {
            found.push((
                node.line,
                format!("{what}: expected a mapping of `key: value` lines, found {}", node.describe()),
            ));
            None
        }
    }
}

fn sequence<'a>(node: &'a Node, what: &str, found: &mut Vec<Found>) -> &'a [Node] {
    match &node.kind {
        Kind::Seq(items) => items,
        Kind::Scalar(Value::Null) => &[],
        _ => {
            found.push((node.line, format!("{what}: expected a list (`- …` lines), found {}", node.describe())));
            &[]
        }
    }
}

fn span(node: &Node, what: &str, found: &mut Vec<Found>) -> Option<Duration> {
    match node.text().map(|t| duration::parse(&t)) {
        Some(Ok(d)) => Some(d),
        Some(Err(m)) => {
            found.push((node.line, format!("{what}: {m}")));
            None
        }
        None => {
            found.push((node.line, format!("{what}: expected a duration such as 15m, found {}", node.describe())));
            None
        }
    }
}

fn names(node: &Node, what: &str, found: &mut Vec<Found>) -> Vec<String> {
    let items: Vec<&Node> = match &node.kind {
        Kind::Seq(items) => items.iter().collect(),
        Kind::Scalar(Value::Str(_)) => vec![node],
        _ => {
            found.push((node.line, format!("{what}: expected a list of environment names, found {}", node.describe())));
            return Vec::new();
        }
    };
    let mut out = Vec::new();
    for item in items {
        match &item.kind {
            Kind::Scalar(Value::Str(s)) => out.push(s.clone()),
            _ => found.push((item.line, format!("{what}: expected an environment name, found {}", item.describe()))),
        }
    }
    out
}

fn read_step(node: &Node, found: &mut Vec<Found>) -> Option<Step> {
    let entries = mapping(node, "a step", found)?;
    let mut step = Step { set: String::new(), environments: Vec::new(), wait_ms: 0, approval: false, line: node.line };
    let (mut has_set, mut has_wait) = (false, false);
    for (key, line, value) in entries {
        match key.as_str() {
            "set" => match value.text() {
                Some(v) if !v.trim().is_empty() => {
                    step.set = v;
                    has_set = true;
                }
                _ => found.push((*line, "set: expected a chatops value such as `50 --actors` or `true`".into())),
            },
            "environments" => step.environments = names(value, "environments", found),
            "wait" => {
                has_wait = true;
                if let Some(d) = span(value, "wait", found) {
                    step.wait_ms = d.as_millis() as u64;
                }
            }
            "approval" => match &value.kind {
                Kind::Scalar(Value::Bool(b)) => step.approval = *b,
                _ => found.push((*line, format!("approval: expected true or false, found {}", value.describe()))),
            },
            other => found.push((*line, unknown(other, &["set", "environments", "wait", "approval"]))),
        }
    }
    if !has_set {
        found.push((node.line, "a step needs `set:` (a chatops value such as `50 --actors`)".into()));
    }
    if !has_wait {
        found.push((node.line, "a step needs `wait:` (the least time before the next step, such as 15m)".into()));
    }
    (has_set && has_wait).then_some(step)
}

fn read_guard(node: &Node, found: &mut Vec<Found>) -> Option<Guard> {
    let entries = mapping(node, "a guard", found)?;
    let (mut name, mut query, mut command) = (None, None, None);
    let (mut max, mut min, mut timeout, mut environments) = (None, None, None, Vec::new());
    let before = found.len();
    for (key, line, value) in entries {
        let number = |found: &mut Vec<Found>| match &value.kind {
            Kind::Scalar(Value::Int(i)) => Some(*i as f64),
            Kind::Scalar(Value::Float(f)) if f.is_finite() => Some(*f),
            _ => {
                found.push((*line, format!("{key}: expected a number, found {}", value.describe())));
                None
            }
        };
        match key.as_str() {
            "name" => name = value.text(),
            "query" => query = value.text(),
            "command" => command = value.text(),
            "max" => max = number(found),
            "min" => min = number(found),
            "timeout" => timeout = span(value, "timeout", found),
            "environments" => environments = names(value, "environments", found),
            other => found
                .push((*line, unknown(other, &["name", "query", "max", "min", "command", "timeout", "environments"]))),
        }
    }
    let Some(name) = name.filter(|n| !n.is_empty()) else {
        found.push((node.line, "a guard needs `name:`".into()));
        return None;
    };
    let at = |m: String| (node.line, format!("guard `{name}`: {m}"));
    let check = match (query, command) {
        (Some(query), None) => {
            if max.is_none() && min.is_none() {
                found.push(at("a query needs a threshold: `max:` (healthy while at most) or `min:`".into()));
            }
            if timeout.is_some() {
                found.push(at("`timeout:` is for commands".into()));
            }
            Check::Query { query, max, min }
        }
        (None, Some(command)) => {
            if max.is_some() || min.is_some() {
                found.push(at("a command's threshold is its exit status; `max:` and `min:` are for queries".into()));
            }
            Check::Command { command, timeout_ms: timeout.unwrap_or(DEFAULT_COMMAND_TIMEOUT).as_millis() as u64 }
        }
        (Some(_), Some(_)) => {
            found.push(at("give `query:` or `command:`, not both".into()));
            return None;
        }
        (None, None) => {
            found.push(at("needs `query:` (PromQL, with `max:` or `min:`) or `command:`".into()));
            return None;
        }
    };
    (found.len() == before).then_some(Guard { name, check, environments, line: node.line })
}
