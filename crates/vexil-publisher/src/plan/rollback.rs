//! `vexil rollback`: a new version whose persisted state is an earlier version's. History is
//! never rewritten; the log records every flag the rollback changes.

use super::change::{Action, ChangeRecord, Recorded};
use super::compose::persisted_of;
use super::{Inputs, Persisted, RollbackTo};
use crate::error::{Error, Result};
use std::collections::{BTreeMap, BTreeSet};

/// The version `to` names in `environment`, whose newest version is `latest`.
pub fn rollback_version(environment: &str, to: RollbackTo, latest: u64) -> Result<u64> {
    match to {
        RollbackTo::Version(v) => Ok(v),
        RollbackTo::StepsBack(n) => latest.checked_sub(n).filter(|v| *v >= 1).ok_or_else(|| {
            Error::refused(format!(
                "--steps {n}: environment {environment} is at version {latest}, so there is nothing {n} steps back"
            ))
        }),
    }
}

/// The refusal for a version the database does not have.
pub fn no_such_version(environment: &str, version: u64, latest: u64) -> Error {
    Error::refused(format!("environment {environment} has no version {version} (versions 1 to {latest})"))
}

pub(super) fn rollback(
    environment: &str,
    to: RollbackTo,
    inputs: &Inputs<'_>,
    states: &mut BTreeMap<String, Persisted>,
) -> Result<Vec<ChangeRecord>> {
    let latest = inputs.version(environment);
    let version = rollback_version(environment, to, latest)?;
    let source = inputs
        .rollback_source
        .filter(|s| s.version() == version && s.environment() == environment)
        .ok_or_else(|| no_such_version(environment, version, latest))?;
    let target = persisted_of(source);
    let current = states.insert(environment.to_string(), target.clone()).unwrap_or_default();
    let flags: BTreeSet<&String> = current.keys().chain(target.keys()).collect();
    Ok(flags
        .into_iter()
        .filter(|flag| current.get(*flag) != target.get(*flag))
        .map(|flag| ChangeRecord {
            environment: environment.to_string(),
            flag: Some(flag.clone()),
            action: Action::Rollback,
            before: Recorded::gates(current.get(flag)),
            after: Recorded::gates(target.get(flag)),
        })
        .collect())
}
