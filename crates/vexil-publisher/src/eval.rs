//! `vexil eval`: a flag evaluated for actors with properties, one at a time from the command
//! line or as JSON lines (`vexil eval --batch`): `{"flag", "actors": [id | {id, properties}],
//! "properties", "random", "now"}` in, `{"enabled", "reason", "version"}` or
//! `{"error": "line N: …"}` out, one line each.

use crate::error::{Error, Result};
use serde_json::{json, Value as Json};
use vexil_core::{limits::MAX_CONTEXT_ACTORS, Actor, Context, Decision, OwnedValue, Snapshot, Timestamp, Value};

/// Actors with their own properties.
pub type OwnedActors = Vec<(String, Vec<(String, OwnedValue)>)>;

/// One evaluation to make.
#[derive(Clone, Debug, PartialEq)]
pub struct EvalRequest {
    /// The flag.
    pub flag: String,
    /// The actors.
    pub actors: OwnedActors,
    /// The random draw, if given.
    pub random: Option<f64>,
    /// The time in ms since the epoch, if given.
    pub now: Option<i64>,
}

impl EvalRequest {
    /// One line of `--batch` input.
    pub fn from_json_line(line: &str) -> Result<EvalRequest> {
        let v: Json = serde_json::from_str(line).map_err(|e| Error::refused(e.to_string()))?;
        let flag = v["flag"].as_str().ok_or_else(|| Error::refused("missing \"flag\""))?;
        let shared: Vec<(String, OwnedValue)> = match v.get("properties") {
            None | Some(Json::Null) => vec![],
            Some(Json::Object(o)) => {
                o.iter().map(|(k, v)| Ok((k.clone(), json_property(v)?))).collect::<Result<_>>()?
            }
            Some(_) => return Err(Error::refused("\"properties\" must be an object")),
        };
        let mut actors: OwnedActors = Vec::new();
        for a in v.get("actors").and_then(Json::as_array).into_iter().flatten() {
            match a {
                Json::String(id) => actors.push((id.clone(), shared.clone())),
                Json::Object(o) => {
                    let id = o
                        .get("id")
                        .and_then(Json::as_str)
                        .ok_or_else(|| Error::refused("an actor object needs \"id\""))?;
                    let mut props = shared.clone();
                    for (k, v) in o.get("properties").and_then(Json::as_object).into_iter().flatten() {
                        props.push((k.clone(), json_property(v)?));
                    }
                    actors.push((id.to_string(), props));
                }
                other => {
                    return Err(Error::refused(format!("actors are ids or {{\"id\", \"properties\"}}, not {other}")))
                }
            }
        }
        if actors.len() > MAX_CONTEXT_ACTORS {
            return Err(Error::refused(format!("at most {MAX_CONTEXT_ACTORS} actors per evaluation")));
        }
        Ok(EvalRequest {
            flag: flag.to_string(),
            actors,
            random: v.get("random").and_then(Json::as_f64),
            now: v.get("now").and_then(Json::as_i64),
        })
    }

    /// The decision of `snapshot`, with `random` and `now` where the request gives none.
    pub fn evaluate(&self, snapshot: &Snapshot, random: f64, now: i64) -> Decision {
        let props: Vec<Vec<(&str, Value<'_>)>> =
            self.actors.iter().map(|(_, p)| p.iter().map(|(k, v)| (k.as_str(), v.as_value())).collect()).collect();
        let list: Vec<Actor<'_>> =
            self.actors.iter().zip(&props).map(|((id, _), p)| Actor::with_properties(id, p)).collect();
        let at = Timestamp::from_unix_millis(self.now.unwrap_or(now));
        snapshot.evaluate(&self.flag, &Context::new(&list, self.random.unwrap_or(random), at))
    }
}

/// A decision as `--batch` and `--json` print it.
pub fn decision_json(decision: &Decision) -> Json {
    json!({"enabled": decision.enabled, "reason": decision.reason.name(), "version": decision.version})
}

/// A `--property` value: JSON when it parses as a scalar (`3`, `1.5`, `true`, `"x"`), else
/// the text itself.
pub fn property_value(text: &str) -> OwnedValue {
    serde_json::from_str::<Json>(text)
        .ok()
        .and_then(|v| OwnedValue::from_json(&v))
        .unwrap_or_else(|| OwnedValue::Str(text.to_string()))
}

fn json_property(v: &Json) -> Result<OwnedValue> {
    OwnedValue::from_json(v)
        .ok_or_else(|| Error::refused(format!("property values are strings, numbers, booleans or null, not {v}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_lines() {
        let r = EvalRequest::from_json_line(
            r#"{"flag":"f","actors":["User:1",{"id":"User:2","properties":{"plan":"gold"}}],"properties":{"team":"x"},"random":0.5}"#,
        )
        .unwrap();
        assert_eq!(r.actors.len(), 2);
        assert_eq!(r.actors[1].1.len(), 2, "shared and own properties");
        assert_eq!(r.random, Some(0.5));
        for (bad, needle) in [
            ("{}", "missing \"flag\""),
            (r#"{"flag":"f","properties":[]}"#, "must be an object"),
            (r#"{"flag":"f","actors":[{"properties":{}}]}"#, "needs \"id\""),
            (r#"{"flag":"f","actors":[1]}"#, "actors are ids"),
            (r#"{"flag":"f","actors":["a"],"properties":{"p":[1]}}"#, "property values"),
            ("nope", "expected"),
        ] {
            let e = EvalRequest::from_json_line(bad).unwrap_err().to_string();
            assert!(e.contains(needle), "{bad}: {e}");
        }
    }
}
