//! `vexil serve` over real HTTP: snapshots with ETags and CORS, immutable versions, the
//! event stream with resume and heartbeats, the dashboard's data behind a token, refusals —
//! on SQLite (polling) and PostgreSQL (LISTEN/NOTIFY).

mod support;

use support::servers::{EventStream, Postgres, Serve};
use support::TestProject;
use vexil_core::Snapshot;

const FLAG: &str = "new_navigation_bar";

fn serve(p: &TestProject, extra: &[&str]) -> Serve {
    let mut args = vec!["serve", "--listen", "127.0.0.1:0"];
    args.extend_from_slice(extra);
    Serve::start(p.command(&args))
}

/// `value` may carry options: `"25 --actors"`.
fn set(p: &TestProject, value: &str, env: &str) {
    let env = format!("--{env}");
    let mut args = vec!["feature", "set", FLAG];
    args.extend(value.split_whitespace());
    args.extend([env.as_str(), "--ignore-feature-flag-consistency-check"]);
    p.ok(&args);
}

fn data(event: &support::servers::SseEvent) -> serde_json::Value {
    serde_json::from_str(&event.data).unwrap()
}

#[test]
fn snapshots_with_etags_immutable_versions_cors_and_content_types() {
    let p = TestProject::new();
    set(&p, "true", "dev");
    let s = serve(&p, &[]);

    let latest = s.get("/dev/latest.vxl", &[]);
    assert_eq!(latest.status, 200);
    assert_eq!(latest.header("content-type"), Some("application/octet-stream"));
    assert_eq!(latest.header("access-control-allow-origin"), Some("*"));
    assert!(latest.header("access-control-expose-headers").unwrap().contains("ETag"));
    assert_eq!(latest.header("cache-control"), Some("public, max-age=1"));
    let snapshot = Snapshot::decode(&latest.body, &[]).unwrap();
    assert_eq!(snapshot.version(), p.version("dev"));
    assert_eq!(latest.body, p.versions("dev").last().unwrap().1, "the database's bytes, exactly");

    // Strong ETag: quoted, no W/, and the same bytes always get the same tag.
    let etag = latest.header("etag").unwrap().to_string();
    assert!(etag.starts_with('"') && etag.ends_with('"') && etag.len() > 20, "{etag}");
    let again = s.get("/dev/latest.vxl", &[("If-None-Match", &etag)]);
    assert_eq!(again.status, 304);
    assert!(again.body.is_empty());
    assert_eq!(again.header("etag"), Some(etag.as_str()));
    assert_eq!(s.get("/dev/latest.vxl", &[("If-None-Match", &format!("\"x\", W/{etag}"))]).status, 304);
    assert_eq!(s.get("/dev/latest.vxl", &[("If-None-Match", "\"other\"")]).status, 200);

    // Every version at its own URL, cached forever, with the tag of its bytes.
    let versions = p.versions("dev");
    for (number, bytes) in &versions {
        let r = s.get(&format!("/dev/v/{number}.vxl"), &[]);
        assert_eq!(r.status, 200);
        assert_eq!(&r.body, bytes);
        assert_eq!(r.header("cache-control"), Some("public, max-age=31536000, immutable"));
    }
    let newest = s.get(&format!("/dev/v/{}.vxl", versions.last().unwrap().0), &[]);
    assert_eq!(newest.header("etag"), Some(etag.as_str()), "a version and latest share a tag");
    assert_eq!(s.get(&format!("/dev/v/{}.vxl", versions.last().unwrap().0), &[("If-None-Match", &etag)]).status, 304);

    // A new version moves latest and its tag.
    set(&p, "false", "dev");
    wait_until(|| s.get("/dev/latest.vxl", &[("If-None-Match", &etag)]).status == 200);

    // HEAD: headers without a body.
    let head = support::servers::http_request(s.port, "HEAD", "/dev/latest.vxl", &[]).unwrap();
    assert_eq!(head.status, 200);
    assert!(head.body.is_empty());

    // Preflight for browsers sending If-None-Match or Last-Event-ID from another origin.
    for path in ["/dev/latest.vxl", "/dev/v/1.vxl", "/dev/events"] {
        let r = support::servers::http_request(
            s.port,
            "OPTIONS",
            path,
            &[("Origin", "https://app.example"), ("Access-Control-Request-Method", "GET")],
        )
        .unwrap();
        assert_eq!(r.status, 204, "{path}");
        assert_eq!(r.header("access-control-allow-origin"), Some("*"));
        let allowed = r.header("access-control-allow-headers").unwrap().to_ascii_lowercase();
        assert!(allowed.contains("if-none-match") && allowed.contains("last-event-id"), "{allowed}");
    }

    let health = s.get("/healthz", &[]);
    assert_eq!(health.status, 200);
    let health: serde_json::Value = serde_json::from_slice(&health.body).unwrap();
    assert_eq!(health["status"], "ok");
    assert_eq!(health["environments"]["dev"], p.version("dev"));
}

