//! `vexil serve`: the project's state database over HTTP, read-only. Snapshots (public, with
//! ETags and CORS; full ones at `/<env>/`, browser ones at `/<env>/browser/`), an event
//! stream per environment that announces each version the moment
//! it commits, the change log and definitions for the dashboard (token or loopback), and the
//! dashboard itself.
//!
//! One thread follows the database — LISTEN/NOTIFY on PostgreSQL, a cheap poll of the
//! newest version numbers on SQLite — and keeps each environment's newest snapshot in
//! memory, so `latest.vxl` and the streams never touch the database.

use crate::audience::Audience;
use crate::config::{Config, ServePublic, StateConfig};
use crate::definitions;
use crate::error::{Error, Result};
use crate::project::{gates_object, lock_timeout};
use crate::store::{self, Listener, LogFilter, Store};
use axum::body::Body;
use axum::extract::{ConnectInfo, Path as UrlPath, Query, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;
use futures_util::stream::{self, Stream};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;
use tokio::sync::broadcast;
use tower_http::services::ServeDir;

/// How `vexil serve` runs.
#[derive(Clone, Debug)]
pub struct ServeOptions {
    /// Where to listen.
    pub listen: SocketAddr,
    /// The dashboard's static files.
    pub www: PathBuf,
    /// The npm package (its `src/` and built `dist/`), which the dashboard imports.
    pub package: PathBuf,
    /// How often an idle event stream gets a comment, so proxies keep it open.
    pub heartbeat: Duration,
    /// How often an SQLite state is asked for new versions.
    pub poll: Duration,
}

impl ServeOptions {
    /// Defaults for the project checkout this binary was built from.
    pub fn new(listen: SocketAddr) -> ServeOptions {
        let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
        ServeOptions {
            listen,
            www: repo.join("www"),
            package: repo.join("pkg"),
            heartbeat: Duration::from_secs(15),
            poll: Duration::from_millis(10),
        }
    }
}

/// `latest.vxl` is the live source: CDNs in front of `vexil serve` may hold it this long.
const LATEST_CACHE: &str = "public, max-age=1";
const IMMUTABLE_CACHE: &str = "public, max-age=31536000, immutable";
/// Immutable versions kept in memory, for clients fetching the version an event announced.
const VERSION_CACHE: usize = 256;
/// Events a slow subscriber may fall behind before it is sent the newest state instead.
const EVENT_BACKLOG: usize = 64;

/// An environment's newest version, as served.
struct Head {
    version: u64,
    etag: String,
    bytes: axum::body::Bytes,
    state: vexil_core::Environment,
    /// Its browser snapshot: `(etag, bytes)`.
    browser: Option<(String, axum::body::Bytes)>,
}

impl Head {
    fn served(&self, audience: Audience) -> Option<(&str, &axum::body::Bytes)> {
        match audience {
            Audience::Server => Some((&self.etag, &self.bytes)),
            Audience::Browser => self.browser.as_ref().map(|(e, b)| (e.as_str(), b)),
        }
    }
}

/// One announcement on an event stream, as servers and as browsers read it.
#[derive(Clone, Debug)]
struct Announcement {
    version: u64,
    data: String,
    browser_data: String,
}

impl Announcement {
    fn data(&self, audience: Audience) -> &str {
        match audience {
            Audience::Server => &self.data,
            Audience::Browser => &self.browser_data,
        }
    }
}

/// An immutable version as served: environment, number, audience.
type VersionKey = (String, u64, Audience);

struct Shared {
    config: Config,
    environments: Vec<String>,
    heads: RwLock<HashMap<String, Arc<Head>>>,
    events: HashMap<String, broadcast::Sender<Announcement>>,
    /// Every environment's announcements on one stream, for pages following them all: a
    /// browser holds at most six HTTP/1.1 connections to one origin.
    all_events: broadcast::Sender<String>,
    /// For what is not in memory: older versions, the change log.
    reader: Mutex<Box<dyn Store + Send>>,
    versions: Mutex<VecDeque<(VersionKey, axum::body::Bytes)>>,
    token: Option<String>,
    heartbeat: Duration,
}

/// Runs the server until the process is stopped. `ready` is called with the bound address
/// once connections are accepted.
pub fn serve(config: Config, options: ServeOptions, ready: impl FnOnce(SocketAddr)) -> Result<()> {
    // A thousand open event streams need a thousand descriptors; the soft limit is often 1,024.
    let _ = rlimit::increase_nofile_limit(u64::MAX);
    let reader = store::open(&config.state, lock_timeout())?;
    let environments: Vec<String> = config.environments.iter().map(|e| e.name.clone()).collect();
    let events = environments.iter().map(|e| (e.clone(), broadcast::channel(EVENT_BACKLOG).0)).collect();
    let token =
        std::env::var("VEXIL_SERVE_TOKEN").ok().filter(|t| !t.is_empty()).or_else(|| config.serve_token.clone());
    if config.serve_public == ServePublic::Browser && token.is_none() {
        // Without a token the full routes fall back to loopback-only, and behind a reverse
        // proxy on this host every reader is loopback.
        return Err(Error::refused(
            "[serve] public = \"browser\" needs a token ([serve] token or VEXIL_SERVE_TOKEN) for the full snapshots",
        ));
    }
    let shared = Arc::new(Shared {
        environments,
        heads: RwLock::new(HashMap::new()),
        events,
        all_events: broadcast::channel(EVENT_BACKLOG).0,
        reader: Mutex::new(reader),
        versions: Mutex::new(VecDeque::new()),
        token,
        heartbeat: options.heartbeat,
        config,
    });
    let mut follower = Follower::open(&shared, options.poll)?;
    follower.catch_up(&shared)?;
    std::thread::Builder::new()
        .name("vexil-follow".into())
        .spawn({
            let shared = shared.clone();
            move || follower.run(&shared)
        })
        .map_err(|e| Error::io(format!("cannot start the database follower: {e}")))?;

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::io(format!("cannot start the HTTP runtime: {e}")))?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(options.listen)
            .await
            .map_err(|e| Error::io(format!("cannot listen on {}: {e}", options.listen)))?;
        let address = listener.local_addr().map_err(|e| Error::io(e.to_string()))?;
        let app = router(shared, &options);
        ready(address);
        axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
            .await
            .map_err(|e| Error::io(format!("serving on {address}: {e}")))
    })
}

