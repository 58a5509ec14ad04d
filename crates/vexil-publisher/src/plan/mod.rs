//! The planning layer: every change to flag state, whoever asks for it (the CLI, the HTTP
//! API, chat, a rollout), as a pure function. A typed [`Request`] and what the state
//! database holds now ([`Inputs`]) give either a refusal — with the messages GitLab's
//! chatops and API give — or a [`Plan`]: the new state of each environment it touches and
//! the typed change records for the log.
//!
//! Nothing here reads a file, the database, a clock or a random source: the I/O shell
//! ([`crate::project::Project`]) reads the inputs inside its write transaction, calls
//! [`plan`], then encodes, signs and stores what it returns, so that a plan is checked
//! against exactly the state it replaces and every entry point shares one path.
//!
//! ```text
//!  Request ─┐
//!  Inputs  ─┴─▶ plan() ──▶ Err(refusal)        nothing written
//!   (heads, definitions,   └▶ Plan { versions: [server + browser state per environment],
//!    vexil.toml, signer)            changes: [ChangeRecord] } ──▶ encode, sign, commit, push
//! ```

mod change;
mod chatops;
mod cleanup;
mod compose;
mod publish;
mod rollback;
mod set;
#[cfg(test)]
mod tests;

pub use change::{Action, ChangeRecord, DefinitionFacts, Recorded};
pub use chatops::{apply, targets_from_option, ActorOrGroup, FlagState, SetRequest, SetValue, TARGET_OPTIONS};
pub use cleanup::refuse_conditional;
pub use compose::{compose, persisted_of, Persisted};
pub use rollback::{no_such_version, rollback_version};

use crate::config::Config;
use crate::definitions::{Definitions, Severity};
use crate::error::{Error, Result};
use std::collections::BTreeMap;
use vexil_core::{Environment, Snapshot};

/// A change to flag state, as every entry point asks for it.
#[derive(Clone, Debug, PartialEq)]
pub enum Request {
    /// `feature set`: one chatops value applied to each named environment.
    Set {
        /// The validated request.
        set: SetRequest,
        /// The environments named (none: the default environment).
        environments: Vec<String>,
        /// Overrides.
        options: SetOptions,
    },
    /// `feature delete`: un-persist the flag, so its YAML default applies again.
    Delete {
        /// The flag.
        flag: String,
        /// The environments named (none: the default environment).
        environments: Vec<String>,
    },
    /// `vexil publish`: merge the definitions, groups and signing key into each environment
    /// whose published state they change.
    Publish {
        /// The environments named (none: every environment).
        environments: Vec<String>,
    },
    /// `vexil rollback`: a new version of one environment with an earlier version's state.
    Rollback {
        /// The environment.
        environment: String,
        /// Which version.
        to: RollbackTo,
    },
    /// `vexil cleanup`: the flag gone from every environment, state and definition alike,
    /// with a new version of each environment that held it.
    Cleanup {
        /// The flag.
        flag: String,
        /// Clean up a flag that is still conditional somewhere.
        force: bool,
    },
}

/// Which earlier version a rollback returns to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RollbackTo {
    /// This version.
    Version(u64),
    /// This many versions before the newest.
    StepsBack(u64),
}

/// Options of `feature set` beyond the request itself.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SetOptions {
    /// Set a flag that has no definition.
    pub force: bool,
    /// `--ignore-feature-flag-consistency-check`.
    pub ignore_consistency_check: bool,
    /// `--ignore-production-check`.
    pub ignore_production_check: bool,
}

/// What a plan is made from: the project as configured and everything the state database
/// holds that the request can depend on, read in the transaction that will commit the plan.
pub struct Inputs<'a> {
    /// vexil.toml.
    pub config: &'a Config,
    /// The definitions.
    pub definitions: &'a Definitions,
    /// Every environment's newest snapshot (absent: no version yet).
    pub heads: &'a BTreeMap<String, Snapshot>,
    /// The public key the new versions will be signed with.
    pub signer: Option<[u8; 32]>,
    /// For a rollback: the snapshot of the version it returns to, if the database has it.
    pub rollback_source: Option<&'a Snapshot>,
    /// When the new versions are published (ms since the epoch).
    pub published_at: i64,
}

impl Inputs<'_> {
    /// The newest version of `environment` (0: none yet).
    pub fn version(&self, environment: &str) -> u64 {
        self.heads.get(environment).map_or(0, Snapshot::version)
    }

    /// The persisted state of `environment` at its newest version.
    pub fn persisted(&self, environment: &str) -> Persisted {
        self.heads.get(environment).map(persisted_of).unwrap_or_default()
    }
}

