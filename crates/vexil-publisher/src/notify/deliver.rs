//! Delivery: the outbox's announcements to their sinks, in commit order per sink, at least
//! once, with the event's id stable across attempts. A failing sink is retried with
//! exponential backoff (up to its `max_backoff`) and holds back only its own later
//! announcements; a change is never blocked or undone by a sink.
//!
//! One deliverer per sink at a time: whoever holds the sink's lease in the state database
//! (a running `vexil serve` renews its leases continuously; a `vexil` command delivers only
//! where nobody does). Network calls happen outside every transaction.

use super::Event;
use crate::clock::now_ms;
use crate::config::{Sink, SinkKind, Url};
use crate::error::{Error, Result};
use crate::store::{OutboxRow, Store};
use base64::Engine;
use hmac::{KeyInit, Mac};
use std::time::{Duration, Instant};

/// What one attempt did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attempt {
    /// The sink.
    pub sink: String,
    /// The event.
    pub event: String,
    /// Why it failed, or nothing.
    pub error: Option<String>,
}

/// HTTP for deliveries: a sink that does not answer is given up on quickly, and retried.
pub fn client() -> Result<reqwest::blocking::Client> {
    reqwest::blocking::Client::builder()
        .connect_timeout(Duration::from_secs(3))
        .timeout(Duration::from_secs(10))
        .build()
        .map_err(|e| Error::io(format!("cannot start an HTTP client: {e}")))
}

/// The row after an attempt at `now`: delivered, or due again after a backoff that doubles
/// with each failure, up to `max_backoff`.
pub fn after_attempt(row: &OutboxRow, error: Option<String>, now: i64, max_backoff: Duration) -> OutboxRow {
    let attempts = row.attempts + 1;
    match error {
        None => OutboxRow { attempts, delivered_at: Some(now), last_error: None, ..row.clone() },
        Some(e) => {
            let backoff = Duration::from_secs(1u64 << (attempts - 1).min(20)).min(max_backoff);
            OutboxRow {
                attempts,
                next_attempt_at: now + backoff.as_millis() as i64,
                last_error: Some(e),
                ..row.clone()
            }
        }
    }
}

/// What a pass of delivery did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Pass {
    /// Every attempt, in order.
    pub attempts: Vec<Attempt>,
    /// The sinks this deliverer held (the others are someone else's to deliver to).
    pub held: Vec<String>,
}

/// Delivers what is due to every sink `holder` can lease, until `deadline` if one is given;
/// leases last `lease` past each step.
pub fn deliver_due(
    store: &mut dyn Store,
    sinks: &[Sink],
    holder: &str,
    http: &reqwest::blocking::Client,
    lease: Duration,
    deadline: Option<Instant>,
) -> Result<Pass> {
    let mut pass = Pass::default();
    for sink in sinks {
        loop {
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Ok(pass);
            }
            let now = now_ms();
            let mut next = None;
            let mut held = false;
            store.write(&mut |tx| {
                next = None;
                held = tx.lease(&sink.name, holder, now, now + lease.as_millis() as i64)?;
                if held {
                    next = tx.outbox_next(&sink.name)?;
                }
                Ok(())
            })?;
            if held && !pass.held.contains(&sink.name) {
                pass.held.push(sink.name.clone());
            }
            let Some(row) = next.filter(|r| r.next_attempt_at <= now) else { break };
            let error = send(http, sink, &row).err();
            let done = now_ms();
            let updated = after_attempt(&row, error.clone(), done, sink.max_backoff);
            // Recorded only by a deliverer that still holds the lease: one whose lease lapsed
            // during a slow send must not rewrite a row its successor has since delivered.
            let mut still_held = false;
            store.write(&mut |tx| {
                still_held = tx.lease(&sink.name, holder, done, done + lease.as_millis() as i64)?;
                if still_held {
                    tx.outbox_update(&updated)?;
                }
                Ok(())
            })?;
            pass.attempts.push(Attempt { sink: sink.name.clone(), event: row.event.clone(), error: error.clone() });
            if error.is_some() || !still_held {
                break;
            }
        }
    }
    Ok(pass)
}

/// Gives up `holder`'s leases, so that the next deliverer need not wait for them to lapse.
pub fn release(store: &mut dyn Store, sinks: &[Sink], holder: &str) -> Result<()> {
    let now = now_ms();
    store.write(&mut |tx| {
        for sink in sinks {
            tx.lease(&sink.name, holder, now, now)?;
        }
        Ok(())
    })
}

fn resolve(url: &Url) -> std::result::Result<String, String> {
    match url {
        Url::Literal(u) => Ok(u.clone()),
        Url::FromEnv(var) => {
            std::env::var(var).ok().filter(|u| !u.is_empty()).ok_or_else(|| format!("{var} is not set"))
        }
    }
}

