//! `vexil.toml`: environments (in chatops order) and their push targets, the state
//! database, feature groups, definition roots, signing keys, and `vexil serve`'s settings.
//!
//! - this module: the validated configuration every other module reads;
//! - [`parse`]: the file's TOML, validated field by field with the field named in errors;
//! - [`edit`]: the changes vexil makes to the file itself, atomically, keeping its comments;
//! - [`template`]: the file `vexil init` writes.

mod chat;
mod edit;
mod housekeeping;
mod notify;
mod parse;
mod rollouts;
mod secrets;
mod targets;
mod template;

pub use chat::ChatConfig;
pub use housekeeping::{HousekeepingRules, RefsConfig};
pub use notify::{Sink, SinkKind, Url};
pub use rollouts::RolloutRules;

pub use edit::{set_state, trust_signing_key};
pub use parse::parse_state;
pub use template::{template, GITLAB_ENVIRONMENTS};

use crate::error::{Error, Result};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use vexil_core::{AudienceKind, Expr};

/// The file name vexil looks for.
pub const FILE: &str = "vexil.toml";

/// Where an environment's snapshots are pushed (`[[environment.target]]`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PushTargetConfig {
    /// A name to refer to it by (`local` unless given).
    pub name: String,
    /// The kind of target.
    pub kind: PushTargetKind,
    /// Who reads what it holds: servers get full snapshots, browsers client-side flags only.
    pub audience: AudienceKind,
}

/// Target kinds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PushTargetKind {
    /// A local directory, servable by any static server or CDN origin.
    Directory {
        /// Absolute path.
        path: PathBuf,
    },
    /// S3-compatible object storage (AWS S3, Cloudflare R2, GCS, MinIO, Garage).
    S3(S3Target),
    /// An HTTP origin that takes PUT (WebDAV: nginx's dav module, Apache's mod_dav, …).
    Http {
        /// The environment's base URL; objects go to `<url>/latest.vxl` and `<url>/v/`.
        url: String,
        /// Seconds `latest.vxl` may be cached.
        latest_max_age: u32,
    },
}

/// An S3-compatible target. Credentials not given here come from the usual AWS
/// environment variables (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_REGION`,
/// `AWS_ENDPOINT`, …).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct S3Target {
    /// The bucket.
    pub bucket: String,
    /// A key prefix for this environment (`production`: `production/latest.vxl`).
    pub prefix: String,
    /// The endpoint, for stores other than AWS (`http://127.0.0.1:3900`).
    pub endpoint: Option<String>,
    /// The region.
    pub region: Option<String>,
    /// Access key id (else from the environment).
    pub access_key_id: Option<String>,
    /// A file outside the project holding the secret access key (else from the
    /// environment); the key itself is never taken from vexil.toml.
    pub secret_access_key_file: Option<PathBuf>,
    /// Seconds `latest.vxl` may be cached.
    pub latest_max_age: u32,
}

/// How long `latest.vxl` may be cached by default: a CDN serves it for seconds, so an edge
/// sees a change within this bound.
pub const DEFAULT_LATEST_MAX_AGE: u32 = 5;

/// One environment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EnvironmentConfig {
    /// Its name, also its `feature set` switch (`--staging-ref`).
    pub name: String,
    /// Push targets.
    pub targets: Vec<PushTargetConfig>,
}

/// The chatops rules that GitLab's Features API itself does not enforce, applied by vexil's
/// (`[api]` in vexil.toml; both on by default, each overridable per request with the same
/// parameter chatops uses: `ignore_feature_flag_consistency_check`,
/// `ignore_random_deprecation_check`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ApiRules {
    /// The staging/production consistency check.
    pub consistency_check: bool,
    /// Percentage of time refused unless asked for explicitly.
    pub random_deprecation_check: bool,
}

/// What `vexil serve` serves without the token (`[serve] public`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ServePublic {
    /// Full and browser snapshots and their streams (`"all"`).
    #[default]
    All,
    /// Browser snapshots and their streams only (`"browser"`): full snapshots, which name
    /// every flag and actor, need the token, as for edge workers and servers holding it.
    Browser,
}

/// Where state lives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StateConfig {
    /// An SQLite file.
    Sqlite(PathBuf),
    /// A PostgreSQL database (`postgres://user@host:port/db`).
    Postgres(String),
}

