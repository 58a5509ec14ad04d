//! The one JSON form of a flag's gates, as the change log stores them, the dashboard reads
//! them (`/<env>/state`) and `vexil inspect --json` prints them:
//! `{"boolean", "actors", "opt_outs", "groups", "percentage_of_actors", "percentage_of_time",
//! "expression"}`, percentages as decimal text so that `2.007` stays exact. A browser
//! snapshot's hashed sets show as `{"hashed": <count>}`.

use serde_json::{json, Value as Json};
use vexil_core::{ActorSet, Expr, Gates, Percentage};

/// `gates` as JSON.
pub fn to_json(gates: &Gates) -> Json {
    json!({
        "boolean": gates.boolean,
        "actors": actor_set(&gates.actors),
        "opt_outs": actor_set(&gates.opt_outs),
        "groups": gates.groups,
        "percentage_of_actors": gates.percentage_of_actors.to_string(),
        "percentage_of_time": gates.percentage_of_time.to_string(),
        "expression": gates.expression.as_ref().map(Expr::to_json),
    })
}

fn actor_set(set: &ActorSet) -> Json {
    match set {
        ActorSet::Ids(ids) => json!(ids),
        ActorSet::Hashed(h) => json!({ "hashed": h.len() }),
    }
}

/// Gates from their JSON form (as written by [`to_json`] for server state).
pub fn from_json(value: &Json) -> Result<Gates, String> {
    let object = value.as_object().ok_or_else(|| format!("gates are an object, not {value}"))?;
    let ids = |key: &str| -> Result<ActorSet, String> {
        match object.get(key) {
            None | Some(Json::Null) => Ok(ActorSet::default()),
            Some(Json::Array(items)) => items
                .iter()
                .map(|i| i.as_str().map(String::from).ok_or_else(|| format!("{key}: ids are strings, not {i}")))
                .collect::<Result<_, _>>()
                .map(ActorSet::Ids),
            Some(other) => Err(format!("{key}: expected a list of ids, not {other}")),
        }
    };
    let percentage = |key: &str| -> Result<Percentage, String> {
        match object.get(key) {
            None | Some(Json::Null) => Ok(Percentage::default()),
            Some(Json::String(text)) => Percentage::parse(text).map_err(|e| format!("{key}: {e}")),
            Some(Json::Number(n)) => Percentage::parse(&n.to_string()).map_err(|e| format!("{key}: {e}")),
            Some(other) => Err(format!("{key}: expected a percentage, not {other}")),
        }
    };
    let groups = match object.get("groups") {
        None | Some(Json::Null) => Default::default(),
        Some(Json::Array(items)) => items
            .iter()
            .map(|i| i.as_str().map(String::from).ok_or_else(|| format!("groups: names are strings, not {i}")))
            .collect::<Result<_, _>>()?,
        Some(other) => return Err(format!("groups: expected a list, not {other}")),
    };
    let expression = match object.get("expression") {
        None | Some(Json::Null) => None,
        Some(e) => Some(Expr::from_json(e).map_err(|e| format!("expression: {e}"))?),
    };
    Ok(Gates {
        boolean: object.get("boolean").and_then(Json::as_bool).unwrap_or(false),
        actors: ids("actors")?,
        opt_outs: ids("opt_outs")?,
        groups,
        percentage_of_actors: percentage("percentage_of_actors")?,
        percentage_of_time: percentage("percentage_of_time")?,
        expression,
    })
}

/// The gates in a few words (`actors 25% groups(gitlab_team_members)`), for reports.
pub fn summary(g: &vexil_core::Gates) -> String {
    let mut parts = Vec::new();
    if g.boolean {
        parts.push("boolean".to_string());
    }
    if !g.actors.is_empty() {
        parts.push(format!("actors({})", g.actors.len()));
    }
    if !g.opt_outs.is_empty() {
        parts.push(format!("opt_outs({})", g.opt_outs.len()));
    }
    if !g.groups.is_empty() {
        parts.push(format!("groups({})", g.groups.iter().cloned().collect::<Vec<_>>().join(",")));
    }
    if !g.percentage_of_actors.is_zero() {
        parts.push(format!("actors {}%", g.percentage_of_actors));
    }
    if !g.percentage_of_time.is_zero() {
        parts.push(format!("time {}%", g.percentage_of_time));
    }
    if g.expression.is_some() {
        parts.push("expression".to_string());
    }
    parts.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let mut g = Gates { boolean: false, ..Gates::default() };
        g.actors.insert("User:1".into());
        g.opt_outs.insert("Project:gitlab-org/gitlab".into());
        g.groups.insert("gitlab_team_members".into());
        g.percentage_of_actors = Percentage::parse("2.007").unwrap();
        g.expression = Some(Expr::from_json_str(r#"{"Equal": [{"Property": ["plan"]}, "gold"]}"#).unwrap());
        let json = to_json(&g);
        assert_eq!(json["percentage_of_actors"], "2.007");
        assert_eq!(from_json(&json).unwrap(), g);
        assert!(from_json(&json!({"actors": "User:1"})).is_err());
    }
}
