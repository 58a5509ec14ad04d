//! What the command line asks for, typed: the arguments clap matched (the grammar is
//! [`super::args`]) translated into a request the library understands. Chat parses its
//! commands with the same grammar and translation.

use crate::error::{Error, Result};
use crate::plan::{self, targets_from_option, Request, RollbackTo, SetOptions, SetRequest, TARGET_OPTIONS};
use crate::store::LogFilter;
use clap::ArgMatches;
use std::path::PathBuf;
use vexil_core::AudienceKind;

/// `vexil rollout …`.
#[derive(Clone, Debug, PartialEq)]
pub enum RolloutCommand {
    /// `init FLAG [--wait D] [--force]`.
    Init {
        /// The flag.
        flag: String,
        /// The wait between steps.
        wait: Option<std::time::Duration>,
        /// Replace an existing plan.
        force: bool,
    },
    /// `start|approve|pause|resume|abort FLAG`.
    Move {
        /// `start`, `approve`, `pause`, `resume` or `abort`.
        verb: String,
        /// The flag.
        flag: String,
    },
    /// `status [FLAG]`.
    Status {
        /// Only this flag's.
        flag: Option<String>,
    },
    /// `tick`.
    Tick,
}

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
    /// `vexil log --verify`: the environment whose versions are checked (none: all).
    VerifyLog(Option<String>),
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
    /// `vexil freshness`: re-issue the freshness statements on every target.
    Freshness {
        /// Only these environments (none: all).
        environments: Vec<String>,
    },
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
    /// `vexil rollout …`.
    Rollout(RolloutCommand),
    /// `vexil stale`, `vexil refs`, `vexil cleanup`.
    Housekeeping(super::housekeeping::HousekeepingCommand),
    /// `vexil notifications [--deliver]`.
    Notifications {
        /// Deliver what is due first.
        deliver: bool,
    },
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
    /// `--header-timeout`, seconds.
    pub header_timeout: u64,
    /// `--max-connections`.
    pub max_connections: u32,
    /// `--max-connections-per-client`.
    pub max_connections_per_client: Option<u32>,
    /// `--api`: offer the write API.
    pub api: bool,
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
pub fn from_matches(name: &str, m: &ArgMatches, environments: &[String]) -> Result<Invocation> {
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
        "log" if m.get_flag("verify") => Invocation::VerifyLog(string(m, "env")),
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
            header_timeout: *m.get_one::<u64>("header-timeout").expect("has default"),
            max_connections: *m.get_one::<u32>("max-connections").expect("has default"),
            max_connections_per_client: m.get_one::<u32>("max-connections-per-client").copied(),
            api: m.get_flag("api"),
        }),
        "keygen" => Invocation::Keygen { force: m.get_flag("force") },
        "freshness" => Invocation::Freshness {
            environments: m.get_many::<String>("env").map(|v| v.cloned().collect()).unwrap_or_default(),
        },
        "notifications" => Invocation::Notifications { deliver: m.get_flag("deliver") },
        "stale" | "refs" | "cleanup" => {
            Invocation::Housekeeping(super::housekeeping::from_matches(name, m).expect("one of its commands"))
        }
        "rollout" => {
            let (sub, m) = m.subcommand().expect("subcommand_required");
            let flag = || plan::flag_name(&string(m, "flag").unwrap_or_default());
            Invocation::Rollout(match sub {
                "init" => RolloutCommand::Init {
                    flag: flag(),
                    wait: string(m, "wait")
                        .map(|t| crate::duration::parse(&t).map_err(|e| Error::usage(format!("--wait: {e}"))))
                        .transpose()?,
                    force: m.get_flag("force"),
                },
                "status" => RolloutCommand::Status { flag: string(m, "flag").map(|f| plan::flag_name(&f)) },
                "tick" => RolloutCommand::Tick,
                verb => RolloutCommand::Move { verb: verb.to_string(), flag: flag() },
            })
        }
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
    use crate::cli::args::{command, environment_names};
    use crate::testing::config;

    fn parse(args: &[&str]) -> Result<Invocation> {
        let names = environment_names(Some(&config()));
        let argv: Vec<&str> = std::iter::once("vexil").chain(args.iter().copied()).collect();
        let matches = command(&names).try_get_matches_from(argv).map_err(|e| Error::usage(e.to_string()))?;
        let (name, sub) = matches.subcommand().unwrap();
        from_matches(name, sub, &names)
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
