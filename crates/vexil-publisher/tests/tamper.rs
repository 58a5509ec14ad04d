//! Tamper evidence, on SQLite and on PostgreSQL: the state database edited behind vexil's
//! back with SQL — a change-log row changed, deleted or moved, a stored version overwritten
//! with another valid snapshot (signed by another key, or unsigned) — makes `vexil log
//! --verify` fail naming what does not match, and the next `vexil feature set` refuse and
//! change nothing. Databases from before the chain are chained when they migrate.

mod support;

use support::servers::Postgres;
use support::TestProject;
use vexil_core::{encode, SigningKey, Snapshot};

const FLAG: &str = "new_navigation_bar";

/// Runs SQL on the project's database, whichever it is.
fn sql(p: &TestProject, statements: &str) {
    match &p.postgres {
        Some((url, password)) => {
            let mut config: postgres::Config = url.parse().unwrap();
            config.password(password);
            config.connect(postgres::NoTls).unwrap().batch_execute(statements).unwrap();
        }
        None => {
            rusqlite::Connection::open(p.path().join(".vexil/state.db")).unwrap().execute_batch(statements).unwrap()
        }
    }
}

fn newest_ids(p: &TestProject) -> (i64, i64) {
    let log = p.json(&["log", "--limit", "2"]);
    (log[0]["id"].as_i64().unwrap(), log[1]["id"].as_i64().unwrap())
}

/// Writes `bytes` over the stored snapshot of `version` of `env`.
fn overwrite(p: &TestProject, env: &str, version: u64, bytes: &[u8]) {
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    let literal = if p.postgres.is_some() { format!("'\\x{hex}'::bytea") } else { format!("x'{hex}'") };
    sql(p, &format!("UPDATE versions SET snapshot = {literal} WHERE environment = '{env}' AND version = {version}"));
}

/// Both checks fail naming `needle`: `vexil log --verify`, and (when `commit`) a change,
/// which writes nothing.
fn caught(p: &TestProject, needle: &str, commit: bool) {
    let err = p.fails(&["log", "--verify"], 1, "the change log does not verify");
    assert!(err.contains(needle), "log --verify lacks {needle:?}: {err}");
    assert!(!err.contains("panicked"), "{err}");
    if commit {
        let before = p.fingerprint();
        let err = p.fails(
            &["feature", "set", FLAG, "true", "--dev"],
            1,
            "refusing to commit on a state that does not verify",
        );
        assert!(err.contains(needle), "feature set lacks {needle:?}: {err}");
        assert!(before == p.fingerprint(), "a refused commit changed something");
    }
}

/// Tampers with `tamper`, checks it is caught, and puts every row back as it was.
fn case(p: &TestProject, tamper: &str, needle: &str, commit: bool) {
    sql(p, "CREATE TABLE changes_kept AS SELECT * FROM changes; CREATE TABLE versions_kept AS SELECT * FROM versions;");
    sql(p, tamper);
    caught(p, needle, commit);
    sql(
        p,
        "DELETE FROM changes; INSERT INTO changes SELECT * FROM changes_kept; DROP TABLE changes_kept;
         DELETE FROM versions; INSERT INTO versions SELECT * FROM versions_kept; DROP TABLE versions_kept;",
    );
    assert!(p.ok(&["log", "--verify"]).contains("The change log verifies"), "restored, it verifies again");
}

