//! `vexil serve`: the project's state database over HTTP, read-only. Snapshots (full ones at
//! `/<env>/`, browser ones at `/<env>/browser/`; public unless `[serve] public = "browser"`
//! keeps the full ones behind the token), with ETags and CORS; an event stream per
//! environment that announces each version the moment it commits; the change log, gates and
//! definitions for the dashboard (token, or loopback when none is set); and the dashboard.
//!
//! ```text
//!  state database ──follow──▶ heads (each environment's newest snapshot, in memory)
//!   (LISTEN/NOTIFY; SQLite:        │            └──announce──▶ event streams
//!    data_version poll)            ▼
//!                          snapshot GETs (never wait on the database)
//! ```
//!
//! - [`follow`]: the thread that follows the database;
//! - [`announce`]: what an event says, to servers and to browsers;
//! - [`snapshots`]: `latest.vxl` and `v/<n>.vxl`, for either audience;
//! - [`events`]: the event streams;
//! - [`auth`]: the token, its cookie, loopback;
//! - [`api`]: the dashboard's data;
//! - [`assets`]: the dashboard and the npm package's browser files, built into the binary;
//! - with `--api`: [`gitlab_api`] (GitLab's Features API per environment),
//!   [`remote_api`] (the remote CLI's) and [`chat`] (slash commands), all applying changes
//!   through [`writer`];
//! - [`deliver`]: every change's announcements, to `[[notify]]`'s sinks;
//! - [`drive`]: running rollouts, when `[rollouts] drive = true`;
//! - [`housekeeping`]: stale flags and reference counts for the dashboard.

mod accept;
mod announce;
mod api;
mod assets;
mod auth;
mod chat;
mod deliver;
mod drive;
mod events;
mod follow;
mod freshness;
mod gitlab_api;
mod housekeeping;
mod remote_api;
mod snapshots;
mod writer;

use crate::config::{Config, ServePublic};
use crate::error::{Error, Result};
use crate::project::lock_timeout;
use crate::store::{self, Store};
use announce::Announcement;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;
use tokio::sync::broadcast;
use vexil_core::AudienceKind;

/// How `vexil serve` runs.
#[derive(Clone, Debug)]
pub struct ServeOptions {
    /// Where to listen.
    pub listen: SocketAddr,
    /// The dashboard's files from this directory instead of the copy built into vexil.
    pub www: Option<PathBuf>,
    /// The npm package (its `src/` and built `dist/`) from this directory instead.
    pub package: Option<PathBuf>,
    /// How often an idle event stream gets a comment, so proxies keep it open.
    pub heartbeat: Duration,
    /// How often an SQLite state is asked for new versions.
    pub poll: Duration,
    /// Offer the write API (`--api`, or `[serve] api = true`).
    pub api: bool,
    /// How long a client may take to send a request's headers.
    pub header_timeout: Duration,
    /// Open connections at most.
    pub max_connections: usize,
    /// Open connections from one client address at most.
    pub max_connections_per_client: usize,
}

impl ServeOptions {
    /// Defaults: the dashboard built in, 15 s heartbeats, a 10 ms poll.
    pub fn new(listen: SocketAddr) -> ServeOptions {
        ServeOptions {
            listen,
            www: None,
            package: None,
            heartbeat: Duration::from_secs(15),
            poll: Duration::from_millis(10),
            api: false,
            header_timeout: Duration::from_secs(10),
            max_connections: 10_000,
            // Off unless asked for: behind a reverse proxy, a CDN or an office's NAT, one
            // address carries everyone.
            max_connections_per_client: 10_000,
        }
    }
}

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
    fn served(&self, audience: AudienceKind) -> Option<(&str, &axum::body::Bytes)> {
        match audience {
            AudienceKind::Server => Some((&self.etag, &self.bytes)),
            AudienceKind::Browser => self.browser.as_ref().map(|(e, b)| (e.as_str(), b)),
        }
    }
}

