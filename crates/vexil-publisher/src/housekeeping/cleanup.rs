//! `vexil cleanup FLAG`: the template's "Release the feature" in one command. Refused while
//! the flag is conditional anywhere or a rollout runs it (unless forced) and while code still
//! names it (unless told to ignore that); then one transaction removes its state from every
//! environment and publishes each without it (a version each, logged, announced), and only
//! after that commit is the definition file removed. Killed in between, the state is gone
//! and the file is not; running the command again finds nothing left to commit and removes
//! the file. The file is never gone while the state remains.

use super::refs::Reference;
use crate::error::{Error, Result};
use crate::plan::Request;
use crate::project::{Origin, Project, Published};
use serde::Serialize;
use std::path::PathBuf;

/// What may be overridden.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CleanupOptions {
    /// Say what would happen; change nothing.
    pub dry_run: bool,
    /// Clean up a flag still conditional somewhere or with a rollout running.
    pub force: bool,
    /// Clean up while code still names the flag.
    pub ignore_references: bool,
}

/// What `vexil cleanup` did (or, dry, would do).
#[derive(Clone, Debug, Serialize)]
pub struct CleanupReport {
    /// The flag.
    pub flag: String,
    /// Nothing was changed.
    pub dry_run: bool,
    /// The definition file removed.
    pub definition: Option<PathBuf>,
    /// The rollout plan removed with it.
    pub plan: Option<PathBuf>,
    /// The environments that held the flag.
    pub environments: Vec<String>,
    /// References left in the code (only with `ignore_references`).
    pub references: Vec<Reference>,
    /// The versions published.
    pub published: Vec<Published>,
    /// What the team's channels and the person are told besides.
    pub notices: Vec<String>,
    /// The merge request's changelog entry, as GitLab's housekeeper writes it.
    pub changelog: String,
}

impl Project {
    /// Removes `flag` everywhere, as the module says.
    pub fn cleanup(&mut self, flag: &str, options: &CleanupOptions, origin: &Origin) -> Result<CleanupReport> {
        let flag = crate::plan::flag_name(flag);
        let definition = self.definitions.by_name.get(&flag).map(|d| d.path.clone());
        let mut holding = Vec::new();
        for env in self.config.environment_names().into_iter().map(String::from).collect::<Vec<_>>() {
            let Some((_, head)) = self.latest_snapshot(&env)? else { continue };
            if let Some(held) = head.flag(&flag) {
                holding.push((env, held.to_flag()));
            }
        }
        if definition.is_none() && holding.is_empty() {
            return Err(super::refs::unknown_flag(self, &flag));
        }
        // Checked again in the commit; here so that no tree is searched for a refused cleanup.
        if !options.force {
            crate::plan::refuse_conditional(&flag, &holding)?;
        }
        let environments: Vec<String> = holding.into_iter().map(|(env, _)| env).collect();
        if let (Some(row), false) =
            (self.store().rollouts()?.into_iter().filter(|r| r.flag == flag).max_by_key(|r| r.id), options.force)
        {
            if crate::store::is_active(&row.status) {
                return Err(crate::rollout::running_refusal(&row));
            }
        }
        let references = self.refs(std::slice::from_ref(&flag))?.references;
        if !references.is_empty() && !options.ignore_references {
            let shown: Vec<String> = references
                .iter()
                .take(20)
                .map(|r| format!("{}:{}:{}: {} ({})", r.path.display(), r.line, r.column, r.text, r.form))
                .collect();
            let more = references.len().saturating_sub(shown.len());
            return Err(Error::refused(format!(
                "the code still names `{flag}` in {} place(s); remove them first (the template's first step), or pass --ignore-references:\n  {}{}",
                references.len(),
                shown.join("\n  "),
                if more > 0 { format!("\n  … and {more} more (`vexil refs {flag}` lists them all)") } else { String::new() }
            )));
        }
        let plan_file = self.config.rollouts.plans.join(format!("{flag}.yml"));
        let plan = self.config.root.join(&plan_file).is_file().then_some(plan_file);
        let mut report = CleanupReport {
            changelog: format!("Delete the `{flag}` feature flag\n\nChangelog: removed"),
            flag,
            dry_run: options.dry_run,
            definition,
            plan,
            environments,
            references,
            published: Vec::new(),
            notices: Vec::new(),
        };
        if options.dry_run {
            return Ok(report);
        }
        report.published = self.apply(&Request::Cleanup { flag: report.flag.clone(), force: options.force }, origin)?;
        report.notices = self.take_notices();
        // Committed: the state is gone everywhere, so the files may go.
        for file in report.plan.iter().chain(&report.definition) {
            let path = self.config.root.join(file);
            match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    return Err(Error::io(format!(
                        "the state of `{}` is removed everywhere, but {} could not be: {e}; remove it by hand or run `vexil cleanup {}` again",
                        report.flag,
                        path.display(),
                        report.flag
                    )))
                }
            }
        }
        self.refresh_definitions();
        Ok(report)
    }
}
