//! `vexil.toml`: environments (in chatops order) and their push targets, the state
//! database, feature groups, definition roots, signing keys.

use crate::error::{Error, Result};
use base64::Engine;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use vexil_core::Expr;

/// The file name vexil looks for.
pub const FILE: &str = "vexil.toml";

/// GitLab's six environments, in the order chatops applies them.
pub const GITLAB_ENVIRONMENTS: [&str; 6] = ["dev", "staging", "staging-ref", "ops", "pre", "production"];

/// Options of `feature set` that an environment switch must not shadow.
const RESERVED: &[&str] = &[
    "actors",
    "random",
    "user",
    "project",
    "group",
    "namespace",
    "repository",
    "feature-group",
    "force",
    "json",
    "author",
    "env",
    "match",
    "help",
    "version",
    "project-dir",
    "ignore-random-deprecation-check",
    "ignore-feature-flag-consistency-check",
    "ignore-production-check",
    "all",
];

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    #[serde(default = "default_definitions")]
    definitions: Vec<PathBuf>,
    #[serde(default = "default_state")]
    state: String,
    default_environment: Option<String>,
    #[serde(default)]
    signing: RawSigning,
    #[serde(default)]
    consistency: RawConsistency,
    #[serde(default, rename = "environment")]
    environments: Vec<RawEnvironment>,
    #[serde(default)]
    groups: BTreeMap<String, toml::Value>,
    #[serde(default)]
    production_check: Option<RawProductionCheck>,
}

fn default_definitions() -> Vec<PathBuf> {
    vec![PathBuf::from("config/feature_flags")]
}

