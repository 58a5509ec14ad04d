//! PostgreSQL state beyond what the shared concurrency and differential tests cover: a
//! notification on every commit, `vexil migrate` from SQLite keeping every version and
//! change, the schema created and migrated by vexil itself, and connection failures that
//! name the database and change nothing.

mod support;

use postgres::fallible_iterator::FallibleIterator;
use std::time::Duration;
use support::servers::{free_port, Postgres};
use support::{stderr, TestProject};

const FLAG: &str = "new_navigation_bar";

fn notifications(client: &mut postgres::Client, wait: Duration) -> Vec<String> {
    let mut out = Vec::new();
    let mut n = client.notifications();
    let mut it = n.timeout_iter(wait);
    while let Ok(Some(note)) = it.next() {
        assert_eq!(note.channel(), "vexil");
        out.push(note.payload().to_string());
    }
    out
}

#[test]
fn every_commit_is_announced_and_nothing_else() {
    let pg = Postgres::start();
    let p = TestProject::on_postgres(&pg);
    let (url, _) = p.postgres.clone().unwrap();
    let db = url.rsplit('/').next().unwrap().to_string();
    let mut listener = pg.client(&db);
    listener.batch_execute("LISTEN vexil").unwrap();

    p.ok(&["feature", "set", FLAG, "true", "--dev", "--staging"]);
    assert_eq!(notifications(&mut listener, Duration::from_secs(2)), ["dev 2", "staging 2"]);

    // A refused command, and commands that only read, announce nothing.
    p.fails(&["feature", "set", FLAG, "101", "--actors", "--dev"], 1, "is invalid");
    p.ok(&["feature", "get", FLAG, "--dev"]);
    p.ok(&["status"]);
    assert_eq!(notifications(&mut listener, Duration::from_millis(500)), Vec::<String>::new());

    p.ok(&["rollback", "--env", "dev", "--to", "1"]);
    assert_eq!(notifications(&mut listener, Duration::from_secs(2)), ["dev 3"]);
}

#[test]
fn migrate_keeps_every_version_and_change() {
    let pg = Postgres::start();
    let mut p = TestProject::new();
    // A sink that does not answer: its announcements wait in the outbox, and move too.
    let hook = format!("http://127.0.0.1:{}/hook", support::servers::free_port());
    let toml = std::fs::read_to_string(p.path().join("vexil.toml")).unwrap();
    p.write("vexil.toml", &(toml + "\n[[notify]]\nname = \"team\"\nkind = \"slack\"\nurl_env = \"TEST_HOOK\"\n"));
    p.env.push(("TEST_HOOK".into(), hook.clone()));
    p.ok(&["feature", "set", FLAG, "10", "--actors", "--dev", "--staging", "--ignore-feature-flag-consistency-check"]);
    p.ok(&["feature", "set", FLAG, "true", "--user=1,2", "--production", "--ignore-feature-flag-consistency-check"]);
    p.ok(&["rollback", "--env", "dev", "--to", "1"]);
    p.ok(&["token", "create", "ci", "--environments", "*"]);
    let before_tokens = p.json(&["token", "list"]);
    let envs = ["dev", "staging", "production"];
    let before_versions: Vec<_> = envs.iter().map(|e| p.versions(e)).collect();
    let before_log = p.json(&["log"]);
    let before_outbox = p.json(&["notifications"]);
    assert_eq!(before_outbox[0]["pending"], 3, "{before_outbox}");
    let sqlite = support::dump_database(&p.path().join(".vexil/state.db"));

    let url = pg.create_database();
    let with_password = url.replace("vexil@", &format!("vexil:{}@", pg.password));
    let said = p.fails(&["migrate", "--to", &with_password], 1, "leave the password out of the URL");
    assert!(!said.contains(&pg.password), "{said}");
    let in_query = format!("{url}?sslmode=disable&password={}", pg.password);
    let said = p.fails(&["migrate", "--to", &in_query], 1, "leave the password out of the URL");
    assert!(!said.contains(&pg.password), "{said}");
    p.fails(&["migrate", "--to", "sqlite:elsewhere.db"], 1, "postgres://");

    let mut migrating = p.command(&["migrate", "--to", &url, "--json"]);
    migrating.env("VEXIL_DATABASE_PASSWORD", &pg.password);
    let out = migrating.output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["versions"].as_u64(), Some(before_versions.iter().map(Vec::len).sum::<usize>() as u64 + 3));
    assert!(std::fs::read_to_string(p.path().join("vexil.toml")).unwrap().contains(&format!("state = \"{url}\"")));
    assert_eq!(support::dump_database(&p.path().join(".vexil/state.db")), sqlite, "the SQLite file is kept as it was");

    let p = TestProject {
        dir: p.dir,
        env: vec![("VEXIL_DATABASE_PASSWORD".into(), pg.password.clone()), ("TEST_HOOK".into(), hook)],
        postgres: Some((url.clone(), pg.password.clone())),
    };
    for (env, before) in envs.iter().zip(&before_versions) {
        assert!(p.versions(env) == *before, "{env}: every version, byte for byte, numbers kept");
    }
    assert_eq!(p.json(&["log"]), before_log, "every change-log entry, ids kept");
    assert_eq!(p.json(&["token", "list"]), before_tokens, "every token's hash and scope");
    assert_eq!(p.json(&["notifications"]), before_outbox, "every announcement, pending ones included");
    let dev = before_versions[0].len() as u64;
    let out = p.ok(&["feature", "set", FLAG, "false", "--dev"]);
    assert!(out.contains(&format!("dev v{}", dev + 1)), "numbering continues: {out}");
    let log = p.json(&["log", "--limit", "1"]);
    assert_eq!(log[0]["id"].as_i64(), before_log[0]["id"].as_i64().map(|i| i + 1), "change ids continue");
    p.fails(&["migrate", "--to", &url], 1, "already PostgreSQL");

    // Into a database that holds state already: refused, vexil.toml untouched.
    let q = TestProject::new();
    let toml = std::fs::read_to_string(q.path().join("vexil.toml")).unwrap();
    let mut again = q.command(&["migrate", "--to", &url]);
    again.env("VEXIL_DATABASE_PASSWORD", &pg.password);
    let out = again.output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("migrate into an empty database"), "{}", stderr(&out));
    assert_eq!(std::fs::read_to_string(q.path().join("vexil.toml")).unwrap(), toml);
}

