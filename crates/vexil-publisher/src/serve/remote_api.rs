//! vexil's own API, under `/api/v1/`, for the remote CLI (`VEXIL_URL` and `VEXIL_TOKEN`):
//! what GitLab's per-environment API cannot say — a change across several environments at
//! once, atomically; a rollback; the change log; each target's status. Same tokens, same
//! `Project` operations; errors say their kind, so the remote CLI exits as the local one does.

use super::writer::{self, Denied};
use super::Shared;
use crate::clock::now_ms;
use crate::error::{Error, ErrorKind};
use crate::flags::{Flags, RequestBody};
use crate::plan::{self, Request};
use crate::project::{EntryPoint, Origin};
use crate::store::LogFilter;
use crate::tokens::Identity;
use axum::extract::{ConnectInfo, Path as UrlPath, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde::Deserialize;
use std::net::SocketAddr;
use std::sync::Arc;

/// The routes.
pub(super) fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/api/v1/environments", get(environments))
        .route("/api/v1/changes", post(change))
        .route("/api/v1/features/{flag}", get(features))
        .route("/api/v1/lists", get(lists))
        .route("/api/v1/log", get(log))
        .route("/api/v1/status", get(status))
}

/// `{"error": "...", "kind": "refused" | "usage" | "io" | "unauthorized" | "forbidden"}`.
fn failure(status: StatusCode, kind: &str, message: &str) -> Response {
    (status, axum::Json(serde_json::json!({ "error": message, "kind": kind }))).into_response()
}

fn error_response(e: &Error) -> Response {
    match e.kind() {
        ErrorKind::Refused => failure(StatusCode::BAD_REQUEST, "refused", e.message()),
        ErrorKind::Usage => failure(StatusCode::BAD_REQUEST, "usage", e.message()),
        ErrorKind::Io => failure(StatusCode::SERVICE_UNAVAILABLE, "io", e.message()),
        ErrorKind::Conflict => failure(StatusCode::CONFLICT, "conflict", e.message()),
    }
}

fn denied(denied: Denied) -> Response {
    match denied {
        Denied::Unauthenticated => failure(StatusCode::UNAUTHORIZED, "unauthorized", "401 Unauthorized"),
        Denied::RateLimited(seconds) => {
            let mut r = failure(StatusCode::TOO_MANY_REQUESTS, "unauthorized", "429 Too Many Requests");
            if let Ok(v) = HeaderValue::from_str(&seconds.to_string()) {
                r.headers_mut().insert(header::RETRY_AFTER, v);
            }
            r
        }
        Denied::Unavailable(e) => error_response(&e),
    }
}

fn forbidden(identity: &Identity, environment: &str, write: bool) -> Response {
    let what = if write { "change" } else { "read" };
    failure(StatusCode::FORBIDDEN, "forbidden", &format!("the token {:?} may not {what} {environment}", identity.name))
}

fn respond<T: serde::Serialize>(outcome: crate::Result<T>) -> Response {
    match outcome {
        Ok(value) => axum::Json(value).into_response(),
        Err(e) => error_response(&e),
    }
}

/// Text for the change log: printable, and short enough to read.
pub(super) fn printable(text: &str) -> String {
    text.chars().filter(|c| !c.is_control()).take(1000).collect()
}

async fn who(shared: &Arc<Shared>, peer: SocketAddr, headers: &HeaderMap) -> Result<Identity, Box<Response>> {
    writer::authenticate(shared, peer.ip(), headers).await.map_err(|d| Box::new(denied(d)))
}

/// The environments the token may read, of those named (none: the default environment).
fn readable(shared: &Shared, identity: &Identity, named: &[String]) -> Result<Vec<String>, Box<Response>> {
    let envs = plan::named_environments(&shared.config, named).map_err(|e| Box::new(error_response(&e)))?;
    match envs.iter().find(|e| !identity.allows(e, false, shared.config.production.as_deref())) {
        Some(e) => Err(Box::new(forbidden(identity, e, false))),
        None => Ok(envs),
    }
}

