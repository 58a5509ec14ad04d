//! Whether a plan makes sense for this project, judged as `vexil lint` and `vexil rollout
//! start` do: every step a valid chatops command for known environments and feature groups,
//! waits no shorter than `[rollouts]` allows, production only once staging is fully on,
//! percentages that never go down, guards with thresholds and somewhere to read them.

use super::plan_file::{self, Check, Found, Plan, Step};
use crate::cli::{args, invocation};
use crate::config::Config;
use crate::definitions::{Definitions, Problem, Severity};
use crate::duration::Text;
use crate::error::{Error, Result};
use crate::plan::{self, Request, SetValue};
use std::collections::BTreeMap;
use std::path::PathBuf;
use vexil_core::Percentage;

/// The plan file of `flag`, relative to the project.
pub fn path_of(config: &Config, flag: &str) -> PathBuf {
    config.rollouts.plans.join(format!("{flag}.yml"))
}

/// Loads and validates the plan of `flag`: every problem, with the file and line, or the
/// plan with its environments filled in.
pub fn load(config: &Config, definitions: &Definitions, flag: &str) -> Result<Plan> {
    let rel = path_of(config, flag);
    let text = std::fs::read_to_string(config.root.join(&rel)).map_err(|e| {
        Error::refused(format!(
            "{}: {e}; `vexil rollout init {flag}` writes GitLab's rollout template there",
            rel.display()
        ))
    })?;
    let (plan, problems) = judge(config, definitions, flag, &text);
    match (plan, problems.as_slice()) {
        (Some(plan), []) => Ok(plan),
        _ => Err(Error::refused(
            problems.iter().map(|(line, m)| format!("{}:{line}: {m}", rel.display())).collect::<Vec<_>>().join("\n"),
        )),
    }
}

/// Every plan file's problems, for `vexil lint`.
pub fn lint(config: &Config, definitions: &Definitions) -> Vec<Problem> {
    let dir = config.root.join(&config.rollouts.plans);
    let mut files: Vec<PathBuf> = match std::fs::read_dir(&dir) {
        Ok(entries) => entries.filter_map(|e| e.ok().map(|e| e.path())).collect(),
        Err(_) => return Vec::new(),
    };
    files.retain(|f| f.extension().is_some_and(|x| x == "yml" || x == "yaml"));
    files.sort();
    let mut out = Vec::new();
    for file in files {
        let rel = file.strip_prefix(&config.root).unwrap_or(&file).to_path_buf();
        let flag = file.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
        let problems = match std::fs::read_to_string(&file) {
            Ok(text) => judge(config, definitions, &flag, &text).1,
            Err(e) => vec![(1, e.to_string())],
        };
        out.extend(problems.into_iter().map(|(line, message)| Problem {
            path: rel.clone(),
            line,
            severity: Severity::Error,
            message,
        }));
    }
    out
}

/// Reads and judges one plan.
pub fn judge(config: &Config, definitions: &Definitions, flag: &str, text: &str) -> (Option<Plan>, Vec<Found>) {
    let (plan, mut found) = plan_file::read(text, flag, config.rollouts.check_interval);
    let Some(mut plan) = plan else { return (None, found) };
    if !definitions.by_name.contains_key(flag) {
        found.push((
            1,
            format!(
                "`{flag}` has no definition: a plan rolls out a defined flag (config/feature_flags/<type>/{flag}.yml)"
            ),
        ));
    }
    check_steps(&mut plan, config, &mut found);
    check_guards(&plan, config, &mut found);
    if let Err(e) = rollback_request(&plan, std::slice::from_ref(&config.default_environment), config) {
        found.push((1, format!("rollback: {e}")));
    }
    found.sort_by_key(|(line, _)| *line);
    (Some(plan), found)
}

/// The request a step makes: `feature set <flag> <set> --<env>…`, parsed by the CLI's own
/// grammar, so a step means exactly what the command would.
pub fn step_request(flag: &str, step: &Step, config: &Config) -> Result<Request> {
    chatops(flag, &step.set, &step.environments, config)
}

/// The request a rollback makes on `environments`: never held up by the consistency or
/// production checks, as an emergency change with chatops' override options.
pub fn rollback_request(plan: &Plan, environments: &[String], config: &Config) -> Result<Request> {
    let mut request = chatops(&plan.flag, &plan.rollback, environments, config)?;
    if let Request::Set { options, .. } = &mut request {
        options.ignore_consistency_check = true;
        options.ignore_production_check = true;
    }
    Ok(request)
}

