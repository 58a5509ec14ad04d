//! The command line's grammar (clap), and its translation into a typed [`Invocation`]: raw
//! arguments in, a request the library understands out. The environment switches of
//! `feature` commands (`--staging --production`) come from vexil.toml, so the grammar is
//! built after the project is found.

use crate::config::{self, Config};
use crate::error::{Error, Result};
use crate::plan::{self, targets_from_option, Request, RollbackTo, SetOptions, SetRequest, TARGET_OPTIONS};
use crate::store::LogFilter;
use clap::{Arg, ArgAction, ArgMatches, Command};
use std::path::PathBuf;
use vexil_core::AudienceKind;

/// What the command line asks for.
#[derive(Clone, Debug, PartialEq)]
pub enum Invocation {
    /// `vexil lint`.
    Lint,
    /// A change: `feature set`, `feature delete`, `publish`, `rollback`.
    Change {
        /// The request.
        request: Request,
        /// `publish --repair`: rewrite targets holding corrupt or foreign snapshots.
        repair: bool,
    },
    /// `feature get`.
    FeatureGet {
        /// The flag.
        flag: String,
        /// The environments named (none: the default environment).
        environments: Vec<String>,
    },
    /// `feature list`.
    FeatureList {
        /// Only flags whose name contains this.
        pattern: String,
        /// The environments named (none: the default environment).
        environments: Vec<String>,
    },
    /// `vexil status`.
    Status,
    /// `vexil log`.
    Log(LogFilter),
    /// `vexil eval`.
    Eval(EvalArgs),
    /// `vexil inspect`.
    Inspect(SnapshotSource),
    /// `vexil snapshot`.
    Snapshot {
        /// The environment (none: the default one).
        environment: Option<String>,
        /// Full or browser snapshot.
        audience: AudienceKind,
        /// Where to write it (none or `-`: standard output).
        output: Option<PathBuf>,
    },
    /// `vexil migrate --to URL`.
    Migrate {
        /// The PostgreSQL URL.
        to: String,
    },
    /// `vexil serve`.
    Serve(ServeArgs),
    /// `vexil keygen`.
    Keygen {
        /// Replace an existing key.
        force: bool,
    },
    /// `vexil token create`.
    TokenCreate {
        /// Its name: the author of its changes.
        name: String,
        /// Its environments (`*`: all but production).
        environments: Vec<String>,
        /// Whether it may change flags (else read only).
        write: bool,
        /// `--expires-in`.
        expires_in: Option<std::time::Duration>,
    },
    /// `vexil token list`.
    TokenList,
    /// `vexil token revoke NAME`.
    TokenRevoke {
        /// The token's name.
        name: String,
    },
}

/// Where `eval` and `inspect` read a snapshot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SnapshotSource {
    /// A file.
    File(PathBuf),
    /// An environment's newest version (none: the default environment).
    Environment(Option<String>),
}

/// `vexil eval`'s arguments.
#[derive(Clone, Debug, PartialEq)]
pub struct EvalArgs {
    /// The snapshot.
    pub source: SnapshotSource,
    /// The flag (none with `--batch`).
    pub flag: Option<String>,
    /// `--actor` ids.
    pub actors: Vec<String>,
    /// `--property KEY=VALUE`, for every actor.
    pub properties: Vec<(String, String)>,
    /// `--random`.
    pub random: Option<f64>,
    /// `--now`.
    pub now: Option<i64>,
    /// `--batch`: JSON lines on standard input.
    pub batch: bool,
}

/// `vexil serve`'s arguments.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServeArgs {
    /// `--listen`.
    pub listen: String,
    /// `--www`: the dashboard from this directory instead of the binary.
    pub www: Option<PathBuf>,
    /// `--package`: the npm package from this directory instead of the binary.
    pub package: Option<PathBuf>,
    /// `--heartbeat`, seconds.
    pub heartbeat: u64,
    /// `--api`: offer the write API.
    pub api: bool,
}

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
        .subcommand(
            Command::new("keygen").about("Create a signing key and trust it in vexil.toml").arg(
                Arg::new("force")
                    .long("force")
                    .action(ArgAction::SetTrue)
                    .help("Replace an existing key (rotation: the old public key stays trusted)"),
            ),
        )
}