fn router(shared: Arc<Shared>, options: &ServeOptions) -> Router {
    let browser = Router::new()
        .route("/healthz", get(health))
        .route("/{env}/browser/latest.vxl", get(browser_latest).options(preflight))
        .route("/{env}/browser/v/{file}", get(browser_version).options(preflight))
        .route("/{env}/browser/events", get(browser_events).options(preflight));
    let full = Router::new()
        .route("/{env}/latest.vxl", get(latest).options(preflight))
        .route("/{env}/v/{file}", get(version).options(preflight))
        .route("/{env}/events", get(events).options(preflight))
        .route("/events", get(all_events).options(preflight));
    let (public, full) = match shared.config.serve_public {
        ServePublic::All => (browser.merge(full), Router::new()),
        ServePublic::Browser => (browser, full),
    };
    let private = full
        .route("/", get(dashboard))
        .route("/api/definitions", get(definitions))
        .route("/{env}/log", get(log))
        .route("/{env}/state", get(state))
        .nest_service("/www", ServeDir::new(&options.www))
        .nest_service("/pkg", ServeDir::new(&options.package))
        .layer(middleware::from_fn_with_state(shared.clone(), authorize));
    public.merge(private).fallback(not_found).with_state(shared.clone()).layer(middleware::from_fn(no_sniff))
}

// ---------------------------------------------------------------------------------------
// Following the database.

enum Wake {
    Poll,
    Listen(Box<Listener>),
}

struct Follower {
    store: Box<dyn Store + Send>,
    wake: Wake,
    poll: Duration,
    /// A catch-up failed: look at the heads again even if nothing new was committed.
    behind: bool,
}

impl Follower {
    fn open(shared: &Shared, poll: Duration) -> Result<Follower> {
        let store = store::open(&shared.config.state, lock_timeout())?;
        let wake = match &shared.config.state {
            StateConfig::Sqlite(_) => Wake::Poll,
            StateConfig::Postgres(url) => Wake::Listen(Box::new(Listener::open(url)?)),
        };
        Ok(Follower { store, wake, poll, behind: false })
    }

    fn run(mut self, shared: &Shared) {
        loop {
            let woke = match &mut self.wake {
                Wake::Poll => {
                    std::thread::sleep(self.poll);
                    match self.store.may_have_changed() {
                        Ok(false) if !self.behind => continue,
                        other => other.map(drop),
                    }
                }
                // The timeout is a safety net: a notification lost with a dropped connection
                // is found by the next look at the heads.
                Wake::Listen(listener) => listener.wait(Duration::from_secs(2)).map(drop),
            };
            let caught_up = woke.and_then(|()| self.catch_up(shared));
            self.behind = caught_up.is_err();
            if let Err(e) = caught_up {
                eprintln!("vexil serve: {e}; reconnecting");
                std::thread::sleep(Duration::from_millis(500));
                if let Ok(again) = Follower::open(shared, self.poll) {
                    self = again;
                }
            }
        }
    }

