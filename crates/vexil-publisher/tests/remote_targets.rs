//! Pushes to S3-compatible object storage (a real Garage node) and to an HTTP origin taking
//! PUT (nginx's WebDAV module): snapshots land in the wire contract's layout with cache
//! headers CDNs act on; concurrent publishers leave `latest.vxl` at the newest version; a
//! target that goes down is reported behind and caught up by `vexil publish`; readers
//! polling throughout only ever see complete snapshots the database published; a target
//! that cannot take writes stops a command before anything changes.

mod support;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use support::servers::{http_get, Garage, Nginx, Postgres, Response};
use support::{stderr, stdout, TestProject};
use vexil_core::Snapshot;

const FLAG: &str = "new_navigation_bar";

enum Remote {
    Garage(Garage),
    Nginx(Nginx),
}

/// Fetches one path of one environment's target, from any thread.
type Fetch = Box<dyn Fn(&str) -> std::io::Result<Response> + Send>;

impl Remote {
    fn target(&self, env: &str) -> String {
        match self {
            Remote::Garage(g) => g.target_toml("cdn", env),
            Remote::Nginx(n) => n.target_toml("cdn", &format!("flags/{env}")),
        }
    }

    fn fetcher(&self, env: &str) -> Fetch {
        match self {
            Remote::Garage(g) => {
                let (port, host, env) =
                    (g.web_port, format!("{}{}", g.bucket, support::servers::GARAGE_WEB_DOMAIN), env.to_string());
                Box::new(move |name| http_get(port, &host, &format!("/{env}/{name}")))
            }
            Remote::Nginx(n) => {
                let (port, env) = (n.port, env.to_string());
                Box::new(move |name| http_get(port, "127.0.0.1", &format!("/flags/{env}/{name}")))
            }
        }
    }

    fn fetch(&self, env: &str, name: &str) -> Response {
        self.fetcher(env)(name).unwrap()
    }

    fn pid(&self) -> u32 {
        match self {
            Remote::Garage(g) => g.pid(),
            Remote::Nginx(n) => n.pid(),
        }
    }

    fn kill(&mut self) {
        match self {
            Remote::Garage(g) => g.kill(),
            Remote::Nginx(n) => n.kill(),
        }
    }

    fn restart(&mut self) {
        match self {
            Remote::Garage(g) => g.restart(),
            Remote::Nginx(n) => n.restart(),
        }
    }
}

/// Asserts the target holds exactly the database's versions of `env` and its newest as
/// `latest.vxl`.
fn assert_target_matches_database(remote: &Remote, p: &TestProject, env: &str) {
    let versions = p.versions(env);
    let (newest, bytes) = versions.last().unwrap();
    let latest = remote.fetch(env, "latest.vxl");
    assert_eq!(latest.status, 200);
    assert_eq!(Snapshot::decode(&latest.body, &[]).unwrap().version(), *newest);
    assert!(latest.body == *bytes, "{env}: latest.vxl is version {newest}, byte for byte");
    for (v, bytes) in &versions {
        let got = remote.fetch(env, &format!("v/{v}.vxl"));
        assert_eq!(got.status, 200, "{env} v/{v}.vxl");
        assert!(got.body == *bytes, "{env} v/{v}.vxl differs from the database's");
    }
}

/// Reads `latest.vxl` in a loop until stopped; every answer must be a whole snapshot.
struct Reader {
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<Vec<(u64, Vec<u8>)>>,
}

impl Reader {
    fn start(fetch: Fetch) -> Reader {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut seen = Vec::new();
            while !flag.load(Ordering::Relaxed) {
                // Refused connections while the target is down are expected; torn bodies are not.
                if let Ok(r) = fetch("latest.vxl") {
                    if r.status == 200 {
                        let snapshot = Snapshot::decode(&r.body, &[]).unwrap_or_else(|e| {
                            panic!("a reader got an incomplete latest.vxl ({} bytes): {e}", r.body.len())
                        });
                        seen.push((snapshot.version(), r.body));
                    }
                }
                std::thread::sleep(Duration::from_millis(2));
            }
            seen
        });
        Reader { stop, thread }
    }

    /// Stops; checks every read was a version the database published, byte for byte, and
    /// that `latest.vxl` never went backwards. Returns how many distinct versions were seen.
    fn finish(self, p: &TestProject, env: &str) -> usize {
        self.stop.store(true, Ordering::Relaxed);
        let seen = self.thread.join().expect("reader");
        let versions = p.versions(env);
        let mut last = 0;
        let mut distinct = std::collections::BTreeSet::new();
        for (v, bytes) in &seen {
            assert!(*v >= last, "latest.vxl went back from version {last} to {v}");
            last = *v;
            assert!(
                versions[*v as usize - 1].1 == *bytes,
                "a reader got version {v} with other bytes than the database's"
            );
            distinct.insert(*v);
        }
        eprintln!("reader: {} reads of {} distinct versions", seen.len(), distinct.len());
        distinct.len()
    }
}

