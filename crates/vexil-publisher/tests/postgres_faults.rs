//! PostgreSQL failing under a running `vexil serve` and under the CLI: stopped (unreachable),
//! restarted (every connection broken, the state kept), or stuck on one statement. Health
//! says so and recovers, what was loaded is still served, nothing stale is served after the
//! database is back, event streams resume, and the password appears nowhere.

mod support;

use std::time::{Duration, Instant};
use support::servers::{EventStream, Postgres, Serve};
use support::TestProject;
use vexil_core::Snapshot;

const FLAG: &str = "new_navigation_bar";
const ENV: &str = "production";

fn serve(p: &TestProject) -> Serve {
    Serve::start_logged(p.command(&["serve", "--listen", "127.0.0.1:0", "--heartbeat", "1"]))
}

fn set(p: &TestProject, value: &str) -> u64 {
    let mut args = vec!["feature", "set", FLAG];
    args.extend(value.split_whitespace());
    args.extend(["--production", "--ignore-feature-flag-consistency-check"]);
    p.ok(&args);
    p.version(ENV)
}

fn health(s: &Serve) -> (u16, serde_json::Value) {
    let r = s.get("/healthz", &[]);
    (r.status, serde_json::from_slice(&r.body).unwrap())
}

/// Waits for `done`, generously: the follower reconnects every half second or so.
fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < Duration::from_secs(60), "{what}: not within 60 s");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn served_version(s: &Serve, path: &str) -> u64 {
    let r = s.get(path, &[]);
    assert_eq!(r.status, 200, "{path}: {}", String::from_utf8_lossy(&r.body));
    Snapshot::decode(&r.body, &[]).unwrap().version()
}

fn next_id(stream: &mut EventStream) -> u64 {
    stream.next_event().unwrap().id.unwrap().parse().unwrap()
}

#[test]
fn an_unreachable_database_makes_health_name_it_while_loaded_snapshots_are_still_served() {
    let mut pg = Postgres::start();
    let p = TestProject::on_postgres(&pg);
    let v = set(&p, "true");
    let s = serve(&p);
    wait_until("healthy at start", || health(&s).0 == 200);
    let latest = s.get("/production/latest.vxl", &[]);
    let mut stream = EventStream::open(s.port, "/production/events", &[]);
    assert_eq!(next_id(&mut stream), v);

    pg.stop();
    let named = format!("state database postgres://vexil@127.0.0.1:{}/", pg.port);
    wait_until("503 naming the database", || {
        let (status, body) = health(&s);
        status == 503 && body["database"].as_str().is_some_and(|d| d.contains(&named))
    });
    let (_, body) = health(&s);
    assert_eq!(body["status"], "unhealthy", "{body}");
    assert_eq!(body["environments"][ENV], v, "what is loaded is still reported: {body}");

    // What was loaded is served as it was, to old and new readers alike.
    let again = s.get("/production/latest.vxl", &[]);
    assert_eq!((again.status, &again.body), (200, &latest.body));
    assert_eq!(served_version(&s, &format!("/production/v/{v}.vxl")), v);
    for env in ["dev", "staging", "pre"] {
        assert_eq!(s.get(&format!("/{env}/latest.vxl"), &[]).status, 200, "{env}");
    }
    let mut fresh = EventStream::open(s.port, "/production/events", &[]);
    assert_eq!(next_id(&mut fresh), v, "a new subscriber learns the current state");
    // What needs the database says so, instead of hanging or inventing an answer.
    let log = s.get("/production/log", &[]);
    assert_eq!(log.status, 503, "{}", String::from_utf8_lossy(&log.body));
    assert!(String::from_utf8_lossy(&log.body).contains(&named));
    // And the CLI fails cleanly, naming it.
    let err = p.fails(&["feature", "set", FLAG, "false", "--production"], 1, "cannot connect");
    assert!(err.contains(&named), "{err}");

    pg.start_again();
    wait_until("healthy once the database is back", || health(&s).0 == 200);
    let next = set(&p, "false");
    assert_eq!(next_id(&mut stream), next, "the stream opened before the outage carries on");
    assert_eq!(served_version(&s, "/production/latest.vxl"), next);
    assert!(!s.stderr().contains(&pg.password), "the password reached serve's output");
}