    /// Loads every version newer than what is served, announcing each in order.
    fn catch_up(&mut self, shared: &Shared) -> Result<()> {
        for (environment, newest) in self.store.heads()? {
            let Some(sender) = shared.events.get(&environment) else { continue };
            let head = shared.heads.read().expect("heads lock").get(&environment).cloned();
            let known = head.as_ref().map_or(0, |h| h.version);
            if newest <= known {
                continue;
            }
            // A server that starts (or an environment published for the first time) serves
            // the newest version; versions before it were never announced, so only it is.
            let rows = match &head {
                Some(_) => self.store.versions_after(&environment, known)?,
                None => self.store.latest(&environment)?.into_iter().collect(),
            };
            let mut previous = head;
            for row in rows {
                let snapshot = row.decode().map_err(|e| e.context(self.store.describe()))?;
                let state = snapshot.to_environment();
                let changed = match &previous {
                    Some(p) => changed_flags(&p.state, &state),
                    None => state.flags.keys().cloned().collect(),
                };
                // Versions committed before vexil stored browser snapshots have none; their
                // browser routes answer 404 until the next version.
                let browser = row.browser_snapshot.as_ref().map(|b| (etag(b), axum::body::Bytes::from(b.clone())));
                let next = Arc::new(Head {
                    version: row.version,
                    etag: etag(&row.snapshot),
                    bytes: row.snapshot.into(),
                    state,
                    browser,
                });
                shared.heads.write().expect("heads lock").insert(environment.clone(), next.clone());
                // Sending with no subscriber is fine (at startup there are none). An
                // environment's first version is announced too: a page may already follow it.
                let _ = sender.send(announcement(&next, &changed, previous.as_ref().map(|p| &p.state)));
                let _ = shared.all_events.send(
                    serde_json::json!({
                        "environment": environment,
                        "version": next.version,
                        "etag": next.etag,
                        "changed": changed,
                    })
                    .to_string(),
                );
                previous = Some(next);
            }
        }
        Ok(())
    }
}

/// Flags whose definition facts or gates differ, or that exist in only one of the two.
fn changed_flags(before: &vexil_core::Environment, after: &vexil_core::Environment) -> Vec<String> {
    let mut changed: Vec<String> = after
        .flags
        .iter()
        .filter(|(name, flag)| before.flags.get(*name) != Some(flag))
        .map(|(n, _)| n.clone())
        .collect();
    changed.extend(before.flags.keys().filter(|n| !after.flags.contains_key(*n)).cloned());
    changed.sort();
    changed
}

/// The announcement of `head`. Browsers are told only of flags they may see, now or in
/// the `before` state (a flag that stopped being client-side was known to them).
fn announcement(head: &Head, changed: &[String], before: Option<&vexil_core::Environment>) -> Announcement {
    let data = serde_json::json!({ "version": head.version, "etag": head.etag, "changed": changed }).to_string();
    let client_side =
        |state: &vexil_core::Environment, name: &str| state.flags.get(name).is_some_and(|f| f.client_side);
    let visible: Vec<&String> =
        changed.iter().filter(|n| client_side(&head.state, n) || before.is_some_and(|b| client_side(b, n))).collect();
    let etag = head.browser.as_ref().map(|(e, _)| e.as_str());
    let browser_data = serde_json::json!({ "version": head.version, "etag": etag, "changed": visible }).to_string();
    Announcement { version: head.version, data, browser_data }
}

/// A strong ETag: the content's SHA-256, shortened (128 bits is plenty to tell versions apart).
fn etag(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
    format!("\"{hex}\"")
}

// ---------------------------------------------------------------------------------------
// Snapshots and events: public.

fn cors(headers: &mut HeaderMap) {
    headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
    headers.insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, HeaderValue::from_static("ETag"));
}

