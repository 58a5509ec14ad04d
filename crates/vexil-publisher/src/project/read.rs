//! What the state says, as typed reports for every entry point to render: a flag as GitLab's
//! API shows it, the list of persisted flags, each target's status against the database.

use super::Project;
use crate::entity::FeatureEntity;
use crate::error::Result;
use crate::push::TargetState;
use crate::store::{Change, LogFilter};
use serde::Serialize;
use vexil_core::AudienceKind;

/// `feature list` for one environment: persisted flags, enabled and disabled as chatops
/// counts them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct FeatureList {
    /// The environment.
    pub environment: String,
    /// Flags chatops counts as enabled (on, or conditional).
    pub enabled: Vec<String>,
    /// Persisted flags that are off.
    pub disabled: Vec<String>,
}

/// One row of `vexil status`.
#[derive(Clone, Debug, Serialize, serde::Deserialize)]
pub struct StatusRow {
    /// The environment.
    pub environment: String,
    /// The target.
    pub target: String,
    /// Who reads it.
    #[serde(serialize_with = "audience_name", deserialize_with = "audience_from_name")]
    pub audience: AudienceKind,
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

fn audience_name<S: serde::Serializer>(a: &AudienceKind, s: S) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_str(a.name())
}

fn audience_from_name<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<AudienceKind, D::Error> {
    let name = <String as serde::Deserialize>::deserialize(d)?;
    AudienceKind::from_name(&name).ok_or_else(|| serde::de::Error::custom(format!("unknown audience {name:?}")))
}

impl Project {
    /// `flag` in `environment` at its newest version.
    pub fn feature(&mut self, environment: &str, flag: &str) -> Result<FeatureEntity> {
        let (version, state) = match self.latest_snapshot(environment)? {
            Some((row, snapshot)) => (row.version, crate::plan::persisted_of(&snapshot).remove(flag)),
            None => (0, None),
        };
        Ok(FeatureEntity::new(environment, version, flag, state.as_ref(), self.definitions.by_name.get(flag)))
    }

    /// Every flag persisted in `environment`, as GitLab's `GET /features` lists them.
    pub fn persisted_features(&mut self, environment: &str) -> Result<Vec<FeatureEntity>> {
        let Some((row, snapshot)) = self.latest_snapshot(environment)? else { return Ok(Vec::new()) };
        Ok(crate::plan::persisted_of(&snapshot)
            .iter()
            .map(|(flag, state)| {
                FeatureEntity::new(environment, row.version, flag, Some(state), self.definitions.by_name.get(flag))
            })
            .collect())
    }

    /// `feature list`: the persisted flags of `environment` whose name contains `pattern`.
    pub fn feature_list(&mut self, environment: &str, pattern: &str) -> Result<FeatureList> {
        let (mut enabled, mut disabled) = (Vec::new(), Vec::new());
        for (name, state) in self.persisted(environment)?.iter().filter(|(n, _)| n.contains(pattern)) {
            if state.chatops_enabled() {
                enabled.push(name.clone());
            } else {
                disabled.push(name.clone());
            }
        }
        Ok(FeatureList { environment: environment.to_string(), enabled, disabled })
    }

    /// The change log, newest first.
    pub fn log(&mut self, filter: &LogFilter) -> Result<Vec<Change>> {
        if let Some(e) = &filter.environment {
            self.config.environment(e)?;
        }
        self.store.changes(filter)
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
