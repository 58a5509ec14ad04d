//! Chat slash commands as Slack and Mattermost send them to `vexil serve --api`: signed
//! requests change flags as the chat user vexil.toml maps them to, in the environments it
//! lists, production only from the production channel; forged, stale and replayed requests
//! change nothing; a slow command answers through `response_url`; chat's changes are
//! announced like every other.

mod support;

use support::api::ApiServer;
use support::chat::{self, form, now, signature, SLACK_SECRET};
use support::receiver::Receiver;
use support::servers::{http_send, Response};
use support::TestProject;

const FLAG: &str = "new_navigation_bar";
const MATTERMOST_TOKEN: &str = "xbxkyf7wcbrmfbrk5p1ogqtvwe";

/// A project with three chat users — alice (staging, production), bob (dev only), carol
/// (read-only) — production changes only from #production, announced to `webhook`.
fn project(webhook: Option<&str>, extra_toml: &str) -> TestProject {
    let mut p = TestProject::new();
    let mut toml = std::fs::read_to_string(p.path().join("vexil.toml")).unwrap();
    toml.push_str(
        r#"
[chat]
production_channel = "production"

[[chat.user]]
id = "U0ALICE"
name = "alice"
environments = ["staging", "production"]

[[chat.user]]
id = "U0BOB"
name = "bob"
environments = ["dev"]

[[chat.user]]
id = "U0CAROL"
name = "carol"
environments = ["*"]
read_only = true
"#,
    );
    if let Some(url) = webhook {
        toml.push_str(&format!(
            "\n[[notify]]\nname = \"audit\"\nkind = \"webhook\"\nurl = \"{url}\"\nsecret_env = \"TEST_WEBHOOK_SECRET\"\n"
        ));
        p.env.push(("TEST_WEBHOOK_SECRET".into(), "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".into()));
    }
    toml.push_str(extra_toml);
    p.write("vexil.toml", &toml);
    p.env.push(("VEXIL_SLACK_SIGNING_SECRET".into(), SLACK_SECRET.into()));
    p.env.push(("VEXIL_MATTERMOST_TOKEN".into(), MATTERMOST_TOKEN.into()));
    p
}

fn slack_raw(api: &ApiServer, body: &str, timestamp: i64, signature: &str) -> Response {
    chat::post(api.serve.port, body, timestamp, signature)
}

fn slack(api: &ApiServer, user: &str, channel: &str, text: &str) -> serde_json::Value {
    chat::command(api.serve.port, user, channel, text)
}

fn in_channel(reply: &serde_json::Value) -> bool {
    reply["response_type"] == "in_channel"
}

fn text(reply: &serde_json::Value) -> &str {
    reply["text"].as_str().unwrap()
}

