//! GitLab's chatops `feature set` rules and the mutation semantics behind them
//! (`gitlab-com/chatops` `lib/chatops/commands/feature.rb`, gitlabhq
//! `Admin::SetFeatureFlagService` and `lib/feature.rb`), as pure functions over one flag's
//! state in one environment. A plan applies them to every environment a request names and
//! is refused if any refuses.

use super::change::Action;
use crate::error::{Error, Result};
use std::fmt;
use vexil_core::{ActorSet, Gates, Percentage, State};

/// The value of `feature set <flag> <value>`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SetValue {
    /// `true` (or `100`).
    True,
    /// `false` (or `0`).
    False,
    /// A percentage strictly between 0 and 100.
    Percentage(Percentage),
    /// `opt_out`: turn the flag off for the targets, whatever else is on.
    OptOut,
    /// `remove_opt_out`.
    RemoveOptOut,
}

impl SetValue {
    /// Parses a value; `0` and `100` are `false` and `true`, as GitLab's API treats them.
    pub fn parse(text: &str) -> Result<SetValue> {
        match text {
            "true" => return Ok(SetValue::True),
            "false" => return Ok(SetValue::False),
            "opt_out" => return Ok(SetValue::OptOut),
            "remove_opt_out" => return Ok(SetValue::RemoveOptOut),
            _ => {}
        }
        match Percentage::parse(text) {
            Ok(p) if p.is_zero() => Ok(SetValue::False),
            Ok(p) if p == Percentage::HUNDRED => Ok(SetValue::True),
            Ok(p) => Ok(SetValue::Percentage(p)),
            Err(e) => Err(Error::refused(format!(
                "The value {text:?} is invalid ({e}). Valid values are: `true`, `false`, `opt_out`, `remove_opt_out`, or a number from 0 to 100 with up to three decimals."
            ))),
        }
    }

    /// Whether chatops's consistency check counts the value as enabling.
    pub fn enables(self) -> bool {
        matches!(self, SetValue::True | SetValue::Percentage(_))
    }

    /// Whether chatops's consistency check counts the value as disabling.
    pub fn disables(self) -> bool {
        self == SetValue::False
    }
}

/// Who a targeted `feature set` is about: an actor or a feature group (GitLab's
/// `Feature::Target`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum ActorOrGroup {
    /// `--feature-group=NAME`.
    FeatureGroup(String),
    /// An actor id (`--user=42` is `User:42`).
    Actor(String),
}

impl fmt::Display for ActorOrGroup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ActorOrGroup::FeatureGroup(g) => write!(f, "feature group {g}"),
            ActorOrGroup::Actor(a) => f.write_str(a),
        }
    }
}

/// The target options, in the order GitLab's `Feature::Target#targets` applies them, with
/// the actor kind each one names.
pub const TARGET_OPTIONS: [(&str, Option<&str>); 6] = [
    ("feature-group", None),
    ("user", Some("User")),
    ("project", Some("Project")),
    ("group", Some("Group")),
    ("namespace", Some("Namespace")),
    ("repository", Some("Repository")),
];

/// Turns an option's comma-separated list into targets: `--user=1,2` is `User:1`, `User:2`.
/// A value already carrying the kind (`--user=User:1`) is taken as is.
pub fn targets_from_option(option: &str, kind: Option<&str>, list: &str) -> Result<Vec<ActorOrGroup>> {
    list.split(',')
        .map(|item| {
            let item = item.trim();
            if item.is_empty() {
                return Err(Error::refused(format!("--{option}={list:?}: empty item in the list")));
            }
            Ok(match kind {
                None => ActorOrGroup::FeatureGroup(item.to_string()),
                Some(kind) => {
                    let id = if item.strip_prefix(kind).is_some_and(|rest| rest.starts_with(':')) {
                        item.to_string()
                    } else {
                        format!("{kind}:{item}")
                    };
                    if id.ends_with(":opt_out") {
                        return Err(Error::refused(format!(
                            "--{option}={item}: ids may not end in `:opt_out`; use the value `opt_out` instead"
                        )));
                    }
                    ActorOrGroup::Actor(id)
                }
            })
        })
        .collect()
}

