//! `[[notify]]`: where every committed change is announced. Secrets — a webhook's signing
//! secret, a chat webhook's URL (the URL is the credential), a pipeline trigger's token — are
//! named here by the environment variable that holds them, never written here.

use crate::duration;
use crate::error::{Error, Result};
use serde::Deserialize;
use std::time::Duration;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSink {
    name: String,
    kind: String,
    url: Option<String>,
    url_env: Option<String>,
    secret_env: Option<String>,
    token_env: Option<String>,
    #[serde(rename = "ref")]
    git_ref: Option<String>,
    channel: Option<String>,
    username: Option<String>,
    environments: Option<Vec<String>>,
    max_backoff: Option<String>,
}

/// One place changes are announced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sink {
    /// Its name, in `vexil notifications` and the outbox.
    pub name: String,
    /// What it is and how to reach it.
    pub kind: SinkKind,
    /// Only changes to these environments (empty: every one).
    pub environments: Vec<String>,
    /// The longest wait between two attempts at a failing delivery.
    pub max_backoff: Duration,
}

/// Where a URL comes from: vexil.toml, or an environment variable when the URL itself is the
/// credential (Slack's and Mattermost's incoming webhooks).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Url {
    /// Written in vexil.toml.
    Literal(String),
    /// The value of this environment variable.
    FromEnv(String),
}

/// Sink kinds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SinkKind {
    /// A generic webhook signed per the Standard Webhooks specification.
    Webhook {
        /// Where to POST.
        url: Url,
        /// The environment variable holding the `whsec_…` secret.
        secret_env: String,
    },
    /// A Slack incoming webhook: one human-readable line per change.
    Slack {
        /// Where to POST.
        url: Url,
    },
    /// A Mattermost incoming webhook.
    Mattermost {
        /// Where to POST.
        url: Url,
        /// The channel to post in, if not the webhook's own.
        channel: Option<String>,
        /// The name to post as.
        username: Option<String>,
    },
    /// A pipeline trigger (GitLab's `POST /projects/:id/trigger/pipeline`): a form POST with
    /// the token, the ref and variables naming the change.
    Pipeline {
        /// Where to POST.
        url: Url,
        /// The environment variable holding the trigger token.
        token_env: String,
        /// The ref to run the pipeline on.
        git_ref: String,
    },
}

/// How long a failing sink may wait between attempts unless vexil.toml says otherwise.
pub const DEFAULT_MAX_BACKOFF: Duration = Duration::from_secs(300);

fn env_name(what: &str, value: &str) -> Result<String> {
    let ok = !value.is_empty() && value.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_');
    if ok {
        Ok(value.to_string())
    } else {
        Err(Error::refused(format!(
            // Not the value itself: it may be the secret, pasted where its variable's name belongs.
            "{what}: expected the name of an environment variable (A-Z, 0-9, _), such as VEXIL_WEBHOOK_SECRET, not the secret itself"
        )))
    }
}

pub(super) fn parse(raw: Vec<RawSink>, environments: &[String]) -> Result<Vec<Sink>> {
    let mut sinks: Vec<Sink> = Vec::new();
    for r in raw {
        let at = |m: String| Error::refused(format!("[[notify]] {:?}: {m}", r.name));
        if r.name.is_empty() || !r.name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
            return Err(Error::refused(format!("[[notify]] name {:?}: letters, digits, - and _", r.name)));
        }
        if sinks.iter().any(|s| s.name == r.name) {
            return Err(at("two sinks have this name".into()));
        }
        let url = match (&r.url, &r.url_env) {
            (Some(u), None) => {
                if !(u.starts_with("http://") || u.starts_with("https://")) {
                    return Err(at(format!("url {u:?}: expected an http:// or https:// URL")));
                }
                Url::Literal(u.clone())
            }
            (None, Some(e)) => {
                Url::FromEnv(env_name("url_env", e).map_err(|e| e.context(format!("[[notify]] {:?}", r.name)))?)
            }
            (Some(_), Some(_)) => return Err(at("give url or url_env, not both".into())),
            (None, None) => return Err(at("needs url (or url_env, for a URL that is itself a secret)".into())),
        };
        let given = |field: &str, set: bool| -> Result<()> {
            if set {
                Err(at(format!("a {} sink takes no `{field}`", r.kind)))
            } else {
                Ok(())
            }
        };
        let kind = match r.kind.as_str() {
            "webhook" => {
                given("token_env", r.token_env.is_some())?;
                given("ref", r.git_ref.is_some())?;
                given("channel", r.channel.is_some())?;
                let secret = r.secret_env.as_deref().ok_or_else(|| {
                    at("a webhook needs secret_env: the environment variable holding its whsec_… secret".into())
                })?;
                SinkKind::Webhook { url, secret_env: env_name("secret_env", secret)? }
            }
            "slack" | "mattermost" => {
                if matches!(url, Url::Literal(_)) {
                    return Err(at(format!(
                        "an incoming webhook's URL is its credential: keep it out of vexil.toml, in an \
                         environment variable named by url_env (such as url_env = \"{}_WEBHOOK_URL\")",
                        r.kind.to_uppercase()
                    )));
                }
                given("secret_env", r.secret_env.is_some())?;
                given("token_env", r.token_env.is_some())?;
                given("ref", r.git_ref.is_some())?;
                if r.kind == "slack" {
                    given("channel", r.channel.is_some())?;
                    given("username", r.username.is_some())?;
                    SinkKind::Slack { url }
                } else {
                    SinkKind::Mattermost { url, channel: r.channel.clone(), username: r.username.clone() }
                }
            }
            "pipeline" => {
                given("secret_env", r.secret_env.is_some())?;
                given("channel", r.channel.is_some())?;
                let token = r.token_env.as_deref().ok_or_else(|| at("a pipeline trigger needs token_env".into()))?;
                let git_ref = r
                    .git_ref
                    .clone()
                    .ok_or_else(|| at("a pipeline trigger needs ref (the branch to run on)".into()))?;
                SinkKind::Pipeline { url, token_env: env_name("token_env", token)?, git_ref }
            }
            other => {
                return Err(at(format!(
                    "unknown kind {other:?} (expected \"webhook\", \"slack\", \"mattermost\" or \"pipeline\")"
                )))
            }
        };
        let envs = r.environments.clone().unwrap_or_default();
        if let Some(unknown) = envs.iter().find(|e| !environments.contains(e)) {
            return Err(at(format!("environments: {unknown:?} is not a defined environment")));
        }
        let max_backoff = match &r.max_backoff {
            None => DEFAULT_MAX_BACKOFF,
            Some(text) => duration::parse(text).map_err(|e| at(format!("max_backoff {e}")))?,
        };
        sinks.push(Sink { name: r.name.clone(), kind, environments: envs, max_backoff });
    }
    Ok(sinks)
}

impl Sink {
    /// Whether a change to `environments` is announced here.
    pub fn wants(&self, environments: &[&str]) -> bool {
        self.environments.is_empty() || environments.iter().any(|e| self.environments.iter().any(|s| s == e))
    }
}