fn default_state() -> String {
    "sqlite:.vexil/state.db".into()
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawSigning {
    key: Option<PathBuf>,
    #[serde(default)]
    public_keys: Vec<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawConsistency {
    staging: Option<String>,
    production: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEnvironment {
    name: String,
    #[serde(default, rename = "target")]
    targets: Vec<RawTarget>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTarget {
    name: Option<String>,
    kind: String,
    path: Option<PathBuf>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProductionCheck {
    command: String,
}

/// Where an environment's snapshots are pushed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TargetConfig {
    /// A name to refer to it by (`local` unless given).
    pub name: String,
    /// The kind of target.
    pub kind: TargetKind,
}

/// Target kinds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TargetKind {
    /// A local directory, servable by any static server or CDN origin.
    Directory {
        /// Absolute path.
        path: PathBuf,
    },
}

/// One environment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Environment {
    /// Its name, also its `feature set` switch (`--staging-ref`).
    pub name: String,
    /// Push targets.
    pub targets: Vec<TargetConfig>,
}

/// Where state lives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StateConfig {
    /// An SQLite file.
    Sqlite(PathBuf),
}

/// A loaded, validated `vexil.toml`.
#[derive(Clone, Debug)]
pub struct Config {
    /// The project directory (where `vexil.toml` is).
    pub root: PathBuf,
    /// Definition roots, relative to `root`.
    pub definitions: Vec<PathBuf>,
    /// The state database.
    pub state: StateConfig,
    /// Environments, in the order multi-environment commands apply them.
    pub environments: Vec<Environment>,
    /// The environment commands use when none is named.
    pub default_environment: String,
    /// The environments playing "staging" and "production" in the consistency check.
    pub staging: Option<String>,
    /// See `staging`.
    pub production: Option<String>,
    /// Feature groups: Flipper expressions over an actor's properties.
    pub groups: BTreeMap<String, Expr>,
    /// The signing key file, if snapshots are signed.
    pub signing_key: Option<PathBuf>,
    /// Public keys snapshots may be signed with (several while rotating).
    pub public_keys: Vec<[u8; 32]>,
    /// A command that must succeed before production changes.
    pub production_check: Option<String>,
}

impl Config {
    /// Loads `<root>/vexil.toml`.
    pub fn load(root: &Path) -> Result<Config> {
        let path = root.join(FILE);
        let text =
            std::fs::read_to_string(&path).map_err(|e| Error::io(format!("cannot read {}: {e}", path.display())))?;
        Config::parse(root, &text).map_err(|e| e.context(path.display()))
    }

    /// Parses the text of a `vexil.toml` whose project is `root`.
    pub fn parse(root: &Path, text: &str) -> Result<Config> {
        let raw: Raw = toml::from_str(text).map_err(|e| Error::refused(e.to_string().trim_end().to_string()))?;
        let state = match raw.state.split_once(':') {
            Some(("sqlite", path)) => StateConfig::Sqlite(root.join(path)),
            _ => return Err(Error::refused(format!("state = {:?}: expected \"sqlite:<path>\"", raw.state))),
        };
        let mut environments: Vec<Environment> = Vec::new();
        for e in raw.environments {
            let valid = !e.name.is_empty()
                && e.name.as_bytes()[0].is_ascii_lowercase()
                && e.name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
            if !valid {
                return Err(Error::refused(format!(
                    "environment {:?}: names are lowercase letters, digits and dashes, starting with a letter (they become --{0} switches)",
                    e.name
                )));
            }
            if RESERVED.contains(&e.name.as_str()) {
                return Err(Error::refused(format!(
                    "environment {:?}: the name is taken by a `feature set` option",
                    e.name
                )));
            }
            if environments.iter().any(|x| x.name == e.name) {
                return Err(Error::refused(format!("environment {:?} is listed twice", e.name)));
            }
            let mut targets: Vec<TargetConfig> = Vec::new();
            for (i, t) in e.targets.into_iter().enumerate() {
                let name = t.name.unwrap_or_else(|| if i == 0 { "local".into() } else { format!("target{}", i + 1) });
                if targets.iter().any(|x| x.name == name) {
                    return Err(Error::refused(format!("environment {:?}: two targets are called {name:?}", e.name)));
                }
                let kind = match t.kind.as_str() {
                    "directory" => TargetKind::Directory {
                        path: root.join(t.path.ok_or_else(|| {
                            Error::refused(format!(
                                "environment {:?}, target {name:?}: a directory target needs `path`",
                                e.name
                            ))
                        })?),
                    },
                    other => {
                        return Err(Error::refused(format!(
                            "environment {:?}, target {name:?}: unknown kind {other:?} (expected \"directory\")",
                            e.name
                        )))
                    }
                };
                targets.push(TargetConfig { name, kind });
            }
            environments.push(Environment { name: e.name, targets });
        }
        if environments.is_empty() {
            return Err(Error::refused("no [[environment]] is defined"));
        }
        let has = |name: &str| environments.iter().any(|e| e.name == name);
        let default_environment = match raw.default_environment {
            Some(d) if has(&d) => d,
            Some(d) => return Err(Error::refused(format!("default_environment {d:?} is not a defined environment"))),
            None if has("production") => "production".into(),
            None => environments.last().map(|e| e.name.clone()).unwrap_or_default(),
        };
        let pick = |given: Option<String>, fallback: &str, role: &str| -> Result<Option<String>> {
            match given {
                Some(g) if has(&g) => Ok(Some(g)),
                Some(g) => Err(Error::refused(format!("[consistency] {role} = {g:?} is not a defined environment"))),
                None => Ok(has(fallback).then(|| fallback.to_string())),
            }
        };
        let staging = pick(raw.consistency.staging, "staging", "staging")?;
        let production = pick(raw.consistency.production, "production", "production")?;

        let mut groups = BTreeMap::new();
        for (name, value) in raw.groups {
            if !crate::definitions::valid_name(&name) {
                return Err(Error::refused(format!("group {name:?}: group names match ^[a-z0-9]+(_[a-z0-9]+)*$")));
            }
            let json = match value {
                toml::Value::String(text) => {
                    serde_json::from_str(&text).map_err(|e| Error::refused(format!("group {name:?}: not JSON: {e}")))?
                }
                other => serde_json::to_value(other).map_err(|e| Error::refused(format!("group {name:?}: {e}")))?,
            };
            let expr = Expr::from_json(&json).map_err(|e| Error::refused(format!("group {name:?}: {e}")))?;
            groups.insert(name, expr);
        }

        let mut public_keys = Vec::new();
        for k in &raw.signing.public_keys {
            public_keys.push(decode_key(k).map_err(|e| Error::refused(format!("[signing] public_keys: {e}")))?);
        }
        Ok(Config {
            root: root.to_path_buf(),
            definitions: raw.definitions,
            state,
            environments,
            default_environment,
            staging,
            production,
            groups,
            signing_key: raw.signing.key.map(|k| root.join(k)),
            public_keys,
            production_check: raw.production_check.map(|p| p.command),
        })
    }

    /// The environment called `name`.
    pub fn environment(&self, name: &str) -> Result<&Environment> {
        self.environments.iter().find(|e| e.name == name).ok_or_else(|| {
            let names: Vec<&str> = self.environments.iter().map(|e| e.name.as_str()).collect();
            Error::refused(format!("unknown environment {name:?} (defined: {})", names.join(", ")))
        })
    }

    /// Names of all environments, in order.
    pub fn environment_names(&self) -> Vec<&str> {
        self.environments.iter().map(|e| e.name.as_str()).collect()
    }
}

/// Decodes a base64 ed25519 public key.
pub fn decode_key(text: &str) -> std::result::Result<[u8; 32], String> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .map_err(|e| format!("{text:?} is not base64: {e}"))?;
    bytes.try_into().map_err(|b: Vec<u8>| format!("{text:?} is {} bytes, an ed25519 public key is 32", b.len()))
}