#[test]
fn schema_is_created_migrated_and_versioned_by_vexil() {
    let pg = Postgres::start();
    // A database as the first release of vexil left it: schema 1, without the push table.
    let url = pg.create_database();
    let db = url.rsplit('/').next().unwrap().to_string();
    let mut c = pg.client(&db);
    c.batch_execute(
        "CREATE TABLE vexil_schema (version integer NOT NULL);
         INSERT INTO vexil_schema VALUES (1);
         CREATE TABLE versions (environment text NOT NULL, version bigint NOT NULL, published_at bigint NOT NULL,
             author text NOT NULL, snapshot bytea NOT NULL, PRIMARY KEY (environment, version));
         CREATE TABLE changes (id bigserial PRIMARY KEY, environment text NOT NULL, version bigint NOT NULL, flag text,
             action text NOT NULL, command text NOT NULL, author text NOT NULL, at bigint NOT NULL,
             before text NOT NULL, after text NOT NULL);
         CREATE INDEX changes_by_flag ON changes (flag, id);",
    )
    .unwrap();
    let p = support::TestProject {
        dir: tempfile::tempdir().unwrap(),
        env: vec![("VEXIL_DATABASE_PASSWORD".into(), pg.password.clone())],
        postgres: Some((url.clone(), pg.password.clone())),
    };
    p.ok(&["init", ".", "--state", &url]);
    let schema: i32 = c.query_one("SELECT version FROM vexil_schema", &[]).unwrap().get(0);
    assert_eq!(schema, 7, "migrated to the current schema");
    let without_browser: i64 =
        c.query_one("SELECT count(*) FROM versions WHERE browser_snapshot IS NULL", &[]).unwrap().get(0);
    assert_eq!(without_browser, 0, "every version committed by this vexil has its browser snapshot");
    let pushes: i64 = c.query_one("SELECT count(*) FROM pushes", &[]).unwrap().get(0);
    assert_eq!(pushes, 6, "one row per environment's target, written by init's pushes");

    // A newer vexil's schema: refused rather than misread.
    c.batch_execute("UPDATE vexil_schema SET version = 99").unwrap();
    let before = p.fingerprint();
    p.fails(&["feature", "set", FLAG, "true", "--dev"], 1, "schema version 99 is newer");
    assert!(before == p.fingerprint());

    // init against a database that already holds a project: refused, no file written.
    c.batch_execute("UPDATE vexil_schema SET version = 7").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out =
        support::run_env(dir.path(), &["init", ".", "--state", &url], &[("VEXIL_DATABASE_PASSWORD", &pg.password)]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("already holds"), "{}", stderr(&out));
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

/// Each broken connection: a clear error naming the database (never its password), exit 1,
/// nothing written anywhere.
#[test]
fn unreachable_database_wrong_credentials_missing_database() {
    let pg = Postgres::start();
    let p = TestProject::on_postgres(&pg);
    let (url, _) = p.postgres.clone().unwrap();
    let toml = std::fs::read_to_string(p.path().join("vexil.toml")).unwrap();
    let before = p.fingerprint();
    let closed = free_port();
    let cases = [
        (url.replace(&format!(":{}/", pg.port), &format!(":{closed}/")), pg.password.clone(), "cannot connect"),
        (url.clone(), "not-the-password".to_string(), "password authentication failed for user \"vexil\""),
        (
            format!("postgres://vexil@127.0.0.1:{}/no_such_db", pg.port),
            pg.password.clone(),
            "database \"no_such_db\" does not exist",
        ),
        ("postgres://vexil@127.0.0.1:notaport/x".to_string(), pg.password.clone(), "not a PostgreSQL URL"),
    ];
    for (state, password, needle) in cases {
        p.write("vexil.toml", &toml.replace(&url, &state));
        for args in [&["feature", "set", FLAG, "true", "--dev"][..], &["status"], &["log"]] {
            let out = support::run_env(p.path(), args, &[("VEXIL_DATABASE_PASSWORD", &password)]);
            let err = stderr(&out);
            assert_eq!(out.status.code(), Some(1), "{args:?} with {state}: {err}");
            assert!(err.contains("state database") || err.contains("state ="), "{err}");
            assert!(err.contains(needle), "{args:?} with {state}: stderr lacks {needle:?}: {err}");
            assert!(!err.contains(&password), "the password leaked: {err}");
            assert!(!err.contains("panicked"), "{err}");
        }
    }
    p.write("vexil.toml", &toml);
    assert!(before == p.fingerprint(), "failed connections changed something");
    p.ok(&["status"]);
}
