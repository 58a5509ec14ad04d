//! A flag as GitLab's Features API shows it (`lib/api/entities/feature.rb`): its name, state,
//! the gates that hold a value (opt-outs as `<id>:opt_out` actors, as GitLab stores them) and
//! its definition — plus vexil's environment, version and whether anything is persisted.
//! `vexil feature get --json` prints it; the text form is rendered from the same value.

use crate::definitions::Definition;
use crate::plan::FlagState;
use serde::ser::{Serialize, SerializeStruct, Serializer};
use std::fmt;
use vexil_core::{Expr, Percentage, State};

/// One flag in one environment.
#[derive(Clone, Debug, PartialEq)]
pub struct FeatureEntity {
    /// The environment.
    pub environment: String,
    /// The version the state was read at.
    pub version: u64,
    /// The flag.
    pub name: String,
    /// Whether the environment holds state for it.
    pub persisted: bool,
    /// Flipper's state (`off` while nothing is persisted).
    pub state: State,
    /// The gates that hold a value, boolean first, in GitLab's order.
    pub gates: Vec<Gate>,
    /// Its definition, if it has one.
    pub definition: Option<Definition>,
}

/// One gate of the entity: `{"key": "percentage_of_actors", "value": 25}`.
#[derive(Clone, Debug, PartialEq)]
pub struct Gate {
    /// Flipper's gate name.
    pub key: &'static str,
    /// Its value.
    pub value: GateValue,
}

/// A gate's value.
#[derive(Clone, Debug, PartialEq)]
pub enum GateValue {
    /// The boolean gate.
    Bool(bool),
    /// Actor ids or group names.
    List(Vec<String>),
    /// A percentage: a whole number where it is one, as GitLab's API gives it.
    Percentage(Percentage),
    /// An expression, in Flipper's JSON form.
    Expression(Expr),
}

impl FeatureEntity {
    /// The entity of `flag`, whose state in `environment` at `version` is `state`.
    pub fn new(
        environment: &str,
        version: u64,
        flag: &str,
        state: Option<&FlagState>,
        definition: Option<&Definition>,
    ) -> FeatureEntity {
        let persisted = state.is_some_and(|s| s.persisted);
        let gates = state.map(|s| s.gates.clone()).unwrap_or_default();
        let mut list = vec![Gate { key: "boolean", value: GateValue::Bool(gates.boolean) }];
        let mut actors: Vec<String> = gates.actors.ids().map(String::from).collect();
        actors.extend(gates.opt_outs.ids().map(|id| format!("{id}:opt_out")));
        if !actors.is_empty() {
            list.push(Gate { key: "actors", value: GateValue::List(actors) });
        }
        if !gates.groups.is_empty() {
            list.push(Gate { key: "groups", value: GateValue::List(gates.groups.iter().cloned().collect()) });
        }
        if !gates.percentage_of_actors.is_zero() {
            list.push(Gate { key: "percentage_of_actors", value: GateValue::Percentage(gates.percentage_of_actors) });
        }
        if !gates.percentage_of_time.is_zero() {
            list.push(Gate { key: "percentage_of_time", value: GateValue::Percentage(gates.percentage_of_time) });
        }
        if let Some(e) = &gates.expression {
            list.push(Gate { key: "expression", value: GateValue::Expression(e.clone()) });
        }
        FeatureEntity {
            environment: environment.to_string(),
            version,
            name: flag.to_string(),
            persisted,
            state: State::of(persisted, &gates),
            gates: list,
            definition: definition.cloned(),
        }
    }
}

impl Serialize for FeatureEntity {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_struct("FeatureEntity", 7)?;
        m.serialize_field("environment", &self.environment)?;
        m.serialize_field("version", &self.version)?;
        m.serialize_field("name", &self.name)?;
        m.serialize_field("persisted", &self.persisted)?;
        m.serialize_field("state", self.state.name())?;
        m.serialize_field("gates", &self.gates)?;
        m.serialize_field("definition", &self.definition)?;
        m.end()
    }
}

impl Serialize for Gate {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_struct("Gate", 2)?;
        m.serialize_field("key", self.key)?;
        m.serialize_field("value", &self.value)?;
        m.end()
    }
}

impl Serialize for GateValue {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            GateValue::Bool(b) => s.serialize_bool(*b),
            GateValue::List(items) => items.serialize(s),
            GateValue::Percentage(p) if p.thousandths() % 1000 == 0 => s.serialize_u32(p.thousandths() / 1000),
            GateValue::Percentage(p) => s.serialize_f64(p.as_f64()),
            GateValue::Expression(e) => e.to_json().serialize(s),
        }
    }
}

impl<'de> serde::Deserialize<'de> for FeatureEntity {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let json = serde_json::Value::deserialize(d)?;
        FeatureEntity::from_json(&json).map_err(serde::de::Error::custom)
    }
}

impl FeatureEntity {
    /// Reads what [`Serialize`] writes (the API's answers, for the remote CLI).
    pub fn from_json(json: &serde_json::Value) -> Result<FeatureEntity, String> {
        let field = |key: &str| json.get(key).ok_or_else(|| format!("a feature has no {key:?}"));
        let state_name = field("state")?.as_str().unwrap_or_default();
        let state = State::ALL
            .into_iter()
            .find(|s| s.name() == state_name)
            .ok_or_else(|| format!("unknown state {state_name:?}"))?;
        let mut gates = Vec::new();
        for g in field("gates")?.as_array().into_iter().flatten() {
            let key = g["key"].as_str().unwrap_or_default();
            let key = GATE_KEYS.into_iter().find(|k| *k == key).ok_or_else(|| format!("unknown gate {key:?}"))?;
            let value = &g["value"];
            let value = match key {
                "boolean" => GateValue::Bool(value.as_bool().ok_or("the boolean gate is a boolean")?),
                "actors" | "groups" => GateValue::List(
                    value.as_array().into_iter().flatten().filter_map(|v| v.as_str().map(String::from)).collect(),
                ),
                "expression" => GateValue::Expression(Expr::from_json(value).map_err(|e| e.to_string())?),
                _ => GateValue::Percentage(Percentage::parse(&value.to_string()).map_err(|e| e.to_string())?),
            };
            gates.push(Gate { key, value });
        }
        let definition = match json.get("definition") {
            None | Some(serde_json::Value::Null) => None,
            Some(d) => Some(serde_json::from_value(d.clone()).map_err(|e| e.to_string())?),
        };
        Ok(FeatureEntity {
            environment: json["environment"].as_str().unwrap_or_default().to_string(),
            version: json["version"].as_u64().unwrap_or(0),
            name: field("name")?.as_str().unwrap_or_default().to_string(),
            persisted: json["persisted"].as_bool().unwrap_or(state != State::Off),
            state,
            gates,
            definition,
        })
    }
}

/// Flipper's gate names, in the order GitLab's entity lists them.
const GATE_KEYS: [&str; 6] =
    ["boolean", "actors", "groups", "percentage_of_actors", "percentage_of_time", "expression"];

/// The value as chatops prints it: lists joined with commas.
impl fmt::Display for GateValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GateValue::Bool(b) => write!(f, "{b}"),
            GateValue::List(items) => f.write_str(&items.join(", ")),
            GateValue::Percentage(p) => write!(f, "{p}"),
            GateValue::Expression(e) => write!(f, "{}", e.to_json()),
        }
    }
}
