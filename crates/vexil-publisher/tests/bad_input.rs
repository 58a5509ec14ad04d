//! Bad input gets a clear error naming the file, line, flag, option or target, a non-zero
//! exit, and changes nothing: the database and every target are compared before and after.

mod support;

use std::os::unix::fs::PermissionsExt;
use support::{run_env, stderr, TestProject};

const FLAG: &str = "new_navigation_bar";

/// Runs `args`, expects failure mentioning every needle, and no change anywhere.
fn refused(p: &TestProject, args: &[&str], needles: &[&str]) {
    let before = p.fingerprint();
    let out = p.run(args);
    let err = stderr(&out);
    assert!(!out.status.success(), "vexil {args:?} succeeded");
    for n in needles {
        assert!(err.contains(n), "vexil {args:?}: stderr lacks {n:?}:\n{err}");
    }
    assert!(!err.contains("panicked"), "{err}");
    assert!(before == p.fingerprint(), "vexil {args:?} changed something");
}

fn set(p: &TestProject) -> Vec<String> {
    let _ = p;
    ["feature", "set", FLAG, "true", "--dev"].iter().map(|s| s.to_string()).collect()
}

fn args(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

#[test]
fn malformed_definitions_name_file_and_line() {
    let p = TestProject::new();
    p.write("config/feature_flags/beta/broken.yml", "---\nname: broken\ntype: beta\ndefault_enabled: [true\n");
    refused(&p, &args(&set(&p)), &["flag definitions have errors", "config/feature_flags/beta/broken.yml:5"]);
    refused(&p, &["lint"], &[]);
    let lint = p.run(&["lint"]);
    assert!(support::stdout(&lint).contains("config/feature_flags/beta/broken.yml:5: error: invalid YAML"));
    std::fs::remove_file(p.path().join("config/feature_flags/beta/broken.yml")).unwrap();

    p.write("config/feature_flags/beta/Bad_Name.yml", "---\nname: Bad_Name\ntype: beta\ndefault_enabled: false\n");
    refused(&p, &args(&set(&p)), &["Bad_Name.yml:2", "Feature flag 'Bad_Name' is invalid"]);
    std::fs::remove_file(p.path().join("config/feature_flags/beta/Bad_Name.yml")).unwrap();
    p.ok(&["lint"]);
}

#[test]
fn bad_values_options_and_flags() {
    let p = TestProject::new();
    for bad in ["101", "-1", "1e3", "abc"] {
        refused(&p, &["feature", "set", FLAG, bad, "--actors"], &[bad, "is invalid"]);
    }
    refused(&p, &["feature", "set", FLAG, "50", "--actors", "--project=1"], &["cannot be combined with targets"]);
    refused(
        &p,
        &["feature", "set", "new_navigation_barr", "true"],
        &["new_navigation_barr", "Did you mean `new_navigation_bar`"],
    );
    refused(&p, &["feature", "set", FLAG], &["<value>"]);
    refused(&p, &["rollback", "--env", "dev"], &["--to VERSION or --steps N"]);
    refused(&p, &["eval", FLAG, "--random", "1.5"], &["--random 1.5"]);
    refused(&p, &["log", "--env", "prod"], &["unknown environment \"prod\""]);
}

#[test]
fn malformed_config_names_the_line() {
    let p = TestProject::new();
    let path = p.path().join("vexil.toml");
    let good = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, good.replace("default_environment = \"production\"", "default_environment = production"))
        .unwrap();
    refused(&p, &["status"], &["vexil.toml", "line 11", "string values must be quoted"]);
    std::fs::write(&path, good.replace("kind = \"directory\"", "kind = \"ftp\"")).unwrap();
    refused(&p, &["status"], &["vexil.toml", "unknown kind \"ftp\""]);
    std::fs::write(&path, good).unwrap();
    p.ok(&["status"]);
}

#[test]
fn locked_database_times_out_cleanly() {
    let p = TestProject::new();
    let db = p.path().join(".vexil/state.db");
    let holder = rusqlite::Connection::open(&db).unwrap();
    holder.execute_batch("BEGIN IMMEDIATE").unwrap();
    let before = p.fingerprint();
    let out = run_env(p.path(), &args(&set(&p)), &[("VEXIL_LOCK_TIMEOUT", "0.3")]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("is locked by another process"), "{err}");
    assert!(err.contains("state.db"), "{err}");
    holder.execute_batch("ROLLBACK").unwrap();
    drop(holder);
    assert!(before == p.fingerprint());
    p.ok(&args(&set(&p)));
}

