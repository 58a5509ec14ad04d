//! The rollout's last phase: `vexil stale`'s rules, each with a flag that trips it and one
//! that does not, over a history made at chosen times (the library's clock is the `at` of
//! each change, so nothing waits); `vexil refs` over a fixture tree holding every form,
//! ignored and binary files and aliases; `vexil cleanup`'s refusals, its atomic removal
//! across environments, and SIGKILLs mid-cleanup that never leave it half-done.

mod support;

use std::process::Stdio;
use std::time::Duration;
use support::TestProject;
use vexil_publisher::plan::{Request, SetOptions, SetRequest};
use vexil_publisher::project::{EntryPoint, Origin, Project};

const DAY: i64 = 86_400_000;
/// 2026-01-01T00:00:00Z.
const T0: i64 = 1_767_225_600_000;
const EVERYWHERE: [&str; 6] = ["dev", "staging", "staging-ref", "ops", "pre", "production"];

fn at(day: i64) -> Origin {
    Origin {
        author: "Test <t@example.com>".into(),
        command: format!("test, day {day}"),
        via: EntryPoint::Cli,
        at: T0 + day * DAY,
    }
}

fn define(p: &TestProject, name: &str, flag_type: &str, milestone: &str, extra: &str) {
    p.write(
        &format!("config/feature_flags/{flag_type}/{name}.yml"),
        &format!("---\nname: {name}\nmilestone: '{milestone}'\ngroup: group::test\ntype: {flag_type}\ndefault_enabled: false\n{extra}"),
    );
}

fn set(project: &mut Project, day: i64, flag: &str, value: &str, actors: bool, envs: &[&str], force: bool) {
    let request = Request::Set {
        set: SetRequest::new(flag.into(), value.into(), actors, false, false, vec![]).unwrap(),
        environments: envs.iter().map(|e| e.to_string()).collect(),
        options: SetOptions { force, ignore_consistency_check: true, ..SetOptions::default() },
    };
    project.apply(&request, &at(day)).unwrap_or_else(|e| panic!("set {flag} {value}: {e}"));
}

fn publish(project: &mut Project, day: i64) {
    project.refresh_definitions();
    project.apply(&Request::Publish { environments: vec![] }, &at(day)).unwrap();
}

/// The rules of `vexil stale`, as (flag → rules) at day 200.
fn stale_rules(report: &vexil_publisher::housekeeping::StaleReport) -> Vec<(String, Vec<String>)> {
    let rule = |r: &vexil_publisher::housekeeping::stale::Reason| {
        serde_json::to_value(r.rule).unwrap().as_str().unwrap().to_string()
    };
    report.stale.iter().map(|f| (f.flag.clone(), f.reasons.iter().map(rule).collect())).collect()
}

