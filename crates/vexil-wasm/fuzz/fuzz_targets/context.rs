//! Any bytes as the evaluation context the JS layer writes into wasm memory: decoding must
//! not panic, and a context that decodes must evaluate every flag of a snapshot whose
//! groups and expressions read properties of every type, without panicking.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vexil_core::limits::MAX_CONTEXT_ACTORS;
use vexil_core::{encode, Context, Environment, Expr, Flag, FlagType, Function, Snapshot, Timestamp};

fn call(f: Function, args: Vec<Expr>) -> Expr {
    Expr::Call(f, args)
}

fn property(name: &str) -> Expr {
    call(Function::Property, vec![Expr::String(name.into())])
}

thread_local! {
    // Snapshots are not Sync (they borrow the host's float text); one per fuzzing thread.
    static SNAPSHOT: Snapshot = {
        let mut env = Environment::new("production", 1, 0);
        let reads = [
            call(Function::Equal, vec![property("team"), Expr::String("gitlab".into())]),
            call(Function::GreaterThan, vec![call(Function::Number, vec![property("age")]), Expr::Integer(20)]),
            call(Function::Equal, vec![call(Function::String, vec![property("score")]), Expr::String("1.5".into())]),
            call(Function::Boolean, vec![property("beta")]),
            call(Function::PercentageOfActors, vec![property("flipper_id"), Expr::Integer(50)]),
            call(Function::LessThan, vec![property("created"), call(Function::Now, vec![])]),
        ];
        for (i, e) in reads.into_iter().enumerate() {
            let mut f = Flag::new(FlagType::Beta, false);
            f.persisted = true;
            f.client_side = true;
            if i % 2 == 0 {
                f.gates.expression = Some(e);
            } else {
                env.groups.insert(format!("g{i}"), e);
                f.gates.groups.insert(format!("g{i}"));
                f.gates.percentage_of_actors = vexil_core::Percentage::from_thousandths(25_000).unwrap();
            }
            env.flags.insert(format!("f{i}"), f);
        }
        Snapshot::decode(&encode(&env, None).unwrap(), &[]).unwrap()
    };
}

fuzz_target!(|data: &[u8]| {
    let _ = vexil_wasm::with_context(data, |actors| {
        assert!(actors.len() <= MAX_CONTEXT_ACTORS);
        let ctx = Context::new(actors, 0.5, Timestamp::from_unix_millis(1_700_000_000_000));
        SNAPSHOT.with(|s| {
            for flag in s.flags() {
                s.evaluate(flag.name(), &ctx);
            }
        });
    });
});