fn chatops(flag: &str, set: &str, environments: &[String], config: &Config) -> Result<Request> {
    let names = args::environment_names(Some(config));
    let words = args::words(set).map_err(Error::refused)?;
    if let Some(w) = words.iter().find(|w| names.iter().any(|n| w.as_str() == format!("--{n}"))) {
        return Err(Error::refused(format!("`{w}`: environments go in `environments:`, not in `set:`")));
    }
    let mut argv: Vec<String> = ["vexil", "feature", "set", flag].map(String::from).to_vec();
    argv.extend(words);
    argv.extend(environments.iter().map(|e| format!("--{e}")));
    let matches = args::command(&names).try_get_matches_from(&argv).map_err(|e| {
        Error::refused(
            e.render().to_string().lines().next().unwrap_or_default().trim_start_matches("error: ").to_string(),
        )
    })?;
    let Some(("feature", sub)) = matches.subcommand() else { return Err(Error::refused("not a feature command")) };
    match invocation::from_matches("feature", sub, &names)? {
        invocation::Invocation::Change { request: request @ Request::Set { .. }, .. } => Ok(request),
        _ => Err(Error::refused("expected a `feature set` value")),
    }
}

/// How far a step turns the flag on in one environment, for "never down" and "staging is on".
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Level {
    Off,
    Percent(Percentage),
    On,
}

fn check_steps(plan: &mut Plan, config: &Config, found: &mut Vec<Found>) {
    let mut levels: BTreeMap<String, (Level, usize)> = BTreeMap::new();
    let staging = config.staging.as_deref();
    let production = config.production.as_deref();
    for step in &mut plan.steps {
        if step.environments.is_empty() {
            step.environments.push(config.default_environment.clone());
        }
        let mut known = true;
        for env in &step.environments {
            if config.environment(env).is_err() {
                found.push((step.line, format!("environments: `{env}` is not an environment of vexil.toml")));
                known = false;
            }
        }
        let least = config.rollouts.min_wait_for(step.environments.iter().map(String::as_str));
        if step.wait_ms < least.as_millis() as u64 {
            found.push((
                step.line,
                format!(
                    "wait {} is below the least wait of {} for {} ([rollouts] min_wait)",
                    Text(std::time::Duration::from_millis(step.wait_ms)),
                    Text(least),
                    step.environments.join(", ")
                ),
            ));
        }
        // With an unknown environment the command cannot be judged; that is reported.
        let written = if known { step.environments.clone() } else { Vec::new() };
        let request = match chatops(&plan.flag, &step.set, &written, config) {
            Ok(r) => r,
            Err(e) => {
                found.push((step.line, format!("set `{}`: {e}", step.set)));
                continue;
            }
        };
        let Request::Set { set, .. } = &request else { continue };
        if let Err(e) = plan::require_known_groups(config, set) {
            found.push((step.line, e.to_string()));
        }
        if !known {
            continue;
        }
        // Targeted steps (a feature group, some projects) turn nobody else on: no level.
        let level = match (set.value, set.targets.is_empty()) {
            (SetValue::True, true) => Some(Level::On),
            (SetValue::False, true) => Some(Level::Off),
            (SetValue::Percentage(p), true) => Some(Level::Percent(p)),
            _ => None,
        };
        if let (Some(prod), Some(stag)) = (production, staging) {
            let staging_on = levels.get(stag).is_some_and(|(l, _)| *l == Level::On)
                || (step.environments.iter().any(|e| e == stag) && level == Some(Level::On));
            if step.environments.iter().any(|e| e == prod) && prod != stag && !staging_on {
                found.push((
                    step.line,
                    format!("a {prod} step before {stag} is fully on: set `true` on {stag} in an earlier step"),
                ));
            }
        }
        for env in &step.environments {
            if let Some(level) = level {
                if let Some((before, line)) = levels.get(env) {
                    if level < *before {
                        found.push((step.line, format!("{env} goes down from the step on line {line}: a rollout only turns a flag further on (its rollback is `rollback:`)")));
                    }
                }
                levels.insert(env.clone(), (level, step.line));
            }
        }
    }
}

fn check_guards(plan: &Plan, config: &Config, found: &mut Vec<Found>) {
    let mut seen: Vec<&str> = Vec::new();
    for g in &plan.guards {
        if seen.contains(&g.name.as_str()) {
            found.push((g.line, format!("guard `{}` is named twice", g.name)));
        }
        seen.push(&g.name);
        for env in &g.environments {
            if config.environment(env).is_err() {
                found.push((g.line, format!("guard `{}`: `{env}` is not an environment of vexil.toml", g.name)));
            }
        }
        if matches!(g.check, Check::Query { .. }) && config.rollouts.prometheus.is_none() {
            found.push((g.line, format!("guard `{}`: vexil.toml's [rollouts] prometheus is not set", g.name)));
        }
    }
}
