//! The `vexil` command end to end: chatops semantics and rules, atomicity, the change log,
//! rollback, publish, eval, inspect, signing, status.

mod support;

use support::TestProject;

const FLAG: &str = "new_navigation_bar";

#[test]
fn init_publishes_version_one_everywhere() {
    let p = TestProject::new();
    for env in ["dev", "staging", "staging-ref", "ops", "pre", "production"] {
        let dir = p.path().join("public").join(env);
        let latest = std::fs::read(dir.join("latest.vxl")).unwrap();
        assert_eq!(latest, std::fs::read(dir.join("v/1.vxl")).unwrap());
        assert_eq!(p.version(env), 1);
    }
    assert!(p.ok(&["lint"]).contains("1 definitions, 0 errors"));
    p.fails(&["init", "."], 1, "already exists");
}

#[test]
fn gitlab_rollout_template() {
    let p = TestProject::new();
    p.ok(&["feature", "set", FLAG, "50", "--actors", "--dev", "--pre", "--staging", "--staging-ref"]);
    assert_eq!(p.version("staging"), 2);
    assert_eq!(p.version("production"), 1, "production untouched");
    // Percentages are sticky: the same actors stay in as the percentage grows.
    let in_at_50: Vec<bool> = (0..40).map(|i| p.eval("staging", FLAG, &format!("User:{i}")).0).collect();
    assert!(in_at_50.iter().any(|&b| b) && in_at_50.iter().any(|&b| !b));

    p.ok(&["feature", "set", FLAG, "true", "--dev", "--pre", "--staging", "--staging-ref"]);
    p.ok(&["feature", "set", FLAG, "true", "--project=gitlab-org/gitlab,7", "--production"]);
    p.ok(&["feature", "set", FLAG, "true", "--group=9970", "--user=1", "--feature-group=gitlab_team_members"]);
    assert_eq!(p.eval("production", FLAG, "Project:7"), (true, "actor".into()));
    assert_eq!(p.eval("production", FLAG, "Project:gitlab-org/gitlab"), (true, "actor".into()));
    assert_eq!(p.eval("production", FLAG, "User:2"), (false, "off".into()));
    let team = p.json(&["eval", FLAG, "--actor", "User:99", "--property", "team=gitlab"]);
    assert_eq!(team["reason"], "group");

    p.ok(&["feature", "set", FLAG, "25", "--actors"]);
    let get = p.json(&["feature", "get", FLAG]);
    let gates = get[0]["gates"].as_array().unwrap();
    assert!(gates.iter().any(|g| g["key"] == "percentage_of_actors" && g["value"] == 25));
    assert!(gates.iter().any(|g| g["key"] == "actors" && g["value"].as_array().unwrap().len() == 4));

    p.ok(&["feature", "set", FLAG, "true"]);
    assert_eq!(p.eval("production", FLAG, "User:12345"), (true, "boolean".into()));
    let get = p.json(&["feature", "get", FLAG]);
    assert_eq!(get[0]["gates"].as_array().unwrap().len(), 1, "true clears every other gate: {get}");

    p.ok(&["feature", "set", FLAG, "false"]);
    assert_eq!(p.eval("production", FLAG, "User:1"), (false, "off".into()));
    assert_eq!(p.json(&["feature", "get", FLAG])[0]["persisted"], true, "false stays persisted");

    p.ok(&["feature", "delete", FLAG, "--dev", "--pre", "--staging", "--staging-ref", "--production"]);
    assert_eq!(p.eval("production", FLAG, "User:1"), (false, "default".into()));
    assert!(p.ok(&["feature", "get", FLAG]).contains("does not exist on production"));
    p.ok(&["feature", "delete", FLAG]); // idempotent
}

