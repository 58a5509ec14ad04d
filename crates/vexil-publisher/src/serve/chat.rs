//! Chat slash commands — Slack's (`POST /chat/slack`, signed with `VEXIL_SLACK_SIGNING_SECRET`)
//! and Mattermost's (`POST /chat/mattermost`, its command token in `VEXIL_MATTERMOST_TOKEN`) —
//! in chatops' grammar: `feature set|get|list|delete …` with the CLI's own options (parsed by
//! the CLI's grammar), backticks around names stripped, and `help`. A chat user acts as the
//! identity vexil.toml's `[[chat.user]]` gives their chat id, in the environments it lists;
//! production changes come only from `[chat] production_channel`.
//!
//! Answers go to the channel; refusals only to the person. An answer not ready within Slack's
//! three seconds is sent to the request's `response_url` when it is.

use super::writer;
use super::Shared;
use crate::cli::invocation::{self, Invocation};
use crate::cli::{args, report};
use crate::clock::now_secs;
use crate::plan;
use crate::project::{EntryPoint, Origin};
use crate::tokens::{constant_time_eq, Identity};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use hmac::{KeyInit, Mac};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How old a signed request may be, as Slack recommends: older ones may be replays.
const MAX_AGE_SECONDS: i64 = 300;
/// What a command may take before the answer goes to `response_url` instead.
const ANSWER_WITHIN: Duration = Duration::from_millis(2500);

/// Chat's secrets, and the signatures seen lately (a replay carries one again).
pub(super) struct Chat {
    slack_secret: Option<String>,
    mattermost_token: Option<String>,
    /// Signatures accepted lately, with the timestamp each was signed at.
    seen: Mutex<HashMap<String, i64>>,
    http: reqwest::Client,
}

impl Chat {
    /// Chat as the environment configures it; none when neither secret is set.
    pub fn from_env() -> Option<Chat> {
        let read = |var: &str| std::env::var(var).ok().filter(|v| !v.is_empty());
        let (slack_secret, mattermost_token) = (read("VEXIL_SLACK_SIGNING_SECRET"), read("VEXIL_MATTERMOST_TOKEN"));
        if slack_secret.is_none() && mattermost_token.is_none() {
            return None;
        }
        let http = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().ok()?;
        Some(Chat { slack_secret, mattermost_token, seen: Mutex::new(HashMap::new()), http })
    }
}

/// The routes of the chats that are configured.
pub(super) fn routes(chat: &Chat) -> Router<Arc<Shared>> {
    let mut router = Router::new();
    if chat.slack_secret.is_some() {
        router = router.route("/chat/slack", post(slack));
    }
    if chat.mattermost_token.is_some() {
        router = router.route("/chat/mattermost", post(mattermost));
    }
    router
}

/// One slash command, from either chat.
#[derive(Clone, Debug)]
struct Message {
    chat: &'static str,
    user_id: String,
    channel_id: String,
    channel_name: String,
    command: String,
    text: String,
    response_url: Option<String>,
}

fn refuse(status: StatusCode, why: &str) -> Response {
    (status, why.to_string()).into_response()
}

/// Slack's request signature: `v0=` and the hex HMAC-SHA256 of `v0:<timestamp>:<body>`.
pub fn slack_signature(secret: &str, timestamp: &str, body: &[u8]) -> String {
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key");
    mac.update(format!("v0:{timestamp}:").as_bytes());
    mac.update(body);
    let hex: String = mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect();
    format!("v0={hex}")
}

