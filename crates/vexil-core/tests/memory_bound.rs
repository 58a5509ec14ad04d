//! Decoding costs what the input holds, not what it claims: 2 MiB forged snapshots of every
//! shape that expands when decoded are refused, or decoded, under a 128 MiB allocator (what
//! workerd gives an isolate), and with keys given a forgery is refused before anything is
//! allocated for it.
//!
//! One test function: the allocator is global, so cases must not run side by side.

use cap::Cap;
use std::alloc::System;
use std::collections::{BTreeMap, BTreeSet};
use vexil_core::limits::MAX_ACTOR_IDS;
use vexil_core::{
    encode, ActorSet, Audience, DecodeErrorKind, Environment, Expr, Flag, FlagType, Function, SigningKey, Snapshot,
};

#[global_allocator]
static ALLOCATOR: Cap<System> = Cap::new(System, usize::MAX);

const LIMIT: usize = 128 << 20;
const INPUT: usize = 2 << 20;

fn varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push(v as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// A snapshot whose one flag claims a run of consecutive `User` ids as long as the input's
/// bits allow: eight keys (64 bytes decoded) per input byte.
fn dense_run(trailer: &[u8]) -> Vec<u8> {
    let mut b = b"VEXL\x01".to_vec();
    b.extend_from_slice(&[1, b'x', 1, 0, 0]); // environment "x", version 1, published 0, server
    b.extend_from_slice(&[1, 4]);
    b.extend_from_slice(b"User"); // the kind table
    b.push(0); // no groups
    b.extend_from_slice(&[1, 1, b'f', 0, 2, 0, 0]); // one flag "f", persisted, no percentages
    let blob = INPUT - 64 - trailer.len();
    b.push(1); // one run
    b.push(0); // of kind User
    varint(&mut b, blob as u64 * 8); // ids
    b.extend_from_slice(&[0, 0]); // first key, Rice parameter
    b.extend_from_slice(&[0, 0, 0, 0, 0]); // no texts; no opt-outs; no groups; no expression
    varint(&mut b, blob as u64);
    b.resize(b.len() + blob, 0xff);
    b.extend_from_slice(trailer);
    b
}

/// Decodes under the limit: an allocation past it fails, and the process aborts.
fn decode_limited(bytes: &[u8], keys: &[[u8; 32]], limit: usize) -> Result<usize, DecodeErrorKind> {
    ALLOCATOR.set_limit(ALLOCATOR.allocated() + limit).unwrap();
    let result = Snapshot::decode(bytes, keys).map(|s| s.len()).map_err(|e| e.kind());
    ALLOCATOR.set_limit(usize::MAX).unwrap();
    result
}

fn environment(flags: BTreeMap<String, Flag>, groups: BTreeMap<String, Expr>, audience: Audience) -> Environment {
    Environment { audience, groups, flags, ..Environment::new("production", 7, 0) }
}

fn persisted() -> Flag {
    let mut f = Flag::new(FlagType::Development, false);
    f.persisted = true;
    f
}

#[test]
fn two_mebibytes_of_anything_decode_or_fail_within_128_mebibytes() {
    let key = SigningKey::from_seed([3; 32]).unwrap();
    let trusted = [key.public_key()];

    // With keys, a forged signature is refused without room made for the input (a copy of it
    // would pass the 64 KiB limit).
    let mut trailer = vec![1];
    trailer.extend_from_slice(&key.public_key());
    trailer.extend_from_slice(&[0x5a; 64]);
    let forged = dense_run(&trailer);
    assert!((INPUT - 64..=INPUT).contains(&forged.len()));
    assert_eq!(decode_limited(&forged, &trusted, 64 << 10), Err(DecodeErrorKind::BadSignature));

    // Unsigned, the same claim of 16 million ids is refused before room is made for them.
    let unsigned = dense_run(&[0]);
    assert_eq!(decode_limited(&unsigned, &[], LIMIT), Err(DecodeErrorKind::TooLarge));
    // And stripped of its signature, the forgery is refused as unsigned.
    assert_eq!(decode_limited(&unsigned, &trusted, LIMIT), Err(DecodeErrorKind::Unsigned));

    // Shapes a publisher could write, each filling 2 MiB, decode within the limit.
    let many_flags: BTreeMap<String, Flag> = (0..150_000).map(|i| (format!("flag_{i:06}"), persisted())).collect();
    let mut allow_texts = persisted();
    allow_texts.gates.actors = ActorSet::Ids((0..600_000u32).map(|i| format!("{i:x}")).collect());
    let mut allow_numeric = persisted();
    allow_numeric.gates.actors = ActorSet::Ids((0..MAX_ACTOR_IDS as u64).map(|i| format!("User:{}", i * 3)).collect());
    let mut hashed = persisted();
    hashed.client_side = true;
    hashed.gates.actors = ActorSet::Hashed((0..250_000u64).map(|i| i * 7919).collect());
    hashed.gates.opt_outs = ActorSet::Hashed(BTreeSet::new());
    let wide = Expr::Call(Function::All, vec![Expr::Boolean(true); 1024]);
    let groups: BTreeMap<String, Expr> = (0..1000).map(|i| (format!("group_{i:04}"), wide.clone())).collect();
    let cases = [
        ("150,000 flags", environment(many_flags, BTreeMap::new(), Audience::Server)),
        ("600,000 text ids", environment([("f".to_string(), allow_texts)].into(), BTreeMap::new(), Audience::Server)),
        (
            "the most numeric ids",
            environment([("f".to_string(), allow_numeric)].into(), BTreeMap::new(), Audience::Server),
        ),
        (
            "250,000 hashed ids",
            environment([("f".to_string(), hashed)].into(), BTreeMap::new(), Audience::Browser { salt: [1; 16] }),
        ),
        ("a million expression nodes", environment(BTreeMap::new(), groups, Audience::Server)),
    ];
    for (what, env) in cases {
        let bytes = encode(&env, Some(&key)).unwrap();
        assert!(bytes.len() > 256 << 10, "{what}: {} bytes", bytes.len());
        assert_eq!(decode_limited(&bytes, &trusted, LIMIT), Ok(env.flags.len()), "{what}");
    }

    // One id past the limit: the publisher refuses to write it, naming the limit.
    let mut over = persisted();
    over.gates.actors =
        ActorSet::Ids((0..=MAX_ACTOR_IDS as u64).map(|i| format!("Project:{i}")).collect::<BTreeSet<_>>());
    let err =
        encode(&environment([("f".to_string(), over)].into(), BTreeMap::new(), Audience::Server), None).unwrap_err();
    assert!(err.message().contains("at most 1048576"), "{err}");
}
