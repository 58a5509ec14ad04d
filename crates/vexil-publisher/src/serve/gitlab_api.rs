//! GitLab's Features API (doc/api/features.md), one per environment under `/<env>/api/v4/`,
//! so that a GitLab API client whose base URL is `https://flags.example.com/<env>` works
//! unchanged: `GET features`, `GET features/definitions`, `POST features/:name`, `DELETE
//! features/:name`, with GitLab's parameters (query string, form or JSON body), status
//! codes and bodies. Every change goes through `Project::apply`, as the CLI's do: same rules,
//! same atomicity, same change log (the token's name as author, `api` as the entry point).
//!
//! The chatops rules GitLab's API does not apply itself — the staging/production
//! consistency check and the random-deprecation check — are applied as vexil.toml's `[api]`
//! says, with chatops' override parameters (`ignore_feature_flag_consistency_check`,
//! `ignore_random_deprecation_check`, and `ignore_production_check` for the production check).

use super::writer::{self, Denied};
use super::Shared;
use crate::clock::now_ms;
use crate::error::{Error, ErrorKind};
use crate::plan::{targets_from_option, Request, SetOptions, SetRequest, TARGET_OPTIONS};
use crate::project::{EntryPoint, Origin};
use crate::tokens::Identity;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, Path as UrlPath, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;

/// Parameters that carry secrets: never recorded in the change log's command.
const SECRET_PARAMETERS: [&str; 3] = ["private_token", "access_token", "job_token"];

/// `/<env>/api/v4/*`.
pub(super) async fn handle(
    State(shared): State<Arc<Shared>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    method: Method,
    UrlPath((env, rest)): UrlPath<(String, String)>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if !shared.environments.contains(&env) {
        return gitlab_error(StatusCode::NOT_FOUND, "404 Not Found");
    }
    // python-gitlab asks for `features/` and `features//<name>`; GitLab's router takes both.
    let segments: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
    let route = match (segments.as_slice(), &method) {
        (["features"], &Method::GET) => Route::List,
        (["features", "definitions"], &Method::GET) => Route::Definitions,
        (["features", name], &Method::POST) => Route::Set(percent_decode(name)),
        (["features", name], &Method::DELETE) => Route::Delete(percent_decode(name)),
        (["features"] | ["features", _], _) => {
            return gitlab_error(StatusCode::METHOD_NOT_ALLOWED, "405 Method Not Allowed")
        }
        _ => return gitlab_error(StatusCode::NOT_FOUND, "404 Not Found"),
    };
    let identity = match writer::authenticate(&shared, peer.ip(), &headers).await {
        Ok(identity) => identity,
        Err(denied) => return denied_response(denied),
    };
    let write = matches!(route, Route::Set(_) | Route::Delete(_));
    if !identity.allows(&env, write, shared.config.production.as_deref()) {
        return gitlab_error(StatusCode::FORBIDDEN, "403 Forbidden");
    }
    match route {
        Route::List => {
            let env = env.clone();
            respond(writer::run(&shared, move |p| p.persisted_features(&env)).await, StatusCode::OK)
        }
        Route::Definitions => {
            let defs = writer::run(&shared, |p| Ok(p.definitions.by_name.values().cloned().collect::<Vec<_>>())).await;
            respond(defs, StatusCode::OK)
        }
        Route::Set(name) => {
            let params = match parameters(query.as_deref(), &headers, &body) {
                Ok(p) => p,
                Err(response) => return *response,
            };
            let request = match set_request(&shared, &env, &name, &params) {
                Ok(r) => r,
                Err(response) => return *response,
            };
            let origin = origin(&identity, &method, &env, &name, &params);
            let outcome = writer::run(&shared, move |p| {
                p.apply(&request, &origin)?;
                p.feature(&env, &name)
            })
            .await;
            respond(outcome, StatusCode::CREATED)
        }
        Route::Delete(name) => {
            let params = parameters(query.as_deref(), &headers, &body).unwrap_or_default();
            let origin = origin(&identity, &method, &env, &name, &params);
            let request = Request::Delete { flag: name, environments: vec![env] };
            match writer::run(&shared, move |p| p.apply(&request, &origin)).await {
                Ok(_) => StatusCode::NO_CONTENT.into_response(),
                Err(e) => error_response(&e),
            }
        }
    }
}

