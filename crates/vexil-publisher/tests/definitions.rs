//! Definition validation: every GitLab rule with a failing and a passing fixture, each
//! also checked against the transcription of GitLab's own loader (tests/oracle/
//! gitlab_definition.rb, on Ruby's Psych).

mod support;

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use vexil_publisher::definitions::{self, Severity};

/// (path, content, Ok or the error text vexil prints, and its line).
type Fixture = (&'static str, &'static str, Result<(), (&'static str, usize)>);

const GOOD: &str = "---\nname: {n}\nfeature_issue_url: https://gitlab.com/gitlab-org/gitlab/-/issues/435435\nintroduced_by_url: https://gitlab.com/gitlab-org/gitlab/-/merge_requests/141023\nrollout_issue_url: https://gitlab.com/gitlab-org/gitlab/-/issues/437162\nmilestone: '16.9'\ngroup: group::composition analysis\ntype: beta\ndefault_enabled: false\n";

fn fixtures() -> Vec<Fixture> {
    vec![
        // GitLab's bin/feature-flag output, and older and newer shapes of real files.
        ("config/feature_flags/beta/my_feature_flag.yml", GOOD_BETA, Ok(())),
        ("config/feature_flags/development/old_style.yml", "---\nname: old_style\nintroduced_by_url:\nrollout_issue_url:\nmilestone: '13.5'\ntype: development\ngroup: group::source code\ndefault_enabled: true\n", Ok(())),
        ("config/feature_flags/ops/ops_toggle.yml", "name: ops_toggle\nintroduced_by_url: https://x\nrollout_issue_url: https://y\nmilestone: '15.0'\ntype: ops\ngroup: group::scalability\ndefault_enabled: true\nlog_state_changes: true\n", Ok(())),
        ("config/feature_flags/gitlab_com_derisk/derisk_it.yml", "---\nname: derisk_it\nfeature_issue_url:\nintroduced_by_url:\nrollout_issue_url:\nmilestone: '17.0'\ngroup: group::a\ntype: gitlab_com_derisk\ndefault_enabled: false\nintended_to_rollout_by: '2024-08-01'\n", Ok(())),
        ("ee/config/feature_flags/wip/ee_only.yml", "---\nname: ee_only\ntype: wip\ngroup: group::b\ndefault_enabled: false\nmilestone:\n", Ok(())),
        ("config/feature_flags/experiment/exp_1.yml", "# An experiment\nname: exp_1\ntype: experiment\ndefault_enabled: no\n", Ok(())),
        ("config/feature_flags/worker/run_sidekiq_jobs_foo_worker.yml", "name: run_sidekiq_jobs_foo_worker\ntype: worker\ndefault_enabled: false\n", Ok(())),
        ("config/feature_flags/undefined/gitaly_thing.yml", "name: gitaly_thing\ntype: undefined\ndefault_enabled: off\n", Ok(())),
        ("config/feature_flags/beta/with_vexil_key.yml", "name: with_vexil_key\ntype: beta\ndefault_enabled: false\nclient_side: true\n", Ok(())),
        // Rule 1: name present.
        ("config/feature_flags/beta/no_name.yml", "type: beta\ndefault_enabled: false\n", Err(("Feature flag is missing name", 1))),
        ("config/feature_flags/beta/empty_name.yml", "name: ''\ntype: beta\ndefault_enabled: false\n", Err(("Feature flag is missing name", 1))),
        // Rule 2: name pattern.
        ("config/feature_flags/beta/Upper.yml", "name: Upper\ntype: beta\ndefault_enabled: false\n", Err(("Feature flag 'Upper' is invalid", 1))),
        ("config/feature_flags/beta/double__underscore.yml", "name: double__underscore\ntype: beta\ndefault_enabled: false\n", Err(("is invalid", 1))),
        ("config/feature_flags/beta/dash-name.yml", "name: dash-name\ntype: beta\ndefault_enabled: false\n", Err(("is invalid", 1))),
        ("config/feature_flags/beta/123.yml", "name: 123\ntype: beta\ndefault_enabled: false\n", Err(("name must be a string", 1))),
        // Rule 4: type present and known.
        ("config/feature_flags/beta/no_type.yml", "name: no_type\ndefault_enabled: false\n", Err(("is missing `type`", 1))),
        ("config/feature_flags/licensed/old_type.yml", "name: old_type\ntype: licensed\ndefault_enabled: false\n", Err(("type 'licensed' is invalid", 2))),
        ("config/feature_flags/Beta/caps_type.yml", "name: caps_type\ntype: Beta\ndefault_enabled: false\n", Err(("type 'Beta' is invalid", 2))),
        // Rule 5: file name is the name, directory is the type.
        ("config/feature_flags/beta/other_file.yml", "name: not_the_file\ntype: beta\ndefault_enabled: false\n", Err(("has an invalid path", 1))),
        ("config/feature_flags/ops/wrong_dir.yml", "name: wrong_dir\ntype: beta\ndefault_enabled: false\n", Err(("has an invalid path", 1))),
        ("config/feature_flags/flat_file.yml", "name: flat_file\ntype: beta\ndefault_enabled: false\n", Err(("has an invalid path", 1))),
        // Rule 6: milestone absent or a string.
        ("config/feature_flags/beta/float_milestone.yml", "name: float_milestone\nmilestone: 16.9\ntype: beta\ndefault_enabled: false\n", Err(("milestone must be a string", 2))),
        ("config/feature_flags/beta/int_milestone.yml", "name: int_milestone\nmilestone: 17\ntype: beta\ndefault_enabled: false\n", Err(("milestone must be a string", 2))),
        // Rule 7: default_enabled present.
        ("config/feature_flags/beta/no_default.yml", "name: no_default\ntype: beta\n", Err(("is missing `default_enabled`", 1))),
        ("config/feature_flags/beta/null_default.yml", "name: null_default\ntype: beta\ndefault_enabled:\n", Err(("is missing `default_enabled`", 3))),
        // Rule 8: only some types may be on by default.
        ("config/feature_flags/wip/wip_on.yml", "name: wip_on\ntype: wip\ndefault_enabled: true\n", Err(("cannot have `default_enabled` set to `true`", 3))),
        ("config/feature_flags/gitlab_com_derisk/derisk_on.yml", "name: derisk_on\ntype: gitlab_com_derisk\ndefault_enabled: yes\n", Err(("cannot have `default_enabled` set to `true`", 3))),
        ("config/feature_flags/experiment/exp_on.yml", "name: exp_on\ntype: experiment\ndefault_enabled: true\n", Err(("cannot have", 3))),
        // YAML GitLab cannot load.
        ("config/feature_flags/beta/date_value.yml", "name: date_value\ntype: beta\ndefault_enabled: false\nintended_to_rollout_by: 2024-08-01\n", Err(("is a date", 4))),
        ("config/feature_flags/beta/anchor.yml", "name: &n anchor\ntype: beta\ndefault_enabled: false\n", Ok(())),
        ("config/feature_flags/beta/alias.yml", "name: &n alias\ngroup: *n\ntype: beta\ndefault_enabled: false\n", Err(("aliases are not allowed", 2))),
        ("config/feature_flags/beta/list.yml", "- name: list\n", Err(("must be a mapping", 1))),
        ("config/feature_flags/beta/empty.yml", "", Err(("the file is empty", 1))),
        ("config/feature_flags/beta/broken.yml", "name: broken\ntype: [beta\n", Err(("invalid YAML", 3))),
    ]
}

const GOOD_BETA: &str = "---\nname: my_feature_flag\nfeature_issue_url: https://gitlab.com/gitlab-org/gitlab/-/issues/435435\nintroduced_by_url: https://gitlab.com/gitlab-org/gitlab/-/merge_requests/141023\nrollout_issue_url: https://gitlab.com/gitlab-org/gitlab/-/issues/437162\nmilestone: '16.9'\ngroup: group::composition analysis\ntype: beta\ndefault_enabled: false\n";

fn gitlab_verdicts(root: &Path, paths: &[&str]) -> Vec<(bool, String)> {
    let mut child = Command::new("ruby")
        .arg(support::repo_root().join("tests/oracle/gitlab_definition.rb"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("ruby (make deps installs it)");
    let mut stdin = child.stdin.take().unwrap();
    for p in paths {
        writeln!(stdin, "{}", serde_json::json!({"root": root, "path": p})).unwrap();
    }
    drop(stdin);
    let out: Vec<(bool, String)> = BufReader::new(child.stdout.take().unwrap())
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(&l.unwrap()).unwrap();
            (v["valid"].as_bool().unwrap(), v["error"].as_str().unwrap_or("").to_string())
        })
        .collect();
    assert!(child.wait().unwrap().success());
    out
}

#[test]
fn every_rule_fails_and_passes_as_in_gitlab() {
    let dir = tempfile::tempdir().unwrap();
    let fixtures = fixtures();
    let _ = GOOD;
    for (path, text, _) in &fixtures {
        let p = dir.path().join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }
    let paths: Vec<&str> = fixtures.iter().map(|f| f.0).collect();
    let gitlab = gitlab_verdicts(dir.path(), &paths);
    for ((path, text, want), (gitlab_valid, gitlab_error)) in fixtures.iter().zip(&gitlab) {
        let (def, problems) = definitions::parse(Path::new(path), text);
        let errors: Vec<_> = problems.iter().filter(|p| p.severity == Severity::Error).collect();
        match want {
            Ok(()) => {
                assert!(def.is_some() && errors.is_empty(), "{path}: {problems:?}");
                assert!(gitlab_valid, "{path}: GitLab refuses it ({gitlab_error}) but the fixture says valid");
            }
            Err((needle, line)) => {
                assert!(def.is_none(), "{path}: accepted");
                assert!(
                    errors.iter().any(|e| e.message.contains(needle) && e.line == *line),
                    "{path}: expected {needle:?} at line {line}, got {errors:?}"
                );
                assert!(!gitlab_valid, "{path}: GitLab accepts it, vexil refuses: {errors:?}");
            }
        }
    }
}

#[test]
fn duplicates_across_roots_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    for root in ["config", "ee/config"] {
        let p = dir.path().join(root).join("feature_flags/beta/twice.yml");
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, "name: twice\ntype: beta\ndefault_enabled: false\n").unwrap();
    }
    let defs = definitions::load(dir.path(), &["config/feature_flags".into(), "ee/config/feature_flags".into()]);
    assert_eq!(defs.by_name.len(), 1);
    let err = defs.problems.iter().find(|p| p.severity == Severity::Error).unwrap();
    assert!(
        err.message.contains("Feature flag 'twice' is already defined in 'config/feature_flags/beta/twice.yml'"),
        "{err}"
    );
    assert_eq!(err.path, Path::new("ee/config/feature_flags/beta/twice.yml"));
}

