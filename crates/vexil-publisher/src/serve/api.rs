//! The dashboard's data, behind the token: definitions (with their problems), each
//! environment's change log, its gates with actor ids — what snapshots leave out — and the
//! rollouts with their guard readings.

use super::{problem, Shared};
use crate::definitions;
use crate::gates_json;
use crate::store::LogFilter;
use axum::extract::{Path as UrlPath, Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use std::collections::BTreeMap;
use std::sync::Arc;

/// The data routes.
pub(super) fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/api/definitions", get(definitions))
        .route("/{env}/log", get(log))
        .route("/{env}/state", get(state))
        .route("/api/rollouts", get(rollouts))
        .route("/api/housekeeping", get(super::housekeeping::housekeeping))
}

/// Each flag's newest rollout: its plan, progress and guard readings, for the dashboard.
async fn rollouts(State(shared): State<Arc<Shared>>) -> Response {
    match shared.read(|store| crate::rollout::view::views(store, None)).await {
        Ok(views) => private_json(serde_json::json!({ "rollouts": views, "now": crate::clock::now_ms() })),
        Err(r) => r,
    }
}

async fn definitions(State(shared): State<Arc<Shared>>) -> Response {
    let config = shared.config.clone();
    let loaded = tokio::task::spawn_blocking(move || definitions::load(&config.root, &config.definitions)).await;
    let Ok(loaded) = loaded else { return problem(StatusCode::INTERNAL_SERVER_ERROR, "loading definitions failed") };
    let groups: BTreeMap<&String, serde_json::Value> =
        shared.config.groups.iter().map(|(name, expr)| (name, expr.to_json())).collect();
    let body = serde_json::json!({
        "environments": shared.environments,
        "default_environment": shared.config.default_environment,
        "groups": groups,
        "definitions": loaded.by_name.values().collect::<Vec<_>>(),
        "problems": loaded.problems.iter().map(|p| p.to_string()).collect::<Vec<_>>(),
    });
    private_json(body)
}

pub(super) fn private_json(body: serde_json::Value) -> Response {
    let mut response = axum::Json(body).into_response();
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("private, no-store"));
    response
}

#[derive(serde::Deserialize)]
struct LogQuery {
    flag: Option<String>,
    after: Option<i64>,
    limit: Option<usize>,
}

async fn log(
    State(shared): State<Arc<Shared>>,
    UrlPath(env): UrlPath<String>,
    Query(query): Query<LogQuery>,
) -> Response {
    if let Some(refusal) = shared.unknown(&env) {
        return refusal;
    }
    let filter = LogFilter {
        environment: Some(env),
        flag: query.flag,
        after_id: query.after,
        limit: Some(query.limit.unwrap_or(200).min(5_000)),
    };
    match shared.read(move |store| store.changes(&filter)).await {
        Ok(changes) => private_json(serde_json::json!({ "changes": changes })),
        Err(r) => r,
    }
}

/// Every persisted flag's gates, with actor ids: what the page shows, never a public route.
async fn state(State(shared): State<Arc<Shared>>, UrlPath(env): UrlPath<String>) -> Response {
    if let Some(refusal) = shared.unknown(&env) {
        return refusal;
    }
    let Some(head) = shared.head(&env) else {
        return private_json(serde_json::json!({ "version": 0, "flags": {} }));
    };
    let flags: BTreeMap<&String, serde_json::Value> = head
        .state
        .flags
        .iter()
        .filter(|(_, f)| f.persisted)
        .map(|(name, f)| (name, gates_json::to_json(&f.gates)))
        .collect();
    private_json(serde_json::json!({
        "version": head.version,
        "published_at": head.state.published_at,
        "flags": flags,
    }))
}