fn garage() -> Remote {
    Remote::Garage(Garage::start())
}

fn nginx() -> Remote {
    Remote::Nginx(Nginx::start())
}

// ---------------------------------------------------------------------------------------------

#[test]
fn garage_pushes_land_with_cache_headers() {
    pushes_land_with_cache_headers(garage());
}

#[test]
fn garage_credentials_from_the_usual_aws_environment_variables() {
    let garage = Garage::start();
    let mut p = TestProject::new();
    let toml: String = garage
        .target_toml("cdn", "dev")
        .lines()
        .filter(|l| !l.starts_with("access_key_id") && !l.starts_with("secret_access_key"))
        .map(|l| format!("{l}\n"))
        .collect();
    p.set_targets("dev", &toml);
    p.env.push(("AWS_ACCESS_KEY_ID".into(), garage.key_id.clone()));
    p.env.push(("AWS_SECRET_ACCESS_KEY".into(), garage.secret.clone()));
    p.ok(&["feature", "set", FLAG, "true", "--dev"]);
    let remote = Remote::Garage(garage);
    assert_target_matches_database(&remote, &p, "dev");
    p.ok(&["status"]);
}

#[test]
fn garage_browser_audience_target_holds_the_browser_snapshot() {
    let garage = Garage::start();
    let p = TestProject::new();
    p.write(
        "config/feature_flags/beta/new_navigation_bar.yml",
        "---\nname: new_navigation_bar\nmilestone: '17.0'\ngroup: group::test\ntype: beta\ndefault_enabled: false\nclient_side: true\n",
    );
    p.define("server_only_secret", "ops", false);
    let browser_target = garage
        .target_toml("pages", "production-browser")
        .replace("kind = \"s3\"", "kind = \"s3\"\naudience = \"browser\"");
    p.set_targets("production", &format!("{}{browser_target}", garage.target_toml("cdn", "production")));
    p.ok(&["publish"]);
    p.ok(&["feature", "set", FLAG, "true", "--user=4242", "--production", "--ignore-feature-flag-consistency-check"]);
    p.ok(&[
        "feature",
        "set",
        "server_only_secret",
        "true",
        "--user=4242",
        "--production",
        "--ignore-feature-flag-consistency-check",
    ]);

    let latest = garage.get("production-browser/latest.vxl").unwrap();
    assert_eq!(latest.status, 200);
    assert_eq!(latest.header("cache-control"), Some("public, max-age=5"));
    let out = p.command(&["snapshot", "--env", "production", "--audience", "browser"]).output().unwrap();
    assert_eq!(latest.body, out.stdout, "the bucket holds the stored browser snapshot");
    let snapshot = Snapshot::decode(&latest.body, &[]).unwrap();
    assert!(matches!(snapshot.audience(), vexil_core::Audience::Browser { .. }));
    assert_eq!(snapshot.flags().map(|f| f.name().to_string()).collect::<Vec<_>>(), [FLAG]);
    let immutable = garage.get(&format!("production-browser/v/{}.vxl", snapshot.version())).unwrap();
    assert_eq!(immutable.body, latest.body);
    assert_eq!(immutable.header("cache-control"), Some("public, max-age=31536000, immutable"));
    // The full target next to it is untouched by the audience of its neighbour.
    let full = Snapshot::decode(&garage.get("production/latest.vxl").unwrap().body, &[]).unwrap();
    assert!(full.flag("server_only_secret").is_some());
    let status = p.json(&["status"]);
    let rows: Vec<(&str, &str)> = status["targets"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["environment"] == "production")
        .map(|r| (r["target"].as_str().unwrap(), r["audience"].as_str().unwrap()))
        .collect();
    assert_eq!(rows, [("cdn", "server"), ("pages", "browser")]);
    assert_eq!(status["behind"], false);
}

#[test]
fn nginx_pushes_land_with_cache_headers() {
    pushes_land_with_cache_headers(nginx());
}

