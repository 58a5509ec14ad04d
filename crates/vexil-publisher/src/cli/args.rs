//! The command line's grammar (clap). The environment switches of `feature` commands
//! (`--staging --production`) come from vexil.toml, so the grammar is built after the
//! project is found; [`super::invocation`] turns what it matched into a typed request.

use crate::config::{self, Config};
use crate::plan::TARGET_OPTIONS;
use clap::{Arg, ArgAction, Command};

fn json_flag() -> Arg {
    Arg::new("json").long("json").action(ArgAction::SetTrue).help("Print JSON for scripts")
}

fn env_switches(cmd: Command, environments: &[String]) -> Command {
    environments.iter().cloned().fold(cmd, |cmd, name| {
        cmd.arg(
            Arg::new(format!("env:{name}"))
                .long(name.clone())
                .action(ArgAction::SetTrue)
                .help(format!("Apply to {name}"))
                .help_heading("Environments (default: the default environment)"),
        )
    })
}

fn author_arg() -> Arg {
    Arg::new("author").long("author").value_name("NAME").help("Who makes the change (default: git config, $USER)")
}

fn env_arg() -> Arg {
    Arg::new("env").long("env").value_name("NAME").help("The environment (default: the default environment)")
}

fn feature_command(environments: &[String]) -> Command {
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
        .arg(author_arg())
        .arg(json_flag());
    Command::new("feature")
        .about("Chatops-compatible flag commands")
        .subcommand_required(true)
        .subcommand(env_switches(set, environments))
        .subcommand(env_switches(
            Command::new("get").about("Show a flag's gates").arg(Arg::new("flag").required(true)).arg(json_flag()),
            environments,
        ))
        .subcommand(env_switches(
            Command::new("list")
                .about("List persisted flags, enabled and disabled")
                .arg(Arg::new("match").long("match").value_name("TEXT"))
                .arg(json_flag()),
            environments,
        ))
        .subcommand(env_switches(
            Command::new("delete")
                .about("Delete a flag's state: its YAML default applies again")
                .arg(Arg::new("flag").required(true))
                .arg(author_arg())
                .arg(json_flag()),
            environments,
        ))
}

fn eval_command() -> Command {
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
        .arg(json_flag())
}

fn serve_command() -> Command {
    Command::new("serve")
        .about("Serve snapshots, live update streams and the dashboard over HTTP; with --api, changes too")
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
                .help("Serve the dashboard from DIR instead of the copy built into vexil (for development)"),
        )
        .arg(Arg::new("package").long("package").value_name("DIR").hide(true))
        .arg(Arg::new("api").long("api").action(ArgAction::SetTrue).help(
            "Offer GitLab's Features API per environment (/<env>/api/v4/) and the remote CLI's, for token holders",
        ))
        .arg(
            Arg::new("heartbeat")
                .long("heartbeat")
                .value_name("SECONDS")
                .value_parser(clap::value_parser!(u64).range(1..=3600))
                .default_value("15")
                .help("Comment lines on idle event streams, so proxies keep them open"),
        )
        .arg(
            Arg::new("header-timeout")
                .long("header-timeout")
                .value_name("SECONDS")
                .value_parser(clap::value_parser!(u64).range(1..=300))
                .default_value("10")
                .help("Close a connection whose request headers take longer (slowloris)"),
        )
        .arg(
            Arg::new("max-connections")
                .long("max-connections")
                .value_name("N")
                .value_parser(clap::value_parser!(u32).range(1..=1_000_000))
                .default_value("10000")
                .help("Open connections at most (event streams included); more are closed at once"),
        )
        .arg(
            Arg::new("max-connections-per-client")
                .long("max-connections-per-client")
                .value_name("N")
                .value_parser(clap::value_parser!(u32).range(1..=1_000_000))
                .help("Open connections from one client address at most (default: no limit but --max-connections); set it where clients connect directly, not through a proxy or a NAT"),
        )
}

fn token_command() -> Command {
    Command::new("token")
        .about("API tokens for `vexil serve --api`: scoped to environments, stored hashed")
        .subcommand_required(true)
        .subcommand(
            Command::new("create")
                .about("Create a token and print it once")
                .arg(Arg::new("name").required(true).help("The author of every change made with it"))
                .arg(
                    Arg::new("environments")
                        .long("environments")
                        .value_name("LIST")
                        .required(true)
                        .help("Comma-separated environments; `*` is every one but production, which must be named"),
                )
                .arg(
                    Arg::new("read-only")
                        .long("read-only")
                        .action(ArgAction::SetTrue)
                        .help("Read state and the log only"),
                )
                .arg(Arg::new("expires-in").long("expires-in").value_name("DURATION").help("Such as 90d or 12h"))
                .arg(json_flag()),
        )
        .subcommand(Command::new("list").about("Every token, with its scope and status").arg(json_flag()))
        .subcommand(Command::new("revoke").about("Revoke a token").arg(Arg::new("name").required(true)))
}

