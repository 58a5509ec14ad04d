//! A flags project: `vexil.toml`, the definitions, the state database, the signing key — and
//! the I/O shell around the planning layer. Every change, whichever entry point asks for it,
//! goes through [`Project::apply`]: refusals that need no state first, then each target is
//! checked, then one write transaction reads the state, asks [`crate::plan::plan`] for a
//! plan, encodes and signs its versions and stores them with their change records; then the
//! new versions are pushed.
//!
//! - [`init`]: `vexil init`;
//! - [`migrate`]: `vexil migrate`, SQLite to PostgreSQL;
//! - [`read`]: what the state says, as typed reports (a flag as GitLab's API shows it, the
//!   list, the log, each target's status).

mod init;
mod migrate;
mod read;
#[cfg(test)]
mod tests;
mod verify;

pub use init::init;
pub use migrate::Migrated;
pub use read::{FeatureList, StatusRow};
pub use verify::Verified;

use crate::config::{self, Config, PushTargetConfig};
use crate::definitions::{self, Definitions};
use crate::error::{Error, Result};
use crate::keys::{encode_key, load_key};
use crate::plan::{self, Inputs, Plan, Request, RollbackTo, SetOptions, SetRequest};
use crate::push::{PushOutcome, PushTarget};
use crate::store::{Change, Store, VersionRow, WriteTx};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;
use vexil_core::{encode, SigningKey, Snapshot};

/// Who makes a change, with which command, through which entry point, when.
#[derive(Clone, Debug)]
pub struct Origin {
    /// The author: a person, or the name of the token a request came with.
    pub author: String,
    /// The exact command (for the API, the request: method, path and parameters).
    pub command: String,
    /// The entry point.
    pub via: EntryPoint,
    /// When, in ms since the epoch.
    pub at: i64,
}

/// Which entry point made a change, as the change log records it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EntryPoint {
    /// The `vexil` command, on the state database itself.
    Cli,
    /// `vexil serve --api`: GitLab's Features API, and the remote CLI.
    Api,
    /// A chat slash command.
    Chat,
    /// A rollout plan's step.
    Rollout,
}

impl EntryPoint {
    /// Every entry point.
    pub const ALL: [EntryPoint; 4] = [EntryPoint::Cli, EntryPoint::Api, EntryPoint::Chat, EntryPoint::Rollout];

    /// The name the change log uses.
    pub const fn name(self) -> &'static str {
        match self {
            EntryPoint::Cli => "cli",
            EntryPoint::Api => "api",
            EntryPoint::Chat => "chat",
            EntryPoint::Rollout => "rollout",
        }
    }

    /// The entry point called `name`.
    pub fn from_name(name: &str) -> Option<EntryPoint> {
        EntryPoint::ALL.into_iter().find(|e| e.name() == name)
    }
}

impl Serialize for EntryPoint {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl<'de> serde::Deserialize<'de> for EntryPoint {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let name = String::deserialize(d)?;
        EntryPoint::from_name(&name).ok_or_else(|| serde::de::Error::custom(format!("unknown entry point {name:?}")))
    }
}

/// An open project.
pub struct Project {
    /// The configuration.
    pub config: Config,
    /// The definitions (check `problems` before publishing).
    pub definitions: Definitions,
    /// The definition files as they were when `definitions` was loaded.
    loaded: definitions::Fingerprint,
    store: Box<dyn Store + Send>,
    signing_key: Option<SigningKey>,
    /// What the last change did besides itself (a rollout it paused), for the person asking.
    notices: Vec<String>,
}

/// Work a caller does inside the transaction that commits a change: a rollout's step moves
/// the rollout exactly when the step commits.
pub trait Within {
    /// Before the plan is made: an error rolls everything back.
    fn before(&mut self, tx: &mut dyn WriteTx) -> Result<()>;
    /// After the plan's writes, with each environment's new version.
    fn after(&mut self, tx: &mut dyn WriteTx, committed: &[(String, u64)]) -> Result<()>;
}

/// The result of a change in one environment.
#[derive(Clone, Debug, Serialize, serde::Deserialize)]
pub struct Published {
    /// The environment.
    pub environment: String,
    /// The new version.
    pub version: u64,
    /// For a rollback: the version whose state it restored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restored: Option<u64>,
    /// What happened to each target.
    pub pushes: Vec<PushReport>,
}

