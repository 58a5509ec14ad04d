//! vexil-core against Flipper itself, on fresh random cases every run.
//!
//! Each run draws at least 50,000 (state, actors) cases from a new seed (printed; set
//! `VEXIL_SEED` to replay one, `VEXIL_DIFF_CASES` to change the count), has the oracle
//! (`tests/oracle/oracle.rb`: real Flipper 0.25 plus GitLab's layer, and the transcription of
//! Flipper 1.4 for multi-actor and expression cases) answer them, and compares every answer.

mod support;

use serde_json::{json, Value as Json};
use vexil_core::Reason;

#[path = "support/rng.rs"]
mod rng;
use rng::Rng;

const SPECIAL_IDS: &[&str] = &[
    "",
    "Üser:ß",
    "🚀",
    "User:007",
    "User:0",
    "User:1:opt_out",
    "Ci::Runner:5",
    "Repository:gitlab-org/gitlab.git",
    "FlipperGitlabInstance:gitlab.com",
    "User:18446744073709551615",
    "User:18446744073709551616",
    "User:",
    ":1",
];
const KINDS: &[&str] = &["User", "Project", "Group", "Namespace"];
const NAMES: &[&str] = &["new_navigation_bar", "some_feature", "f", "ci_pipeline_speedup", "gitaly_tags", "a", "x9"];

fn percentage(rng: &mut Rng) -> String {
    const EDGES: &[&str] = &["0", "0.001", "2.007", "33.333", "99.999", "100", "25", "50", "1", "10", "75"];
    if rng.chance(50) {
        rng.pick(EDGES).to_string()
    } else {
        let m = rng.below(100_001);
        vexil_core::Percentage::from_thousandths(m as u32).unwrap().to_string()
    }
}

fn actor_id(rng: &mut Rng, pool: &[String]) -> String {
    if rng.chance(70) && !pool.is_empty() {
        return rng.pick(pool).clone();
    }
    if rng.chance(15) {
        return rng.pick(SPECIAL_IDS).to_string();
    }
    let range = if rng.chance(50) { 100 } else { 1_000_000 };
    let kind = rng.pick(KINDS);
    format!("{kind}:{}", rng.below(range))
}

fn property_value(rng: &mut Rng) -> Json {
    match rng.below(9) {
        0 => Json::Null,
        1 => json!(rng.chance(50)),
        2 => json!(rng.below(40) as i64 - 5),
        3 => json!(rng.below(400) as f64 / 8.0),
        4 => json!(rng.pick(&[
            "gitlab",
            "other",
            "gold",
            "free",
            "true",
            "1",
            "21",
            "12abc",
            "1.5e3",
            " 42",
            "",
            "2023-11-01T00:00:00Z",
            "2024-02-29 12:00:00 +01:00",
            "garbage"
        ])),
        5 => json!(rng.pick(&[1, 0, 21, 100, 150, -3])),
        6 => json!(rng.pick(&[1.0, 21.0, 21.5, 1e20, 0.5, 99.999])),
        7 => json!(1_600_000_000 + rng.below(200_000_000) as i64),
        _ => json!(rng.pick(&["User:1", "Group:9", "Project:2"])),
    }
}

const PROPS: &[&str] = &["team", "beta", "plan", "age", "admin", "created_at", "flipper_id", "missing", "org"];

fn constant(rng: &mut Rng) -> Json {
    match rng.below(6) {
        0 => json!(rng.pick(&[
            "gitlab",
            "gold",
            "21",
            "true",
            "1",
            "",
            "m",
            "2023-11-01T00:00:00Z",
            "User:1",
            "garbage",
            "12abc"
        ])),
        1 => json!(rng.below(50) as i64 - 10),
        2 => json!(rng.pick(&[0.5, 21.5, 1.0, 2.007, 1e20, 150.0, -3.25])),
        3 => json!(rng.chance(50)),
        4 => json!(1_600_000_000 + rng.below(200_000_000) as i64),
        _ => json!(rng.pick(&[0, 1, 10, 25, 100])),
    }
}

