//! The snapshot body is postcard: the same state serialised by the postcard crate through
//! serde mirror types (written from docs/snapshot-format.md) gives exactly our bytes.

use serde::Serialize;
use vexil_core::{encode, Environment, Expr, Flag, FlagType, Function, Percentage, SigningKey};

#[derive(Serialize)]
struct SnapshotM {
    magic: [u8; 4],
    format: u8,
    environment: String,
    version: u64,
    published_at: i64,
    audience: AudienceM,
    kinds: Vec<String>,
    groups: Vec<GroupM>,
    flags: Vec<FlagM>,
    actor_keys: Vec<u8>,
    // serde has no 64-byte arrays; two halves serialise to the same raw bytes.
    signature: Option<([u8; 32], [u8; 32], [u8; 32])>,
}

#[derive(Serialize)]
enum AudienceM {
    Server,
    #[allow(dead_code)]
    Browser([u8; 16]),
}

#[derive(Serialize)]
struct GroupM {
    name: String,
    expression: Option<ExprM>,
}

#[derive(Serialize)]
struct FlagM {
    name: String,
    flag_type: u32,
    bits: u8,
    percentage_of_actors: u32,
    percentage_of_time: u32,
    actors: SetM,
    opt_outs: SetM,
    groups: Vec<u32>,
    expression: Option<ExprM>,
}

#[derive(Serialize)]
struct SetM {
    runs: Vec<RunM>,
    texts: Vec<String>,
}

#[derive(Serialize)]
struct RunM {
    kind: u32,
    count: u32,
    first: u64,
    k: u8,
}

#[derive(Serialize)]
enum ExprM {
    String(String),
    Integer(i64),
    Float(f64),
    Boolean(bool),
    Call(u32, Vec<ExprM>),
}

fn mirror(e: &Expr) -> ExprM {
    match e {
        Expr::String(s) => ExprM::String(s.clone()),
        Expr::Integer(i) => ExprM::Integer(*i),
        Expr::Float(f) => ExprM::Float(*f),
        Expr::Boolean(b) => ExprM::Boolean(*b),
        Expr::Call(f, args) => ExprM::Call(*f as u32, args.iter().map(mirror).collect()),
    }
}

/// An independent writer of the documented Rice stream, for the mirror.
fn rice(gaps: &[(u64, u8)]) -> Vec<u8> {
    let mut bits: Vec<bool> = Vec::new();
    for &(g, k) in gaps {
        bits.extend(std::iter::repeat_n(true, (g >> k) as usize));
        bits.push(false);
        bits.extend((0..k).map(|i| (g >> i) & 1 == 1));
    }
    bits.chunks(8).map(|c| c.iter().enumerate().fold(0u8, |b, (i, &bit)| b | (u8::from(bit) << i))).collect()
}

#[test]
fn body_is_postcard() {
    let mut env = Environment::new("production", 300, -5);
    let team = Expr::from_json_str(r#"{"Equal": [{"Property": ["team"]}, "gitlab"]}"#).unwrap();
    env.groups.insert("gitlab_team_members".into(), team.clone());
    let mut a = Flag::new(FlagType::Beta, true);
    a.persisted = true;
    a.client_side = true;
    for id in ["User:10", "User:13", "User:1000", "Project:7", "Repository:a/b.git", ""] {
        a.gates.actors.insert(id.into());
    }
    a.gates.opt_outs.insert("User:4".into());
    a.gates.groups.insert("gitlab_team_members".into());
    a.gates.groups.insert("unknown".into());
    a.gates.percentage_of_actors = Percentage::parse("2.007").unwrap();
    let expr = Expr::call(Function::Any, vec![Expr::Float(1.5), Expr::Integer(-3), Expr::Boolean(true)]).unwrap();
    a.gates.expression = Some(expr.clone());
    env.flags.insert("alpha".into(), a);
    env.flags.insert("beta".into(), Flag::new(FlagType::Ops, false));

    // Kinds sorted: Project 0, User 1. Groups sorted: gitlab_team_members 0, unknown 1.
    let want = SnapshotM {
        magic: *b"VEXL",
        format: 1,
        environment: "production".into(),
        version: 300,
        published_at: -5,
        audience: AudienceM::Server,
        kinds: vec!["Project".into(), "User".into()],
        groups: vec![
            GroupM { name: "gitlab_team_members".into(), expression: Some(mirror(&team)) },
            GroupM { name: "unknown".into(), expression: None },
        ],
        flags: vec![
            FlagM {
                name: "alpha".into(),
                flag_type: 2,
                bits: 1 | 2 | 8,
                percentage_of_actors: 2007,
                percentage_of_time: 0,
                // User keys 10, 13, 1000: gaps 2 and 986. Cost with k: k=0: 990+2; best is
                // k=8 (3+1+8 + 0+1+8 = 21 bits) against k=9 (1+1+9 + 0+1+9 = 21): the smaller.
                actors: SetM {
                    runs: vec![RunM { kind: 0, count: 1, first: 7, k: 0 }, RunM { kind: 1, count: 3, first: 10, k: 8 }],
                    texts: vec!["".into(), "Repository:a/b.git".into()],
                },
                opt_outs: SetM { runs: vec![RunM { kind: 1, count: 1, first: 4, k: 0 }], texts: vec![] },
                groups: vec![0, 1],
                expression: Some(mirror(&expr)),
            },
            FlagM {
                name: "beta".into(),
                flag_type: 3,
                bits: 0,
                percentage_of_actors: 0,
                percentage_of_time: 0,
                actors: SetM { runs: vec![], texts: vec![] },
                opt_outs: SetM { runs: vec![], texts: vec![] },
                groups: vec![],
                expression: None,
            },
        ],
        actor_keys: rice(&[(2, 8), (986, 8)]),
        signature: None,
    };
    assert_eq!(encode(&env, None).unwrap(), postcard::to_allocvec(&want).unwrap());

    let key = SigningKey::from_seed([3; 32]).unwrap();
    let signed = encode(&env, Some(&key)).unwrap();
    let sig: [u8; 64] = signed[signed.len() - 64..].try_into().unwrap();
    let want = SnapshotM {
        signature: Some((key.public_key(), sig[..32].try_into().unwrap(), sig[32..].try_into().unwrap())),
        ..want
    };
    assert_eq!(signed, postcard::to_allocvec(&want).unwrap());
}
