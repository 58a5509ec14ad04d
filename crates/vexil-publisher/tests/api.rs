//! `vexil serve --api`: GitLab's Features API per environment, against GitLab's documented
//! curl examples and GitLab's own client (python-gitlab); tokens (scopes, expiry,
//! revocation, hashing at rest, rate limiting, authorship); four clients writing at once.

mod support;

use support::api::{token, ApiServer};
use support::servers::Postgres;
use support::TestProject;

const FLAG: &str = "new_navigation_bar";

fn curl(args: &[&str]) -> (u16, serde_json::Value) {
    let out = std::process::Command::new("curl")
        .args(["--silent", "--show-error", "--write-out", "\n%{http_code}"])
        .args(args)
        .output()
        .expect("curl (scripts/deps.sh installs it)");
    assert!(out.status.success(), "curl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    let (body, code) = text.rsplit_once('\n').unwrap();
    let json = if body.is_empty() { serde_json::Value::Null } else { serde_json::from_str(body).unwrap() };
    (code.parse().unwrap(), json)
}

fn gates(feature: &serde_json::Value) -> serde_json::Map<String, serde_json::Value> {
    feature["gates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| (g["key"].as_str().unwrap().to_string(), g["value"].clone()))
        .collect()
}

#[test]
fn gitlab_documented_examples_with_curl() {
    let p = TestProject::new();
    p.define("my_user_feature", "beta", false);
    p.ok(&["publish"]);
    let api = ApiServer::start(&p);
    let token = token(&p, "release-bot", &["--environments", "*,production"]);
    let header = format!("PRIVATE-TOKEN: {token}");
    let base = format!("{}/staging/api/v4", api.url());

    // doc/api/features.md: list, definitions, set (value, key, actors), delete.
    let (code, list) = curl(&["--header", &header, &format!("{base}/features")]);
    assert_eq!((code, list), (200, serde_json::json!([])));
    let (code, defs) = curl(&["--header", &header, &format!("{base}/features/definitions")]);
    assert_eq!(code, 200);
    let names: Vec<&str> = defs.as_array().unwrap().iter().map(|d| d["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["my_user_feature", FLAG]);

    let (code, f) = curl(&[
        "--data",
        "value=30",
        "--data",
        "key=percentage_of_actors",
        "--header",
        &header,
        &format!("{base}/features/{FLAG}"),
    ]);
    assert_eq!(code, 201, "{f}");
    assert_eq!((f["name"].as_str(), f["state"].as_str()), (Some(FLAG), Some("conditional")));
    assert_eq!(gates(&f)["percentage_of_actors"], 30);
    assert_eq!(f["definition"]["type"], "beta");
    // Percentage of time, as GitLab's API means a bare number, once the deprecation check is
    // overridden as chatops overrides it.
    let (code, f) = curl(&[
        "--data",
        "value=0.5",
        "--data",
        "ignore_random_deprecation_check=true",
        "--header",
        &header,
        &format!("{base}/features/my_user_feature"),
    ]);
    assert_eq!((code, gates(&f)["percentage_of_time"].clone()), (201, serde_json::json!(0.5)));
    // Parameters in the query string, and actors of each kind, comma-separated.
    let (code, f) = curl(&[
        "--request", "POST", "--header", &header,
        &format!("{base}/features/{FLAG}?value=true&user=alice,7&project=gitlab-org/gitlab&group=gitlab-org&namespace=3&repository=gitlab/repo.git&feature_group=gitlab_team_members"),
    ]);
    assert_eq!(code, 201, "{f}");
    let actors = gates(&f)["actors"].clone();
    assert_eq!(
        actors,
        serde_json::json!([
            "Group:gitlab-org",
            "Namespace:3",
            "Project:gitlab-org/gitlab",
            "Repository:gitlab/repo.git",
            "User:7",
            "User:alice"
        ])
    );
    assert_eq!(gates(&f)["groups"], serde_json::json!(["gitlab_team_members"]));
    // A JSON body, as python-gitlab sends it, and Authorization: Bearer.
    let (code, f) = curl(&[
        "--header",
        &format!("Authorization: Bearer {token}"),
        "--header",
        "Content-Type: application/json",
        "--data",
        r#"{"value": "opt_out", "user": "bob"}"#,
        &format!("{base}/features/{FLAG}"),
    ]);
    assert_eq!(code, 201);
    assert!(gates(&f)["actors"].as_array().unwrap().contains(&serde_json::json!("User:bob:opt_out")));
    let (code, list) = curl(&["--header", &header, &format!("{base}/features")]);
    assert_eq!((code, list.as_array().unwrap().len()), (200, 2), "both persisted");

    let (code, _) = curl(&["--request", "DELETE", "--header", &header, &format!("{base}/features/{FLAG}")]);
    assert_eq!(code, 204);
    let (code, _) = curl(&["--request", "DELETE", "--header", &header, &format!("{base}/features/{FLAG}")]);
    assert_eq!(code, 204, "whether or not state existed");

    // The same change through the CLI gives the same state and the same records.
    let q = TestProject::new();
    q.define("my_user_feature", "beta", false);
    q.ok(&["publish"]);
    for args in [
        &["feature", "set", FLAG, "30", "--actors", "--staging"][..],
        &["feature", "set", "my_user_feature", "0.5", "--random", "--ignore-random-deprecation-check", "--staging"],
        &[
            "feature",
            "set",
            FLAG,
            "true",
            "--user=alice,7",
            "--project=gitlab-org/gitlab",
            "--group=gitlab-org",
            "--namespace=3",
            "--repository=gitlab/repo.git",
            "--feature-group=gitlab_team_members",
            "--staging",
        ],
        &["feature", "set", FLAG, "opt_out", "--user=bob", "--staging"],
        &["feature", "delete", FLAG, "--staging"],
        &["feature", "delete", FLAG, "--staging"],
    ] {
        q.ok(args);
    }
    assert_eq!(records(&p, "staging"), records(&q, "staging"));
    assert_eq!(
        p.json(&["feature", "get", "my_user_feature", "--staging"]),
        q.json(&["feature", "get", "my_user_feature", "--staging"])
    );
    let log = p.json(&["log", "--env", "staging", "--limit", "1"]);
    assert_eq!((log[0]["author"].as_str(), log[0]["via"].as_str()), (Some("release-bot"), Some("api")));
    assert_eq!(log[0]["command"], format!("DELETE /staging/api/v4/features/{FLAG}"));
}

/// The change log of `env` without who, when and how: what the changes were.
fn records(p: &TestProject, env: &str) -> Vec<serde_json::Value> {
    let log = p.json(&["log", "--env", env]);
    log.as_array()
        .unwrap()
        .iter()
        .map(|c| serde_json::json!([c["version"], c["flag"], c["action"], c["before"], c["after"]]))
        .collect()
}

#[test]
fn python_gitlab_works_unchanged() {
    let p = TestProject::new();
    let api = ApiServer::start(&p);
    let write = token(&p, "python-gitlab", &["--environments", "staging"]);
    let read = token(&p, "dashboards", &["--environments", "staging", "--read-only"]);
    let python = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/venv/bin/python");
    assert!(python.exists(), "{} is missing: scripts/deps.sh installs python-gitlab", python.display());
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/gitlab_features.py");
    let out = std::process::Command::new(python)
        .arg(script)
        .args([format!("{}/staging", api.url()), write, read])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "python-gitlab:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let log = p.json(&["log", "--env", "staging"]);
    assert!(log.as_array().unwrap().iter().all(|c| c["author"] == "python-gitlab" || c["action"] == "publish"));
}

#[test]
fn refusals_are_gitlabs_and_change_nothing() {
    let p = TestProject::new();
    let api = ApiServer::start(&p);
    let ci = token(&p, "ci", &["--environments", "*"]);
    let reader = token(&p, "reader", &["--environments", "staging", "--read-only"]);
    let before = p.fingerprint();
    let message = |r: &support::servers::Response| ApiServer::json(r);
    for (form, status, body) in [
        ("", 400, serde_json::json!({"error": "value is missing"})),
        (
            "value=30&key=percentage_of_actors&user=alice",
            400,
            serde_json::json!({"error": "key, user are mutually exclusive"}),
        ),
        (
            "value=30&key=percentage_of_actors&project=a&feature_group=b",
            400,
            serde_json::json!({"error": "key, feature_group, project are mutually exclusive"}),
        ),
        ("value=30&key=nope", 400, serde_json::json!({"error": "key does not have a valid value"})),
        (
            "value=banana",
            400,
            serde_json::json!({"message": format!("400 Bad request - Cannot set '{FLAG}' to \"banana\"")}),
        ),
        (
            "value=25&user=alice",
            400,
            serde_json::json!({"message": format!("400 Bad request - Cannot set '{FLAG}' to \"25\" for User:alice")}),
        ),
        (
            "value=opt_out",
            400,
            serde_json::json!({"message": format!("400 Bad request - Cannot set '{FLAG}' to \"opt_out\"")}),
        ),
        ("value=101&key=percentage_of_actors", 400, serde_json::Value::Null),
        ("value=25", 400, serde_json::Value::Null),
    ] {
        let r = api.post("staging", FLAG, &ci, form);
        assert_eq!(r.status, status, "{form}: {}", String::from_utf8_lossy(&r.body));
        if !body.is_null() {
            assert_eq!(message(&r), body, "{form}");
        }
    }
    assert!(message(&api.post("staging", FLAG, &ci, "value=25"))["message"].as_str().unwrap().contains("deprecated"));
    let r = api.post("staging", "nope_flag", &ci, "value=true");
    assert!(message(&r)["message"].as_str().unwrap().contains("has no definition"), "{}", message(&r));
    let r = api.post("staging", "Not-A-Name", &ci, "value=true&force=true");
    assert!(message(&r)["message"].as_str().unwrap().contains("is not a flag name"));
    // The consistency check, as vexil.toml says (on by default).
    let r = api.post("production", FLAG, &token(&p, "prod", &["--environments", "production"]), "value=true");
    assert!(message(&r)["message"].as_str().unwrap().contains("is not enabled on staging"), "{}", message(&r));

    // Authentication and scope: 401, 403, 404, 405.
    for (token, status) in [(None, 401), (Some("vxl_nope"), 401), (Some(reader.as_str()), 403)] {
        let r = api.request("POST", &format!("/staging/api/v4/features/{FLAG}"), token, "value=true");
        assert_eq!(r.status, status);
        let expected = if status == 401 { "401 Unauthorized" } else { "403 Forbidden" };
        assert_eq!(message(&r), serde_json::json!({"message": expected}));
    }
    assert_eq!(api.post("production", FLAG, &ci, "value=true").status, 403, "the wildcard never covers production");
    assert_eq!(
        api.request("GET", "/production/api/v4/features", Some(&reader), "").status,
        403,
        "nor does another environment"
    );
    assert_eq!(api.request("GET", "/staging/api/v4/features", Some(&reader), "").status, 200);
    assert_eq!(api.request("GET", "/qa/api/v4/features", Some(&ci), "").status, 404);
    assert_eq!(api.request("GET", "/staging/api/v4/nothing", Some(&ci), "").status, 404);
    assert_eq!(api.request("PUT", &format!("/staging/api/v4/features/{FLAG}"), Some(&ci), "").status, 405);
    drop(api);
    assert_eq!(before, p.fingerprint(), "refused requests changed something");
}

#[test]
fn tokens_expire_revoke_stay_hashed_and_failures_are_rate_limited() {
    let p = TestProject::new();
    let api = ApiServer::start(&p);
    let short = token(&p, "short-lived", &["--environments", "staging", "--expires-in", "2s"]);
    let revoked = token(&p, "leaked", &["--environments", "staging"]);
    let ok = token(&p, "ok", &["--environments", "staging"]);
    assert_eq!(api.post("staging", FLAG, &short, "value=true").status, 201);
    assert_eq!(api.post("staging", FLAG, &revoked, "value=false").status, 201);
    p.ok(&["token", "revoke", "leaked"]);
    assert_eq!(api.post("staging", FLAG, &revoked, "value=true").status, 401);
    std::thread::sleep(std::time::Duration::from_millis(2100));
    let expired = api.post("staging", FLAG, &short, "value=true");
    assert_eq!((expired.status, ApiServer::json(&expired)), (401, serde_json::json!({"message": "401 Unauthorized"})));
    let list = p.json(&["token", "list"]);
    let status: Vec<(&str, &str)> =
        list.as_array().unwrap().iter().map(|t| (t["name"].as_str().unwrap(), t["status"].as_str().unwrap())).collect();
    assert_eq!(status, [("short-lived", "expired"), ("leaked", "revoked"), ("ok", "active")]);

    // The database holds hashes only; no token reaches the change log.
    let db = std::fs::read(p.path().join(".vexil/state.db")).unwrap();
    let wal = std::fs::read(p.path().join(".vexil/state.db-wal")).unwrap_or_default();
    for t in [&short, &revoked, &ok] {
        let needle = &t.as_bytes()[4..];
        for bytes in [&db, &wal] {
            assert!(!bytes.windows(needle.len()).any(|w| w == needle), "a token is stored in the clear");
        }
    }
    assert!(!p.ok(&["log"]).contains(&short[4..]));
    let authors: Vec<String> = p
        .json(&["log", "--env", "staging"])
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["author"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(authors[..2], ["leaked", "short-lived"]);

    // Failures count per address; past the limit even a good token waits, and a guess cannot
    // tell a revoked token from one that never existed.
    // Two failures so far (the revoked token, the expired one); eight guesses reach ten.
    for guess in 0..8 {
        assert_eq!(api.post("staging", FLAG, &format!("vxl_guess{guess}"), "value=true").status, 401);
    }
    let limited = api.post("staging", FLAG, &ok, "value=true");
    assert_eq!(limited.status, 429);
    assert!(limited.header("retry-after").is_some());
}

/// Four GitLab clients, 100 changes each, at once, on one environment: every change is a
/// version, none is lost.
fn four_clients(p: &TestProject) {
    let api = ApiServer::start(p);
    let token = token(p, "load", &["--environments", "dev"]);
    let start = p.version("dev");
    api.concurrent_sets(&token, "dev", FLAG, 4, 100);
    assert_eq!(p.version("dev"), start + 400);
    let f = p.json(&["feature", "get", FLAG, "--dev"]);
    assert_eq!(gates(&f[0])["actors"].as_array().unwrap().len(), 400);
    assert_eq!(p.json(&["log", "--env", "dev"]).as_array().unwrap().len(), 401);
}

#[test]
fn four_clients_at_once_lose_nothing_on_sqlite() {
    four_clients(&TestProject::new());
}

#[test]
fn four_clients_at_once_lose_nothing_on_postgres() {
    let pg = Postgres::start();
    four_clients(&TestProject::on_postgres(&pg));
}