fn expression(rng: &mut Rng, depth: u32, flags: &[String]) -> Json {
    if depth >= 3 || rng.chance(25) {
        return if rng.chance(50) { json!({"Property": [rng.pick(PROPS)]}) } else { constant(rng) };
    }
    let sub = |rng: &mut Rng| expression(rng, depth + 1, flags);
    match rng.below(17) {
        0 => {
            let n = rng.below(4);
            json!({"All": (0..n).map(|_| sub(rng)).collect::<Vec<_>>()})
        }
        1 => {
            let n = rng.below(4);
            json!({"Any": (0..n).map(|_| sub(rng)).collect::<Vec<_>>()})
        }
        2..=7 => {
            let op = rng.pick(&[
                "Equal",
                "NotEqual",
                "GreaterThan",
                "GreaterThanOrEqualTo",
                "LessThan",
                "LessThanOrEqualTo",
            ]);
            json!({ *op: [sub(rng), sub(rng)] })
        }
        8 => json!({"String": [sub(rng)]}),
        9 => json!({"Number": [sub(rng)]}),
        10 => json!({"Boolean": [sub(rng)]}),
        11 => json!({"Percentage": [sub(rng)]}),
        12 => json!({"PercentageOfActors": [sub(rng), sub(rng)]}),
        13 => {
            if rng.chance(50) {
                json!({"Random": []})
            } else {
                json!({"Random": [sub(rng)]})
            }
        }
        14 => json!({"Now": []}),
        15 => json!({"Time": [sub(rng)]}),
        _ => {
            json!({"FeatureEnabled": [if flags.is_empty() || rng.chance(10) { "nope".to_string() } else { rng.pick(flags).clone() }]})
        }
    }
}

fn suite(rng: &mut Rng, cases: usize) -> Json {
    let pool: Vec<String> = (0..rng.below(8) + 1).map(|_| actor_id(rng, &[])).collect();
    let n_flags = rng.below(4) + 1;
    let mut names: Vec<String> = Vec::new();
    while names.len() < n_flags as usize {
        let name = if rng.chance(50) { rng.pick(NAMES).to_string() } else { format!("flag_{}", rng.below(1000)) };
        if !names.contains(&name) {
            names.push(name);
        }
    }
    let groups = json!({
        "gitlab_team_members": {"Equal": [{"Property": ["team"]}, "gitlab"]},
        "beta_testers": {"Any": [{"Boolean": [{"Property": ["beta"]}]}, {"Equal": [{"Property": ["flipper_id"]}, pool[0]]}]},
        "half": {"PercentageOfActors": [{"Property": ["flipper_id"]}, 50]},
    });
    let mut flags = serde_json::Map::new();
    for name in &names {
        let persisted = rng.chance(85);
        let mut f = json!({
            "type": "development",
            "default_enabled": rng.chance(30),
            "persisted": persisted,
            "boolean": false, "actors": [], "opt_outs": [], "groups": [],
            "percentage_of_actors": "0", "percentage_of_time": "0", "expression": null,
        });
        if persisted {
            f["boolean"] = json!(rng.chance(15));
            // GitLab spells an opt-out as an `<id>:opt_out` actor entry; vexil keeps opt-outs
            // apart, so allow-lists never hold such entries.
            f["actors"] = json!((0..rng.below(5))
                .map(|_| actor_id(rng, &pool))
                .filter(|id| !id.ends_with(":opt_out"))
                .collect::<std::collections::BTreeSet<_>>());
            if rng.chance(25) {
                f["opt_outs"] = json!((0..rng.below(3) + 1)
                    .map(|_| actor_id(rng, &pool))
                    .collect::<std::collections::BTreeSet<_>>());
            }
            if rng.chance(30) {
                let gs: std::collections::BTreeSet<&str> = (0..rng.below(2) + 1)
                    .map(|_| *rng.pick(&["gitlab_team_members", "beta_testers", "half", "no_such_group"]))
                    .collect();
                f["groups"] = json!(gs);
            }
            if rng.chance(50) {
                f["percentage_of_actors"] = json!(percentage(rng));
            }
            if rng.chance(15) {
                f["percentage_of_time"] = json!(percentage(rng));
            }
            if rng.chance(15) {
                f["expression"] = expression(rng, 0, &names);
            }
        }
        flags.insert(name.clone(), f);
    }
    let cases: Vec<Json> = (0..cases)
        .map(|_| {
            let flag = if rng.chance(3) { "undefined_flag".to_string() } else { rng.pick(&names).clone() };
            let n = *rng.pick(&[0, 1, 1, 1, 1, 1, 2, 3]);
            let actors: Vec<Json> = (0..n)
                .map(|_| {
                    let id = actor_id(rng, &pool);
                    if rng.chance(50) {
                        let props: serde_json::Map<String, Json> =
                            (0..rng.below(4)).map(|_| (rng.pick(PROPS).to_string(), property_value(rng))).collect();
                        json!({"id": id, "properties": props})
                    } else {
                        json!(id)
                    }
                })
                .collect();
            let random = if rng.chance(10) { *rng.pick(&[0.0, 0.25, 0.02007, 0.5, 0.99999]) } else { rng.unit() };
            json!({"flag": flag, "actors": actors, "random": random, "now": 1_600_000_000_000i64 + rng.below(200_000_000_000) as i64})
        })
        .collect();
    json!({"flags": flags, "groups": groups, "cases": cases})
}

