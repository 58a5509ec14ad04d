//! A flags project: `vexil.toml`, the definitions, the state database, the signing key, and
//! everything that changes state — each command validated completely, then committed in one
//! transaction, then pushed.

use crate::chatops::{self, FlagState, SetRequest};
use crate::config::{self, Config, StateConfig};
use crate::definitions::{self, Definitions};
use crate::error::{Context, Error, Result};
use crate::store::{redact, Change, LogFilter, PostgresStore, Store, VersionRow};
use crate::target::{PushOutcome, Target, TargetState};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;
use vexil_core::{encode, Environment, Flag, FlagType, Gates, SigningKey, Snapshot};

/// Who makes a change, with which command, when.
#[derive(Clone, Debug)]
pub struct Origin {
    /// The author.
    pub author: String,
    /// The exact command.
    pub command: String,
    /// When, in ms since the epoch.
    pub at: i64,
}

/// Persisted state of one environment: flag name → state, for persisted flags only.
pub type Persisted = BTreeMap<String, FlagState>;

/// A change to plan inside a commit: edits every environment's persisted state and returns
/// the environments it touched and their change-log entries.
type Plan<'a> = dyn FnMut(&mut BTreeMap<String, Persisted>) -> Result<(BTreeSet<String>, Vec<Change>)> + 'a;

/// An environment's newest state and the key it was signed with, if any.
type LatestState = Option<(Environment, Option<[u8; 32]>)>;

/// An open project.
pub struct Project {
    /// The configuration.
    pub config: Config,
    /// The definitions (check `problems` before publishing).
    pub definitions: Definitions,
    store: Box<dyn Store>,
    signing_key: Option<SigningKey>,
}

/// The result of a command in one environment.
#[derive(Clone, Debug, Serialize)]
pub struct Published {
    /// The environment.
    pub environment: String,
    /// The new version.
    pub version: u64,
    /// What happened to each target.
    pub pushes: Vec<PushReport>,
}

/// One target's push.
#[derive(Clone, Debug, Serialize)]
pub struct PushReport {
    /// The target.
    pub target: String,
    /// Its outcome, or the error.
    #[serde(flatten)]
    pub result: PushResult,
}

/// A push's outcome, serialisable.
#[derive(Clone, Debug, Serialize)]
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

/// One row of `vexil status`.
#[derive(Clone, Debug, Serialize)]
pub struct StatusRow {
    /// The environment.
    pub environment: String,
    /// The target.
    pub target: String,
    /// Who reads it.
    pub audience: crate::audience::Audience,
    /// The database's newest version (0: none).
    pub database: u64,
    /// The target's version (0: empty), if it could be read.
    pub target_version: Option<u64>,
    /// The version last pushed there, by the database's record (0: none).
    pub last_pushed: u64,
    /// Whether the target is behind or unreadable.
    pub behind: bool,
    /// Why it could not be read.
    pub error: Option<String>,
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

/// Creates a project in `dir`: `vexil.toml`, one example definition, the state database
/// (`state`, else SQLite in `.vexil/`) with version 1 of every environment, and the target
/// directories.
pub fn init(dir: &Path, state: Option<&str>, origin: &Origin) -> Result<Project> {
    if dir.join(config::FILE).exists() {
        return Err(Error::refused(format!("{} already exists", dir.join(config::FILE).display())));
    }
    if let Some(state) = state {
        refuse_password_in_url("--state", state)?;
        // Reach the database before writing a file, so a wrong URL leaves nothing behind.
        if let StateConfig::Postgres(url) = config::parse_state(dir, state).map_err(|e| e.context("--state"))? {
            let mut store = PostgresStore::open(&url, lock_timeout())?;
            let held = store.all_versions()?.len();
            if held > 0 {
                return Err(Error::refused(format!(
                    "{} already holds {held} versions of another project; clone that project's repository instead of running init",
                    store.describe()
                )));
            }
        }
    }
    std::fs::create_dir_all(dir).context(format!("cannot create {}", dir.display()))?;
    let example = dir.join("config/feature_flags/beta/new_navigation_bar.yml");
    std::fs::create_dir_all(example.parent().unwrap_or(dir)).context("cannot create config/feature_flags")?;
    std::fs::write(&example, definitions::template("new_navigation_bar", FlagType::Beta, "group::navigation"))
        .context(format!("cannot write {}", example.display()))?;
    std::fs::write(dir.join(config::FILE), config::template()).context("cannot write vexil.toml")?;
    if let Some(state) = state {
        config::set_state(dir, state)?;
    }
    std::fs::write(dir.join(".gitignore"), ".vexil/\n").context("cannot write .gitignore")?;
    let mut project = Project::open(dir)?;
    for env in &project.config.environments {
        for t in &env.targets {
            if let config::TargetKind::Directory { path } = &t.kind {
                std::fs::create_dir_all(path).context(format!("cannot create {}", path.display()))?;
            }
        }
    }
    project.publish(&[], origin, false)?;
    Ok(project)
}

impl Project {
    /// Opens the project at `root`.
    pub fn open(root: &Path) -> Result<Project> {
        let config = Config::load(root)?;
        let definitions = definitions::load(root, &config.definitions);
        let store: Box<dyn Store> = crate::store::open(&config.state, lock_timeout())?;
        let signing_key = match &config.signing_key {
            None => None,
            Some(path) => Some(load_key(path)?),
        };
        if let Some(key) = &signing_key {
            if !config.public_keys.is_empty() && !config.public_keys.contains(&key.public_key()) {
                return Err(Error::refused(format!(
                    "vexil.toml: [signing] public_keys does not list the public key of {} ({}); SDKs would refuse its snapshots",
                    config.signing_key.as_deref().unwrap_or(Path::new("?")).display(),
                    config::encode_key(&key.public_key())
                )));
            }
        }
        Ok(Project { config, definitions, store, signing_key })
    }

