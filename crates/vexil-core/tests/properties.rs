//! Property tests: the codec round-trips and is canonical, decoding is total, percentages are
//! monotonic, and signatures refuse every forgery and truncation.

#[path = "support/edits.rs"]
mod edits;

use proptest::prelude::*;
use std::collections::{BTreeMap, BTreeSet};
use vexil_core::{
    encode, Actor, ActorSet, Audience, Context, DecodeErrorKind, Environment, Expr, Flag, FlagType, Function, Gates,
    Percentage, SigningKey, Snapshot, Timestamp,
};

fn actor_id() -> impl Strategy<Value = String> {
    prop_oneof![
        (prop::sample::select(vec!["User", "Project", "Group", "Namespace"]), 0u64..20_000)
            .prop_map(|(k, n)| format!("{k}:{n}")),
        (prop::sample::select(vec!["User", "Project"]), any::<u64>()).prop_map(|(k, n)| format!("{k}:{n}")),
        "[A-Za-z:/._0-9ßü🚀-]{0,24}",
    ]
    .prop_filter("opt-outs are kept apart", |id| !id.ends_with(":opt_out"))
}

fn constant() -> impl Strategy<Value = Expr> {
    prop_oneof![
        "[a-z0-9 ]{0,8}".prop_map(Expr::String),
        any::<i64>().prop_map(Expr::Integer),
        any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(Expr::Float),
        any::<bool>().prop_map(Expr::Boolean),
    ]
}

fn expr() -> impl Strategy<Value = Expr> {
    constant().prop_recursive(4, 24, 4, |inner| {
        (prop::sample::select(Function::ALL.to_vec()), prop::collection::vec(inner, 0..4)).prop_map(|(f, mut args)| {
            let (min, max) = f.arity();
            while args.len() < min {
                args.push(Expr::Integer(1));
            }
            args.truncate(max);
            Expr::Call(f, args)
        })
    })
}

fn percentage() -> impl Strategy<Value = Percentage> {
    prop_oneof![Just(0u32), Just(100_000u32), 0u32..=100_000].prop_map(|m| Percentage::from_thousandths(m).unwrap())
}

fn flag(browser: bool) -> impl Strategy<Value = Flag> {
    let set = move || {
        prop::collection::btree_set(actor_id(), 0..12).prop_map(move |ids| {
            if browser {
                let salt = [7u8; 16];
                ActorSet::Hashed(ids.iter().map(|id| hash(&salt, id)).collect())
            } else {
                ActorSet::Ids(ids)
            }
        })
    };
    let empty = if browser { ActorSet::Hashed(BTreeSet::new()) } else { ActorSet::Ids(BTreeSet::new()) };
    (
        prop::sample::select(FlagType::ALL.to_vec()),
        any::<[bool; 4]>(),
        set(),
        set(),
        prop::collection::btree_set("[a-z_]{1,10}", 0..3),
        percentage(),
        percentage(),
        prop::option::of(expr()),
    )
        .prop_map(
            move |(
                flag_type,
                [default_enabled, client_side, persisted, boolean],
                actors,
                opt_outs,
                groups,
                poa,
                pot,
                expression,
            )| {
                let gates = if persisted {
                    Gates {
                        boolean,
                        actors,
                        opt_outs,
                        groups,
                        percentage_of_actors: poa,
                        percentage_of_time: pot,
                        expression,
                    }
                } else {
                    Gates { actors: empty.clone(), opt_outs: empty.clone(), ..Gates::default() }
                };
                Flag { flag_type, default_enabled, client_side: client_side || browser, persisted, gates }
            },
        )
}

/// Browser snapshots hash ids; the property tests only need some set of 64-bit values.
fn hash(salt: &[u8; 16], id: &str) -> u64 {
    vexil_core::crc32(id.as_bytes()) as u64 ^ (u64::from(salt[0]) << 40) ^ (id.len() as u64) << 32
}

/// Flag names of the browser-agreement environments: few, so expressions name real flags.
const NAMES: [&str; 6] = ["a", "b", "c", "d", "e", "f"];
const PLANS: [&str; 3] = ["gold", "free", "staff"];

