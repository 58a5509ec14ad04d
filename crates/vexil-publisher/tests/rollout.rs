//! Rollout plans run by vexil against a real Prometheus scraping a metrics endpoint whose
//! error ratio the test sets: a clean plan advances step by step, never before its waits,
//! to `true` on production; a breach rolls back (or pauses); Prometheus going away pauses;
//! racing drivers and a driver killed mid-step apply each step once; a change by hand
//! pauses; approvals wait; bad input changes nothing.

mod support;

use support::prometheus::{Metrics, Prometheus};
use support::receiver::Receiver;
use support::TestProject;

const FLAG: &str = "new_navigation_bar";
const RATIO: &str = r#"app_error_ratio{flag_state="on"}"#;
const GUARD_QUERY: &str = "max(app_error_ratio)";

/// A plan over dev and staging, then production; waits of `wait` seconds, checks every second.
fn plan(wait: u32, on_breach: &str, extra_step: &str) -> String {
    format!(
        r#"steps:
  - set: 50 --actors
    environments: [dev, staging]
    wait: {wait}s
  - set: "true"
    environments: [dev, staging]
    wait: {wait}s
{extra_step}  - set: 50 --actors
    environments: [production]
    wait: {wait}s
  - set: "true"
    environments: [production]
    wait: 1s
guards:
  - name: error ratio
    query: {GUARD_QUERY}
    max: 0.05
on_breach: {on_breach}
check_interval: 1s
"#
    )
}

struct Setup {
    p: TestProject,
    metrics: Metrics,
    prometheus: Prometheus,
    hooks: Receiver,
}

/// A project whose guards read a Prometheus scraping a healthy service, announcing to a
/// webhook receiver.
fn setup(plan_text: &str, rollout_rules: &str, extra_toml: &str) -> Setup {
    let metrics = Metrics::start();
    metrics.set(RATIO, 0.01);
    let prometheus = Prometheus::start(&[metrics.port]);
    let hooks = Receiver::start(None);
    let mut p = TestProject::new();
    let toml = std::fs::read_to_string(p.path().join("vexil.toml")).unwrap();
    p.write(
        "vexil.toml",
        &format!(
            "{toml}\n[rollouts]\nprometheus = \"{}\"\nmin_wait = \"1s\"\ncheck_interval = \"1s\"\n{rollout_rules}\n[[notify]]\nname = \"audit\"\nkind = \"webhook\"\nurl = \"{}\"\nsecret_env = \"TEST_WEBHOOK_SECRET\"\n{extra_toml}",
            prometheus.url(),
            hooks.url("/audit")
        ),
    );
    p.env.push(("TEST_WEBHOOK_SECRET".into(), "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".into()));
    p.write(&format!("config/rollouts/{FLAG}.yml"), plan_text);
    prometheus.until_value(GUARD_QUERY, 0.01);
    Setup { p, metrics, prometheus, hooks }
}

fn status(p: &TestProject) -> serde_json::Value {
    p.json(&["rollout", "status", FLAG])[0].clone()
}

