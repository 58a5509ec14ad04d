//! The remote CLI: with `VEXIL_URL` and `VEXIL_TOKEN`, and no database credentials or
//! checkout, `vexil feature …`, `log`, `status` and `rollback` print what the local CLI
//! prints and exit as it exits.

mod support;

use support::api::{token, ApiServer};
use support::TestProject;

const FLAG: &str = "new_navigation_bar";

const ROLLOUT: &[&[&str]] = &[
    &["feature", "set", FLAG, "50", "--actors", "--dev", "--pre", "--staging", "--staging-ref"],
    &["feature", "get", FLAG, "--dev", "--staging"],
    &["feature", "set", FLAG, "true", "--dev", "--pre", "--staging", "--staging-ref"],
    &["feature", "set", FLAG, "true", "--project=gitlab-org/gitlab,7", "--production"],
    &["feature", "set", FLAG, "true", "--group=9970", "--user=1", "--feature-group=gitlab_team_members", "--json"],
    &["feature", "set", FLAG, "25", "--actors"],
    &["feature", "list"],
    &["feature", "list", "--match", "new", "--json", "--dev"],
    &["feature", "set", FLAG, "25"],
    &["feature", "set", "nope_flag", "true"],
    &["feature", "set", FLAG, "false", "--staging"],
    &["feature", "set", FLAG, "true", "--user=1:opt_out"],
    &["feature", "set", FLAG, "true"],
    &["rollback", "--env", "production", "--steps", "1"],
    &["rollback", "--env", "production", "--to", "2", "--json"],
    &["rollback", "--env", "production", "--to", "99"],
    &["feature", "delete", FLAG, "--dev", "--pre", "--staging", "--staging-ref", "--production"],
    &["feature", "get", FLAG, "--json"],
    &["feature", "get", FLAG],
    &["status"],
    &["status", "--json"],
];

#[test]
fn the_remote_cli_prints_and_exits_as_the_local_one() {
    let local = TestProject::new();
    let served = TestProject::new();
    let api = ApiServer::start(&served);
    let token = token(&served, "release-manager", &["--environments", "*,production"]);
    let elsewhere = tempfile::tempdir().unwrap();
    let remote = |args: &[&str]| {
        let env = [("VEXIL_URL", api.url()), ("VEXIL_TOKEN", token.clone())];
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        support::run_env(elsewhere.path(), args, &env)
    };
    for args in ROLLOUT {
        let (here, there) = (local.run(args), remote(args));
        let text = |o: &std::process::Output| {
            (
                o.status.code(),
                String::from_utf8_lossy(&o.stdout).into_owned(),
                String::from_utf8_lossy(&o.stderr).into_owned(),
            )
        };
        assert_eq!(text(&here), text(&there), "vexil {args:?}: local (left) and remote (right) differ");
    }
    // The same log, but for who made the changes and through which entry point.
    let strip = |log: serde_json::Value| -> Vec<serde_json::Value> {
        log.as_array()
            .unwrap()
            .iter()
            .map(|c| {
                serde_json::json!([c["environment"], c["version"], c["flag"], c["action"], c["before"], c["after"]])
            })
            .collect()
    };
    let remote_log: serde_json::Value = serde_json::from_slice(&remote(&["log", "--json"]).stdout).unwrap();
    assert_eq!(strip(local.json(&["log"])), strip(remote_log.clone()));
    let newest = &remote_log[0];
    assert_eq!((newest["author"].as_str(), newest["via"].as_str()), (Some("release-manager"), Some("api")));
    assert!(newest["command"].as_str().unwrap().starts_with("vexil feature delete"), "{newest}");

    // Commands that need the project itself say so; a bad token is refused, changing nothing.
    let lint = remote(&["lint"]);
    assert_eq!(lint.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&lint.stderr).contains("not on a remote"));
    let before = served.fingerprint();
    let url = api.url();
    let env = [("VEXIL_URL", url.as_str()), ("VEXIL_TOKEN", "vxl_wrong")];
    let wrong = support::run_env(elsewhere.path(), &["feature", "set", FLAG, "true", "--dev"], &env);
    assert_eq!(wrong.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&wrong.stderr).contains("refused the token in VEXIL_TOKEN"));
    assert!(!String::from_utf8_lossy(&wrong.stderr).contains("vxl_wrong"), "the token is never echoed");
    assert_eq!(before, served.fingerprint());
}