#[test]
fn each_stale_rule_trips_on_its_flag_and_spares_the_others() {
    let p = TestProject::new();
    std::fs::remove_file(p.path().join("config/feature_flags/beta/new_navigation_bar.yml")).unwrap();
    let toml = std::fs::read_to_string(p.path().join("vexil.toml")).unwrap();
    std::fs::write(
        p.path().join("vexil.toml"),
        toml + "\n[housekeeping]\nmilestone = \"17.6\"\n\n[housekeeping.lifetime]\nops = \"90d\"\n",
    )
    .unwrap();
    // Milestones: 4 before 17.6 is 17.2, 12 before is 16.6.
    define(&p, "old_on", "beta", "17.0", "");
    define(&p, "recent_on", "beta", "17.3", "");
    define(&p, "old_off", "gitlab_com_derisk", "16.4", "");
    define(&p, "younger_off", "gitlab_com_derisk", "16.8", "");
    define(&p, "half_shipped", "beta", "16.0", "");
    define(&p, "kept_on", "beta", "16.0", "intended_to_rollout_by: '2027-12-31'\n");
    define(&p, "overdue_on", "beta", "16.0", "intended_to_rollout_by: '2026-02-01'\n");
    define(&p, "stuck_half", "wip", "17.5", "");
    define(&p, "rolling_half", "wip", "17.5", "");
    define(&p, "fresh_half", "wip", "17.5", "");
    define(&p, "ops_toggle", "ops", "17.5", "");
    define(&p, "worker_control", "worker", "17.5", "");
    p.write(
        "config/rollouts/rolling_half.yml",
        "steps:\n  - set: 50 --actors\n    environments: [dev, staging]\n    wait: 1d\n  - set: \"true\"\n    environments: [dev, staging]\n    wait: 1d\nguards:\n  - name: e2e\n    command: \"true\"\n",
    );
    let mut project = Project::open(p.path()).unwrap();
    let started = |r: Result<_, vexil_publisher::Error>| r.unwrap_or_else(|e| panic!("{e}"));
    publish(&mut project, 1);
    for flag in ["old_on", "recent_on", "kept_on", "overdue_on"] {
        set(&mut project, if flag == "recent_on" { 190 } else { 2 }, flag, "true", false, &EVERYWHERE, false);
    }
    set(&mut project, 2, "old_off", "false", false, &EVERYWHERE, false);
    set(&mut project, 2, "younger_off", "false", false, &EVERYWHERE, false);
    set(&mut project, 2, "half_shipped", "true", false, &["staging"], false);
    set(&mut project, 10, "stuck_half", "50", true, &["production"], false);
    set(&mut project, 195, "fresh_half", "50", true, &["production"], false);
    set(&mut project, 3, "ops_toggle", "true", false, &EVERYWHERE, false);
    set(&mut project, 3, "worker_control", "true", false, &EVERYWHERE, false);
    set(&mut project, 4, "ghost", "true", false, &["staging"], true);
    started(project.rollout_start("rolling_half", &at(10)));
    // Defined late: not yet "never set for long".
    define(&p, "new_unused", "beta", "17.6", "");
    publish(&mut project, 180);

    let report = project.stale(T0 + 200 * DAY).unwrap();
    let rules = stale_rules(&report);
    let of = |flag: &str| rules.iter().find(|(f, _)| f == flag).map(|(_, r)| r.clone()).unwrap_or_default();
    assert_eq!(of("old_on"), ["milestone", "lifetime"], "on everywhere, 4+ milestones old, 198 days > beta's 180");
    assert_eq!(of("recent_on"), Vec::<String>::new(), "17.3 is not before 17.2, and on for 10 days only");
    assert_eq!(of("old_off"), ["milestone", "lifetime"], "off everywhere, 12+ milestones old; derisk lives 60 days");
    assert_eq!(of("younger_off"), ["lifetime"], "16.8 is not 12 milestones before 17.6");
    assert_eq!(of("half_shipped"), Vec::<String>::new(), "partly rolled out (on in staging only): skipped");
    assert_eq!(of("overdue_on"), ["milestone", "lifetime"], "a past intended_to_rollout_by keeps nothing");
    assert_eq!(of("kept_on"), Vec::<String>::new());
    assert_eq!(report.kept.iter().map(|k| k.flag.as_str()).collect::<Vec<_>>(), ["kept_on"]);
    assert_eq!(of("stuck_half"), ["conditional"], "conditional for 190 days with no rollout");
    assert_eq!(of("rolling_half"), Vec::<String>::new(), "its rollout is running");
    assert_eq!(of("fresh_half"), Vec::<String>::new(), "conditional for 5 days");
    assert_eq!(of("ops_toggle"), ["lifetime"], "vexil.toml shortens ops flags to 90 days");
    assert_eq!(of("worker_control"), Vec::<String>::new(), "worker flags live for ever");
    assert_eq!(of("ghost"), ["orphaned"], "state without definition");
    assert_eq!(of("new_unused"), Vec::<String>::new(), "defined 20 days ago");
    let unused = project.stale(T0 + 250 * DAY).unwrap();
    assert!(stale_rules(&unused).contains(&("new_unused".into(), vec!["never_set".into()])), "never set for 70 days");
    let message = &report.stale.iter().find(|f| f.flag == "stuck_half").unwrap().reasons[0].message;
    assert!(message.contains("production (actors 50%)") && message.contains("190 days"), "{message}");

    // The command: JSON for scripts, and `--check` fails CI while anything should go.
    let out = p.run(&["stale", "--json", "--check"]);
    assert_eq!(out.status.code(), Some(1), "{}", support::stderr(&out));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["milestone"], "17.6");
    assert!(json["stale"].as_array().unwrap().iter().any(|f| f["flag"] == "old_on"));
    let text = p.ok(&["stale"]);
    assert!(text.contains("old_on") && text.contains("milestone: introduced in 17.0"), "{text}");
    let clean = TestProject::new();
    assert_eq!(clean.run(&["stale", "--check"]).status.code(), Some(0), "a new project has nothing stale");
}

