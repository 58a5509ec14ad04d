//! Fixtures for the crate's unit tests: a project's configuration and definitions in memory,
//! and plans committed to snapshots without a store.

use crate::config::Config;
use crate::definitions::{self, Definitions};
use crate::plan::Plan;
use std::collections::BTreeMap;
use std::path::Path;
use vexil_core::{encode, FlagType, SigningKey, Snapshot};

/// Three environments in chatops order, staging and production for the consistency check,
/// GitLab's team-members group, no targets.
pub const CONFIG: &str = r#"
[[environment]]
name = "dev"
[[environment]]
name = "staging"
[[environment]]
name = "production"
[groups]
gitlab_team_members = { Equal = [{ Property = ["team"] }, "gitlab"] }
"#;

pub fn config() -> Config {
    Config::parse(Path::new("/project"), CONFIG).unwrap()
}

/// Definitions of `flags`: `(name, type, default_enabled)`.
pub fn definitions(flags: &[(&str, FlagType, bool)]) -> Definitions {
    let mut defs = Definitions::default();
    for &(name, flag_type, default_enabled) in flags {
        let text = definitions::template(name, flag_type, "group::test")
            .replace("default_enabled: false", &format!("default_enabled: {default_enabled}"));
        let path = format!("config/feature_flags/{}/{name}.yml", flag_type.name());
        let (def, problems) = definitions::parse(Path::new(&path), &text);
        assert!(problems.is_empty(), "{problems:?}");
        let def = def.unwrap();
        defs.by_name.insert(def.name.clone(), def);
    }
    defs
}

/// The heads after `plan` is committed on top of `heads`, as the shell would store them.
pub fn commit(heads: &mut BTreeMap<String, Snapshot>, plan: &Plan, key: Option<&SigningKey>) {
    for v in &plan.versions {
        let bytes = encode(&v.server, key).unwrap();
        heads.insert(v.environment().to_string(), Snapshot::decode(&bytes, &[]).unwrap());
    }
}

pub fn key(seed: u8) -> SigningKey {
    SigningKey::from_seed([seed; 32]).unwrap()
}
