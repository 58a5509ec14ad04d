//! `vexil refs`: every place the code base names a flag, as file:line:column with the form
//! that names it — and the names code uses that no definition has (typos, or flags removed
//! from YAML while code still reads them).

pub mod forms;
pub mod search;

pub use forms::{Alias, Case};

use crate::config::Config;
use crate::definitions::Definitions;
use crate::error::{Error, Result};
use crate::project::Project;
use search::Tree;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

/// One reference.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Reference {
    /// The file, relative to the project.
    pub path: PathBuf,
    /// 1-based line.
    pub line: u64,
    /// 1-based column, in characters.
    pub column: u64,
    /// The flag.
    pub flag: String,
    /// The form that names it.
    pub form: String,
    /// Whether the flag has a definition.
    pub defined: bool,
    /// The line, trimmed.
    pub text: String,
}

/// What `vexil refs` reports.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RefsReport {
    /// Every reference, by file, line and column.
    pub references: Vec<Reference>,
    /// References per flag (every flag asked about, zero included).
    pub counts: BTreeMap<String, usize>,
    /// How many of the references name a flag without definition.
    pub undefined: usize,
    /// Files searched.
    pub files: u64,
}

impl Project {
    /// The references to `only` (every defined flag, and any name code uses that no
    /// definition has, when empty). Each flag asked about must be defined or set somewhere.
    pub fn refs(&mut self, only: &[String]) -> Result<RefsReport> {
        self.check_known(only)?;
        find(&self.config, &self.definitions, only)
    }

    /// The regular expression [`Project::refs`] searches every file for.
    pub fn refs_pattern(&mut self, only: &[String]) -> Result<String> {
        self.check_known(only)?;
        Ok(forms_for(&self.config, &self.definitions, only).0.search)
    }

    fn check_known(&mut self, only: &[String]) -> Result<()> {
        if !only.is_empty() {
            let mut known: BTreeSet<String> = self.definitions.by_name.keys().cloned().collect();
            for env in self.config.environment_names().into_iter().map(String::from).collect::<Vec<_>>() {
                known.extend(self.persisted(&env)?.into_keys());
            }
            if let Some(flag) = only.iter().find(|f| !known.contains(*f)) {
                return Err(unknown_flag(self, flag));
            }
        }
        Ok(())
    }
}

/// The references to `only`, or to every defined flag and any name code uses that no
/// definition has.
pub fn find(config: &Config, definitions: &Definitions, only: &[String]) -> Result<RefsReport> {
    let (forms, asked) = forms_for(config, definitions, only);
    let exclude = exclusions(config);
    let tree = Tree { root: &config.root, paths: &config.refs.paths, exclude: &exclude };
    let (hits, files) = search::search(&tree, &forms)?;
    let wanted = |flag: &str| only.is_empty() || only.iter().any(|o| o == flag);
    let references: Vec<Reference> = hits
        .into_iter()
        .filter(|h| wanted(&h.flag))
        .map(|h| Reference {
            defined: definitions.by_name.contains_key(&h.flag),
            path: h.path,
            line: h.line,
            column: h.column,
            flag: h.flag,
            form: h.form,
            text: h.text,
        })
        .collect();
    let mut counts: BTreeMap<String, usize> = asked.iter().map(|f| (f.to_string(), 0)).collect();
    for r in &references {
        *counts.entry(r.flag.clone()).or_default() += 1;
    }
    let undefined = references.iter().filter(|r| !r.defined).count();
    Ok(RefsReport { references, counts, undefined, files })
}

/// The forms of the flags asked about (all defined ones when none), and their names.
fn forms_for<'a>(config: &Config, definitions: &'a Definitions, only: &'a [String]) -> (forms::Forms, Vec<&'a str>) {
    let asked: Vec<&str> = if only.is_empty() {
        definitions.by_name.keys().map(String::as_str).collect()
    } else {
        only.iter().map(String::as_str).collect()
    };
    (forms::Forms::new(asked.iter().copied(), &config.refs.aliases), asked)
}

/// vexil.toml's exclusions, and the project's own flag files: a definition or a plan names
/// its flag without being code that reads it.
fn exclusions(config: &Config) -> Vec<String> {
    let root = &config.root;
    let own = config
        .definitions
        .iter()
        .chain(std::iter::once(&config.rollouts.plans))
        .map(|d| d.strip_prefix(root).unwrap_or(d).to_path_buf())
        .map(|d| format!("/{}/", d.display().to_string().trim_end_matches('/')))
        .chain([format!("/{}", crate::config::FILE)]);
    config.refs.exclude.iter().cloned().chain(own).collect()
}

/// A flag that is neither defined nor set anywhere, with near names.
pub(crate) fn unknown_flag(p: &Project, flag: &str) -> Error {
    let near = p.definitions.suggest(flag);
    let hint = match near.as_slice() {
        [] => String::new(),
        s => format!("; did you mean {}?", s.iter().map(|x| format!("`{x}`")).collect::<Vec<_>>().join(" or ")),
    };
    Error::refused(format!("no flag `{flag}`: it has no definition and no environment holds state for it{hint}"))
}
