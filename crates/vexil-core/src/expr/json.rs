//! Flipper's JSON form of expressions: `{"Equal": [{"Property": ["plan"]}, "gold"]}`.

use super::{Expr, ExprError, Function};
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::Write;
use serde_json::{Map, Number, Value as Json};

impl Expr {
    /// Parses Flipper's JSON form (`{"Equal": [{"Property": ["plan"]}, "gold"]}`).
    ///
    /// As in Flipper, a non-array argument stands for a one-element list
    /// (`{"Property": "plan"}`) and `null` for none (`{"Now": null}`). Unlike Flipper,
    /// which ignores every key but the first, an object with several keys is refused.
    pub fn from_json(json: &Json) -> Result<Expr, ExprError> {
        let e = from_json_at(json, &mut String::new())?;
        e.validate()?;
        Ok(e)
    }

    /// Parses Flipper's JSON form from text.
    pub fn from_json_str(text: &str) -> Result<Expr, ExprError> {
        let json: Json = serde_json::from_str(text).map_err(|e| ExprError::new("", alloc::format!("not JSON: {e}")))?;
        Expr::from_json(&json)
    }

    /// Flipper's JSON form, always with argument arrays.
    pub fn to_json(&self) -> Json {
        match self {
            Expr::String(s) => Json::String(s.clone()),
            Expr::Integer(i) => Json::Number((*i).into()),
            Expr::Float(f) => Number::from_f64(*f).map_or(Json::Null, Json::Number),
            Expr::Boolean(b) => Json::Bool(*b),
            Expr::Call(f, args) => {
                let mut m = Map::new();
                m.insert(f.name().into(), Json::Array(args.iter().map(Expr::to_json).collect()));
                Json::Object(m)
            }
        }
    }
}

fn from_json_at(json: &Json, path: &mut String) -> Result<Expr, ExprError> {
    match json {
        Json::String(s) => Ok(Expr::String(s.clone())),
        Json::Bool(b) => Ok(Expr::Boolean(*b)),
        Json::Number(n) => {
            if let Some(i) = n.as_i64() {
                Ok(Expr::Integer(i))
            } else if n.is_u64() {
                Err(ExprError::new(path, alloc::format!("integer {n} is too large")))
            } else {
                match n.as_f64() {
                    Some(f) if f.is_finite() => Ok(Expr::Float(f)),
                    _ => Err(ExprError::new(path, alloc::format!("number {n} is out of range"))),
                }
            }
        }
        Json::Null => Err(ExprError::new(path, "null is not a constant Flipper accepts")),
        Json::Array(_) => Err(ExprError::new(
            path,
            "an array is not a constant Flipper accepts (arguments go inside {\"Function\": [...]})",
        )),
        Json::Object(map) => {
            let mut entries = map.iter();
            let (name, args) = match (entries.next(), entries.next()) {
                (Some(entry), None) => entry,
                (None, _) => return Err(ExprError::new(path, "empty object is not an expression")),
                (Some(_), Some(_)) => {
                    return Err(ExprError::new(path, "an expression object must have exactly one key"))
                }
            };
            let function = Function::from_name(name)
                .ok_or_else(|| ExprError::new(path, alloc::format!("unknown function `{name}`")))?;
            let args: &[Json] = match args {
                Json::Array(a) => a,
                Json::Null => &[],
                Json::Object(_) => {
                    return Err(ExprError::new(
                        path,
                        alloc::format!("the arguments of {name} must be a list: {{\"{name}\": [ ... ]}}"),
                    ))
                }
                single => core::slice::from_ref(single),
            };
            let len = path.len();
            let mut out = Vec::with_capacity(args.len());
            for (i, a) in args.iter().enumerate() {
                if !path.is_empty() {
                    path.push('.');
                }
                let _ = write!(path, "{name}[{i}]");
                out.push(from_json_at(a, path)?);
                path.truncate(len);
            }
            Ok(Expr::Call(function, out))
        }
    }
}
