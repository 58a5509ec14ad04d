//! How soon a change is announced (results in the README): from sending `POST
//! /<env>/api/v4/features/:name` to a Standard Webhooks receiver having the event, one change
//! at a time (p50, p99 over 200), on SQLite and on PostgreSQL. The path measured is the commit's outbox row,
//! the follower waking the delivery thread, signing and one HTTP POST to 127.0.0.1.
//!
//!     make bench-api

#[allow(dead_code)]
#[path = "../tests/support/receiver.rs"]
mod receiver;
#[allow(dead_code)]
#[path = "support/served.rs"]
mod served;
#[allow(dead_code)]
#[path = "../tests/support/servers.rs"]
mod servers;

use served::percentile;
use std::time::{Duration, Instant};

const CHANGES: usize = 200;
const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

fn main() {
    bench("sqlite", None);
    let pg = servers::Postgres::start();
    let url = pg.create_database();
    bench("postgresql", Some((&url, &pg.password)));
}

fn bench(name: &str, state: Option<(&str, &str)>) {
    let hooks = receiver::Receiver::start(None);
    let sink = format!(
        "\n[[notify]]\nname = \"audit\"\nkind = \"webhook\"\nurl = \"{}\"\nsecret_env = \"BENCH_WEBHOOK_SECRET\"\n",
        hooks.url("/hook")
    );
    let served = served::start(state, &sink, &[("BENCH_WEBHOOK_SECRET", SECRET)]);
    // Whatever init and publish announced is delivered first.
    let settled = Instant::now();
    let pending = || {
        let sinks: serde_json::Value = serde_json::from_str(&served.vexil(&["notifications", "--json"])).unwrap();
        sinks.as_array().unwrap().iter().map(|s| s["pending"].as_u64().unwrap()).sum::<u64>()
    };
    while pending() > 0 {
        assert!(settled.elapsed() < Duration::from_secs(30), "the backlog was not delivered");
        std::thread::sleep(Duration::from_millis(50));
    }
    let already = hooks.received().len();

    let mut latencies = Vec::with_capacity(CHANGES);
    for i in 0..CHANGES {
        let sent = Instant::now();
        served.post(&format!("value=true&user={i}"));
        let got = hooks.until(10, |r| r.len() > already + i);
        latencies.push((got[already + i].at - sent).as_secs_f64() * 1000.0);
        std::thread::sleep(Duration::from_millis(5));
    }
    latencies.sort_by(f64::total_cmp);
    println!(
        "change → webhook {name:<10} one change at a time, {CHANGES} changes: p50 {:.1} ms, p99 {:.1} ms",
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99)
    );
}