fn pushes_land_with_cache_headers(remote: Remote) {
    let p = TestProject::new();
    for env in ["dev", "production"] {
        p.set_targets(env, &remote.target(env));
    }
    let out = p.ok(&["publish"]);
    assert!(out.contains("pushed cdn v0 → v1"), "{out}");
    p.ok(&["status"]);
    p.ok(&["feature", "set", FLAG, "25", "--actors", "--dev"]);
    p.ok(&["feature", "set", FLAG, "true", "--dev"]);
    for env in ["dev", "production"] {
        assert_target_matches_database(&remote, &p, env);
        let latest = remote.fetch(env, "latest.vxl");
        assert_eq!(latest.header("cache-control"), Some("public, max-age=5"), "{env} latest.vxl");
        assert_eq!(latest.header("content-type"), Some("application/octet-stream"));
        let v1 = remote.fetch(env, "v/1.vxl");
        assert_eq!(v1.header("cache-control"), Some("public, max-age=31536000, immutable"), "{env} v/1.vxl");
    }
    assert_eq!(p.versions("dev").len(), 3);
    let again = p.ok(&["publish"]);
    assert!(again.contains("cdn up to date (v3)"), "{again}");
    let status = p.json(&["status"]);
    assert_eq!(status["behind"], false);
}

#[test]
fn garage_concurrent_publishers_and_polling_readers() {
    concurrent_publishers_and_polling_readers(garage());
}

#[test]
fn nginx_concurrent_publishers_and_polling_readers() {
    concurrent_publishers_and_polling_readers(nginx());
}

/// Two machines' worth of publishers on one PostgreSQL state push to one target: whatever
/// order their pushes finish in, `latest.vxl` ends at the newest version and never moves back.
fn concurrent_publishers_and_polling_readers(remote: Remote) {
    const SETS: usize = 25;
    let pg = Postgres::start();
    let p = TestProject::on_postgres(&pg);
    p.set_targets("dev", &remote.target("dev"));
    p.ok(&["publish"]);
    let reader = Reader::start(remote.fetcher("dev"));
    p.race_two_writers(FLAG, SETS);
    let distinct = reader.finish(&p, "dev");
    assert!(distinct > 1, "the reader saw the target change");
    assert_eq!(p.versions("dev").len(), 1 + 2 * SETS);
    assert_target_matches_database(&remote, &p, "dev");
    p.ok(&["status"]);
}

#[test]
fn garage_target_down_during_a_push_is_behind_until_publish() {
    target_down_during_a_push_is_behind_until_publish(garage());
}

#[test]
fn nginx_target_down_during_a_push_is_behind_until_publish() {
    target_down_during_a_push_is_behind_until_publish(nginx());
}

