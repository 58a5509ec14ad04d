//! The `vexil` command: glue, in ripgrep's sense. Arguments are parsed ([`args`]) into a
//! typed invocation, the library runs it, and its typed report is rendered as text or
//! `--json` ([`render`]). No domain rule and no file format lives here; what is left is
//! what only a command line has: the process's arguments, its author (git config, `$USER`),
//! the clock, standard input and output, and exit statuses.

pub mod args;
#[macro_use]
pub mod render;
mod housekeeping;
pub mod invocation;
pub mod report;
mod rollout;

use crate::clock::now_ms;
use crate::config::Config;
use crate::error::{Error, ErrorContext, ErrorKind, Result};
use crate::eval::{decision_json, property_value, EvalRequest};
use crate::flags::Flags;
use crate::inspect::Inspection;
use crate::project::{self, EntryPoint, Origin, Project};
use crate::remote::Remote;
use clap::ArgMatches;
use invocation::{EvalArgs, Invocation, SnapshotSource};
use render::Out;
use std::ffi::OsString;
use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use vexil_core::{AudienceKind, Snapshot};

/// Runs `vexil` with `args` (the program name first) and returns its exit status.
pub fn main(args: Vec<OsString>) -> ExitCode {
    match run(args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("vexil: {e}");
            ExitCode::from(if e.kind() == ErrorKind::Usage { 2 } else { 1 })
        }
    }
}

fn project_dir(args: &[OsString]) -> Option<PathBuf> {
    let mut it = args.iter().skip(1);
    while let Some(a) = it.next() {
        let a = a.to_string_lossy();
        if a == "-C" || a == "--project-dir" {
            return it.next().map(PathBuf::from);
        }
        if let Some(v) = a.strip_prefix("--project-dir=") {
            return Some(PathBuf::from(v));
        }
    }
    std::env::var_os("VEXIL_PROJECT").map(PathBuf::from)
}

fn root_from(dir: Option<PathBuf>) -> Result<PathBuf> {
    let start = match dir {
        Some(d) => d,
        None => std::env::current_dir().context("cannot read the current directory")?,
    };
    project::find_root(&start).ok_or_else(|| {
        Error::refused(format!("no vexil.toml in {} or above; run `vexil init` to create a project", start.display()))
    })
}

/// `--remote URL` or `VEXIL_URL`: run on a server instead of the state database.
fn remote_url(args: &[OsString]) -> Option<String> {
    let mut it = args.iter().skip(1);
    while let Some(a) = it.next() {
        let a = a.to_string_lossy();
        if a == "--remote" {
            return it.next().map(|u| u.to_string_lossy().into_owned());
        }
        if let Some(v) = a.strip_prefix("--remote=") {
            return Some(v.to_string());
        }
    }
    std::env::var("VEXIL_URL").ok().filter(|u| !u.is_empty())
}

/// Whether the command line only asks for help or the version, which needs no server.
fn only_help(args: &[OsString]) -> bool {
    args.len() < 2
        || args.iter().skip(1).any(|a| matches!(a.to_str(), Some("-h" | "--help" | "-V" | "--version" | "help")))
}

fn run(argv: Vec<OsString>) -> Result<ExitCode> {
    let dir = project_dir(&argv);
    let mut remote = match remote_url(&argv) {
        Some(url) if !only_help(&argv) => {
            Some(Remote::connect(&url, &std::env::var("VEXIL_TOKEN").unwrap_or_default())?)
        }
        _ => None,
    };
    // The environment switches come from the server, or vexil.toml, or are GitLab's.
    let environments = match &remote {
        Some(r) => r.environments.clone(),
        None => args::environment_names(root_from(dir.clone()).ok().and_then(|root| Config::load(&root).ok()).as_ref()),
    };
    let matches = match args::command(&environments).try_get_matches_from(&argv) {
        Ok(m) => m,
        Err(e) if matches!(e.kind(), clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion) => {
            let _ = e.print();
            return Ok(ExitCode::SUCCESS);
        }
        Err(e) => {
            return Err(Error::usage(e.render().to_string().trim_end().trim_start_matches("error: ").to_string()))
        }
    };
    let (name, sub) = matches.subcommand().expect("subcommand_required");
    let origin = Origin { author: author(sub), command: shell_words(&argv), via: EntryPoint::Cli, at: now_ms() };
    let as_json = json_flag(sub);
    if let Some(remote) = remote.as_mut() {
        if !REMOTE_COMMANDS.contains(&name) {
            return Err(Error::usage(format!(
                "`vexil {name}` works on the project's own files and database, not on a remote (--remote or VEXIL_URL); remotely: {}",
                REMOTE_COMMANDS.join(", ")
            )));
        }
        let invocation = invocation::from_matches(name, sub, &environments)?;
        if matches!(invocation, Invocation::VerifyLog(_)) {
            return Err(Error::usage(
                "`vexil log --verify` reads the state database itself; run it where the project and its database are, not on a remote",
            ));
        }
        return shared(remote, invocation, as_json, &origin);
    }
    if name == "init" {
        return init(dir, sub, &origin);
    }
    let mut p = Project::open(&root_from(dir)?)?;
    let invocation = invocation::from_matches(name, sub, &args::environment_names(Some(&p.config)))?;
    match invocation {
        Invocation::Serve(args) => serve(p, args),
        Invocation::Change { .. }
        | Invocation::FeatureGet { .. }
        | Invocation::FeatureList { .. }
        | Invocation::Status
        | Invocation::Log(_) => {
            let changed = matches!(invocation, Invocation::Change { .. });
            let outcome = shared(&mut p, invocation, as_json, &origin);
            if changed && outcome.is_ok() {
                notify_now(&mut p);
            }
            outcome
        }
        Invocation::Housekeeping(command) => housekeeping::run(&mut p, command, as_json, &origin),
        Invocation::Rollout(command) => {
            let outcome = rollout::run(&mut p, command, as_json, &origin);
            notify_now(&mut p);
            outcome
        }
        Invocation::VerifyLog(environment) => {
            let verified = p.verify_log(environment.as_deref())?;
            print(|out| render::verified(out, &verified, as_json));
            Ok(ExitCode::SUCCESS)
        }
        other => local(&mut p, other, as_json),
    }
}