/// Ticks every 200 ms until `done` holds of the status, for up to `seconds`.
fn tick_until(p: &TestProject, seconds: u64, done: impl Fn(&serde_json::Value) -> bool) -> serde_json::Value {
    let start = std::time::Instant::now();
    loop {
        p.ok(&["rollout", "tick"]);
        let s = status(p);
        if done(&s) {
            return s;
        }
        assert!(start.elapsed().as_secs() < seconds, "not reached within {seconds} s: {s:#}");
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}

fn applied(s: &serde_json::Value) -> Vec<i64> {
    s["steps"].as_array().unwrap().iter().filter_map(|x| x["applied_at"].as_i64()).collect()
}

fn rollout_changes(p: &TestProject) -> Vec<serde_json::Value> {
    let log = p.json(&["log", FLAG]);
    let mut v: Vec<serde_json::Value> =
        log.as_array().unwrap().iter().filter(|c| c["via"] == "rollout").cloned().collect();
    v.reverse();
    v
}

#[test]
fn a_clean_plan_advances_step_by_step_to_true_on_production() {
    let s = setup(&plan(2, "rollback", ""), "", "");
    let out = s.p.ok(&["rollout", "start", FLAG]);
    assert!(out.contains("applied step 1"), "the first step applies at the start: {out}");
    let done = tick_until(&s.p, 60, |x| x["status"] == "completed");
    let at = applied(&done);
    assert_eq!(at.len(), 4);
    let waits: Vec<i64> = done["steps"].as_array().unwrap().iter().map(|x| x["wait_ms"].as_i64().unwrap()).collect();
    for k in 1..at.len() {
        assert!(at[k] - at[k - 1] >= waits[k - 1], "step {} came before its wait: {at:?}", k + 1);
    }
    assert!(s.p.eval("production", FLAG, "User:1").0 && s.p.eval("staging", FLAG, "User:7").0);

    let changes = rollout_changes(&s.p);
    let commands: Vec<&str> = changes.iter().map(|c| c["command"].as_str().unwrap()).collect();
    assert_eq!(changes.iter().filter(|c| c["environment"] == "dev").count(), 2, "{commands:?}");
    assert!(
        commands[0]
            .starts_with(&format!("rollout of {FLAG}, step 1/4: feature set {FLAG} 50 --actors --dev --staging")),
        "{commands:?}"
    );
    assert!(changes.iter().all(|c| c["author"] == "Test Author <test@example.com>"));

    // Every step announced (as a change via the rollout), and the start and the end.
    let got = s
        .hooks
        .until(20, |r| r.iter().any(|x| x.json()["summary"].as_str().is_some_and(|t| t.starts_with("completed"))));
    let kinds: Vec<(String, String)> = got
        .iter()
        .map(|r| r.json())
        .filter(|e| e["flag"] == FLAG)
        .map(|e| (e["type"].as_str().unwrap().to_string(), e["via"].as_str().unwrap().to_string()))
        .collect();
    assert_eq!(kinds.iter().filter(|(t, v)| t == "vexil.change" && v == "rollout").count(), 4, "{kinds:?}");
    assert_eq!(kinds.first().map(|(t, _)| t.as_str()), Some("vexil.rollout"), "the start first: {kinds:?}");
    assert_eq!(done["outcome"], "completed: all 4 steps");
}

#[test]
fn a_breach_rolls_back_every_environment_at_the_first_bad_reading() {
    let s = setup(&plan(3, "rollback", ""), "", "");
    s.p.ok(&["rollout", "start", FLAG]);
    tick_until(&s.p, 30, |x| applied(x).len() == 2);
    s.metrics.set(RATIO, 0.2);
    let done = tick_until(&s.p, 30, |x| x["status"] != "running");
    assert_eq!(done["status"], "rolled_back", "{done:#}");
    for env in ["dev", "staging"] {
        assert!(!s.p.eval(env, FLAG, "User:1").0 && !s.p.eval(env, FLAG, "User:2").0, "{env} is back at false");
    }
    // Decided on the first reading past the threshold, with it as evidence.
    let readings = done["guards"][0]["readings"].as_array().unwrap();
    let first_bad = readings.iter().position(|r| r["healthy"] == false).unwrap();
    assert_eq!(first_bad, readings.len() - 1, "no check after the breach was seen passed it by: {readings:#?}");
    assert_eq!(readings[first_bad]["value"], 0.2);
    let rollback = rollout_changes(&s.p).pop().unwrap();
    assert!(
        rollback["command"].as_str().unwrap().contains("guard `error ratio` read 0.2 (at most 0.05)"),
        "{rollback}"
    );
    let reason = done["reason"].as_str().unwrap();
    assert!(reason.contains("error ratio") && reason.contains("0.2"), "{reason}");
    let told = s
        .hooks
        .until(20, |r| r.iter().any(|x| x.json()["summary"].as_str().is_some_and(|t| t.starts_with("rolled back"))));
    let told = told
        .iter()
        .map(|r| r.json())
        .find(|e| e["type"] == "vexil.rollout" && e["summary"].as_str().unwrap().starts_with("rolled back"))
        .unwrap();
    assert!(told["summary"].as_str().unwrap().contains("read 0.2 (at most 0.05)"), "{told}");
    assert_eq!(applied(&status(&s.p)).len(), 2, "nothing applied after the breach");
}

#[test]
fn a_breach_with_on_breach_pause_stops_where_it_is() {
    let s = setup(&plan(3, "pause", ""), "", "");
    s.p.ok(&["rollout", "start", FLAG]);
    s.metrics.set(RATIO, 0.3);
    let done = tick_until(&s.p, 30, |x| x["status"] != "running");
    assert_eq!(done["status"], "paused");
    assert_eq!(applied(&done).len(), 1);
    assert!(s.p.eval("staging", FLAG, "User:1").0 == s.p.eval("dev", FLAG, "User:1").0, "left at 50% of actors");
    let gates = s.p.json(&["feature", "get", FLAG, "--staging"]);
    assert_eq!(gates[0]["state"], "conditional", "{gates}");
}

#[test]
fn prometheus_away_pauses_and_the_rollout_continues_after_resume() {
    let mut s = setup(&plan(2, "rollback", ""), "", "");
    s.p.ok(&["rollout", "start", FLAG]);
    s.prometheus.stop();
    let paused = tick_until(&s.p, 30, |x| x["status"] != "running");
    assert_eq!(paused["status"], "paused");
    assert!(paused["reason"].as_str().unwrap().contains("unreachable"), "{paused:#}");
    for _ in 0..5 {
        s.p.ok(&["rollout", "tick"]);
    }
    assert_eq!(applied(&status(&s.p)).len(), 1, "never advances blind");

    s.prometheus.restart();
    s.prometheus.until_value(GUARD_QUERY, 0.01);
    s.p.ok(&["rollout", "resume", FLAG]);
    let done = tick_until(&s.p, 60, |x| x["status"] != "running");
    assert_eq!(done["status"], "completed", "{done:#}");
    assert!(s.p.eval("production", FLAG, "User:3").0);
}

#[test]
fn a_change_by_hand_pauses_and_approval_steps_wait_for_approve() {
    let approval = "  - set: true --feature-group=gitlab_team_members\n    environments: [production]\n    wait: 1s\n    approval: true\n";
    let s = setup(&plan(1, "rollback", approval), "", "");
    let before = s.p.fingerprint();
    s.p.fails(&["rollout", "approve", FLAG], 1, "has no rollout");
    assert!(before == s.p.fingerprint());
    s.p.ok(&["rollout", "start", FLAG]);
    s.p.fails(&["rollout", "start", FLAG], 1, "already running");
    s.p.fails(&["rollout", "approve", FLAG], 1, "nothing in the rollout of `new_navigation_bar` awaits approval");

    let waiting = tick_until(&s.p, 30, |x| {
        x["steps"][2]["awaiting_approval"] == true && x["steps"][2]["due_at"].as_i64().is_some_and(|d| d <= now())
    });
    for _ in 0..3 {
        s.p.ok(&["rollout", "tick"]);
    }
    assert_eq!(applied(&status(&s.p)).len(), 2, "the approval step waits: {waiting:#}");
    s.p.ok(&["rollout", "approve", FLAG]);
    s.p.fails(&["rollout", "approve", FLAG], 1, "awaits approval");
    assert_eq!(applied(&status(&s.p)).len(), 3, "applied at approval, its wait being over");

    let out = s.p.run(&["feature", "set", FLAG, "false", "--dev"]);
    assert!(out.status.success());
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("the rollout of `new_navigation_bar` is paused"), "{said}");
    let paused = status(&s.p);
    assert_eq!(paused["status"], "paused");
    assert!(paused["reason"].as_str().unwrap().contains("feature set new_navigation_bar false --dev"), "{paused:#}");
    for _ in 0..3 {
        s.p.ok(&["rollout", "tick"]);
    }
    assert_eq!(applied(&status(&s.p)).len(), 3);
    s.p.ok(&["rollout", "abort", FLAG]);
    assert_eq!(status(&s.p)["status"], "aborted");
    s.p.fails(&["rollout", "resume", FLAG], 1, "aborted");
}