#[test]
fn slack_commands_change_flags_as_their_chat_user_where_allowed() {
    let hooks = Receiver::start(None);
    let p = project(Some(&hooks.url("/audit")), "");
    let api = ApiServer::start(&p);

    let reply = slack(&api, "U0ALICE", "frontend", &format!("feature set `{FLAG}` 25 --actors --staging"));
    assert!(in_channel(&reply), "{reply}");
    assert!(text(&reply).contains("The feature flag value has been updated!"), "{reply}");
    assert!(text(&reply).contains("percentage_of_actors   25"), "{reply}");
    assert!(text(&reply).starts_with("```"), "output as a code block: {reply}");
    let log = p.json(&["log", "--env", "staging", "--limit", "1"]);
    assert_eq!((log[0]["author"].as_str(), log[0]["via"].as_str()), (Some("alice"), Some("chat")));
    assert_eq!(log[0]["command"], format!("/chatops feature set `{FLAG}` 25 --actors --staging"));
    let event = &hooks.until(10, |r| !r.is_empty())[0].json();
    assert_eq!((event["author"].as_str(), event["via"].as_str()), (Some("alice"), Some("chat")), "{event}");

    // Production (the default environment) only from #production.
    let before = p.fingerprint();
    let reply = slack(&api, "U0ALICE", "frontend", &format!("feature set {FLAG} true"));
    assert!(!in_channel(&reply));
    assert!(text(&reply).contains("may only be invoked in the #production Slack channel"), "{reply}");
    let reply = slack(&api, "U0ALICE", "frontend", &format!("feature set {FLAG} true --staging --production"));
    assert!(text(&reply).contains("#production"), "{reply}");
    assert!(before == p.fingerprint(), "a refusal changes nothing");
    p.ok(&["feature", "set", FLAG, "true", "--staging"]);
    let reply = slack(&api, "U0ALICE", "production", &format!("feature set {FLAG} true"));
    assert!(in_channel(&reply), "{reply}");
    assert!(p.eval("production", FLAG, "User:1").0);

    // Each user only where vexil.toml says.
    let before = p.fingerprint();
    let reply = slack(&api, "U0BOB", "frontend", &format!("feature set {FLAG} false --staging"));
    assert!(text(&reply).contains("bob may not change staging"), "{reply}");
    let reply = slack(&api, "U0CAROL", "frontend", &format!("feature set {FLAG} false --dev"));
    assert!(text(&reply).contains("carol may not change dev"), "{reply}");
    let reply = slack(&api, "U0STRANGER", "frontend", &format!("feature set {FLAG} false --dev"));
    assert!(!in_channel(&reply));
    assert!(text(&reply).contains("U0STRANGER") && text(&reply).contains("[[chat.user]]"), "{reply}");
    assert!(before == p.fingerprint());

    // Reading is allowed to a read-only user; help and mistakes go to the person only.
    let reply = slack(&api, "U0CAROL", "frontend", &format!("feature get {FLAG} --staging"));
    assert!(in_channel(&reply) && text(&reply).contains(FLAG), "{reply}");
    let reply = slack(&api, "U0BOB", "frontend", "help");
    assert!(!in_channel(&reply) && text(&reply).contains("feature set <flag> <value>"), "{reply}");
    let reply = slack(&api, "U0BOB", "frontend", "feature set no_such_flag true --dev");
    assert!(!in_channel(&reply) && text(&reply).contains("no_such_flag"), "{reply}");
    let reply = slack(&api, "U0BOB", "frontend", &format!("feature set {FLAG} maybe --dev"));
    assert!(!in_channel(&reply) && text(&reply).contains("maybe"), "{reply}");
    let reply = slack(&api, "U0BOB", "frontend", "deploy everything");
    assert!(!in_channel(&reply) && text(&reply).contains("help"), "{reply}");
    assert!(before == p.fingerprint());

    // Only what committed was announced: delivery is in commit order, so one more change
    // arriving fourth means no refusal slipped an event in before it.
    assert!(in_channel(&slack(&api, "U0BOB", "frontend", &format!("feature set {FLAG} true --dev"))));
    let events: Vec<serde_json::Value> = hooks.until(10, |r| r.len() >= 4).iter().map(|r| r.json()).collect();
    let who: Vec<(&str, &str)> =
        events.iter().map(|e| (e["author"].as_str().unwrap(), e["via"].as_str().unwrap())).collect();
    assert_eq!(who, [("alice", "chat"), ("Test Author <test@example.com>", "cli"), ("alice", "chat"), ("bob", "chat")]);
}

#[test]
fn forged_stale_and_replayed_requests_change_nothing() {
    let p = project(None, "");
    let api = ApiServer::start(&p);
    let before = p.fingerprint();
    let body = form("U0BOB", "frontend", &format!("feature set {FLAG} true --dev"), None);
    let t = now();

    let forged = slack_raw(&api, &body, t, &signature("not-the-secret", t, &body));
    assert_eq!(forged.status, 401);
    let altered = body.replace("--dev", "--staging");
    assert_eq!(slack_raw(&api, &altered, t, &signature(SLACK_SECRET, t, &body)).status, 401, "body not signed");
    let stale = t - 6 * 60;
    assert_eq!(slack_raw(&api, &body, stale, &signature(SLACK_SECRET, stale, &body)).status, 401);
    assert_eq!(slack_raw(&api, &body, t, "").status, 401);
    assert_eq!(slack_raw(&api, &body, i64::MIN, &signature(SLACK_SECRET, i64::MIN, &body)).status, 401);
    assert!(before == p.fingerprint(), "nothing refused was applied");

    let signed = signature(SLACK_SECRET, t, &body);
    assert_eq!(slack_raw(&api, &body, t, &signed).status, 200);
    let after_one = p.change_count("dev");
    let replay = slack_raw(&api, &body, t, &signed);
    assert_eq!(replay.status, 401);
    assert!(String::from_utf8_lossy(&replay.body).contains("already received"));
    assert_eq!(p.change_count("dev"), after_one, "a replay is not applied twice");

    // A sender whose clock runs four minutes fast is still accepted, once.
    let ahead = now() + 4 * 60;
    let body = form("U0BOB", "frontend", &format!("feature set {FLAG} false --dev"), None);
    let signed = signature(SLACK_SECRET, ahead, &body);
    assert_eq!(slack_raw(&api, &body, ahead, &signed).status, 200);
    assert_eq!(slack_raw(&api, &body, ahead, &signed).status, 401);
    assert_eq!(p.change_count("dev"), after_one + 1);
}

