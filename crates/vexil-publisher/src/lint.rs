//! `vexil lint`: the definitions as GitLab validates them, the rollout plans, and what browsers would receive
//! judged on what each environment's next commit would publish — its persisted gates
//! (expressions live there, and which groups a flag uses) with the definitions and
//! vexil.toml as they are now.

use crate::audience::{self, Exposure};
use crate::config;
use crate::definitions::{Problem, Severity};
use crate::error::Result;
use crate::plan::compose;
use crate::project::Project;
use serde::Serialize;

/// Everything lint found.
#[derive(Clone, Debug, Serialize)]
pub struct LintReport {
    /// How many definitions loaded.
    pub definitions: usize,
    /// How many problems are errors (a commit would be refused).
    pub errors: usize,
    /// The definitions' problems, in file order, then the rollout plans'.
    pub problems: Vec<Problem>,
    /// Client-side flags a commit would refuse: browsers cannot evaluate them.
    pub browser_errors: Vec<String>,
    /// Literals in what browsers receive that look like they identify someone.
    pub browser_exposures: Vec<Exposure>,
    /// vexil.toml `client_side` entries that match no defined flag.
    pub unmatched_client_side: Vec<String>,
}

impl LintReport {
    /// How many problems are warnings.
    pub fn warnings(&self) -> usize {
        self.problems.len() + self.browser_errors.len() - self.errors
            + self.unmatched_client_side.len()
            + self.browser_exposures.len()
    }
}

impl Project {
    /// Lints the project.
    pub fn lint(&mut self) -> Result<LintReport> {
        let mut exposures = Vec::new();
        let mut unbrowsable = Vec::new();
        for env in self.config.environment_names().into_iter().map(String::from).collect::<Vec<_>>() {
            let persisted = self.persisted(&env)?;
            let next = compose(&self.config, &self.definitions, &env, 0, 0, &persisted);
            exposures.extend(audience::exposures(&next));
            if let Err(e) = audience::browser_environment(&next) {
                unbrowsable.push(e.to_string());
            }
        }
        let unmatched: Vec<String> = self
            .config
            .client_side
            .iter()
            .filter(|pat| !self.definitions.by_name.keys().any(|n| config::glob_matches(pat, n)))
            .cloned()
            .collect();
        let defs = &self.definitions;
        let mut problems = defs.problems.clone();
        problems.extend(crate::rollout::validate::lint(&self.config, defs));
        Ok(LintReport {
            definitions: defs.by_name.len(),
            errors: problems.iter().filter(|x| x.severity == Severity::Error).count() + unbrowsable.len(),
            problems,
            browser_errors: unbrowsable,
            browser_exposures: exposures,
            unmatched_client_side: unmatched,
        })
    }
}