fn rollout_command() -> Command {
    let flag = || Arg::new("flag").required(true).help("The flag whose plan (config/rollouts/<flag>.yml) runs");
    let moving =
        |name: &'static str, about: &'static str| Command::new(name).about(about).arg(flag()).arg(author_arg());
    Command::new("rollout")
        .about("Run a flag's rollout plan step by step: waits, approvals, guards read from Prometheus")
        .subcommand_required(true)
        .subcommand(
            Command::new("init")
                .about("Write GitLab's rollout template as the flag's plan")
                .arg(flag())
                .arg(Arg::new("wait").long("wait").value_name("DURATION").help("Between steps (default: [rollouts] min_wait)"))
                .arg(Arg::new("force").long("force").action(ArgAction::SetTrue).help("Replace an existing plan")),
        )
        .subcommand(moving("start", "Start the plan: its first step applies now if its guards are healthy"))
        .subcommand(
            Command::new("status")
                .about("Each rollout's steps, guard readings and outcome")
                .arg(Arg::new("flag").help("Only this flag's"))
                .arg(json_flag()),
        )
        .subcommand(moving("approve", "Approve the next step, which waits for it"))
        .subcommand(moving("pause", "Pause: no step applies until resume"))
        .subcommand(moving("resume", "Resume a paused rollout; the next step waits its full wait again"))
        .subcommand(moving("abort", "End the rollout; the flag stays as it is"))
        .subcommand(
            Command::new("tick")
                .about("Apply every due step of every running rollout, once (for cron and CI; safe to run anywhere at once)")
                .arg(json_flag()),
        )
}

/// The environment switches of a project: its environments, or GitLab's six without one.
pub fn environment_names(config: Option<&Config>) -> Vec<String> {
    match config {
        Some(c) => c.environments.iter().map(|e| e.name.clone()).collect(),
        None => config::GITLAB_ENVIRONMENTS.iter().map(|s| s.to_string()).collect(),
    }
}

/// The grammar, with a switch for each of `environments`.
pub fn command(environments: &[String]) -> Command {
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
                .arg(author_arg()),
        )
        .subcommand(Command::new("lint").about("Validate flag definitions as GitLab does").arg(json_flag()))
        .arg(
            Arg::new("remote")
                .long("remote")
                .value_name("URL")
                .global(true)
                .help("Run on a `vexil serve --api` (default: $VEXIL_URL), with the token in $VEXIL_TOKEN"),
        )
        .subcommand(feature_command(environments))
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
                .arg(author_arg())
                .arg(json_flag()),
        )
        .subcommand(Command::new("status").about("Each target's version against the database's").arg(json_flag()))
        .subcommand(
            Command::new("log")
                .about("The change log, newest first")
                .arg(Arg::new("flag"))
                .arg(env_arg())
                .arg(Arg::new("limit").long("limit").value_name("N").value_parser(clap::value_parser!(usize)))
                .arg(
                    Arg::new("verify")
                        .long("verify")
                        .action(ArgAction::SetTrue)
                        .conflicts_with_all(["flag", "limit"])
                        .help("Check the log's hash chain and every stored version (of --env) against it and the trusted keys"),
                )
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
                .arg(author_arg())
                .arg(json_flag()),
        )
        .subcommand(eval_command())
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
        .subcommand(serve_command())
        .subcommand(token_command())
        .subcommand(rollout_command())
        .subcommands(super::housekeeping::commands(json_flag, author_arg))
        .subcommand(
            Command::new("notifications")
                .about("Each notification sink's deliveries: delivered, pending, failing")
                .arg(
                    Arg::new("deliver")
                        .long("deliver")
                        .action(ArgAction::SetTrue)
                        .help("First deliver what is due to the sinks no `vexil serve` delivers to (for a cron job)"),
                )
                .arg(json_flag()),
        )
        .subcommand(
            Command::new("freshness")
                .about("Re-issue each target's freshness statement (run it from a schedule, well within [signing] freshness)")
                .arg(env_arg().action(ArgAction::Append)),
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

/// Words as a shell splits them: spaces separate, quotes group. For commands typed in chat
/// and written in rollout plans.
pub fn words(text: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut word = String::new();
    let mut quote: Option<char> = None;
    let mut started = false;
    for c in text.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => word.push(c),
            (None, '"' | '\'' | '“' | '”') => {
                quote = Some(if c == '“' { '”' } else { c });
                started = true;
            }
            (None, c) if c.is_whitespace() => {
                if started || !word.is_empty() {
                    out.push(std::mem::take(&mut word));
                    started = false;
                }
            }
            (None, c) => word.push(c),
        }
    }
    if quote.is_some() {
        return Err("a quote is not closed".into());
    }
    if started || !word.is_empty() {
        out.push(word);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_split_as_a_shell_would() {
        assert_eq!(
            words("feature set `my_flag` 25 --actors").unwrap(),
            ["feature", "set", "`my_flag`", "25", "--actors"]
        );
        assert_eq!(words("a 'b c' \"\" d").unwrap(), ["a", "b c", "", "d"]);
        assert!(words("a 'b").is_err());
    }
}