/// The target dies after the command checked it and before the push: the production check
/// hook runs exactly there, so it does the killing. The version is committed (the database
/// is the source of truth), the push fails, and the target is behind until `vexil publish`.
fn target_down_during_a_push_is_behind_until_publish(mut remote: Remote) {
    let p = TestProject::new();
    p.set_targets("production", &remote.target("production"));
    p.ok(&["publish"]);
    let toml = std::fs::read_to_string(p.path().join("vexil.toml")).unwrap();
    p.write("vexil.toml", &format!("{toml}\n[production_check]\ncommand = \"kill -9 {}\"\n", remote.pid()));
    let out = p.run(&["feature", "set", FLAG, "true", "--production", "--ignore-feature-flag-consistency-check"]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let err = stderr(&out);
    assert!(err.contains("push failed") && err.contains("environment production, target cdn"), "{err}");
    assert_eq!(p.versions("production").len(), 2, "the change is committed");
    p.write("vexil.toml", &toml);

    // Down: status says so, and further commands change nothing.
    let status = p.run(&["status", "--json"]);
    assert_eq!(status.status.code(), Some(1));
    let status: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    let row = status["targets"].as_array().unwrap().iter().find(|r| r["target"] == "cdn").unwrap().clone();
    assert_eq!((row["behind"].as_bool(), row["database"].as_u64()), (Some(true), Some(2)));
    assert_eq!(row["last_pushed"].as_u64(), Some(1), "the database knows what the target last got");
    assert!(row["error"].as_str().unwrap().contains("environment production, target cdn"), "{row}");
    let before = p.fingerprint();
    let refused = p.run(&["feature", "set", FLAG, "false", "--production"]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(stderr(&refused).contains("environment production, target cdn"), "{}", stderr(&refused));
    assert!(before == p.fingerprint(), "a command against a down target changed something");

    // Back up, still at version 1: behind, until publish.
    remote.restart();
    let status = p.run(&["status", "--json"]);
    assert_eq!(status.status.code(), Some(1));
    let status: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    let row = status["targets"].as_array().unwrap().iter().find(|r| r["target"] == "cdn").unwrap().clone();
    assert_eq!((row["behind"].as_bool(), row["target_version"].as_u64()), (Some(true), Some(1)), "{row}");
    let out = p.ok(&["publish"]);
    assert!(out.contains("pushed cdn v1 → v2"), "{out}");
    p.ok(&["status"]);
    assert_target_matches_database(&remote, &p, "production");
}

#[test]
fn garage_killed_while_pushing_readers_see_only_whole_snapshots() {
    killed_while_pushing_readers_see_only_whole_snapshots(garage());
}

#[test]
fn nginx_killed_while_pushing_readers_see_only_whole_snapshots() {
    killed_while_pushing_readers_see_only_whole_snapshots(nginx());
}

/// Publishers keep going while the target is killed mid-stream and restarted: commands fail
/// or leave it behind, readers never see a torn snapshot, and `vexil publish` catches up.
fn killed_while_pushing_readers_see_only_whole_snapshots(mut remote: Remote) {
    let p = TestProject::new();
    p.set_targets("dev", &remote.target("dev"));
    p.ok(&["publish"]);
    let reader = Reader::start(remote.fetcher("dev"));
    // One exit status per attempt, paced so that attempts fall inside the outage.
    let script = format!(
        "for i in $(seq 1 40); do {} feature set {FLAG} true --user=$i --dev >/dev/null 2>&1; echo $?; sleep 0.05; done",
        support::VEXIL
    );
    let publisher = std::process::Command::new("sh")
        .arg("-c")
        .arg(script)
        .current_dir(p.path())
        .envs(p.env.iter().cloned())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    remote.kill();
    std::thread::sleep(Duration::from_millis(1500));
    remote.restart();
    let out = publisher.wait_with_output().unwrap();
    let statuses: Vec<String> = stdout(&out).lines().map(String::from).collect();
    assert_eq!(statuses.len(), 40);
    let failed = statuses.iter().filter(|s| *s != "0").count();
    assert!(failed > 0, "attempts during the outage failed");
    assert!(statuses.iter().all(|s| s == "0" || s == "1"), "failures are errors, not crashes: {statuses:?}");
    p.ok(&["publish"]);
    p.ok(&["status"]);
    reader.finish(&p, "dev");
    assert_target_matches_database(&remote, &p, "dev");
    eprintln!("{failed} of 40 attempts failed during the outage; {} versions committed", p.versions("dev").len() - 1);
}

// ---------------------------------------------------------------------------------------------

/// A command against a target that cannot take the push: refused, naming the environment
/// and target, with nothing changed.
fn refused_by_target(p: &TestProject, needle: &str) {
    let before = p.fingerprint();
    let out = p.run(&["feature", "set", FLAG, "true", "--dev"]);
    let err = stderr(&out);
    eprintln!("{err}");
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("environment dev, target cdn"), "{err}");
    assert!(err.to_lowercase().contains(&needle.to_lowercase()), "stderr lacks {needle:?}: {err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(before == p.fingerprint(), "a refused command changed something");
    let status = p.run(&["status"]);
    assert_eq!(status.status.code(), Some(1), "status reports the broken target");
}

#[test]
fn targets_that_cannot_take_writes_are_refused_up_front() {
    let garage = Garage::start();
    let nginx = Nginx::start();
    let p = TestProject::new();

    let missing_bucket = garage.target_toml("cdn", "dev").replace("bucket = \"flags\"", "bucket = \"no-such-bucket\"");
    p.set_targets("dev", &missing_bucket);
    refused_by_target(&p, "no-such-bucket");

    let wrong_secret = garage.target_toml_with_secret("cdn", "dev", &"0".repeat(64));
    p.set_targets("dev", &wrong_secret);
    refused_by_target(&p, "signature");

    p.set_targets("dev", &nginx.target_toml("cdn", "broken/dev"));
    refused_by_target(&p, "500");

    // Reads work there (404: nothing yet), writes do not: only the write check catches it.
    p.set_targets("dev", &nginx.target_toml("cdn", "readonly/dev"));
    refused_by_target(&p, "405");

    let closed = support::servers::free_port();
    p.set_targets(
        "dev",
        &format!(
            "[[environment.target]]\nname = \"cdn\"\nkind = \"http\"\nurl = \"http://127.0.0.1:{closed}/flags/dev\"\n"
        ),
    );
    refused_by_target(&p, "connect");

    // Fixed, the same command goes through.
    p.set_targets("dev", &nginx.target_toml("cdn", "flags/dev"));
    p.ok(&["feature", "set", FLAG, "true", "--dev"]);
    p.ok(&["status"]);
}
