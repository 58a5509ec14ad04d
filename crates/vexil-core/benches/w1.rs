//! Workload W1 (support/w1.rs): 1,000 flags, each with 10 allow-listed users and a 25%
//! percentage-of-actors rollout; 10,000 users; 1,000,000 (flag, user) pairs. vexil-core
//! against unleash-yggdrasil evaluating the same workload as Unleash strategies, in one run.
//!
//!     make bench-core

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use std::hint::black_box;
use std::io::Write;
use vexil_core::{encode, Actor, Context, Environment, SigningKey, Snapshot, Timestamp};

#[path = "../tests/support/rng.rs"]
mod rng;
#[path = "support/w1.rs"]
mod workload;

struct W1 {
    flags: Vec<String>,
    users: Vec<String>,
    pairs: Vec<(u16, u16)>,
    env: Environment,
    unleash: String,
}

fn load() -> W1 {
    let w1 = workload::W1::generate();
    W1 {
        env: w1.environment(false),
        unleash: w1.unleash().to_string(),
        flags: w1.flags.into_iter().map(|(name, _)| name).collect(),
        users: w1.users,
        pairs: w1.pairs,
    }
}

fn gzip(bytes: &[u8]) -> usize {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    e.write_all(bytes).unwrap();
    e.finish().unwrap().len()
}