#[test]
fn unknown_environments_versions_and_traversal_are_refused() {
    let p = TestProject::new();
    let s = serve(&p, &[]);
    let config = std::fs::read(p.path().join("vexil.toml")).unwrap();
    let database = std::fs::read(p.path().join(".vexil/state.db")).unwrap();
    for path in [
        "/nope/latest.vxl",
        "/nope/events",
        "/dev/v/999.vxl",
        "/dev/v/0.vxl",
        "/dev/v/-1.vxl",
        "/dev/v/1.json",
        "/dev/v/1e3.vxl",
        "/dev/v/18446744073709551616.vxl",
        "/dev/v/..%2F..%2Fvexil.toml",
        "/dev/../vexil.toml",
        "/../vexil.toml",
        "/www/../vexil.toml",
        "/www/..%2f..%2fvexil.toml",
        "/www/%2e%2e/%2e%2e/vexil.toml",
        "/pkg/../../vexil.toml",
        "/pkg/..%2f..%2f..%2fCargo.toml",
        "/www/../../../../etc/passwd",
        "/.vexil/state.db",
        "/vexil.toml",
    ] {
        let r = s.get(path, &[]);
        assert!(matches!(r.status, 400 | 404), "{path}: {}", r.status);
        assert!(
            !r.body.windows(config.len().min(40)).any(|w| w == &config[..config.len().min(40)])
                && !r.body.starts_with(b"root:")
                && !r.body.starts_with(&database[..16]),
            "{path} leaked a file"
        );
    }
    let r = s.get("/nope/latest.vxl", &[]);
    let body = String::from_utf8_lossy(&r.body);
    assert!(body.contains("unknown environment \\\"nope\\\"") && body.contains("production"), "{body}");
    // No write API: anything but GET, HEAD and OPTIONS on a snapshot is refused.
    for method in ["PUT", "POST", "DELETE"] {
        let r = support::servers::http_request(s.port, method, "/dev/latest.vxl", &[]).unwrap();
        assert_eq!(r.status, 405, "{method}");
    }
    drop(s);
    assert_eq!(std::fs::read(p.path().join("vexil.toml")).unwrap(), config);
}