#[test]
fn bad_plans_and_an_unreachable_prometheus_change_nothing() {
    let mut s = setup(&plan(1, "rollback", ""), "", "");
    s.p.write(&format!("config/rollouts/{FLAG}.yml"), &plan(1, "rollback", "").replace("    max: 0.05\n", ""));
    let before = s.p.fingerprint();
    let err = s.p.fails(&["rollout", "start", FLAG], 1, "a query needs a threshold");
    assert!(err.contains(&format!("config/rollouts/{FLAG}.yml:")), "{err}");
    let lint = s.p.run(&["lint"]);
    assert_eq!(lint.status.code(), Some(1));
    assert!(
        support::stdout(&lint)
            .contains(&format!("config/rollouts/{FLAG}.yml:15: error: guard `error ratio`: a query needs a threshold")),
        "{}",
        support::stdout(&lint)
    );
    s.p.fails(&["rollout", "start", "other_flag"], 1, "No such file");
    s.p.fails(&["rollout", "init", "no_such_flag"], 1, "has no definition");
    assert!(before == s.p.fingerprint());

    // A guard of the first step with no data yet: starting would pause at once.
    s.p.write(
        &format!("config/rollouts/{FLAG}.yml"),
        &plan(1, "rollback", "").replace(GUARD_QUERY, "max(no_such_metric)"),
    );
    let before = s.p.fingerprint();
    s.p.fails(&["rollout", "start", FLAG], 1, "no data: the query returned no series; nothing was started");
    assert!(before == s.p.fingerprint());

    s.p.write(&format!("config/rollouts/{FLAG}.yml"), &plan(1, "rollback", ""));
    s.prometheus.stop();
    let before = s.p.fingerprint();
    s.p.fails(&["rollout", "start", FLAG], 1, "unreachable");
    assert!(before == s.p.fingerprint(), "nothing started");
    assert!(s.p.json(&["rollout", "status"]).as_array().unwrap().is_empty());
}

