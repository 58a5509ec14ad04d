//! Reading guards: a PromQL instant query against the team's Prometheus (its HTTP API,
//! `GET /api/v1/query`), or a command run in the project with a timeout. Anything short of
//! a clean answer — Prometheus unreachable, an error, no series, NaN, a command that fails
//! to start or runs too long — is a reading without a value, which pauses the rollout; a
//! command that exits non-zero has spoken, and is a breach.

use super::decide::{within, Reading};
use super::plan_file::{Check, Guard};
use crate::config::RolloutRules;
use crate::error::{Error, Result};
use std::path::Path;
use std::time::{Duration, Instant};

/// How long a Prometheus query may take.
const QUERY_TIMEOUT: Duration = Duration::from_secs(10);

/// Reads Prometheus for guards.
pub struct Prometheus {
    base: String,
    token: Option<String>,
    http: reqwest::blocking::Client,
}

impl Prometheus {
    /// The server `[rollouts]` names, if any.
    pub fn of(rules: &RolloutRules) -> Result<Option<Prometheus>> {
        let Some(base) = &rules.prometheus else { return Ok(None) };
        let token = rules.prometheus_token_env.as_ref().and_then(|v| std::env::var(v).ok()).filter(|t| !t.is_empty());
        let http = reqwest::blocking::Client::builder()
            .connect_timeout(Duration::from_secs(3))
            .timeout(QUERY_TIMEOUT)
            .build()
            .map_err(|e| Error::io(format!("cannot start an HTTP client: {e}")))?;
        Ok(Some(Prometheus { base: base.clone(), token, http }))
    }

    /// The values of every series `query` returns now.
    pub fn query(&self, query: &str) -> std::result::Result<Vec<f64>, String> {
        let mut request = self.http.get(format!("{}/api/v1/query", self.base)).query(&[("query", query)]);
        if let Some(t) = &self.token {
            request = request.bearer_auth(t);
        }
        let response =
            request.send().map_err(|e| format!("Prometheus at {} is unreachable: {}", self.base, e.without_url()))?;
        let status = response.status();
        let body: serde_json::Value = response
            .json()
            .map_err(|e| format!("Prometheus answered HTTP {status} with no JSON: {}", e.without_url()))?;
        if body["status"] != "success" {
            let error = body["error"].as_str().unwrap_or("no reason given");
            return Err(format!("Prometheus refused the query (HTTP {}): {error}", status.as_u16()));
        }
        let number = |v: &serde_json::Value| v[1].as_str().and_then(|s| s.parse::<f64>().ok());
        let data = &body["data"];
        let values: Vec<f64> = match data["resultType"].as_str() {
            Some("vector") => {
                data["result"].as_array().into_iter().flatten().filter_map(|s| number(&s["value"])).collect()
            }
            Some("scalar") => number(&data["result"]).into_iter().collect(),
            other => {
                return Err(format!(
                    "the query returns {}, not an instant vector or scalar",
                    other.unwrap_or("nothing")
                ))
            }
        };
        if values.is_empty() {
            return Err("no data: the query returned no series".into());
        }
        if values.iter().any(|v| v.is_nan()) {
            return Err("no data: the query returned NaN (no traffic, or a division by zero)".into());
        }
        Ok(values)
    }
}

/// Reads each guard now.
pub fn read(guards: &[&Guard], prometheus: Option<&Prometheus>, root: &Path, now: i64) -> Vec<Reading> {
    guards.iter().map(|g| read_one(g, prometheus, root, now)).collect()
}

fn read_one(guard: &Guard, prometheus: Option<&Prometheus>, root: &Path, now: i64) -> Reading {
    let mut reading = Reading {
        guard: guard.name.clone(),
        at: now,
        value: None,
        healthy: false,
        error: None,
        failure: None,
        threshold: guard.check.threshold(),
    };
    match &guard.check {
        Check::Query { query, max, min } => {
            let Some(p) = prometheus else {
                reading.error = Some("vexil.toml's [rollouts] prometheus is not set".into());
                return reading;
            };
            match p.query(query) {
                Ok(values) => {
                    // The series furthest past (or nearest to) its bound speaks for all.
                    let worst = match (max, min) {
                        (Some(_), _) => values.iter().copied().fold(f64::NEG_INFINITY, f64::max),
                        _ => values.iter().copied().fold(f64::INFINITY, f64::min),
                    };
                    reading.healthy = values.iter().all(|v| within(&guard.check, *v));
                    reading.value = Some(worst);
                }
                Err(e) => reading.error = Some(e),
            }
        }
        Check::Command { command, timeout_ms } => match run(command, root, Duration::from_millis(*timeout_ms)) {
            Ran::Passed => reading.healthy = true,
            Ran::Failed(why) => reading.failure = Some(why),
            Ran::Unknown(why) => reading.error = Some(why),
        },
    }
    reading
}

/// What a guard command said: passed, failed (a breach), or nothing (it did not start, or
/// did not finish in time).
enum Ran {
    Passed,
    Failed(String),
    Unknown(String),
}

/// Runs `command` with `sh -c` in `root`; its process group is killed when it runs too long.
fn run(command: &str, root: &Path, timeout: Duration) -> Ran {
    use std::os::unix::process::CommandExt;
    let child = std::process::Command::new("sh")
        .arg("-c")
        .arg(command)
        .current_dir(root)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .process_group(0)
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) => return Ran::Unknown(format!("`{command}` did not start: {e}")),
    };
    let started = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(status)) if status.success() => return Ran::Passed,
            Ok(Some(status)) => return Ran::Failed(format!("`{command}` {status}")),
            Ok(None) if started.elapsed() >= timeout => {
                let group = format!("-{}", child.id());
                let _ = std::process::Command::new("kill").args(["-KILL", "--", &group]).status();
                let _ = child.wait();
                return Ran::Unknown(format!("`{command}` did not finish within {}", crate::duration::Text(timeout)));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => return Ran::Unknown(format!("`{command}`: {e}")),
        }
    }
}
