//! Evaluation is bounded for any decodable snapshot: flags asking about each other through
//! `FeatureEnabled` (in expressions and feature groups, by name or by a name computed from
//! an actor's properties, in cycles and fan-outs) never make one evaluation exceed the check
//! budget, the expression work is linear in the checks made, and for every state the
//! publisher accepts the checks stay within its cost bound.

use proptest::prelude::*;
use vexil_core::limits::{MAX_CONTEXT_ACTORS, MAX_FLAG_CHECKS, MAX_FLAG_CHECKS_PER_ACTOR};
use vexil_core::{encode, Actor, Context, Environment, Expr, Flag, FlagType, Function, Snapshot, Timestamp, Value};

const FLAGS: usize = 12;

fn name(i: usize) -> String {
    format!("f{i}")
}

fn ask(target: Option<usize>) -> Expr {
    let argument = match target {
        Some(i) => Expr::String(name(i)),
        // A name only known at evaluation: the actor's `asks` property.
        None => Expr::Call(Function::Property, vec![Expr::String("asks".into())]),
    };
    Expr::Call(Function::FeatureEnabled, vec![argument])
}

/// Any or All over some asks, possibly nested once, possibly negated.
fn asking() -> impl Strategy<Value = Expr> {
    let leaf = prop::option::weighted(0.9, 0..FLAGS).prop_map(ask);
    let level = (any::<bool>(), prop::collection::vec(leaf, 1..6))
        .prop_map(|(all, args)| Expr::Call(if all { Function::All } else { Function::Any }, args));
    (any::<bool>(), prop::collection::vec(level, 1..4), any::<bool>()).prop_map(|(all, args, negate)| {
        let e = Expr::Call(if all { Function::All } else { Function::Any }, args);
        if negate {
            Expr::Call(Function::Boolean, vec![Expr::Call(Function::Any, vec![e])])
        } else {
            e
        }
    })
}

fn nodes(e: &Expr) -> usize {
    match e {
        Expr::Call(_, args) => 1 + args.iter().map(nodes).sum::<usize>(),
        _ => 1,
    }
}

/// What a team writes: a few flags asking about later ones (no cycles), mostly by name.
fn sparse_environment() -> impl Strategy<Value = Environment> {
    prop::collection::vec((any::<bool>(), prop::collection::vec((1..4usize, prop::bool::weighted(0.1)), 0..3)), FLAGS)
        .prop_map(|flags| {
            let flags = flags.into_iter().enumerate().map(|(i, (all, asks))| {
                let mut f = Flag::new(FlagType::Beta, false);
                f.persisted = true;
                let asks: Vec<Expr> = asks
                    .into_iter()
                    .filter(|(step, _)| i + step < FLAGS)
                    .map(|(step, computed)| ask(if computed { None } else { Some(i + step) }))
                    .collect();
                if !asks.is_empty() {
                    f.gates.expression = Some(Expr::Call(if all { Function::All } else { Function::Any }, asks));
                }
                (name(i), f)
            });
            Environment { flags: flags.collect(), ..Environment::new("production", 1, 0) }
        })
}

fn environment() -> impl Strategy<Value = Environment> {
    prop_oneof![dense_environment(), sparse_environment()]
}

fn dense_environment() -> impl Strategy<Value = Environment> {
    let flag = (prop::option::of(asking()), prop::collection::btree_set(0..3usize, 0..3), any::<bool>()).prop_map(
        |(expression, groups, boolean)| {
            let mut f = Flag::new(FlagType::Beta, false);
            f.persisted = true;
            f.gates.boolean = boolean && expression.is_none();
            f.gates.expression = expression;
            f.gates.groups = groups.into_iter().map(|g| format!("g{g}")).collect();
            f
        },
    );
    (prop::collection::vec(flag, FLAGS), prop::collection::vec(asking(), 3)).prop_map(|(flags, groups)| Environment {
        flags: flags.into_iter().enumerate().map(|(i, f)| (name(i), f)).collect(),
        groups: groups.into_iter().enumerate().map(|(i, e)| (format!("g{i}"), e)).collect(),
        ..Environment::new("production", 1, 0)
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn checks_and_steps_are_bounded(env in environment(), asks in prop::collection::vec(0..FLAGS, 0..4)) {
        let snapshot = Snapshot::decode(&encode(&env, None).unwrap(), &[]).unwrap();
        let ids: Vec<String> = (0..asks.len()).map(|i| format!("User:{i}")).collect();
        let props: Vec<[(&str, Value<'_>); 1]> = asks.iter().map(|&a| [("asks", Value::Str(["f0", "f1", "f2", "f3", "f4", "f5", "f6", "f7", "f8", "f9", "f10", "f11"][a]))]).collect();
        let actors: Vec<Actor<'_>> = ids.iter().zip(&props).map(|(id, p)| Actor::with_properties(id, p)).collect();
        prop_assert!(actors.len() <= MAX_CONTEXT_ACTORS);
        let ctx = Context::new(&actors, 0.5, Timestamp::from_unix_millis(0));

        // The most expression nodes one flag's decision can evaluate per actor.
        let per_decision = env.flags.values().map(|f| {
            f.gates.expression.iter().chain(f.gates.groups.iter().filter_map(|g| env.groups.get(g))).map(nodes).sum::<usize>()
        }).max().unwrap_or(0);
        let cost = env.feature_checks();
        let publishable = cost.values().all(|&c| c <= MAX_FLAG_CHECKS_PER_ACTOR);
        for i in 0..FLAGS {
            let (_, checks, steps) = snapshot.evaluate_counting(snapshot.find(&name(i)).unwrap(), &ctx);
            prop_assert!(checks <= MAX_FLAG_CHECKS, "{checks} checks");
            // Every decision — the first and one per check that went through — evaluates
            // at most its own expressions, once per actor.
            prop_assert!(steps <= (1 + checks) * per_decision * actors.len().max(1), "{steps} steps, {checks} checks");
            if publishable {
                let bound = cost.get(&name(i)).copied().unwrap_or(0) * actors.len().max(1);
                prop_assert!(checks <= bound, "{}: {checks} checks, publisher's bound {bound}", name(i));
            }
        }
    }
}

/// The shape no publisher writes: every flag asks about every other, twice over. One
/// evaluation still stops at the budget.
#[test]
fn a_complete_graph_spends_one_budget() {
    let mut env = Environment::new("production", 1, 0);
    for i in 0..FLAGS {
        let mut f = Flag::new(FlagType::Beta, false);
        f.persisted = true;
        let asks: Vec<Expr> = (0..FLAGS).chain(0..FLAGS).filter(|&j| j != i).map(|j| ask(Some(j))).collect();
        f.gates.expression = Some(Expr::Call(Function::All, asks));
        env.flags.insert(name(i), f);
    }
    assert!(env.feature_checks().values().all(|&c| c > MAX_FLAG_CHECKS_PER_ACTOR));
    let snapshot = Snapshot::decode(&encode(&env, None).unwrap(), &[]).unwrap();
    let actors = [Actor::new("User:1")];
    let ctx = Context::new(&actors, 0.5, Timestamp::from_unix_millis(0));
    let (_, checks, _) = snapshot.evaluate_counting(0, &ctx);
    assert_eq!(checks, MAX_FLAG_CHECKS);
}