fn tampering_is_caught(p: &TestProject) {
    // Signed from the start of the story, after an unsigned first version.
    p.ok(&["keygen"]);
    p.ok(&["publish"]);
    p.ok(&["feature", "set", FLAG, "true", "--dev"]);
    p.ok(&["feature", "set", FLAG, "25", "--actors", "--staging"]);
    p.ok(&["feature", "set", FLAG, "false", "--dev"]);
    let out = p.ok(&["log", "--verify"]);
    assert!(out.starts_with("The change log verifies: ") && out.lines().count() == 1, "{out}");
    let summary = p.json(&["log", "--verify"]);
    assert_eq!(summary["entries"].as_u64().unwrap() as usize, p.json(&["log"]).as_array().unwrap().len());
    let dev = p.json(&["log", "--verify", "--env", "dev"]);
    assert_eq!(dev["environments"], serde_json::json!(["dev"]));
    assert_eq!(dev["versions"].as_u64().unwrap() as usize, p.versions("dev").len());

    let (newest, second) = newest_ids(p);
    let v = p.version("dev");
    // The entry the next change follows, edited.
    case(
        p,
        &format!("UPDATE changes SET author = 'mallory' WHERE id = {newest}"),
        &format!("change-log entry {newest} (dev v{v}, disable): its fields"),
        true,
    );
    // An older one: the whole walk finds it.
    case(p, "UPDATE changes SET command = 'vexil feature set x false' WHERE id = 2", "change-log entry 2 ", false);
    // Deleted.
    case(
        p,
        &format!("DELETE FROM changes WHERE id = {second}"),
        &format!("change-log entry {newest} (dev v{v}, disable): it was appended after another entry than"),
        true,
    );
    case(p, "DELETE FROM changes WHERE id = 1", "change-log entry 2 ", false);
    // Reordered: the two newest swap places.
    case(
        p,
        &format!(
            "UPDATE changes SET id = -1 WHERE id = {newest}; UPDATE changes SET id = {newest} WHERE id = {second};
             UPDATE changes SET id = {second} WHERE id = -1;"
        ),
        "it was appended after another entry than",
        true,
    );

    // The head version of dev overwritten with a valid snapshot of the same environment and
    // version: signed by another key, and unsigned.
    let head = p.versions("dev").pop().unwrap().1;
    let state = Snapshot::decode(&head, &[]).unwrap().to_environment();
    let other = SigningKey::from_seed([7; 32]).unwrap();
    for (bytes, needle) in [
        (
            encode(&state, Some(&other)).unwrap(),
            format!("dev v{v}: its stored snapshot is not signed by a trusted key"),
        ),
        (
            encode(&state, None).unwrap(),
            format!("dev v{v}: its stored snapshot is not the one the change log recorded"),
        ),
    ] {
        sql(p, "CREATE TABLE versions_kept AS SELECT * FROM versions;");
        overwrite(p, "dev", v, &bytes);
        caught(p, &needle, true);
        sql(p, "DELETE FROM versions; INSERT INTO versions SELECT * FROM versions_kept; DROP TABLE versions_kept;");
    }
    // Version 1 (unsigned, before keygen) replaced by another unsigned dev v1: the log
    // recorded its bytes, and a rollback to it refuses.
    let first = Snapshot::decode(&p.versions("dev")[0].1, &[]).unwrap();
    let mut forged = first.to_environment();
    forged.published_at += 1;
    overwrite(p, "dev", 1, &encode(&forged, None).unwrap());
    let err = p.fails(&["log", "--verify"], 1, "dev v1: its stored snapshot is not the one the change log recorded");
    assert!(!err.contains("panicked"));
    let before = p.fingerprint();
    p.fails(&["rollback", "--env", "dev", "--to", "1"], 1, "dev v1: its stored snapshot is not the one");
    assert!(before == p.fingerprint());
    overwrite(p, "dev", 1, first.bytes());
    p.ok(&["log", "--verify"]);
    p.ok(&["feature", "set", FLAG, "true", "--dev"]);
    p.ok(&["log", "--verify"]);
}

#[test]
fn tampering_is_caught_on_sqlite() {
    tampering_is_caught(&TestProject::new());
}

#[test]
fn tampering_is_caught_on_postgres() {
    let pg = Postgres::start();
    tampering_is_caught(&TestProject::on_postgres(&pg));
}

/// A database as vexil left it before the chain (schema 6): opening it chains every entry,
/// and from then on the log verifies and changes extend the chain.
fn migrates(p: &TestProject, to_schema_6: &str) {
    p.ok(&["feature", "set", FLAG, "true", "--dev"]);
    p.ok(&["feature", "set", FLAG, "false", "--dev"]);
    let log = p.json(&["log"]);
    sql(p, to_schema_6);
    p.ok(&["log", "--verify"]);
    assert_eq!(p.json(&["log"]), log, "the log reads as before");
    p.ok(&["feature", "set", FLAG, "true", "--dev"]);
    let summary = p.json(&["log", "--verify"]);
    assert_eq!(summary["entries"].as_u64().unwrap() as usize, log.as_array().unwrap().len() + 1);
}

#[test]
fn an_existing_sqlite_log_is_chained_when_it_migrates() {
    migrates(
        &TestProject::new(),
        "DROP INDEX changes_by_version; ALTER TABLE changes DROP COLUMN hash; ALTER TABLE changes DROP COLUMN prev_hash;
         ALTER TABLE changes DROP COLUMN snapshot_sha256; PRAGMA user_version = 6;",
    );
}

#[test]
fn an_existing_postgres_log_is_chained_when_it_migrates() {
    let pg = Postgres::start();
    migrates(
        &TestProject::on_postgres(&pg),
        "DROP INDEX changes_by_version; ALTER TABLE changes DROP COLUMN hash, DROP COLUMN prev_hash,
         DROP COLUMN snapshot_sha256; UPDATE vexil_schema SET version = 6;",
    );
}

#[test]
fn verify_is_refused_remotely_and_names_an_unknown_environment() {
    let p = TestProject::new();
    p.fails(&["log", "--verify", "--env", "nope"], 1, "nope");
    p.fails(&["log", "--verify", "--limit", "3"], 2, "--limit");
    let api = support::api::ApiServer::start(&p);
    let token = support::api::token(&p, "auditor", &["--environments", "*", "--read-only"]);
    let elsewhere = tempfile::tempdir().unwrap();
    let out = support::run_env(
        elsewhere.path(),
        &["log", "--verify"],
        &[("VEXIL_URL", api.url().as_str()), ("VEXIL_TOKEN", token.as_str())],
    );
    assert_eq!(out.status.code(), Some(2), "{}", support::stderr(&out));
    assert!(support::stderr(&out).contains("`vexil log --verify` reads the state database itself"));
}
