//! Who may read the dashboard and its data (and, with `[serve] public = "browser"`, the full
//! snapshots): holders of the token, or loopback when vexil.toml sets none.

use super::{problem, Shared};
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use std::net::SocketAddr;
use std::sync::Arc;

const TOKEN_COOKIE: &str = "vexil_token";

/// Lets the request through with the token (header or cookie), or from loopback when no
/// token is set; trades a `/?token=` link for the cookie.
pub(super) async fn authorize(
    State(shared): State<Arc<Shared>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request,
    next: Next,
) -> Response {
    let Some(token) = &shared.token else {
        if peer.ip().is_loopback() {
            return next.run(request).await;
        }
        return problem(
            StatusCode::FORBIDDEN,
            "the dashboard and its data are served to loopback only while vexil.toml sets no [serve] token",
        );
    };
    let given = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_string)
        .or_else(|| cookie(request.headers(), TOKEN_COOKIE));
    if given.as_deref().is_some_and(|g| same(g.as_bytes(), token.as_bytes())) {
        return next.run(request).await;
    }
    // `/?token=…` once, from a link: the token moves into a cookie and out of the address bar.
    if request.method() == Method::GET && request.uri().path() == "/" {
        let query = request.uri().query().unwrap_or("");
        let offered = query.split('&').find_map(|kv| kv.strip_prefix("token="));
        if offered.is_some_and(|o| same(o.as_bytes(), token.as_bytes())) {
            let mut response = Redirect::to("/").into_response();
            let cookie = format!("{TOKEN_COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict");
            if let Ok(value) = HeaderValue::from_str(&cookie) {
                response.headers_mut().insert(header::SET_COOKIE, value);
            }
            return response;
        }
    }
    let mut response =
        problem(StatusCode::UNAUTHORIZED, "a token is required: open /?token=… or send Authorization: Bearer …");
    response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer realm=\"vexil\""));
    response
}

fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers.get_all(header::COOKIE).iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(';')).find_map(|kv| {
        let (k, v) = kv.trim().split_once('=')?;
        (k == name).then(|| v.to_string())
    })
}

/// Compares without stopping at the first difference, so timing does not reveal the token.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Every response says what it is: no content sniffing.
pub(super) async fn no_sniff(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    response.headers_mut().insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    response
}
