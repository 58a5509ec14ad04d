//! What an entry point asks of a project, wherever the project is: here, over its state
//! database ([`Project`]), or behind a `vexil serve --api` elsewhere
//! ([`crate::remote::Remote`]). The CLI is written against this trait, so the local and the
//! remote `vexil` give the same answers, output and exit codes.

use crate::entity::FeatureEntity;
use crate::error::Result;
use crate::plan::{self, Request};
use crate::project::{FeatureList, Origin, Project, Published, StatusRow};
use crate::store::{Change, LogFilter};
use serde::{Deserialize, Serialize};

/// What a change did: each environment's new version and pushes and, for a change to one
/// flag, that flag in each of them afterwards.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Applied {
    /// Per environment, in vexil.toml's order.
    pub published: Vec<Published>,
    /// For `feature set` and `feature delete`: the flag in each environment changed.
    pub features: Vec<FeatureEntity>,
    /// What the change did besides itself: a rollout of the flag it paused.
    #[serde(default)]
    pub notices: Vec<String>,
}

/// The operations entry points share.
pub trait Flags {
    /// Applies `request` (with `repair`, a publish rewrites targets holding foreign bytes).
    fn change(&mut self, request: &Request, origin: &Origin, repair: bool) -> Result<Applied>;
    /// `flag` in each of `environments` (none: the default environment).
    fn features(&mut self, flag: &str, environments: &[String]) -> Result<Vec<FeatureEntity>>;
    /// The persisted flags of each of `environments` whose name contains `pattern`.
    fn feature_lists(&mut self, pattern: &str, environments: &[String]) -> Result<Vec<FeatureList>>;
    /// The change log, newest first.
    fn log(&mut self, filter: &LogFilter) -> Result<Vec<Change>>;
    /// Each target's version against the database's.
    fn status(&mut self) -> Result<Vec<StatusRow>>;
}

impl Flags for Project {
    fn change(&mut self, request: &Request, origin: &Origin, repair: bool) -> Result<Applied> {
        let published = match request {
            Request::Publish { environments } => self.publish(environments, origin, repair)?,
            other => self.apply(other, origin)?,
        };
        let notices = self.take_notices();
        let flag = match request {
            Request::Set { set, .. } => Some(set.flag.clone()),
            Request::Delete { flag, .. } => Some(flag.clone()),
            _ => None,
        };
        let features = match flag {
            Some(flag) => published.iter().map(|x| self.feature(&x.environment, &flag)).collect::<Result<_>>()?,
            None => Vec::new(),
        };
        Ok(Applied { published, features, notices })
    }

    fn features(&mut self, flag: &str, environments: &[String]) -> Result<Vec<FeatureEntity>> {
        let envs = plan::named_environments(&self.config, environments)?;
        envs.iter().map(|env| self.feature(env, flag)).collect()
    }

    fn feature_lists(&mut self, pattern: &str, environments: &[String]) -> Result<Vec<FeatureList>> {
        let envs = plan::named_environments(&self.config, environments)?;
        envs.iter().map(|env| self.feature_list(env, pattern)).collect()
    }

    fn log(&mut self, filter: &LogFilter) -> Result<Vec<Change>> {
        Project::log(self, filter)
    }

    fn status(&mut self) -> Result<Vec<StatusRow>> {
        Project::status(self)
    }
}