#[test]
fn chatops_rules_refuse_and_change_nothing() {
    let p = TestProject::new();
    let before = p.fingerprint();
    p.fails(&["feature", "set", FLAG, "25"], 2, "One of `--actors` or `--random` must be set");
    p.fails(&["feature", "set", FLAG, "25", "--actors", "--user=1"], 2, "cannot be combined with targets");
    p.fails(&["feature", "set", FLAG, "25", "--actors", "--random"], 2, "cannot be used together");
    p.fails(&["feature", "set", FLAG, "25", "--random"], 1, "being deprecated");
    for bad in ["101", "-1", "1e3", "abc", "2.0071", ""] {
        p.fails(&["feature", "set", FLAG, bad, "--actors"], 1, "is invalid");
    }
    p.fails(&["feature", "set", FLAG, "opt_out"], 2, "needs a target");
    p.fails(&["feature", "set", "new_navigation", "true"], 1, "Did you mean `new_navigation_bar`");
    p.fails(&["feature", "set", FLAG, "true", "--feature-group=nope"], 1, "unknown feature group `nope`");
    p.fails(&["feature", "set", FLAG, "true", "--user=1:opt_out"], 1, "may not end in `:opt_out`");
    p.fails(&["feature", "set", FLAG, "true", "--nope"], 2, "--nope");
    p.fails(&["feature", "set", FLAG, "true", "--env", "production"], 2, "--env");
    p.fails(&["feature", "set", FLAG, "true", "--production"], 1, "is not enabled on staging");
    assert_eq!(before, p.fingerprint(), "refused commands changed something");

    // --force sets a flag without a definition; it is off by default like GitLab's.
    p.ok(&["feature", "set", "undefined_thing", "true", "--force", "--dev"]);
    assert_eq!(p.eval("dev", "undefined_thing", "User:1"), (true, "boolean".into()));
}

#[test]
fn consistency_check_looks_across_environments_of_one_command() {
    let p = TestProject::new();
    p.fails(&["feature", "set", FLAG, "true", "--production"], 1, "is not enabled on staging");
    // Staging comes first in chatops order, so enabling both in one command passes.
    p.ok(&["feature", "set", FLAG, "true", "--staging", "--production"]);
    p.fails(
        &["feature", "set", FLAG, "false", "--staging"],
        1,
        "is enabled on production, so it cannot be disabled on staging",
    );
    p.fails(&["feature", "set", FLAG, "0", "--staging", "--user=4"], 1, "cannot be disabled on staging");
    p.ok(&["feature", "set", FLAG, "false", "--staging", "--ignore-feature-flag-consistency-check"]);
    p.ok(&["feature", "set", FLAG, "false", "--production"]);
    // A conditional flag counts as enabled for the check, as in chatops.
    p.ok(&["feature", "set", FLAG, "true", "--user=1", "--staging"]);
    p.ok(&["feature", "set", FLAG, "10", "--actors", "--production"]);
}

#[test]
fn commands_are_atomic_across_environments() {
    let p = TestProject::new();
    p.ok(&["feature", "set", FLAG, "opt_out", "--user=1", "--production"]);
    let before = p.fingerprint();
    // Valid for dev, refused for production (an opt-out exists): nothing may change.
    p.fails(
        &[
            "feature",
            "set",
            FLAG,
            "true",
            "--user=1",
            "--dev",
            "--production",
            "--ignore-feature-flag-consistency-check",
        ],
        1,
        "Opt-out exists for User:1",
    );
    assert_eq!(before, p.fingerprint());
    p.fails(&["feature", "set", FLAG, "remove_opt_out", "--user=2"], 1, "No opt-out exists for User:2");
    // `true` clears every gate, opt-outs included (Flipper's boolean enable); opting out
    // afterwards turns the flag off for that actor only.
    p.ok(&["feature", "set", FLAG, "true", "--dev", "--staging", "--production"]);
    assert_eq!(p.eval("production", FLAG, "User:1"), (true, "boolean".into()));
    p.ok(&["feature", "set", FLAG, "opt_out", "--user=1", "--production"]);
    assert_eq!(p.eval("production", FLAG, "User:1"), (false, "opt_out".into()));
    assert_eq!(p.eval("production", FLAG, "User:2"), (true, "boolean".into()));
    p.fails(
        &["feature", "set", FLAG, "25", "--actors", "--production"],
        1,
        "Cannot enable percentage of actors for a fully-enabled flag",
    );
}