async fn preflight() -> Response {
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

fn problem(status: StatusCode, message: impl Into<String>) -> Response {
    let mut response = (status, axum::Json(serde_json::json!({ "error": message.into() }))).into_response();
    cors(response.headers_mut());
    response
}

async fn not_found() -> Response {
    problem(StatusCode::NOT_FOUND, "no such route (see /healthz, /<environment>/latest.vxl, /<environment>/events)")
}

impl Shared {
    /// The refusal for a name that is not an environment of the project.
    fn unknown(&self, name: &str) -> Option<Response> {
        if self.environments.iter().any(|e| e == name) {
            return None;
        }
        Some(problem(
            StatusCode::NOT_FOUND,
            format!("unknown environment {name:?} (defined: {})", self.environments.join(", ")),
        ))
    }

    fn head(&self, environment: &str) -> Option<Arc<Head>> {
        self.heads.read().expect("heads lock").get(environment).cloned()
    }

    /// Runs `work` with the reader connection, off the async threads.
    async fn read<T: Send + 'static>(
        self: &Arc<Self>,
        work: impl FnOnce(&mut dyn Store) -> Result<T> + Send + 'static,
    ) -> std::result::Result<T, Response> {
        let shared = self.clone();
        let outcome = tokio::task::spawn_blocking(move || {
            let mut reader = shared.reader.lock().expect("reader lock");
            work(reader.as_mut())
        })
        .await;
        match outcome {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e)) => Err(problem(StatusCode::SERVICE_UNAVAILABLE, e.to_string())),
            Err(e) => Err(problem(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())),
        }
    }
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

async fn latest(State(shared): State<Arc<Shared>>, UrlPath(env): UrlPath<String>, request: HeaderMap) -> Response {
    latest_for(&shared, env, &request, Audience::Server)
}

async fn browser_latest(
    State(shared): State<Arc<Shared>>,
    UrlPath(env): UrlPath<String>,
    request: HeaderMap,
) -> Response {
    latest_for(&shared, env, &request, Audience::Browser)
}