async fn slack(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    let Some(chat) = shared.chat.as_ref() else { return refuse(StatusCode::NOT_FOUND, "no chat") };
    let Some(secret) = &chat.slack_secret else { return refuse(StatusCode::NOT_FOUND, "no Slack") };
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    let (timestamp, signature) = (header("x-slack-request-timestamp"), header("x-slack-signature"));
    let Ok(sent) = timestamp.parse::<i64>() else { return refuse(StatusCode::UNAUTHORIZED, "no request timestamp") };
    let now = now_secs();
    if now.saturating_sub(sent).saturating_abs() > MAX_AGE_SECONDS {
        return refuse(StatusCode::UNAUTHORIZED, "the request is more than five minutes old");
    }
    if !constant_time_eq(slack_signature(secret, &timestamp, &body).as_bytes(), signature.as_bytes()) {
        return refuse(StatusCode::UNAUTHORIZED, "invalid signature");
    }
    {
        // Kept while its timestamp is acceptable, future ones (a fast clock) included.
        let mut seen = chat.seen.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        seen.retain(|_, sent| now.saturating_sub(*sent) <= MAX_AGE_SECONDS);
        if seen.insert(signature, sent).is_some() {
            return refuse(StatusCode::UNAUTHORIZED, "this request was already received");
        }
    }
    let form: BTreeMap<String, String> = form_urlencoded::parse(&body).into_owned().collect();
    answer(shared.clone(), message("Slack", &form)).await
}

async fn mattermost(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    let Some(chat) = shared.chat.as_ref() else { return refuse(StatusCode::NOT_FOUND, "no chat") };
    let Some(expected) = &chat.mattermost_token else { return refuse(StatusCode::NOT_FOUND, "no Mattermost") };
    let form: BTreeMap<String, String> = form_urlencoded::parse(&body).into_owned().collect();
    let header = headers.get("authorization").and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Token "));
    let given = header.map(str::to_string).or_else(|| form.get("token").cloned()).unwrap_or_default();
    if !constant_time_eq(given.as_bytes(), expected.as_bytes()) {
        return refuse(StatusCode::UNAUTHORIZED, "invalid command token");
    }
    answer(shared.clone(), message("Mattermost", &form)).await
}

fn message(chat: &'static str, form: &BTreeMap<String, String>) -> Message {
    let field = |k: &str| form.get(k).cloned().unwrap_or_default();
    Message {
        chat,
        user_id: field("user_id"),
        channel_id: field("channel_id"),
        channel_name: field("channel_name"),
        command: form.get("command").cloned().unwrap_or_else(|| "/vexil".into()),
        text: field("text"),
        response_url: form
            .get("response_url")
            .filter(|u| u.starts_with("http://") || u.starts_with("https://"))
            .cloned(),
    }
}

/// A reply: to the channel, or only to the person who asked.
#[derive(Clone, Debug)]
struct Reply {
    in_channel: bool,
    text: String,
}

impl Reply {
    fn private(text: impl Into<String>) -> Reply {
        Reply { in_channel: false, text: text.into() }
    }

    fn json(&self) -> serde_json::Value {
        let kind = if self.in_channel { "in_channel" } else { "ephemeral" };
        serde_json::json!({ "response_type": kind, "text": self.text })
    }
}

async fn answer(shared: Arc<Shared>, msg: Message) -> Response {
    let response_url = msg.response_url.clone();
    let mut work = tokio::spawn(command(shared.clone(), msg));
    match tokio::time::timeout(ANSWER_WITHIN, &mut work).await {
        Ok(Ok(reply)) => axum::Json(reply.json()).into_response(),
        Ok(Err(e)) => axum::Json(Reply::private(format!("vexil failed: {e}")).json()).into_response(),
        Err(_) => {
            let http = shared.chat.as_ref().map(|c| c.http.clone());
            tokio::spawn(async move {
                let reply = work.await.unwrap_or_else(|e| Reply::private(format!("vexil failed: {e}")));
                if let (Some(url), Some(http)) = (response_url, http) {
                    if let Err(e) = http.post(&url).json(&reply.json()).send().await {
                        eprintln!(
                            "vexil serve: a chat answer could not be sent to its response_url: {}",
                            e.without_url()
                        );
                    }
                }
            });
            axum::Json(Reply::private("Working on it; the answer follows here.").json()).into_response()
        }
    }
}

const HELP: &str =
    "vexil, as chatops: `feature set <flag> <value> [--actors|--random] [--user=…] [--project=…] [--group=…] \
[--namespace=…] [--repository=…] [--feature-group=…] [--<environment>…]`, `feature get <flag>`, \
`feature list [--match TEXT]`, `feature delete <flag>`. Values: true, false, 0-100, opt_out, remove_opt_out. \
With no environment switch, the default environment.";

