//! The `vexil rollout` operations on a project: `init`, `start`, `approve`, `pause`,
//! `resume`, `abort`, and `tick`, which moves every running rollout that is due. Every move
//! is written only if the rollout is still where its driver read it (its revision), so
//! drivers racing never apply a step twice.

use super::decide::{self, Next, Reading};
use super::guards::{self, Prometheus};
use super::plan_file::{OnBreach, Plan};
use super::{frozen, issue_url, record, template, validate, Move};
use crate::config::Sink;
use crate::error::{Error, ErrorKind, Result};
use crate::project::{EntryPoint, Origin, Project, Within};
use crate::store::{is_active, RolloutRow, WriteTx};
use serde::Serialize;
use std::path::PathBuf;
use std::time::Duration;

/// What a tick did to one rollout.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Tick {
    /// The flag.
    pub flag: String,
    /// `applied`, `checked`, `awaiting_approval`, `paused`, `rolled_back`, `completed`, or
    /// `raced` (another driver moved first).
    pub outcome: String,
    /// The step concerned (1-based), if one.
    pub step: Option<u32>,
    /// In words.
    pub detail: String,
}

/// A step or rollback as a change, whose rollout moves in the change's own transaction.
struct MoveWithin<'a> {
    read: (i64, i64),
    m: Move<'a>,
    sinks: Vec<Sink>,
    issue: Option<String>,
}

impl Within for MoveWithin<'_> {
    fn before(&mut self, tx: &mut dyn WriteTx) -> Result<()> {
        let now = tx.rollout_of(&self.m.row.flag)?.map(|r| (r.id, r.revision));
        if now != Some(self.read) {
            return Err(Error::conflict(format!("the rollout of `{}` moved meanwhile", self.m.row.flag)));
        }
        Ok(())
    }

    fn after(&mut self, tx: &mut dyn WriteTx, committed: &[(String, u64)]) -> Result<()> {
        if let Some(obj) = self.m.detail.as_object_mut() {
            obj.insert("versions".into(), serde_json::json!(committed));
        }
        if !record(tx, &self.m, &self.sinks, self.issue.as_deref())? {
            return Err(Error::conflict(format!("the rollout of `{}` moved meanwhile", self.m.row.flag)));
        }
        Ok(())
    }
}

fn readings_json(readings: &[Reading]) -> serde_json::Value {
    serde_json::json!({ "readings": readings })
}

