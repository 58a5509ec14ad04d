//! Slash commands as Slack sends them: a form body and the `v0` request signature made with
//! the signing secret, per Slack's documented format.

use super::servers::{http_send, Response};

pub const SLACK_SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";

pub fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}

/// A slash command's form body from `user` in `channel`.
pub fn form(user: &str, channel: &str, text: &str, response_url: Option<&str>) -> String {
    let mut f = form_urlencoded::Serializer::new(String::new());
    f.append_pair("token", "deprecated-verification-token")
        .append_pair("team_id", "T0TEAM")
        .append_pair("channel_id", &format!("C0{}", channel.to_uppercase()))
        .append_pair("channel_name", channel)
        .append_pair("user_id", user)
        .append_pair("user_name", "someone")
        .append_pair("command", "/chatops")
        .append_pair("text", text);
    if let Some(url) = response_url {
        f.append_pair("response_url", url);
    }
    f.finish()
}

pub fn signature(secret: &str, timestamp: i64, body: &str) -> String {
    use hmac::{KeyInit, Mac};
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("v0:{timestamp}:{body}").as_bytes());
    let hex: String = mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect();
    format!("v0={hex}")
}

/// `POST /chat/slack` with this body, timestamp and signature.
pub fn post(port: u16, body: &str, timestamp: i64, signature: &str) -> Response {
    let ts = timestamp.to_string();
    let headers = [
        ("Content-Type", "application/x-www-form-urlencoded"),
        ("X-Slack-Request-Timestamp", ts.as_str()),
        ("X-Slack-Signature", signature),
    ];
    http_send(port, "POST", "/chat/slack", &headers, body.as_bytes()).unwrap()
}

/// A correctly signed slash command from `user` in `channel`: the reply's JSON.
pub fn command(port: u16, user: &str, channel: &str, text: &str) -> serde_json::Value {
    let body = form(user, channel, text, None);
    let t = now();
    let r = post(port, &body, t, &signature(SLACK_SECRET, t, &body));
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    serde_json::from_slice(&r.body).unwrap()
}
