//! `vexil feature set/delete` against GitLab's own mutation rules on real Flipper
//! (tests/oracle/gitlab_mutations.rb): the same random sequence of at least 2,000 commands
//! (fresh seed each run, printed; `VEXIL_SEED` replays, `VEXIL_MUTATIONS` scales) goes to
//! both; every command must be accepted or refused alike, and evaluations for random actors
//! must agree throughout. On SQLite and on PostgreSQL state.

mod support;

use serde_json::{json, Value as Json};
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use support::servers::Postgres;
use support::TestProject;

#[path = "../../vexil-core/tests/support/rng.rs"]
mod rng;
use rng::Rng;

struct Oracle {
    stdin: std::process::ChildStdin,
    stdout: BufReader<std::process::ChildStdout>,
}

impl Oracle {
    fn ask(&mut self, cmd: Json) -> Json {
        writeln!(self.stdin, "{cmd}").unwrap();
        let mut line = String::new();
        self.stdout.read_line(&mut line).unwrap();
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("oracle said {line:?}: {e}"))
    }
}

const FLAGS: [&str; 2] = ["alpha", "omega"];
const ENVS: [&str; 2] = ["dev", "staging"];

fn percentage(rng: &mut Rng) -> String {
    if rng.below(2) == 0 {
        rng.pick(&["1", "10", "25", "50", "2.007", "33.333", "99.999", "0.001"]).to_string()
    } else {
        vexil_core::Percentage::from_thousandths(rng.below(100_001) as u32).unwrap().to_string()
    }
}

#[test]
fn sqlite_mutations_agree_with_gitlab_on_flipper() {
    mutations_agree_with_gitlab_on_flipper(TestProject::new());
}

#[test]
fn postgres_mutations_agree_with_gitlab_on_flipper() {
    let pg = Postgres::start();
    mutations_agree_with_gitlab_on_flipper(TestProject::on_postgres(&pg));
}