#[test]
fn a_slow_command_answers_through_response_url() {
    let answers = Receiver::start(None);
    // Production's check takes longer than Slack waits for an answer.
    let p = project(None, "\n[production_check]\ncommand = \"sleep 4\"\n");
    let api = ApiServer::start(&p);
    p.ok(&["feature", "set", FLAG, "true", "--staging"]);
    let body = form("U0ALICE", "production", &format!("feature set {FLAG} true"), Some(&answers.url("/answer")));
    let t = now();
    let started = std::time::Instant::now();
    let r = slack_raw(&api, &body, t, &signature(SLACK_SECRET, t, &body));
    assert_eq!(r.status, 200);
    assert!(started.elapsed() < std::time::Duration::from_secs(3), "answered within Slack's three seconds");
    let first = ApiServer::json(&r);
    assert!(!in_channel(&first) && text(&first).contains("Working on it"), "{first}");

    let got = answers.until(20, |r| !r.is_empty());
    let answer = got[0].json();
    assert!(in_channel(&answer), "{answer}");
    assert!(text(&answer).contains(FLAG), "{answer}");
    assert!(p.eval("production", FLAG, "User:1").0);
}

#[test]
fn mattermost_commands_carry_its_token() {
    let p = project(None, "");
    let api = ApiServer::start(&p);
    let body = form("U0BOB", "frontend", &format!("feature set {FLAG} true --dev"), None);
    let send = |headers: &[(&str, &str)], body: &str| {
        let mut all = vec![("Content-Type", "application/x-www-form-urlencoded")];
        all.extend_from_slice(headers);
        http_send(api.serve.port, "POST", "/chat/mattermost", &all, body.as_bytes()).unwrap()
    };
    let before = p.fingerprint();
    assert_eq!(send(&[("Authorization", "Token wrong")], &body).status, 401);
    assert_eq!(send(&[], &body).status, 401, "the form's token is Slack's deprecated one, not Mattermost's");
    assert!(before == p.fingerprint());

    let bearer = format!("Token {MATTERMOST_TOKEN}");
    let r = send(&[("Authorization", &bearer)], &body);
    assert_eq!(r.status, 200);
    assert!(in_channel(&ApiServer::json(&r)));
    assert!(p.eval("dev", FLAG, "User:1").0);
    let log = p.json(&["log", "--env", "dev", "--limit", "1"]);
    assert_eq!((log[0]["author"].as_str(), log[0]["via"].as_str()), (Some("bob"), Some("chat")));

    // Mattermost's production rule names Mattermost.
    let body = form("U0ALICE", "town-square", &format!("feature set {FLAG} true --staging --production"), None);
    let reply = ApiServer::json(&send(&[("Authorization", &bearer)], &body));
    assert!(text(&reply).contains("#production Mattermost channel"), "{reply}");
    drop(api);

    // With no production channel configured, production is not changed from chat at all.
    let toml = std::fs::read_to_string(p.path().join("vexil.toml")).unwrap();
    p.write("vexil.toml", &toml.replace("production_channel = \"production\"\n", ""));
    let api = ApiServer::start(&p);
    let before = p.fingerprint();
    let body = form("U0ALICE", "production", &format!("feature set {FLAG} true --staging --production"), None);
    let r = http_send(
        api.serve.port,
        "POST",
        "/chat/mattermost",
        &[("Content-Type", "application/x-www-form-urlencoded"), ("Authorization", &bearer)],
        body.as_bytes(),
    )
    .unwrap();
    let reply = ApiServer::json(&r);
    assert!(!in_channel(&reply) && text(&reply).contains("production_channel"), "{reply}");
    assert!(before == p.fingerprint());
}
