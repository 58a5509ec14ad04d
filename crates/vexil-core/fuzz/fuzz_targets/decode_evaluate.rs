//! Any bytes: decoding must not panic; whatever decodes must re-encode to the same bytes and
//! evaluate every flag without panicking, for actors taken from the snapshot's own ids.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vexil_core::{encode, Actor, Context, Snapshot, Timestamp, Value};

fuzz_target!(|data: &[u8]| {
    let Ok(snapshot) = Snapshot::decode(data, &[]) else { return };
    let env = snapshot.to_environment();
    if snapshot.signer().is_none() {
        assert_eq!(encode(&env, None).expect("decoded state encodes"), data, "canonical");
    }
    let props = [("team", Value::Str("gitlab")), ("age", Value::Int(21)), ("beta", Value::Bool(true))];
    let mut ids: Vec<&str> = env.flags.values().flat_map(|f| f.gates.actors.ids().chain(f.gates.opt_outs.ids())).take(8).collect();
    ids.push("User:1");
    for (i, flag) in snapshot.flags().enumerate() {
        let one = [Actor::with_properties(ids[i % ids.len()], &props)];
        let many: Vec<Actor> = ids.iter().map(|id| Actor::new(id)).collect();
        for actors in [&[][..], &one[..], &many[..]] {
            for random in [0.0, 0.5, 0.999] {
                let ctx = Context::new(actors, random, Timestamp::from_unix_millis(1_700_000_000_000));
                let d = snapshot.evaluate(flag.name(), &ctx);
                assert_eq!(d.version, snapshot.version());
            }
        }
    }
});