/// Actor ids drawn from a small pool, so contexts hit allow-lists and opt-outs often.
fn pooled_id() -> impl Strategy<Value = String> {
    prop_oneof![
        (prop::sample::select(vec!["User", "Project", "Group"]), 0u64..24).prop_map(|(k, n)| format!("{k}:{n}")),
        prop::sample::select(vec!["alice@example.com", "bob", "User:x", "Team:7a"]).prop_map(String::from),
    ]
}

fn plan_is(plan: &str) -> Expr {
    Expr::Call(
        Function::Equal,
        vec![Expr::Call(Function::Property, vec![Expr::String("plan".into())]), Expr::String(plan.into())],
    )
}

/// Expressions that read the actor's plan, ask about other flags, or are anything at all.
fn agreement_expr() -> impl Strategy<Value = Expr> {
    prop_oneof![
        prop::sample::select(PLANS.to_vec()).prop_map(plan_is),
        prop::sample::select(NAMES.to_vec())
            .prop_map(|n| Expr::Call(Function::FeatureEnabled, vec![Expr::String(n.into())])),
        // A computed name: the flag is whatever the actor's property says.
        Just(Expr::Call(
            Function::FeatureEnabled,
            vec![Expr::Call(Function::Property, vec![Expr::String("plan".into())])]
        )),
        expr(),
    ]
}

/// A server environment where some flags are client-side.
fn mixed_environment() -> impl Strategy<Value = Environment> {
    let set = || prop::collection::btree_set(pooled_id(), 0..6).prop_map(ActorSet::Ids);
    let flag = (
        any::<[bool; 4]>(),
        set(),
        set(),
        prop::collection::btree_set(prop::sample::select(vec!["staff", "gold", "none"]).prop_map(String::from), 0..3),
        percentage(),
        percentage(),
        prop::option::weighted(0.4, agreement_expr()),
    )
        .prop_map(
            |([default_enabled, client_side, persisted, boolean], actors, opt_outs, groups, poa, pot, expression)| {
                let gates = if persisted {
                    Gates {
                        boolean,
                        actors,
                        opt_outs,
                        groups,
                        percentage_of_actors: poa,
                        percentage_of_time: pot,
                        expression,
                    }
                } else {
                    Gates::default()
                };
                Flag { flag_type: FlagType::Beta, default_enabled, client_side, persisted, gates }
            },
        );
    (
        prop::collection::btree_map(prop::sample::select(NAMES.to_vec()).prop_map(String::from), flag, 1..6),
        prop::option::of(agreement_expr()),
    )
        .prop_map(|(flags, gold)| {
            let mut env = Environment::new("production", 9, 1_700_000_000_000);
            env.flags = flags;
            env.groups.insert("staff".into(), plan_is("staff"));
            if let Some(gold) = gold {
                env.groups.insert("gold".into(), gold);
            }
            env
        })
}