fn mutations_agree_with_gitlab_on_flipper(p: TestProject) {
    let seed = std::env::var("VEXIL_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64
    });
    let total: usize = std::env::var("VEXIL_MUTATIONS").ok().and_then(|s| s.parse().ok()).unwrap_or(2000);
    eprintln!("mutations differential: seed {seed} (VEXIL_SEED={seed} replays it), {total} mutations");
    let mut rng = Rng(seed);

    p.define("alpha", "beta", false);
    p.define("omega", "ops", true);
    p.ok(&["publish"]);

    let mut child = Command::new("ruby")
        .arg(support::repo_root().join("tests/oracle/gitlab_mutations.rb"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("ruby with ruby-flipper");
    let mut oracle =
        Oracle { stdin: child.stdin.take().unwrap(), stdout: BufReader::new(child.stdout.take().unwrap()) };
    oracle.ask(json!({"op": "defaults", "defaults": {"alpha": false, "omega": true}}));

    let people: Vec<String> = (0..6).map(|i| format!("{i}")).collect();
    let (mut accepted, mut refused, mut evaluations) = (0, 0, 0);
    for step in 0..total {
        let env = *rng.pick(&ENVS);
        let flag = *rng.pick(&FLAGS);
        let mut args: Vec<String> = vec!["feature".into(), "set".into(), flag.into()];
        let (value, key, targets): (String, Json, Vec<Json>) = match rng.below(10) {
            0 => ("true".into(), Json::Null, vec![]),
            1 => ("false".into(), Json::Null, vec![]),
            2 => {
                args.push("--actors".into());
                (percentage(&mut rng), json!("percentage_of_actors"), vec![])
            }
            3 => {
                args.extend(["--random".into(), "--ignore-random-deprecation-check".into()]);
                (percentage(&mut rng), json!("percentage_of_time"), vec![])
            }
            4 => {
                args[1] = "delete".into();
                args.push(format!("--{env}"));
                let out = p.run(&args.iter().map(String::as_str).collect::<Vec<_>>());
                assert!(out.status.success(), "step {step}: {args:?}: {}", support::stderr(&out));
                oracle.ask(json!({"op": "delete", "env": env, "flag": flag}));
                accepted += 1;
                continue;
            }
            _ => {
                let value = rng.pick(&["true", "false", "opt_out", "remove_opt_out", "100", "0"]).to_string();
                let mut targets = Vec::new();
                for _ in 0..rng.below(2) + 1 {
                    match rng.below(4) {
                        0 => {
                            args.push("--feature-group=gitlab_team_members".into());
                            targets.push(json!(["feature_group", "gitlab_team_members"]));
                        }
                        1 => {
                            let id = rng.pick(&people).clone();
                            args.push(format!("--project={id}"));
                            targets.push(json!(["actor", format!("Project:{id}")]));
                        }
                        _ => {
                            let id = rng.pick(&people).clone();
                            args.push(format!("--user={id}"));
                            targets.push(json!(["actor", format!("User:{id}")]));
                        }
                    }
                }
                // GitLab applies targets in a fixed order: feature groups, then users, then
                // projects.
                targets.sort_by_key(|t| match t[0].as_str() {
                    Some("feature_group") => 0,
                    _ if t[1].as_str().is_some_and(|s| s.starts_with("User:")) => 1,
                    _ => 2,
                });
                (value, Json::Null, targets)
            }
        };
        args.insert(3, value.clone());
        args.push(format!("--{env}"));
        args.push("--ignore-feature-flag-consistency-check".into());
        let out = p.run(&args.iter().map(String::as_str).collect::<Vec<_>>());
        let gitlab =
            oracle.ask(json!({"op": "set", "env": env, "flag": flag, "value": value, "key": key, "targets": targets}));
        let gitlab_ok = gitlab["ok"].as_bool().unwrap();
        assert_eq!(
            out.status.success(),
            gitlab_ok,
            "step {step} (seed {seed}): {args:?}\nvexil: {}\ngitlab: {gitlab}",
            support::stderr(&out)
        );
        if !gitlab_ok {
            refused += 1;
        } else {
            accepted += 1;
        }

        if step % 25 == 24 || step + 1 == total {
            for env in ENVS {
                for flag in FLAGS {
                    let mut lines = String::new();
                    let mut cases = Vec::new();
                    for _ in 0..20 {
                        let actors: Vec<Json> = match rng.below(6) {
                            0 => vec![],
                            1 => vec![
                                json!({"id": format!("User:{}", rng.below(100)), "properties": {"team": "gitlab"}}),
                            ],
                            2 => vec![json!(format!("User:{}", rng.below(100_000)))],
                            3 => vec![
                                json!(format!("User:{}", rng.pick(&people))),
                                json!(format!("Project:{}", rng.pick(&people))),
                            ],
                            _ => vec![json!(format!("{}:{}", rng.pick(&["User", "Project"]), rng.pick(&people)))],
                        };
                        let random = rng.unit();
                        lines.push_str(&format!("{}\n", json!({"flag": flag, "actors": actors, "random": random})));
                        cases.push((actors, random));
                    }
                    let mut eval = p
                        .command(&["eval", "--batch", "--env", env])
                        .stdin(Stdio::piped())
                        .stdout(Stdio::piped())
                        .spawn()
                        .unwrap();
                    eval.stdin.take().unwrap().write_all(lines.as_bytes()).unwrap();
                    let out = eval.wait_with_output().unwrap();
                    let answers: Vec<Json> = String::from_utf8(out.stdout)
                        .unwrap()
                        .lines()
                        .map(|l| serde_json::from_str(l).unwrap())
                        .collect();
                    assert_eq!(answers.len(), cases.len());
                    for ((actors, random), answer) in cases.iter().zip(&answers) {
                        let gitlab = oracle
                            .ask(json!({"op": "eval", "env": env, "flag": flag, "actors": actors, "random": random}));
                        if answer["enabled"] != gitlab["enabled"] {
                            let state = p.ok(&["feature", "get", flag, &format!("--{env}"), "--json"]);
                            let log = p.ok(&["log", flag, "--env", env, "--limit", "8"]);
                            let theirs = oracle.ask(json!({"op": "state", "env": env, "flag": flag}));
                            panic!("after step {step} (seed {seed}): {env} {flag} {actors:?} random {random}: vexil {answer}, GitLab {gitlab}\nstate: {state}\nGitLab state: {theirs}\nlog:\n{log}");
                        }
                        evaluations += 1;
                    }
                }
            }
        }
    }
    drop(oracle);
    let _ = child.wait();
    eprintln!("mutations differential: {accepted} accepted, {refused} refused alike, {evaluations} evaluations agreed");
    assert!(refused > 0 && accepted > total / 2);
}