/// Announces the change just committed where no `vexil serve` does. A sink that fails is
/// reported and retried later; the change stands either way.
pub(super) fn notify_now(p: &mut Project) {
    // Unique across hosts: processes in two containers often share a pid.
    let Ok(nonce) = crate::notify::event_id() else { return };
    let holder = format!("cli-{}-{nonce}", std::process::id());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let held = match p.deliver_notifications(&holder, deadline) {
        Ok(pass) => pass.held,
        Err(e) => {
            return eprintln!(
                "vexil: notifications are not delivered yet ({e}); `vexil notifications --deliver` retries them"
            )
        }
    };
    // Sinks a running `vexil serve` holds are its to deliver to; those this command held and
    // could not empty are reported.
    for row in p.notifications().unwrap_or_default().iter().filter(|r| r.pending > 0 && held.contains(&r.sink)) {
        eprintln!(
            "vexil: notifying {} failed ({}); {} announcement(s) wait, retried by `vexil serve`, the next change or `vexil notifications --deliver`",
            row.sink,
            row.last_error.as_deref().unwrap_or("not attempted yet"),
            row.pending
        );
    }
}

/// What the remote CLI runs (everything else needs the project's files or database).
const REMOTE_COMMANDS: [&str; 4] = ["feature", "log", "status", "rollback"];

fn json_flag(m: &ArgMatches) -> bool {
    let own = m.try_get_one::<bool>("json").ok().flatten().copied().unwrap_or(false);
    own || m.subcommand().is_some_and(|(_, sub)| json_flag(sub))
}

fn init(dir: Option<PathBuf>, m: &ArgMatches, origin: &Origin) -> Result<ExitCode> {
    let target = PathBuf::from(m.get_one::<String>("dir").expect("has default"));
    let target = match dir {
        Some(base) if target.is_relative() => base.join(target),
        _ => target,
    };
    let mut p = project::init(&target, m.get_one::<String>("state").map(String::as_str), origin)?;
    println!("Created a vexil project in {}", target.display());
    println!("  vexil.toml                       environments: {}", p.config.environment_names().join(", "));
    println!("  config/feature_flags/beta/new_navigation_bar.yml");
    println!("  {}", p.store().describe());
    println!("Next: vexil feature set new_navigation_bar 50 --actors --dev --staging");
    Ok(ExitCode::SUCCESS)
}