/// A change request as it crosses the wire to `vexil serve --api`: the form the CLI parsed,
/// which the server validates again, whoever sent it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum RequestBody {
    /// `feature set`.
    Set {
        /// The flag.
        flag: String,
        /// The value as typed.
        value: String,
        /// `--actors`.
        #[serde(default)]
        actors: bool,
        /// `--random` (with the deprecation check ignored: a request that says so asked).
        #[serde(default)]
        random: bool,
        /// Actors and feature groups.
        #[serde(default)]
        targets: Vec<TargetBody>,
        /// The environments named.
        #[serde(default)]
        environments: Vec<String>,
        /// `--force`.
        #[serde(default)]
        force: bool,
        /// `--ignore-feature-flag-consistency-check`.
        #[serde(default)]
        ignore_feature_flag_consistency_check: bool,
        /// `--ignore-production-check`.
        #[serde(default)]
        ignore_production_check: bool,
    },
    /// `feature delete`.
    Delete {
        /// The flag.
        flag: String,
        /// The environments named.
        #[serde(default)]
        environments: Vec<String>,
    },
    /// `vexil rollback`.
    Rollback {
        /// The environment.
        environment: String,
        /// `--to VERSION`.
        #[serde(default)]
        version: Option<u64>,
        /// `--steps N`.
        #[serde(default)]
        steps: Option<u64>,
    },
}

/// One target of a set.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TargetBody {
    /// An actor id.
    Actor(String),
    /// A feature group.
    FeatureGroup(String),
}

impl RequestBody {
    /// The wire form of `request`; a publish is not sent (it runs where the definitions are).
    pub fn of(request: &Request) -> Result<RequestBody> {
        Ok(match request {
            Request::Set { set, environments, options } => RequestBody::Set {
                flag: set.flag.clone(),
                value: set.value_text.clone(),
                actors: set.actors,
                random: set.random,
                targets: set
                    .targets
                    .iter()
                    .map(|t| match t {
                        plan::ActorOrGroup::Actor(a) => TargetBody::Actor(a.clone()),
                        plan::ActorOrGroup::FeatureGroup(g) => TargetBody::FeatureGroup(g.clone()),
                    })
                    .collect(),
                environments: environments.clone(),
                force: options.force,
                ignore_feature_flag_consistency_check: options.ignore_consistency_check,
                ignore_production_check: options.ignore_production_check,
            },
            Request::Delete { flag, environments } => {
                RequestBody::Delete { flag: flag.clone(), environments: environments.clone() }
            }
            Request::Rollback { environment, to } => {
                let (version, steps) = match to {
                    plan::RollbackTo::Version(v) => (Some(*v), None),
                    plan::RollbackTo::StepsBack(n) => (None, Some(*n)),
                };
                RequestBody::Rollback { environment: environment.clone(), version, steps }
            }
            Request::Publish { .. } => {
                return Err(crate::Error::refused(
                    "vexil publish runs where the definitions are (a checkout with the state database), not through --remote",
                ))
            }
            Request::Cleanup { .. } => {
                return Err(crate::Error::refused(
                    "vexil cleanup removes a definition file, so it runs in the checkout, not through --remote",
                ))
            }
        })
    }

    /// The request, validated as the CLI validates its arguments.
    pub fn into_request(self) -> Result<Request> {
        Ok(match self {
            RequestBody::Set {
                flag,
                value,
                actors,
                random,
                targets,
                environments,
                force,
                ignore_feature_flag_consistency_check,
                ignore_production_check,
            } => {
                let targets = targets
                    .into_iter()
                    .map(|t| match t {
                        TargetBody::Actor(a) => plan::ActorOrGroup::Actor(a),
                        TargetBody::FeatureGroup(g) => plan::ActorOrGroup::FeatureGroup(g),
                    })
                    .collect();
                let set = plan::SetRequest::new(plan::flag_name(&flag), value, actors, random, random, targets)?;
                let options = plan::SetOptions {
                    force,
                    ignore_consistency_check: ignore_feature_flag_consistency_check,
                    ignore_production_check,
                };
                Request::Set { set, environments, options }
            }
            RequestBody::Delete { flag, environments } => {
                Request::Delete { flag: plan::flag_name(&flag), environments }
            }
            RequestBody::Rollback { environment, version, steps } => {
                let to = match (version, steps) {
                    (Some(v), None) => plan::RollbackTo::Version(v),
                    (None, Some(n)) => plan::RollbackTo::StepsBack(n),
                    _ => return Err(crate::Error::usage("rollback needs --to VERSION or --steps N")),
                };
                Request::Rollback { environment, to }
            }
        })
    }
}