#[test]
fn racing_drivers_apply_each_step_once_and_a_killed_driver_is_resumed() {
    // Production's check marks that it runs, then takes two seconds: a driver can be killed
    // inside a production step.
    let check = "\n[production_check]\ncommand = \"touch .checking && sleep 2 && rm -f .checking\"\n";
    let s = setup(&plan(1, "rollback", ""), "drive = true\n", check);
    s.p.ok(&["rollout", "start", FLAG]);
    let two = tick_until(&s.p, 30, |x| applied(x).len() == 2);
    let due = two["steps"][2]["due_at"].as_i64().unwrap();
    std::thread::sleep(std::time::Duration::from_millis((due - now()).max(0) as u64 + 50));
    let mut driver = s.p.command(&["rollout", "tick"]).stdout(std::process::Stdio::null()).spawn().unwrap();
    let marker = s.p.path().join(".checking");
    let started = std::time::Instant::now();
    while !marker.exists() {
        assert!(started.elapsed().as_secs() < 20, "the production step never began");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    driver.kill().unwrap();
    driver.wait().unwrap();
    assert_eq!(applied(&status(&s.p)).len(), 2, "killed before its commit: nothing of the step");

    // Two tick loops and a driving server, all at once, to the end.
    let _serve = support::api::ApiServer::start(&s.p);
    let loops: Vec<_> = (0..2)
        .map(|_| {
            let dir = s.p.path().to_path_buf();
            let envs = s.p.env.clone();
            std::thread::spawn(move || {
                let run = |args: &[&str]| {
                    std::process::Command::new(support::VEXIL)
                        .args(args)
                        .current_dir(&dir)
                        .envs(envs.iter().cloned())
                        .output()
                        .unwrap()
                };
                for _ in 0..200 {
                    assert!(run(&["rollout", "tick"]).status.success());
                    let out = run(&["rollout", "status", FLAG, "--json"]);
                    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
                    if v[0]["status"] != "running" {
                        return;
                    }
                }
            })
        })
        .collect();
    for l in loops {
        l.join().unwrap();
    }
    let done = status(&s.p);
    assert_eq!(done["status"], "completed", "{done:#}");
    let applied_events = done["events"].as_array().unwrap().iter().filter(|e| e["kind"] == "applied").count();
    assert_eq!(applied_events, 4, "each step applied once: {done:#}");
    let changes = rollout_changes(&s.p);
    let per_env = |env: &str| changes.iter().filter(|c| c["environment"] == env).count();
    assert_eq!((per_env("dev"), per_env("staging"), per_env("production")), (2, 2, 2), "{changes:#?}");
}

fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64
}