fn environment() -> impl Strategy<Value = Environment> {
    any::<bool>().prop_flat_map(|browser| {
        (
            "[a-z-]{0,12}",
            any::<u64>(),
            any::<i64>(),
            prop::collection::btree_map("[a-z_]{1,10}", expr(), 0..3),
            prop::collection::btree_map("[a-z0-9_]{1,16}", flag(browser), 0..8),
        )
            .prop_map(move |(name, version, published_at, groups, flags)| Environment {
                name,
                version,
                published_at,
                audience: if browser { Audience::Browser { salt: [7; 16] } } else { Audience::Server },
                groups,
                flags,
            })
    })
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 512,
        failure_persistence: Some(Box::new(prop::test_runner::FileFailurePersistence::WithSource("regressions"))),
        ..ProptestConfig::default()
    })]

    /// A browser snapshot answers exactly as the full one for every client-side flag, and
    /// knows no other flag.
    #[test]
    fn browser_snapshots_agree_with_server_snapshots(
        env in mixed_environment(),
        salt in any::<[u8; 16]>(),
        contexts in prop::collection::vec((
            prop::collection::vec((pooled_id(), any::<bool>(), prop::sample::select(PLANS.to_vec())), 0..3),
            0.0f64..1.0,
            any::<i64>(),
        ), 1..24),
    ) {
        let browser = match env.for_browser(salt) {
            Ok(b) => b,
            Err(e) => {
                // Refused only when a client-side flag really asks about a server-only one.
                let flag = &env.flags[e.flag().unwrap()];
                let exprs: Vec<&Expr> = flag.gates.expression.iter()
                    .chain(flag.gates.groups.iter().filter_map(|g| env.groups.get(g))).collect();
                let asks: Vec<&str> = exprs.iter().flat_map(|e| e.feature_references()).collect();
                prop_assert!(flag.client_side);
                prop_assert!(
                    exprs.iter().any(|e| e.asks_computed_feature())
                        || asks.iter().any(|n| env.flags.get(*n).is_some_and(|f| !f.client_side)),
                    "{}", e
                );
                return Ok(());
            }
        };
        let server = Snapshot::decode(&encode(&env, None).unwrap(), &[]).unwrap();
        let bytes = encode(&browser, None).unwrap();
        let in_browser = Snapshot::decode(&bytes, &[]).unwrap();
        prop_assert_eq!(in_browser.audience(), Audience::Browser { salt });
        for (actors, random, now) in &contexts {
            // `X:opt_out` is GitLab's spelling of an opt-out, which passes the actor gate.
            let ids: Vec<String> = actors.iter().map(|(id, o, _)| if *o && id.len() % 3 == 0 { format!("{id}:opt_out") } else { id.clone() }).collect();
            let props: Vec<[(&str, vexil_core::Value); 1]> = actors.iter().map(|(_, _, plan)| [("plan", vexil_core::Value::Str(plan))]).collect();
            let list: Vec<Actor> = ids.iter().zip(&props).map(|(id, p)| Actor::with_properties(id, p)).collect();
            let context = Context::new(&list, *random, Timestamp::from_unix_millis(*now));
            for (name, flag) in &env.flags {
                let in_page = in_browser.evaluate(name, &context);
                if flag.client_side {
                    prop_assert_eq!(in_page, server.evaluate(name, &context), "flag {}", name);
                } else {
                    prop_assert_eq!(in_page.reason, vexil_core::Reason::NotFound, "flag {}", name);
                    prop_assert!(!in_page.enabled);
                }
            }
        }
    }

    /// Evaluating many flags for one context (each actor probed once for all of them, the
    /// first four kept) answers as evaluating each flag alone, in full and browser
    /// snapshots, for contexts of up to seven actors, in any order, repeats and unknown
    /// indexes included.
    #[test]
    fn evaluating_many_flags_agrees_with_one_at_a_time(
        env in mixed_environment(),
        salt in any::<[u8; 16]>(),
        actors in prop::collection::vec((pooled_id(), any::<bool>(), prop::sample::select(PLANS.to_vec())), 0..8),
        order in prop::collection::vec(0u32..8, 0..24),
        random in 0.0f64..1.0,
    ) {
        let ids: Vec<String> = actors.iter().map(|(id, o, _)| if *o { format!("{id}:opt_out") } else { id.clone() }).collect();
        let props: Vec<[(&str, vexil_core::Value); 1]> = actors.iter().map(|(_, _, plan)| [("plan", vexil_core::Value::Str(plan))]).collect();
        let list: Vec<Actor> = ids.iter().zip(&props).map(|(id, p)| Actor::with_properties(id, p)).collect();
        let context = Context::new(&list, random, Timestamp::default());
        let mut snapshots = vec![Snapshot::decode(&encode(&env, None).unwrap(), &[]).unwrap()];
        if let Ok(browser) = env.for_browser(salt) {
            snapshots.push(Snapshot::decode(&encode(&browser, None).unwrap(), &[]).unwrap());
        }
        for snapshot in &snapshots {
            let every: Vec<u32> = (0..snapshot.len() as u32).chain(order.iter().copied()).collect();
            let mut answered = Vec::new();
            snapshot.evaluate_many(every.iter().copied(), &context, |i, d| answered.push((i, d)));
            let alone: Vec<_> = every.iter().map(|&i| (i, snapshot.evaluate_index(i, &context))).collect();
            prop_assert_eq!(answered, alone, "{:?}", snapshot.audience());
        }
    }

    #[test]
    fn decode_inverts_encode(env in environment()) {
        let bytes = encode(&env, None).unwrap();
        let snapshot = Snapshot::decode(&bytes, &[]).unwrap();
        prop_assert_eq!(snapshot.to_environment(), env.clone());
        prop_assert_eq!(snapshot.bytes(), &bytes[..]);
        prop_assert_eq!(snapshot.len(), env.flags.len());
    }

    /// The actor gate opens for exactly the ids its allow-list holds, in full and browser
    /// snapshots, at every allow-list length: the per-set filter that answers most misses
    /// before the keys are searched never turns a member away.
    #[test]
    fn allow_lists_hold_exactly_their_ids(
        ids in prop::collection::btree_set(actor_id(), 0..48),
        strangers in prop::collection::vec(actor_id(), 0..32),
        salt in any::<[u8; 16]>(),
    ) {
        let mut env = Environment::new("production", 1, 0);
        let mut flag = Flag::new(FlagType::Beta, false);
        flag.persisted = true;
        flag.client_side = true;
        flag.gates.actors = ActorSet::Ids(ids.clone());
        env.flags.insert("allow_listed".into(), flag);
        let full = Snapshot::decode(&encode(&env, None).unwrap(), &[]).unwrap();
        let browser = Snapshot::decode(&encode(&env.for_browser(salt).unwrap(), None).unwrap(), &[]).unwrap();
        for id in ids.iter().chain(&strangers) {
            let actors = [Actor::new(id)];
            let ctx = Context::new(&actors, 0.5, Timestamp::default());
            for snapshot in [&full, &browser] {
                let d = snapshot.evaluate("allow_listed", &ctx);
                prop_assert_eq!(d.enabled, ids.contains(id), "{} in {:?}", id, snapshot.audience());
            }
        }
    }

    #[test]
    fn equal_states_encode_equally(env in environment()) {
        // Rebuilt from scratch in reverse insertion order: the same bytes.
        let mut again = Environment::new(env.name.clone(), env.version, env.published_at);
        again.audience = env.audience;
        for (k, v) in env.flags.iter().rev() { again.flags.insert(k.clone(), v.clone()); }
        for (k, v) in env.groups.iter().rev() { again.groups.insert(k.clone(), v.clone()); }
        prop_assert_eq!(encode(&env, None).unwrap(), encode(&again, None).unwrap());
    }

    /// Decoding is total, and whatever it accepts is the one canonical encoding of its state.
    #[test]
    fn decode_is_total_and_canonical(env in environment(), edits in edits::edits()) {
        let mut bytes = encode(&env, None).unwrap();
        edits::apply(&mut bytes, &edits);
        if let Ok(snapshot) = Snapshot::decode(&bytes, &[]) {
            prop_assert_eq!(encode(&snapshot.to_environment(), None).unwrap(), bytes);
        }
    }

    /// Name lookup reads names a word at a time, with overlapping tail words: every length
    /// from 1 to 24 finds its flag, and a name one byte off (at any place) or one byte
    /// shorter or longer finds none.
    #[test]
    fn flag_lookup_finds_names_of_every_length(names in prop::collection::btree_set("[a-z0-9_]{1,24}", 1..40), probe in any::<prop::sample::Index>(), at in any::<prop::sample::Index>(), byte in b'a'..=b'z') {
        let mut env = Environment::new("production", 1, 0);
        for name in &names {
            env.flags.insert(name.clone(), Flag::new(FlagType::Development, true));
        }
        let s = Snapshot::decode(&encode(&env, None).unwrap(), &[]).unwrap();
        for (i, name) in names.iter().enumerate() {
            prop_assert_eq!(s.find(name), Some(i as u32));
        }
        let name = probe.get(&names.iter().collect::<Vec<_>>()).as_bytes().to_vec();
        let mut changed = name.clone();
        let i = at.index(name.len());
        changed[i] = if changed[i] == byte { b'-' } else { byte };
        let mut longer = name.clone();
        longer.push(b'x');
        for other in [changed, longer, name[..name.len() - 1].to_vec()] {
            let other = String::from_utf8(other).unwrap();
            if !names.contains(&other) {
                prop_assert_eq!(s.find(&other), None, "{}", other);
            }
        }
    }

    #[test]
    fn decode_never_panics_on_noise(mut bytes in prop::collection::vec(any::<u8>(), 0..300), header in any::<bool>()) {
        if header { bytes.splice(0..0, *b"VEXL\x01"); }
        let _ = Snapshot::decode(&bytes, &[]);
        let _ = Snapshot::decode(&bytes, &[[1; 32]]);
    }

    /// An actor enabled at p stays enabled at every p' > p (Flipper's sticky rollouts).
    #[test]
    fn percentage_of_actors_is_monotonic(name in "[a-z_]{1,20}", ids in prop::collection::vec(actor_id(), 1..4), a in 0u32..=100_000, b in 0u32..=100_000) {
        let (lo, hi) = (a.min(b), a.max(b));
        let enabled = |m: u32| {
            let mut env = Environment::new("p", 1, 0);
            let mut f = Flag::new(FlagType::Development, false);
            f.persisted = true;
            f.gates.percentage_of_actors = Percentage::from_thousandths(m).unwrap();
            env.flags.insert(name.clone(), f);
            let s = Snapshot::decode(&encode(&env, None).unwrap(), &[]).unwrap();
            let actors: Vec<Actor> = ids.iter().map(|id| Actor::new(id)).collect();
            s.evaluate(&name, &Context::new(&actors, 0.5, Timestamp::default())).enabled
        };
        prop_assert!(!enabled(lo) || enabled(hi));
    }

    #[test]
    fn forged_and_truncated_signatures_are_refused(env in environment(), seed in any::<[u8; 32]>().prop_filter("random seeds are never all zero", |s| s.iter().any(|&b| b != 0) && s[0] != 255), at in any::<prop::sample::Index>(), bit in 0u8..8) {
        let key = SigningKey::from_seed(seed).unwrap();
        let trusted = [key.public_key()];
        let bytes = encode(&env, Some(&key)).unwrap();
        let snapshot = Snapshot::decode(&bytes, &trusted).unwrap();
        prop_assert_eq!(snapshot.signer(), Some(&key.public_key()));

        let mut forged = bytes.clone();
        let i = at.index(forged.len());
        forged[i] ^= 1 << bit;
        prop_assert!(Snapshot::decode(&forged, &trusted).is_err());
        prop_assert!(Snapshot::decode(&bytes[..i], &trusted).is_err());

        let other = SigningKey::from_seed([seed[0].wrapping_add(1); 32]).unwrap();
        let err = Snapshot::decode(&bytes, &[other.public_key()]).unwrap_err();
        prop_assert_eq!(err.kind(), DecodeErrorKind::UntrustedKey);
        let unsigned = encode(&env, None).unwrap();
        prop_assert_eq!(Snapshot::decode(&unsigned, &trusted).unwrap_err().kind(), DecodeErrorKind::Unsigned);
        // Re-signing with another key does not pass for the trusted one.
        let resigned = encode(&env, Some(&other)).unwrap();
        prop_assert_eq!(Snapshot::decode(&resigned, &trusted).unwrap_err().kind(), DecodeErrorKind::UntrustedKey);
    }
}

