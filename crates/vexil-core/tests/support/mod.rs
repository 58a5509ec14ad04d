//! Shared by the integration tests: the JSON suite format of `tests/vectors/` and of the
//! Flipper oracle (`tests/oracle/oracle.rb`), turned into vexil's model and contexts.
#![allow(dead_code)]

use serde_json::{json, Value as Json};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use vexil_core::{
    Actor, ActorSet, Context, Environment, Expr, Flag, FlagType, Gates, OwnedValue, Percentage, Snapshot, Timestamp,
    Value,
};

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap()
}

fn ids(v: &Json, key: &str) -> BTreeSet<String> {
    v.get(key)
        .and_then(Json::as_array)
        .map(|a| a.iter().map(|s| s.as_str().unwrap().to_string()).collect())
        .unwrap_or_default()
}

fn pct(v: &Json, key: &str) -> Percentage {
    Percentage::parse(v.get(key).and_then(Json::as_str).unwrap_or("0")).unwrap()
}

pub fn flag_from_json(v: &Json) -> Flag {
    let persisted = v["persisted"].as_bool().unwrap_or(true);
    let expression = match v.get("expression") {
        None | Some(Json::Null) => None,
        Some(e) => Some(Expr::from_json(e).unwrap()),
    };
    Flag {
        flag_type: FlagType::from_name(v["type"].as_str().unwrap_or("development")).unwrap(),
        default_enabled: v["default_enabled"].as_bool().unwrap_or(false),
        client_side: v["client_side"].as_bool().unwrap_or(false),
        persisted,
        gates: Gates {
            boolean: v["boolean"].as_bool().unwrap_or(false),
            actors: ActorSet::Ids(ids(v, "actors")),
            opt_outs: ActorSet::Ids(ids(v, "opt_outs")),
            groups: ids(v, "groups"),
            percentage_of_actors: pct(v, "percentage_of_actors"),
            percentage_of_time: pct(v, "percentage_of_time"),
            expression,
        },
    }
}

pub fn flag_to_json(f: &Flag) -> Json {
    let g = &f.gates;
    json!({
        "type": f.flag_type.name(),
        "default_enabled": f.default_enabled,
        "persisted": f.persisted,
        "client_side": f.client_side,
        "boolean": g.boolean,
        "actors": g.actors.ids().collect::<Vec<_>>(),
        "opt_outs": g.opt_outs.ids().collect::<Vec<_>>(),
        "groups": g.groups,
        "percentage_of_actors": g.percentage_of_actors.to_string(),
        "percentage_of_time": g.percentage_of_time.to_string(),
        "expression": g.expression.as_ref().map(Expr::to_json),
    })
}

pub fn environment_from_suite(suite: &Json, name: &str) -> Environment {
    let mut env = Environment::new(name, 1, 0);
    if let Some(groups) = suite.get("groups").and_then(Json::as_object) {
        for (g, e) in groups {
            env.groups.insert(g.clone(), Expr::from_json(e).unwrap());
        }
    }
    for (f, spec) in suite["flags"].as_object().unwrap() {
        env.flags.insert(f.clone(), flag_from_json(spec));
    }
    env
}

/// One actor of a case, owned, so that `Context` can borrow it.
pub struct OwnedActor {
    pub id: String,
    pub properties: Vec<(String, OwnedValue)>,
}

pub fn actors_from_json(v: &Json) -> Vec<OwnedActor> {
    v.as_array()
        .map(|a| {
            a.iter()
                .map(|a| match a {
                    Json::String(id) => OwnedActor { id: id.clone(), properties: vec![] },
                    obj => OwnedActor {
                        id: obj["id"].as_str().unwrap().to_string(),
                        properties: obj
                            .get("properties")
                            .and_then(Json::as_object)
                            .map(|m| {
                                m.iter()
                                    .map(|(k, v)| {
                                        let v = OwnedValue::from_json(v)
                                            .unwrap_or_else(|| panic!("property {k}: unsupported {v}"));
                                        (k.clone(), v)
                                    })
                                    .collect()
                            })
                            .unwrap_or_default(),
                    },
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Runs `f` with the case's context.
pub fn with_context<R>(case: &Json, f: impl FnOnce(&Context<'_>) -> R) -> R {
    let owned = actors_from_json(&case["actors"]);
    let props: Vec<Vec<(&str, Value<'_>)>> =
        owned.iter().map(|a| a.properties.iter().map(|(k, v)| (k.as_str(), v.as_value())).collect()).collect();
    let actors: Vec<Actor<'_>> = owned.iter().zip(&props).map(|(a, p)| Actor::with_properties(&a.id, p)).collect();
    let ctx = Context::new(
        &actors,
        case["random"].as_f64().unwrap_or(0.0),
        Timestamp::from_unix_millis(case["now"].as_i64().unwrap_or(0)),
    );
    f(&ctx)
}

/// Runs every suite through the oracle (one Ruby process) and returns its results.
pub fn run_oracle(suites: &[Json]) -> Vec<Vec<Json>> {
    use std::io::{BufRead, BufReader, Write};
    use std::process::{Command, Stdio};
    let mut child = Command::new("ruby")
        .arg(repo_root().join("tests/oracle/oracle.rb"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("ruby with ruby-flipper (make deps installs it)");
    let mut stdin = child.stdin.take().unwrap();
    let input: String = suites.iter().map(|s| format!("{s}\n")).collect();
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()).unwrap());
    let stdout = BufReader::new(child.stdout.take().unwrap());
    let mut out = Vec::new();
    for line in stdout.lines() {
        let v: Json = serde_json::from_str(&line.unwrap()).unwrap();
        out.push(v["results"].as_array().unwrap().clone());
    }
    writer.join().unwrap();
    assert!(child.wait().unwrap().success(), "oracle failed");
    assert_eq!(out.len(), suites.len(), "oracle answered every suite");
    out
}

pub fn encode_decode(env: &Environment) -> Snapshot {
    let bytes = vexil_core::encode(env, None).unwrap();
    Snapshot::decode(&bytes, &[]).unwrap()
}

pub fn load_vectors() -> BTreeMap<String, Json> {
    let dir = repo_root().join("tests/vectors");
    let mut out = BTreeMap::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "json") {
            let name = path.file_stem().unwrap().to_str().unwrap().to_string();
            out.insert(name, serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap());
        }
    }
    out
}

/// A suite's environment as browsers receive it: every flag client-side, ids hashed under a
/// fixed salt (so the fixture is byte-exact). Client-side flags answer as in the full
/// snapshot, so the suite's cases hold for it unchanged.
pub fn browser_environment_from_suite(suite: &Json, name: &str) -> Environment {
    let mut env = environment_from_suite(suite, name);
    for flag in env.flags.values_mut() {
        flag.client_side = true;
    }
    env.for_browser([9; 16]).unwrap()
}

/// Replays a suite's cases against `snapshot`; returns how many were checked.
pub fn replay_suite(snapshot: &Snapshot, suite: &Json, name: &str) -> usize {
    let cases = suite["cases"].as_array().unwrap();
    for (i, case) in cases.iter().enumerate() {
        let flag = case["flag"].as_str().unwrap();
        let d = with_context(case, |ctx| snapshot.evaluate(flag, ctx));
        let want_enabled = case["expected"]["enabled"].as_bool().unwrap();
        let want_reason = vexil_core::Reason::from_name(case["expected"]["reason"].as_str().unwrap()).unwrap();
        assert_eq!((d.enabled, d.reason), (want_enabled, want_reason), "{name} case {i}: {case}");
        assert_eq!(d.version, 1);
    }
    cases.len()
}
