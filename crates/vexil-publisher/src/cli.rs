//! The command line: arguments in, a command run on the library, text or JSON out. The
//! environment switches of `feature` commands come from `vexil.toml`, so the project is
//! found before the arguments are parsed.

use crate::audience::{self, Audience};
use crate::chatops::{self, FlagState, SetRequest, TARGET_OPTIONS};
use crate::config::{self, Config};
use crate::definitions::Severity;
use crate::error::{Context as _, Error, ErrorKind, Result};
use crate::project::{self, Origin, Project, Published, PushResult, SetOptions};
use crate::store::LogFilter;
use clap::{Arg, ArgAction, ArgMatches, Command};
use serde_json::{json, Value as Json};
use std::ffi::OsString;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use vexil_core::{Actor, Context, Decision, Gates, OwnedValue, Snapshot, State, Timestamp, Value};

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

fn json_flag() -> Arg {
    Arg::new("json").long("json").action(ArgAction::SetTrue).help("Print JSON for scripts")
}

fn env_switches(cmd: Command, config: Option<&Config>) -> Command {
    let names: Vec<String> = match config {
        Some(c) => c.environments.iter().map(|e| e.name.clone()).collect(),
        None => config::GITLAB_ENVIRONMENTS.iter().map(|s| s.to_string()).collect(),
    };
    names.into_iter().fold(cmd, |cmd, name| {
        cmd.arg(
            Arg::new(format!("env:{name}"))
                .long(name.clone())
                .action(ArgAction::SetTrue)
                .help(format!("Apply to {name}"))
                .help_heading("Environments (default: the default environment)"),
        )
    })
}