/// An immutable version as served: environment, number, audience.
type VersionKey = (String, u64, AudienceKind);

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
    /// Recent answers for immutable versions, misses included (None).
    versions: Mutex<VecDeque<(VersionKey, Option<axum::body::Bytes>)>>,
    token: Option<String>,
    heartbeat: Duration,
    /// The write API's project and its guard; none while the API is off.
    writer: Option<writer::Writer>,
    /// Wakes the notification deliverer when versions are committed.
    wake_deliverer: Option<std::sync::mpsc::SyncSender<()>>,
    /// Chat slash commands, with the API, when a chat's secret is set.
    chat: Option<chat::Chat>,
    /// The dashboard's last housekeeping answer.
    housekeeping: housekeeping::Cached,
    /// What the follower last found: `/healthz` tells the truth about it.
    health: Mutex<follow::Health>,
    /// The reader's last use failed: reconnect before the next.
    reader_failed: std::sync::atomic::AtomicBool,
    /// Signs freshness statements, when this server can read the key.
    signing: Option<crate::freshness::Signing>,
    statements: freshness::Statements,
}

/// Runs the server for `project` until the process is stopped. `ready` is called with the
/// bound address once connections are accepted. Without the API the server only reads, and
/// never needs the signing key; with it, changes are made through `project`.
pub fn serve(project: crate::project::Project, options: ServeOptions, ready: impl FnOnce(SocketAddr)) -> Result<()> {
    let config = project.config.clone();
    let api = options.api || config.serve_api;
    // A thousand open event streams need a thousand descriptors; the soft limit is often 1,024.
    let _ = rlimit::increase_nofile_limit(u64::MAX);
    let reader = store::open(&config.state, lock_timeout())?;
    let environments: Vec<String> = config.environments.iter().map(|e| e.name.clone()).collect();
    let events = environments.iter().map(|e| (e.clone(), broadcast::channel(EVENT_BACKLOG).0)).collect();
    let token = match (std::env::var("VEXIL_SERVE_TOKEN").ok().filter(|t| !t.is_empty()), &config.serve_token_file) {
        (Some(t), _) => Some(t),
        (None, Some(file)) => {
            let text = std::fs::read_to_string(file)
                .map_err(|e| Error::refused(format!("[serve] token_file {}: {e}", file.display())))?;
            let token = text.trim().to_string();
            if token.is_empty() {
                return Err(Error::refused(format!("[serve] token_file {}: the file is empty", file.display())));
            }
            Some(token)
        }
        (None, None) => None,
    };
    if config.serve_public == ServePublic::Browser && token.is_none() {
        // Without a token the full routes fall back to loopback-only, and behind a reverse
        // proxy on this host every reader is loopback.
        return Err(Error::refused(
            "[serve] public = \"browser\" needs a token ([serve] token or VEXIL_SERVE_TOKEN) for the full snapshots",
        ));
    }
    let (wake_deliverer, woken) = std::sync::mpsc::sync_channel(1);
    let delivering = !config.sinks.is_empty();
    if delivering {
        deliver::start(&config, woken)?;
    }
    let signing = project.signing();
    let shared = Arc::new(Shared {
        signing,
        statements: Default::default(),
        environments,
        heads: RwLock::new(HashMap::new()),
        events,
        all_events: broadcast::channel(EVENT_BACKLOG).0,
        reader: Mutex::new(reader),
        versions: Mutex::new(VecDeque::new()),
        token,
        heartbeat: options.heartbeat,
        writer: api.then(|| writer::Writer::new(project)),
        wake_deliverer: delivering.then_some(wake_deliverer),
        chat: if api { chat::Chat::from_env() } else { None },
        housekeeping: Default::default(),
        health: Mutex::new(follow::Health::default()),
        reader_failed: Default::default(),
        config,
    });
    follow::start(&shared, options.poll)?;
    if shared.config.rollouts.drive {
        drive::start(shared.config.root.clone(), shared.wake_deliverer.clone())?;
    }
    if options.www.is_none() && !assets::embedded_dashboard_complete() {
        eprintln!(
            "vexil serve: this vexil was built without the dashboard's wasm (scripts/build-wasm.sh before cargo build); snapshots and streams are served"
        );
    }

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
        let limits =
            accept::Limits { connections: options.max_connections, per_client: options.max_connections_per_client };
        accept::serve(listener, app, options.header_timeout, limits).await;
        Ok(())
    })
}

