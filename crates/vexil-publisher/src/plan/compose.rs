//! Composition: an environment's full state — what its snapshot holds — from the definitions,
//! vexil.toml's feature groups and client-side list, and the environment's persisted gates.
//! And back: the persisted gates a snapshot holds.

use super::FlagState;
use crate::config::Config;
use crate::definitions::Definitions;
use std::collections::BTreeMap;
use vexil_core::{Environment, Flag, FlagType, Snapshot};

/// Persisted state of one environment: flag name → state, for persisted flags only.
pub type Persisted = BTreeMap<String, FlagState>;

/// The full state of `environment` that `state` publishes, with the current definitions
/// and groups.
pub fn compose(
    config: &Config,
    definitions: &Definitions,
    environment: &str,
    version: u64,
    published_at: i64,
    state: &Persisted,
) -> Environment {
    let mut env = Environment::new(environment, version, published_at);
    env.groups = config.groups.clone();
    for def in definitions.by_name.values() {
        let mut flag = Flag::new(def.flag_type, def.default_enabled);
        flag.client_side = def.client_side || config.lists_client_side(&def.name);
        if let Some(s) = state.get(&def.name) {
            flag.persisted = s.persisted;
            flag.gates = s.gates.clone();
        }
        env.flags.insert(def.name.clone(), flag);
    }
    // Flags set with --force have no definition: GitLab treats them as off by default.
    for (name, s) in state {
        if !env.flags.contains_key(name) && s.persisted {
            let mut flag = Flag::new(FlagType::Undefined, false);
            flag.client_side = config.lists_client_side(name);
            flag.persisted = true;
            flag.gates = s.gates.clone();
            env.flags.insert(name.clone(), flag);
        }
    }
    env
}

/// The persisted gates a snapshot holds.
pub fn persisted_of(snapshot: &Snapshot) -> Persisted {
    snapshot
        .flags()
        .filter(|f| f.persisted())
        .map(|f| (f.name().to_string(), FlagState { persisted: true, gates: f.to_flag().gates }))
        .collect()
}