impl Published {
    /// Whether a push failed (the target is behind until the next `vexil publish`).
    pub fn push_failed(&self) -> bool {
        self.pushes.iter().any(|r| matches!(r.result, PushResult::Failed { .. }))
    }
}

/// One target's push.
#[derive(Clone, Debug, Serialize, serde::Deserialize)]
pub struct PushReport {
    /// The target.
    pub target: String,
    /// Its outcome, or the error.
    #[serde(flatten)]
    pub result: PushResult,
}

/// A push's outcome, serialisable.
#[derive(Clone, Debug, Serialize, serde::Deserialize)]
#[serde(untagged)]
pub enum PushResult {
    /// Done.
    Ok(PushOutcome),
    /// Failed; the target is behind until the next `vexil publish`.
    Failed {
        /// Why.
        error: String,
    },
}

/// How long a writer waits for another before giving up (`VEXIL_LOCK_TIMEOUT`, seconds).
pub fn lock_timeout() -> Duration {
    std::env::var("VEXIL_LOCK_TIMEOUT")
        .ok()
        .and_then(|s| s.parse::<f64>().ok())
        .map_or(Duration::from_secs(30), Duration::from_secs_f64)
}

/// Finds the project containing `start`: the nearest directory upwards with a `vexil.toml`.
pub fn find_root(start: &Path) -> Option<PathBuf> {
    start.ancestors().find(|d| d.join(config::FILE).is_file()).map(Path::to_path_buf)
}

impl Project {
    /// Opens the project at `root`.
    pub fn open(root: &Path) -> Result<Project> {
        let config = Config::load(root)?;
        let loaded = definitions::Fingerprint::of(root, &config.definitions);
        let definitions = definitions::load(root, &config.definitions);
        let store = crate::store::open(&config.state, lock_timeout())?;
        let signing_key = match &config.signing_key {
            None => None,
            Some(path) => Some(load_key(path)?),
        };
        let mut project = Project::with_store(config, definitions, store, signing_key)?;
        project.loaded = loaded;
        Ok(project)
    }

    /// Reloads the definitions if their files changed since they were loaded: a server
    /// applying requests for hours sees the repository as it is now.
    pub fn refresh_definitions(&mut self) {
        let now = definitions::Fingerprint::of(&self.config.root, &self.config.definitions);
        if now != self.loaded {
            self.definitions = definitions::load(&self.config.root, &self.config.definitions);
            self.loaded = now;
        }
    }

    /// A project over `store`, whatever `config.state` says (an in-memory store in tests).
    pub fn with_store(
        config: Config,
        definitions: Definitions,
        store: Box<dyn Store + Send>,
        signing_key: Option<SigningKey>,
    ) -> Result<Project> {
        if let Some(key) = &signing_key {
            if !config.public_keys.is_empty() && !config.public_keys.contains(&key.public_key()) {
                return Err(Error::refused(format!(
                    "vexil.toml: [signing] public_keys does not list the public key of {} ({}); SDKs would refuse its snapshots",
                    config.signing_key.as_deref().unwrap_or(Path::new("?")).display(),
                    encode_key(&key.public_key())
                )));
            }
        }
        Ok(Project {
            config,
            definitions,
            loaded: definitions::Fingerprint::default(),
            store,
            signing_key,
            notices: Vec::new(),
        })
    }

    /// The store.
    pub fn store(&mut self) -> &mut dyn Store {
        self.store.as_mut()
    }

    /// The configuration and definitions, with the store: for work that writes while reading
    /// them.
    pub fn parts(&mut self) -> (&Config, &Definitions, &mut dyn Store) {
        (&self.config, &self.definitions, self.store.as_mut())
    }

    /// The key and the freshness lifetime, if snapshots are signed.
    pub fn signing(&self) -> Option<crate::freshness::Signing> {
        let key = self.signing_key.clone()?;
        Some(crate::freshness::Signing { key, freshness: self.config.freshness })
    }