fn latest_for(shared: &Shared, env: String, request: &HeaderMap, audience: Audience) -> Response {
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

async fn version(
    State(shared): State<Arc<Shared>>,
    UrlPath((env, file)): UrlPath<(String, String)>,
    request: HeaderMap,
) -> Response {
    version_for(shared, env, file, request, Audience::Server).await
}

async fn browser_version(
    State(shared): State<Arc<Shared>>,
    UrlPath((env, file)): UrlPath<(String, String)>,
    request: HeaderMap,
) -> Response {
    version_for(shared, env, file, request, Audience::Browser).await
}

async fn version_for(
    shared: Arc<Shared>,
    env: String,
    file: String,
    request: HeaderMap,
    audience: Audience,
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
    let key = (env.clone(), number, audience);
    let cached = shared.versions.lock().expect("versions lock").iter().find(|(k, _)| *k == key).map(|(_, b)| b.clone());
    let bytes = match cached {
        Some(bytes) => bytes,
        None => {
            let lookup = env.clone();
            match shared.read(move |store| store.version(&lookup, number)).await {
                Err(r) => return r,
                Ok(None) => return problem(StatusCode::NOT_FOUND, format!("{env} has no version {number}")),
                Ok(Some(row)) => {
                    let bytes = match (audience, row.browser_snapshot) {
                        (Audience::Server, _) => axum::body::Bytes::from(row.snapshot),
                        (Audience::Browser, Some(b)) => axum::body::Bytes::from(b),
                        (Audience::Browser, None) => {
                            return problem(StatusCode::NOT_FOUND, format!("{env} v{number} has no browser snapshot"))
                        }
                    };
                    let mut cache = shared.versions.lock().expect("versions lock");
                    if cache.len() == VERSION_CACHE {
                        cache.pop_front();
                    }
                    cache.push_back((key, bytes.clone()));
                    bytes
                }
            }
        }
    };
    snapshot_response(&request, &etag(&bytes), bytes, IMMUTABLE_CACHE)
}

async fn events(State(shared): State<Arc<Shared>>, UrlPath(env): UrlPath<String>, request: HeaderMap) -> Response {
    events_for(shared, env, request, Audience::Server).await
}

async fn browser_events(
    State(shared): State<Arc<Shared>>,
    UrlPath(env): UrlPath<String>,
    request: HeaderMap,
) -> Response {
    events_for(shared, env, request, Audience::Browser).await
}

async fn events_for(shared: Arc<Shared>, env: String, request: HeaderMap, audience: Audience) -> Response {
    if let Some(refusal) = shared.unknown(&env) {
        return refusal;
    }
    // Subscribe before reading the head, so nothing committed in between is missed.
    let receiver = shared.events[&env].subscribe();
    let resume_from =
        request.get("last-event-id").and_then(|v| v.to_str().ok()).and_then(|v| v.trim().parse::<u64>().ok());
    let mut first = Vec::new();
    if let Some(head) = shared.head(&env) {
        match resume_from {
            // Up to date: nothing to say until the next version.
            Some(seen) if seen == head.version => {}
            // Behind: the newest version, with every flag changed since the one the client has.
            Some(seen) if seen < head.version => {
                let lookup = env.clone();
                let before = shared.read(move |store| store.version(&lookup, seen)).await.ok().flatten();
                let before = before.and_then(|row| row.decode().ok()).map(|s| s.to_environment());
                let changed = match &before {
                    Some(before) => changed_flags(before, &head.state),
                    None => head.state.flags.keys().cloned().collect(),
                };
                first.push(announcement(&head, &changed, before.as_ref()));
            }
            // A fresh subscriber, or one that saw a version this database never had: the
            // current state, so it can tell whether what it holds is current.
            _ => first.push(announcement(&head, &[], None)),
        }
    }
    let state = StreamState {
        shared: shared.clone(),
        env,
        audience,
        receiver,
        first: first.into(),
        last: resume_from.unwrap_or(0),
    };
    event_stream(stream::unfold(state, next_event), shared.heartbeat)
}

fn event_stream(
    events: impl Stream<Item = std::result::Result<Event, Infallible>> + Send + 'static,
    heartbeat: Duration,
) -> Response {
    let mut response =
        Sse::new(events).keep_alive(KeepAlive::new().interval(heartbeat).text("heartbeat")).into_response();
    let headers = response.headers_mut();
    cors(headers);
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    // nginx and similar proxies buffer responses unless told not to.
    headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
    response
}

/// Every environment's new versions on one stream (`data` names the environment). It has no
/// event ids: a page that reconnects reloads what it follows.
async fn all_events(State(shared): State<Arc<Shared>>) -> Response {
    let receiver = shared.all_events.subscribe();
    let stream = stream::unfold(receiver, |mut receiver| async move {
        loop {
            match receiver.recv().await {
                Ok(data) => {
                    return Some((Ok::<_, Infallible>(Event::default().event("snapshot").data(data)), receiver))
                }
                // The channel keeps the newest events, and only the newest version of each matters.
                Err(broadcast::error::RecvError::Lagged(_)) => continue,
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    });
    event_stream(stream, shared.heartbeat)
}

struct StreamState {
    shared: Arc<Shared>,
    env: String,
    audience: Audience,
    receiver: broadcast::Receiver<Announcement>,
    first: VecDeque<Announcement>,
    last: u64,
}

async fn next_event(mut s: StreamState) -> Option<(std::result::Result<Event, Infallible>, StreamState)> {
    loop {
        let next = match s.first.pop_front() {
            Some(a) => a,
            None => match s.receiver.recv().await {
                Ok(a) => a,
                // Too slow to take every event: skip to the newest state and call every flag
                // changed, since what this subscriber missed is no longer known.
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    let head = s.shared.head(&s.env)?;
                    let changed = head.state.flags.keys().cloned().collect::<Vec<_>>();
                    announcement(&head, &changed, None)
                }
                Err(broadcast::error::RecvError::Closed) => return None,
            },
        };
        if next.version <= s.last && s.last != 0 {
            continue;
        }
        s.last = next.version;
        let event = Event::default().event("snapshot").id(next.version.to_string()).data(next.data(s.audience));
        return Some((Ok(event), s));
    }
}

async fn health(State(shared): State<Arc<Shared>>) -> Response {
    let heads = shared.heads.read().expect("heads lock");
    let versions: BTreeMap<&str, u64> =
        shared.environments.iter().map(|e| (e.as_str(), heads.get(e).map_or(0, |h| h.version))).collect();
    let mut response = axum::Json(serde_json::json!({ "status": "ok", "environments": versions })).into_response();
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

// ---------------------------------------------------------------------------------------
// The dashboard and its data: for holders of the token, or loopback when none is set.

const TOKEN_COOKIE: &str = "vexil_token";

async fn authorize(
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

async fn no_sniff(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    response.headers_mut().insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    response
}

async fn dashboard() -> Response {
    let mut response = Redirect::to("/www/index.html").into_response();
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
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

fn private_json(body: serde_json::Value) -> Response {
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
    let flags: BTreeMap<&String, serde_json::Value> =
        head.state.flags.iter().filter(|(_, f)| f.persisted).map(|(name, f)| (name, gates_object(&f.gates))).collect();
    private_json(serde_json::json!({
        "version": head.version,
        "published_at": head.state.published_at,
        "flags": flags,
    }))
}