fn command(config: Option<&Config>) -> Command {
    let author =
        Arg::new("author").long("author").value_name("NAME").help("Who makes the change (default: git config, $USER)");
    let mut set = Command::new("set")
        .about("Set a flag's gates, as chatops `feature set`")
        .arg(Arg::new("flag").required(true))
        .arg(
            Arg::new("value")
                .required(true)
                .allow_hyphen_values(true)
                .help("true, false, 0-100, opt_out or remove_opt_out"),
        )
        .arg(Arg::new("actors").long("actors").action(ArgAction::SetTrue).help("Percentage of actors"))
        .arg(Arg::new("random").long("random").action(ArgAction::SetTrue).help("Percentage of time (deprecated)"));
    for (option, kind) in TARGET_OPTIONS {
        let help = match kind {
            Some(k) => format!("Comma-separated ids: the actors {k}:<id>"),
            None => "Comma-separated feature groups from vexil.toml".to_string(),
        };
        set = set.arg(Arg::new(option).long(option).value_name("LIST").action(ArgAction::Append).help(help));
    }
    let set = set
        .arg(Arg::new("force").long("force").action(ArgAction::SetTrue).help("Set a flag that has no definition"))
        .arg(
            Arg::new("ignore-random-deprecation-check")
                .long("ignore-random-deprecation-check")
                .action(ArgAction::SetTrue),
        )
        .arg(
            Arg::new("ignore-feature-flag-consistency-check")
                .long("ignore-feature-flag-consistency-check")
                .action(ArgAction::SetTrue),
        )
        .arg(Arg::new("ignore-production-check").long("ignore-production-check").action(ArgAction::SetTrue))
        .arg(author.clone())
        .arg(json_flag());
    let feature = Command::new("feature")
        .about("Chatops-compatible flag commands")
        .subcommand_required(true)
        .subcommand(env_switches(set, config))
        .subcommand(env_switches(
            Command::new("get").about("Show a flag's gates").arg(Arg::new("flag").required(true)).arg(json_flag()),
            config,
        ))
        .subcommand(env_switches(
            Command::new("list")
                .about("List persisted flags, enabled and disabled")
                .arg(Arg::new("match").long("match").value_name("TEXT"))
                .arg(json_flag()),
            config,
        ))
        .subcommand(env_switches(
            Command::new("delete")
                .about("Delete a flag's state: its YAML default applies again")
                .arg(Arg::new("flag").required(true))
                .arg(author.clone())
                .arg(json_flag()),
            config,
        ));
    let env_arg =
        || Arg::new("env").long("env").value_name("NAME").help("The environment (default: the default environment)");
    Command::new("vexil")
        .about("Feature flags the way GitLab ships them, evaluated at the edge")
        .version(env!("CARGO_PKG_VERSION"))
        .subcommand_required(true)
        .arg(
            Arg::new("project-dir")
                .short('C')
                .long("project-dir")
                .value_name("DIR")
                .global(true)
                .help("The project (default: the nearest vexil.toml upwards)"),
        )
        .subcommand(
            Command::new("init")
                .about("Create a flags project")
                .arg(Arg::new("dir").default_value("."))
                .arg(
                    Arg::new("state")
                        .long("state")
                        .value_name("URL")
                        .help("The state database: postgres://user@host:port/database (default: SQLite in .vexil/)"),
                )
                .arg(author.clone()),
        )
        .subcommand(Command::new("lint").about("Validate flag definitions as GitLab does").arg(json_flag()))
        .subcommand(feature)
        .subcommand(
            Command::new("publish")
                .about("Publish definition changes and bring every target up to date")
                .arg(env_arg().action(ArgAction::Append))
                .arg(
                    Arg::new("repair")
                        .long("repair")
                        .action(ArgAction::SetTrue)
                        .help("Rewrite targets holding corrupt or foreign snapshots"),
                )
                .arg(author.clone())
                .arg(json_flag()),
        )
        .subcommand(Command::new("status").about("Each target's version against the database's").arg(json_flag()))
        .subcommand(
            Command::new("log")
                .about("The change log, newest first")
                .arg(Arg::new("flag"))
                .arg(env_arg())
                .arg(Arg::new("limit").long("limit").value_name("N").value_parser(clap::value_parser!(usize)))
                .arg(json_flag()),
        )
        .subcommand(
            Command::new("rollback")
                .about("Publish a new version equal to an earlier one")
                .arg(env_arg().required(true))
                .arg(
                    Arg::new("to")
                        .long("to")
                        .value_name("VERSION")
                        .value_parser(clap::value_parser!(u64))
                        .conflicts_with("steps"),
                )
                .arg(Arg::new("steps").long("steps").value_name("N").value_parser(clap::value_parser!(u64)))
                .arg(author.clone())
                .arg(json_flag()),
        )
        .subcommand(
            Command::new("eval")
                .about("Evaluate a flag for actors, or JSON lines with --batch")
                .arg(Arg::new("flag").required_unless_present("batch"))
                .arg(Arg::new("actor").long("actor").value_name("ID").action(ArgAction::Append))
                .arg(Arg::new("property").long("property").value_name("KEY=VALUE").action(ArgAction::Append))
                .arg(
                    Arg::new("random")
                        .long("random")
                        .value_name("DRAW")
                        .value_parser(clap::value_parser!(f64))
                        .help("The draw in [0, 1) for percentage of time (default: random)"),
                )
                .arg(
                    Arg::new("now")
                        .long("now")
                        .value_name("MS")
                        .value_parser(clap::value_parser!(i64))
                        .help("Unix time in ms (default: now)"),
                )
                .arg(
                    Arg::new("batch")
                        .long("batch")
                        .action(ArgAction::SetTrue)
                        .conflicts_with_all(["flag", "actor", "property"]),
                )
                .arg(env_arg())
                .arg(Arg::new("snapshot").long("snapshot").value_name("FILE").conflicts_with("env"))
                .arg(json_flag()),
        )
        .subcommand(
            Command::new("inspect")
                .about("Decode a snapshot")
                .arg(Arg::new("file").conflicts_with("env"))
                .arg(env_arg())
                .arg(json_flag()),
        )
        .subcommand(
            Command::new("snapshot")
                .about("Write an environment's latest snapshot, exactly as SDKs load it")
                .arg(env_arg())
                .arg(
                    Arg::new("audience")
                        .long("audience")
                        .value_parser(["server", "browser"])
                        .default_value("server")
                        .help("browser: client-side flags only, actor ids hashed"),
                )
                .arg(Arg::new("output").short('o').long("output").value_name("FILE")),
        )
        .subcommand(
            Command::new("migrate")
                .about("Move the state from SQLite to PostgreSQL, keeping every version and change")
                .arg(
                    Arg::new("to")
                        .long("to")
                        .required(true)
                        .value_name("URL")
                        .help("postgres://user@host:port/database (password: VEXIL_DATABASE_PASSWORD or PGPASSWORD)"),
                )
                .arg(json_flag()),
        )
        .subcommand(
            Command::new("serve")
                .about("Serve snapshots, live update streams and the dashboard over HTTP (read-only)")
                .arg(
                    Arg::new("listen")
                        .long("listen")
                        .value_name("ADDRESS")
                        .default_value("127.0.0.1:8417")
                        .help("Address and port (port 0: any free port)"),
                )
                .arg(
                    Arg::new("www")
                        .long("www")
                        .value_name("DIR")
                        .help("The dashboard's files (default: www/ of this build's checkout)"),
                )
                .arg(Arg::new("package").long("package").value_name("DIR").hide(true))
                .arg(
                    Arg::new("heartbeat")
                        .long("heartbeat")
                        .value_name("SECONDS")
                        .value_parser(clap::value_parser!(u64).range(1..=3600))
                        .default_value("15")
                        .help("Comment lines on idle event streams, so proxies keep them open"),
                ),
        )
        .subcommand(
            Command::new("keygen").about("Create a signing key and trust it in vexil.toml").arg(
                Arg::new("force")
                    .long("force")
                    .action(ArgAction::SetTrue)
                    .help("Replace an existing key (rotation: the old public key stays trusted)"),
            ),
        )
}