    /// The key snapshots are signed with, if one is configured.
    pub fn signing_key(&self) -> Option<&SigningKey> {
        self.signing_key.as_ref()
    }

    /// Keys snapshots must be signed with (empty: signatures are not required).
    pub fn trusted_keys(&self) -> Vec<[u8; 32]> {
        let mut keys = self.config.public_keys.clone();
        if let Some(k) = &self.signing_key {
            if !keys.contains(&k.public_key()) {
                keys.push(k.public_key());
            }
        }
        keys
    }

    fn target_configs(&self, environment: &str) -> Vec<PushTargetConfig> {
        self.config.environments.iter().filter(|e| e.name == environment).flat_map(|e| e.targets.clone()).collect()
    }

    /// The targets of `environment`.
    pub fn targets(&self, environment: &str) -> Result<Vec<PushTarget>> {
        self.target_configs(environment).into_iter().map(|t| PushTarget::new(environment, t, self.signing())).collect()
    }

    /// The newest version of `environment` (0: none yet).
    pub fn version(&mut self, environment: &str) -> Result<u64> {
        Ok(self.store.latest(environment)?.map_or(0, |r| r.version))
    }

    /// The snapshot of `environment` at its newest version.
    pub fn latest_snapshot(&mut self, environment: &str) -> Result<Option<(VersionRow, Snapshot)>> {
        let Some(row) = self.store.latest(environment)? else { return Ok(None) };
        let snapshot = row.decode().map_err(|e| e.context(self.store.describe()))?;
        Ok(Some((row, snapshot)))
    }

    /// The persisted state of `environment` at its newest version.
    pub fn persisted(&mut self, environment: &str) -> Result<plan::Persisted> {
        Ok(self.latest_snapshot(environment)?.map(|(_, s)| plan::persisted_of(&s)).unwrap_or_default())
    }

    /// Checks that every target of `environments` can take a push and holds only what the
    /// database published.
    pub fn check_targets(&mut self, environments: &[String]) -> Result<()> {
        for env in environments {
            for t in self.targets(env)? {
                t.check(self.store.as_mut())?;
            }
        }
        Ok(())
    }

    /// Applies `request`: every environment it names changes, or none does; then pushes.
    /// This is the one path by which the CLI, the HTTP API, chat and rollouts change flags.
    pub fn apply(&mut self, request: &Request, origin: &Origin) -> Result<Vec<Published>> {
        self.apply_pushing(request, origin, false, None)
    }

    /// [`Project::apply`], with `within` done in the change's transaction.
    pub fn apply_within(
        &mut self,
        request: &Request,
        origin: &Origin,
        within: &mut dyn Within,
    ) -> Result<Vec<Published>> {
        self.apply_pushing(request, origin, false, Some(within))
    }

    /// What the last change did besides itself, taken.
    pub fn take_notices(&mut self) -> Vec<String> {
        std::mem::take(&mut self.notices)
    }

    fn apply_pushing(
        &mut self,
        request: &Request,
        origin: &Origin,
        repair: bool,
        within: Option<&mut dyn Within>,
    ) -> Result<Vec<Published>> {
        self.notices.clear();
        plan::precheck(request, &self.config, &self.definitions)?;
        if let Request::Rollback { environment, to } = request {
            // The version must exist before targets are touched or checked.
            let latest = self.store.latest(environment)?.map_or(0, |r| r.version);
            let version = plan::rollback_version(environment, *to, latest)?;
            if self.store.version(environment, version)?.is_none() {
                return Err(plan::no_such_version(environment, version, latest));
            }
        }
        let written = plan::environments_written(request, &self.config)?;
        // Before the targets are compared with the database: a target that differs from an
        // overwritten head is the database's fault, and `--repair` would spread it.
        let keys = self.trusted_keys();
        self.store.write(&mut |tx| verify::check_heads(tx, &written, &keys))?;
        if !repair {
            self.check_targets(&written)?;
        }
        if let Some(check) = plan::production_check(request, &self.config)? {
            run_production_check(check, &self.config.root)?;
        }
        let (committed, restored) = self.commit(request, origin, within)?;
        let mut out = Vec::new();
        for env in written {
            let version = committed.iter().find(|(e, _)| *e == env).map(|(_, v)| *v);
            // A publish that changed nothing in an environment still brings its targets up.
            if version.is_none() && !matches!(request, Request::Publish { .. }) {
                continue;
            }
            let pushes = self.push(&env, repair);
            let version = match version {
                Some(v) => v,
                None => self.store.latest(&env)?.map_or(0, |r| r.version),
            };
            out.push(Published { environment: env, version, restored, pushes });
        }
        Ok(out)
    }

