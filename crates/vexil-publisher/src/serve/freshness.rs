//! `GET /<env>/freshness.vxf` (and `/<env>/browser/freshness.vxf`): the statement vouching
//! for the newest snapshot, issued here when this server can read the signing key. One per
//! environment and audience is kept and re-issued when the head moves or a quarter of its
//! lifetime has passed, so signing costs nothing per request and a client always gets a
//! statement with most of its lifetime ahead.

use super::{audience, cors, problem, Shared};
use crate::freshness::Signing;
use axum::body::{Body, Bytes};
use axum::extract::{Path as UrlPath, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use vexil_core::AudienceKind;

/// A statement as issued: the version it vouches for, when, and its bytes.
struct Issued {
    version: u64,
    at: i64,
    bytes: Bytes,
}

/// Issued statements by environment and audience.
#[derive(Default)]
pub(super) struct Statements(Mutex<HashMap<(String, AudienceKind), Issued>>);

impl Statements {
    fn get(
        &self,
        signing: &Signing,
        env: &str,
        audience: AudienceKind,
        version: u64,
        snapshot: &[u8],
    ) -> Option<Bytes> {
        let now = crate::clock::now_ms();
        let refresh_after = (signing.freshness.as_millis() / 4) as i64;
        let mut issued = self.0.lock().expect("statements lock");
        let key = (env.to_string(), audience);
        if let Some(i) = issued.get(&key) {
            if i.version == version && now - i.at < refresh_after {
                return Some(i.bytes.clone());
            }
        }
        // Decoded only when a statement is issued: once per head, or per quarter lifetime.
        let decoded = vexil_core::Snapshot::decode(snapshot, &[]).ok().filter(|s| s.signer().is_some())?;
        let bytes = Bytes::from(signing.statement(&decoded, now).ok()?);
        issued.insert(key, Issued { version, at: now, bytes: bytes.clone() });
        Some(bytes)
    }
}

pub(super) async fn statement<const BROWSER: bool>(
    State(shared): State<Arc<Shared>>,
    UrlPath(env): UrlPath<String>,
) -> Response {
    if let Some(refusal) = shared.unknown(&env) {
        return refusal;
    }
    let Some(signing) = &shared.signing else {
        return problem(StatusCode::NOT_FOUND, "this server holds no signing key: no freshness statements here");
    };
    let Some(head) = shared.head(&env) else {
        return problem(StatusCode::NOT_FOUND, format!("{env} has no published version yet"));
    };
    let audience = audience(BROWSER);
    let Some((_, snapshot)) = head.served(audience) else {
        return problem(StatusCode::NOT_FOUND, format!("{env} v{} has no browser snapshot", head.version));
    };
    let Some(bytes) = shared.statements.get(signing, &env, audience, head.version, snapshot) else {
        return problem(StatusCode::NOT_FOUND, format!("{env} v{} is not signed: nothing to vouch for", head.version));
    };
    let mut response = Body::from(bytes).into_response();
    let headers = response.headers_mut();
    cors(headers);
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/octet-stream"));
    // Like latest.vxl: a CDN in front may hold it for a second, a browser never.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=1"));
    response
}