#[test]
fn agrees_with_flipper_on_fresh_random_cases() {
    let seed = std::env::var("VEXIL_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(|| {
        let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap();
        t.as_nanos() as u64 ^ u64::from(std::process::id())
    });
    let total: usize = std::env::var("VEXIL_DIFF_CASES").ok().and_then(|s| s.parse().ok()).unwrap_or(50_000);
    eprintln!("differential: seed {seed} (VEXIL_SEED={seed} replays it), {total} cases");
    let mut rng = Rng(seed);
    let per_suite = 20;
    let suites: Vec<Json> = (0..total.div_ceil(per_suite)).map(|_| suite(&mut rng, per_suite)).collect();
    let answers = support::run_oracle(&suites);

    let (mut compared, mut derived, mut real_true) = (0usize, 0usize, 0usize);
    let mut failures = Vec::new();
    for (s, (suite, results)) in suites.iter().zip(&answers).enumerate() {
        let env = support::environment_from_suite(suite, "differential");
        let snapshot = support::encode_decode(&env);
        for (case, want) in suite["cases"].as_array().unwrap().iter().zip(results) {
            let flag = case["flag"].as_str().unwrap();
            let d = support::with_context(case, |ctx| snapshot.evaluate(flag, ctx));
            let want_enabled = want["enabled"].as_bool().unwrap();
            let want_reason = Reason::from_name(want["reason"].as_str().unwrap()).unwrap();
            compared += 1;
            if want["derived"].as_bool().unwrap() {
                derived += 1;
            } else if want_enabled {
                real_true += 1;
            }
            if (d.enabled, d.reason) != (want_enabled, want_reason) && failures.len() < 10 {
                failures.push(format!(
                    "suite {s}: flipper says {want_enabled}/{want_reason}, vexil {}/{}\n  case {case}\n  flag {}",
                    d.enabled,
                    d.reason,
                    suite["flags"].get(flag).unwrap_or(&Json::Null)
                ));
            }
        }
    }
    eprintln!("differential: {compared} compared, {derived} derived, {real_true} enabled by real Flipper");
    assert!(failures.is_empty(), "seed {seed}: {} disagreements, first:\n{}", failures.len(), failures.join("\n"));
    assert!(compared >= total);
    assert!(real_true > total / 20, "the random states open gates often enough to mean something");
}