/// What went wrong, down to its cause ("error sending request: … Connection refused"), never
/// the URL: a chat webhook's URL is its credential.
fn describe(e: reqwest::Error) -> String {
    let e = e.without_url();
    let mut text = e.to_string();
    let mut cause = std::error::Error::source(&e);
    while let Some(c) = cause {
        let more = c.to_string();
        if !text.ends_with(&more) {
            text = format!("{text}: {more}");
        }
        cause = c.source();
    }
    text
}

fn secret(var: &str) -> std::result::Result<String, String> {
    std::env::var(var).ok().filter(|s| !s.is_empty()).ok_or_else(|| format!("{var} is not set"))
}

/// Standard Webhooks' signature of `body` sent as `id` at `timestamp` (seconds):
/// `v1,<base64 HMAC-SHA256(secret, "{id}.{timestamp}.{body}")>`, the secret given as
/// `whsec_<base64>`.
pub fn standard_signature(secret: &str, id: &str, timestamp: i64, body: &[u8]) -> std::result::Result<String, String> {
    let key = secret
        .strip_prefix("whsec_")
        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
        .ok_or("the secret is not a whsec_<base64> secret")?;
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&key).map_err(|e| e.to_string())?;
    mac.update(format!("{id}.{timestamp}.").as_bytes());
    mac.update(body);
    Ok(format!("v1,{}", base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())))
}

/// One attempt; the error never holds a secret (URLs from the environment are not shown).
fn send(http: &reqwest::blocking::Client, sink: &Sink, row: &OutboxRow) -> std::result::Result<(), String> {
    let event: Event =
        serde_json::from_str(&row.payload).map_err(|e| format!("the stored event does not read: {e}"))?;
    let request = match &sink.kind {
        SinkKind::Webhook { url, secret_env } => {
            let timestamp = now_ms() / 1000;
            let body = row.payload.clone().into_bytes();
            let signature = standard_signature(&secret(secret_env)?, &row.event, timestamp, &body)?;
            http.post(resolve(url)?)
                .header("content-type", "application/json")
                .header("webhook-id", &row.event)
                .header("webhook-timestamp", timestamp.to_string())
                .header("webhook-signature", signature)
                .body(body)
        }
        SinkKind::Slack { url } => http.post(resolve(url)?).json(&serde_json::json!({ "text": event.line() })),
        SinkKind::Mattermost { url, channel, username } => {
            let mut body = serde_json::json!({ "text": event.line() });
            if let Some(c) = channel {
                body["channel"] = c.clone().into();
            }
            if let Some(u) = username {
                body["username"] = u.clone().into();
            }
            http.post(resolve(url)?).json(&body)
        }
        SinkKind::Pipeline { url, token_env, git_ref } => {
            let what = event.flag.clone().unwrap_or_else(|| "flags".into());
            let form = [
                ("token", secret(token_env)?),
                ("ref", git_ref.clone()),
                ("variables[VEXIL_EVENT]", row.event.clone()),
                ("variables[VEXIL_FLAG]", event.flag.clone().unwrap_or_default()),
                (
                    "variables[VEXIL_ENVIRONMENTS]",
                    event.versions.iter().map(|(e, _)| e.as_str()).collect::<Vec<_>>().join(","),
                ),
                ("variables[VEXIL_AUTHOR]", event.author.clone()),
                ("variables[VEXIL_DESCRIPTION]", format!("This pipeline was triggered due to toggling of {what}")),
            ];
            http.post(resolve(url)?).form(&form)
        }
    };
    let response = request.send().map_err(describe)?;
    let status = response.status();
    if status.is_success() {
        Ok(())
    } else {
        Err(format!("HTTP {}", status.as_u16()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_follow_standard_webhooks() {
        // The specification's own example secret, id, timestamp and payload.
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let body = br#"{"test": 2432232314}"#;
        let signature = standard_signature(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body).unwrap();
        assert_eq!(signature, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
        assert!(standard_signature("not-whsec", "id", 1, b"").is_err());
    }

    #[test]
    fn failures_back_off_and_success_is_recorded() {
        let row = OutboxRow {
            id: 1,
            event: "evt".into(),
            sink: "s".into(),
            payload: "{}".into(),
            created_at: 0,
            attempts: 0,
            next_attempt_at: 0,
            delivered_at: None,
            last_error: None,
        };
        let max = Duration::from_secs(5);
        let once = after_attempt(&row, Some("HTTP 500".into()), 1_000, max);
        assert_eq!((once.attempts, once.next_attempt_at, once.delivered_at), (1, 2_000, None));
        let thrice = after_attempt(&after_attempt(&once, Some("x".into()), 2_000, max), Some("y".into()), 4_000, max);
        assert_eq!((thrice.attempts, thrice.next_attempt_at), (3, 8_000));
        let capped = (0..10).fold(row.clone(), |r, _| after_attempt(&r, Some("z".into()), 0, max));
        assert_eq!(capped.next_attempt_at, 5_000, "never longer than max_backoff");
        let done = after_attempt(&thrice, None, 9_000, max);
        assert_eq!((done.delivered_at, done.last_error), (Some(9_000), None));
    }
}