/// A validated `feature set`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SetRequest {
    /// The flag.
    pub flag: String,
    /// The value as typed, for messages and the log.
    pub value_text: String,
    /// The value.
    pub value: SetValue,
    /// `--actors`: a percentage of actors.
    pub actors: bool,
    /// `--random`: a percentage of time.
    pub random: bool,
    /// Targets, in GitLab's order.
    pub targets: Vec<ActorOrGroup>,
}

impl SetRequest {
    /// Checks the rules chatops applies before touching any environment.
    pub fn new(
        flag: String,
        value_text: String,
        actors: bool,
        random: bool,
        ignore_random_deprecation_check: bool,
        targets: Vec<ActorOrGroup>,
    ) -> Result<SetRequest> {
        let value = SetValue::parse(&value_text)?;
        if actors && random {
            return Err(Error::usage("`--actors` and `--random` cannot be used together."));
        }
        if (actors || random) && !targets.is_empty() {
            return Err(Error::usage(
                "`--actors` and `--random` cannot be combined with targets (--user, --project, --group, --namespace, --repository, --feature-group).",
            ));
        }
        if random && !ignore_random_deprecation_check {
            return Err(Error::refused(
                "Time percentage feature flags are being deprecated in favor of using actors, because they cause confusing side-effects (gitlab-org/gitlab#425428). Use `--actors`, or pass `--ignore-random-deprecation-check` if you really mean percentage of time.",
            ));
        }
        match value {
            SetValue::Percentage(_) if !actors && !random => {
                return Err(Error::usage("One of `--actors` or `--random` must be set for percentage values."));
            }
            SetValue::Percentage(_) if !targets.is_empty() => unreachable!("rejected above"),
            SetValue::OptOut | SetValue::RemoveOptOut if targets.is_empty() => {
                return Err(Error::usage(format!(
                    "`{value_text}` needs a target: --user=, --project=, --group=, --namespace= or --repository=."
                )));
            }
            _ => {}
        }
        Ok(SetRequest { flag, value_text, value, actors, random, targets })
    }
}

/// One flag's state in one environment.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FlagState {
    /// Whether the environment holds state for the flag.
    pub persisted: bool,
    /// The gates (empty while not persisted).
    pub gates: Gates,
}

impl FlagState {
    /// chatops's `enabled?` for the consistency check: `state == on`, or `conditional` with a
    /// percentage of time that is positive — and a missing one counts as 100, so every
    /// conditional flag counts. A flag nothing is persisted for is not listed by the API, so
    /// it is not enabled.
    pub fn chatops_enabled(&self) -> bool {
        self.state() != State::Off
    }

    /// Flipper's state: off while nothing is persisted.
    pub fn state(&self) -> State {
        State::of(self.persisted, &self.gates)
    }
}

impl SetRequest {
    /// What the change does, in GitLab's `features_json.log` action names.
    pub fn action(&self) -> Action {
        match (self.value, self.actors) {
            (SetValue::True, _) => Action::Enable,
            (SetValue::False, _) => Action::Disable,
            (SetValue::Percentage(_), true) => Action::EnablePercentageOfActors,
            (SetValue::Percentage(_), false) => Action::EnablePercentageOfTime,
            (SetValue::OptOut, _) => Action::OptOut,
            (SetValue::RemoveOptOut, _) => Action::RemoveOptOut,
        }
    }
}

fn ids(set: &mut ActorSet) -> &mut ActorSet {
    if let ActorSet::Hashed(_) = set {
        *set = ActorSet::default();
    }
    set
}

