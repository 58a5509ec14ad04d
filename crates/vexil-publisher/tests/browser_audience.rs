//! What reaches a browser: a browser snapshot holds the client-side flags only, no raw actor
//! id, opt-out or server-only flag name, and answers as the full snapshot does for every
//! flag it holds.

mod support;

use std::io::Write;
use std::process::Stdio;
use support::*;

/// Client-side: `new_navigation_bar` (its definition says so) and `checkout_redesign`
/// (vexil.toml's `checkout_*`). Server-only: the other two.
const CLIENT_SIDE: [&str; 2] = ["checkout_redesign", "new_navigation_bar"];
const SERVER_ONLY: [&str; 2] = ["internal_admin_console", "secret_pricing_experiment"];
/// Every id any gate of production holds.
const IDS: [&str; 9] = [
    "User:1001",
    "User:alice.liddell@example.com",
    "Project:5005",
    "User:1002",
    "User:mallory",
    "User:7777",
    "Project:4242",
    "Repository:svc-internal-robot",
    "Group:9970",
];

fn project() -> TestProject {
    let p = TestProject::new();
    let toml = std::fs::read_to_string(p.path().join("vexil.toml")).unwrap();
    let toml = toml.replace(
        "[groups]\n",
        "[groups]\nbeta_testers = { Equal = [{ Property = [\"email\"] }, \"carol@example.com\"] }\nneeds_secret = { FeatureEnabled = [\"secret_pricing_experiment\"] }\n",
    );
    assert!(toml.contains("\nclient_side = []\n"), "vexil init writes an empty client_side list");
    std::fs::write(
        p.path().join("vexil.toml"),
        toml.replace("\nclient_side = []\n", "\nclient_side = [\"checkout_*\"]\n"),
    )
    .unwrap();
    p.set_targets(
        "production",
        "[[environment.target]]\nkind = \"directory\"\npath = \"public/production\"\n\
         [[environment.target]]\nname = \"browser\"\naudience = \"browser\"\nkind = \"directory\"\npath = \"public/production-browser\"\n",
    );
    std::fs::create_dir_all(p.path().join("public/production-browser")).unwrap();
    p.write(
        "config/feature_flags/beta/new_navigation_bar.yml",
        "---\nname: new_navigation_bar\nmilestone: '17.0'\ngroup: group::test\ntype: beta\ndefault_enabled: false\nclient_side: true\n",
    );
    p.define("checkout_redesign", "gitlab_com_derisk", false);
    p.define("secret_pricing_experiment", "experiment", false);
    p.define("internal_admin_console", "ops", true);
    p.ok(&["publish"]);
    let set = |args: &[&str]| p.ok(&on_production(args));
    set(&["new_navigation_bar", "true", "--user=1001,alice.liddell@example.com", "--project=5005"]);
    set(&["new_navigation_bar", "25", "--actors"]);
    set(&["new_navigation_bar", "opt_out", "--user=1002,mallory"]);
    set(&["checkout_redesign", "true", "--feature-group=beta_testers", "--group=9970"]);
    set(&["checkout_redesign", "30", "--actors"]);
    set(&["secret_pricing_experiment", "true", "--user=7777", "--project=4242"]);
    set(&["secret_pricing_experiment", "true", "--repository=svc-internal-robot"]);
    set(&["internal_admin_console", "opt_out", "--user=1001", "--force"]);
    p
}

/// `vexil feature set <args> --production`, past the staging consistency check.
fn on_production<'a>(args: &[&'a str]) -> Vec<&'a str> {
    let mut a = vec!["feature", "set"];
    a.extend_from_slice(args);
    a.extend(["--production", "--ignore-feature-flag-consistency-check"]);
    a
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle.as_bytes())
}