#[test]
fn stale_reads_the_milestone_from_version_and_refuses_a_bad_one() {
    let p = TestProject::new();
    p.write("VERSION", "17.9.0-pre\n");
    let json = p.json(&["stale"]);
    assert_eq!((json["milestone"].as_str(), json["milestone_from"].as_str()), (Some("17.9"), Some("VERSION")));
    p.write("VERSION", "banana\n");
    p.fails(&["stale"], 1, "VERSION: \"banana\\n\" is not a milestone");
    let toml = std::fs::read_to_string(p.path().join("vexil.toml")).unwrap();
    p.write("vexil.toml", &(toml.clone() + "\n[housekeeping.lifetime]\nbeta = \"six months\"\n"));
    p.fails(&["stale"], 1, "[housekeeping] lifetime.beta");
    p.write("vexil.toml", &(toml + "\n[housekeeping.lifetime]\nbetta = \"90d\"\n"));
    p.fails(&["stale"], 1, "no flag type \"betta\"");
}

/// A tree with every form, and what must not count.
fn fixture(p: &TestProject) {
    p.write(
        "vexil.toml",
        &(std::fs::read_to_string(p.path().join("vexil.toml")).unwrap()
            + "\n[refs]\naliases = [\"FF_{upper}\", \"flags.{kebab}\"]\n"),
    );
    p.define("dark_mode", "beta", false);
    p.write(
        "app/controllers/projects_controller.rb",
        "class ProjectsController\n  before_action do\n    push_frontend_feature_flag(:new_navigation_bar, project)\n  end\n  def show\n    return unless Feature.enabled?(:dark_mode, current_user)\n  end\nend\n",
    );
    p.write(
        "app/assets/javascripts/nav.vue",
        "export default {\n  computed: { on() { return this.glFeatures.newNavigationBar; } },\n};\n",
    );
    p.write(
        "app/assets/javascripts/theme.js",
        "if (gon.features?.darkMode) {}\nconst x = FF_DARK_MODE; // flags.dark-mode\n",
    );
    p.write("web/client.ts", "await client.ready;\nif (client.isEnabled('new_navigation_bar')) {}\nconst v = await of.getBooleanValue('dark_mode', false);\n");
    p.write("edge/worker.rs", "let d = snapshot.evaluate(\"new_navigation_bar\", &ctx, now);\nlet t = evaluate(\"nwe_navigation_bar\", &ctx, now);\n");
    p.write("lib/notes.md", "Mentions new_navigation_bar_v2 and renew_navigation_bar, which are other words.\n");
    // Not searched: ignored, binary, GitLab's own exclusions, the flag files themselves.
    p.write(".gitignore", "/generated/\n*.log\n");
    p.write("generated/flags.js", "isEnabled('new_navigation_bar')\n");
    p.write("debug.log", "dark_mode toggled\n");
    p.write("locale/de/gitlab.po", "msgid \"new_navigation_bar\"\n");
    std::fs::write(p.path().join("app/assets/logo.png"), b"\x89PNG\0\0dark_mode\0").unwrap();
    p.write("app/assets/javascripts/.eslintrc.yml", "# dark_mode is read here too\n");
}

#[test]
fn refs_finds_every_form_and_skips_what_is_not_code() {
    let p = TestProject::new();
    fixture(&p);
    let json = p.json(&["refs"]);
    let refs: Vec<(String, u64, u64, String, String)> = json["references"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let s = |k: &str| r[k].as_str().unwrap().to_string();
            (s("path"), r["line"].as_u64().unwrap(), r["column"].as_u64().unwrap(), s("flag"), s("form"))
        })
        .collect();
    let expect = |path: &str, line: u64, column: u64, flag: &str, form: &str| {
        (path.to_string(), line, column, flag.to_string(), form.to_string())
    };
    assert_eq!(
        refs,
        [
            expect("app/assets/javascripts/.eslintrc.yml", 1, 3, "dark_mode", "snake_case"),
            expect("app/assets/javascripts/nav.vue", 2, 45, "new_navigation_bar", "glFeatures"),
            expect("app/assets/javascripts/theme.js", 1, 19, "dark_mode", "gon.features"),
            expect("app/assets/javascripts/theme.js", 2, 11, "dark_mode", "alias FF_{upper}"),
            expect("app/assets/javascripts/theme.js", 2, 28, "dark_mode", "alias flags.{kebab}"),
            expect("app/controllers/projects_controller.rb", 3, 33, "new_navigation_bar", "push_frontend_feature_flag"),
            expect("app/controllers/projects_controller.rb", 6, 37, "dark_mode", "Feature.enabled?"),
            expect("edge/worker.rs", 1, 28, "new_navigation_bar", "evaluate"),
            expect("edge/worker.rs", 2, 19, "nwe_navigation_bar", "evaluate"),
            expect("web/client.ts", 2, 23, "new_navigation_bar", "isEnabled"),
            expect("web/client.ts", 3, 37, "dark_mode", "getBooleanValue"),
        ]
    );
    assert_eq!(json["undefined"], 1, "the typo in edge/worker.rs");
    assert_eq!(json["counts"]["dark_mode"], 6);
    assert_eq!(json["counts"]["new_navigation_bar"], 4);
    assert_eq!(
        p.run(&["refs", "--check"]).status.code(),
        Some(1),
        "a reference to a flag without definition fails --check"
    );
    let text = p.ok(&["refs", "new_navigation_bar"]);
    assert!(text.contains("app/assets/javascripts/nav.vue:2:45: new_navigation_bar (glFeatures)"), "{text}");
    assert!(!text.contains("dark_mode"), "only the flag asked about: {text}");
    assert!(text.contains("edge/worker.rs:1:28"), "{text}");
}