/// Random variations of real definitions: vexil and GitLab agree on every one, except
/// where vexil is deliberately stricter (default_enabled must be a boolean).
#[test]
fn agrees_with_gitlab_on_generated_variations() {
    let dir = tempfile::tempdir().unwrap();
    let names = ["good_name", "Bad", "a__b", "x1", "_lead", "trail_", "ok_2"];
    let types =
        ["beta", "ops", "wip", "development", "experiment", "worker", "undefined", "gitlab_com_derisk", "licensed", ""];
    let milestones = ["'16.9'", "16.9", "", "~", "'17.0'", "17"];
    let defaults = ["true", "false", "yes", "off", "", "~", "'true'", "1"];
    let mut paths = Vec::new();
    let mut rng = Lcg(0x5eed);
    for i in 0..400 {
        let name = rng.pick(&names, 1);
        let t = rng.pick(&types, 8);
        let m = rng.pick(&milestones, 5);
        let d = rng.pick(&defaults, 6);
        let dir_type = if rng.next(10) == 0 { types[rng.next(types.len())] } else { t };
        let file = if rng.next(12) == 0 { "mismatch" } else { name };
        let mut text = String::from(if rng.next(2) == 0 { "---\n" } else { "" });
        if rng.next(8) != 0 {
            text.push_str(&format!("name: {name}\n"));
        }
        if rng.next(8) != 0 {
            text.push_str(&format!("type: {t}\n"));
        }
        text.push_str(&format!("milestone: {m}\n"));
        if rng.next(8) != 0 {
            text.push_str(&format!("default_enabled: {d}\n"));
        }
        let rel =
            format!("case{i}/config/feature_flags/{}/{file}.yml", if dir_type.is_empty() { "none" } else { dir_type });
        let p = dir.path().join(&rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, &text).unwrap();
        paths.push((rel, text));
    }
    let rels: Vec<&str> = paths.iter().map(|p| p.0.as_str()).collect();
    let gitlab = gitlab_verdicts(dir.path(), &rels);
    let mut stricter = 0;
    for ((rel, text), (gitlab_valid, gitlab_error)) in paths.iter().zip(&gitlab) {
        let (def, _) = definitions::parse(Path::new(rel), text);
        if *gitlab_valid && def.is_none() {
            let loose_default = text.contains("default_enabled: '") || text.contains("default_enabled: 1\n");
            assert!(loose_default, "{rel}: GitLab accepts, vexil refuses:\n{text}");
            stricter += 1;
        } else {
            assert_eq!(def.is_some(), *gitlab_valid, "{rel}: vexil {}, GitLab {gitlab_error}:\n{text}", def.is_some());
        }
    }
    assert!(gitlab.iter().filter(|g| g.0).count() > 20, "enough valid cases to mean something");
    eprintln!("{} files, {stricter} refused only for a non-boolean default_enabled", paths.len());
}

/// A seeded LCG: the variations are the same on every run.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, n: usize) -> usize {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (self.0 >> 33) as usize % n
    }

    /// Mostly one of the first `valid` items, so that both verdicts are common.
    fn pick(&mut self, items: &[&'static str], valid: usize) -> &'static str {
        if self.next(10) < 7 {
            items[self.next(valid)]
        } else {
            items[self.next(items.len())]
        }
    }
}