#[test]
fn default_enabled_applies_only_while_unpersisted() {
    let p = TestProject::new();
    p.define("ops_switch", "ops", true);
    p.ok(&["publish"]);
    assert_eq!(p.eval("production", "ops_switch", "User:1"), (true, "default".into()));
    // A targeted change persists the flag: now only the project has it (GitLab's pitfall).
    p.ok(&[
        "feature",
        "set",
        "ops_switch",
        "true",
        "--project=7",
        "--production",
        "--ignore-feature-flag-consistency-check",
    ]);
    assert_eq!(p.eval("production", "ops_switch", "User:1"), (false, "off".into()));
    p.ok(&["feature", "delete", "ops_switch"]);
    assert_eq!(p.eval("production", "ops_switch", "User:1"), (true, "default".into()));
}

#[test]
fn publish_merges_definition_changes_only_where_they_differ() {
    let p = TestProject::new();
    p.ok(&["publish"]);
    assert_eq!(p.version("production"), 1, "nothing changed, nothing published");
    p.define("beta_thing", "beta", false);
    p.ok(&["publish"]);
    assert_eq!(p.version("production"), 2);
    assert_eq!(p.version("dev"), 2);
    p.define("beta_thing", "beta", true);
    p.ok(&["publish", "--env", "production"]);
    assert_eq!(p.version("production"), 3);
    assert_eq!(p.version("dev"), 2);
    let log = p.json(&["log", "beta_thing", "--env", "production"]);
    assert_eq!(log[0]["action"], "definition");
    assert_eq!(log[0]["before"]["default_enabled"], false);
    assert_eq!(log[0]["after"]["default_enabled"], true);
}

#[test]
fn log_and_rollback() {
    let p = TestProject::new();
    p.ok(&["feature", "set", FLAG, "10", "--actors", "--staging"]);
    p.ok(&["feature", "set", FLAG, "20", "--actors", "--staging", "--author", "Alice"]);
    p.ok(&["feature", "set", FLAG, "true", "--staging"]);
    let log = p.json(&["log", FLAG, "--env", "staging"]);
    assert_eq!(log.as_array().unwrap().len(), 3);
    assert_eq!(log[0]["action"], "enable");
    assert_eq!(log[0]["version"], 4);
    assert_eq!(log[1]["author"], "Alice");
    assert_eq!(log[1]["command"], "vexil feature set new_navigation_bar 20 --actors --staging --author Alice");
    assert_eq!(log[1]["before"]["percentage_of_actors"], "10");
    assert_eq!(log[1]["after"]["percentage_of_actors"], "20");

    p.ok(&["rollback", "--env", "staging", "--to", "3"]);
    assert_eq!(p.version("staging"), 5);
    let get = p.json(&["feature", "get", FLAG, "--staging"]);
    assert!(get[0]["gates"].as_array().unwrap().iter().any(|g| g["key"] == "percentage_of_actors" && g["value"] == 20));
    p.ok(&["rollback", "--env", "staging", "--steps", "4"]);
    assert_eq!(p.json(&["feature", "get", FLAG, "--staging"])[0]["persisted"], false, "v1: nothing persisted");
    assert_eq!(
        p.json(&["log", "--env", "staging"]).as_array().unwrap().len(),
        6,
        "history is kept: init, three sets, two rollbacks"
    );
    p.fails(&["rollback", "--env", "staging", "--to", "99"], 1, "no version 99");
    p.fails(&["rollback", "--env", "nowhere", "--to", "1"], 1, "unknown environment");
}