#[test]
fn signature_covers_body_and_tampering_names_the_cause() {
    let mut env = Environment::new("production", 42, 1_700_000_000_000);
    let mut f = Flag::new(FlagType::Beta, false);
    f.persisted = true;
    f.gates.boolean = true;
    env.flags.insert("new_navigation_bar".into(), f);
    let key = SigningKey::from_seed([9; 32]).unwrap();
    let mut bytes = encode(&env, Some(&key)).unwrap();
    // Turn the boolean gate off inside the signed body: the bits byte sits right after the
    // flag name and type.
    let name_at = bytes.windows(18).position(|w| w == b"new_navigation_bar").unwrap();
    let bits_at = name_at + 18 + 1;
    assert_eq!(bytes[bits_at] & 4, 4);
    bytes[bits_at] &= !4;
    let err = Snapshot::decode(&bytes, &[key.public_key()]).unwrap_err();
    assert_eq!(err.kind(), DecodeErrorKind::BadSignature);
    // Without keys, the tampered snapshot decodes: verification is the caller's policy.
    let s = Snapshot::decode(&bytes, &[]).unwrap();
    assert!(!s.evaluate("new_navigation_bar", &Context::default()).enabled);
}

#[test]
fn future_versions_and_garbage_get_clear_errors() {
    let env = Environment::new("production", 1, 0);
    let mut bytes = encode(&env, None).unwrap();
    bytes[4] = 2;
    let err = Snapshot::decode(&bytes, &[]).unwrap_err();
    assert_eq!(err.kind(), DecodeErrorKind::VersionMismatch { expected: 1, found: 2 });
    assert!(err.to_string().contains("format version 2 is not supported"), "{err}");
    assert_eq!(Snapshot::decode(b"<html>", &[]).unwrap_err().kind(), DecodeErrorKind::BadMagic);
    assert_eq!(Snapshot::decode(b"", &[]).unwrap_err().kind(), DecodeErrorKind::BadMagic);
    let mut trailing = encode(&env, None).unwrap();
    trailing.push(0);
    assert_eq!(Snapshot::decode(&trailing, &[]).unwrap_err().kind(), DecodeErrorKind::TrailingBytes);
    // A sequence length far beyond the input is refused before anything is reserved.
    let mut huge = b"VEXL\x01\x00\x00\x00\x00".to_vec();
    huge.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 0x0f]);
    assert_eq!(Snapshot::decode(&huge, &[]).unwrap_err().kind(), DecodeErrorKind::UnexpectedEnd);
}

