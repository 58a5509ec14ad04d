//! `vexil stale`, `vexil refs` and `vexil cleanup`: the grammar, and what they print.

use super::print;
use super::render::{json, pushes, Out};
use crate::error::Result;
use crate::housekeeping::refs::RefsReport;
use crate::housekeeping::{CleanupOptions, CleanupReport, StaleReport};
use crate::project::{Origin, Project};
use clap::{Arg, ArgAction, ArgMatches, Command};
use std::process::ExitCode;

/// One of the three commands, parsed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HousekeepingCommand {
    /// `vexil stale [--check]`.
    Stale {
        /// Exit 1 when any flag should go.
        check: bool,
    },
    /// `vexil refs [FLAG…] [--check]`.
    Refs {
        /// Only these flags.
        flags: Vec<String>,
        /// Exit 1 when code names a flag without definition.
        check: bool,
        /// Print the regular expression searched for, and search nothing.
        pattern: bool,
    },
    /// `vexil cleanup FLAG`.
    Cleanup {
        /// The flag.
        flag: String,
        /// What may be overridden.
        options: CleanupOptions,
    },
}

fn switch(name: &'static str, help: &'static str) -> Arg {
    Arg::new(name).long(name).action(ArgAction::SetTrue).help(help)
}

/// The commands' grammar.
pub fn commands(json_flag: impl Fn() -> Arg, author_arg: impl Fn() -> Arg) -> [Command; 3] {
    [
        Command::new("stale")
            .about("Flags that should go, with the reason: GitLab's milestone rules, lifetimes, orphans")
            .arg(switch("check", "Exit 1 if any flag should go (for CI)"))
            .arg(json_flag()),
        Command::new("refs")
            .about("Every reference to flags in the code base, as file:line:column with the form matched")
            .arg(
                Arg::new("flag")
                    .num_args(0..)
                    .help("Only these flags (default: every flag, and names no definition has)"),
            )
            .arg(switch("check", "Exit 1 if code names a flag that has no definition"))
            .arg(switch("pattern", "Print the regular expression searched for (for rg or git grep), search nothing"))
            .arg(json_flag()),
        Command::new("cleanup")
            .about("Remove a flag everywhere: its state on every environment and its definition, at once")
            .arg(Arg::new("flag").required(true))
            .arg(switch("dry-run", "Say what would be removed; change nothing"))
            .arg(switch("force", "Even while it is conditional somewhere or a rollout runs it"))
            .arg(switch("ignore-references", "Even while the code still names it"))
            .arg(author_arg())
            .arg(json_flag()),
    ]
}

/// The command `name` matched, if it is one of these.
pub fn from_matches(name: &str, m: &ArgMatches) -> Option<HousekeepingCommand> {
    let flags = || m.get_many::<String>("flag").into_iter().flatten().map(|f| crate::plan::flag_name(f));
    Some(match name {
        "stale" => HousekeepingCommand::Stale { check: m.get_flag("check") },
        "refs" => HousekeepingCommand::Refs {
            flags: flags().collect(),
            check: m.get_flag("check"),
            pattern: m.get_flag("pattern"),
        },
        "cleanup" => HousekeepingCommand::Cleanup {
            flag: flags().next().unwrap_or_default(),
            options: CleanupOptions {
                dry_run: m.get_flag("dry-run"),
                force: m.get_flag("force"),
                ignore_references: m.get_flag("ignore-references"),
            },
        },
        _ => return None,
    })
}