#[test]
fn eval_batch_answers_each_line_in_order() {
    let p = TestProject::new();
    p.ok(&["feature", "set", FLAG, "true", "--user=1", "--dev"]);
    let input = concat!(
        r#"{"flag": "new_navigation_bar", "actors": ["User:1"]}"#,
        "\n",
        r#"{"flag": "new_navigation_bar", "actors": ["User:2"]}"#,
        "\n",
        "not json\n",
        r#"{"flag": "missing_flag", "actors": []}"#,
        "\n",
        r#"{"flag": "new_navigation_bar", "actors": [{"id": "User:3", "properties": {"team": "gitlab"}}, "User:1"]}"#,
        "\n",
    );
    let mut child = std::process::Command::new(support::VEXIL)
        .args(["eval", "--batch", "--env", "dev"])
        .current_dir(p.path())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    let lines: Vec<serde_json::Value> =
        String::from_utf8(out.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 5);
    assert_eq!((lines[0]["enabled"].as_bool(), lines[0]["reason"].as_str()), (Some(true), Some("actor")));
    assert_eq!((lines[1]["enabled"].as_bool(), lines[1]["reason"].as_str()), (Some(false), Some("off")));
    assert!(lines[2]["error"].as_str().unwrap().starts_with("line 3"));
    assert_eq!(lines[3]["reason"], "not_found");
    assert_eq!(lines[4]["reason"], "actor");
}

#[test]
fn snapshot_inspect_and_signing() {
    let p = TestProject::new();
    p.ok(&["feature", "set", FLAG, "true", "--dev"]);
    let out = p.path().join("dev.vxl");
    p.ok(&["snapshot", "--env", "dev", "-o", out.to_str().unwrap()]);
    assert_eq!(std::fs::read(&out).unwrap(), std::fs::read(p.path().join("public/dev/latest.vxl")).unwrap());
    let inspected = p.json(&["inspect", out.to_str().unwrap()]);
    assert_eq!(inspected["environment"], "dev");
    assert_eq!(inspected["flags"][FLAG]["state"], "on");
    assert!(inspected["signer"].is_null());

    p.ok(&["keygen"]);
    p.fails(&["keygen"], 1, "exists");
    p.ok(&["publish"]);
    let inspected = p.json(&["inspect", "--env", "dev"]);
    assert_eq!(inspected["verified"], true);
    assert!(inspected["signer"].is_string());
    // Tampering with a target is caught: status fails, changes refuse, --repair mends it.
    let latest = p.path().join("public/dev/latest.vxl");
    let mut bytes = std::fs::read(&latest).unwrap();
    let n = bytes.len();
    bytes[n - 70] ^= 1;
    std::fs::write(&latest, &bytes).unwrap();
    p.fails(&["status"], 1, "");
    let before = p.fingerprint();
    p.fails(&["feature", "set", FLAG, "false", "--dev"], 1, "latest.vxl is not a snapshot this database published");
    assert_eq!(before, p.fingerprint());
    p.ok(&["publish", "--repair"]);
    p.ok(&["status"]);
    // Rotation: a second key; the first stays trusted.
    p.ok(&["keygen", "--force"]);
    p.ok(&["publish"]);
    let toml: toml::Table = std::fs::read_to_string(p.path().join("vexil.toml")).unwrap().parse().unwrap();
    assert_eq!(toml["signing"]["public_keys"].as_array().unwrap().len(), 2, "both keys trusted while rotating");
    assert_eq!(p.json(&["inspect", "--env", "production"])["verified"], true);
}

#[test]
fn status_reports_behind_and_publish_catches_up() {
    let p = TestProject::new();
    p.ok(&["status"]);
    p.ok(&["feature", "set", FLAG, "true", "--dev"]);
    p.ok(&["feature", "set", FLAG, "false", "--dev"]);
    // The target lost its state: behind until the next publish.
    std::fs::remove_file(p.path().join("public/dev/latest.vxl")).unwrap();
    std::fs::remove_dir_all(p.path().join("public/dev/v")).unwrap();
    let status = p.run(&["status", "--json"]);
    assert_eq!(status.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(v["behind"], true);
    p.ok(&["publish"]);
    p.ok(&["status"]);
    for n in 1..=3 {
        assert!(p.path().join(format!("public/dev/v/{n}.vxl")).exists(), "v{n} restored");
    }
}
