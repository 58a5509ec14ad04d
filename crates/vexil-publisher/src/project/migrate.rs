//! `vexil migrate`: SQLite state moved into PostgreSQL with every version number and
//! change-log id kept (SDKs compare version numbers for rollback protection).

use super::init::refuse_password_in_url;
use super::{lock_timeout, Project};
use crate::config::{self, StateConfig};
use crate::error::{Error, Result};
use crate::store::{PostgresStore, Store};
use serde::Serialize;

impl Project {
    /// `vexil migrate --to <url>`: copies every version, change-log entry, token and
    /// announcement, numbers and ids kept, into an empty PostgreSQL database in one transaction, then points
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
        // The copy is chained anew: a log that does not verify must not come out laundered.
        self.verify_log(None)?;
        let copy = self.store.export()?;
        let mut target = PostgresStore::open(url, lock_timeout())?;
        target.import(&copy)?;
        let copied = target.export()?;
        if copied != copy {
            return Err(Error::io(format!(
                "{}: the copy differs from the SQLite state ({} of {} versions, {} of {} changes, {} of {} announcements); vexil.toml is unchanged",
                target.describe(),
                copied.versions.len(),
                copy.versions.len(),
                copied.changes.len(),
                copy.changes.len(),
                copied.outbox.len(),
                copy.outbox.len()
            )));
        }
        // A writer that committed to SQLite meanwhile would be lost by switching now.
        if self.store.all_versions()?.len() != copy.versions.len() {
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
            versions: copy.versions.len(),
            changes: copy.changes.len(),
        })
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