#[test]
fn events_announce_each_version_resume_after_a_drop_and_keep_alive() {
    let p = TestProject::new();
    let s = serve(&p, &["--heartbeat", "1"]);
    let start = p.version("dev");

    let mut stream = EventStream::open(s.port, "/dev/events", &[]);
    assert_eq!(stream.status, 200);
    assert!(stream.header("content-type").unwrap().starts_with("text/event-stream"));
    assert_eq!(stream.header("access-control-allow-origin"), Some("*"));
    assert_eq!(stream.header("cache-control"), Some("no-store"));
    // A fresh subscriber learns the current version first.
    let first = stream.next_event().unwrap();
    assert_eq!((first.event.as_str(), first.id.as_deref()), ("snapshot", Some(start.to_string().as_str())));

    set(&p, "true", "dev");
    let event = stream.next_event().unwrap();
    let body = data(&event);
    assert_eq!(event.id, Some((start + 1).to_string()));
    assert_eq!(body["version"], start + 1);
    assert_eq!(body["changed"], serde_json::json!([FLAG]));
    let latest = s.get("/dev/latest.vxl", &[]);
    assert_eq!(body["etag"].as_str(), latest.header("etag"), "the event names the bytes latest.vxl serves");

    // Other environments' changes are not this stream's business; heartbeats keep it open.
    set(&p, "true", "staging");
    std::thread::sleep(std::time::Duration::from_millis(2500));
    set(&p, "false", "dev");
    let event = stream.next_event().unwrap();
    assert_eq!(event.id, Some((start + 2).to_string()));
    assert!(stream.comments.iter().any(|c| c == "heartbeat"), "{:?}", stream.comments);
    drop(stream);

    // Dropped: two changes happen; resuming from the last id gets the newest version, with
    // everything changed since then, and nothing before it.
    p.define("other_flag", "wip", false);
    p.ok(&["publish"]);
    set(&p, "25 --actors", "dev");
    let now = p.version("dev");
    assert_eq!(now, start + 4);
    // The server follows the database within its poll interval; resume once it has.
    wait_until(|| {
        let health: serde_json::Value = serde_json::from_slice(&s.get("/healthz", &[]).body).unwrap();
        health["environments"]["dev"] == now
    });
    let mut resumed = EventStream::open(s.port, "/dev/events", &[("Last-Event-ID", &(start + 2).to_string())]);
    let event = resumed.next_event().unwrap();
    assert_eq!(event.id, Some(now.to_string()));
    assert_eq!(data(&event)["changed"], serde_json::json!([FLAG, "other_flag"]));
    // Up to date: the stream stays quiet until the next version.
    let mut current = EventStream::open(s.port, "/dev/events", &[("Last-Event-ID", &now.to_string())]);
    // An id this database never reached (a restore from backup): the current state at once,
    // then every new version — none of them mistaken for already seen.
    let mut ahead = EventStream::open(s.port, "/dev/events", &[("Last-Event-ID", &(now + 50).to_string())]);
    assert_eq!(ahead.next_event().unwrap().id, Some(now.to_string()));
    set(&p, "true", "dev");
    let event = current.next_event().unwrap();
    assert_eq!(event.id, Some((now + 1).to_string()), "no repeat of version {now}");
    assert_eq!(resumed.next_event().unwrap().id, Some((now + 1).to_string()));
    assert_eq!(ahead.next_event().unwrap().id, Some((now + 1).to_string()));
}

#[test]
fn browser_routes_serve_browser_snapshots_and_announce_only_client_side_flags() {
    let p = TestProject::new();
    p.write(
        "config/feature_flags/beta/new_navigation_bar.yml",
        "---\nname: new_navigation_bar\nmilestone: '17.0'\ngroup: group::test\ntype: beta\ndefault_enabled: false\nclient_side: true\n",
    );
    p.define("server_only_secret", "ops", false);
    p.ok(&["publish"]);
    set(&p, "true --user=4242", "dev");
    let s = serve(&p, &[]);

    let latest = s.get("/dev/browser/latest.vxl", &[]);
    assert_eq!(latest.status, 200);
    assert_eq!(latest.header("access-control-allow-origin"), Some("*"));
    let out = p.command(&["snapshot", "--env", "dev", "--audience", "browser"]).output().unwrap();
    assert_eq!(latest.body, out.stdout, "what `vexil snapshot --audience browser` writes");
    let snapshot = Snapshot::decode(&latest.body, &[]).unwrap();
    assert!(matches!(snapshot.audience(), vexil_core::Audience::Browser { .. }));
    assert_eq!(snapshot.flags().map(|f| f.name().to_string()).collect::<Vec<_>>(), [FLAG]);
    let etag = latest.header("etag").unwrap().to_string();
    assert_ne!(Some(etag.as_str()), s.get("/dev/latest.vxl", &[]).header("etag"));
    assert_eq!(s.get("/dev/browser/latest.vxl", &[("If-None-Match", &etag)]).status, 304);
    let version = snapshot.version();
    let immutable = s.get(&format!("/dev/browser/v/{version}.vxl"), &[]);
    assert_eq!((immutable.status, &immutable.body), (200, &latest.body));
    assert_eq!(immutable.header("cache-control"), Some("public, max-age=31536000, immutable"));
    assert_eq!(s.get("/nowhere/browser/latest.vxl", &[]).status, 404);

    let mut stream = EventStream::open(s.port, "/dev/browser/events", &[]);
    assert_eq!(data(&stream.next_event().unwrap())["etag"].as_str(), Some(etag.as_str()));
    // A server-only change is a new version, but browsers are not told the flag's name.
    p.ok(&["feature", "set", "server_only_secret", "true", "--dev"]);
    let event = data(&stream.next_event().unwrap());
    assert_eq!(event["version"], version + 1);
    assert_eq!(event["changed"], serde_json::json!([]));
    set(&p, "false", "dev");
    let event = data(&stream.next_event().unwrap());
    assert_eq!(event["changed"], serde_json::json!([FLAG]));
    assert_eq!(event["etag"].as_str(), s.get("/dev/browser/latest.vxl", &[]).header("etag"));
    // A version stored before vexil made browser snapshots has none: 404, naming no flag.
    drop(stream);
    drop(s);
    let db = rusqlite::Connection::open(p.path().join(".vexil/state.db")).unwrap();
    db.execute("UPDATE versions SET browser_snapshot = NULL WHERE environment = 'dev'", []).unwrap();
    drop(db);
    let old = serve(&p, &[]);
    for path in ["/dev/browser/latest.vxl".to_string(), format!("/dev/browser/v/{version}.vxl")] {
        let r = old.get(&path, &[]);
        assert_eq!(r.status, 404, "{path}");
        let body = String::from_utf8_lossy(&r.body).to_string();
        assert!(body.contains("no browser snapshot") && !body.contains("server_only_secret"), "{body}");
    }
    assert_eq!(old.get("/dev/latest.vxl", &[]).status, 200);
    drop(old);
    let s = serve(&p, &[]);
    // Resuming across the server-only change names nothing server-only either.
    let mut resumed = EventStream::open(s.port, "/dev/browser/events", &[("Last-Event-ID", &version.to_string())]);
    assert_eq!(data(&resumed.next_event().unwrap())["changed"], serde_json::json!([FLAG]));
}