/// A request's outcome: the new versions and what changed.
#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    /// One new version per environment the request changes, in vexil.toml's order.
    pub versions: Vec<PlannedVersion>,
    /// The change-log records, in order.
    pub changes: Vec<ChangeRecord>,
}

/// A new version of one environment.
#[derive(Clone, Debug, PartialEq)]
pub struct PlannedVersion {
    /// Its full state (number and publish time included), as servers receive it.
    pub server: Environment,
    /// What browsers may see of it.
    pub browser: Environment,
}

impl PlannedVersion {
    /// The environment.
    pub fn environment(&self) -> &str {
        &self.server.name
    }
    /// The version number.
    pub fn version(&self) -> u64 {
        self.server.version
    }
}

/// Plans `request` against `inputs`: a refusal, or the versions and records to commit.
pub fn plan(request: &Request, inputs: &Inputs<'_>) -> Result<Plan> {
    precheck(request, inputs.config, inputs.definitions)?;
    let mut states: BTreeMap<String, Persisted> =
        inputs.config.environments.iter().map(|e| (e.name.clone(), inputs.persisted(&e.name))).collect();
    let changes = match request {
        Request::Set { set, environments, options } => {
            let envs = named_environments(inputs.config, environments)?;
            set::set(inputs.config, set, &envs, options, &mut states)?
        }
        Request::Delete { flag, environments } => {
            set::delete(flag, &named_environments(inputs.config, environments)?, &mut states)
        }
        Request::Publish { environments } => {
            return publish::publish(&publish_environments(inputs.config, environments)?, inputs, &states)
        }
        Request::Rollback { environment, to } => rollback::rollback(environment, *to, inputs, &mut states)?,
        Request::Cleanup { flag, force } => return cleanup::cleanup(flag, *force, inputs, &mut states),
    };
    let versions = touched_environments(request, inputs.config)?
        .into_iter()
        .map(|env| planned_version(inputs, env, &states[env]))
        .collect::<Result<Vec<_>>>()?;
    Ok(Plan { versions, changes })
}

/// The environments a set, delete or rollback gives a new version: every one it names, even
/// where nothing changed, as GitLab records every command. In vexil.toml's order.
fn touched_environments<'c>(request: &Request, config: &'c Config) -> Result<Vec<&'c str>> {
    let named: Vec<String> = match request {
        Request::Set { environments, .. } | Request::Delete { environments, .. } => {
            named_environments(config, environments)?
        }
        Request::Rollback { environment, .. } => vec![environment.clone()],
        Request::Publish { .. } | Request::Cleanup { .. } => Vec::new(),
    };
    Ok(config.environments.iter().map(|e| e.name.as_str()).filter(|e| named.iter().any(|n| n == e)).collect())
}

/// The new version of `environment` holding `state`.
pub(super) fn planned_version(inputs: &Inputs<'_>, environment: &str, state: &Persisted) -> Result<PlannedVersion> {
    let version = inputs.version(environment) + 1;
    let server = compose(inputs.config, inputs.definitions, environment, version, inputs.published_at, state);
    refuse_costly(&server)?;
    // Every version gets its browser state, whether or not a target wants it yet: a state
    // browsers cannot be given is refused here, changing nothing.
    let browser = crate::audience::browser_environment(&server)?;
    Ok(PlannedVersion { server, browser })
}

/// Refuses a state in which evaluating one flag for one actor could make more
/// `FeatureEnabled` checks than the core allows ([`vexil_core::limits::MAX_FLAG_CHECKS_PER_ACTOR`]).
fn refuse_costly(env: &Environment) -> Result<()> {
    let most = vexil_core::limits::MAX_FLAG_CHECKS_PER_ACTOR;
    match env.feature_checks().into_iter().find(|(_, checks)| *checks > most) {
        None => Ok(()),
        Some((flag, checks)) => Err(Error::refused(format!(
            "flag `{flag}`: one evaluation could ask about {} flags through FeatureEnabled (its expression and feature groups, and what those flags ask in turn); at most {most} — ask about fewer flags",
            if checks == usize::MAX { "countless".to_string() } else { checks.to_string() }
        ))),
    }
}

/// A flag name as typed in chat or a shell: chatops strips the backticks Slack users put
/// around names so that `_` is not read as emphasis.
pub fn flag_name(text: &str) -> String {
    text.trim_matches('`').to_string()
}

