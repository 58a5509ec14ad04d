//! `[rollouts]`: where rollout plans live, the Prometheus their guards read, how long steps
//! must wait at the least (GitLab's template: 15 minutes, longer per environment where a
//! team wants), how often guards are checked, and whether `vexil serve` drives rollouts.

use crate::duration;
use crate::error::{Error, Result};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRollouts {
    plans: Option<String>,
    prometheus: Option<String>,
    prometheus_token_env: Option<String>,
    min_wait: Option<String>,
    check_interval: Option<String>,
    drive: Option<bool>,
    #[serde(default)]
    environment: BTreeMap<String, RawEnvironmentRules>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEnvironmentRules {
    min_wait: Option<String>,
}

/// The rules rollouts follow.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RolloutRules {
    /// The plans' directory, relative to the project.
    pub plans: PathBuf,
    /// The Prometheus server guards query (`http://prometheus:9090`).
    pub prometheus: Option<String>,
    /// The environment variable holding a bearer token for Prometheus, if it needs one.
    pub prometheus_token_env: Option<String>,
    /// The least a step may wait before the next.
    pub min_wait: Duration,
    /// Per environment, a longer (or shorter) least wait.
    pub environment_min_wait: BTreeMap<String, Duration>,
    /// How often guards are read while a step waits, unless a plan says otherwise.
    pub check_interval: Duration,
    /// Whether `vexil serve` applies due steps itself.
    pub drive: bool,
}

impl Default for RolloutRules {
    fn default() -> Self {
        RolloutRules {
            plans: PathBuf::from("config/rollouts"),
            prometheus: None,
            prometheus_token_env: None,
            min_wait: Duration::from_secs(15 * 60),
            environment_min_wait: BTreeMap::new(),
            check_interval: Duration::from_secs(60),
            drive: false,
        }
    }
}

impl RolloutRules {
    /// The least wait of a step changing `environments`: the longest of theirs.
    pub fn min_wait_for<'a>(&self, environments: impl IntoIterator<Item = &'a str>) -> Duration {
        environments
            .into_iter()
            .map(|e| self.environment_min_wait.get(e).copied().unwrap_or(self.min_wait))
            .max()
            .unwrap_or(self.min_wait)
    }
}

pub(super) fn parse(raw: RawRollouts, environments: &[String]) -> Result<RolloutRules> {
    let at = |field: &str, m: String| Error::refused(format!("[rollouts] {field}: {m}"));
    let defaults = RolloutRules::default();
    let span = |field: &str, text: &Option<String>, default: Duration| match text {
        None => Ok(default),
        Some(t) => duration::parse(t).map_err(|m| at(field, m)),
    };
    if let Some(url) = &raw.prometheus {
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(at("prometheus", format!("{url:?}: expected the server's http:// or https:// URL")));
        }
    }
    if let Some(var) = &raw.prometheus_token_env {
        if var.is_empty() || !var.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_') {
            return Err(at(
                "prometheus_token_env",
                "expected the name of an environment variable, not the token".into(),
            ));
        }
    }
    let plans = raw.plans.map_or(defaults.plans, PathBuf::from);
    if plans.is_absolute() || plans.components().any(|c| matches!(c, std::path::Component::ParentDir)) {
        return Err(at("plans", format!("{:?}: a directory inside the project", plans.display().to_string())));
    }
    let check_interval = span("check_interval", &raw.check_interval, defaults.check_interval)?;
    if check_interval.is_zero() {
        return Err(at("check_interval", "must be at least 1s".into()));
    }
    let mut environment_min_wait = BTreeMap::new();
    for (env, rules) in raw.environment {
        if !environments.contains(&env) {
            return Err(at(&format!("environment.{env}"), "not a defined environment".into()));
        }
        if let Some(wait) = &rules.min_wait {
            let field = format!("environment.{env}.min_wait");
            environment_min_wait.insert(env, duration::parse(wait).map_err(|m| at(&field, m))?);
        }
    }
    Ok(RolloutRules {
        plans,
        prometheus: raw.prometheus.map(|u| u.trim_end_matches('/').to_string()),
        prometheus_token_env: raw.prometheus_token_env,
        min_wait: span("min_wait", &raw.min_wait, defaults.min_wait)?,
        environment_min_wait,
        check_interval,
        drive: raw.drive.unwrap_or(false),
    })
}