async fn environments(
    State(shared): State<Arc<Shared>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Response {
    if let Err(r) = who(&shared, peer, &headers).await {
        return *r;
    }
    axum::Json(serde_json::json!({
        "environments": shared.environments,
        "default_environment": shared.config.default_environment,
        "production": shared.config.production,
    }))
    .into_response()
}

#[derive(Deserialize)]
struct ChangeBody {
    request: RequestBody,
    /// The command line as the person typed it, for the change log.
    #[serde(default)]
    command: Option<String>,
}

async fn change(
    State(shared): State<Arc<Shared>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let identity = match who(&shared, peer, &headers).await {
        Ok(i) => i,
        Err(r) => return *r,
    };
    let body: ChangeBody = match serde_json::from_slice(&body) {
        Ok(b) => b,
        Err(e) => return failure(StatusCode::BAD_REQUEST, "usage", &format!("not a change request: {e}")),
    };
    let request = match body.request.into_request() {
        Ok(r) => r,
        Err(e) => return error_response(&e),
    };
    let written = match plan::environments_written(&request, &shared.config) {
        Ok(w) => w,
        Err(e) => return error_response(&e),
    };
    if let Some(env) = written.iter().find(|e| !identity.allows(e, true, shared.config.production.as_deref())) {
        return forbidden(&identity, env, true);
    }
    let command = printable(&body.command.unwrap_or_else(|| describe(&request)));
    let origin = Origin { author: identity.name.clone(), command, via: EntryPoint::Api, at: now_ms() };
    respond(writer::run(&shared, move |p| p.change(&request, &origin, false)).await)
}

/// A request that came without its command line.
fn describe(request: &Request) -> String {
    format!("POST /api/v1/changes {}", serde_json::to_string(&RequestBody::of(request).ok()).unwrap_or_default())
}

#[derive(Deserialize)]
struct EnvironmentsQuery {
    #[serde(default)]
    environments: Option<String>,
    #[serde(default, rename = "match")]
    pattern: Option<String>,
}

fn listed(text: &Option<String>) -> Vec<String> {
    text.as_deref().unwrap_or_default().split(',').filter(|e| !e.is_empty()).map(String::from).collect()
}

async fn features(
    State(shared): State<Arc<Shared>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    UrlPath(flag): UrlPath<String>,
    Query(query): Query<EnvironmentsQuery>,
    headers: HeaderMap,
) -> Response {
    let identity = match who(&shared, peer, &headers).await {
        Ok(i) => i,
        Err(r) => return *r,
    };
    let envs = match readable(&shared, &identity, &listed(&query.environments)) {
        Ok(e) => e,
        Err(r) => return *r,
    };
    respond(writer::run(&shared, move |p| p.features(&flag, &envs)).await)
}

async fn lists(
    State(shared): State<Arc<Shared>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Query(query): Query<EnvironmentsQuery>,
    headers: HeaderMap,
) -> Response {
    let identity = match who(&shared, peer, &headers).await {
        Ok(i) => i,
        Err(r) => return *r,
    };
    let envs = match readable(&shared, &identity, &listed(&query.environments)) {
        Ok(e) => e,
        Err(r) => return *r,
    };
    let pattern = query.pattern.unwrap_or_default();
    respond(writer::run(&shared, move |p| p.feature_lists(&pattern, &envs)).await)
}

#[derive(Deserialize)]
struct LogQuery {
    environment: Option<String>,
    flag: Option<String>,
    limit: Option<usize>,
}

async fn log(
    State(shared): State<Arc<Shared>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Query(query): Query<LogQuery>,
    headers: HeaderMap,
) -> Response {
    let identity = match who(&shared, peer, &headers).await {
        Ok(i) => i,
        Err(r) => return *r,
    };
    let production = shared.config.production.clone();
    if let Some(env) = &query.environment {
        if shared.environments.contains(env) && !identity.allows(env, false, production.as_deref()) {
            return forbidden(&identity, env, false);
        }
    }
    let filter = LogFilter { environment: query.environment, flag: query.flag, after_id: None, limit: None };
    let limit = query.limit.unwrap_or(usize::MAX);
    respond(
        writer::run(&shared, move |p| {
            // Entries of environments the token may not read are left out, not refused.
            let all = Flags::log(p, &filter)?;
            Ok(all
                .into_iter()
                .filter(|c| identity.allows(&c.environment, false, production.as_deref()))
                .take(limit)
                .collect::<Vec<_>>())
        })
        .await,
    )
}

async fn status(
    State(shared): State<Arc<Shared>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Response {
    let identity = match who(&shared, peer, &headers).await {
        Ok(i) => i,
        Err(r) => return *r,
    };
    let production = shared.config.production.clone();
    respond(
        writer::run(&shared, move |p| {
            let rows = Flags::status(p)?;
            Ok(rows
                .into_iter()
                .filter(|r| identity.allows(&r.environment, false, production.as_deref()))
                .collect::<Vec<_>>())
        })
        .await,
    )
}
