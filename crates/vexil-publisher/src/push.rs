//! Push targets: where an environment's snapshots go, in the layout of the wire contract —
//! `latest.vxl` (the newest snapshot, cached for seconds) and `v/<version>.vxl`
//! (immutable, cached forever) — in a local directory, S3-compatible object storage, or an
//! HTTP origin that takes PUT.
//!
//! A push writes the missing immutable versions first and `latest.vxl` last; each write is
//! whole (temporary file and rename on disk; one PUT for objects), so readers only ever see
//! complete snapshots. Pushes to one target hold its lock in the state database and never
//! replace `latest.vxl` with an older version: object stores such as Garage ignore
//! conditional writes, so the order comes from the database.

use crate::atomic_file::{is_temporary, write_atomically};
use crate::audience::browser_snapshot;
use crate::config::{PushTargetConfig, PushTargetKind, S3Target};
use crate::error::{Error, ErrorContext, Result};
use crate::freshness::{Signing, FILE as FRESHNESS};
use crate::store::{Store, VersionRow, WriteTx};
use object_store::path::Path as ObjectPath;
use object_store::{Attribute, Attributes, ClientOptions, ObjectStore, PutOptions, RetryConfig};
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use vexil_core::{AudienceKind, Snapshot};

/// `Cache-Control` of immutable versions: a year, and never revalidated.
pub const IMMUTABLE_CACHE: &str = "public, max-age=31536000, immutable";

/// What [`PushTarget::check`] writes to prove an object target takes writes.
pub const WRITE_CHECK: &str = ".vexil-write-check";

/// The media type of snapshots.
pub const CONTENT_TYPE: &str = "application/octet-stream";

/// `Cache-Control` of `latest.vxl`.
pub fn latest_cache(max_age: u32) -> String {
    format!("public, max-age={max_age}")
}

enum Backend {
    Directory(PathBuf),
    Object { store: Arc<dyn ObjectStore>, prefix: String, latest_max_age: u32, runtime: tokio::runtime::Runtime },
}

/// One environment's push target.
pub struct PushTarget {
    /// The environment.
    pub environment: String,
    /// The target's configuration.
    pub config: PushTargetConfig,
    backend: Backend,
    /// Signs the browser snapshots a browser-audience target is given.
    signing: Option<Signing>,
}

/// What a target holds, compared with the database.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case", tag = "status")]
pub enum TargetState {
    /// Nothing published there yet.
    Empty,
    /// Its `latest.vxl` is this version, byte-identical to the database's.
    At {
        /// The version.
        version: u64,
    },
}

/// What a push did.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case", tag = "outcome")]
pub enum PushOutcome {
    /// The database has no version yet.
    Nothing,
    /// The target already had this (or a newer) version.
    UpToDate {
        /// Its version.
        version: u64,
    },
    /// The target went from one version to another.
    Pushed {
        /// Before (0: empty).
        from: u64,
        /// After.
        to: u64,
    },
}

/// How long object stores get before a push gives up: a target that is down should make
/// the command report it behind promptly, not retry for minutes.
fn client_options() -> (ClientOptions, RetryConfig) {
    let client = ClientOptions::new()
        .with_allow_http(true)
        .with_connect_timeout(Duration::from_secs(3))
        .with_timeout(Duration::from_secs(15));
    let retry = RetryConfig { max_retries: 2, retry_timeout: Duration::from_secs(8), ..RetryConfig::default() };
    (client, retry)
}

fn s3_store(s3: &S3Target) -> Result<Arc<dyn ObjectStore>> {
    let (client, retry) = client_options();
    let mut b = object_store::aws::AmazonS3Builder::from_env()
        .with_bucket_name(&s3.bucket)
        .with_client_options(client)
        .with_retry(retry);
    if let Some(endpoint) = &s3.endpoint {
        // Self-hosted stores (Garage, MinIO) address buckets by path, not by host name.
        b = b.with_endpoint(endpoint).with_virtual_hosted_style_request(false);
    }
    if let Some(region) = &s3.region {
        b = b.with_region(region);
    }
    if let Some(k) = &s3.access_key_id {
        b = b.with_access_key_id(k);
    }
    if let Some(file) = &s3.secret_access_key_file {
        let key = std::fs::read_to_string(file)
            .map_err(|e| Error::refused(format!("secret_access_key_file {}: {e}", file.display())))?;
        b = b.with_secret_access_key(key.trim());
    }
    Ok(Arc::new(b.build().map_err(|e| Error::refused(e.to_string()))?))
}

