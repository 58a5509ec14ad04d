//! `feature set` and `feature delete` across the environments a request names: each
//! environment in chatops order, checked against the states as planned so far, so that the
//! consistency check sees what the same command did to staging.

use super::change::{Action, ChangeRecord, Recorded};
use super::chatops::{apply, FlagState, SetRequest};
use super::{Persisted, SetOptions};
use crate::config::Config;
use crate::error::{Error, Result};
use std::collections::BTreeMap;

pub(super) fn set(
    config: &Config,
    req: &SetRequest,
    environments: &[String],
    options: &SetOptions,
    states: &mut BTreeMap<String, Persisted>,
) -> Result<Vec<ChangeRecord>> {
    let mut changes = Vec::new();
    for env in environments {
        let current = states[env].get(&req.flag).cloned().unwrap_or_default();
        if !options.ignore_consistency_check {
            consistency_check(config, req, env, states)?;
        }
        let next = apply(req, &current).map_err(|e| e.context(format!("environment {env}")))?;
        changes.push(ChangeRecord {
            environment: env.clone(),
            flag: Some(req.flag.clone()),
            action: req.action(),
            before: Recorded::gates(Some(&current)),
            after: Recorded::gates(Some(&next)),
        });
        states.get_mut(env).expect("every environment is planned").insert(req.flag.clone(), next);
    }
    Ok(changes)
}

pub(super) fn delete(
    flag: &str,
    environments: &[String],
    states: &mut BTreeMap<String, Persisted>,
) -> Vec<ChangeRecord> {
    environments
        .iter()
        .map(|env| {
            let before = states.get_mut(env).expect("every environment is planned").remove(flag);
            ChangeRecord {
                environment: env.clone(),
                flag: Some(flag.to_string()),
                action: Action::Remove,
                before: Recorded::gates(before.as_ref()),
                after: Recorded::Nothing,
            }
        })
        .collect()
}

/// chatops's consistency check between the environments vexil.toml calls staging and
/// production, against the states as planned so far in this request.
fn consistency_check(config: &Config, req: &SetRequest, env: &str, states: &BTreeMap<String, Persisted>) -> Result<()> {
    let (Some(staging), Some(production)) = (config.staging.as_deref(), config.production.as_deref()) else {
        return Ok(());
    };
    let enabled = |e: &str| states.get(e).and_then(|s| s.get(&req.flag)).is_some_and(FlagState::chatops_enabled);
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
    Ok(())
}
