//! Evaluates one flag for one actor in a loop: run under `valgrind --tool=callgrind` to count
//! the instructions an evaluation takes. `hot_eval N` looks each flag up by name, as
//! `Snapshot::evaluate` does; `hot_eval N index` resolves the names first and calls
//! `evaluate_index`, as the npm package does (it caches each flag's index). `hot_eval N all`
//! evaluates every flag for one actor at a time with `evaluate_many` (a page's `evaluateAll`,
//! an edge bootstrap), and `hot_eval N each` does the same with one `evaluate_index` per flag.
//! A third argument, `browser`, evaluates W1 as a browser snapshot (ids hashed).
use vexil_core::{encode, Actor, Context, Environment, Flag, FlagType, Percentage, Snapshot, Timestamp};

fn main() {
    let mut env = Environment::new("production", 1, 0);
    for i in 0..1000 {
        let mut f = Flag::new(FlagType::Beta, false);
        f.persisted = true;
        for u in 0..10 {
            f.gates.actors.insert(format!("User:{}", (i * 7919 + u * 104_729) % 10_000));
        }
        f.gates.percentage_of_actors = Percentage::parse("25").unwrap();
        env.flags.insert(format!("flag_{i:04}"), f);
    }
    let mut args = std::env::args().skip(1);
    let n: u32 = args.next().and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let mode = args.next().unwrap_or_default();
    if args.next().as_deref() == Some("browser") {
        for f in env.flags.values_mut() {
            f.client_side = true;
        }
        env = env.for_browser([7; 16]).unwrap();
    }
    let s = Snapshot::decode(&encode(&env, None).unwrap(), &[]).unwrap();
    let by_index = mode == "index";
    let users: Vec<String> = (0..64).map(|u| format!("User:{}", u * 151)).collect();
    let flags: Vec<String> = (0..64).map(|f| format!("flag_{:04}", f * 13)).collect();
    let indexes: Vec<u32> = flags.iter().map(|f| s.find(f).expect("every flag is in the snapshot")).collect();
    let mut on = 0;
    if mode == "all" || mode == "each" {
        for i in 0..(n as usize).div_ceil(s.len()) {
            let actors = [Actor::new(&users[i % 64])];
            let ctx = Context::new(&actors, 0.5, Timestamp::default());
            if mode == "all" {
                s.evaluate_many(0..s.len() as u32, &ctx, |_, d| on += u32::from(d.enabled));
            } else {
                on += (0..s.len() as u32).map(|f| u32::from(s.evaluate_index(f, &ctx).enabled)).sum::<u32>();
            }
        }
        println!("{on}");
        return;
    }
    for i in 0..n as usize {
        let actors = [Actor::new(&users[i % 64])];
        let ctx = Context::new(&actors, 0.5, Timestamp::default());
        let flag = (i / 64) % 64;
        let decision = if by_index { s.evaluate_index(indexes[flag], &ctx) } else { s.evaluate(&flags[flag], &ctx) };
        on += u32::from(decision.enabled);
    }
    println!("{on}");
}
