//! Every committed change is announced, whoever made it: to a receiver that verifies Standard
//! Webhooks signatures, in commit order, at least once with a stable id; to a Slack-style
//! channel as one line; through a receiver that is down for a while and a `vexil serve`
//! killed mid-delivery; and four writers' 400 changes, each once, on SQLite and PostgreSQL.

mod support;

use base64::Engine;
use hmac::{KeyInit, Mac};
use support::api::{token, ApiServer};
use support::receiver::{Received, Receiver};
use support::TestProject;

const FLAG: &str = "new_navigation_bar";
const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// A project announcing to `webhook` (Standard Webhooks) and, with `team`, to the team's
/// chat (Slack and Mattermost incoming webhooks) and CI (a GitLab pipeline trigger) there,
/// taking slash commands from alice.
fn project(webhook: &str, team: Option<&Receiver>, max_backoff: &str) -> TestProject {
    with_sinks(TestProject::new(), webhook, team, max_backoff)
}

fn with_sinks(mut p: TestProject, webhook: &str, team: Option<&Receiver>, max_backoff: &str) -> TestProject {
    let mut toml = std::fs::read_to_string(p.path().join("vexil.toml")).unwrap();
    toml.push_str(&format!(
        "\n[[notify]]\nname = \"audit\"\nkind = \"webhook\"\nurl = \"{webhook}\"\nsecret_env = \"TEST_WEBHOOK_SECRET\"\nmax_backoff = \"{max_backoff}\"\n"
    ));
    if let Some(team) = team {
        toml.push_str(&format!(
            r#"
[[notify]]
name = "team"
kind = "slack"
url_env = "TEST_SLACK_WEBHOOK"

[[notify]]
name = "town-square"
kind = "mattermost"
url_env = "TEST_MATTERMOST_WEBHOOK"
channel = "town-square"
username = "vexil"

[[notify]]
name = "e2e"
kind = "pipeline"
url = "{pipeline}"
token_env = "TEST_TRIGGER_TOKEN"
ref = "main"
environments = ["staging"]

[[chat.user]]
id = "U0ALICE"
name = "alice"
environments = ["*"]
"#,
            pipeline = team.url("/api/v4/projects/42/trigger/pipeline"),
        ));
        p.env.push(("TEST_SLACK_WEBHOOK".into(), team.url("/hooks/slack")));
        p.env.push(("TEST_MATTERMOST_WEBHOOK".into(), team.url("/hooks/mattermost")));
        p.env.push(("TEST_TRIGGER_TOKEN".into(), "glptt-0123456789abcdef".into()));
        p.env.push(("VEXIL_SLACK_SIGNING_SECRET".into(), support::chat::SLACK_SECRET.into()));
    }
    p.write("vexil.toml", &toml);
    p.env.push(("TEST_WEBHOOK_SECRET".into(), SECRET.into()));
    p
}

/// Checks a delivery as a Standard Webhooks receiver must: the signature over
/// `id.timestamp.body` with the secret, a timestamp within five minutes.
fn verified(r: &Received) -> serde_json::Value {
    let (id, timestamp, signature) = (
        r.header("webhook-id").unwrap(),
        r.header("webhook-timestamp").unwrap(),
        r.header("webhook-signature").unwrap(),
    );
    let key = base64::engine::general_purpose::STANDARD.decode(SECRET.strip_prefix("whsec_").unwrap()).unwrap();
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&key).unwrap();
    mac.update(format!("{id}.{timestamp}.").as_bytes());
    mac.update(&r.body);
    let expected = format!("v1,{}", base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes()));
    assert!(signature.split(' ').any(|s| s == expected), "bad signature {signature} for {id}");
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    assert!((now - timestamp.parse::<i64>().unwrap()).abs() < 300);
    let event = r.json();
    assert_eq!(event["id"], id, "the id in the body is the header's");
    event
}