/// The refusals that need no state: run before anything is read or checked, so that a bad
/// request fails fast with the same message it would fail with later.
pub fn precheck(request: &Request, config: &Config, definitions: &Definitions) -> Result<()> {
    match request {
        Request::Set { set, environments, options } => {
            named_environments(config, environments)?;
            if !crate::definitions::valid_name(&set.flag) {
                return Err(Error::refused(format!(
                    "{:?} is not a flag name: names match ^[a-z0-9]+(_[a-z0-9]+)*$, as GitLab's VALID_FEATURE_NAME",
                    set.flag
                )));
            }
            require_clean_definitions(definitions)?;
            require_definition(config, definitions, &set.flag, options.force)?;
            require_known_groups(config, set)
        }
        Request::Delete { environments, .. } => {
            named_environments(config, environments)?;
            require_clean_definitions(definitions)
        }
        Request::Publish { environments } => {
            require_clean_definitions(definitions)?;
            publish_environments(config, environments).map(drop)
        }
        Request::Rollback { environment, .. } => {
            require_clean_definitions(definitions)?;
            config.environment(environment).map(drop)
        }
        Request::Cleanup { flag, .. } => {
            if !crate::definitions::valid_name(flag) {
                return Err(Error::refused(format!("{flag:?} is not a flag name")));
            }
            require_clean_definitions(definitions)
        }
    }
}

/// The environments whose targets a request writes to, so the shell can check them before
/// committing.
pub fn environments_written(request: &Request, config: &Config) -> Result<Vec<String>> {
    match request {
        Request::Set { environments, .. } | Request::Delete { environments, .. } => {
            named_environments(config, environments)
        }
        Request::Publish { environments } => publish_environments(config, environments),
        Request::Rollback { environment, .. } => Ok(vec![environment.clone()]),
        Request::Cleanup { .. } => publish_environments(config, &[]),
    }
}

/// The command vexil.toml's `[production_check]` runs before this request, if any.
pub fn production_check<'c>(request: &Request, config: &'c Config) -> Result<Option<&'c str>> {
    let Request::Set { environments, options, .. } = request else { return Ok(None) };
    let (Some(production), Some(check)) = (&config.production, &config.production_check) else { return Ok(None) };
    let named = named_environments(config, environments)?;
    Ok((named.contains(production) && !options.ignore_production_check).then_some(check.as_str()))
}

/// The environments a command names, in the order chatops applies them; the default
/// environment when it names none.
pub fn named_environments(config: &Config, named: &[String]) -> Result<Vec<String>> {
    for n in named {
        config.environment(n)?;
    }
    if named.is_empty() {
        return Ok(vec![config.default_environment.clone()]);
    }
    Ok(config.environments.iter().filter(|e| named.contains(&e.name)).map(|e| e.name.clone()).collect())
}

/// `vexil publish`'s environments: those named, or all.
fn publish_environments(config: &Config, named: &[String]) -> Result<Vec<String>> {
    if named.is_empty() {
        Ok(config.environments.iter().map(|e| e.name.clone()).collect())
    } else {
        named_environments(config, named)
    }
}

/// Nothing is published from definitions that do not load cleanly.
pub fn require_clean_definitions(definitions: &Definitions) -> Result<()> {
    if definitions.has_errors() {
        let first: Vec<String> = definitions
            .problems
            .iter()
            .filter(|p| p.severity == Severity::Error)
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

/// Refuses a flag that has no definition, with a suggestion, unless `force`.
/// Refuses a flag without a definition (unless forced), suggesting near names.
pub fn require_definition(config: &Config, definitions: &Definitions, flag: &str, force: bool) -> Result<()> {
    if force || definitions.by_name.contains_key(flag) {
        return Ok(());
    }
    let suggestions = definitions.suggest(flag);
    let hint = match suggestions.as_slice() {
        [] => String::new(),
        s => format!(" Did you mean {}?", s.iter().map(|x| format!("`{x}`")).collect::<Vec<_>>().join(" or ")),
    };
    Err(Error::refused(format!(
        "The feature flag `{flag}` has no definition in {}.{hint} Add config/feature_flags/<type>/{flag}.yml, or pass --force to set it anyway.",
        config.definitions.iter().map(|d| d.display().to_string()).collect::<Vec<_>>().join(", ")
    )))
}

/// Refuses feature groups vexil.toml does not define.
pub fn require_known_groups(config: &Config, set: &SetRequest) -> Result<()> {
    for t in &set.targets {
        if let ActorOrGroup::FeatureGroup(g) = t {
            if !config.groups.contains_key(g) {
                let known: Vec<&str> = config.groups.keys().map(String::as_str).collect();
                return Err(Error::refused(format!(
                    "unknown feature group `{g}` (vexil.toml defines: {})",
                    if known.is_empty() { "none".to_string() } else { known.join(", ") }
                )));
            }
        }
    }
    Ok(())
}
