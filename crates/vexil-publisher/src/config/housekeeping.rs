//! `[housekeeping]` and `[refs]`: when a flag should go (GitLab's milestone cutoffs, a
//! lifetime per flag type, how long a flag may stay conditional or never set), and how the
//! code base names flags (where to look, what to skip, the team's own aliases).

use crate::duration;
use crate::error::{Error, Result};
use crate::housekeeping::refs::Alias;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;
use vexil_core::FlagType;

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawHousekeeping {
    milestone: Option<String>,
    conditional_for: Option<String>,
    unused_for: Option<String>,
    #[serde(default)]
    lifetime: BTreeMap<String, String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRefs {
    paths: Option<Vec<String>>,
    exclude: Option<Vec<String>>,
    #[serde(default)]
    aliases: Vec<String>,
}

/// When `vexil stale` says a flag should go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HousekeepingRules {
    /// The current milestone (`17.2`); absent, the project's VERSION file says it.
    pub milestone: Option<String>,
    /// How long a flag may be conditional somewhere without a running rollout.
    pub conditional_for: Duration,
    /// How long a definition may go without being set anywhere.
    pub unused_for: Duration,
    /// How long a flag of each type may stay fully on or off everywhere (None: for ever).
    pub lifetimes: BTreeMap<FlagType, Option<Duration>>,
}

const DAY: u64 = 86_400;

/// GitLab's documented maximum lifespans (doc/development/feature_flags): `gitlab_com_derisk`
/// 2 months, `wip` 4, `beta` and `experiment` 6, `ops` unlimited but reviewed every 12
/// months; `development` is deprecated and treated as `wip`; `worker` and `undefined` flags
/// are controls, kept.
fn default_lifetime(t: FlagType) -> Option<Duration> {
    let days = match t {
        FlagType::GitlabComDerisk => 60,
        FlagType::Wip | FlagType::Development => 120,
        FlagType::Beta | FlagType::Experiment => 180,
        FlagType::Ops => 365,
        FlagType::Worker | FlagType::Undefined => return None,
    };
    Some(Duration::from_secs(days * DAY))
}

impl Default for HousekeepingRules {
    fn default() -> Self {
        HousekeepingRules {
            milestone: None,
            conditional_for: Duration::from_secs(30 * DAY),
            unused_for: Duration::from_secs(60 * DAY),
            lifetimes: FlagType::ALL.into_iter().map(|t| (t, default_lifetime(t))).collect(),
        }
    }
}

/// Where `vexil refs` looks and what it looks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RefsConfig {
    /// Directories or files to search, relative to the project.
    pub paths: Vec<PathBuf>,
    /// Gitignore-style globs never searched, on top of every .gitignore.
    pub exclude: Vec<String>,
    /// The team's own ways of naming a flag in code.
    pub aliases: Vec<Alias>,
}

impl Default for RefsConfig {
    fn default() -> Self {
        // GitLab's housekeeper skips translations and the schema dump.
        RefsConfig {
            paths: vec![PathBuf::from(".")],
            exclude: vec!["locale/".into(), "db/structure.sql".into()],
            aliases: Vec::new(),
        }
    }
}

pub(super) fn parse_housekeeping(raw: RawHousekeeping) -> Result<HousekeepingRules> {
    let at = |field: &str, m: String| Error::refused(format!("[housekeeping] {field}: {m}"));
    let defaults = HousekeepingRules::default();
    if let Some(m) = &raw.milestone {
        crate::housekeeping::Milestone::parse(m).map_err(|e| at("milestone", e))?;
    }
    let span = |field: &str, text: &Option<String>, default: Duration| match text {
        None => Ok(default),
        Some(t) => duration::parse(t).map_err(|m| at(field, m)),
    };
    let mut lifetimes = defaults.lifetimes.clone();
    for (name, text) in &raw.lifetime {
        let field = format!("lifetime.{name}");
        let t = FlagType::from_name(name).ok_or_else(|| {
            let known: Vec<&str> = FlagType::ALL.iter().map(|t| t.name()).collect();
            at(&field, format!("no flag type {name:?} (types: {})", known.join(", ")))
        })?;
        let life = if text == "never" { None } else { Some(duration::parse(text).map_err(|m| at(&field, m))?) };
        lifetimes.insert(t, life);
    }
    Ok(HousekeepingRules {
        milestone: raw.milestone,
        conditional_for: span("conditional_for", &raw.conditional_for, defaults.conditional_for)?,
        unused_for: span("unused_for", &raw.unused_for, defaults.unused_for)?,
        lifetimes,
    })
}

pub(super) fn parse_refs(raw: RawRefs) -> Result<RefsConfig> {
    let at = |field: String, m: String| Error::refused(format!("[refs] {field}: {m}"));
    let defaults = RefsConfig::default();
    let paths: Vec<PathBuf> = raw.paths.map_or(defaults.paths, |p| p.into_iter().map(PathBuf::from).collect());
    for (i, p) in paths.iter().enumerate() {
        if p.is_absolute() || p.components().any(|c| matches!(c, std::path::Component::ParentDir)) {
            return Err(at(format!("paths[{i}]"), format!("{:?}: a path inside the project", p.display().to_string())));
        }
    }
    let aliases = raw
        .aliases
        .iter()
        .enumerate()
        .map(|(i, a)| Alias::parse(a).map_err(|m| at(format!("aliases[{i}]"), m)))
        .collect::<Result<Vec<_>>>()?;
    Ok(RefsConfig { paths, exclude: raw.exclude.unwrap_or(defaults.exclude), aliases })
}