/// Runs `command` on `p`.
pub fn run(p: &mut Project, command: HousekeepingCommand, as_json: bool, origin: &Origin) -> Result<ExitCode> {
    match command {
        HousekeepingCommand::Stale { check } => {
            let report = p.stale(origin.at)?;
            print(|out| if as_json { json(out, &report) } else { stale(out, &report) });
            Ok(exit(check && !report.stale.is_empty()))
        }
        HousekeepingCommand::Refs { flags, pattern: true, .. } => {
            println!("{}", p.refs_pattern(&flags)?);
            Ok(ExitCode::SUCCESS)
        }
        HousekeepingCommand::Refs { flags, check, .. } => {
            let report = p.refs(&flags)?;
            print(|out| if as_json { json(out, &report) } else { refs(out, &report) });
            Ok(exit(check && report.undefined > 0))
        }
        HousekeepingCommand::Cleanup { flag, options } => {
            let report = p.cleanup(&flag, &options, origin)?;
            print(|out| if as_json { json(out, &report) } else { cleanup(out, &report) });
            if !report.dry_run {
                super::notify_now(p);
            }
            Ok(exit(report.published.iter().any(crate::project::Published::push_failed)))
        }
    }
}

fn exit(failed: bool) -> ExitCode {
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

fn stale(out: &mut Out, r: &StaleReport) {
    let milestone = match (&r.milestone, &r.milestone_from) {
        (Some(m), Some(from)) => format!(" (milestone {m}, from {from})"),
        _ => String::new(),
    };
    say!(out, "{} of {} flags should go{milestone}", r.stale.len(), r.checked);
    for f in &r.stale {
        let file = f.definition.as_ref().map_or("no definition".to_string(), |d| d.display().to_string());
        say!(out, "  {}  {file}", f.flag);
        for reason in &f.reasons {
            say!(
                out,
                "    - {}: {}",
                serde_json::to_value(reason.rule).unwrap_or_default().as_str().unwrap_or("?"),
                reason.message
            );
        }
    }
    for k in &r.kept {
        say!(out, "  kept: {} until intended_to_rollout_by {}", k.flag, k.intended_to_rollout_by);
    }
    for n in &r.notes {
        warn!(out, "vexil: {n}");
    }
    if let Some(first) = r.stale.first() {
        say!(out, "Next: `vexil refs {0}` lists what the code still reads; `vexil cleanup {0}` removes it", first.flag);
    }
}

fn refs(out: &mut Out, r: &RefsReport) {
    for x in &r.references {
        let tag = if x.defined { String::new() } else { " [no definition]".to_string() };
        say!(out, "{}:{}:{}: {} ({}){tag}  {}", x.path.display(), x.line, x.column, x.flag, x.form, x.text);
    }
    let flags = r.counts.values().filter(|&&n| n > 0).count();
    let mut summary = format!("{} reference(s) to {flags} flag(s) in {} file(s) searched", r.references.len(), r.files);
    if r.undefined > 0 {
        summary.push_str(&format!("; {} name a flag that has no definition", r.undefined));
    }
    say!(out, "{summary}");
}

fn cleanup(out: &mut Out, r: &CleanupReport) {
    let files: Vec<String> = r.definition.iter().chain(&r.plan).map(|f| f.display().to_string()).collect();
    let files = if files.is_empty() { "no definition file".to_string() } else { files.join(" and ") };
    let held = if r.environments.is_empty() { "no environment".to_string() } else { r.environments.join(", ") };
    if r.dry_run {
        say!(out, "Would clean up {}: remove it from {held} and delete {files}. Nothing changed (dry run).", r.flag);
    } else {
        let versions: Vec<String> = r.published.iter().map(|p| format!("{} v{}", p.environment, p.version)).collect();
        let versions = if versions.is_empty() { "nothing left to publish".to_string() } else { versions.join(", ") };
        say!(out, "Cleaned up {}: removed from {held} ({versions}); deleted {files}.", r.flag);
        for p in r.published.iter().filter(|p| !p.pushes.is_empty()) {
            say!(out, "  {} v{}:", p.environment, p.version);
            pushes(out, p);
        }
    }
    if !r.references.is_empty() {
        warn!(
            out,
            "vexil: {} reference(s) remain in the code (--ignore-references); `vexil refs {}` lists them",
            r.references.len(),
            r.flag
        );
    }
    for n in &r.notices {
        warn!(out, "vexil: {n}");
    }
    say!(out, "The merge request's changelog entry (as GitLab's housekeeper writes it):\n");
    for line in r.changelog.lines() {
        say!(out, "{}", format!("  {line}").trim_end());
    }
}