#[test]
fn public_browser_keeps_full_snapshots_behind_the_token() {
    let mut p = TestProject::new();
    set(&p, "true", "dev");
    let toml = std::fs::read_to_string(p.path().join("vexil.toml")).unwrap();
    // The token lives outside the project, which is committed.
    let secrets = tempfile::tempdir().unwrap();
    let token_file = secrets.path().join("serve-token");
    std::fs::write(&token_file, "edge-token\n").unwrap();
    p.write(
        "vexil.toml",
        &format!("{toml}\n[serve]\ntoken_file = {:?}\npublic = \"browser\"\n", token_file.display().to_string()),
    );
    let s = serve(&p, &[]);
    let bearer = [("Authorization", "Bearer edge-token")];
    for path in ["/dev/latest.vxl", "/dev/v/1.vxl", "/dev/events", "/events"] {
        assert_eq!(s.get(path, &[]).status, 401, "{path}");
    }
    assert_eq!(s.get("/dev/latest.vxl", &bearer).status, 200);
    assert_eq!(EventStream::open(s.port, "/dev/events", &bearer).status, 200);
    assert_eq!(s.get("/dev/browser/latest.vxl", &[]).status, 200);
    assert_eq!(EventStream::open(s.port, "/dev/browser/events", &[]).status, 200);
    assert_eq!(s.get("/healthz", &[]).status, 200);
    drop(s);

    // Without a token the full routes would be "loopback only", and a reverse proxy on this
    // host is loopback: refused.
    p.write("vexil.toml", &format!("{toml}\n[serve]\npublic = \"browser\"\n"));
    p.fails(&["serve", "--listen", "127.0.0.1:0"], 1, "public = \"browser\" needs a token");
    p.write("vexil.toml", &format!("{toml}\n[serve]\npublic = \"everyone\"\n"));
    p.fails(&["serve", "--listen", "127.0.0.1:0"], 1, "[serve] public = \"everyone\": expected \"all\" or \"browser\"");
    // Secrets never come from the committed project.
    p.write("vexil.toml", &format!("{toml}\n[serve]\ntoken = \"edge-token\"\n"));
    p.fails(&["serve", "--listen", "127.0.0.1:0"], 1, "[serve] token: a secret does not belong in vexil.toml");
    p.write("vexil.toml", &format!("{toml}\n[serve]\ntoken_file = \".vexil/token\"\n"));
    p.fails(&["serve", "--listen", "127.0.0.1:0"], 1, "inside the project");
    std::fs::write(&token_file, "\n").unwrap();
    p.write("vexil.toml", &format!("{toml}\n[serve]\ntoken_file = {:?}\n", token_file.display().to_string()));
    p.fails(&["serve", "--listen", "127.0.0.1:0"], 1, "the file is empty");
    p.write("vexil.toml", &toml);
    p.env.push(("VEXIL_SERVE_TOKEN".into(), "from-the-environment".into()));
    let s = serve(&p, &[]);
    assert_eq!(s.get("/api/definitions", &[]).status, 401);
    assert_eq!(s.get("/api/definitions", &[("Authorization", "Bearer from-the-environment")]).status, 200);
}