enum Route {
    List,
    Definitions,
    Set(String),
    Delete(String),
}

/// A response that ends a request early (boxed: a response is large, a request's happy path
/// is not).
type Refusal = Box<Response>;

/// GitLab's error body: `{"message": "401 Unauthorized"}`.
fn gitlab_error(status: StatusCode, message: &str) -> Response {
    (status, axum::Json(serde_json::json!({ "message": message }))).into_response()
}

/// Grape's parameter validation errors: `{"error": "value is missing"}`.
fn validation_error(message: &str) -> Response {
    (StatusCode::BAD_REQUEST, axum::Json(serde_json::json!({ "error": message }))).into_response()
}

pub(super) fn denied_response(denied: Denied) -> Response {
    match denied {
        Denied::Unauthenticated => gitlab_error(StatusCode::UNAUTHORIZED, "401 Unauthorized"),
        Denied::RateLimited(seconds) => {
            let mut r = gitlab_error(StatusCode::TOO_MANY_REQUESTS, "429 Too Many Requests");
            if let Ok(v) = HeaderValue::from_str(&seconds.to_string()) {
                r.headers_mut().insert(header::RETRY_AFTER, v);
            }
            r
        }
        Denied::Unavailable(e) => gitlab_error(StatusCode::SERVICE_UNAVAILABLE, &format!("503 {e}")),
    }
}

/// A refusal as GitLab's API words it: `{"message": "400 Bad request - <why>"}`.
fn error_response(e: &Error) -> Response {
    match e.kind() {
        ErrorKind::Refused | ErrorKind::Usage => {
            gitlab_error(StatusCode::BAD_REQUEST, &format!("400 Bad request - {}", e.message()))
        }
        ErrorKind::Io => gitlab_error(StatusCode::SERVICE_UNAVAILABLE, &format!("503 Service Unavailable - {e}")),
        ErrorKind::Conflict => gitlab_error(StatusCode::CONFLICT, &format!("409 Conflict - {e}")),
    }
}

fn respond<T: serde::Serialize>(outcome: crate::Result<T>, status: StatusCode) -> Response {
    match outcome {
        Ok(value) => (status, axum::Json(value)).into_response(),
        Err(e) => error_response(&e),
    }
}

/// The query string and the body (form or JSON), merged as Grape merges them.
fn parameters(query: Option<&str>, headers: &HeaderMap, body: &Bytes) -> Result<BTreeMap<String, String>, Refusal> {
    let mut params: BTreeMap<String, String> =
        form_urlencoded::parse(query.unwrap_or_default().as_bytes()).into_owned().collect();
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let text = std::str::from_utf8(body).map_err(|_| Box::new(validation_error("the body is not UTF-8")))?;
    let looks_json = content_type.contains("json") || text.trim_start().starts_with('{');
    if looks_json && !text.trim().is_empty() {
        let json: serde_json::Value = serde_json::from_str(text)
            .map_err(|e| Box::new(validation_error(&format!("the body is not JSON: {e}"))))?;
        let object = json.as_object().ok_or_else(|| Box::new(validation_error("the body is not a JSON object")))?;
        for (k, v) in object {
            let text = match v {
                serde_json::Value::String(s) => s.clone(),
                serde_json::Value::Null => continue,
                other => other.to_string(),
            };
            params.insert(k.clone(), text);
        }
    } else {
        params.extend(form_urlencoded::parse(body).into_owned());
    }
    Ok(params)
}

/// A boolean parameter as Grape reads one (`true`, `True` from Python's `str(True)`, `1`).
fn truthy(params: &BTreeMap<String, String>, key: &str) -> bool {
    params.get(key).is_some_and(|v| matches!(v.to_ascii_lowercase().as_str(), "true" | "1" | "yes"))
}

