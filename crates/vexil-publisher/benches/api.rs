//! The write API's benchmarks (results in the README): `POST /<env>/api/v4/features/:name`
//! — latency of one client's requests one after another (p50, p99 over 300) and throughput
//! of four clients at once for five seconds — on SQLite and on PostgreSQL. Each request is a
//! whole change: token check, plan, encode and sign both snapshots, commit, push to the
//! environment's directory target, answer with the flag.
//!
//! Not criterion: latency distributions across processes are the measurement here.
//!
//!     make bench-api

#[allow(dead_code)]
#[path = "support/served.rs"]
mod served;
#[allow(dead_code)]
#[path = "../tests/support/servers.rs"]
mod servers;

use served::percentile;
use std::time::{Duration, Instant};

const REQUESTS: usize = 300;

fn bench(name: &str, state: Option<(&str, &str)>) {
    let served = served::start(state, "", &[]);
    let mut latencies: Vec<f64> = (0..REQUESTS)
        .map(|i| {
            let start = Instant::now();
            served.post(&format!("value=true&user={i}"));
            start.elapsed().as_secs_f64() * 1000.0
        })
        .collect();
    latencies.sort_by(f64::total_cmp);
    println!(
        "api POST {name:<10} one client, {REQUESTS} requests: p50 {:.1} ms, p99 {:.1} ms",
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99)
    );

    let span = Duration::from_secs(5);
    let threads: Vec<_> = (0..4)
        .map(|client| {
            let (port, token) = (served.server.port, served.token.clone());
            std::thread::spawn(move || {
                let start = Instant::now();
                let mut n = 0u64;
                while start.elapsed() < span {
                    served::post(port, &token, &format!("value=true&project={client}-{n}"));
                    n += 1;
                }
                n
            })
        })
        .collect();
    let total: u64 = threads.into_iter().map(|t| t.join().unwrap()).sum();
    println!("api POST {name:<10} four clients at once: {:.0} changes/s", total as f64 / span.as_secs_f64());
}

fn main() {
    bench("sqlite", None);
    let pg = servers::Postgres::start();
    let url = pg.create_database();
    bench("postgresql", Some((&url, &pg.password)));
}
