//! Feature flag definitions: `config/feature_flags/<type>/<name>.yml`, loaded and validated
//! exactly as GitLab's `Feature::Definition` does (`lib/feature/definition.rb`), so that
//! GitLab's own files load unchanged and every file GitLab refuses is refused here, with its
//! file and line.

pub mod yaml;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use vexil_core::FlagType;
use yaml::Value;

/// GitLab's `VALID_FEATURE_NAME`: `^[a-z0-9]+(_[a-z0-9]+)*$`.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('_')
        && !name.ends_with('_')
        && !name.contains("__")
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// One flag's definition.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Definition {
    /// The flag's name.
    pub name: String,
    /// Its type.
    #[serde(rename = "type", serialize_with = "ser_type", deserialize_with = "de_type")]
    pub flag_type: FlagType,
    /// Whether it is on while nothing is persisted.
    pub default_enabled: bool,
    /// The milestone it was introduced in (`'16.9'`).
    pub milestone: Option<String>,
    /// The owning group (`group::composition analysis`).
    pub group: Option<String>,
    /// The issue describing the feature.
    pub feature_issue_url: Option<String>,
    /// The merge request that introduced the flag.
    pub introduced_by_url: Option<String>,
    /// The rollout issue.
    pub rollout_issue_url: Option<String>,
    /// Whether GitLab logs its state changes.
    pub log_state_changes: bool,
    /// When the rollout is meant to finish.
    pub intended_to_rollout_by: Option<String>,
    /// Whether browsers may see the flag (a vexil key GitLab ignores).
    pub client_side: bool,
    /// The file, relative to the project.
    pub path: PathBuf,
}

fn ser_type<S: serde::Serializer>(t: &FlagType, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(t.name())
}

fn de_type<'de, D: serde::Deserializer<'de>>(d: D) -> Result<FlagType, D::Error> {
    let name = <String as serde::Deserialize>::deserialize(d)?;
    FlagType::from_name(&name).ok_or_else(|| serde::de::Error::custom(format!("unknown flag type {name:?}")))
}

/// How bad a problem is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// GitLab would refuse the file.
    Error,
    /// GitLab accepts the file, but it is probably a mistake.
    Warning,
}

/// A problem in a definition file.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Problem {
    /// The file, relative to the project.
    pub path: PathBuf,
    /// 1-based line.
    pub line: usize,
    /// Error or warning.
    pub severity: Severity,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sev = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        write!(f, "{}:{}: {sev}: {}", self.path.display(), self.line, self.message)
    }
}

/// Every definition of a project, and every problem found loading them.
#[derive(Clone, Debug, Default)]
pub struct Definitions {
    /// Definitions by name (the first file wins when a name is defined twice).
    pub by_name: BTreeMap<String, Definition>,
    /// Problems, in file order.
    pub problems: Vec<Problem>,
}

impl Definitions {
    /// Whether any problem is an error.
    pub fn has_errors(&self) -> bool {
        self.problems.iter().any(|p| p.severity == Severity::Error)
    }

    /// The defined names closest to `name`, best first, for "did you mean".
    pub fn suggest(&self, name: &str) -> Vec<&str> {
        let mut scored: Vec<(f64, &str)> = self
            .by_name
            .keys()
            .map(|k| (strsim::jaro_winkler(name, k), k.as_str()))
            .filter(|(score, _)| *score > 0.8)
            .collect();
        scored.sort_by(|a, b| b.0.total_cmp(&a.0));
        scored.into_iter().take(3).map(|(_, k)| k).collect()
    }
}

/// Loads every `*.yml` under each of `roots` (relative to `project`), in path order.
pub fn load(project: &Path, roots: &[PathBuf]) -> Definitions {
    let mut files = Vec::new();
    for root in roots {
        collect(&project.join(root), &mut files);
    }
    files.sort();
    let mut defs = Definitions::default();
    for file in files {
        let rel = file.strip_prefix(project).unwrap_or(&file).to_path_buf();
        match std::fs::read_to_string(&file) {
            Ok(text) => {
                let (def, mut problems) = parse(&rel, &text);
                defs.problems.append(&mut problems);
                if let Some(def) = def {
                    if let Some(first) = defs.by_name.get(&def.name) {
                        defs.problems.push(Problem {
                            path: rel,
                            line: 1,
                            severity: Severity::Error,
                            message: format!(
                                "Feature flag '{}' is already defined in '{}'",
                                def.name,
                                first.path.display()
                            ),
                        });
                    } else {
                        defs.by_name.insert(def.name.clone(), def);
                    }
                }
            }
            Err(e) => defs.problems.push(Problem {
                path: rel,
                line: 1,
                severity: Severity::Error,
                message: format!("cannot read: {e}"),
            }),
        }
    }
    defs
}