#[test]
fn every_change_from_every_entry_point_is_announced_in_order() {
    let hooks = Receiver::start(None);
    let p = project(&hooks.url("/hooks/audit"), Some(&hooks), "1s");
    let definition = p.path().join("config/feature_flags/beta/new_navigation_bar.yml");
    let yaml = std::fs::read_to_string(&definition).unwrap();
    let issue = "https://gitlab.example.com/org/app/-/issues/7";
    std::fs::write(&definition, yaml.replace("rollout_issue_url:", &format!("rollout_issue_url: {issue}"))).unwrap();
    // Without a server, the CLI delivers after its commit.
    p.ok(&["feature", "set", FLAG, "50", "--actors", "--dev", "--staging"]);
    hooks.until(10, |r| r.len() == 4);

    let api = ApiServer::start(&p);
    let token = token(&p, "release-bot", &["--environments", "*"]);
    assert_eq!(api.post("staging", FLAG, &token, "value=true").status, 201);
    let reply =
        support::chat::command(api.serve.port, "U0ALICE", "frontend", &format!("feature set `{FLAG}` false --dev"));
    assert_eq!(reply["response_type"], "in_channel", "{reply}");
    // With a server running, it delivers what the CLI commits.
    p.ok(&["rollback", "--env", "dev", "--steps", "2"]);
    p.define("other_flag", "wip", false);
    p.ok(&["publish"]);
    let count = |r: &[Received], path: &str| r.iter().filter(|x| x.path == path).count();
    let got = hooks.until(20, |r| {
        ["/hooks/audit", "/hooks/slack", "/hooks/mattermost"].iter().all(|p| count(r, p) == 5)
            && count(r, "/api/v4/projects/42/trigger/pipeline") == 3
    });

    let events: Vec<serde_json::Value> = got.iter().filter(|r| r.path == "/hooks/audit").map(verified).collect();
    let seen: Vec<(&str, &str)> =
        events.iter().map(|e| (e["via"].as_str().unwrap(), e["summary"].as_str().unwrap())).collect();
    assert_eq!(
        seen,
        [
            ("cli", "set `new_navigation_bar` to 50% of actors"),
            ("api", "set `new_navigation_bar` to true"),
            ("chat", "set `new_navigation_bar` to false"),
            ("cli", "rolled back to the state of v1"),
            ("cli", "published definition changes"),
        ]
    );
    assert_eq!((events[1]["author"].as_str(), events[2]["author"].as_str()), (Some("release-bot"), Some("alice")));
    assert_eq!(events[0]["rollout_issue_url"], issue);
    assert_eq!(events[4]["versions"].as_array().unwrap().len(), 6, "publish changed every environment");
    let ids: std::collections::BTreeSet<&str> = events.iter().map(|e| e["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), 5, "one stable id per change");

    let lines =
        |path: &str| -> Vec<serde_json::Value> { got.iter().filter(|r| r.path == path).map(|r| r.json()).collect() };
    let slack = lines("/hooks/slack");
    assert_eq!(
        slack[0]["text"],
        format!("Test Author <test@example.com> set `new_navigation_bar` to 50% of actors on dev, staging · rollout issue: {issue}")
    );
    assert_eq!(
        slack[1]["text"],
        format!("release-bot set `new_navigation_bar` to true on staging (via api) · rollout issue: {issue}")
    );
    assert_eq!(
        slack[2]["text"],
        format!("alice set `new_navigation_bar` to false on dev (via chat) · rollout issue: {issue}")
    );
    let mattermost = lines("/hooks/mattermost");
    assert_eq!(mattermost.len(), 5);
    assert_eq!(
        (&mattermost[0]["text"], &mattermost[0]["channel"], &mattermost[0]["username"]),
        (&slack[0]["text"], &"town-square".into(), &"vexil".into())
    );

    // The pipeline trigger fires for staging's changes only, as GitLab's trigger API takes it.
    let triggers: Vec<std::collections::BTreeMap<String, String>> = got
        .iter()
        .filter(|r| r.path == "/api/v4/projects/42/trigger/pipeline")
        .map(|r| form_urlencoded::parse(&r.body).into_owned().collect())
        .collect();
    assert_eq!(triggers.len(), 3, "the CLI's, the API's and publish's touched staging; chat's and rollback's did not");
    assert_eq!((triggers[0]["token"].as_str(), triggers[0]["ref"].as_str()), ("glptt-0123456789abcdef", "main"));
    assert_eq!(triggers[1]["variables[VEXIL_FLAG]"], FLAG);
    assert_eq!(triggers[1]["variables[VEXIL_ENVIRONMENTS]"], "staging");
    assert_eq!(
        triggers[1]["variables[VEXIL_DESCRIPTION]"],
        format!("This pipeline was triggered due to toggling of {FLAG}")
    );

    let status = p.json(&["notifications"]);
    assert_eq!(hooks.received().len(), got.len(), "nothing was delivered twice");
    let delivered: Vec<(&str, u64, u64)> = status
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["sink"].as_str().unwrap(), s["pending"].as_u64().unwrap(), s["delivered"].as_u64().unwrap()))
        .collect();
    assert_eq!(delivered, [("audit", 0, 5), ("team", 0, 5), ("town-square", 0, 5), ("e2e", 0, 3)], "{status}");
}

