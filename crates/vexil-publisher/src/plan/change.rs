//! Change records: what a plan did to one flag (or to an environment as a whole) in one
//! environment, as typed values. The store keeps them as the change log, adding who, when,
//! with which command, and the version they produced.

use crate::gates_json;
use serde::de::{Deserialize, Deserializer};
use serde::ser::{Serialize, Serializer};
use serde_json::Value as Json;
use vexil_core::{Flag, FlagType, Gates};

/// What a change did, in GitLab's `features_json.log` words where GitLab has one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    /// `feature set … true`.
    Enable,
    /// `feature set … false`.
    Disable,
    /// `feature set … N --actors`.
    EnablePercentageOfActors,
    /// `feature set … N --random`.
    EnablePercentageOfTime,
    /// `feature set … opt_out`.
    OptOut,
    /// `feature set … remove_opt_out`.
    RemoveOptOut,
    /// `feature delete`.
    Remove,
    /// `vexil rollback`.
    Rollback,
    /// `vexil publish` merged a changed definition, group or signing key.
    Definition,
    /// An environment's first version.
    Publish,
    /// `vexil cleanup`: the flag's state and definition removed.
    Cleanup,
}

impl Action {
    /// Every action.
    pub const ALL: [Action; 11] = [
        Action::Enable,
        Action::Disable,
        Action::EnablePercentageOfActors,
        Action::EnablePercentageOfTime,
        Action::OptOut,
        Action::RemoveOptOut,
        Action::Remove,
        Action::Rollback,
        Action::Definition,
        Action::Publish,
        Action::Cleanup,
    ];

    /// The name the change log uses.
    pub const fn name(self) -> &'static str {
        match self {
            Action::Enable => "enable",
            Action::Disable => "disable",
            Action::EnablePercentageOfActors => "enable_percentage_of_actors",
            Action::EnablePercentageOfTime => "enable_percentage_of_time",
            Action::OptOut => "opt_out",
            Action::RemoveOptOut => "remove_opt_out",
            Action::Remove => "remove",
            Action::Rollback => "rollback",
            Action::Definition => "definition",
            Action::Publish => "publish",
            Action::Cleanup => "cleanup",
        }
    }

    /// The action called `name`.
    pub fn from_name(name: &str) -> Option<Action> {
        Action::ALL.into_iter().find(|a| a.name() == name)
    }
}

impl Serialize for Action {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl<'de> Deserialize<'de> for Action {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = String::deserialize(d)?;
        Action::from_name(&name).ok_or_else(|| serde::de::Error::custom(format!("unknown action {name:?}")))
    }
}

/// The definition facts a snapshot carries for a flag: what `publish` records changing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DefinitionFacts {
    /// The type.
    pub flag_type: FlagType,
    /// `default_enabled`.
    pub default_enabled: bool,
    /// Whether browsers may see it.
    pub client_side: bool,
}

impl DefinitionFacts {
    /// The facts of `flag`.
    pub fn of(flag: &Flag) -> DefinitionFacts {
        DefinitionFacts {
            flag_type: flag.flag_type,
            default_enabled: flag.default_enabled,
            client_side: flag.client_side,
        }
    }
}

/// One side of a change: what the flag was, or became.
#[derive(Clone, Debug, PartialEq)]
pub enum Recorded {
    /// Nothing: not persisted, absent, or a change of the environment as a whole.
    Nothing,
    /// Persisted gates.
    Gates(Gates),
    /// Definition facts.
    Definition(DefinitionFacts),
}

impl Recorded {
    /// The gates, if persisted.
    pub fn gates(state: Option<&crate::plan::FlagState>) -> Recorded {
        match state {
            Some(s) if s.persisted => Recorded::Gates(s.gates.clone()),
            _ => Recorded::Nothing,
        }
    }

    /// The JSON the change log stores: `null`, the gates' form, or `{type, default_enabled,
    /// client_side}`.
    pub fn to_json(&self) -> Json {
        match self {
            Recorded::Nothing => Json::Null,
            Recorded::Gates(g) => gates_json::to_json(g),
            Recorded::Definition(d) => serde_json::json!({
                "type": d.flag_type.name(),
                "default_enabled": d.default_enabled,
                "client_side": d.client_side,
            }),
        }
    }

    /// Reads what [`Recorded::to_json`] wrote.
    pub fn from_json(value: &Json) -> Result<Recorded, String> {
        match value {
            Json::Null => Ok(Recorded::Nothing),
            Json::Object(o) if o.contains_key("type") => {
                let name = o["type"].as_str().unwrap_or_default();
                let flag_type =
                    FlagType::from_name(name).ok_or_else(|| format!("unknown flag type {:?}", o["type"]))?;
                let flag = |key: &str| o.get(key).and_then(Json::as_bool).unwrap_or(false);
                Ok(Recorded::Definition(DefinitionFacts {
                    flag_type,
                    default_enabled: flag("default_enabled"),
                    client_side: flag("client_side"),
                }))
            }
            other => gates_json::from_json(other).map(Recorded::Gates),
        }
    }
}

impl Serialize for Recorded {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.to_json().serialize(s)
    }
}

impl<'de> Deserialize<'de> for Recorded {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Recorded::from_json(&Json::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

/// What a plan changes about one flag (or, `flag: None`, an environment as a whole) in one
/// environment.
#[derive(Clone, Debug, PartialEq)]
pub struct ChangeRecord {
    /// The environment.
    pub environment: String,
    /// The flag, if the change concerns one.
    pub flag: Option<String>,
    /// What happened.
    pub action: Action,
    /// Before.
    pub before: Recorded,
    /// After.
    pub after: Recorded,
}