async fn command(shared: Arc<Shared>, msg: Message) -> Reply {
    let text = msg.text.trim();
    let text = text.strip_prefix("run ").unwrap_or(text).trim();
    if text.is_empty() || text == "help" {
        return Reply::private(HELP);
    }
    let words = match args::words(text) {
        Ok(w) => w,
        Err(e) => return Reply::private(format!("vexil: {e}")),
    };
    if words.first().map(String::as_str) != Some("feature") {
        return Reply::private(format!("vexil understands `feature set|get|list|delete …` and `help`. {HELP}"));
    }
    let config = &shared.config;
    let Some(identity) = config.chat.user(&msg.user_id).cloned() else {
        return Reply::private(format!(
            "You are not a vexil chat user yet: ask for your id ({}) to be added to vexil.toml's [[chat.user]].",
            msg.user_id
        ));
    };
    let argv: Vec<String> = std::iter::once("vexil".to_string()).chain(words).collect();
    let matches = match args::command(&shared.environments).try_get_matches_from(&argv) {
        Ok(m) => m,
        Err(e) => {
            return Reply::private(format!("vexil: {}", e.render().to_string().trim().trim_start_matches("error: ")))
        }
    };
    let Some(("feature", sub)) = matches.subcommand() else { return Reply::private(HELP) };
    let invocation = match invocation::from_matches("feature", sub, &shared.environments) {
        Ok(i) => i,
        Err(e) => return Reply::private(format!("vexil: {e}")),
    };
    if let Err(refusal) = permitted(&shared, &identity, &invocation, &msg) {
        return Reply::private(refusal);
    }
    let origin = Origin {
        author: identity.name.clone(),
        command: super::remote_api::printable(&format!("{} {}", msg.command, text)),
        via: EntryPoint::Chat,
        at: now_secs() * 1000,
    };
    match writer::run(&shared, move |p| report::run(p, invocation, false, &origin)).await {
        // A refusal changed nothing: only the person who asked needs to see it.
        Ok((out, failed)) => Reply { in_channel: !failed, text: format!("```\n{}\n```", out.text()) },
        Err(e) => Reply::private(format!("vexil: {e}")),
    }
}

/// Whether the identity may do this here: its environments, and production only from the
/// production channel (none configured: not from chat at all).
fn permitted(shared: &Shared, identity: &Identity, invocation: &Invocation, msg: &Message) -> Result<(), String> {
    let config = &shared.config;
    let production = config.production.as_deref();
    let (environments, write) = match invocation {
        Invocation::Change { request, .. } => {
            (plan::environments_written(request, config).map_err(|e| format!("vexil: {e}"))?, true)
        }
        Invocation::FeatureGet { environments, .. } | Invocation::FeatureList { environments, .. } => {
            (plan::named_environments(config, environments).map_err(|e| format!("vexil: {e}"))?, false)
        }
        _ => return Err(HELP.to_string()),
    };
    if let Some(env) = environments.iter().find(|e| !identity.allows(e, write, production)) {
        let what = if write { "change" } else { "read" };
        return Err(format!("{} may not {what} {env} (vexil.toml's [[chat.user]] lists where).", identity.name));
    }
    let Some(prod) = production.filter(|p| write && environments.iter().any(|e| e == p)) else { return Ok(()) };
    let Some(channel) = &config.chat.production_channel else {
        return Err(format!(
            "Unable to proceed: production ({prod}) changes from chat need vexil.toml's [chat] production_channel."
        ));
    };
    let here = msg.channel_name.trim_start_matches('#') == channel || msg.channel_id == *channel;
    if !here {
        return Err(format!(
            "Unable to proceed because a production feature flag change may only be invoked in the #{channel} {} channel.",
            msg.chat
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slack_signatures_are_slacks() {
        // Slack's documented example (api.slack.com, verifying requests).
        let body = b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
        assert_eq!(
            slack_signature("8f742231b10e8888abcd99yyyzzz85a5", "1531420618", body),
            "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"
        );
    }
}