#[test]
fn an_environments_first_version_is_announced() {
    let p = TestProject::new();
    let config = std::fs::read_to_string(p.path().join("vexil.toml")).unwrap();
    p.write("vexil.toml", &format!("{config}\n[[environment]]\nname = \"canary\"\n"));
    let s = serve(&p, &[]);
    assert_eq!(s.get("/canary/latest.vxl", &[]).status, 404, "nothing published yet");
    let mut stream = EventStream::open(s.port, "/canary/events", &[]);
    p.ok(&["publish", "--env", "canary"]);
    let event = stream.next_event().unwrap();
    assert_eq!(event.id.as_deref(), Some("1"));
    assert_eq!(data(&event)["changed"], serde_json::json!([FLAG]));
    assert_eq!(s.get("/canary/latest.vxl", &[]).status, 200);
}

#[test]
fn dashboard_data_needs_the_token_and_snapshots_stay_public() {
    let p = TestProject::new();
    set(&p, "true", "dev");
    // Without a token, loopback readers (these tests) see everything.
    let open = serve(&p, &[]);
    let defs = open.get("/api/definitions", &[]);
    assert_eq!(defs.status, 200);
    let defs: serde_json::Value = serde_json::from_slice(&defs.body).unwrap();
    assert_eq!(defs["definitions"][0]["name"], FLAG);
    assert_eq!(defs["definitions"][0]["type"], "beta");
    assert_eq!(defs["environments"][0], "dev");
    let log: serde_json::Value = serde_json::from_slice(&open.get("/dev/log", &[]).body).unwrap();
    assert_eq!(log["changes"][0]["flag"], FLAG);
    assert_eq!(log["changes"][0]["action"], "enable");
    let state: serde_json::Value = serde_json::from_slice(&open.get("/dev/state", &[]).body).unwrap();
    assert_eq!(state["flags"][FLAG]["boolean"], true);
    // Loopback by address is not enough: a page rebound by DNS names its own site as Host,
    // and a reverse proxy on this host says it forwarded the request.
    for (name, value) in [
        ("Host", "evil.example:8417"),
        ("Host", "127.0.0.1.nip.io"),
        ("X-Forwarded-For", "203.0.113.9"),
        ("Forwarded", "for=203.0.113.9"),
        ("Via", "1.1 proxy"),
    ] {
        let r = open.get("/api/definitions", &[(name, value)]);
        assert_eq!(r.status, 403, "{name}: {value}");
        assert!(String::from_utf8_lossy(&r.body).contains("VEXIL_SERVE_TOKEN"), "{name}: {value}");
    }
    for host in ["localhost:1234", "127.0.0.1", "[::1]:8417", "app.localhost"] {
        assert_eq!(open.get("/api/definitions", &[("Host", host)]).status, 200, "{host}");
    }
    assert_eq!(open.get("/dev/latest.vxl", &[("Host", "flags.example.com")]).status, 200, "snapshots stay public");
    let page = open.get("/", &[]);
    assert!(page.header("content-security-policy").unwrap().contains("frame-ancestors 'none'"));
    assert_eq!(page.header("x-frame-options"), Some("DENY"));
    // The dashboard and the package files it imports come from the binary, in a project
    // that has none of them, with their types; a name that is not one of them is a 404.
    let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    for (path, file, media) in [
        ("/www/index.html", "www/index.html", "text/html"),
        ("/www/app.js", "www/app.js", "text/javascript"),
        ("/pkg/src/browser.js", "pkg/src/browser.js", "text/javascript"),
        ("/pkg/src/tables.js", "pkg/src/tables.js", "text/javascript"),
    ] {
        let r = open.get(path, &[]);
        assert_eq!((r.status, r.body.as_slice()), (200, std::fs::read(repo.join(file)).unwrap().as_slice()), "{path}");
        assert!(r.header("content-type").unwrap().starts_with(media), "{path}");
    }
    for missing in ["/www/nope.js", "/pkg/src/index.d.ts", "/pkg/other/browser.js", "/www/", "/www/sub/app.js"] {
        assert_eq!(open.get(missing, &[]).status, 404, "{missing}");
    }
    drop(open);

    let mut p = p;
    p.env.push(("VEXIL_SERVE_TOKEN".into(), "s3cret-token".into()));
    let guarded = serve(&p, &[]);
    for path in ["/", "/api/definitions", "/dev/log", "/dev/state", "/www/index.html"] {
        let r = guarded.get(path, &[]);
        assert_eq!(r.status, 401, "{path}");
        assert!(r.header("www-authenticate").is_some());
        assert_eq!(guarded.get(path, &[("Authorization", "Bearer wrong-token!")]).status, 401);
    }
    assert_eq!(guarded.get("/api/definitions", &[("Authorization", "Bearer s3cret-token")]).status, 200);
    assert_eq!(guarded.get("/dev/log", &[("Cookie", "a=b; vexil_token=s3cret-token")]).status, 200);
    // A link with the token sets a cookie and drops the token from the address.
    let r = guarded.get("/?token=s3cret-token", &[]);
    assert_eq!(r.status, 303);
    assert_eq!(r.header("location"), Some("/"));
    let cookie = r.header("set-cookie").unwrap();
    assert!(
        cookie.contains("vexil_token=s3cret-token")
            && cookie.contains("HttpOnly")
            && cookie.contains("SameSite=Strict")
            && cookie.contains("Max-Age=43200")
            && !cookie.contains("Secure"),
        "{cookie}"
    );
    let behind_tls = guarded.get("/?token=s3cret-token", &[("X-Forwarded-Proto", "https")]);
    assert!(behind_tls.header("set-cookie").unwrap().ends_with("; Secure"));
    assert_eq!(guarded.get("/?token=nope", &[]).status, 401);
    // Snapshots, streams and health stay public.
    assert_eq!(guarded.get("/dev/latest.vxl", &[]).status, 200);
    assert_eq!(guarded.get("/healthz", &[]).status, 200);
    assert_eq!(EventStream::open(guarded.port, "/dev/events", &[]).status, 200);
}