/// Applies `req` to one environment's state of the flag.
pub fn apply(req: &SetRequest, current: &FlagState) -> Result<FlagState> {
    let mut gates = current.gates.clone();
    if req.targets.is_empty() {
        match req.value {
            // Flipper's boolean enable clears every other gate first, opt-outs included.
            SetValue::True => gates = Gates { boolean: true, ..Gates::default() },
            SetValue::False => gates = Gates::default(),
            SetValue::Percentage(p) => {
                let what = if req.actors { "actors" } else { "time" };
                if current.state() == State::On {
                    return Err(Error::refused(format!(
                        "Cannot enable percentage of {what} for a fully-enabled flag `{}`: set it to `false` first.",
                        req.flag
                    )));
                }
                if req.actors {
                    gates.percentage_of_actors = p;
                } else {
                    gates.percentage_of_time = p;
                }
            }
            SetValue::OptOut | SetValue::RemoveOptOut => unreachable!("needs targets; checked in SetRequest::new"),
        }
        return Ok(FlagState { persisted: true, gates });
    }
    for target in &req.targets {
        match (req.value, target) {
            (SetValue::True, ActorOrGroup::Actor(id)) => {
                if current.persisted && gates.opt_outs.ids().any(|o| o == id) {
                    return Err(Error::refused(format!("Opt-out exists for {id} - remove opt-out before enabling")));
                }
                ids(&mut gates.actors).insert(id.clone());
            }
            (SetValue::False, ActorOrGroup::Actor(id)) => {
                ids(&mut gates.actors).remove(id);
            }
            (SetValue::True, ActorOrGroup::FeatureGroup(g)) => {
                gates.groups.insert(g.clone());
            }
            (SetValue::False, ActorOrGroup::FeatureGroup(g)) => {
                gates.groups.remove(g);
            }
            (SetValue::OptOut, ActorOrGroup::Actor(id)) => {
                ids(&mut gates.opt_outs).insert(id.clone());
            }
            (SetValue::RemoveOptOut, ActorOrGroup::Actor(id)) => {
                if !(current.persisted && gates.opt_outs.ids().any(|o| o == id)) {
                    return Err(Error::refused(format!("No opt-out exists for {id}")));
                }
                ids(&mut gates.opt_outs).remove(id);
            }
            (SetValue::OptOut | SetValue::RemoveOptOut, ActorOrGroup::FeatureGroup(g)) => {
                return Err(Error::refused(format!(
                    "Cannot set '{}' to {} for feature group {g}: opt-outs are for actors (--user, --project, --group, --namespace, --repository)",
                    req.flag, req.value_text
                )));
            }
            (SetValue::Percentage(_), t) => {
                return Err(Error::refused(format!("Cannot set '{}' to {} for {t}", req.flag, req.value_text)));
            }
        }
    }
    // Flipper adds the feature before touching a gate: every targeted change persists it.
    Ok(FlagState { persisted: true, gates })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(value: &str, actors: bool, targets: &[ActorOrGroup]) -> SetRequest {
        SetRequest::new("f".into(), value.into(), actors, false, false, targets.to_vec()).unwrap()
    }

    #[test]
    fn values() {
        assert_eq!(SetValue::parse("100").unwrap(), SetValue::True);
        assert_eq!(SetValue::parse("0.000").unwrap(), SetValue::False);
        assert!(matches!(SetValue::parse("2.007").unwrap(), SetValue::Percentage(_)));
        for bad in ["101", "-1", "1e3", "abc", "", "TRUE", "50%"] {
            assert!(SetValue::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn chatops_rules() {
        let user = [ActorOrGroup::Actor("User:1".into())];
        assert!(SetRequest::new("f".into(), "25".into(), false, false, false, vec![]).is_err());
        assert!(SetRequest::new("f".into(), "25".into(), true, false, false, user.to_vec()).is_err());
        assert!(SetRequest::new("f".into(), "25".into(), false, true, false, vec![])
            .unwrap_err()
            .message()
            .contains("deprecated"));
        assert!(SetRequest::new("f".into(), "25".into(), false, true, true, vec![]).is_ok());
        assert!(SetRequest::new("f".into(), "opt_out".into(), false, false, false, vec![]).is_err());
        assert!(SetRequest::new("f".into(), "100".into(), true, false, false, vec![]).is_ok());
    }

    #[test]
    fn semantics() {
        let on = apply(&req("true", false, &[]), &FlagState::default()).unwrap();
        assert!(on.persisted && on.gates.boolean);
        let err = apply(&req("25", true, &[]), &on).unwrap_err();
        assert!(err.message().contains("Cannot enable percentage of actors for a fully-enabled flag"));
        let user = [ActorOrGroup::Actor("User:1".into())];
        let opted = apply(&req("opt_out", false, &user), &on).unwrap();
        assert!(apply(&req("true", false, &user), &opted).unwrap_err().message().contains("Opt-out exists for User:1"));
        assert!(apply(&req("remove_opt_out", false, &user), &on).unwrap_err().message().contains("No opt-out exists"));
        let off = apply(&req("false", false, &[]), &opted).unwrap();
        assert!(off.persisted && off.gates.is_empty());
        let targeted_off = apply(&req("false", false, &user), &FlagState::default()).unwrap();
        assert!(targeted_off.persisted, "a targeted false persists the flag");
    }
}