fn run(args: Vec<OsString>) -> Result<ExitCode> {
    let dir = project_dir(&args);
    // The environment switches come from vexil.toml; without one, GitLab's defaults.
    let config = root_from(dir.clone()).ok().and_then(|root| Config::load(&root).ok());
    let matches = match command(config.as_ref()).try_get_matches_from(&args) {
        Ok(m) => m,
        Err(e) if matches!(e.kind(), clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion) => {
            let _ = e.print();
            return Ok(ExitCode::SUCCESS);
        }
        Err(e) => {
            return Err(Error::usage(e.render().to_string().trim_end().trim_start_matches("error: ").to_string()))
        }
    };
    let command_line = shell_words(&args);
    let (name, sub) = matches.subcommand().expect("subcommand_required");
    let origin = |m: &ArgMatches| Origin { author: author(m), command: command_line.clone(), at: now_ms() };
    match name {
        "init" => {
            let target = PathBuf::from(sub.get_one::<String>("dir").expect("has default"));
            let target = match dir {
                Some(base) if target.is_relative() => base.join(target),
                _ => target,
            };
            let mut p = project::init(&target, sub.get_one::<String>("state").map(String::as_str), &origin(sub))?;
            println!("Created a vexil project in {}", target.display());
            println!("  vexil.toml                       environments: {}", p.config.environment_names().join(", "));
            println!("  config/feature_flags/beta/new_navigation_bar.yml");
            println!("  {}", p.store().describe());
            println!("Next: vexil feature set new_navigation_bar 50 --actors --dev --staging");
            Ok(ExitCode::SUCCESS)
        }
        other => {
            let root = root_from(dir)?;
            let mut p = Project::open(&root)?;
            match other {
                "lint" => lint(&mut p, sub),
                "feature" => feature(&mut p, sub, &origin),
                "publish" => publish(&mut p, sub, &origin(sub)),
                "status" => status(&mut p, sub),
                "log" => log(&mut p, sub),
                "rollback" => rollback(&mut p, sub, &origin(sub)),
                "eval" => eval(&mut p, sub),
                "inspect" => inspect(&mut p, sub),
                "snapshot" => snapshot(&mut p, sub),
                "keygen" => keygen(&p, sub),
                "migrate" => migrate(&mut p, sub),
                "serve" => serve(p, sub),
                _ => unreachable!("every subcommand is handled"),
            }
        }
    }
}

