//! `vexil init`: a new project — vexil.toml, an example definition, target directories, and
//! version 1 of every environment in the state database.

use super::{lock_timeout, Origin, Project};
use crate::config::{self, StateConfig};
use crate::error::{Error, ErrorContext, Result};
use crate::plan::Request;
use crate::store::{redact, PostgresStore, Store};
use std::path::Path;
use vexil_core::FlagType;

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
    std::fs::write(&example, crate::definitions::template("new_navigation_bar", FlagType::Beta, "group::navigation"))
        .context(format!("cannot write {}", example.display()))?;
    std::fs::write(dir.join(config::FILE), config::template()).context("cannot write vexil.toml")?;
    if let Some(state) = state {
        config::set_state(dir, state)?;
    }
    std::fs::write(dir.join(".gitignore"), ".vexil/\n").context("cannot write .gitignore")?;
    // The one place a SQLite state database comes into being.
    if let StateConfig::Sqlite(path) = &config::Config::load(dir)?.state {
        crate::store::SqliteStore::create(path, lock_timeout())?;
    }
    let mut project = Project::open(dir)?;
    for env in &project.config.environments {
        for t in &env.targets {
            if let config::PushTargetKind::Directory { path } = &t.kind {
                std::fs::create_dir_all(path).context(format!("cannot create {}", path.display()))?;
            }
        }
    }
    project.apply(&Request::Publish { environments: Vec::new() }, origin)?;
    Ok(project)
}

/// Commands that write a database URL into `vexil.toml`, which is usually committed, take
/// the password from the environment instead.
pub(super) fn refuse_password_in_url(option: &str, url: &str) -> Result<()> {
    if redact(url) != url {
        return Err(Error::refused(format!(
            "{option}: leave the password out of the URL (vexil.toml is usually committed); set VEXIL_DATABASE_PASSWORD or PGPASSWORD instead"
        )));
    }
    Ok(())
}