fn string(m: &ArgMatches, id: &str) -> Option<String> {
    m.try_get_one::<String>(id).ok().flatten().cloned()
}

/// The environments whose switches are set.
fn switched_environments(environments: &[String], m: &ArgMatches) -> Vec<String> {
    environments.iter().filter(|e| m.get_flag(&format!("env:{e}"))).cloned().collect()
}

/// The typed invocation of a parsed command line (not `init`, which runs before a project
/// exists).
pub fn invocation(name: &str, m: &ArgMatches, environments: &[String]) -> Result<Invocation> {
    Ok(match name {
        "lint" => Invocation::Lint,
        "feature" => feature(m, environments)?,
        "publish" => Invocation::Change {
            request: Request::Publish {
                environments: m.get_many::<String>("env").into_iter().flatten().cloned().collect(),
            },
            repair: m.get_flag("repair"),
        },
        "status" => Invocation::Status,
        "log" => Invocation::Log(LogFilter {
            environment: string(m, "env"),
            flag: string(m, "flag"),
            after_id: None,
            limit: m.get_one::<usize>("limit").copied(),
        }),
        "rollback" => {
            let to = match (m.get_one::<u64>("to"), m.get_one::<u64>("steps")) {
                (Some(v), _) => RollbackTo::Version(*v),
                (None, Some(n)) => RollbackTo::StepsBack(*n),
                (None, None) => return Err(Error::usage("rollback needs --to VERSION or --steps N")),
            };
            let environment = string(m, "env").expect("required");
            Invocation::Change { request: Request::Rollback { environment, to }, repair: false }
        }
        "eval" => Invocation::Eval(eval(m)?),
        "inspect" => Invocation::Inspect(source(m, "file")),
        "snapshot" => Invocation::Snapshot {
            environment: string(m, "env"),
            audience: string(m, "audience").and_then(|a| AudienceKind::from_name(&a)).unwrap_or_default(),
            output: string(m, "output").filter(|o| o != "-").map(PathBuf::from),
        },
        "migrate" => Invocation::Migrate { to: string(m, "to").expect("required") },
        "serve" => Invocation::Serve(ServeArgs {
            listen: string(m, "listen").expect("has default"),
            www: string(m, "www").map(PathBuf::from),
            package: string(m, "package").map(PathBuf::from),
            heartbeat: *m.get_one::<u64>("heartbeat").expect("has default"),
            api: m.get_flag("api"),
        }),
        "keygen" => Invocation::Keygen { force: m.get_flag("force") },
        "token" => {
            let (sub, m) = m.subcommand().expect("subcommand_required");
            match sub {
                "create" => Invocation::TokenCreate {
                    name: string(m, "name").expect("required"),
                    environments: string(m, "environments")
                        .expect("required")
                        .split(',')
                        .map(|e| e.trim().to_string())
                        .filter(|e| !e.is_empty())
                        .collect(),
                    write: !m.get_flag("read-only"),
                    expires_in: string(m, "expires-in").map(|t| crate::tokens::expires_in(&t)).transpose()?,
                },
                "list" => Invocation::TokenList,
                _ => Invocation::TokenRevoke { name: string(m, "name").expect("required") },
            }
        }
        other => unreachable!("subcommand {other} is handled"),
    })
}

