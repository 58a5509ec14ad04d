//! `vexil rollout`: the operations of [`crate::rollout`] on the project, and what they print.

use super::invocation::RolloutCommand;
use super::print;
use super::render::{iso_time, json, Out};
use crate::duration::Text;
use crate::error::{Error, Result};
use crate::project::{Origin, Project};
use crate::rollout::{RolloutView, Tick};
use std::fmt::Write as _;
use std::process::ExitCode;
use std::time::Duration;

pub fn run(p: &mut Project, command: RolloutCommand, as_json: bool, origin: &Origin) -> Result<ExitCode> {
    match command {
        RolloutCommand::Init { flag, wait, force } => {
            let path = p.rollout_init(&flag, wait, force)?;
            println!(
                "Wrote {}: GitLab's rollout template for `{flag}`. Review it, then `vexil rollout start {flag}`.",
                path.display()
            );
        }
        RolloutCommand::Status { flag } => {
            let views = p.rollout_views(flag.as_deref())?;
            if views.is_empty() {
                if let Some(flag) = flag {
                    return Err(Error::refused(format!(
                        "`{flag}` has no rollout; `vexil rollout start {flag}` starts one"
                    )));
                }
            }
            print(|out| if as_json { json(out, &views) } else { views.iter().for_each(|v| status(out, v, origin.at)) });
        }
        RolloutCommand::Tick => {
            let ticks = p.rollout_tick(origin.at, None)?;
            print(|out| if as_json { json(out, &ticks) } else { moves(out, &ticks) });
        }
        RolloutCommand::Move { verb, flag } => {
            let ticks = match verb.as_str() {
                "start" => p.rollout_start(&flag, origin)?,
                "approve" => p.rollout_approve(&flag, origin)?,
                "resume" => p.rollout_resume(&flag, origin)?,
                "pause" => p.rollout_pause(&flag, origin).map(|()| Vec::new())?,
                "abort" => p.rollout_abort(&flag, origin).map(|()| Vec::new())?,
                other => return Err(Error::usage(format!("rollout {other} is not a rollout command"))),
            };
            let views = p.rollout_views(Some(&flag))?;
            print(|out| {
                moves(out, &ticks);
                views.iter().for_each(|v| status(out, v, origin.at));
            });
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn moves(out: &mut Out, ticks: &[Tick]) {
    for t in ticks {
        let step = t.step.map(|s| format!(" step {s}")).unwrap_or_default();
        let _ = writeln!(out.stdout, "{}: {}{step}: {}", t.flag, t.outcome.replace('_', " "), t.detail);
    }
}

fn status(out: &mut Out, v: &RolloutView, now: i64) {
    let o = &mut out.stdout;
    let done = v.steps.iter().filter(|s| s.state == "done").count();
    let _ = writeln!(
        o,
        "{}: {} ({done} of {} steps done; started by {} at {})",
        v.flag,
        v.status.replace('_', " "),
        v.steps.len(),
        v.started_by,
        iso_time(v.started_at)
    );
    if let Some(reason) = &v.reason {
        let _ = writeln!(o, "  {reason}");
    }
    for s in &v.steps {
        let mark = match s.state.as_str() {
            "done" => "✓",
            "next" => "→",
            _ => " ",
        };
        let when = match (s.applied_at, s.due_at) {
            (Some(at), _) => format!("applied {}", iso_time(at)),
            (None, Some(due)) if s.awaiting_approval => {
                format!("due {}; waits for `vexil rollout approve {}`", due_in(due, now), v.flag)
            }
            (None, Some(due)) => format!("due {}", due_in(due, now)),
            _ => format!("then wait {}", Text(Duration::from_millis(s.wait_ms))),
        };
        let _ = writeln!(o, "  {mark} {:>2}  {:<40} {:<28} {when}", s.number, s.set, s.environments.join(", "));
    }
    for g in &v.guards {
        let last = match g.readings.last() {
            Some(r) if r.healthy => format!("healthy{}", r.value.map(|x| format!(" ({x})")).unwrap_or_default()),
            Some(r) => r.describe(),
            None if g.in_force => "not read yet".into(),
            None => "not in force yet".into(),
        };
        let _ = writeln!(o, "  guard {:<28} {:<24} {last}", g.name, g.threshold);
    }
    if let Some(outcome) = &v.outcome {
        let _ = writeln!(o, "  outcome: {outcome}");
    }
}

fn due_in(due: i64, now: i64) -> String {
    if due <= now {
        "now".into()
    } else {
        format!("{} (in {})", iso_time(due), Text(Duration::from_secs(((due - now) as u64).div_ceil(1000))))
    }
}
