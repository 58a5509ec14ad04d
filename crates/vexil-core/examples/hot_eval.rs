//! Evaluates one flag for one actor in a loop: run under `valgrind --tool=callgrind` to count
//! the instructions an evaluation takes.
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
    let s = Snapshot::decode(&encode(&env, None).unwrap(), &[]).unwrap();
    let n: u32 = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let users: Vec<String> = (0..64).map(|u| format!("User:{}", u * 151)).collect();
    let flags: Vec<String> = (0..64).map(|f| format!("flag_{:04}", f * 13)).collect();
    let mut on = 0;
    for i in 0..n as usize {
        let actors = [Actor::new(&users[i % 64])];
        on += u32::from(s.evaluate(&flags[(i / 64) % 64], &Context::new(&actors, 0.5, Timestamp::default())).enabled);
    }
    println!("{on}");
}