fn feature(m: &ArgMatches, environments: &[String]) -> Result<Invocation> {
    let (name, sub) = m.subcommand().expect("subcommand_required");
    let named = switched_environments(environments, sub);
    let flag = || plan::flag_name(&string(sub, "flag").expect("required"));
    Ok(match name {
        "set" => {
            let mut targets = Vec::new();
            for (option, kind) in TARGET_OPTIONS {
                for list in sub.get_many::<String>(option).into_iter().flatten() {
                    targets.extend(targets_from_option(option, kind, list)?);
                }
            }
            let set = SetRequest::new(
                flag(),
                string(sub, "value").expect("required"),
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
            Invocation::Change { request: Request::Set { set, environments: named, options }, repair: false }
        }
        "delete" => {
            Invocation::Change { request: Request::Delete { flag: flag(), environments: named }, repair: false }
        }
        "get" => Invocation::FeatureGet { flag: flag(), environments: named },
        "list" => Invocation::FeatureList { pattern: string(sub, "match").unwrap_or_default(), environments: named },
        other => unreachable!("feature {other} is handled"),
    })
}

fn source(m: &ArgMatches, file: &str) -> SnapshotSource {
    match string(m, file) {
        Some(f) => SnapshotSource::File(PathBuf::from(f)),
        None => SnapshotSource::Environment(string(m, "env")),
    }
}

fn eval(m: &ArgMatches) -> Result<EvalArgs> {
    let random = m.get_one::<f64>("random").copied();
    if let Some(r) = random {
        if !(0.0..1.0).contains(&r) {
            return Err(Error::usage(format!("--random {r}: the draw must be in [0, 1)")));
        }
    }
    let mut properties = Vec::new();
    for kv in m.get_many::<String>("property").into_iter().flatten() {
        let (k, v) =
            kv.split_once('=').ok_or_else(|| Error::usage(format!("--property {kv:?}: expected KEY=VALUE")))?;
        properties.push((k.to_string(), v.to_string()));
    }
    let actors: Vec<String> = m.get_many::<String>("actor").into_iter().flatten().cloned().collect();
    let batch = m.get_flag("batch");
    if !batch && actors.is_empty() && !properties.is_empty() {
        return Err(Error::usage("--property needs an --actor to belong to"));
    }
    Ok(EvalArgs {
        source: source(m, "snapshot"),
        flag: string(m, "flag"),
        actors,
        properties,
        random,
        now: m.get_one::<i64>("now").copied(),
        batch,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::config;

    fn parse(args: &[&str]) -> Result<Invocation> {
        let names = environment_names(Some(&config()));
        let argv: Vec<&str> = std::iter::once("vexil").chain(args.iter().copied()).collect();
        let matches = command(&names).try_get_matches_from(argv).map_err(|e| Error::usage(e.to_string()))?;
        let (name, sub) = matches.subcommand().unwrap();
        invocation(name, sub, &names)
    }

    #[test]
    fn arguments_become_typed_requests() {
        let Invocation::Change { request: Request::Set { set, environments, options }, .. } =
            parse(&["feature", "set", "`my_flag`", "25", "--actors", "--production", "--staging", "--force"]).unwrap()
        else {
            panic!("a set");
        };
        assert_eq!(set.flag, "my_flag", "chatops strips Slack's backticks");
        assert_eq!(environments, ["staging", "production"], "vexil.toml's order");
        assert!(options.force && !options.ignore_consistency_check);
        let Invocation::Change { request, .. } = parse(&["rollback", "--env", "dev", "--steps", "2"]).unwrap() else {
            panic!("a rollback");
        };
        assert_eq!(request, Request::Rollback { environment: "dev".into(), to: RollbackTo::StepsBack(2) });
        assert_eq!(
            parse(&["feature", "get", "f", "--dev"]).unwrap(),
            Invocation::FeatureGet { flag: "f".into(), environments: vec!["dev".into()] }
        );
    }

    #[test]
    fn bad_arguments_are_usage_errors() {
        for (args, needle) in [
            (&["rollback", "--env", "dev"][..], "needs --to VERSION or --steps N"),
            (&["eval", "f", "--random", "1.5"][..], "the draw must be in [0, 1)"),
            (&["eval", "f", "--property", "team"][..], "expected KEY=VALUE"),
            (&["eval", "f", "--property", "team=x"][..], "needs an --actor"),
            (&["feature", "set", "f", "25"][..], "One of `--actors` or `--random`"),
        ] {
            let e = parse(args).unwrap_err();
            assert_eq!(e.kind(), crate::error::ErrorKind::Usage, "{args:?}: {e}");
            assert!(e.to_string().contains(needle), "{args:?}: {e}");
        }
    }
}