fn http_store(url: &str) -> Result<Arc<dyn ObjectStore>> {
    let (client, retry) = client_options();
    let store = object_store::http::HttpBuilder::new()
        .with_url(url)
        .with_client_options(client)
        .with_retry(retry)
        .build()
        .map_err(|e| Error::refused(e.to_string()))?;
    Ok(Arc::new(store))
}

impl PushTarget {
    /// The target `config` of `environment`; `signing` signs what a browser-audience target
    /// gets, and the freshness statements.
    pub fn new(environment: &str, config: PushTargetConfig, signing: Option<Signing>) -> Result<PushTarget> {
        let object = |store: Result<Arc<dyn ObjectStore>>, prefix: String, latest_max_age: u32| -> Result<Backend> {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| Error::io(format!("cannot start an I/O runtime: {e}")))?;
            Ok(Backend::Object { store: store?, prefix, latest_max_age, runtime })
        };
        let describe = || format!("environment {environment}, target {}", config.name);
        let backend = match &config.kind {
            PushTargetKind::Directory { path } => Backend::Directory(path.clone()),
            PushTargetKind::S3(s3) => {
                object(s3_store(s3), s3.prefix.clone(), s3.latest_max_age).map_err(|e| e.context(describe()))?
            }
            PushTargetKind::Http { url, latest_max_age } => {
                object(http_store(url), String::new(), *latest_max_age).map_err(|e| e.context(describe()))?
            }
        };
        Ok(PushTarget { environment: environment.to_string(), config, backend, signing })
    }

    /// "environment production, target cdn (s3 bucket flags/production)".
    pub fn describe(&self) -> String {
        let what = match &self.config.kind {
            PushTargetKind::Directory { path } => format!("directory {}", path.display()),
            PushTargetKind::S3(s3) if s3.prefix.is_empty() => format!("s3 bucket {}", s3.bucket),
            PushTargetKind::S3(s3) => format!("s3 bucket {}/{}", s3.bucket, s3.prefix),
            PushTargetKind::Http { url, .. } => format!("http {url}"),
        };
        let audience = match self.config.audience {
            AudienceKind::Server => "",
            AudienceKind::Browser => ", browser audience",
        };
        format!("environment {}, target {} ({what}{audience})", self.environment, self.config.name)
    }

    /// The bytes this target gets for a stored version: the stored snapshot itself, or the
    /// browser snapshot derived from it.
    fn render(&self, row: &VersionRow) -> Result<Vec<u8>> {
        match self.config.audience {
            AudienceKind::Server => Ok(row.snapshot.clone()),
            AudienceKind::Browser => browser_snapshot(row, self.signing.as_ref().map(|s| &s.key)),
        }
    }

    fn object_path(prefix: &str, name: &str) -> ObjectPath {
        if prefix.is_empty() {
            ObjectPath::from(name)
        } else {
            ObjectPath::from(format!("{prefix}/{name}"))
        }
    }

    /// The bytes of `name` (`latest.vxl`, `v/3.vxl`), or None if it does not exist.
    fn get(&self, name: &str) -> Result<Option<Vec<u8>>> {
        match &self.backend {
            Backend::Directory(dir) => match std::fs::read(dir.join(name)) {
                Ok(b) => Ok(Some(b)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(Error::io(format!("{}: cannot read {name}: {e}", self.describe()))),
            },
            Backend::Object { store, prefix, runtime, .. } => {
                let path = Self::object_path(prefix, name);
                let got = runtime.block_on(async { store.get(&path).await?.bytes().await });
                match got {
                    Ok(b) => Ok(Some(b.to_vec())),
                    Err(object_store::Error::NotFound { .. }) => Ok(None),
                    Err(e) => Err(Error::io(format!("{}: cannot read {name}: {}", self.describe(), object_error(&e)))),
                }
            }
        }
    }

    fn put(&self, name: &str, bytes: &[u8]) -> Result<()> {
        let cache = match &self.backend {
            Backend::Object { latest_max_age, .. } if name == "latest.vxl" || name == FRESHNESS => {
                latest_cache(*latest_max_age)
            }
            _ => IMMUTABLE_CACHE.to_string(),
        };
        self.put_with(name, bytes, &cache)
    }

    fn put_with(&self, name: &str, bytes: &[u8], cache: &str) -> Result<()> {
        match &self.backend {
            Backend::Directory(dir) => {
                let path = dir.join(name);
                if let Some(parent) = path.parent() {
                    std::fs::create_dir_all(parent).context(format!(
                        "{}: cannot create {}",
                        self.describe(),
                        parent.display()
                    ))?;
                }
                write_atomically(&path, bytes).map_err(|e| e.context(self.describe()))
            }
            Backend::Object { store, prefix, runtime, .. } => {
                let path = Self::object_path(prefix, name);
                let mut attributes = Attributes::new();
                attributes.insert(Attribute::CacheControl, cache.to_string().into());
                attributes.insert(Attribute::ContentType, CONTENT_TYPE.into());
                let opts = PutOptions { attributes, ..PutOptions::default() };
                let payload = object_store::PutPayload::from(bytes.to_vec());
                runtime
                    .block_on(store.put_opts(&path, payload, opts))
                    .map(|_| ())
                    .map_err(|e| Error::io(format!("{}: cannot write {name}: {}", self.describe(), object_error(&e))))
            }
        }
    }

    /// Checks, before anything is committed, that a push could succeed: the target is there
    /// and writable, and what it holds is a snapshot the database published. For object
    /// stores and HTTP origins only a write proves writability (a missing bucket, a key
    /// without write access, a read-only origin all answer reads), so a tiny object outside
    /// the wire contract, `.vexil-write-check`, is written.
    pub fn check(&self, store: &mut dyn Store) -> Result<TargetState> {
        if let Backend::Directory(dir) = &self.backend {
            let meta = std::fs::metadata(dir).map_err(|e| {
                Error::io(format!(
                    "{}: {e} (vexil init creates target directories; create it or fix vexil.toml)",
                    self.describe()
                ))
            })?;
            if !meta.is_dir() {
                return Err(Error::io(format!("{}: not a directory", self.describe())));
            }
            // Mode bits, not access(2): as root every directory is writable, and a directory
            // someone made read-only should still stop a push.
            if meta.permissions().mode() & 0o222 == 0 {
                return Err(Error::io(format!("{}: the directory is read-only", self.describe())));
            }
        }
        let state = self.state(store)?;
        if let Backend::Object { .. } = &self.backend {
            self.put_with(WRITE_CHECK, b"", "no-store")?;
        }
        Ok(state)
    }

    /// What the target holds: its `latest.vxl`, checked against the database.
    pub fn state(&self, store: &mut dyn Store) -> Result<TargetState> {
        let mut lookup = |v: u64| store.version(&self.environment, v);
        self.state_with(&mut lookup)
    }

    fn state_with(&self, version: &mut dyn FnMut(u64) -> Result<Option<VersionRow>>) -> Result<TargetState> {
        let Some(bytes) = self.get("latest.vxl")? else { return Ok(TargetState::Empty) };
        let tampered = |why: String| {
            Error::io(format!(
                "{}: latest.vxl is not a snapshot this database published ({why}); `vexil publish --repair` rewrites it",
                self.describe()
            ))
        };
        // The database's copy is the authority: the bytes must be exactly those it published
        // for that version (a signature alone would not catch an old, validly signed file).
        let snapshot = Snapshot::decode(&bytes, &[]).map_err(|e| tampered(e.to_string()))?;
        let v = snapshot.version();
        let Some(row) = version(v)? else { return Err(tampered(format!("the database has no version {v}"))) };
        let same = match (self.config.audience, &row.browser_snapshot) {
            (AudienceKind::Server, _) => row.snapshot == bytes,
            (AudienceKind::Browser, Some(browser)) => *browser == bytes,
            // A version committed before browser snapshots were stored: compared by content,
            // since it was signed whenever it was derived, perhaps with an older key.
            (AudienceKind::Browser, None) => {
                let expected = crate::audience::browser_environment(&row.decode()?.to_environment())?;
                snapshot.to_environment() == expected
            }
        };
        if same {
            Ok(TargetState::At { version: v })
        } else {
            Err(tampered(format!("version {v} differs from the database's")))
        }
    }

    /// Brings the target up to the database's newest version: the immutable versions it
    /// lacks, then `latest.vxl`, holding the target's lock. With `repair`, rewrites whatever
    /// it holds.
    pub fn push(&self, store: &mut dyn Store, repair: bool) -> Result<PushOutcome> {
        let mut outcome = PushOutcome::Nothing;
        let (environment, name) = (self.environment.clone(), self.config.name.clone());
        store.with_target_lock(&environment, &name, &mut |tx| {
            outcome = self.push_locked(tx, repair)?;
            Ok(())
        })?;
        Ok(outcome)
    }

    fn push_locked(&self, tx: &mut dyn WriteTx, repair: bool) -> Result<PushOutcome> {
        let Some(latest) = tx.latest(&self.environment)? else { return Ok(PushOutcome::Nothing) };
        let held = {
            let mut lookup = |v: u64| tx.version(&self.environment, v);
            self.state_with(&mut lookup)
        };
        let from = match held {
            Ok(TargetState::At { version }) if !repair => version,
            Ok(_) => 0,
            Err(_) if repair => 0,
            Err(e) => return Err(e),
        };
        if from >= latest.version {
            self.put_freshness(&self.render(&latest)?)?;
            tx.set_pushed(&self.environment, &self.config.name, from)?;
            return Ok(PushOutcome::UpToDate { version: from });
        }
        self.sweep_temporaries();
        // A repair rewrites only the newest version; older immutable files are left alone.
        let missing: Vec<VersionRow> =
            if from == 0 && repair { vec![latest.clone()] } else { tx.versions_after(&self.environment, from)? };
        for row in &missing {
            let name = format!("v/{}.vxl", row.version);
            let bytes = match self.render(row) {
                Ok(bytes) => bytes,
                // An old version whose state browsers cannot be given has no browser
                // snapshot; the versions after it (and latest.vxl) still go out.
                Err(_) if row.version < latest.version => continue,
                Err(e) => return Err(e),
            };
            if matches!(self.backend, Backend::Directory(_)) && self.get(&name)?.is_some_and(|b| b == bytes) {
                continue;
            }
            self.put(&name, &bytes)?;
        }
        let newest = self.render(&latest)?;
        self.put("latest.vxl", &newest)?;
        self.put_freshness(&newest)?;
        tx.set_pushed(&self.environment, &self.config.name, latest.version)?;
        Ok(PushOutcome::Pushed { from, to: latest.version })
    }

    /// Re-issues the statement vouching for `newest` (what `latest.vxl` holds): on every
    /// push, so `vexil freshness` from cron keeps a quiet environment vouched for.
    fn put_freshness(&self, newest: &[u8]) -> Result<()> {
        let Some(signing) = &self.signing else { return Ok(()) };
        let snapshot = Snapshot::decode(newest, &[])
            .map_err(|e| Error::refused(format!("{}: the newest snapshot does not decode: {e}", self.describe())))?;
        // A version stored unsigned (before the project had a key) has nothing to vouch for.
        if snapshot.signer().is_none() {
            return Ok(());
        }
        let statement = signing.statement(&snapshot, crate::clock::now_ms()).map_err(|e| e.context(self.describe()))?;
        self.put(FRESHNESS, &statement)
    }

    /// A push killed half-way leaves temporary files in a directory target; nobody else
    /// writes them while we hold the target's lock.
    fn sweep_temporaries(&self) {
        let Backend::Directory(dir) = &self.backend else { return };
        for d in [dir.clone(), dir.join("v")] {
            for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
                let name = entry.file_name();
                if is_temporary(&name.to_string_lossy()) {
                    let _ = std::fs::remove_file(entry.path());
                }
            }
        }
    }
}