#[test]
fn serving_writes_nothing() {
    let p = TestProject::new();
    let before = p.fingerprint();
    let s = serve(&p, &[]);
    for path in ["/dev/latest.vxl", "/dev/v/1.vxl", "/api/definitions", "/dev/log", "/dev/state", "/healthz"] {
        assert_eq!(s.get(path, &[]).status, 200, "{path}");
    }
    drop(s);
    assert_eq!(p.fingerprint(), before);
}

#[test]
fn postgres_commits_reach_subscribers_through_notify() {
    let pg = Postgres::start();
    let p = TestProject::on_postgres(&pg);
    let s = serve(&p, &[]);
    let mut stream = EventStream::open(s.port, "/production/events", &[]);
    let first = stream.next_event().unwrap();
    let start: u64 = first.id.unwrap().parse().unwrap();
    for (i, value) in ["10 --actors", "20 --actors", "30 --actors"].iter().enumerate() {
        set(&p, value, "production");
        let event = stream.next_event().unwrap();
        assert_eq!(event.id, Some((start + 1 + i as u64).to_string()));
        let latest = s.get("/production/latest.vxl", &[]);
        assert_eq!(Snapshot::decode(&latest.body, &[]).unwrap().version(), start + 1 + i as u64);
    }
    // A server restarted after changes it missed serves the newest at once.
    drop(s);
    set(&p, "40 --actors", "production");
    let s = serve(&p, &[]);
    let latest = s.get("/production/latest.vxl", &[]);
    assert_eq!(Snapshot::decode(&latest.body, &[]).unwrap().version(), start + 4);
}