fn author(m: &ArgMatches) -> String {
    if let Some(a) = m.try_get_one::<String>("author").ok().flatten() {
        return a.clone();
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

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

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

fn print_json(v: &Json) {
    println!("{}", serde_json::to_string_pretty(v).unwrap_or_default());
}

fn json(m: &ArgMatches) -> bool {
    m.get_flag("json")
}

fn lint(p: &mut Project, m: &ArgMatches) -> Result<ExitCode> {
    // What browsers would receive is judged on what each environment's next commit would
    // publish: its persisted gates (expressions live there, and which groups a flag uses)
    // with the definitions and vexil.toml as they are now.
    let mut exposures = Vec::new();
    let mut unbrowsable = Vec::new();
    for env in p.config.environment_names().into_iter().map(String::from).collect::<Vec<_>>() {
        let persisted = p.persisted(&env)?;
        let next = p.compose(&env, 0, 0, &persisted);
        exposures.extend(audience::exposures(&next));
        // What that commit would refuse: a client-side flag browsers cannot evaluate.
        if let Err(e) = audience::browser_environment(&next) {
            unbrowsable.push(e.to_string());
        }
    }
    let unmatched: Vec<&String> = p
        .config
        .client_side
        .iter()
        .filter(|pat| !p.definitions.by_name.keys().any(|n| config::glob_matches(pat, n)))
        .collect();
    let defs = &p.definitions;
    let errors = defs.problems.iter().filter(|x| x.severity == Severity::Error).count() + unbrowsable.len();
    if json(m) {
        print_json(&json!({
            "definitions": defs.by_name.len(),
            "errors": errors,
            "problems": defs.problems,
            "browser_errors": unbrowsable,
            "browser_exposures": exposures,
            "unmatched_client_side": unmatched,
        }));
    } else {
        for problem in &defs.problems {
            println!("{problem}");
        }
        for pattern in &unmatched {
            println!("vexil.toml: warning: client_side lists {pattern:?}, which matches no defined flag");
        }
        for e in &unbrowsable {
            println!("error: {e}");
        }
        for e in &exposures {
            println!("warning: {e}");
        }
        let warnings = defs.problems.len() + unbrowsable.len() - errors + unmatched.len() + exposures.len();
        println!("{} definitions, {errors} errors, {warnings} warnings", defs.by_name.len());
    }
    Ok(if errors > 0 { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}

fn named_environments(p: &Project, m: &ArgMatches) -> Result<Vec<String>> {
    let named: Vec<String> = p
        .config
        .environments
        .iter()
        .filter(|e| m.get_flag(&format!("env:{}", e.name)))
        .map(|e| e.name.clone())
        .collect();
    p.resolve_environments(&named)
}

fn feature(p: &mut Project, m: &ArgMatches, origin: &dyn Fn(&ArgMatches) -> Origin) -> Result<ExitCode> {
    let (name, sub) = m.subcommand().expect("subcommand_required");
    let envs = named_environments(p, sub)?;
    match name {
        "set" => {
            let mut targets = Vec::new();
            for (option, kind) in TARGET_OPTIONS {
                for list in sub.get_many::<String>(option).into_iter().flatten() {
                    targets.extend(chatops::targets_from_option(option, kind, list)?);
                }
            }
            let flag = sub.get_one::<String>("flag").expect("required").trim_matches('`').to_string();
            let req = SetRequest::new(
                flag,
                sub.get_one::<String>("value").expect("required").clone(),
                sub.get_flag("actors"),
                sub.get_flag("random"),
                sub.get_flag("ignore-random-deprecation-check"),
                targets,
            )?;
            let options = SetOptions {
                force: sub.get_flag("force"),
                ignore_consistency_check: sub.get_flag("ignore-feature-flag-consistency-check"),
                ignore_production_check: sub.get_flag("ignore-production-check"),
            };
            let published = p.feature_set(&req, &envs, &options, &origin(sub))?;
            report(p, &req.flag, &published, json(sub), "The feature flag value has been updated!")
        }
        "delete" => {
            let flag = sub.get_one::<String>("flag").expect("required").trim_matches('`').to_string();
            let published = p.feature_delete(&flag, &envs, &origin(sub))?;
            report(
                p,
                &flag,
                &published,
                json(sub),
                &format!("Feature flag {flag} has been removed; its YAML default applies."),
            )
        }
        "get" => {
            let flag = sub.get_one::<String>("flag").expect("required").trim_matches('`').to_string();
            let mut out = Vec::new();
            for env in &envs {
                let state = p.persisted(env)?;
                let version = p.store().latest(env)?.map_or(0, |r| r.version);
                out.push(flag_json(p, env, version, &flag, state.get(&flag)));
            }
            if json(sub) {
                print_json(&Json::Array(out));
            } else {
                for (env, j) in envs.iter().zip(&out) {
                    print_flag(env, &flag, j);
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        "list" => {
            let pattern = sub.get_one::<String>("match").cloned().unwrap_or_default();
            let mut out = Vec::new();
            for env in &envs {
                let state = p.persisted(env)?;
                let (mut on, mut off) = (Vec::new(), Vec::new());
                for (name, s) in state.iter().filter(|(n, _)| n.contains(&pattern)) {
                    if s.chatops_enabled() {
                        on.push(name.clone());
                    } else {
                        off.push(name.clone());
                    }
                }
                out.push(json!({"environment": env, "enabled": on, "disabled": off}));
            }
            if json(sub) {
                print_json(&Json::Array(out));
            } else {
                for o in &out {
                    let list = |k: &str| {
                        o[k].as_array()
                            .map(|a| a.iter().filter_map(Json::as_str).collect::<Vec<_>>())
                            .unwrap_or_default()
                    };
                    println!("{}", o["environment"].as_str().unwrap_or_default());
                    println!("  Enabled Features ({}): {}", list("enabled").len(), list("enabled").join(", "));
                    println!("  Disabled Features ({}): {}", list("disabled").len(), list("disabled").join(", "));
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        _ => unreachable!("every feature subcommand is handled"),
    }
}

/// GitLab's API entity for a flag (`lib/api/entities/feature.rb`): name, state, gates
/// (zero values omitted, opt-outs as `<id>:opt_out` actors), definition.
fn flag_json(p: &Project, env: &str, version: u64, flag: &str, state: Option<&FlagState>) -> Json {
    let persisted = state.is_some_and(|s| s.persisted);
    let gates = state.map(|s| s.gates.clone()).unwrap_or_default();
    let mut list = vec![json!({"key": "boolean", "value": gates.boolean})];
    let mut actors: Vec<String> = gates.actors.ids().map(String::from).collect();
    actors.extend(gates.opt_outs.ids().map(|id| format!("{id}:opt_out")));
    if !actors.is_empty() {
        list.push(json!({"key": "actors", "value": actors}));
    }
    if !gates.groups.is_empty() {
        list.push(json!({"key": "groups", "value": gates.groups}));
    }
    let pct = |p: vexil_core::Percentage| -> Json {
        if p.thousandths().is_multiple_of(1000) {
            json!(p.thousandths() / 1000)
        } else {
            json!(p.as_f64())
        }
    };
    if !gates.percentage_of_actors.is_zero() {
        list.push(json!({"key": "percentage_of_actors", "value": pct(gates.percentage_of_actors)}));
    }
    if !gates.percentage_of_time.is_zero() {
        list.push(json!({"key": "percentage_of_time", "value": pct(gates.percentage_of_time)}));
    }
    if let Some(e) = &gates.expression {
        list.push(json!({"key": "expression", "value": e.to_json()}));
    }
    let state_name = if persisted { gates.state().name() } else { "off" };
    json!({
        "environment": env,
        "version": version,
        "name": flag,
        "persisted": persisted,
        "state": state_name,
        "gates": list,
        "definition": p.definitions.by_name.get(flag),
    })
}

fn print_flag(env: &str, flag: &str, j: &Json) {
    let def = &j["definition"];
    let facts = if def.is_null() {
        "no definition".to_string()
    } else {
        format!("{}, default_enabled: {}", def["type"].as_str().unwrap_or("?"), def["default_enabled"])
    };
    if !j["persisted"].as_bool().unwrap_or(false) {
        println!(
            "{env} v{}: The feature \"{flag}\" does not exist on {env}: nothing is persisted ({facts} applies).",
            j["version"]
        );
        return;
    }
    println!("{env} v{}: {flag} ({facts})  state: {}", j["version"], j["state"].as_str().unwrap_or("?"));
    for g in j["gates"].as_array().into_iter().flatten() {
        let value = match &g["value"] {
            Json::Array(a) => a
                .iter()
                .map(|v| v.as_str().map(String::from).unwrap_or_else(|| v.to_string()))
                .collect::<Vec<_>>()
                .join(", "),
            v => v.to_string(),
        };
        let title = match g["key"].as_str() {
            Some("boolean") => "Enabled Globally",
            Some("actors") => "Scoped to",
            Some(k) => k,
            None => "?",
        };
        println!("  {title:<22} {value}");
    }
}

fn report(p: &mut Project, flag: &str, published: &[Published], as_json: bool, headline: &str) -> Result<ExitCode> {
    let failed = published.iter().flat_map(|x| &x.pushes).any(|r| matches!(r.result, PushResult::Failed { .. }));
    if as_json {
        let mut out = Vec::new();
        for x in published {
            let state = p.persisted(&x.environment)?;
            let mut j = flag_json(p, &x.environment, x.version, flag, state.get(flag));
            j["pushes"] = serde_json::to_value(&x.pushes).unwrap_or(Json::Null);
            out.push(j);
        }
        print_json(&Json::Array(out));
    } else {
        println!("{headline}");
        for x in published {
            let state = p.persisted(&x.environment)?;
            print_flag(&x.environment, flag, &flag_json(p, &x.environment, x.version, flag, state.get(flag)));
            print_pushes(x);
        }
    }
    Ok(if failed { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}

fn print_pushes(x: &Published) {
    for r in &x.pushes {
        match &r.result {
            PushResult::Ok(o) => match o {
                crate::target::PushOutcome::Pushed { from, to } => println!("  pushed {} v{from} → v{to}", r.target),
                crate::target::PushOutcome::UpToDate { version } => println!("  {} up to date (v{version})", r.target),
                crate::target::PushOutcome::Nothing => {}
            },
            PushResult::Failed { error } => {
                eprintln!("vexil: push failed, target behind until the next `vexil publish`: {error}")
            }
        }
    }
}

fn publish(p: &mut Project, m: &ArgMatches, origin: &Origin) -> Result<ExitCode> {
    let envs: Vec<String> = m.get_many::<String>("env").into_iter().flatten().cloned().collect();
    let published = p.publish(&envs, origin, m.get_flag("repair"))?;
    let failed = published.iter().flat_map(|x| &x.pushes).any(|r| matches!(r.result, PushResult::Failed { .. }));
    if json(m) {
        print_json(&serde_json::to_value(&published).unwrap_or(Json::Null));
    } else {
        for x in &published {
            println!("{} v{}", x.environment, x.version);
            print_pushes(x);
        }
    }
    Ok(if failed { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}

fn status(p: &mut Project, m: &ArgMatches) -> Result<ExitCode> {
    let rows = p.status()?;
    let behind = rows.iter().any(|r| r.behind);
    if json(m) {
        print_json(&json!({"behind": behind, "targets": rows}));
    } else {
        println!("{:<14} {:<10} {:<8} {:>9} {:>9}  status", "environment", "target", "audience", "database", "target");
        for r in &rows {
            let tv = r.target_version.map_or("?".to_string(), |v| v.to_string());
            let what = match (&r.error, r.behind) {
                (Some(e), _) => format!("ERROR (last pushed v{}): {e}", r.last_pushed),
                (None, true) => "BEHIND".to_string(),
                (None, false) => "ok".to_string(),
            };
            println!(
                "{:<14} {:<10} {:<8} {:>9} {:>9}  {what}",
                r.environment,
                r.target,
                r.audience.name(),
                r.database,
                tv
            );
        }
    }
    Ok(if behind { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}

fn log(p: &mut Project, m: &ArgMatches) -> Result<ExitCode> {
    let env = m.get_one::<String>("env").cloned();
    if let Some(e) = &env {
        p.config.environment(e)?;
    }
    let filter = LogFilter {
        environment: env,
        flag: m.get_one::<String>("flag").cloned(),
        after_id: None,
        limit: m.get_one::<usize>("limit").copied(),
    };
    let changes = p.store().changes(&filter)?;
    if json(m) {
        print_json(&serde_json::to_value(&changes).unwrap_or(Json::Null));
    } else {
        for c in &changes {
            let when = iso_time(c.at);
            println!(
                "{when}  {:<12} v{:<5} {:<28} {:<28} {}",
                c.environment,
                c.version,
                c.flag.as_deref().unwrap_or("-"),
                c.action,
                c.author
            );
            println!("    {}", c.command);
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn iso_time(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil date from days since the epoch (Howard Hinnant).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let mo = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(mo <= 2);
    format!("{y:04}-{mo:02}-{d:02}T{:02}:{:02}:{:02}Z", rem / 3600, rem / 60 % 60, rem % 60)
}

fn rollback(p: &mut Project, m: &ArgMatches, origin: &Origin) -> Result<ExitCode> {
    let env = m.get_one::<String>("env").expect("required").clone();
    p.config.environment(&env)?;
    let latest = p.store().latest(&env)?.map_or(0, |r| r.version);
    let to = match (m.get_one::<u64>("to"), m.get_one::<u64>("steps")) {
        (Some(v), _) => *v,
        (None, Some(n)) => latest.checked_sub(*n).filter(|v| *v >= 1).ok_or_else(|| {
            Error::refused(format!(
                "--steps {n}: environment {env} is at version {latest}, so there is nothing {n} steps back"
            ))
        })?,
        (None, None) => return Err(Error::usage("rollback needs --to VERSION or --steps N")),
    };
    let published = p.rollback(&env, to, origin)?;
    if json(m) {
        print_json(&serde_json::to_value(&published).unwrap_or(Json::Null));
    } else {
        println!("{env}: v{} has the state of v{to}", published.version);
        print_pushes(&published);
    }
    Ok(ExitCode::SUCCESS)
}

fn load_snapshot(p: &mut Project, m: &ArgMatches) -> Result<(Snapshot, String)> {
    let trusted = p.trusted_keys();
    let file = m.try_get_one::<String>("snapshot").ok().flatten().or(m.try_get_one::<String>("file").ok().flatten());
    if let Some(file) = file {
        let bytes = std::fs::read(file).map_err(|e| Error::io(format!("cannot read {file}: {e}")))?;
        let s = Snapshot::decode(&bytes, &trusted).map_err(|e| Error::refused(format!("{file}: {e}")))?;
        return Ok((s, file.clone()));
    }
    let env = m.get_one::<String>("env").cloned().unwrap_or_else(|| p.config.default_environment.clone());
    p.config.environment(&env)?;
    let (_, s) = p
        .latest_snapshot(&env)?
        .ok_or_else(|| Error::refused(format!("environment {env} has no version yet; run `vexil publish`")))?;
    Ok((s, format!("environment {env}")))
}

/// A `--property` value: JSON when it parses as a scalar (`3`, `1.5`, `true`, `"x"`), else
/// the text itself.
fn property_value(text: &str) -> OwnedValue {
    serde_json::from_str::<Json>(text)
        .ok()
        .and_then(|v| OwnedValue::from_json(&v))
        .unwrap_or_else(|| OwnedValue::Str(text.to_string()))
}

fn json_property(v: &Json) -> Result<OwnedValue> {
    OwnedValue::from_json(v)
        .ok_or_else(|| Error::refused(format!("property values are strings, numbers, booleans or null, not {v}")))
}

type OwnedActors = Vec<(String, Vec<(String, OwnedValue)>)>;

fn evaluate(s: &Snapshot, flag: &str, actors: &OwnedActors, random: f64, now: i64) -> Decision {
    let props: Vec<Vec<(&str, Value<'_>)>> =
        actors.iter().map(|(_, p)| p.iter().map(|(k, v)| (k.as_str(), v.as_value())).collect()).collect();
    let list: Vec<Actor<'_>> = actors.iter().zip(&props).map(|((id, _), p)| Actor::with_properties(id, p)).collect();
    s.evaluate(flag, &Context::new(&list, random, Timestamp::from_unix_millis(now)))
}

fn random_draw() -> f64 {
    let mut b = [0u8; 8];
    let _ = getrandom::fill(&mut b);
    (u64::from_le_bytes(b) >> 11) as f64 / (1u64 << 53) as f64
}

fn eval(p: &mut Project, m: &ArgMatches) -> Result<ExitCode> {
    let (s, _) = load_snapshot(p, m)?;
    let now = m.get_one::<i64>("now").copied().unwrap_or_else(now_ms);
    let fixed_random = m.get_one::<f64>("random").copied();
    if let Some(r) = fixed_random {
        if !(0.0..1.0).contains(&r) {
            return Err(Error::usage(format!("--random {r}: the draw must be in [0, 1)")));
        }
    }
    if m.get_flag("batch") {
        let stdin = std::io::stdin();
        let mut out = std::io::stdout().lock();
        for (n, line) in stdin.lock().lines().enumerate() {
            let line = line.context("cannot read standard input")?;
            if line.trim().is_empty() {
                continue;
            }
            let result = (|| -> Result<Json> {
                let v: Json = serde_json::from_str(&line).map_err(|e| Error::refused(e.to_string()))?;
                let flag = v["flag"].as_str().ok_or_else(|| Error::refused("missing \"flag\""))?;
                let shared: Vec<(String, OwnedValue)> = match v.get("properties") {
                    None | Some(Json::Null) => vec![],
                    Some(Json::Object(o)) => {
                        o.iter().map(|(k, v)| Ok((k.clone(), json_property(v)?))).collect::<Result<_>>()?
                    }
                    Some(_) => return Err(Error::refused("\"properties\" must be an object")),
                };
                let mut actors: OwnedActors = Vec::new();
                for a in v.get("actors").and_then(Json::as_array).into_iter().flatten() {
                    match a {
                        Json::String(id) => actors.push((id.clone(), shared.clone())),
                        Json::Object(o) => {
                            let id = o
                                .get("id")
                                .and_then(Json::as_str)
                                .ok_or_else(|| Error::refused("an actor object needs \"id\""))?;
                            let mut props = shared.clone();
                            for (k, v) in o.get("properties").and_then(Json::as_object).into_iter().flatten() {
                                props.push((k.clone(), json_property(v)?));
                            }
                            actors.push((id.to_string(), props));
                        }
                        other => {
                            return Err(Error::refused(format!(
                                "actors are ids or {{\"id\", \"properties\"}}, not {other}"
                            )))
                        }
                    }
                }
                if actors.len() > vexil_core::limits::MAX_CONTEXT_ACTORS {
                    return Err(Error::refused(format!(
                        "at most {} actors per evaluation",
                        vexil_core::limits::MAX_CONTEXT_ACTORS
                    )));
                }
                let random = v.get("random").and_then(Json::as_f64).or(fixed_random).unwrap_or_else(random_draw);
                let now = v.get("now").and_then(Json::as_i64).unwrap_or(now);
                let d = evaluate(&s, flag, &actors, random, now);
                Ok(json!({"enabled": d.enabled, "reason": d.reason.name(), "version": d.version}))
            })();
            let line_out = match result {
                Ok(v) => v,
                Err(e) => json!({"error": format!("line {}: {e}", n + 1)}),
            };
            writeln!(out, "{line_out}").context("cannot write standard output")?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    let flag = m.get_one::<String>("flag").expect("required without --batch");
    let mut props = Vec::new();
    for kv in m.get_many::<String>("property").into_iter().flatten() {
        let (k, v) =
            kv.split_once('=').ok_or_else(|| Error::usage(format!("--property {kv:?}: expected KEY=VALUE")))?;
        props.push((k.to_string(), property_value(v)));
    }
    let ids: Vec<String> = m.get_many::<String>("actor").into_iter().flatten().cloned().collect();
    if ids.is_empty() && !props.is_empty() {
        return Err(Error::usage("--property needs an --actor to belong to"));
    }
    let actors: OwnedActors = ids.into_iter().map(|id| (id, props.clone())).collect();
    let d = evaluate(&s, flag, &actors, fixed_random.unwrap_or_else(random_draw), now);
    if json(m) {
        print_json(&json!({"flag": flag, "enabled": d.enabled, "reason": d.reason.name(), "version": d.version}));
    } else {
        let who = if actors.is_empty() {
            "no actor".to_string()
        } else {
            actors.iter().map(|(id, _)| id.as_str()).collect::<Vec<_>>().join(", ")
        };
        println!(
            "{flag} for {who}: {} ({}) at v{}",
            if d.enabled { "enabled" } else { "disabled" },
            d.reason,
            d.version
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn gates_summary(g: &Gates) -> String {
    let mut parts = Vec::new();
    if g.boolean {
        parts.push("boolean".to_string());
    }
    if !g.actors.is_empty() {
        parts.push(format!("actors({})", g.actors.len()));
    }
    if !g.opt_outs.is_empty() {
        parts.push(format!("opt_outs({})", g.opt_outs.len()));
    }
    if !g.groups.is_empty() {
        parts.push(format!("groups({})", g.groups.iter().cloned().collect::<Vec<_>>().join(",")));
    }
    if !g.percentage_of_actors.is_zero() {
        parts.push(format!("actors {}%", g.percentage_of_actors));
    }
    if !g.percentage_of_time.is_zero() {
        parts.push(format!("time {}%", g.percentage_of_time));
    }
    if g.expression.is_some() {
        parts.push("expression".to_string());
    }
    parts.join(" ")
}

fn inspect(p: &mut Project, m: &ArgMatches) -> Result<ExitCode> {
    let (s, source) = load_snapshot(p, m)?;
    let env = s.to_environment();
    let signer = s.signer().map(config::encode_key);
    let trusted = !p.trusted_keys().is_empty() && s.signer().is_some();
    if json(m) {
        let flags: serde_json::Map<String, Json> = env
            .flags
            .iter()
            .map(|(name, f)| {
                let state = if f.persisted { f.gates.state().name() } else { "off" };
                (
                    name.clone(),
                    json!({
                        "type": f.flag_type.name(),
                        "default_enabled": f.default_enabled,
                        "client_side": f.client_side,
                        "audience": if f.client_side { "browser" } else { "server" },
                        "persisted": f.persisted,
                        "state": state,
                        "gates": if f.persisted { project::gates_object(&f.gates) } else { Json::Null },
                    }),
                )
            })
            .collect();
        let groups: serde_json::Map<String, Json> = env.groups.iter().map(|(k, e)| (k.clone(), e.to_json())).collect();
        print_json(&json!({
            "environment": env.name,
            "version": env.version,
            "published_at": env.published_at,
            "bytes": s.bytes().len(),
            "signer": signer,
            "verified": trusted,
            "audience": snapshot_audience(&s),
            "groups": groups,
            "flags": flags,
        }));
        return Ok(ExitCode::SUCCESS);
    }
    println!("{source}: environment {} v{} published {}", env.name, env.version, iso_time(env.published_at));
    println!(
        "  {} bytes, {} flags, {}",
        s.bytes().len(),
        env.flags.len(),
        match (&signer, trusted) {
            (Some(k), true) => format!("signed by {k} (verified)"),
            (Some(k), false) => format!("signed by {k} (not verified: no trusted keys configured)"),
            (None, _) => "unsigned".to_string(),
        }
    );
    if let vexil_core::Audience::Browser { .. } = s.audience() {
        println!("  browser audience: client-side flags only, allow-lists and opt-outs as salted hashes");
    }
    for (name, f) in &env.flags {
        let audience = if f.client_side { "browser" } else { "server" };
        let state = if !f.persisted {
            format!("default ({})", if f.default_enabled { "on" } else { "off" })
        } else {
            match f.gates.state() {
                State::On => "on".into(),
                State::Conditional => format!("conditional: {}", gates_summary(&f.gates)),
                State::Off => "off".into(),
            }
        };
        println!("  {name:<40} {:<18} {audience:<8} {state}", f.flag_type.name());
    }
    Ok(ExitCode::SUCCESS)
}

fn snapshot_audience(s: &Snapshot) -> &'static str {
    match s.audience() {
        vexil_core::Audience::Server => "server",
        vexil_core::Audience::Browser { .. } => "browser",
    }
}

fn snapshot(p: &mut Project, m: &ArgMatches) -> Result<ExitCode> {
    let env = m.get_one::<String>("env").cloned().unwrap_or_else(|| p.config.default_environment.clone());
    p.config.environment(&env)?;
    let (row, _) =
        p.latest_snapshot(&env)?.ok_or_else(|| Error::refused(format!("environment {env} has no version yet")))?;
    let bytes = match m.get_one::<String>("audience").and_then(|a| Audience::parse(a)) {
        Some(Audience::Browser) => audience::browser_snapshot(&row, p.signing_key())?,
        _ => row.snapshot,
    };
    match m.get_one::<String>("output") {
        Some(path) if path != "-" => crate::target::write_atomically(Path::new(path), &bytes)?,
        _ => std::io::stdout().lock().write_all(&bytes).context("cannot write standard output")?,
    }
    Ok(ExitCode::SUCCESS)
}

fn migrate(p: &mut Project, m: &ArgMatches) -> Result<ExitCode> {
    let url = m.get_one::<String>("to").expect("required");
    let done = p.migrate_to(url)?;
    if json(m) {
        print_json(&serde_json::to_value(&done).unwrap_or(Json::Null));
    } else {
        println!(
            "Copied {} versions and {} change-log entries from {} to {}.",
            done.versions, done.changes, done.from, done.to
        );
        println!("vexil.toml now says state = {:?}; the SQLite file is kept as a backup.", done.to);
    }
    Ok(ExitCode::SUCCESS)
}

fn serve(p: Project, m: &ArgMatches) -> Result<ExitCode> {
    let text = m.get_one::<String>("listen").expect("has default");
    let listen = text
        .parse()
        .map_err(|_| Error::usage(format!("--listen {text:?}: expected ADDRESS:PORT, such as 127.0.0.1:8417")))?;
    let mut options = crate::serve::ServeOptions::new(listen);
    if let Some(www) = m.get_one::<String>("www") {
        options.www = PathBuf::from(www);
        if !options.www.join("index.html").is_file() {
            return Err(Error::usage(format!("--www {www}: no index.html there (it names the dashboard's files)")));
        }
    }
    if let Some(package) = m.get_one::<String>("package") {
        options.package = PathBuf::from(package);
    }
    // An installed binary has no checkout to find the dashboard in: say so, and serve the rest.
    if !options.www.join("index.html").is_file() {
        eprintln!(
            "vexil serve: no dashboard at {} (snapshots and streams are served; --www DIR names the dashboard's files)",
            options.www.display()
        );
    } else if !options.package.join("dist/vexil_bg.wasm").is_file() {
        eprintln!(
            "vexil serve: the dashboard needs the npm package built at {} (scripts/build-wasm.sh)",
            options.package.display()
        );
    }
    options.heartbeat = std::time::Duration::from_secs(*m.get_one::<u64>("heartbeat").expect("has default"));
    let config = p.config.clone();
    drop(p);
    crate::serve::serve(config, options, |address| {
        println!("vexil serve: http://{address}/ (dashboard), http://{address}/<environment>/latest.vxl, …/events");
        use std::io::Write;
        let _ = std::io::stdout().flush();
    })?;
    Ok(ExitCode::SUCCESS)
}

fn keygen(p: &Project, m: &ArgMatches) -> Result<ExitCode> {
    let path = p.config.signing_key.clone().unwrap_or_else(|| p.config.root.join(".vexil/signing.key"));
    if path.exists() && !m.get_flag("force") {
        return Err(Error::refused(format!(
            "{} exists; pass --force to replace it (its public key stays trusted)",
            path.display()
        )));
    }
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| Error::io(format!("no randomness for a key: {e}")))?;
    let key = vexil_core::SigningKey::from_seed(seed).ok_or_else(|| Error::io("the random source returned zeros"))?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).context(format!("cannot create {}", dir.display()))?;
    }
    {
        use std::os::unix::fs::OpenOptionsExt;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&path)
            .context(format!("cannot write {}", path.display()))?;
        writeln!(f, "{}", config::encode_key(&seed)).context(format!("cannot write {}", path.display()))?;
    }
    let public = config::encode_key(&key.public_key());
    let toml_path = p.config.root.join(config::FILE);
    let text = std::fs::read_to_string(&toml_path).context(format!("cannot read {}", toml_path.display()))?;
    let mut doc: toml_edit::DocumentMut =
        text.parse().map_err(|e| Error::refused(format!("{}: {e}", toml_path.display())))?;
    let rel = path.strip_prefix(&p.config.root).unwrap_or(&path).display().to_string();
    let signing = doc.entry("signing").or_insert(toml_edit::table());
    signing["key"] = toml_edit::value(rel);
    let keys = signing["public_keys"].or_insert(toml_edit::value(toml_edit::Array::new()));
    if let Some(arr) = keys.as_array_mut() {
        arr.push(public.clone());
    }
    std::fs::write(&toml_path, doc.to_string()).context(format!("cannot write {}", toml_path.display()))?;
    println!("Wrote {} (secret: keep it out of version control).", path.display());
    println!("Public key {public} is now trusted in vexil.toml; give it to SDKs as publicKeys.");
    println!("Run `vexil publish` to sign every environment's snapshot.");
    Ok(ExitCode::SUCCESS)
}