#[test]
fn refs_refuses_unknown_flags_bad_aliases_and_trees_it_cannot_read() {
    let p = TestProject::new();
    let before = p.fingerprint();
    p.fails(&["refs", "new_navigation_bra"], 1, "no flag `new_navigation_bra`");
    p.fails(&["refs", "new_navigation_bra"], 1, "did you mean `new_navigation_bar`?");
    let toml = std::fs::read_to_string(p.path().join("vexil.toml")).unwrap();
    p.write("vexil.toml", &(toml.clone() + "\n[refs]\naliases = [\"FF_{upper}\", \"flag_{upcase}\"]\n"));
    p.fails(&["refs"], 1, "[refs] aliases[1]: \"flag_{upcase}\": unknown placeholder {upcase}");
    p.write("vexil.toml", &(toml.clone() + "\n[refs]\npaths = [\"config\", \"no/such/dir\"]\n"));
    p.fails(&["refs"], 1, "cannot search");
    p.fails(&["refs"], 1, "no/such/dir");
    p.write("vexil.toml", &toml);
    assert_eq!(p.fingerprint(), before, "nothing changed");
}

fn state_of(p: &TestProject, env: &str, flag: &str) -> Option<serde_json::Value> {
    let inspect = p.json(&["inspect", "--env", env]);
    inspect["flags"].get(flag).cloned()
}

#[test]
fn cleanup_refuses_until_the_flag_is_done_then_removes_it_everywhere_at_once() {
    let mut p = TestProject::new();
    p.env.push(("TEST_WEBHOOK_SECRET".into(), "whsec_dGVzdC1zZWNyZXQ=".into()));
    fixture(&p);
    let hooks = support::receiver::Receiver::start(None);
    let toml = std::fs::read_to_string(p.path().join("vexil.toml")).unwrap();
    p.write(
        "vexil.toml",
        &format!("{toml}\n[[notify]]\nname = \"audit\"\nkind = \"webhook\"\nurl = \"{}\"\nsecret_env = \"TEST_WEBHOOK_SECRET\"\n", hooks.url("/hooks/audit")),
    );
    let flag = "new_navigation_bar";
    p.ok(&["rollout", "init", flag]);
    p.ok(&["feature", "set", flag, "50", "--actors", "--staging", "--ignore-feature-flag-consistency-check"]);
    let before = p.fingerprint();
    p.fails(&["cleanup", flag], 1, "`new_navigation_bar` is conditional on staging (actors 50%)");
    p.fails(&["cleanup", flag, "--dry-run"], 1, "conditional on staging");
    p.fails(&["cleanup", "no_such_flag"], 1, "no flag `no_such_flag`");
    // --force passes the conditional check, and stops at the next: the code still names it.
    p.fails(&["cleanup", flag, "--force"], 1, "the code still names `new_navigation_bar`");
    assert_eq!(p.fingerprint(), before, "refused: nothing changed");
    p.ok(&["feature", "set", flag, "true", "--dev", "--staging", "--staging-ref", "--ops", "--pre", "--production"]);
    let before = p.fingerprint();
    let refused = p.fails(&["cleanup", flag], 1, "the code still names `new_navigation_bar` in 4 place(s)");
    assert!(refused.contains("app/assets/javascripts/nav.vue:2:45"), "{refused}");
    let dry = p.ok(&["cleanup", flag, "--dry-run", "--ignore-references"]);
    assert!(dry.contains("Nothing changed (dry run)"), "{dry}");
    assert_eq!(p.fingerprint(), before, "refused or dry: nothing changed");

    let versions_before: Vec<u64> = EVERYWHERE.iter().map(|e| p.version(e)).collect();
    let announced = hooks.received().len();
    let out = p.command(&["cleanup", flag, "--ignore-references"]).output().unwrap();
    assert!(out.status.success(), "{}", support::stderr(&out));
    let out = support::stdout(&out);
    assert!(
        out.contains("Delete the `new_navigation_bar` feature flag") && out.contains("Changelog: removed"),
        "{out}"
    );
    for (env, before) in EVERYWHERE.iter().zip(versions_before) {
        assert_eq!(p.version(env), before + 1, "{env}: one new version");
        assert_eq!(state_of(&p, env, flag), None, "{env}: gone from the snapshot");
    }
    assert!(!p.path().join("config/feature_flags/beta/new_navigation_bar.yml").exists(), "the definition is gone");
    assert!(!p.path().join("config/rollouts/new_navigation_bar.yml").exists(), "and its plan");
    let log = p.json(&["log", flag]);
    let cleanups = log.as_array().unwrap().iter().filter(|c| c["action"] == "cleanup").count();
    assert_eq!(cleanups, EVERYWHERE.len(), "one change-log entry per environment");
    let events = hooks.until(10, |r| r.len() > announced);
    let cleanup = events[announced].json();
    assert!(cleanup["summary"].as_str().unwrap().contains("cleaned up `new_navigation_bar`"), "{cleanup}");
    assert_eq!(cleanup["environments"].as_array().map(Vec::len), Some(EVERYWHERE.len()), "{cleanup}");
    p.ok(&["lint"]);
    p.fails(&["cleanup", flag], 1, "no flag `new_navigation_bar`");
}