fn router(shared: Arc<Shared>, options: &ServeOptions) -> Router {
    use snapshots::{latest, version};
    const SERVER: bool = false;
    const BROWSER: bool = true;
    let browser = Router::new()
        .route("/healthz", get(health))
        .route("/{env}/browser/latest.vxl", get(latest::<BROWSER>).options(snapshots::preflight))
        .route("/{env}/browser/v/{file}", get(version::<BROWSER>).options(snapshots::preflight))
        .route("/{env}/browser/events", get(events::environment::<BROWSER>).options(snapshots::preflight))
        .route("/{env}/browser/freshness.vxf", get(freshness::statement::<BROWSER>).options(snapshots::preflight));
    let full = Router::new()
        .route("/{env}/latest.vxl", get(latest::<SERVER>).options(snapshots::preflight))
        .route("/{env}/v/{file}", get(version::<SERVER>).options(snapshots::preflight))
        .route("/{env}/events", get(events::environment::<SERVER>).options(snapshots::preflight))
        .route("/{env}/freshness.vxf", get(freshness::statement::<SERVER>).options(snapshots::preflight))
        .route("/events", get(events::all).options(snapshots::preflight));
    let (mut public, full) = match shared.config.serve_public {
        ServePublic::All => (browser.merge(full), Router::new()),
        ServePublic::Browser => (browser, full),
    };
    // The APIs check their own tokens, scoped per environment, not the dashboard's.
    if shared.writer.is_some() {
        public =
            public.route("/{env}/api/v4/{*rest}", axum::routing::any(gitlab_api::handle)).merge(remote_api::routes());
        if let Some(chat) = &shared.chat {
            public = public.merge(chat::routes(chat));
        }
    }
    let private = assets::routes(full.merge(api::routes()), options)
        .layer(middleware::from_fn_with_state(shared.clone(), auth::authorize));
    public
        .merge(private)
        .fallback(not_found)
        .with_state(shared.clone())
        .layer(middleware::from_fn(auth::security_headers))
}

/// The audience of a route: browser routes are instantiated with `true`.
const fn audience(browser: bool) -> AudienceKind {
    if browser {
        AudienceKind::Browser
    } else {
        AudienceKind::Server
    }
}

/// A strong ETag: the content's SHA-256, shortened (128 bits is plenty to tell versions apart).
fn etag(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
    format!("\"{hex}\"")
}

/// Snapshots and their streams may be read from any origin: they are public data.
fn cors(headers: &mut HeaderMap) {
    headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
    headers.insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, HeaderValue::from_static("ETag"));
}

fn problem(status: StatusCode, message: impl Into<String>) -> Response {
    let mut response = (status, axum::Json(serde_json::json!({ "error": message.into() }))).into_response();
    cors(response.headers_mut());
    response
}

async fn not_found() -> Response {
    problem(StatusCode::NOT_FOUND, "no such route (see /healthz, /<environment>/latest.vxl, /<environment>/events)")
}

/// Healthy while the follower reaches the database and every environment's newest version
/// loads: otherwise 503, saying what fails, so a load balancer stops sending readers to a
/// server whose answers have gone stale.
async fn health(axum::extract::State(shared): axum::extract::State<Arc<Shared>>) -> Response {
    let heads = shared.heads.read().expect("heads lock");
    let versions: BTreeMap<&str, u64> =
        shared.environments.iter().map(|e| (e.as_str(), heads.get(e).map_or(0, |h| h.version))).collect();
    let health = shared.health.lock().expect("health lock").clone();
    let silent = crate::clock::now_ms().saturating_sub(health.followed_at);
    let database = health.database.or_else(|| {
        (silent > follow::SILENT_AFTER.as_millis() as i64)
            .then(|| format!("{}: no answer to the follower for {} s", health.describe, silent / 1000))
    });
    let healthy = database.is_none() && health.environments.is_empty();
    let body = serde_json::json!({
        "status": if healthy { "ok" } else { "unhealthy" },
        "environments": versions,
        "database": database.as_deref().unwrap_or("ok"),
        "failing": health.environments,
        "followed_ms_ago": silent,
    });
    let status = if healthy { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    let mut response = (status, axum::Json(body)).into_response();
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
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
            // After a failure the connection may be dead (a database restart): the next
            // request opens a new one rather than answering 503 for ever.
            if shared.reader_failed.load(std::sync::atomic::Ordering::Relaxed) {
                if let Ok(fresh) = store::open(&shared.config.state, lock_timeout()) {
                    *reader = fresh;
                    shared.reader_failed.store(false, std::sync::atomic::Ordering::Relaxed);
                }
            }
            let outcome = work(reader.as_mut());
            if outcome.is_err() {
                shared.reader_failed.store(true, std::sync::atomic::Ordering::Relaxed);
            }
            outcome
        })
        .await;
        match outcome {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e)) => Err(problem(StatusCode::SERVICE_UNAVAILABLE, e.to_string())),
            Err(e) => Err(problem(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())),
        }
    }
}