#[test]
fn a_restart_breaks_every_connection_and_the_server_follows_on_with_no_stale_answer() {
    let mut pg = Postgres::start();
    let p = TestProject::on_postgres(&pg);
    let v1 = set(&p, "10 --actors");
    let s = serve(&p);
    wait_until("healthy at start", || health(&s).0 == 200);
    let mut stream = EventStream::open(s.port, "/production/events", &[]);
    assert_eq!(next_id(&mut stream), v1);
    // The reader connection is in use before the restart: an old version, and the log.
    assert_eq!(served_version(&s, "/production/v/1.vxl"), 1);
    assert_eq!(s.get("/production/log", &[]).status, 200);

    // Stopped long enough to be seen, then back.
    pg.stop();
    wait_until("503 while stopped", || health(&s).0 == 503);
    pg.start_again();
    wait_until("200 once back", || health(&s).0 == 200);
    let v2 = set(&p, "20 --actors");
    assert_eq!(next_id(&mut stream), v2);
    assert_eq!(served_version(&s, "/production/latest.vxl"), v2, "latest is the new version");

    // Restarted with no pause between: connections break between two reads, and the first
    // commit after it must still be announced and served.
    pg.restart();
    let v3 = set(&p, "30 --actors");
    assert_eq!(next_id(&mut stream), v3);
    assert_eq!(served_version(&s, "/production/latest.vxl"), v3);
    assert_eq!(s.get("/production/latest.vxl", &[]).body, p.versions(ENV).last().unwrap().1, "the database's bytes");
    wait_until("healthy after the restart", || {
        let (status, body) = health(&s);
        status == 200 && body["environments"][ENV] == v3
    });

    // A stream that dropped during the restarts resumes from its last id: every version
    // since, newest state first, from the reader's fresh connection.
    let mut resumed = EventStream::open(s.port, "/production/events", &[("Last-Event-ID", &v1.to_string())]);
    assert_eq!(next_id(&mut resumed), v3);
    // Versions and the log come from the database again, not a cached failure.
    assert_eq!(served_version(&s, "/production/v/2.vxl"), 2);
    assert_eq!(served_version(&s, &format!("/production/v/{v2}.vxl")), v2);
    let log = s.get("/production/log", &[]);
    assert_eq!(log.status, 200, "{}", String::from_utf8_lossy(&log.body));
    assert!(String::from_utf8_lossy(&log.body).contains("30"), "the log holds the newest change");

    // The next change after all that is announced within the usual wake-up.
    let v4 = set(&p, "40 --actors");
    assert_eq!(next_id(&mut stream), v4);
    assert_eq!(next_id(&mut resumed), v4);
    assert!(!s.stderr().contains(&pg.password), "the password reached serve's output");
}

#[test]
fn a_statement_that_hangs_is_cancelled_and_changes_nothing() {
    let pg = Postgres::start();
    let mut p = TestProject::on_postgres(&pg);
    let (url, _) = p.postgres.clone().unwrap();
    let db = url.rsplit('/').next().unwrap().to_string();
    let mut c = pg.client(&db);
    // A database stuck inside one statement (a trigger standing in for a hung disk or a
    // runaway query): without a statement timeout the command would wait for ever.
    c.batch_execute(
        "CREATE FUNCTION stall() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_sleep(600); RETURN NEW; END $$;
         CREATE TRIGGER stall BEFORE INSERT ON changes FOR EACH ROW EXECUTE FUNCTION stall();",
    )
    .unwrap();
    p.env.push(("VEXIL_STATEMENT_TIMEOUT".into(), "1".into()));
    let before = p.fingerprint();
    let err = p.fails(&["feature", "set", FLAG, "true", "--dev"], 1, "statement timeout");
    assert!(err.contains(&format!("state database postgres://vexil@127.0.0.1:{}/", pg.port)), "{err}");
    assert!(!err.contains(&pg.password) && !err.contains("panicked"), "{err}");
    assert!(before == p.fingerprint(), "a cancelled commit changed something");

    p.env.push(("VEXIL_STATEMENT_TIMEOUT".into(), "soon".into()));
    p.fails(&["status"], 1, "VEXIL_STATEMENT_TIMEOUT=\"soon\": expected a number of seconds");
    p.env.pop();
    p.env.pop();
    c.batch_execute("DROP TRIGGER stall ON changes").unwrap();
    p.ok(&["feature", "set", FLAG, "true", "--dev"]);
}

#[test]
fn a_frozen_database_turns_health_red_while_loaded_snapshots_are_served_and_recovers() {
    let pg = Postgres::start();
    let p = TestProject::on_postgres(&pg);
    let v = set(&p, "true");
    let s = serve(&p);
    wait_until("healthy at start", || health(&s).0 == 200);
    let mut stream = EventStream::open(s.port, "/production/events", &[]);
    assert_eq!(next_id(&mut stream), v);

    // Frozen, not gone: no connection breaks and no error comes back; only silence.
    pg.freeze();
    wait_until("503 for a database that does not answer", || {
        let (status, body) = health(&s);
        status == 503 && body["database"].as_str().is_some_and(|d| d.contains("no answer"))
    });
    assert_eq!(served_version(&s, "/production/latest.vxl"), v);
    assert_eq!(served_version(&s, &format!("/production/v/{v}.vxl")), v);

    pg.thaw();
    wait_until("healthy once it answers again", || health(&s).0 == 200);
    let next = set(&p, "false");
    assert_eq!(next_id(&mut stream), next);
    assert_eq!(served_version(&s, "/production/latest.vxl"), next);
}