impl Project {
    /// `vexil rollout init`: writes GitLab's template as the plan of `flag`; returns its path.
    pub fn rollout_init(&mut self, flag: &str, wait: Option<Duration>, force: bool) -> Result<PathBuf> {
        crate::plan::require_definition(&self.config, &self.definitions, flag, false)?;
        let rel = validate::path_of(&self.config, flag);
        let path = self.config.root.join(&rel);
        if path.exists() && !force {
            return Err(Error::refused(format!("{} exists; --force replaces it", rel.display())));
        }
        let wait = wait.unwrap_or(self.config.rollouts.min_wait);
        let text = template::template(flag, &self.config, wait);
        let (_, problems) = validate::judge(&self.config, &self.definitions, flag, &text);
        if let Some((line, m)) = problems.first() {
            return Err(Error::refused(format!("the template for this project does not validate (line {line}): {m}")));
        }
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| Error::io(format!("{}: {e}", dir.display())))?;
        }
        crate::atomic_file::write_atomically(&path, text.as_bytes())?;
        Ok(rel)
    }

    /// `vexil rollout start`: validates the plan, checks that Prometheus answers its queries,
    /// records the rollout and applies its first step if its guards allow.
    pub fn rollout_start(&mut self, flag: &str, origin: &Origin) -> Result<Vec<Tick>> {
        let plan = validate::load(&self.config, &self.definitions, flag)?;
        // Prometheus must answer every query now; the guards of the first step must also have
        // data, or the rollout would pause at once: it never advances blind.
        let prometheus = Prometheus::of(&self.config.rollouts)?;
        let first: Vec<String> = decide::guards_in_force(&plan, 0).iter().map(|g| g.name.clone()).collect();
        for g in &plan.guards {
            if let (super::plan_file::Check::Query { query, .. }, Some(p)) = (&g.check, &prometheus) {
                match p.query(query) {
                    Err(e) if !e.starts_with("no data") || first.contains(&g.name) => {
                        return Err(Error::refused(format!("guard `{}`: {e}; nothing was started", g.name)));
                    }
                    _ => {}
                }
            }
        }
        let frozen_plan = serde_json::to_string(&plan).map_err(|e| Error::io(format!("cannot store the plan: {e}")))?;
        let (config, definitions, store) = self.parts();
        let summary = format!("started the rollout of `{flag}`: {} steps", plan.steps.len());
        store.write(&mut |tx| {
            if let Some(active) = tx.rollout_of(flag)?.filter(|r| is_active(&r.status)) {
                return Err(Error::refused(format!(
                    "a rollout of `{flag}` is already {} (started by {}); `vexil rollout status {flag}` shows it",
                    active.status, active.started_by
                )));
            }
            let mut row = RolloutRow {
                id: 0,
                flag: flag.to_string(),
                plan: frozen_plan.clone(),
                status: "running".into(),
                next_step: 0,
                started_at: origin.at,
                started_by: origin.author.clone(),
                wait_from: origin.at,
                approved_step: None,
                reason: None,
                last_check_at: None,
                updated_at: origin.at,
                revision: 0,
            };
            row.id = tx.insert_rollout(&row)?;
            let m = Move {
                row: row.clone(),
                expected: 0,
                kind: "started",
                step: None,
                detail: serde_json::json!({}),
                announce: Some(summary.clone()),
                origin,
            };
            record(tx, &m, &config.sinks, issue_url(definitions, flag))?;
            Ok(())
        })?;
        self.rollout_tick(origin.at, Some(flag))
    }

    /// `vexil rollout approve`: the next step may apply once its wait is over.
    pub fn rollout_approve(&mut self, flag: &str, origin: &Origin) -> Result<Vec<Tick>> {
        self.manual(flag, origin, "approved", |row, plan| {
            let next = row.next_step;
            match plan.steps.get(next as usize) {
                Some(step) if step.approval && row.approved_step != Some(next) && is_active(&row.status) => Ok((
                    RolloutRow { approved_step: Some(next), ..row.clone() },
                    format!(
                        "approved step {} (`{}` on {}) of the rollout of `{flag}`",
                        next + 1,
                        step.set,
                        step.environments.join(", ")
                    ),
                )),
                Some(_) if row.approved_step == Some(next) => {
                    Err(Error::refused(format!("step {} of `{flag}` is approved already", next + 1)))
                }
                _ => Err(Error::refused(format!(
                    "nothing in the rollout of `{flag}` awaits approval (it is {} at step {} of {})",
                    row.status,
                    (next + 1).min(plan.steps.len() as u32),
                    plan.steps.len()
                ))),
            }
        })?;
        self.rollout_tick(origin.at, Some(flag))
    }

    /// `vexil rollout pause`.
    pub fn rollout_pause(&mut self, flag: &str, origin: &Origin) -> Result<()> {
        self.manual(flag, origin, "paused", |row, _| match row.status.as_str() {
            "running" => Ok((
                RolloutRow {
                    status: "paused".into(),
                    reason: Some(format!("paused by {}", origin.author)),
                    ..row.clone()
                },
                format!("paused the rollout of `{flag}` at step {}", row.next_step + 1),
            )),
            other => Err(Error::refused(format!("the rollout of `{flag}` is {other}, not running"))),
        })
    }

    /// `vexil rollout resume`: the wait before the next step starts again, guards first.
    pub fn rollout_resume(&mut self, flag: &str, origin: &Origin) -> Result<Vec<Tick>> {
        self.manual(flag, origin, "resumed", |row, _| match row.status.as_str() {
            "paused" => Ok((
                RolloutRow {
                    status: "running".into(),
                    reason: None,
                    wait_from: origin.at,
                    last_check_at: None,
                    ..row.clone()
                },
                format!("resumed the rollout of `{flag}` at step {}", row.next_step + 1),
            )),
            other => Err(Error::refused(format!("the rollout of `{flag}` is {other}, not paused"))),
        })?;
        self.rollout_tick(origin.at, Some(flag))
    }

    /// `vexil rollout abort`: the rollout ends; the flag stays as it is.
    pub fn rollout_abort(&mut self, flag: &str, origin: &Origin) -> Result<()> {
        self.manual(flag, origin, "aborted", |row, _| {
            if !is_active(&row.status) {
                return Err(Error::refused(format!("the rollout of `{flag}` is {} already", row.status)));
            }
            Ok((
                RolloutRow {
                    status: "aborted".into(),
                    reason: Some(format!("aborted by {}", origin.author)),
                    ..row.clone()
                },
                format!("aborted the rollout of `{flag}` at step {}; the flag stays as it is", row.next_step + 1),
            ))
        })
    }

    /// A person's move of the newest rollout of `flag`.
    fn manual(
        &mut self,
        flag: &str,
        origin: &Origin,
        kind: &'static str,
        change: impl Fn(&RolloutRow, &Plan) -> Result<(RolloutRow, String)>,
    ) -> Result<()> {
        let (config, definitions, store) = self.parts();
        store.write(&mut |tx| {
            let row = tx.rollout_of(flag)?.ok_or_else(|| {
                Error::refused(format!("`{flag}` has no rollout; `vexil rollout start {flag}` starts one"))
            })?;
            let plan = frozen(&row)?;
            let (moved, summary) = change(&row, &plan)?;
            let m = Move {
                row: RolloutRow { updated_at: origin.at, ..moved },
                expected: row.revision,
                kind,
                step: Some(row.next_step),
                detail: serde_json::json!({}),
                announce: Some(summary),
                origin,
            };
            record(tx, &m, &config.sinks, issue_url(definitions, flag))?;
            Ok(())
        })
    }

    /// `vexil rollout tick`: moves every running rollout (or that of `only`) that is due at
    /// `now`. Safe to run anywhere at once: each move happens once.
    pub fn rollout_tick(&mut self, now: i64, only: Option<&str>) -> Result<Vec<Tick>> {
        let rows: Vec<RolloutRow> = self
            .store()
            .rollouts()?
            .into_iter()
            .filter(|r| r.status == "running" && only.is_none_or(|f| r.flag == f))
            .collect();
        let prometheus = Prometheus::of(&self.config.rollouts)?;
        let mut out = Vec::new();
        for row in rows {
            let plan = frozen(&row)?;
            // A driver killed between a step's commit and its pushes left targets behind.
            self.push_behind(&decide::environments_changed(&plan, row.next_step))?;
            if let Some(t) = self.advance(&row, &plan, now, prometheus.as_ref())? {
                out.push(t);
            }
        }
        Ok(out)
    }

    fn push_behind(&mut self, environments: &[String]) -> Result<()> {
        for env in environments {
            let latest = self.version(env)?;
            let targets: Vec<String> = self.targets(env)?.iter().map(|t| t.config.name.clone()).collect();
            let mut behind = false;
            for t in &targets {
                behind |= self.store().pushed(env, t)? < latest;
            }
            if behind {
                self.push(env, false);
            }
        }
        Ok(())
    }

    fn advance(
        &mut self,
        row: &RolloutRow,
        plan: &Plan,
        now: i64,
        prometheus: Option<&Prometheus>,
    ) -> Result<Option<Tick>> {
        if !decide::reading_due(plan, row, now) {
            return Ok(None);
        }
        let in_force = decide::guards_in_force(plan, row.next_step);
        let readings = guards::read(&in_force, prometheus, &self.config.root, now);
        let origin =
            Origin { author: row.started_by.clone(), command: String::new(), via: EntryPoint::Rollout, at: now };
        let n = plan.steps.len();
        let tick = |outcome: &str, step: Option<u32>, detail: String| Tick {
            flag: row.flag.clone(),
            outcome: outcome.into(),
            step: step.map(|s| s + 1),
            detail,
        };
        let mv = |moved: RolloutRow,
                  kind: &'static str,
                  step: Option<u32>,
                  detail: serde_json::Value,
                  announce: Option<String>| Move {
            row: RolloutRow { updated_at: now, last_check_at: Some(now), ..moved },
            expected: row.revision,
            kind,
            step,
            detail,
            announce,
            origin: &origin,
        };
        let outcome = match decide::decide(plan, row, now, &readings) {
            Next::Wait if readings.is_empty() => return Ok(None),
            Next::Wait => {
                let m = mv(row.clone(), "checked", Some(row.next_step), readings_json(&readings), None);
                self.moved(&m, tick("checked", None, format!("{} guard(s) healthy", readings.len())))?
            }
            Next::AwaitApproval(k) => {
                let waiting = format!("step {} waits for `vexil rollout approve {}`", k + 1, row.flag);
                let announce = (row.reason.as_deref() != Some(waiting.as_str()))
                    .then(|| format!("the rollout of `{}`: {waiting}", row.flag));
                let m = mv(
                    RolloutRow { reason: Some(waiting.clone()), ..row.clone() },
                    "checked",
                    Some(k),
                    readings_json(&readings),
                    announce,
                );
                self.moved(&m, tick("awaiting_approval", Some(k), waiting))?
            }
            Next::Complete => {
                let summary = format!("completed the rollout of `{}`: all {n} steps", row.flag);
                let m = mv(
                    RolloutRow { status: "completed".into(), reason: None, ..row.clone() },
                    "completed",
                    None,
                    readings_json(&readings),
                    Some(summary.clone()),
                );
                self.moved(&m, tick("completed", None, summary))?
            }
            Next::Blind(r) => {
                self.pause(row, &origin, &readings, format!("no data to decide on: {}", r.describe()), tick)?
            }
            Next::Breach(r) if plan.on_breach == OnBreach::Pause => {
                self.pause(row, &origin, &readings, format!("breach: {}", r.describe()), tick)?
            }
            Next::Breach(r) => self.roll_back(row, plan, &origin, &readings, &r, tick)?,
            Next::Apply(k) => {
                let step = &plan.steps[k as usize];
                let request = validate::step_request(&plan.flag, step, &self.config)?;
                let switches: String = step.environments.iter().map(|e| format!(" --{e}")).collect();
                let origin = Origin {
                    command: format!(
                        "rollout of {}, step {}/{n}: feature set {} {}{switches}",
                        plan.flag,
                        k + 1,
                        plan.flag,
                        step.set
                    ),
                    ..origin.clone()
                };
                let moved = RolloutRow {
                    next_step: k + 1,
                    wait_from: now,
                    reason: None,
                    updated_at: now,
                    last_check_at: Some(now),
                    ..row.clone()
                };
                let mut within = MoveWithin {
                    read: (row.id, row.revision),
                    m: Move {
                        row: moved,
                        expected: row.revision,
                        kind: "applied",
                        step: Some(k),
                        detail: serde_json::json!({
                            "readings": readings,
                            "summary": format!("step {}/{n}: `{}` on {}", k + 1, step.set, step.environments.join(", ")),
                        }),
                        announce: None,
                        origin: &origin,
                    },
                    sinks: self.config.sinks.clone(),
                    issue: issue_url(&self.definitions, &plan.flag).map(String::from),
                };
                match self.apply_within(&request, &origin, &mut within) {
                    Ok(_) => tick("applied", Some(k), format!("`{}` on {}", step.set, step.environments.join(", "))),
                    Err(e) if e.kind() == ErrorKind::Conflict => tick("raced", Some(k), e.to_string()),
                    Err(e) => {
                        self.pause(row, &origin, &readings, format!("step {} could not be applied: {e}", k + 1), tick)?
                    }
                }
            }
        };
        Ok(Some(outcome))
    }

    /// Writes a move that changes no flag; a driver that lost the race reports so.
    fn moved(&mut self, m: &Move<'_>, done: Tick) -> Result<Tick> {
        let (config, definitions, store) = self.parts();
        let mut won = false;
        store.write(&mut |tx| {
            won = record(tx, m, &config.sinks, issue_url(definitions, &m.row.flag))?;
            Ok(())
        })?;
        Ok(if won {
            done
        } else {
            Tick { outcome: "raced".into(), detail: "another driver moved first".into(), ..done }
        })
    }

    fn pause(
        &mut self,
        row: &RolloutRow,
        origin: &Origin,
        readings: &[Reading],
        reason: String,
        tick: impl Fn(&str, Option<u32>, String) -> Tick,
    ) -> Result<Tick> {
        let summary = format!("paused the rollout of `{}` at step {}: {reason}", row.flag, row.next_step + 1);
        let m = Move {
            row: RolloutRow {
                status: "paused".into(),
                reason: Some(reason.clone()),
                updated_at: origin.at,
                last_check_at: Some(origin.at),
                ..row.clone()
            },
            expected: row.revision,
            kind: "paused",
            step: Some(row.next_step),
            detail: serde_json::json!({ "readings": readings, "reason": reason }),
            announce: Some(summary),
            origin,
        };
        self.moved(&m, tick("paused", Some(row.next_step), reason))
    }

    /// Sets the plan's rollback state on every environment the rollout changed, as one change.
    fn roll_back(
        &mut self,
        row: &RolloutRow,
        plan: &Plan,
        origin: &Origin,
        readings: &[Reading],
        breach: &Reading,
        tick: impl Fn(&str, Option<u32>, String) -> Tick,
    ) -> Result<Tick> {
        let reason = format!("breach: {}", breach.describe());
        let environments = decide::environments_changed(plan, row.next_step);
        let summary = format!(
            "rolled back the rollout of `{}` to `{}` on {}: {reason}",
            row.flag,
            plan.rollback,
            environments.join(", ")
        );
        let moved = RolloutRow {
            status: "rolled_back".into(),
            reason: Some(reason.clone()),
            updated_at: origin.at,
            last_check_at: Some(origin.at),
            ..row.clone()
        };
        let detail = serde_json::json!({ "readings": readings, "reason": reason });
        let m = Move {
            row: moved,
            expected: row.revision,
            kind: "rolled_back",
            step: Some(row.next_step),
            detail,
            announce: Some(summary.clone()),
            origin,
        };
        if environments.is_empty() {
            return self.moved(&m, tick("rolled_back", None, summary));
        }
        let request = validate::rollback_request(plan, &environments, &self.config)?;
        let origin = Origin { command: format!("rollout of {}: rollback, {reason}", plan.flag), ..origin.clone() };
        let mut within = MoveWithin {
            read: (row.id, row.revision),
            m: Move { origin: &origin, ..m },
            sinks: self.config.sinks.clone(),
            issue: issue_url(&self.definitions, &plan.flag).map(String::from),
        };
        match self.apply_within(&request, &origin, &mut within) {
            Ok(_) => Ok(tick("rolled_back", None, summary)),
            Err(e) if e.kind() == ErrorKind::Conflict => Ok(tick("raced", None, e.to_string())),
            Err(e) => self.pause(row, &origin, readings, format!("{reason}; the rollback failed: {e}"), tick),
        }
    }
}
