//! The remote CLI's side of `vexil serve --api`: [`Flags`] over HTTP, so that `vexil feature
//! set|get|list|delete`, `log`, `status` and `rollback` run against a server with a token
//! (`VEXIL_URL` and `VEXIL_TOKEN`, or `--remote URL`) and print exactly what they print on
//! the database itself. The token goes in `Authorization: Bearer` and nowhere else: not in
//! URLs, messages or the change log.

use crate::entity::FeatureEntity;
use crate::error::{Error, Result};
use crate::flags::{Applied, Flags, RequestBody};
use crate::plan::Request;
use crate::project::{FeatureList, Origin, StatusRow};
use crate::store::{Change, LogFilter};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use std::time::Duration;

/// A `vexil serve --api` and the token to use it with.
pub struct Remote {
    base: String,
    token: String,
    http: reqwest::blocking::Client,
    /// The server's environments, in its order.
    pub environments: Vec<String>,
    /// The environment commands act on when they name none.
    pub default_environment: String,
}

#[derive(Deserialize)]
struct Environments {
    environments: Vec<String>,
    default_environment: String,
}

#[derive(Deserialize)]
struct Failure {
    error: String,
    kind: String,
}

/// `url` without user information (which may hold a secret), for messages.
fn shown(url: &str) -> String {
    let Some(scheme) = url.find("://") else { return url.to_string() };
    let rest = &url[scheme + 3..];
    let host_end = rest.find('/').unwrap_or(rest.len());
    match rest[..host_end].rfind('@') {
        Some(at) => format!("{}{}", &url[..scheme + 3], &rest[at + 1..]),
        None => url.to_string(),
    }
}

impl Remote {
    /// Connects to the server at `url` (the server itself, not an environment) and learns
    /// its environments.
    pub fn connect(url: &str, token: &str) -> Result<Remote> {
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(Error::usage(format!("{:?}: a remote is an http:// or https:// URL", shown(url))));
        }
        if token.is_empty() {
            return Err(Error::usage(
                "VEXIL_TOKEN is not set: a remote needs a token (vexil token create, on the server)",
            ));
        }
        let http = reqwest::blocking::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(120))
            .build()
            .map_err(|e| Error::io(format!("cannot start an HTTP client: {e}")))?;
        let mut remote = Remote {
            base: url.trim_end_matches('/').to_string(),
            token: token.to_string(),
            http,
            environments: Vec::new(),
            default_environment: String::new(),
        };
        let envs: Environments = remote.get("/api/v1/environments", &[])?;
        remote.environments = envs.environments;
        remote.default_environment = envs.default_environment;
        Ok(remote)
    }

    fn describe(&self) -> String {
        shown(&self.base)
    }

    fn get<T: DeserializeOwned>(&self, path: &str, query: &[(&str, String)]) -> Result<T> {
        let request = self.http.get(format!("{}{path}", self.base)).query(query);
        self.send(request, path)
    }

    fn send<T: DeserializeOwned>(&self, request: reqwest::blocking::RequestBuilder, path: &str) -> Result<T> {
        let response = request
            .bearer_auth(&self.token)
            .send()
            .map_err(|e| Error::io(format!("{}: cannot reach the server: {}", self.describe(), cause(e))))?;
        let status = response.status();
        let retry = response.headers().get("retry-after").and_then(|v| v.to_str().ok()).map(String::from);
        let body = response.bytes().map_err(|e| Error::io(format!("{}{path}: {}", self.describe(), cause(e))))?;
        if status.is_success() {
            return serde_json::from_slice(&body).map_err(|e| {
                Error::io(format!(
                    "{}{path}: the answer is not what this vexil expects ({e}); are both the same version?",
                    self.describe()
                ))
            });
        }
        let failure: Option<Failure> = serde_json::from_slice(&body).ok();
        Err(match (status.as_u16(), failure) {
            (401, _) => Error::refused(format!(
                "{} refused the token in VEXIL_TOKEN (401 Unauthorized): it is unknown, revoked or expired",
                self.describe()
            )),
            (429, _) => Error::refused(format!(
                "{}: too many failed authentications from this address; try again in {} s",
                self.describe(),
                retry.unwrap_or_else(|| "60".into())
            )),
            (404, None) => Error::io(format!(
                "{}{path}: 404; is this a vexil serve with --api, and the server's address rather than an environment's?",
                self.describe()
            )),
            (_, Some(f)) => match f.kind.as_str() {
                "usage" => Error::usage(f.error),
                "io" => Error::io(f.error),
                _ => Error::refused(f.error),
            },
            (code, None) => Error::io(format!("{}{path}: HTTP {code}", self.describe())),
        })
    }
}

/// A transport error's causes, without the URL reqwest repeats.
fn cause(e: reqwest::Error) -> String {
    let e = e.without_url();
    let mut text = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        text = format!("{text}: {s}");
        source = s.source();
    }
    text
}

fn joined(environments: &[String]) -> String {
    environments.join(",")
}

impl Flags for Remote {
    fn change(&mut self, request: &Request, origin: &Origin, repair: bool) -> Result<Applied> {
        if repair {
            return Err(Error::refused("--repair works on the targets directly, not through a remote"));
        }
        let body = serde_json::json!({ "request": RequestBody::of(request)?, "command": origin.command });
        let path = "/api/v1/changes";
        self.send(self.http.post(format!("{}{path}", self.base)).json(&body), path)
    }

    fn features(&mut self, flag: &str, environments: &[String]) -> Result<Vec<FeatureEntity>> {
        self.get(&format!("/api/v1/features/{flag}"), &[("environments", joined(environments))])
    }

    fn feature_lists(&mut self, pattern: &str, environments: &[String]) -> Result<Vec<FeatureList>> {
        self.get("/api/v1/lists", &[("environments", joined(environments)), ("match", pattern.to_string())])
    }

    fn log(&mut self, filter: &LogFilter) -> Result<Vec<Change>> {
        let mut query = Vec::new();
        if let Some(e) = &filter.environment {
            query.push(("environment", e.clone()));
        }
        if let Some(f) = &filter.flag {
            query.push(("flag", f.clone()));
        }
        if let Some(l) = filter.limit {
            query.push(("limit", l.to_string()));
        }
        self.get("/api/v1/log", &query)
    }

    fn status(&mut self) -> Result<Vec<StatusRow>> {
        self.get("/api/v1/status", &[])
    }
}