    /// One transaction: the state read, the plan made and every version it holds encoded,
    /// signed and stored with its change records. Nothing is written unless all succeed.
    fn commit(&mut self, request: &Request, origin: &Origin, mut within: Option<&mut dyn Within>) -> Result<Committed> {
        let keys = self.trusted_keys();
        let Project { config, definitions, store, signing_key, notices, .. } = self;
        let mut committed = Vec::new();
        let mut restored = None;
        store.write(&mut |tx| {
            notices.clear();
            if let Some(w) = within.as_deref_mut() {
                w.before(tx)?;
            }
            // What the change follows and builds on must be what vexil wrote.
            verify::check_tail(tx)?;
            let heads = read_heads(tx, config, &keys)?;
            let rollback_source = match request {
                Request::Rollback { environment, to } => {
                    let latest = heads.get(environment).map_or(0, Snapshot::version);
                    let version = plan::rollback_version(environment, *to, latest)?;
                    restored = Some(version);
                    match tx.version(environment, version)? {
                        Some(row) => {
                            verify::check_version(tx, &row, &keys)?;
                            Some(row.decode()?)
                        }
                        None => None,
                    }
                }
                _ => None,
            };
            let inputs = Inputs {
                config,
                definitions,
                heads: &heads,
                signer: signing_key.as_ref().map(SigningKey::public_key),
                rollback_source: rollback_source.as_ref(),
                published_at: origin.at,
            };
            if let Request::Cleanup { flag, force } = request {
                notices.extend(crate::rollout::end_for_cleanup(tx, flag, *force, origin, config, definitions)?);
            }
            let plan = plan::plan(request, &inputs)?;
            let announce = Announce { request, restored, definitions, sinks: &config.sinks };
            committed = store_plan(tx, plan, signing_key.as_ref(), origin, &announce)?;
            if let Some(w) = within.as_deref_mut() {
                w.after(tx, &committed)?;
            }
            let flag = crate::notify::event::flag_of(request);
            let by_hand = origin.via != EntryPoint::Rollout && !matches!(request, Request::Cleanup { .. });
            if let (Some(flag), true) = (flag, by_hand && !committed.is_empty()) {
                // A person changing the flag by hand takes it over from its rollout.
                notices.extend(crate::rollout::pause_for_manual_change(tx, flag, origin, config, definitions)?);
            }
            Ok(())
        })?;
        Ok((committed, restored))
    }

    /// Pushes `environment` to each of its targets; failures leave a target behind (as
    /// `vexil status` reports) until the next `vexil publish`.
    pub fn push(&mut self, environment: &str, repair: bool) -> Vec<PushReport> {
        self.target_configs(environment)
            .into_iter()
            .map(|c| PushReport {
                target: c.name.clone(),
                result: match PushTarget::new(environment, c, self.signing())
                    .and_then(|t| t.push(self.store.as_mut(), repair))
                {
                    Ok(o) => PushResult::Ok(o),
                    Err(e) => PushResult::Failed { error: e.to_string() },
                },
            })
            .collect()
    }

    /// `feature set`: applies `set` to each of `environments` (chatops order), atomically.
    pub fn feature_set(
        &mut self,
        set: &SetRequest,
        environments: &[String],
        options: &SetOptions,
        origin: &Origin,
    ) -> Result<Vec<Published>> {
        let request = Request::Set { set: set.clone(), environments: environments.to_vec(), options: options.clone() };
        self.apply(&request, origin)
    }

    /// `feature delete`: un-persists the flag in each environment (its YAML default applies
    /// again). Idempotent, as GitLab's `DELETE /features/:name`.
    pub fn feature_delete(&mut self, flag: &str, environments: &[String], origin: &Origin) -> Result<Vec<Published>> {
        self.apply(&Request::Delete { flag: flag.to_string(), environments: environments.to_vec() }, origin)
    }