fn bench(c: &mut Criterion) {
    let w1 = load();
    let key = SigningKey::from_seed([42; 32]).unwrap();
    let unsigned = encode(&w1.env, None).unwrap();
    let signed = encode(&w1.env, Some(&key)).unwrap();
    let snapshot = Snapshot::decode(&unsigned, &[]).unwrap();
    let now = Timestamp::from_unix_millis(1_700_000_000_000);

    // Sizes are facts, not timings: print them once for the README.
    let enabled = w1
        .pairs
        .iter()
        .filter(|(f, u)| {
            let actors = [Actor::new(&w1.users[*u as usize])];
            snapshot.evaluate(&w1.flags[*f as usize], &Context::new(&actors, 0.5, now)).enabled
        })
        .count();
    eprintln!(
        "W1 snapshot: {} bytes raw, {} bytes gzip -9; signed {} bytes; {} of {} pairs enabled",
        unsigned.len(),
        gzip(&unsigned),
        signed.len(),
        enabled,
        w1.pairs.len()
    );

    // The same state as a browser snapshot, every flag client-side: the allow-lists become
    // 8-byte salted hashes instead of Rice-coded numbers, and must answer identically.
    let mut all_client_side = w1.env.clone();
    all_client_side.flags.values_mut().for_each(|f| f.client_side = true);
    let browser_env = all_client_side.for_browser([7; 16]).unwrap();
    let browser_bytes = encode(&browser_env, None).unwrap();
    let browser = Snapshot::decode(&browser_bytes, &[]).unwrap();
    let disagree = w1
        .pairs
        .iter()
        .take(200_000)
        .filter(|(f, u)| {
            let actors = [Actor::new(&w1.users[*u as usize])];
            let ctx = Context::new(&actors, 0.5, now);
            let name = &w1.flags[*f as usize];
            snapshot.evaluate(name, &ctx) != browser.evaluate(name, &ctx)
        })
        .count();
    assert_eq!(disagree, 0, "the browser snapshot disagrees with the full one");
    eprintln!(
        "W1 browser snapshot (every flag client-side): {} bytes raw, {} bytes gzip -9; signed {} bytes",
        browser_bytes.len(),
        gzip(&browser_bytes),
        encode(&browser_env, Some(&key)).unwrap().len()
    );

    const BATCH: usize = 1024;
    let mut g = c.benchmark_group("evaluate");
    g.throughput(Throughput::Elements(BATCH as u64));
    // Evaluates the next BATCH pairs of `pairs` (wrapping) on `s`; `at` carries over.
    let walk = |s: &Snapshot, pairs: &[(u16, u16)], at: &mut usize| {
        let mut on = 0u32;
        for _ in 0..BATCH {
            let (f, u) = pairs[*at];
            *at = if *at + 1 == pairs.len() { 0 } else { *at + 1 };
            let actors = [Actor::new(&w1.users[u as usize])];
            on += u32::from(s.evaluate(&w1.flags[f as usize], &Context::new(&actors, 0.5, now)).enabled);
        }
        black_box(on)
    };
    let mut at = 0;
    g.bench_function(BenchmarkId::new("vexil", "w1"), |b| b.iter(|| walk(&snapshot, &w1.pairs, &mut at)));

    // The same evaluations with a working set that stays in L1: what evaluation itself costs
    // once the random walk over 1M pairs stops missing the cache.
    let hot: Vec<(u16, u16)> = w1.pairs.iter().take(64).copied().collect();
    let mut at = 0;
    g.bench_function(BenchmarkId::new("vexil_hot", "w1"), |b| b.iter(|| walk(&snapshot, &hot, &mut at)));

    // A browser snapshot hashes the actor's id (SipHash-2-4) for each allow-list lookup.
    let mut at = 0;
    g.bench_function(BenchmarkId::new("vexil_browser", "w1"), |b| b.iter(|| walk(&browser, &w1.pairs, &mut at)));

    // The floor: what reading the pair's two strings costs, without evaluating anything.
    let mut at = 0;
    g.bench_function(BenchmarkId::new("harness_only", "w1"), |b| {
        b.iter(|| {
            let mut sum = 0usize;
            for _ in 0..BATCH {
                let (f, u) = w1.pairs[at];
                at = if at + 1 == w1.pairs.len() { 0 } else { at + 1 };
                let (f, u) = (black_box(&w1.flags[f as usize]), black_box(&w1.users[u as usize]));
                sum += usize::from(f.as_bytes()[f.len() - 1]) + usize::from(u.as_bytes()[u.len() - 1]);
            }
            black_box(sum)
        })
    });

    let engine = unleash_yggdrasil::EngineState::default();
    let features: unleash_types::client_features::ClientFeatures = serde_json::from_str(&w1.unleash).unwrap();
    engine.take_state(unleash_yggdrasil::UpdateMessage::FullResponse(features.clone()));
    let contexts: Vec<unleash_types::client_features::Context> = w1
        .users
        .iter()
        .map(|u| unleash_types::client_features::Context { user_id: Some(u.clone()), ..Default::default() })
        .collect();
    let agree = w1.pairs.iter().take(100_000).all(|(f, u)| {
        let actors = [Actor::new(&w1.users[*u as usize])];
        let ours = snapshot.evaluate(&w1.flags[*f as usize], &Context::new(&actors, 0.5, now)).enabled;
        let allowed = w1.env.flags[&w1.flags[*f as usize]].gates.actors.contains(&w1.users[*u as usize], None);
        // Different hashes pick different 25%s; allow-listed users must agree.
        !allowed || ours == engine.is_enabled(&w1.flags[*f as usize], &contexts[*u as usize], &None)
    });
    assert!(agree, "yggdrasil and vexil disagree on allow-listed users");
    let mut at = 0;
    g.bench_function(BenchmarkId::new("yggdrasil", "w1"), |b| {
        b.iter(|| {
            let mut on = 0u32;
            for _ in 0..BATCH {
                let (f, u) = w1.pairs[at];
                at = if at + 1 == w1.pairs.len() { 0 } else { at + 1 };
                on += u32::from(engine.is_enabled(&w1.flags[f as usize], &contexts[u as usize], &None));
            }
            black_box(on)
        })
    });
    g.finish();

    let mut g = c.benchmark_group("load");
    g.bench_function("vexil_decode_w1", |b| b.iter(|| Snapshot::decode(black_box(&unsigned), &[]).unwrap()));
    let trusted = [key.public_key()];
    g.bench_function("vexil_decode_verify_w1", |b| b.iter(|| Snapshot::decode(black_box(&signed), &trusted).unwrap()));
    g.bench_function("vexil_encode_w1", |b| b.iter(|| encode(black_box(&w1.env), None).unwrap()));
    g.sample_size(10);
    g.bench_function("yggdrasil_take_state_w1", |b| {
        b.iter(|| {
            let e = unleash_yggdrasil::EngineState::default();
            let f: unleash_types::client_features::ClientFeatures = serde_json::from_str(&w1.unleash).unwrap();
            e.take_state(unleash_yggdrasil::UpdateMessage::FullResponse(f));
            e
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