/// Encodes a public key as `vexil.toml` and the SDKs take it.
pub fn encode_key(key: &[u8; 32]) -> String {
    base64::engine::general_purpose::STANDARD.encode(key)
}

/// The `vexil.toml` that `vexil init` writes.
pub fn template() -> String {
    let mut out = String::from(
        r#"# vexil project: flags are defined in config/feature_flags/<type>/<name>.yml (GitLab's layout)
# and flipped per environment with `vexil feature set`.

# Where flag definitions live; add "ee/config/feature_flags" for a GitLab EE layout.
definitions = ["config/feature_flags"]

# The state database: every version of every environment and the change log.
state = "sqlite:.vexil/state.db"

# Commands that name no environment act on this one, as chatops does.
default_environment = "production"

# The consistency check: no disabling on staging while production is on, no enabling on
# production while staging is off (override with --ignore-feature-flag-consistency-check).
[consistency]
staging = "staging"
production = "production"

# Snapshots are signed when a key is configured: run `vexil keygen`.
[signing]
# key = ".vexil/signing.key"
# public_keys = []

# Feature groups: a Flipper expression over the actor's properties (and `flipper_id`).
[groups]
gitlab_team_members = { Equal = [{ Property = ["team"] }, "gitlab"] }
"#,
    );
    for env in GITLAB_ENVIRONMENTS {
        out.push_str(&format!(
            "\n[[environment]]\nname = \"{env}\"\n[[environment.target]]\nkind = \"directory\"\npath = \"public/{env}\"\n"
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_parses_with_gitlab_defaults() {
        let c = Config::parse(Path::new("/p"), &template()).unwrap();
        assert_eq!(c.environment_names(), GITLAB_ENVIRONMENTS);
        assert_eq!(c.default_environment, "production");
        assert_eq!((c.staging.as_deref(), c.production.as_deref()), (Some("staging"), Some("production")));
        assert_eq!(c.state, StateConfig::Sqlite(PathBuf::from("/p/.vexil/state.db")));
        assert!(c.groups.contains_key("gitlab_team_members"));
        assert_eq!(
            c.environments[5].targets[0].kind,
            TargetKind::Directory { path: PathBuf::from("/p/public/production") }
        );
    }

    #[test]
    fn refuses_with_the_field_named() {
        for (text, needle) in [
            ("[[environment]]\nname = \"Prod\"\n", "\"Prod\""),
            ("[[environment]]\nname = \"actors\"\n", "taken"),
            ("state = \"mysql:x\"\n[[environment]]\nname = \"a\"\n", "state"),
            ("[[environment]]\nname = \"a\"\n[[environment.target]]\nkind = \"ftp\"\n", "unknown kind"),
            ("[[environment]]\nname = \"a\"\n[groups]\nx = { Nope = [] }\n", "unknown function"),
            ("bogus = 1\n", "unknown field"),
            ("default_environment = \"x\"\n[[environment]]\nname = \"a\"\n", "default_environment"),
        ] {
            let err = Config::parse(Path::new("/p"), text).unwrap_err().to_string();
            assert!(err.contains(needle), "{text:?}: {err}");
        }
    }
}