/// The commands that run the same locally and on a remote, printed.
fn shared(backend: &mut dyn Flags, invocation: Invocation, as_json: bool, origin: &Origin) -> Result<ExitCode> {
    let (out, failed) = report::run(backend, invocation, as_json, origin)?;
    out.print();
    Ok(if failed { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}

/// The commands that need the project's own files and database.
fn local(p: &mut Project, invocation: Invocation, as_json: bool) -> Result<ExitCode> {
    match invocation {
        Invocation::Lint => {
            let report = p.lint()?;
            print(|out| render::lint(out, &report, as_json));
            Ok(if report.errors > 0 { ExitCode::FAILURE } else { ExitCode::SUCCESS })
        }
        Invocation::Eval(args) => eval(p, &args, as_json),
        Invocation::Inspect(source) => {
            let (snapshot, described) = load_snapshot(p, &source)?;
            print(|out| render::inspection(out, &Inspection::of(&snapshot, &p.trusted_keys()), &described, as_json));
            Ok(ExitCode::SUCCESS)
        }
        Invocation::Snapshot { environment, audience, output } => {
            let env = environment.unwrap_or_else(|| p.config.default_environment.clone());
            p.config.environment(&env)?;
            let (row, _) = p
                .latest_snapshot(&env)?
                .ok_or_else(|| Error::refused(format!("environment {env} has no version yet")))?;
            let bytes = match audience {
                AudienceKind::Browser => crate::audience::browser_snapshot(&row, p.signing_key())?,
                AudienceKind::Server => row.snapshot,
            };
            match output {
                Some(path) => crate::atomic_file::write_atomically(&path, &bytes)?,
                None => std::io::stdout().lock().write_all(&bytes).context("cannot write standard output")?,
            }
            Ok(ExitCode::SUCCESS)
        }
        Invocation::Migrate { to } => {
            let done = p.migrate_to(&to)?;
            if as_json {
                print(|out| render::json(out, &done));
            } else {
                println!(
                    "Copied {} versions and {} change-log entries from {} to {}.",
                    done.versions, done.changes, done.from, done.to
                );
                println!("vexil.toml now says state = {:?}; the SQLite file is kept as a backup.", done.to);
            }
            Ok(ExitCode::SUCCESS)
        }
        Invocation::TokenCreate { name, environments, write, expires_in } => {
            let new = p.create_token(&name, &environments, write, expires_in, now_ms())?;
            print(|out| render::new_token(out, &new, as_json));
            Ok(ExitCode::SUCCESS)
        }
        Invocation::TokenList => {
            let tokens = p.tokens()?;
            print(|out| render::tokens(out, &tokens, now_ms(), as_json));
            Ok(ExitCode::SUCCESS)
        }
        Invocation::TokenRevoke { name } => {
            p.revoke_token(&name, now_ms())?;
            println!("Revoked token {name}: requests with it are refused from now on.");
            Ok(ExitCode::SUCCESS)
        }
        Invocation::Notifications { deliver } => {
            if deliver {
                notify_now(p);
            }
            let rows = p.notifications()?;
            print(|out| render::notifications(out, &rows, &p.config.sinks, as_json));
            Ok(ExitCode::SUCCESS)
        }
        Invocation::Keygen { force } => {
            let key = crate::keys::keygen(&p.config, force)?;
            println!("Wrote {} (secret: keep it out of version control).", key.path.display());
            println!("Public key {} is now trusted in vexil.toml; give it to SDKs as publicKeys.", key.public_key);
            println!("Run `vexil publish` to sign every environment's snapshot.");
            Ok(ExitCode::SUCCESS)
        }
        Invocation::Freshness { environments } => freshness(p, environments),
        other => unreachable!("{other:?} is not a local command"),
    }
}

/// `vexil freshness`: a push of every target (catching up any that fell behind) re-issues
/// the statement vouching for its newest snapshot.
fn freshness(p: &mut Project, environments: Vec<String>) -> Result<ExitCode> {
    let Some(signing) = p.signing() else {
        return Err(Error::refused(
            "snapshots are not signed ([signing] key): there is nothing to vouch for; `vexil keygen` makes a key",
        ));
    };
    let environments: Vec<String> = if environments.is_empty() {
        p.config.environment_names().into_iter().map(String::from).collect()
    } else {
        environments
    };
    for env in &environments {
        p.config.environment(env)?;
    }
    let mut failed = false;
    for env in &environments {
        for report in p.push(env, false) {
            match report.result {
                crate::project::PushResult::Ok(_) => println!(
                    "{env} → {}: freshness.vxf re-issued, vouching for {}",
                    report.target,
                    crate::duration::Text(signing.freshness)
                ),
                crate::project::PushResult::Failed { error } => {
                    failed = true;
                    eprintln!("vexil: {env} → {}: {error}", report.target);
                }
            }
        }
    }
    Ok(if failed { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}

/// Renders and prints at once.
pub(super) fn print(render: impl FnOnce(&mut Out)) {
    let mut out = Out::default();
    render(&mut out);
    out.print();
}

fn load_snapshot(p: &mut Project, source: &SnapshotSource) -> Result<(Snapshot, String)> {
    match source {
        SnapshotSource::File(file) => {
            let bytes = std::fs::read(file).map_err(|e| Error::io(format!("cannot read {}: {e}", file.display())))?;
            let s = Snapshot::decode(&bytes, &p.trusted_keys())
                .map_err(|e| Error::refused(format!("{}: {e}", file.display())))?;
            Ok((s, file.display().to_string()))
        }
        SnapshotSource::Environment(env) => {
            let env = env.clone().unwrap_or_else(|| p.config.default_environment.clone());
            p.config.environment(&env)?;
            let (_, s) = p
                .latest_snapshot(&env)?
                .ok_or_else(|| Error::refused(format!("environment {env} has no version yet; run `vexil publish`")))?;
            Ok((s, format!("environment {env}")))
        }
    }
}

fn eval(p: &mut Project, args: &EvalArgs, as_json: bool) -> Result<ExitCode> {
    let (snapshot, _) = load_snapshot(p, &args.source)?;
    let now = args.now.unwrap_or_else(now_ms);
    if args.batch {
        let stdin = std::io::stdin();
        let mut out = std::io::stdout().lock();
        for (n, line) in stdin.lock().lines().enumerate() {
            let line = line.context("cannot read standard input")?;
            if line.trim().is_empty() {
                continue;
            }
            let result = EvalRequest::from_json_line(&line)
                .map(|r| decision_json(&r.evaluate(&snapshot, args.random.unwrap_or_else(random_draw), now)));
            let line_out = result.unwrap_or_else(|e| serde_json::json!({"error": format!("line {}: {e}", n + 1)}));
            writeln!(out, "{line_out}").context("cannot write standard output")?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    let flag = args.flag.clone().expect("required without --batch");
    let properties: Vec<_> = args.properties.iter().map(|(k, v)| (k.clone(), property_value(v))).collect();
    let request = EvalRequest {
        flag: flag.clone(),
        actors: args.actors.iter().map(|id| (id.clone(), properties.clone())).collect(),
        random: args.random,
        now: Some(now),
    };
    let d = request.evaluate(&snapshot, random_draw(), now);
    if as_json {
        let mut j = decision_json(&d);
        j["flag"] = serde_json::json!(flag);
        print(|out| render::json(out, &j));
    } else {
        let who = if args.actors.is_empty() { "no actor".to_string() } else { args.actors.join(", ") };
        println!(
            "{flag} for {who}: {} ({}) at v{}",
            if d.enabled { "enabled" } else { "disabled" },
            d.reason,
            d.version
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn serve(p: Project, args: invocation::ServeArgs) -> Result<ExitCode> {
    let listen = args.listen.parse().map_err(|_| {
        Error::usage(format!("--listen {:?}: expected ADDRESS:PORT, such as 127.0.0.1:8417", args.listen))
    })?;
    let mut options = crate::serve::ServeOptions::new(listen);
    if let Some(www) = args.www {
        if !www.join("index.html").is_file() {
            return Err(Error::usage(format!(
                "--www {}: no index.html there (it names the dashboard's files)",
                www.display()
            )));
        }
        options.www = Some(www);
    }
    options.package = args.package;
    options.heartbeat = std::time::Duration::from_secs(args.heartbeat);
    options.header_timeout = std::time::Duration::from_secs(args.header_timeout);
    options.max_connections = args.max_connections as usize;
    options.max_connections_per_client =
        args.max_connections_per_client.map_or(options.max_connections, |n| n as usize);
    options.api = args.api;
    crate::serve::serve(p, options, |address| {
        println!("vexil serve: http://{address}/ (dashboard), http://{address}/<environment>/latest.vxl, …/events");
        let _ = std::io::stdout().flush();
    })?;
    Ok(ExitCode::SUCCESS)
}

fn author(m: &ArgMatches) -> String {
    if let Some(a) = m.try_get_one::<String>("author").ok().flatten() {
        return a.clone();
    }
    if let Some((_, sub)) = m.subcommand() {
        if let Some(a) = sub.try_get_one::<String>("author").ok().flatten() {
            return a.clone();
        }
    }
    if let Ok(a) = std::env::var("VEXIL_AUTHOR") {
        if !a.is_empty() {
            return a;
        }
    }
    let git = |key: &str| {
        std::process::Command::new("git")
            .args(["config", "--get", key])
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .filter(|s| !s.is_empty())
    };
    match (git("user.name"), git("user.email")) {
        (Some(n), Some(e)) => format!("{n} <{e}>"),
        (Some(n), None) => n,
        (None, Some(e)) => e,
        (None, None) => std::env::var("USER").unwrap_or_else(|_| "unknown".into()),
    }
}

fn random_draw() -> f64 {
    let mut b = [0u8; 8];
    let _ = getrandom::fill(&mut b);
    (u64::from_le_bytes(b) >> 11) as f64 / (1u64 << 53) as f64
}

/// The command line as it would be typed, for the change log.
fn shell_words(args: &[OsString]) -> String {
    let mut out = vec!["vexil".to_string()];
    for a in args.iter().skip(1) {
        let a = a.to_string_lossy();
        if !a.is_empty() && a.chars().all(|c| c.is_ascii_alphanumeric() || "-_=.,:/@+".contains(c)) {
            out.push(a.into_owned());
        } else {
            out.push(format!("'{}'", a.replace('\'', "'\\''")));
        }
    }
    out.join(" ")
}