#[test]
fn cleanup_waits_for_a_running_rollout_and_force_ends_it() {
    let p = TestProject::new();
    let flag = "new_navigation_bar";
    let toml = std::fs::read_to_string(p.path().join("vexil.toml")).unwrap();
    p.write("vexil.toml", &(toml + "\n[rollouts]\nmin_wait = \"1s\"\n"));
    p.write(
        "config/rollouts/new_navigation_bar.yml",
        "steps:\n  - set: \"true\"\n    environments: [dev, staging]\n    wait: 1h\n  - set: \"true\"\n    environments: [production]\n    wait: 1h\nguards:\n  - name: e2e\n    command: \"true\"\n",
    );
    p.ok(&["rollout", "start", flag]);
    p.fails(&["cleanup", flag], 1, "the rollout of `new_navigation_bar` is running at step 2");
    let out = p.command(&["cleanup", flag, "--force"]).output().unwrap();
    assert!(out.status.success(), "{}", support::stderr(&out));
    assert!(
        support::stderr(&out).contains("the rollout of `new_navigation_bar` was ended at step 2"),
        "{}",
        support::stderr(&out)
    );
    let status = p.json(&["rollout", "status", flag]);
    assert_eq!(status[0]["status"], "aborted");
}

#[test]
fn a_cleanup_killed_at_any_moment_is_never_half_done_and_finishes_when_run_again() {
    let p = TestProject::new();
    let mut windows = 0;
    for round in 0..12u64 {
        let flag = format!("short_lived_{round}");
        p.define(&flag, "beta", false);
        p.ok(&[
            "feature",
            "set",
            &flag,
            "true",
            "--dev",
            "--staging",
            "--staging-ref",
            "--ops",
            "--pre",
            "--production",
        ]);
        let file = p.path().join(format!("config/feature_flags/beta/{flag}.yml"));
        let mut child = p.command(&["cleanup", &flag]).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
        std::thread::sleep(Duration::from_millis(5 + round * 9));
        let _ = child.kill(); // SIGKILL, if it is still running
        let _ = child.wait();
        p.settle();
        let held: Vec<&str> = EVERYWHERE.iter().copied().filter(|e| state_of(&p, e, &flag).is_some()).collect();
        // Either nothing happened, or every environment lost the flag together.
        assert!(held.is_empty() || held.len() == EVERYWHERE.len(), "round {round}: held on {held:?} only");
        assert!(file.exists() || held.is_empty(), "round {round}: the definition went before the state");
        if held.is_empty() && file.exists() {
            windows += 1;
        }
        let exists_now = file.exists();
        let out = p.command(&["cleanup", &flag]).output().unwrap();
        if held.is_empty() && !exists_now {
            assert!(!out.status.success(), "round {round}: nothing left to clean up, yet: {}", support::stdout(&out));
        } else {
            assert!(out.status.success(), "round {round}: {}", support::stderr(&out));
        }
        assert!(!file.exists(), "round {round}: finished by running it again");
        assert!(EVERYWHERE.iter().all(|e| state_of(&p, e, &flag).is_none()), "round {round}");
    }
    eprintln!("killed between the commit and the file's removal in {windows} of 12 rounds");
}
