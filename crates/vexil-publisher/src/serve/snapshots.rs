//! Snapshots over HTTP: `latest.vxl` (the live source, cached for a second by CDNs in front)
//! and `v/<n>.vxl` (immutable), full or browser, with strong ETags, `If-None-Match` and CORS.
//! Each handler serves both audiences; browser routes instantiate it with `true`.

use super::{audience, cors, etag, problem, Shared, VERSION_CACHE};
use axum::body::Body;
use axum::extract::{Path as UrlPath, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use std::sync::Arc;
use vexil_core::AudienceKind;

/// `latest.vxl` is the live source: CDNs in front of `vexil serve` may hold it this long.
const LATEST_CACHE: &str = "public, max-age=1";
const IMMUTABLE_CACHE: &str = "public, max-age=31536000, immutable";

/// `GET /<env>/latest.vxl` and `GET /<env>/browser/latest.vxl`.
pub(super) async fn latest<const BROWSER: bool>(
    State(shared): State<Arc<Shared>>,
    UrlPath(env): UrlPath<String>,
    request: HeaderMap,
) -> Response {
    latest_for(&shared, env, &request, audience(BROWSER))
}

/// `GET /<env>/v/<n>.vxl` and `GET /<env>/browser/v/<n>.vxl`.
pub(super) async fn version<const BROWSER: bool>(
    State(shared): State<Arc<Shared>>,
    UrlPath((env, file)): UrlPath<(String, String)>,
    request: HeaderMap,
) -> Response {
    version_for(shared, env, file, request, audience(BROWSER)).await
}

fn latest_for(shared: &Shared, env: String, request: &HeaderMap, audience: AudienceKind) -> Response {
    if let Some(refusal) = shared.unknown(&env) {
        return refusal;
    }
    let Some(head) = shared.head(&env) else {
        return problem(
            StatusCode::NOT_FOUND,
            format!("{env} has no published version yet (vexil publish --env {env})"),
        );
    };
    match head.served(audience) {
        Some((etag, bytes)) => snapshot_response(request, etag, bytes.clone(), LATEST_CACHE),
        None => problem(StatusCode::NOT_FOUND, format!("{env} v{} has no browser snapshot", head.version)),
    }
}

async fn version_for(
    shared: Arc<Shared>,
    env: String,
    file: String,
    request: HeaderMap,
    audience: AudienceKind,
) -> Response {
    if let Some(refusal) = shared.unknown(&env) {
        return refusal;
    }
    let number = file
        .strip_suffix(".vxl")
        .filter(|n| !n.is_empty() && n.len() <= 19 && n.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|n| n.parse::<u64>().ok());
    let Some(number) = number else {
        return problem(StatusCode::NOT_FOUND, format!("{file:?}: versions are at /{env}/v/<number>.vxl"));
    };
    let bytes = match stored_version(&shared, &env, number, audience).await {
        Err(r) => return r,
        Ok(Some(bytes)) => bytes,
        Ok(None) => {
            let why = if audience == AudienceKind::Browser { " (or no browser snapshot of it)" } else { "" };
            return problem(StatusCode::NOT_FOUND, format!("{env} has no version {number}{why}"));
        }
    };
    snapshot_response(&request, &etag(&bytes), bytes, IMMUTABLE_CACHE)
}

/// Version `number` of `env` for `audience`: from the cache of recent answers, or the
/// database — which only versions that can exist ever reach: one above the head is not
/// there yet, and one found missing is remembered as missing (versions are immutable), so
/// a client asking for numbers that do not exist costs no query, however many it asks.
pub(super) async fn stored_version(
    shared: &Arc<Shared>,
    env: &str,
    number: u64,
    audience: AudienceKind,
) -> Result<Option<axum::body::Bytes>, Response> {
    let Some(head) = shared.head(env) else { return Ok(None) };
    if number == 0 || number > head.version {
        return Ok(None);
    }
    // The head is in memory: it stays servable while the database is unreachable.
    if number == head.version {
        return Ok(head.served(audience).map(|(_, bytes)| bytes.clone()));
    }
    let key = (env.to_string(), number, audience);
    {
        let cache = shared.versions.lock().expect("versions lock");
        if let Some((_, cached)) = cache.iter().find(|(k, _)| *k == key) {
            return Ok(cached.clone());
        }
    }
    let lookup = env.to_string();
    let row = shared.read(move |store| store.version(&lookup, number)).await?;
    let bytes = row.and_then(|row| match audience {
        AudienceKind::Server => Some(axum::body::Bytes::from(row.snapshot)),
        AudienceKind::Browser => row.browser_snapshot.map(axum::body::Bytes::from),
    });
    let mut cache = shared.versions.lock().expect("versions lock");
    if cache.len() == VERSION_CACHE {
        cache.pop_front();
    }
    cache.push_back((key, bytes.clone()));
    Ok(bytes)
}

/// RFC 9110: If-None-Match compares weakly, and `*` matches any current representation.
fn matches_etag(request: &HeaderMap, etag: &str) -> bool {
    let Some(value) = request.get(header::IF_NONE_MATCH).and_then(|v| v.to_str().ok()) else { return false };
    value.split(',').map(str::trim).any(|tag| tag == "*" || tag.trim_start_matches("W/") == etag)
}

fn snapshot_response(request: &HeaderMap, etag: &str, bytes: axum::body::Bytes, cache: &'static str) -> Response {
    let mut response = if matches_etag(request, etag) {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        let mut r = Body::from(bytes).into_response();
        r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/octet-stream"));
        r
    };
    let headers = response.headers_mut();
    cors(headers);
    headers.insert(header::ETAG, HeaderValue::from_str(etag).expect("hex etag"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    response
}

/// CORS preflights of the snapshot and stream routes.
pub(super) async fn preflight() -> Response {
    let mut response = StatusCode::NO_CONTENT.into_response();
    let headers = response.headers_mut();
    cors(headers);
    headers.insert(header::ACCESS_CONTROL_ALLOW_METHODS, HeaderValue::from_static("GET, HEAD, OPTIONS"));
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static("If-None-Match, Last-Event-ID, Cache-Control, Accept"),
    );
    headers.insert(header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static("86400"));
    response
}