#[test]
fn unreadable_database() {
    let p = TestProject::new();
    let db = p.path().join(".vexil/state.db");
    let saved = std::fs::read(&db).unwrap();
    let garbage = b"this is not an sqlite database, it is a text file that someone saved over it".repeat(64);
    std::fs::write(&db, &garbage).unwrap();
    let out = p.run(&args(&set(&p)));
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("state database") && err.contains("state.db"), "{err}");
    assert_eq!(std::fs::read(&db).unwrap(), garbage, "the unreadable file was left alone");
    std::fs::write(&db, saved).unwrap();
    p.ok(&["status"]);
}

#[test]
fn read_only_and_missing_targets() {
    let p = TestProject::new();
    let dev = p.path().join("public/dev");
    std::fs::set_permissions(&dev, std::fs::Permissions::from_mode(0o555)).unwrap();
    refused(&p, &args(&set(&p)), &["environment dev, target local", "read-only"]);
    std::fs::set_permissions(&dev, std::fs::Permissions::from_mode(0o755)).unwrap();

    let moved = p.path().join("public/dev-moved");
    std::fs::rename(&dev, &moved).unwrap();
    refused(&p, &args(&set(&p)), &["environment dev, target local", "public/dev"]);
    std::fs::rename(&moved, &dev).unwrap();
    p.ok(&args(&set(&p)));
}

#[test]
fn corrupt_or_tampered_target_snapshots() {
    let p = TestProject::new();
    p.ok(&args(&set(&p)));
    let latest = p.path().join("public/dev/latest.vxl");
    let good = std::fs::read(&latest).unwrap();
    // A snapshot of the same environment and version, from another project: it decodes,
    // but it is not what this database published.
    let other = TestProject::new();
    other.ok(&["feature", "set", FLAG, "false", "--dev"]);
    let foreign = std::fs::read(other.path().join("public/dev/latest.vxl")).unwrap();
    for bad in [b"garbage".to_vec(), good[..good.len() / 2].to_vec(), foreign] {
        std::fs::write(&latest, &bad).unwrap();
        refused(
            &p,
            &["feature", "set", FLAG, "false", "--dev"],
            &["environment dev, target local", "latest.vxl is not a snapshot this database published"],
        );
        refused(&p, &["publish"], &["latest.vxl"]);
    }
    p.ok(&["publish", "--repair"]);
    assert_eq!(std::fs::read(&latest).unwrap(), good);
    // An older version this database did publish is not tampering: the target is behind,
    // and the next push moves it forward.
    std::fs::write(&latest, std::fs::read(p.path().join("public/dev/v/1.vxl")).unwrap()).unwrap();
    assert_eq!(p.run(&["status"]).status.code(), Some(1));
    p.ok(&["publish"]);
    assert_eq!(std::fs::read(&latest).unwrap(), good);
}

#[test]
fn a_feature_group_asking_about_too_many_flags_is_refused_and_changes_nothing() {
    let p = support::TestProject::new();
    for i in 0..17 {
        p.define(&format!("part_{i}"), "beta", false);
    }
    let calls: Vec<String> = (0..17).map(|i| format!("{{ FeatureEnabled = [\"part_{i}\"] }}")).collect();
    let toml = std::fs::read_to_string(p.path().join("vexil.toml")).unwrap();
    let toml = toml.replace("[groups]\n", &format!("[groups]\nall_parts = {{ All = [{}] }}\n", calls.join(", ")));
    std::fs::write(p.path().join("vexil.toml"), toml).unwrap();
    p.ok(&["publish"]);
    let before = p.fingerprint();
    p.fails(
        &["feature", "set", "new_navigation_bar", "true", "--feature-group=all_parts", "--dev"],
        1,
        "flag `new_navigation_bar`: one evaluation could ask about 17 flags through FeatureEnabled",
    );
    assert_eq!(p.fingerprint(), before);
}

#[test]
fn a_missing_state_database_is_lost_state_not_a_new_project() {
    let p = TestProject::new();
    let db = p.path().join(".vexil/state.db");
    std::fs::remove_file(&db).unwrap();
    let _ = std::fs::remove_file(p.path().join(".vexil/state.db-wal"));
    let _ = std::fs::remove_file(p.path().join(".vexil/state.db-shm"));
    for args in [
        &["status"][..],
        &["feature", "set", "new_navigation_bar", "true", "--dev"],
        &["serve", "--listen", "127.0.0.1:0"],
    ] {
        p.fails(args, 1, "does not exist; restore it, or `vexil init` a new project");
        assert!(!db.exists(), "{args:?} created an empty database");
    }
}