/// An object store error as a user can act on it: the request, the status and the store's
/// own code and message (`NoSuchBucket: Bucket not found`), or the connection failure —
/// not the client's layers of wrapping or an XML body.
fn object_error(e: &object_store::Error) -> String {
    let mut full = e.to_string();
    let mut source = std::error::Error::source(e);
    let mut innermost = None;
    while let Some(s) = source {
        let text = s.to_string();
        if !full.contains(&text) {
            full = format!("{full}: {text}");
        }
        innermost = Some(text);
        source = s.source();
    }
    let between = |start: &str, end: &str| -> Option<String> {
        let from = full.find(start)? + start.len();
        let to = full[from..].find(end)? + from;
        Some(full[from..to].trim().to_string())
    };
    let request = between("Error performing ", " in ");
    let status =
        between("status code: ", ":").or_else(|| full.split("status code: ").nth(1).map(|s| s.trim().to_string()));
    let mut parts: Vec<String> = request.into_iter().collect();
    match (status, between("<Code>", "</Code>"), between("<Message>", "</Message>")) {
        (Some(status), Some(code), Some(message)) => parts.push(format!("{status}: {code}: {message}")),
        (Some(status), Some(code), None) => parts.push(format!("{status}: {code}")),
        (Some(status), None, _) => parts.push(status),
        (None, ..) => match innermost {
            Some(cause) if parts.len() == 1 => parts.push(cause),
            _ => return full,
        },
    }
    parts.join(": ")
}
