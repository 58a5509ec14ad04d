//! `vexil publish`: the definitions, vexil.toml's groups and client-side list, and the
//! signing key, merged into each environment's persisted gates; a new version only where the
//! published state would differ, with a record per flag whose definition facts changed.

use super::change::{Action, ChangeRecord, DefinitionFacts, Recorded};
use super::{compose, planned_version, Inputs, Persisted, Plan};
use crate::error::Result;
use std::collections::BTreeMap;
use vexil_core::Flag;

pub(super) fn publish(
    environments: &[String],
    inputs: &Inputs<'_>,
    states: &BTreeMap<String, Persisted>,
) -> Result<Plan> {
    let mut plan = Plan { versions: Vec::new(), changes: Vec::new() };
    for env in environments {
        let state = &states[env];
        let composed = compose(inputs.config, inputs.definitions, env, 0, 0, state);
        let records: Vec<(Option<String>, Recorded, Recorded)> = match inputs.heads.get(env) {
            None => vec![(None, Recorded::Nothing, Recorded::Nothing)],
            Some(head) => {
                let mut previous = head.to_environment();
                previous.version = 0;
                previous.published_at = 0;
                let signer_changed = head.signer().copied() != inputs.signer;
                if previous == composed && !signer_changed {
                    continue;
                }
                let facts =
                    |f: Option<&Flag>| f.map_or(Recorded::Nothing, |f| Recorded::Definition(DefinitionFacts::of(f)));
                let mut records: Vec<_> = composed
                    .changed_since(&previous)
                    .into_iter()
                    .map(|name| {
                        let (before, after) = (facts(previous.flags.get(&name)), facts(composed.flags.get(&name)));
                        (Some(name), before, after)
                    })
                    .collect();
                // A change no single flag explains: the groups, the key, or the environment.
                if previous.groups != composed.groups || signer_changed || records.is_empty() {
                    records.push((None, Recorded::Nothing, Recorded::Nothing));
                }
                records
            }
        };
        let action = if inputs.heads.contains_key(env) { Action::Definition } else { Action::Publish };
        plan.changes.extend(records.into_iter().map(|(flag, before, after)| ChangeRecord {
            environment: env.clone(),
            flag,
            action,
            before,
            after,
        }));
        plan.versions.push(planned_version(inputs, env, state)?);
    }
    Ok(plan)
}
