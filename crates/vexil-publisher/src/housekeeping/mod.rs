//! The rollout's last phase, "Release the feature": which flags should go ([`stale`]),
//! where the code still names them ([`refs`]), and removing one everywhere at once
//! ([`cleanup`]). The rules are pure functions of what vexil already holds — definitions,
//! every environment's state and its whole change log — so the report is exact.

mod cleanup;
pub mod milestone;
pub mod refs;
pub mod stale;

pub use cleanup::{CleanupOptions, CleanupReport};
pub use milestone::Milestone;
pub use stale::{Rule, StaleReport};

use crate::config::Config;
use crate::definitions::Definitions;
use crate::error::{Error, Result};
use crate::project::Project;
use crate::store::{LogFilter, Store};
use std::collections::{BTreeMap, BTreeSet};

/// The current milestone and where it was read: vexil.toml's `[housekeeping] milestone`,
/// else the project's VERSION file (GitLab's `17.2.0-pre`), else none.
pub fn current_milestone(config: &Config) -> Result<Option<(Milestone, String)>> {
    if let Some(m) = &config.housekeeping.milestone {
        let m = Milestone::parse(m).map_err(|e| Error::refused(format!("[housekeeping] milestone: {e}")))?;
        return Ok(Some((m, "vexil.toml".into())));
    }
    let path = config.root.join("VERSION");
    match std::fs::read_to_string(&path) {
        Ok(text) => Milestone::parse(&text)
            .map(|m| Some((m, "VERSION".into())))
            .map_err(|e| Error::refused(format!("{}: {e}", path.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io(format!("cannot read {}: {e}", path.display()))),
    }
}

/// `vexil stale` as of `now`, from what `store` holds: for the CLI and the dashboard.
pub fn stale_report(
    config: &Config,
    definitions: &Definitions,
    store: &mut dyn Store,
    now: i64,
) -> Result<StaleReport> {
    let milestone = current_milestone(config)?;
    let mut heads = BTreeMap::new();
    for env in config.environment_names() {
        if let Some(row) = store.latest(env)? {
            heads.insert(env.to_string(), row.decode()?);
        }
    }
    let changes = store.changes(&LogFilter::default())?;
    let rollouts: BTreeSet<String> =
        store.rollouts()?.into_iter().filter(|r| crate::store::is_active(&r.status)).map(|r| r.flag).collect();
    let facts =
        stale::Facts { config, definitions, heads: &heads, changes: &changes, rollouts: &rollouts, milestone, now };
    Ok(stale::report(&facts))
}

impl Project {
    /// `vexil stale`: every flag that should go, as of `now`.
    pub fn stale(&mut self, now: i64) -> Result<StaleReport> {
        let (config, definitions, store) = self.parts();
        stale_report(config, definitions, store, now)
    }
}
