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
        return match loopback_refusal(peer, request.headers()) {
            None => next.run(request).await,
            Some(why) => problem(
                StatusCode::FORBIDDEN,
                format!("the dashboard and its data are served to loopback only while no [serve] token is set ({why}); set VEXIL_SERVE_TOKEN to serve them further"),
            ),
        };
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
            // A working day, not for ever; Secure whenever the page was reached over TLS (a
            // terminating proxy says so), so the cookie never travels in the clear after.
            let tls = request.headers().get("x-forwarded-proto").is_some_and(|p| p.as_bytes() == b"https");
            let secure = if tls { "; Secure" } else { "" };
            let cookie = format!("{TOKEN_COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict; Max-Age=43200{secure}");
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

/// Why a request is not trusted as coming from this machine, if it is not. The peer address
/// alone is not enough: a page on any site can reach a loopback port by DNS rebinding (its
/// Host names that site), and a reverse proxy on this host makes every visitor loopback (it
/// says so in a forwarding header).
fn loopback_refusal(peer: SocketAddr, headers: &HeaderMap) -> Option<&'static str> {
    if !peer.ip().is_loopback() {
        return Some("the request is not from loopback");
    }
    const FORWARDED: [&str; 5] = ["forwarded", "x-forwarded-for", "x-forwarded-host", "x-real-ip", "via"];
    if FORWARDED.iter().any(|h| headers.contains_key(*h)) {
        return Some("a proxy forwarded it");
    }
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("");
    let name = match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => host
            .rsplit_once(':')
            .map_or(host, |(name, port)| if port.bytes().all(|b| b.is_ascii_digit()) { name } else { host }),
    };
    let loopback_name = name.eq_ignore_ascii_case("localhost")
        || name.to_ascii_lowercase().ends_with(".localhost")
        || name.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback());
    (!loopback_name).then_some("its Host is not a loopback name")
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

/// The dashboard's policy: its own scripts, styles and wasm only, talking to this origin
/// only, never framed (so a rebound or hostile page cannot click through it).
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self'; \
img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// Every response says what it is (no content sniffing), and may not be framed; pages get
/// the dashboard's content security policy.
pub(super) async fn security_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CONTENT_SECURITY_POLICY));
    response
}