/// What the definition files look like on disk (each file's path, size and modification
/// time): a long-running `vexil serve` reloads the definitions only when this changes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Fingerprint(Vec<(PathBuf, u64, Option<std::time::SystemTime>)>);

impl Fingerprint {
    /// The files under each of `roots` (relative to `project`) as they are now.
    pub fn of(project: &Path, roots: &[PathBuf]) -> Fingerprint {
        let mut files = Vec::new();
        for root in roots {
            collect(&project.join(root), &mut files);
        }
        files.sort();
        Fingerprint(
            files
                .into_iter()
                .map(|f| {
                    let meta = std::fs::metadata(&f).ok();
                    let (len, modified) = (meta.as_ref().map_or(0, |m| m.len()), meta.and_then(|m| m.modified().ok()));
                    (f, len, modified)
                })
                .collect(),
        )
    }
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect(&path, out);
        } else if path.extension().is_some_and(|e| e == "yml") {
            out.push(path);
        }
    }
}

const KNOWN_KEYS: &[&str] = &[
    "name",
    "feature_issue_url",
    "introduced_by_url",
    "rollout_issue_url",
    "milestone",
    "log_state_changes",
    "type",
    "group",
    "default_enabled",
    "intended_to_rollout_by",
    "client_side",
];

/// Validates one file's text as GitLab's `Feature::Definition#validate!` would, reporting
/// every problem rather than only the first.
pub fn parse(path: &Path, text: &str) -> (Option<Definition>, Vec<Problem>) {
    let mut problems = Vec::new();
    let mut error = |line: usize, message: String| {
        problems.push(Problem { path: path.to_path_buf(), line, severity: Severity::Error, message })
    };
    let (entries, duplicates) = match yaml::parse_mapping(text) {
        Ok(parsed) => parsed,
        Err(e) => {
            error(e.line, format!("invalid YAML: {}", e.message));
            return (None, problems);
        }
    };
    let get = |key: &str| entries.iter().find(|e| e.key == key);
    let line_of = |key: &str| get(key).map_or(1, |e| e.line);
    let string = |key: &str| match get(key).map(|e| &e.value) {
        Some(Value::Str(s)) if !s.is_empty() => Some(s.clone()),
        _ => None,
    };

    let name = match get("name").map(|e| &e.value) {
        None | Some(Value::Null) => {
            error(1, "Feature flag is missing name".into());
            None
        }
        Some(Value::Str(s)) if s.trim().is_empty() => {
            error(line_of("name"), "Feature flag is missing name".into());
            None
        }
        Some(Value::Str(s)) if !valid_name(s) => {
            error(line_of("name"), format!("Feature flag '{s}' is invalid: names match ^[a-z0-9]+(_[a-z0-9]+)*$"));
            None
        }
        Some(Value::Str(s)) => Some(s.clone()),
        Some(other) => {
            error(line_of("name"), format!("Feature flag name must be a string, not {}", other.ruby_class()));
            None
        }
    };
    let shown =
        name.clone().unwrap_or_else(|| path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default());

    let flag_type = match get("type").map(|e| &e.value) {
        None | Some(Value::Null) => {
            error(1, format!("Feature flag '{shown}' is missing `type`. Ensure to update {}", path.display()));
            None
        }
        Some(Value::Str(t)) if t.is_empty() => {
            error(
                line_of("type"),
                format!("Feature flag '{shown}' is missing `type`. Ensure to update {}", path.display()),
            );
            None
        }
        Some(Value::Str(t)) => match FlagType::from_name(t) {
            Some(ft) => Some(ft),
            None => {
                let known: Vec<&str> = FlagType::ALL.iter().map(|t| t.name()).collect();
                error(
                    line_of("type"),
                    format!(
                        "Feature flag '{shown}' type '{t}' is invalid (one of: {}). Ensure to update {}",
                        known.join(", "),
                        path.display()
                    ),
                );
                None
            }
        },
        Some(other) => {
            error(line_of("type"), format!("Feature flag '{shown}' type must be a string, not {}", other.ruby_class()));
            None
        }
    };

    if let (Some(name), Some(flag_type)) = (&name, flag_type) {
        let file_ok =
            path.file_stem().is_some_and(|s| s == name.as_str()) && path.extension().is_some_and(|e| e == "yml");
        let dir_ok = path.parent().and_then(Path::file_name).is_some_and(|d| d == flag_type.name());
        if !file_ok || !dir_ok {
            error(
                1,
                format!(
                    "Feature flag '{name}' has an invalid path: '{}' (expected .../{}/{name}.yml). Ensure to update {}",
                    path.display(),
                    flag_type.name(),
                    path.display()
                ),
            );
        }
    }

    let milestone = match get("milestone").map(|e| &e.value) {
        None | Some(Value::Null) => None,
        Some(Value::Str(s)) => Some(s.clone()),
        Some(other) => {
            error(
                line_of("milestone"),
                format!(
                    "Feature flag '{shown}' milestone must be a string, not {} (quote it: '16.9')",
                    other.ruby_class()
                ),
            );
            None
        }
    };

    let default_enabled = match get("default_enabled").map(|e| &e.value) {
        None | Some(Value::Null) => {
            error(
                line_of("default_enabled"),
                format!("Feature flag '{shown}' is missing `default_enabled`. Ensure to update {}", path.display()),
            );
            None
        }
        Some(Value::Bool(b)) => Some(*b),
        Some(other) => {
            error(
                line_of("default_enabled"),
                format!("Feature flag '{shown}' default_enabled must be true or false, not {}", other.ruby_class()),
            );
            None
        }
    };
    if let (Some(true), Some(t)) = (default_enabled, flag_type) {
        if !t.can_be_default_enabled() {
            error(
                line_of("default_enabled"),
                format!("Feature flag '{shown}' cannot have `default_enabled` set to `true` (type {} cannot). Ensure to update {}", t.name(), path.display()),
            );
        }
    }

    let boolean = |key: &str, problems: &mut Vec<Problem>| match get(key).map(|e| &e.value) {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(other) => {
            problems.push(Problem {
                path: path.to_path_buf(),
                line: line_of(key),
                severity: Severity::Warning,
                message: format!("`{key}` should be true or false, not {}; read as false", other.ruby_class()),
            });
            false
        }
    };
    let log_state_changes = boolean("log_state_changes", &mut problems);
    let client_side = boolean("client_side", &mut problems);

    for e in &entries {
        if !KNOWN_KEYS.contains(&e.key.as_str()) {
            problems.push(Problem {
                path: path.to_path_buf(),
                line: e.line,
                severity: Severity::Warning,
                message: format!("unknown key `{}` (GitLab ignores it)", e.key),
            });
        }
    }
    for d in duplicates {
        problems.push(Problem {
            path: path.to_path_buf(),
            line: d.line,
            severity: Severity::Warning,
            message: format!("`{}` is given twice; the later value wins", d.key),
        });
    }

    let def = match (name, flag_type, default_enabled) {
        (Some(name), Some(flag_type), Some(default_enabled))
            if !problems.iter().any(|p| p.severity == Severity::Error) =>
        {
            Some(Definition {
                name,
                flag_type,
                default_enabled,
                milestone,
                group: string("group"),
                feature_issue_url: string("feature_issue_url"),
                introduced_by_url: string("introduced_by_url"),
                rollout_issue_url: string("rollout_issue_url"),
                log_state_changes,
                intended_to_rollout_by: string("intended_to_rollout_by"),
                client_side,
                path: path.to_path_buf(),
            })
        }
        _ => None,
    };
    (def, problems)
}

/// The definition `vexil init` writes, in the layout and key order of GitLab's
/// `bin/feature-flag`.
pub fn template(name: &str, flag_type: FlagType, group: &str) -> String {
    format!(
        "---\nname: {name}\nfeature_issue_url:\nintroduced_by_url:\nrollout_issue_url:\nmilestone: '1.0'\ngroup: {group}\ntype: {}\ndefault_enabled: false\n",
        flag_type.name()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for ok in ["a", "my_flag", "a1_b2", "0day"] {
            assert!(valid_name(ok), "{ok}");
        }
        for bad in ["", "_a", "a_", "a__b", "My_flag", "my-flag", "my flag", "ü"] {
            assert!(!valid_name(bad), "{bad}");
        }
    }
}
