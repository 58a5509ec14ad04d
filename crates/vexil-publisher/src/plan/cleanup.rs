//! `vexil cleanup`: the template's last step — `feature delete <flag>` on every environment —
//! together with the definition's removal, as one plan: each environment that holds the flag
//! gets a version composed without it, state and definition alike, so no snapshot ever
//! serves it again. A flag still conditional somewhere is refused unless forced: removing it
//! would decide its rollout for everyone.

use super::change::{Action, ChangeRecord, DefinitionFacts, Recorded};
use super::{planned_version, Inputs, Persisted, Plan};
use crate::error::{Error, Result};
use std::collections::BTreeMap;
use vexil_core::{Flag, State};

/// Refuses removing `flag` while it is conditional in any environment of `held` (each
/// environment holding it, with the flag there): removing it would decide its rollout.
pub fn refuse_conditional(flag: &str, held: &[(String, Flag)]) -> Result<()> {
    let conditional: Vec<String> = held
        .iter()
        .filter(|(_, f)| f.state() == State::Conditional)
        .map(|(env, f)| format!("{env} ({})", crate::gates_json::summary(&f.gates)))
        .collect();
    if conditional.is_empty() {
        return Ok(());
    }
    Err(Error::refused(format!(
        "`{flag}` is conditional on {}: finish its rollout (true) or roll it back (false) first, or pass --force",
        conditional.join(", ")
    )))
}

pub(super) fn cleanup(
    flag: &str,
    force: bool,
    inputs: &Inputs<'_>,
    states: &mut BTreeMap<String, Persisted>,
) -> Result<Plan> {
    let mut remaining = inputs.definitions.clone();
    remaining.by_name.remove(flag);
    let without = Inputs {
        config: inputs.config,
        definitions: &remaining,
        heads: inputs.heads,
        signer: inputs.signer,
        rollback_source: None,
        published_at: inputs.published_at,
    };
    let mut plan = Plan { versions: Vec::new(), changes: Vec::new() };
    let mut holding = Vec::new();
    for env in &inputs.config.environments {
        let Some(held) = inputs.heads.get(&env.name).and_then(|h| h.flag(flag)).map(|f| f.to_flag()) else {
            continue;
        };
        holding.push((env.name.clone(), held.clone()));
        let before = if held.persisted {
            Recorded::Gates(held.gates.clone())
        } else {
            Recorded::Definition(DefinitionFacts::of(&held))
        };
        let state = states.get_mut(&env.name).expect("a state per environment");
        state.remove(flag);
        plan.changes.push(ChangeRecord {
            environment: env.name.clone(),
            flag: Some(flag.to_string()),
            action: Action::Cleanup,
            before,
            after: Recorded::Nothing,
        });
        plan.versions.push(planned_version(&without, &env.name, state)?);
    }
    if !force {
        refuse_conditional(flag, &holding)?;
    }
    if plan.versions.is_empty() && !inputs.definitions.by_name.contains_key(flag) {
        return Err(Error::refused(format!("no flag `{flag}`: it has no definition and no environment holds it")));
    }
    Ok(plan)
}