/// A loaded, validated `vexil.toml`.
#[derive(Clone, Debug)]
pub struct Config {
    /// The project directory (where `vexil.toml` is).
    pub root: PathBuf,
    /// Definition roots, relative to `root`.
    pub definitions: Vec<PathBuf>,
    /// The state database.
    pub state: StateConfig,
    /// Environments, in the order multi-environment commands apply them.
    pub environments: Vec<EnvironmentConfig>,
    /// The environment commands use when none is named.
    pub default_environment: String,
    /// The environments playing "staging" and "production" in the consistency check.
    pub staging: Option<String>,
    /// See `staging`.
    pub production: Option<String>,
    /// Feature groups: Flipper expressions over an actor's properties.
    pub groups: BTreeMap<String, Expr>,
    /// The signing key file, if snapshots are signed.
    pub signing_key: Option<PathBuf>,
    /// Public keys snapshots may be signed with (several while rotating).
    pub public_keys: Vec<[u8; 32]>,
    /// How long a freshness statement vouches for the newest snapshot (`[signing] freshness`).
    pub freshness: std::time::Duration,
    /// A command that must succeed before production changes.
    pub production_check: Option<String>,
    /// The file holding the token `vexil serve` asks of dashboard readers, outside the
    /// project (`VEXIL_SERVE_TOKEN` overrides).
    pub serve_token_file: Option<PathBuf>,
    /// What `vexil serve` gives anyone: every snapshot, or browser snapshots only.
    pub serve_public: ServePublic,
    /// Whether `vexil serve` offers the write API without `--api` (`[serve] api = true`).
    pub serve_api: bool,
    /// The chatops rules the write API applies, which GitLab's own API does not (`[api]`).
    pub api_rules: ApiRules,
    /// Where every committed change is announced (`[[notify]]`).
    pub sinks: Vec<Sink>,
    /// Chat's users and production channel (`[chat]`).
    pub chat: ChatConfig,
    /// Rollout plans' rules (`[rollouts]`).
    pub rollouts: RolloutRules,
    /// When `vexil stale` says a flag should go (`[housekeeping]`).
    pub housekeeping: HousekeepingRules,
    /// Where and how `vexil refs` finds flags in code (`[refs]`).
    pub refs: RefsConfig,
    /// Flags browsers may see besides those whose definition says `client_side: true`:
    /// names, or patterns where `*` stands for any run of characters (`checkout_*`).
    pub client_side: Vec<String>,
}

impl Config {
    /// Loads `<root>/vexil.toml`.
    pub fn load(root: &Path) -> Result<Config> {
        let path = root.join(FILE);
        let text =
            std::fs::read_to_string(&path).map_err(|e| Error::io(format!("cannot read {}: {e}", path.display())))?;
        Config::parse(root, &text).map_err(|e| e.context(path.display()))
    }

    /// Parses the text of a `vexil.toml` whose project is `root`.
    pub fn parse(root: &Path, text: &str) -> Result<Config> {
        parse::parse(root, text)
    }

    /// Whether vexil.toml's `client_side` list names `flag`, or has a pattern matching it.
    pub fn lists_client_side(&self, flag: &str) -> bool {
        self.client_side.iter().any(|p| glob_matches(p, flag))
    }

    /// The environment called `name`.
    pub fn environment(&self, name: &str) -> Result<&EnvironmentConfig> {
        self.environments.iter().find(|e| e.name == name).ok_or_else(|| {
            let names: Vec<&str> = self.environments.iter().map(|e| e.name.as_str()).collect();
            Error::refused(format!("unknown environment {name:?} (defined: {})", names.join(", ")))
        })
    }

    /// Names of all environments, in order.
    pub fn environment_names(&self) -> Vec<&str> {
        self.environments.iter().map(|e| e.name.as_str()).collect()
    }
}

/// `*` matches any run of characters; everything else matches itself.
pub fn glob_matches(pattern: &str, name: &str) -> bool {
    let mut parts = pattern.split('*');
    let first = parts.next().unwrap_or_default();
    let Some(mut rest) = name.strip_prefix(first) else { return false };
    let parts: Vec<&str> = parts.collect();
    let Some((last, middle)) = parts.split_last() else { return rest.is_empty() };
    for part in middle {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}