#[test]
fn a_receiver_down_for_a_while_gets_everything_after_it_returns() {
    let port = support::servers::free_port();
    let mut p = project(&format!("http://127.0.0.1:{port}/hook"), None, "1s");
    // A chat webhook's URL is its credential: it must never be printed or logged.
    let credential = "T0TEAM/B0HOOK/xoxCredentialPart";
    let mut toml = std::fs::read_to_string(p.path().join("vexil.toml")).unwrap();
    toml.push_str(
        "\n[[notify]]\nname = \"team\"\nkind = \"slack\"\nurl_env = \"TEST_SLACK_WEBHOOK\"\nmax_backoff = \"1s\"\n",
    );
    p.write("vexil.toml", &toml);
    p.env.push(("TEST_SLACK_WEBHOOK".into(), format!("http://127.0.0.1:{port}/services/{credential}")));
    let mut printed = String::new();
    for value in ["true", "false", "true"] {
        let out = p.run(&["feature", "set", FLAG, value, "--dev"]);
        assert!(out.status.success(), "the change stands though its sink is down");
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(stderr.contains("notifying audit failed") && stderr.contains("notifying team failed"), "{stderr}");
        printed += &stderr;
        printed += &String::from_utf8_lossy(&out.stdout);
    }
    let status = p.json(&["notifications"]);
    assert_eq!((status[0]["pending"].as_u64(), status[0]["failing"].as_u64()), (Some(3), Some(1)), "{status}");
    assert!(status[0]["last_error"].as_str().unwrap().contains("Connection refused"), "{status}");
    printed += &p.ok(&["notifications"]);
    printed += &status.to_string();
    printed += &p.json(&["log"]).to_string();
    for secret in [credential, SECRET] {
        assert!(!printed.contains(secret), "a secret was printed: {printed}");
    }

    // Back up: a cron job's `vexil notifications --deliver` (no server) sends it all, in order.
    let hooks = Receiver::start(Some(port));
    let started = std::time::Instant::now();
    while p.json(&["notifications", "--deliver"]).as_array().unwrap().iter().any(|s| s["pending"] != 0) {
        assert!(started.elapsed() < std::time::Duration::from_secs(15), "not delivered");
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let got = hooks.received();
    let values: Vec<bool> = got
        .iter()
        .filter(|r| r.path == "/hook")
        .map(|r| verified(r)["changes"][0]["after"]["boolean"].as_bool().unwrap())
        .collect();
    assert_eq!(values, [true, false, true], "in commit order, each once");
    assert_eq!(got.iter().filter(|r| r.path.starts_with("/services/")).count(), 3);
}

#[test]
fn a_server_killed_mid_delivery_delivers_after_restart_duplicating_only_ids() {
    let hooks = Receiver::start(None);
    let p = project(&hooks.url("/hook"), None, "1s");
    let mut serve = ApiServer::start(&p);
    // The receiver takes 1.5 s to answer: the first delivery is still in flight at the kill.
    hooks.delay_ms.store(1500, std::sync::atomic::Ordering::SeqCst);
    for value in ["true", "false", "true", "false"] {
        p.ok(&["feature", "set", FLAG, value, "--dev"]);
    }
    std::thread::sleep(std::time::Duration::from_millis(700));
    kill(&mut serve);
    hooks.delay_ms.store(0, std::sync::atomic::Ordering::SeqCst);
    // The dead server's leases lapse; the new server takes over from the first undelivered.
    let _again = ApiServer::start(&p);
    let distinct = |r: &[Received]| {
        r.iter()
            .map(|x| x.header("webhook-id").unwrap_or_default().to_string())
            .collect::<std::collections::BTreeSet<_>>()
    };
    let got = hooks.until(40, |r| distinct(r).len() == 4);
    let events: Vec<serde_json::Value> = got.iter().map(verified).collect();
    let mut firsts: Vec<&serde_json::Value> = Vec::new();
    for e in &events {
        if !firsts.iter().any(|f| f["id"] == e["id"]) {
            firsts.push(e);
        }
    }
    let order: Vec<bool> = firsts.iter().map(|e| e["changes"][0]["after"]["boolean"].as_bool().unwrap()).collect();
    assert_eq!(order, [true, false, true, false], "nothing lost, in commit order");
    assert!(events.len() > 4 && events[1]["id"] == events[0]["id"], "the delivery in flight was sent again, same id");
    let status = p.json(&["notifications"]);
    assert_eq!(status[0]["pending"], 0, "{status}");
}

fn kill(serve: &mut ApiServer) {
    let pid = serve.serve.pid();
    let status = std::process::Command::new("kill").args(["-KILL", &pid.to_string()]).status().unwrap();
    assert!(status.success());
    std::thread::sleep(std::time::Duration::from_millis(200));
}

#[test]
fn four_writers_four_hundred_changes_each_announced_once_on_sqlite() {
    four_writers(TestProject::new());
}

#[test]
fn four_writers_four_hundred_changes_each_announced_once_on_postgres() {
    let pg = support::servers::Postgres::start();
    four_writers(TestProject::on_postgres(&pg));
}

fn four_writers(base: TestProject) {
    let hooks = Receiver::start(None);
    let p = with_sinks(base, &hooks.url("/hook"), None, "1s");
    let api = ApiServer::start(&p);
    // A second server competes for the sink's lease: still one deliverer at a time.
    let _rival = ApiServer::start(&p);
    let token = token(&p, "load", &["--environments", "dev"]);
    api.concurrent_sets(&token, "dev", FLAG, 4, 100);
    hooks.until(60, |r| r.len() >= 400);
    // Time for a duplicate to arrive, were there one.
    std::thread::sleep(std::time::Duration::from_millis(500));
    let got = hooks.received();
    let ids: std::collections::BTreeSet<String> =
        got.iter().map(|r| verified(r)["id"].as_str().unwrap().to_string()).collect();
    assert_eq!((ids.len(), got.len()), (400, 400), "each change once");
    let versions: Vec<u64> = got.iter().map(|r| r.json()["versions"][0][1].as_u64().unwrap()).collect();
    assert!(versions.windows(2).all(|w| w[0] < w[1]), "in commit order");
}
