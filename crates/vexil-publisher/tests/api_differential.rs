//! The write API and the CLI are one path: random `feature set`/`delete` commands, each given
//! to one project through the CLI and to another through GitLab's Features API, are accepted
//! or refused alike and leave the same state and the same change log — on SQLite and on
//! PostgreSQL.

mod support;

#[path = "../../vexil-core/tests/support/rng.rs"]
mod rng;

use rng::Rng;
use support::api::{token, ApiServer};
use support::servers::Postgres;
use support::TestProject;

const FLAGS: [&str; 3] = ["new_navigation_bar", "ops_switch", "undefined_thing"];
const ENVIRONMENTS: [&str; 3] = ["dev", "staging", "production"];
const VALUES: [&str; 9] = ["true", "false", "0", "100", "25", "50.5", "opt_out", "remove_opt_out", "banana"];

/// One command, as CLI arguments and as the API's method, path and form.
#[derive(Debug)]
struct Command {
    cli: Vec<String>,
    method: &'static str,
    env: &'static str,
    flag: &'static str,
    form: Vec<(String, String)>,
}

fn random_command(rng: &mut Rng) -> Command {
    let env = *rng.pick(&ENVIRONMENTS);
    let flag = *rng.pick(&FLAGS);
    if rng.chance(15) {
        return Command {
            cli: vec!["feature".into(), "delete".into(), flag.into(), format!("--{env}")],
            method: "DELETE",
            env,
            flag,
            form: vec![],
        };
    }
    let value = *rng.pick(&VALUES);
    let mut cli: Vec<String> = vec!["feature".into(), "set".into(), flag.into(), value.into(), format!("--{env}")];
    let mut form = vec![("value".to_string(), value.to_string())];
    // GitLab's API has no `--random`: a bare number is a percentage of time. So `--random`
    // comes without targets here, where the two mean the same.
    let mode = rng.below(3);
    match mode {
        0 => {}
        1 => {
            cli.push("--actors".into());
            form.push(("key".into(), "percentage_of_actors".into()));
        }
        _ => {
            cli.extend(["--random".into(), "--ignore-random-deprecation-check".into()]);
            form.push(("ignore_random_deprecation_check".into(), "true".into()));
        }
    }
    for (option, ids) in [
        ("user", ["1", "2"]),
        ("project", ["7", "gitlab-org/gitlab"]),
        ("feature_group", ["gitlab_team_members", "gitlab_team_members"]),
    ] {
        if mode != 2 && rng.chance(25) {
            let list = if rng.chance(50) { ids[0].to_string() } else { ids.join(",") };
            cli.push(format!("--{}={list}", option.replace('_', "-")));
            form.push((option.into(), list));
        }
    }
    if rng.chance(30) {
        cli.push("--ignore-feature-flag-consistency-check".into());
        form.push(("ignore_feature_flag_consistency_check".into(), "true".into()));
    }
    if flag == "undefined_thing" && rng.chance(70) {
        cli.push("--force".into());
        form.push(("force".into(), "true".into()));
    }
    Command { cli, method: "POST", env, flag, form }
}

fn form_text(form: &[(String, String)]) -> String {
    form.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("&")
}

/// What the changes of `env` were, without who, when and how.
fn records(p: &TestProject, env: &str) -> Vec<serde_json::Value> {
    let log = p.json(&["log", "--env", env]);
    log.as_array()
        .unwrap()
        .iter()
        .map(|c| serde_json::json!([c["version"], c["flag"], c["action"], c["before"], c["after"]]))
        .collect()
}

fn differential(cli: &TestProject, served: &TestProject, steps: usize) {
    for p in [cli, served] {
        p.define("ops_switch", "ops", true);
        p.ok(&["publish"]);
    }
    let api = ApiServer::start(served);
    let token = token(served, "differential", &["--environments", "*,production"]);
    let seed = std::env::var("VEXIL_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64
    });
    eprintln!("api differential: seed {seed} (VEXIL_SEED={seed} replays it)");
    let mut rng = Rng(seed);
    let (mut accepted, mut refused) = (0, 0);
    for step in 0..steps {
        let command = random_command(&mut rng);
        let args: Vec<&str> = command.cli.iter().map(String::as_str).collect();
        let by_cli = cli.run(&args);
        let path = format!("/{}/api/v4/features/{}", command.env, command.flag);
        let by_api = api.request(command.method, &path, Some(&token), &form_text(&command.form));
        let api_ok = matches!(by_api.status, 201 | 204);
        assert!(
            by_api.status < 500,
            "step {step} (seed {seed}): {command:?}: the API failed: {}",
            String::from_utf8_lossy(&by_api.body)
        );
        assert_eq!(
            by_cli.status.success(),
            api_ok,
            "step {step} (seed {seed}): {command:?}\nCLI: {}\nAPI {}: {}",
            String::from_utf8_lossy(&by_cli.stderr),
            by_api.status,
            String::from_utf8_lossy(&by_api.body)
        );
        if api_ok {
            accepted += 1;
        } else {
            refused += 1;
        }
    }
    eprintln!("api differential: {accepted} accepted, {refused} refused, by both alike");
    assert!(accepted > steps / 5 && refused > steps / 10, "the commands explore too little: {accepted}/{refused}");
    for env in ENVIRONMENTS {
        assert_eq!(records(cli, env), records(served, env), "{env}: the change logs differ (seed {seed})");
        for flag in FLAGS {
            let get = |p: &TestProject| p.json(&["feature", "get", flag, &format!("--{env}")]);
            assert_eq!(get(cli), get(served), "{env} {flag} (seed {seed})");
        }
    }
}

#[test]
fn cli_and_api_agree_on_sqlite() {
    differential(&TestProject::new(), &TestProject::new(), 250);
}

#[test]
fn cli_and_api_agree_on_postgres() {
    let pg = Postgres::start();
    differential(&TestProject::on_postgres(&pg), &TestProject::on_postgres(&pg), 150);
}