    /// `vexil publish`: merges the current definitions, groups and signing key into every
    /// environment (or those named), publishing a version only where the result differs;
    /// then brings every target up to date (with `repair`, rewriting what they hold).
    pub fn publish(&mut self, environments: &[String], origin: &Origin, repair: bool) -> Result<Vec<Published>> {
        self.apply_pushing(&Request::Publish { environments: environments.to_vec() }, origin, repair, None)
    }

    /// `vexil rollback`: publishes a new version of `environment` whose persisted state
    /// equals that of an earlier one. History is never rewritten.
    pub fn rollback(&mut self, environment: &str, to: RollbackTo, origin: &Origin) -> Result<Published> {
        let request = Request::Rollback { environment: environment.to_string(), to };
        self.apply(&request, origin)?
            .pop()
            .ok_or_else(|| Error::io(format!("rollback of {environment} committed no version")))
    }
}

/// What a commit wrote: each environment's new version, and for a rollback the version whose
/// state it restored.
type Committed = (Vec<(String, u64)>, Option<u64>);

/// Every environment's newest snapshot, as of the transaction, each verified first: a change
/// re-signs what its heads hold.
fn read_heads(tx: &mut dyn WriteTx, config: &Config, keys: &[[u8; 32]]) -> Result<BTreeMap<String, Snapshot>> {
    let mut heads = BTreeMap::new();
    for env in &config.environments {
        if let Some(row) = tx.latest(&env.name)? {
            verify::check_version(tx, &row, keys)?;
            heads.insert(env.name.clone(), row.decode()?);
        }
    }
    Ok(heads)
}

/// Encodes, signs and stores a plan's versions and change records, and its announcement for
/// every sink that wants it: all in the transaction, so an announcement exists exactly when
/// its change does.
fn store_plan(
    tx: &mut dyn WriteTx,
    plan: Plan,
    key: Option<&SigningKey>,
    origin: &Origin,
    announce: &Announce<'_>,
) -> Result<Vec<(String, u64)>> {
    let mut committed = Vec::new();
    for planned in &plan.versions {
        let env = planned.environment();
        let refused = |e: vexil_core::EncodeError| Error::refused(format!("environment {env}: {e}"));
        tx.insert_version(&VersionRow {
            environment: env.to_string(),
            version: planned.version(),
            published_at: origin.at,
            author: origin.author.clone(),
            snapshot: encode(&planned.server, key).map_err(refused)?,
            browser_snapshot: Some(encode(&planned.browser, key).map_err(refused)?),
        })?;
        committed.push((env.to_string(), planned.version()));
    }
    let mut records = Vec::new();
    for record in plan.changes {
        let version = committed.iter().find(|(e, _)| *e == record.environment).map_or(0, |(_, v)| *v);
        tx.insert_change(&Change::new(record.clone(), version, origin))?;
        records.push((record, version));
    }
    if !announce.sinks.is_empty() && !committed.is_empty() {
        let event = crate::notify::Event::new(
            crate::notify::event_id()?,
            announce.request,
            announce.restored,
            &records,
            &committed,
            origin,
            announce.definitions,
        );
        for row in crate::notify::outbox_rows(&event, announce.sinks)? {
            tx.insert_outbox(&row)?;
        }
    }
    Ok(committed)
}

/// What an announcement of a commit is made from besides the plan.
struct Announce<'a> {
    request: &'a Request,
    restored: Option<u64>,
    definitions: &'a Definitions,
    sinks: &'a [crate::config::Sink],
}

fn run_production_check(command: &str, root: &Path) -> Result<()> {
    let status = std::process::Command::new("sh")
        .arg("-c")
        .arg(command)
        .current_dir(root)
        .status()
        .map_err(|e| Error::io(format!("production check `{command}`: {e}")))?;
    if !status.success() {
        return Err(Error::refused(format!(
            "Unable to proceed due to production check failure (`{command}` exited with {status}). If you absolutely must change the state of this feature flag, confirm with the on-call and use --ignore-production-check."
        )));
    }
    Ok(())
}