#[test]
fn bad_listen_address_and_taken_port_are_named() {
    let p = TestProject::new();
    p.fails(&["serve", "--listen", "localhost"], 2, "--listen \"localhost\"");
    p.fails(
        &["serve", "--listen", "127.0.0.1:0", "--www", "/nonexistent"],
        2,
        "--www /nonexistent: no index.html there",
    );
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = taken.local_addr().unwrap().to_string();
    p.fails(&["serve", "--listen", &address], 1, &format!("cannot listen on {address}"));
}

fn wait_until(mut done: impl FnMut() -> bool) {
    let start = std::time::Instant::now();
    while !done() {
        assert!(start.elapsed() < std::time::Duration::from_secs(10), "condition not met within 10 s");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

#[test]
fn slow_headers_are_cut_off_and_a_connection_flood_leaves_subscribers_their_events() {
    use std::io::Write;
    use std::net::TcpStream;
    use std::time::Duration;
    let p = TestProject::new();
    set(&p, "true", "dev");
    let s = serve(&p, &["--header-timeout", "1", "--max-connections", "8"]);
    // Slowloris: headers that never end are cut off at the deadline.
    let mut slow = TcpStream::connect(("127.0.0.1", s.port)).unwrap();
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ").unwrap();
    assert!(
        support::closed_within(&mut slow, Duration::from_secs(10)).is_some(),
        "still open long after the header deadline"
    );

    // Three subscribers, then a flood holding every other connection the limit allows.
    let mut subscribers: Vec<_> = (0..3).map(|_| EventStream::open(s.port, "/dev/events", &[])).collect();
    for sub in &mut subscribers {
        sub.next_event().unwrap(); // the current state
    }
    let mut flood: Vec<TcpStream> = Vec::new();
    let mut refused = 0;
    for _ in 0..20 {
        let mut c = TcpStream::connect(("127.0.0.1", s.port)).unwrap();
        c.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n").unwrap(); // and no more
        flood.push(c);
    }
    std::thread::sleep(Duration::from_millis(300));
    for c in &mut flood {
        if support::closed_within(c, Duration::from_millis(100)).is_some() {
            refused += 1;
        }
    }
    assert!(refused >= 15, "only {refused} of 20 connections past the limit of 8 were closed");
    set(&p, "false", "dev");
    for sub in &mut subscribers {
        assert_eq!(sub.next_event().unwrap().id.as_deref().map(str::parse::<u64>), Some(Ok(p.version("dev"))));
    }
    drop(flood);
    wait_until(|| s.try_get("/healthz", &[]).is_ok_and(|r| r.status == 200));
}

#[test]
fn a_version_that_does_not_load_stops_only_its_environment_and_health_says_so() {
    let p = TestProject::new();
    set(&p, "true", "dev");
    let health = |s: &Serve| {
        let r = s.get("/healthz", &[]);
        (r.status, serde_json::from_slice::<serde_json::Value>(&r.body).unwrap())
    };
    assert_eq!(health(&serve(&p, &[])).0, 200);
    // While no server runs, dev moves on and a damaged row appears in staging (a bad
    // restore, a disk fault). The writer refuses to build on it; the server must still
    // serve what it can.
    set(&p, "false", "dev");
    let staging = p.version("staging");
    let db = rusqlite::Connection::open(p.path().join(".vexil/state.db")).unwrap();
    db.execute(
        "INSERT INTO versions (environment, version, published_at, author, snapshot) VALUES ('staging', ?1, 0, 'x', x'5645584c0102')",
        [staging as i64 + 1],
    )
    .unwrap();
    drop(db);
    let s = serve(&p, &[]);
    let (status, body) = health(&s);
    assert_eq!((status, body["status"].as_str()), (503, Some("unhealthy")), "{body}");
    assert!(body["failing"]["staging"].as_str().unwrap().contains("does not decode"), "{body}");
    assert_eq!(body["environments"]["dev"], p.version("dev"), "dev is served at its newest version");
    assert_eq!(body["environments"]["production"], p.version("production"));
    assert_eq!(s.get("/dev/latest.vxl", &[]).status, 200);
    assert_eq!(s.get("/staging/latest.vxl", &[]).status, 404, "nothing loaded for staging: not a stale answer");
}