/// `POST features/:name` as a request: Admin::SetFeatureFlagService's reading of the
/// parameters, refusals in GitLab's words.
fn set_request(shared: &Shared, env: &str, name: &str, params: &BTreeMap<String, String>) -> Result<Request, Refusal> {
    let Some(value) = params.get("value").cloned() else { return Err(Box::new(validation_error("value is missing"))) };
    let key = params.get("key").filter(|k| !k.is_empty()).cloned();
    if let Some(k) = &key {
        if k != "percentage_of_actors" && k != "percentage_of_time" {
            return Err(Box::new(validation_error("key does not have a valid value")));
        }
    }
    let mut targets = Vec::new();
    let mut given = Vec::new();
    for (option, kind) in TARGET_OPTIONS {
        let param = option.replace('-', "_");
        if let Some(list) = params.get(&param).filter(|l| !l.is_empty()) {
            given.push(param.clone());
            targets.extend(targets_from_option(option, kind, list).map_err(|e| Box::new(error_response(&e)))?);
        }
    }
    if key.is_some() && !given.is_empty() {
        return Err(Box::new(validation_error(&format!("key, {} are mutually exclusive", given.join(", ")))));
    }
    let cannot = |detail: String| Box::new(error_response(&Error::refused(detail)));
    let v = value.as_str();
    let (enable_or_disable, numeric) = (matches!(v, "true" | "100" | "100.0" | "false" | "0" | "0.0"), is_numeric(v));
    let rules = shared.config.api_rules;
    let (actors, random) = if !targets.is_empty() {
        if !enable_or_disable && v != "opt_out" && v != "remove_opt_out" {
            let first = targets.first().map(|t| t.to_string()).unwrap_or_default();
            return Err(cannot(format!("Cannot set '{name}' to {value:?} for {first}")));
        }
        (false, false)
    } else if enable_or_disable {
        (false, false)
    } else if numeric {
        let actors = key.as_deref() == Some("percentage_of_actors");
        (actors, !actors)
    } else {
        return Err(cannot(match &key {
            Some(k) => format!("Cannot set '{name}' ({k:?}) to {value:?}"),
            None => format!("Cannot set '{name}' to {value:?}"),
        }));
    };
    let ignore_random = !rules.random_deprecation_check || truthy(params, "ignore_random_deprecation_check");
    let set = SetRequest::new(name.to_string(), value, actors, random, ignore_random, targets)
        .map_err(|e| Box::new(error_response(&e)))?;
    let options = SetOptions {
        force: truthy(params, "force"),
        ignore_consistency_check: !rules.consistency_check || truthy(params, "ignore_feature_flag_consistency_check"),
        ignore_production_check: truthy(params, "ignore_production_check"),
    };
    Ok(Request::Set { set, environments: vec![env.to_string()], options })
}

/// GitLab's `numeric_value?`: digits, optionally a point and more digits.
fn is_numeric(v: &str) -> bool {
    let (whole, fraction) = v.split_once('.').unwrap_or((v, "0"));
    !whole.is_empty()
        && !fraction.is_empty()
        && whole.bytes().all(|b| b.is_ascii_digit())
        && fraction.bytes().all(|b| b.is_ascii_digit())
}

/// The change log's record of who asked what: the token's name, and the request without
/// anything secret.
fn origin(identity: &Identity, method: &Method, env: &str, name: &str, params: &BTreeMap<String, String>) -> Origin {
    let shown: Vec<String> = params
        .iter()
        .filter(|(k, _)| !SECRET_PARAMETERS.contains(&k.as_str()))
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    let mut command = format!("{method} /{env}/api/v4/features/{name}");
    if !shown.is_empty() {
        command = format!("{command} {}", shown.join(" "));
    }
    Origin {
        author: identity.name.clone(),
        command: super::remote_api::printable(&command),
        via: EntryPoint::Api,
        at: now_ms(),
    }
}

fn percent_decode(segment: &str) -> String {
    form_urlencoded::parse(format!("x={segment}").as_bytes()).next().map(|(_, v)| v.into_owned()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_as_gitlab_reads_them() {
        for (v, numeric) in [
            ("25", true),
            ("0.5", true),
            ("100.0", true),
            ("1e3", false),
            (".5", false),
            ("5.", false),
            ("-1", false),
            ("", false),
        ] {
            assert_eq!(is_numeric(v), numeric, "{v}");
        }
        assert_eq!(percent_decode("my%5Fflag"), "my_flag");
    }
}