    /// The store.
    pub fn store(&mut self) -> &mut dyn Store {
        self.store.as_mut()
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

    /// The targets of `environment`.
    pub fn targets(&self, environment: &str) -> Result<Vec<Target>> {
        self.config
            .environments
            .iter()
            .filter(|e| e.name == environment)
            .flat_map(|e| e.targets.iter().map(|t| Target::new(&e.name, t.clone(), self.signing_key.clone())))
            .collect()
    }

    fn require_clean_definitions(&self) -> Result<()> {
        if self.definitions.has_errors() {
            let first: Vec<String> = self
                .definitions
                .problems
                .iter()
                .filter(|p| p.severity == definitions::Severity::Error)
                .take(3)
                .map(|p| p.to_string())
                .collect();
            return Err(Error::refused(format!(
                "flag definitions have errors; fix them first (vexil lint lists them all):\n  {}",
                first.join("\n  ")
            )));
        }
        Ok(())
    }

    /// The persisted state of `environment` at its newest version.
    pub fn persisted(&mut self, environment: &str) -> Result<Persisted> {
        let row = self.store.latest(environment)?;
        persisted_from(row.as_ref())
    }

    /// The snapshot of `environment` at its newest version.
    pub fn latest_snapshot(&mut self, environment: &str) -> Result<Option<(VersionRow, Snapshot)>> {
        let Some(row) = self.store.latest(environment)? else { return Ok(None) };
        let snapshot = row.decode().map_err(|e| e.context(self.store.describe()))?;
        Ok(Some((row, snapshot)))
    }

    /// The full state of `environment` as `state` of persisted gates would publish it.
    pub fn compose(&self, environment: &str, version: u64, published_at: i64, state: &Persisted) -> Environment {
        compose(&self.config, &self.definitions, environment, version, published_at, state)
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

    /// Commits a change: `plan` edits the persisted states of every environment (all are
    /// loaded inside the transaction, so checks may look across them) and returns the
    /// environments it touched and the change-log entries; each touched environment gets a
    /// new version. Nothing is written unless `plan` succeeds.
    fn commit(&mut self, origin: &Origin, plan: &mut Plan<'_>) -> Result<Vec<(String, u64)>> {
        let Project { config, definitions, store, signing_key } = self;
        let mut committed = Vec::new();
        store.write(&mut |tx| {
            committed.clear();
            let mut states = BTreeMap::new();
            let mut latest = BTreeMap::new();
            for env in &config.environments {
                let row = tx.latest(&env.name)?;
                states.insert(env.name.clone(), persisted_from(row.as_ref())?);
                latest.insert(env.name.clone(), row.map_or(0, |r| r.version));
            }
            let (touched, changes) = plan(&mut states)?;
            for env in config.environments.iter().map(|e| &e.name).filter(|e| touched.contains(*e)) {
                let version = latest[env] + 1;
                let composed = compose(config, definitions, env, version, origin.at, &states[env]);
                let bytes = encode(&composed, signing_key.as_ref())
                    .map_err(|e| Error::refused(format!("environment {env}: {e}")))?;
                // Every version gets its browser snapshot, whether or not a target wants one
                // yet: a state browsers cannot be given is refused here, changing nothing.
                let browser = crate::audience::browser_environment(&composed)?;
                let browser_snapshot = encode(&browser, signing_key.as_ref())
                    .map_err(|e| Error::refused(format!("environment {env}: {e}")))?;
                tx.insert_version(&VersionRow {
                    environment: env.clone(),
                    version,
                    published_at: origin.at,
                    author: origin.author.clone(),
                    snapshot: bytes,
                    browser_snapshot: Some(browser_snapshot),
                })?;
                for c in changes.iter().filter(|c| &c.environment == env) {
                    tx.insert_change(&Change { version, ..c.clone() })?;
                }
                committed.push((env.clone(), version));
            }
            Ok(())
        })?;
        Ok(committed)
    }

    /// Pushes `environment` to each of its targets; failures leave a target behind (as
    /// `vexil status` reports) until the next `vexil publish`.
    pub fn push(&mut self, environment: &str, repair: bool) -> Vec<PushReport> {
        let configs: Vec<config::TargetConfig> =
            self.config.environments.iter().filter(|e| e.name == environment).flat_map(|e| e.targets.clone()).collect();
        configs
            .into_iter()
            .map(|c| PushReport {
                target: c.name.clone(),
                result: match Target::new(environment, c, self.signing_key.clone())
                    .and_then(|t| t.push(self.store.as_mut(), repair))
                {
                    Ok(o) => PushResult::Ok(o),
                    Err(e) => PushResult::Failed { error: e.to_string() },
                },
            })
            .collect()
    }

    fn push_all(&mut self, committed: Vec<(String, u64)>) -> Vec<Published> {
        committed
            .into_iter()
            .map(|(environment, version)| {
                let pushes = self.push(&environment, false);
                Published { environment, version, pushes }
            })
            .collect()
    }

    /// The environments a command names, in the order chatops applies them; the default
    /// environment when it names none.
    pub fn resolve_environments(&self, named: &[String]) -> Result<Vec<String>> {
        for n in named {
            self.config.environment(n)?;
        }
        if named.is_empty() {
            return Ok(vec![self.config.default_environment.clone()]);
        }
        Ok(self.config.environments.iter().filter(|e| named.contains(&e.name)).map(|e| e.name.clone()).collect())
    }

    /// Refuses a flag that has no definition, with a suggestion, unless `force`.
    fn require_definition(&self, flag: &str, force: bool) -> Result<()> {
        if force || self.definitions.by_name.contains_key(flag) {
            return Ok(());
        }
        let suggestions = self.definitions.suggest(flag);
        let hint = match suggestions.as_slice() {
            [] => String::new(),
            s => format!(" Did you mean {}?", s.iter().map(|x| format!("`{x}`")).collect::<Vec<_>>().join(" or ")),
        };
        Err(Error::refused(format!(
            "The feature flag `{flag}` has no definition in {}.{hint} Add config/feature_flags/<type>/{flag}.yml, or pass --force to set it anyway.",
            self.config.definitions.iter().map(|d| d.display().to_string()).collect::<Vec<_>>().join(", ")
        )))
    }

    /// `feature set`: applies `req` to each of `environments` (chatops order), atomically.
    pub fn feature_set(
        &mut self,
        req: &SetRequest,
        environments: &[String],
        options: &SetOptions,
        origin: &Origin,
    ) -> Result<Vec<Published>> {
        self.require_clean_definitions()?;
        self.require_definition(&req.flag, options.force)?;
        for t in &req.targets {
            if let chatops::Target::FeatureGroup(g) = t {
                if !self.config.groups.contains_key(g) {
                    let known: Vec<&str> = self.config.groups.keys().map(String::as_str).collect();
                    return Err(Error::refused(format!(
                        "unknown feature group `{g}` (vexil.toml defines: {})",
                        if known.is_empty() { "none".to_string() } else { known.join(", ") }
                    )));
                }
            }
        }
        self.check_targets(environments)?;
        let production = self.config.production.clone();
        if let (Some(prod), Some(check)) = (&production, &self.config.production_check) {
            if environments.contains(prod) && !options.ignore_production_check {
                run_production_check(check, &self.config.root)?;
            }
        }
        let staging = self.config.staging.clone();
        let action = chatops::action_name(req);
        let envs = environments.to_vec();
        let ignore_consistency = options.ignore_consistency_check;
        let committed = self.commit(origin, &mut |states| {
            let mut changes = Vec::new();
            for env in &envs {
                let current = states[env].get(&req.flag).cloned().unwrap_or_default();
                if !ignore_consistency {
                    consistency_check(req, env, staging.as_deref(), production.as_deref(), states)?;
                }
                let next = chatops::apply(req, &current).map_err(|e| e.context(format!("environment {env}")))?;
                changes.push(Change {
                    id: 0,
                    environment: env.clone(),
                    version: 0,
                    flag: Some(req.flag.clone()),
                    action: action.into(),
                    command: origin.command.clone(),
                    author: origin.author.clone(),
                    at: origin.at,
                    before: gates_json(Some(&current)),
                    after: gates_json(Some(&next)),
                });
                states.get_mut(env).expect("every environment is loaded").insert(req.flag.clone(), next);
            }
            Ok((envs.iter().cloned().collect(), changes))
        })?;
        Ok(self.push_all(committed))
    }

    /// `feature delete`: un-persists the flag in each environment (its YAML default applies
    /// again). Idempotent, as GitLab's `DELETE /features/:name`.
    pub fn feature_delete(&mut self, flag: &str, environments: &[String], origin: &Origin) -> Result<Vec<Published>> {
        self.require_clean_definitions()?;
        self.check_targets(environments)?;
        let envs = environments.to_vec();
        let committed = self.commit(origin, &mut |states| {
            let mut changes = Vec::new();
            for env in &envs {
                let before = states[env].get(flag).cloned();
                states.get_mut(env).expect("every environment is loaded").remove(flag);
                changes.push(Change {
                    id: 0,
                    environment: env.clone(),
                    version: 0,
                    flag: Some(flag.to_string()),
                    action: "remove".into(),
                    command: origin.command.clone(),
                    author: origin.author.clone(),
                    at: origin.at,
                    before: gates_json(before.as_ref()),
                    after: serde_json::Value::Null,
                });
            }
            Ok((envs.iter().cloned().collect(), changes))
        })?;
        Ok(self.push_all(committed))
    }

    /// `vexil publish`: merges the current definitions, groups and signing key into every
    /// environment (or those named), publishing a version only where the result differs;
    /// then brings every target up to date.
    pub fn publish(&mut self, environments: &[String], origin: &Origin, repair: bool) -> Result<Vec<Published>> {
        self.require_clean_definitions()?;
        let envs: Vec<String> = if environments.is_empty() {
            self.config.environments.iter().map(|e| e.name.clone()).collect()
        } else {
            self.resolve_environments(environments)?
        };
        if !repair {
            self.check_targets(&envs)?;
        }
        let key = self.signing_key.as_ref().map(SigningKey::public_key);
        let mut latest_envs: BTreeMap<String, LatestState> = BTreeMap::new();
        for env in &envs {
            latest_envs.insert(
                env.clone(),
                self.latest_snapshot(env)?.map(|(_, s)| (s.to_environment(), s.signer().copied())),
            );
        }
        let (config, definitions) = (self.config.clone(), self.definitions.clone());
        let committed = self.commit(origin, &mut |states| {
            let mut touched = BTreeSet::new();
            let mut changes = Vec::new();
            for env in &envs {
                let composed = compose(&config, &definitions, env, 0, 0, &states[env]);
                let (reason, flags): (&str, Vec<Option<String>>) = match &latest_envs[env] {
                    None => ("publish", vec![None]),
                    Some((previous, signer)) => {
                        let mut previous = previous.clone();
                        previous.version = 0;
                        previous.published_at = 0;
                        if previous == composed && *signer == key {
                            continue;
                        }
                        let mut flags: Vec<Option<String>> = composed
                            .flags
                            .keys()
                            .chain(previous.flags.keys())
                            .collect::<BTreeSet<_>>()
                            .into_iter()
                            .filter(|f| composed.flags.get(*f) != previous.flags.get(*f))
                            .map(|f| Some(f.clone()))
                            .collect();
                        if previous.groups != composed.groups || *signer != key || flags.is_empty() {
                            flags.push(None);
                        }
                        ("definition", flags)
                    }
                };
                touched.insert(env.clone());
                for flag in flags {
                    let describe = |f: Option<&Flag>| match f {
                        None => serde_json::Value::Null,
                        Some(f) => serde_json::json!({
                            "type": f.flag_type.name(),
                            "default_enabled": f.default_enabled,
                            "client_side": f.client_side,
                        }),
                    };
                    let (before, after) = match (&flag, &latest_envs[env]) {
                        (Some(f), Some((prev, _))) => (describe(prev.flags.get(f)), describe(composed.flags.get(f))),
                        _ => (serde_json::Value::Null, serde_json::Value::Null),
                    };
                    changes.push(Change {
                        id: 0,
                        environment: env.clone(),
                        version: 0,
                        flag,
                        action: reason.into(),
                        command: origin.command.clone(),
                        author: origin.author.clone(),
                        at: origin.at,
                        before,
                        after,
                    });
                }
            }
            Ok((touched, changes))
        })?;
        let mut out: Vec<Published> = Vec::new();
        for env in envs {
            let version = committed.iter().find(|(e, _)| *e == env).map(|(_, v)| *v);
            let pushes = self.push(&env, repair);
            let version = match version {
                Some(v) => v,
                None => self.store.latest(&env)?.map_or(0, |r| r.version),
            };
            out.push(Published { environment: env, version, pushes });
        }
        Ok(out)
    }

    /// `vexil rollback`: publishes a new version of `environment` whose persisted state
    /// equals that of version `to`. History is never rewritten.
    pub fn rollback(&mut self, environment: &str, to: u64, origin: &Origin) -> Result<Published> {
        self.require_clean_definitions()?;
        self.config.environment(environment)?;
        let Some(row) = self.store.version(environment, to)? else {
            let latest = self.store.latest(environment)?.map_or(0, |r| r.version);
            return Err(Error::refused(format!(
                "environment {environment} has no version {to} (versions 1 to {latest})"
            )));
        };
        let target_state = persisted_from(Some(&row))?;
        self.check_targets(&[environment.to_string()])?;
        let env = environment.to_string();
        let committed = self.commit(origin, &mut |states| {
            let current = states[&env].clone();
            let mut changes = Vec::new();
            for flag in current.keys().chain(target_state.keys()).collect::<BTreeSet<_>>() {
                if current.get(flag) != target_state.get(flag) {
                    changes.push(Change {
                        id: 0,
                        environment: env.clone(),
                        version: 0,
                        flag: Some(flag.clone()),
                        action: "rollback".into(),
                        command: origin.command.clone(),
                        author: origin.author.clone(),
                        at: origin.at,
                        before: gates_json(current.get(flag)),
                        after: gates_json(target_state.get(flag)),
                    });
                }
            }
            states.insert(env.clone(), target_state.clone());
            Ok(([env.clone()].into_iter().collect(), changes))
        })?;
        Ok(self.push_all(committed).remove(0))
    }

    /// `vexil migrate --to <url>`: copies every version and change-log entry, numbers and
    /// ids kept, into an empty PostgreSQL database in one transaction, then points
    /// `vexil.toml` at it. SDKs hold version numbers for rollback protection, so the copy
    /// must be exact; the SQLite file stays as it was, as a backup.
    pub fn migrate_to(&mut self, url: &str) -> Result<Migrated> {
        let StateConfig::Sqlite(from) = &self.config.state else {
            return Err(Error::refused(format!(
                "{} is already PostgreSQL; migrate moves SQLite state",
                self.store.describe()
            )));
        };
        let from = from.clone();
        if !matches!(config::parse_state(&self.config.root, url)?, StateConfig::Postgres(_)) {
            return Err(Error::refused(format!("--to {url:?}: expected a postgres:// URL")));
        }
        refuse_password_in_url("--to", url)?;
        let versions = self.store.all_versions()?;
        let mut changes = self.store.changes(&LogFilter::default())?;
        changes.reverse();
        let mut target = PostgresStore::open(url, lock_timeout())?;
        target.import(&versions, &changes)?;
        let copied_versions = target.all_versions()?;
        let mut copied_changes = target.changes(&LogFilter::default())?;
        copied_changes.reverse();
        if copied_versions != versions || copied_changes != changes {
            return Err(Error::io(format!(
                "{}: the copy differs from the SQLite state ({} of {} versions, {} of {} changes); vexil.toml is unchanged",
                target.describe(),
                copied_versions.len(),
                versions.len(),
                copied_changes.len(),
                changes.len()
            )));
        }
        // A writer that committed to SQLite meanwhile would be lost by switching now.
        if self.store.all_versions()?.len() != versions.len() {
            return Err(Error::refused(format!(
                "{} changed during the migration; stop other vexil commands, empty {} and run migrate again. vexil.toml is unchanged",
                self.store.describe(),
                target.describe()
            )));
        }
        config::set_state(&self.config.root, url)?;
        self.config.state = StateConfig::Postgres(url.to_string());
        self.store = Box::new(target);
        Ok(Migrated {
            from: from.display().to_string(),
            to: url.to_string(),
            versions: versions.len(),
            changes: changes.len(),
        })
    }

    /// `vexil status`: each target's version against the database's.
    pub fn status(&mut self) -> Result<Vec<StatusRow>> {
        let mut rows = Vec::new();
        let envs: Vec<String> = self.config.environments.iter().map(|e| e.name.clone()).collect();
        for env in envs {
            let database = self.store.latest(&env)?.map_or(0, |r| r.version);
            for t in self.targets(&env)? {
                let (target_version, error) = match t.state(self.store.as_mut()) {
                    Ok(TargetState::Empty) => (Some(0), None),
                    Ok(TargetState::At { version }) => (Some(version), None),
                    Err(e) => (None, Some(e.to_string())),
                };
                let last_pushed = self.store.pushed(&env, &t.config.name)?;
                rows.push(StatusRow {
                    environment: env.clone(),
                    target: t.config.name.clone(),
                    audience: t.config.audience,
                    database,
                    last_pushed,
                    behind: target_version.is_none_or(|v| v < database),
                    target_version,
                    error,
                });
            }
        }
        Ok(rows)
    }
}

/// What `vexil migrate` copied.
#[derive(Clone, Debug, Serialize)]
pub struct Migrated {
    /// The SQLite file.
    pub from: String,
    /// The PostgreSQL URL now in `vexil.toml`.
    pub to: String,
    /// Versions copied.
    pub versions: usize,
    /// Change-log entries copied.
    pub changes: usize,
}

/// Commands that write a database URL into `vexil.toml`, which is usually committed, take
/// the password from the environment instead.
fn refuse_password_in_url(option: &str, url: &str) -> Result<()> {
    if redact(url) != url {
        return Err(Error::refused(format!(
            "{option}: leave the password out of the URL (vexil.toml is usually committed); set VEXIL_DATABASE_PASSWORD or PGPASSWORD instead"
        )));
    }
    Ok(())
}

/// Options of `feature set` beyond the request itself.
#[derive(Clone, Debug, Default)]
pub struct SetOptions {
    /// Set a flag that has no definition.
    pub force: bool,
    /// `--ignore-feature-flag-consistency-check`.
    pub ignore_consistency_check: bool,
    /// `--ignore-production-check`.
    pub ignore_production_check: bool,
}

/// chatops's consistency check, against the states as planned so far in this command.
fn consistency_check(
    req: &SetRequest,
    env: &str,
    staging: Option<&str>,
    production: Option<&str>,
    states: &BTreeMap<String, Persisted>,
) -> Result<()> {
    let enabled = |e: &str| states.get(e).and_then(|s| s.get(&req.flag)).is_some_and(FlagState::chatops_enabled);
    if let (Some(staging), Some(production)) = (staging, production) {
        if env == staging && req.value.disables() && enabled(production) {
            return Err(Error::refused(format!(
                "The feature flag `{}` is enabled on {production}, so it cannot be disabled on {staging}. When the flag on production is turned on, staging should be on too. Use --ignore-feature-flag-consistency-check to override.",
                req.flag
            )));
        }
        if env == production && req.value.enables() && !enabled(staging) {
            return Err(Error::refused(format!(
                "The feature flag `{}` is not enabled on {staging}, so it cannot be enabled on {production}. Enable it on {staging} first: when the flag on production is turned on, staging should be on too. Use --ignore-feature-flag-consistency-check to override.",
                req.flag
            )));
        }
    }
    Ok(())
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

/// The full state of `environment` that `state` publishes, with the current definitions
/// and groups.
pub fn compose(
    config: &Config,
    definitions: &Definitions,
    environment: &str,
    version: u64,
    published_at: i64,
    state: &Persisted,
) -> Environment {
    let mut env = Environment::new(environment, version, published_at);
    env.groups = config.groups.clone();
    for def in definitions.by_name.values() {
        let mut flag = Flag::new(def.flag_type, def.default_enabled);
        flag.client_side = def.client_side || config.lists_client_side(&def.name);
        if let Some(s) = state.get(&def.name) {
            flag.persisted = s.persisted;
            flag.gates = s.gates.clone();
        }
        env.flags.insert(def.name.clone(), flag);
    }
    // Flags set with --force have no definition: GitLab treats them as off by default.
    for (name, s) in state {
        if !env.flags.contains_key(name) && s.persisted {
            let mut flag = Flag::new(FlagType::Undefined, false);
            flag.client_side = config.lists_client_side(name);
            flag.persisted = true;
            flag.gates = s.gates.clone();
            env.flags.insert(name.clone(), flag);
        }
    }
    env
}

/// Decodes a stored snapshot into its persisted state.
pub fn persisted_from(row: Option<&VersionRow>) -> Result<Persisted> {
    let Some(row) = row else { return Ok(Persisted::new()) };
    let snapshot = row.decode()?;
    Ok(snapshot
        .flags()
        .filter(|f| f.persisted())
        .map(|f| {
            let flag = f.to_flag();
            (f.name().to_string(), FlagState { persisted: true, gates: flag.gates })
        })
        .collect())
}

/// Reads a signing key file (base64 of the 32-byte seed).
pub fn load_key(path: &Path) -> Result<SigningKey> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(format!("signing key {}: {e}", path.display())))?;
    let seed = config::decode_key(&text).map_err(|e| Error::refused(format!("signing key {}: {e}", path.display())))?;
    SigningKey::from_seed(seed)
        .ok_or_else(|| Error::refused(format!("signing key {}: an all-zero key is not a key", path.display())))
}

/// A flag's gates as JSON for the change log (`null` while not persisted).
pub fn gates_json(state: Option<&FlagState>) -> serde_json::Value {
    match state {
        Some(s) if s.persisted => gates_object(&s.gates),
        _ => serde_json::Value::Null,
    }
}

/// Gates as a JSON object.
pub fn gates_object(g: &Gates) -> serde_json::Value {
    serde_json::json!({
        "boolean": g.boolean,
        "actors": actor_set_json(&g.actors),
        "opt_outs": actor_set_json(&g.opt_outs),
        "groups": g.groups,
        "percentage_of_actors": g.percentage_of_actors.to_string(),
        "percentage_of_time": g.percentage_of_time.to_string(),
        "expression": g.expression.as_ref().map(vexil_core::Expr::to_json),
    })
}

/// Ids in the clear as a list; a browser snapshot's hashed set as `{"hashed": <count>}`.
fn actor_set_json(set: &vexil_core::ActorSet) -> serde_json::Value {
    match set {
        vexil_core::ActorSet::Ids(ids) => serde_json::json!(ids),
        vexil_core::ActorSet::Hashed(h) => serde_json::json!({ "hashed": h.len() }),
    }
}