#[test]
fn allow_lists_refuse_opt_out_spelling_and_unpersisted_gates() {
    let mut env = Environment::new("production", 1, 0);
    let mut f = Flag::new(FlagType::Beta, false);
    f.persisted = true;
    f.gates.actors.insert("User:1:opt_out".into());
    env.flags.insert("x".into(), f);
    let err = encode(&env, None).unwrap_err();
    assert_eq!(err.flag(), Some("x"));
    let mut f = Flag::new(FlagType::Beta, false);
    f.gates.boolean = true;
    env.flags.insert("x".into(), f);
    assert!(encode(&env, None).unwrap_err().message().contains("not persisted"));
}

#[test]
fn browser_snapshots_with_a_server_only_flag_are_refused() {
    let mut env = Environment::new("p", 1, 0);
    let mut flag = Flag::new(FlagType::Beta, false);
    flag.client_side = true;
    env.flags.insert("zz".into(), flag);
    let browser = env.for_browser([3; 16]).unwrap();
    let mut bytes = encode(&browser, None).unwrap();
    assert!(Snapshot::decode(&bytes, &[]).is_ok());
    // The flag entry: name "zz", type, then the bits byte; clear its client-side bit.
    let at = bytes.windows(3).position(|w| w == [2, b'z', b'z']).unwrap() + 4;
    assert_eq!(bytes[at] & 8, 8);
    bytes[at] &= !8;
    let err = Snapshot::decode(&bytes, &[]).unwrap_err();
    assert_eq!((err.kind(), err.offset()), (DecodeErrorKind::UnknownTag, at));

    let mut server_only = browser.clone();
    server_only.flags.get_mut("zz").unwrap().client_side = false;
    assert_eq!(encode(&server_only, None).unwrap_err().message(), "a browser snapshot holds only client-side flags");
}

#[test]
fn flag_lookup_finds_every_flag_and_nothing_else() {
    let mut env = Environment::new("production", 1, 0);
    let names: BTreeMap<String, ()> = (0..5000).map(|i| (format!("flag_{i:04}"), ())).collect();
    for name in names.keys() {
        env.flags.insert(name.clone(), Flag::new(FlagType::Development, true));
    }
    let s = Snapshot::decode(&encode(&env, None).unwrap(), &[]).unwrap();
    for (i, name) in names.keys().enumerate() {
        assert_eq!(s.find(name), Some(i as u32));
    }
    for miss in ["", "flag_", "flag_5000", "flag_00000", "FLAG_0001"] {
        assert_eq!(s.find(miss), None);
    }
}