#[test]
fn a_browser_snapshot_holds_no_raw_id_opt_out_or_server_only_flag_name() {
    let p = project();
    let server = std::fs::read(p.path().join("public/production/latest.vxl")).unwrap();
    let browser = std::fs::read(p.path().join("public/production-browser/latest.vxl")).unwrap();

    let mut out = p.command(&["snapshot", "--env", "production", "--audience", "browser"]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(out.stdout, browser, "the target holds what `vexil snapshot --audience browser` writes");
    out = p.command(&["snapshot", "--env", "production"]).output().unwrap();
    assert_eq!(out.stdout, server);

    // The search is meaningful: the full snapshot has every name and text id in the clear.
    for needle in
        SERVER_ONLY.iter().chain(&CLIENT_SIDE).chain(&["alice.liddell@example.com", "mallory", "svc-internal-robot"])
    {
        assert!(contains(&server, needle), "the full snapshot lacks {needle:?}");
    }
    for needle in SERVER_ONLY.iter().chain(&IDS).chain(&["alice.liddell", "mallory", "svc-internal-robot"]) {
        assert!(!contains(&browser, needle), "the browser snapshot holds {needle:?}");
    }
    // Numeric ids travel as numbers under a kind name; a browser snapshot has no kinds at all.
    for kind in ["User", "Project", "Group", "Repository"] {
        assert!(!contains(&browser, kind), "the browser snapshot names the kind {kind}");
    }
    assert!(contains(&server, "Project") && contains(&server, "Group"));
    for needle in CLIENT_SIDE {
        assert!(contains(&browser, needle), "the browser snapshot lacks client-side flag {needle}");
    }

    let inspected = p.json(&["inspect", "public/production-browser/latest.vxl"]);
    assert_eq!(inspected["audience"], "browser");
    let names: Vec<&String> = inspected["flags"].as_object().unwrap().keys().collect();
    assert_eq!(names, CLIENT_SIDE);
    assert_eq!(inspected["flags"]["new_navigation_bar"]["gates"]["opt_outs"], serde_json::json!({"hashed": 2}));
    let full = p.json(&["inspect", "--env", "production"]);
    assert_eq!(full["audience"], "server");
    assert_eq!(full["flags"]["secret_pricing_experiment"]["audience"], "server");
    assert_eq!(full["flags"]["checkout_redesign"]["audience"], "browser");
    assert!(p.ok(&["inspect", "--env", "production"]).contains("checkout_redesign"));

    // The target is checked by content and stays current: nothing to push, nothing behind.
    let status = p.json(&["status"]);
    let browser_row = status["targets"].as_array().unwrap().iter().find(|r| r["target"] == "browser").unwrap();
    assert_eq!(browser_row["audience"], "browser");
    assert_eq!(browser_row["behind"], false, "{status}");
    assert_eq!(status["behind"], false, "{status}");
    assert!(p.ok(&["publish", "--env", "production"]).contains("up to date"));
}

#[test]
fn a_browser_snapshot_agrees_with_the_full_one_on_a_large_random_sample() {
    let p = project();
    let server = p.path().join("public/production/latest.vxl");
    let browser = p.path().join("public/production-browser/latest.vxl");
    let pool: Vec<String> = IDS
        .iter()
        .map(|s| s.to_string())
        .chain((0..40).map(|i| format!("User:{}", 990 + i)))
        .chain(["User:1002:opt_out".into(), "User:mallory:opt_out".into(), "Group:9970".into()])
        .collect();
    // A fixed xorshift stream: the sample is large and the same on every run.
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let mut lines = String::new();
    let flags: Vec<&str> = CLIENT_SIDE.iter().chain(&SERVER_ONLY).copied().collect();
    for _ in 0..5_000 {
        let actors: Vec<serde_json::Value> = (0..next() % 3)
            .map(|_| {
                let id = &pool[(next() % pool.len() as u64) as usize];
                let email = ["carol@example.com", "dave@example.com"][(next() % 2) as usize];
                serde_json::json!({"id": id, "properties": {"email": email}})
            })
            .collect();
        let random = (next() % 1000) as f64 / 1000.0;
        let flag = flags[(next() % flags.len() as u64) as usize];
        lines.push_str(&serde_json::json!({"flag": flag, "actors": actors, "random": random, "now": 0}).to_string());
        lines.push('\n');
    }
    let eval = |snapshot: &std::path::Path| -> Vec<serde_json::Value> {
        let mut child = p
            .command(&["eval", "--batch", "--snapshot", snapshot.to_str().unwrap()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        // Written from another thread: the answers fill the output pipe while questions remain.
        let mut stdin = child.stdin.take().unwrap();
        let input = lines.clone();
        let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()).unwrap());
        let out = child.wait_with_output().unwrap();
        writer.join().unwrap();
        assert!(out.status.success());
        String::from_utf8(out.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
    };
    let (full, page) = (eval(&server), eval(&browser));
    assert_eq!(full.len(), 5_000);
    let mut enabled = 0;
    for ((input, f), b) in lines.lines().zip(&full).zip(&page) {
        let flag = serde_json::from_str::<serde_json::Value>(input).unwrap()["flag"].as_str().unwrap().to_string();
        if CLIENT_SIDE.contains(&flag.as_str()) {
            assert_eq!(f, b, "{input}");
            enabled += usize::from(f["enabled"] == true);
        } else {
            // A browser snapshot asked about a server-only flag: not found, never its state.
            assert_eq!(b["reason"], "not_found", "{input}");
            assert_eq!(b["enabled"], false);
        }
    }
    // Both answers occur: the sample exercises allow-lists, opt-outs, groups and percentages.
    assert!(enabled > 300 && enabled < 2_200, "{enabled} of the client-side cases enabled");
}

#[test]
fn lint_names_personal_literals_that_browsers_would_receive() {
    let p = project();
    let out = p.ok(&["lint"]);
    assert!(out.contains("client-side flag checkout_redesign") && out.contains("carol@example.com"), "{out}");
    assert!(out.contains("feature group `beta_testers`"), "{out}");
    let v = p.json(&["lint"]);
    let exposures = v["browser_exposures"].as_array().unwrap();
    assert_eq!(exposures.len(), 1, "{v}");
    assert_eq!(exposures[0]["looks_like"], "an e-mail address");
    assert_eq!(v["unmatched_client_side"], serde_json::json!([]));

    let toml = std::fs::read_to_string(p.path().join("vexil.toml")).unwrap();
    std::fs::write(p.path().join("vexil.toml"), toml.replace("[\"checkout_*\"]", "[\"checkout_*\", \"legacy_*\"]"))
        .unwrap();
    assert!(p.ok(&["lint"]).contains("client_side lists \"legacy_*\", which matches no defined flag"));
}

#[test]
fn states_browsers_cannot_be_given_and_bad_audiences_are_refused() {
    let p = project();
    let before = p.fingerprint();
    // The group asks about a server-only flag: a browser could not evaluate it.
    let err = p.fails(
        &on_production(&["checkout_redesign", "true", "--feature-group=needs_secret"]),
        1,
        "flag `checkout_redesign`: client-side, but feature group `needs_secret` asks FeatureEnabled(\"secret_pricing_experiment\")",
    );
    assert!(err.contains("mark `secret_pricing_experiment` client_side"), "{err}");
    assert_eq!(p.fingerprint(), before, "a refused change writes nothing");
    // Asking about a computed name might reach any flag: refused too.
    let toml = std::fs::read_to_string(p.path().join("vexil.toml")).unwrap();
    let computed = "needs_secret = { FeatureEnabled = [{ Property = [\"which\"] }] }";
    std::fs::write(
        p.path().join("vexil.toml"),
        toml.replace("needs_secret = { FeatureEnabled = [\"secret_pricing_experiment\"] }", computed),
    )
    .unwrap();
    p.fails(
        &on_production(&["checkout_redesign", "true", "--feature-group=needs_secret"]),
        1,
        "asks FeatureEnabled of a computed name",
    );
    std::fs::write(p.path().join("vexil.toml"), &toml).unwrap();
    // Lint names what the next commit would refuse: here a vexil.toml change that makes a
    // client-side flag's group ask about a server-only one.
    p.ok(&on_production(&["checkout_redesign", "true", "--feature-group=gitlab_team_members"]));
    std::fs::write(
        p.path().join("vexil.toml"),
        toml.replace(
            "gitlab_team_members = {",
            "gitlab_team_members = { FeatureEnabled = [\"secret_pricing_experiment\"] }\nunused_old = {",
        ),
    )
    .unwrap();
    let lint = p.run(&["lint"]);
    assert_eq!(lint.status.code(), Some(1), "{}", stdout(&lint));
    assert!(stdout(&lint).contains("error: environment production: flag `checkout_redesign`: client-side, but feature group `gitlab_team_members` asks FeatureEnabled(\"secret_pricing_experiment\")"), "{}", stdout(&lint));
    std::fs::write(p.path().join("vexil.toml"), &toml).unwrap();

    let toml = std::fs::read_to_string(p.path().join("vexil.toml")).unwrap();
    std::fs::write(p.path().join("vexil.toml"), toml.replace("audience = \"browser\"", "audience = \"everyone\""))
        .unwrap();
    p.fails(
        &["status"],
        1,
        "environment \"production\", target \"browser\": audience \"everyone\" (expected \"server\" or \"browser\")",
    );
    std::fs::write(p.path().join("vexil.toml"), toml.replace("[\"checkout_*\"]", "[\"Checkout-*\"]")).unwrap();
    p.fails(&["status"], 1, "client_side: \"Checkout-*\" is neither a flag name nor a pattern");
    std::fs::write(p.path().join("vexil.toml"), &toml).unwrap();
    p.fails(&["snapshot", "--env", "production", "--audience", "edge"], 2, "invalid value 'edge'");

    // A browser target holding the full snapshot is caught as not what the database published.
    std::fs::copy(p.path().join("public/production/latest.vxl"), p.path().join("public/production-browser/latest.vxl"))
        .unwrap();
    let out = p.run(&["status"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stdout(&out).contains("browser audience): latest.vxl is not a snapshot this database published"),
        "{}",
        stdout(&out)
    );
    p.ok(&["publish", "--env", "production", "--repair"]);
    p.ok(&["status"]);
}

#[test]
fn browser_snapshots_are_signed_and_survive_a_key_rotation() {
    let p = project();
    p.ok(&["keygen"]);
    p.ok(&["publish"]);
    let browser = "public/production-browser/latest.vxl";
    let inspected = p.json(&["inspect", browser]);
    assert_eq!((inspected["audience"].as_str(), inspected["verified"].as_bool()), (Some("browser"), Some(true)));
    let first_signer = inspected["signer"].clone();
    assert!(first_signer.is_string());

    // A new key signs new versions; the browser target, checked by content, is not "tampered".
    p.ok(&["keygen", "--force"]);
    p.ok(&["status"]);
    p.ok(&on_production(&["new_navigation_bar", "false"]));
    let inspected = p.json(&["inspect", browser]);
    assert_eq!(inspected["verified"], true);
    assert_ne!(inspected["signer"], first_signer);
    p.ok(&["status"]);
}

#[test]
fn a_database_from_before_browser_snapshots_is_migrated_and_its_versions_still_serve_browsers() {
    let p = project();
    let db = p.path().join(".vexil/state.db");
    // Schema 2: no browser_snapshot column (nor what schemas 4 to 7 added: `via`, tokens, the
    // outbox, rollouts, the change log's chain).
    let c = rusqlite::Connection::open(&db).unwrap();
    c.execute_batch(
        "DROP INDEX changes_by_version; ALTER TABLE changes DROP COLUMN hash; ALTER TABLE changes DROP COLUMN prev_hash;
         ALTER TABLE changes DROP COLUMN snapshot_sha256;
         ALTER TABLE versions DROP COLUMN browser_snapshot; ALTER TABLE changes DROP COLUMN via; DROP TABLE tokens;
         DROP TABLE outbox; DROP TABLE outbox_leases; DROP TABLE rollout_events; DROP TABLE rollouts;
         PRAGMA user_version = 2;",
    )
    .unwrap();
    drop(c);
    std::fs::remove_dir_all(p.path().join("public/production-browser")).unwrap();
    std::fs::create_dir_all(p.path().join("public/production-browser")).unwrap();

    // Opening migrates; old versions have no stored browser snapshot, so one is derived.
    p.ok(&["publish", "--env", "production"]);
    let c = rusqlite::Connection::open(&db).unwrap();
    let schema: i64 = c.query_row("PRAGMA user_version", [], |r| r.get(0)).unwrap();
    assert_eq!(schema, 7, "migrated to the current schema");
    let stored: i64 = c.query_row("SELECT count(browser_snapshot) FROM versions", [], |r| r.get(0)).unwrap();
    assert_eq!(stored, 0);
    let browser = std::fs::read(p.path().join("public/production-browser/latest.vxl")).unwrap();
    let out = p.command(&["snapshot", "--env", "production", "--audience", "browser"]).output().unwrap();
    assert_eq!(out.stdout, browser);
    assert!(!contains(&browser, "secret_pricing_experiment"));
    p.ok(&["status"]);
    p.ok(&["log", "--verify"]);

    // The next commit stores its own.
    p.ok(&on_production(&["new_navigation_bar", "false"]));
    let stored: i64 = c.query_row("SELECT count(browser_snapshot) FROM versions", [], |r| r.get(0)).unwrap();
    assert_eq!(stored, 1);
    p.ok(&["status"]);
}
