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
#[path = "../tests/support/servers.rs"]
mod servers;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

const VEXIL: &str = env!("CARGO_BIN_EXE_vexil");
const REQUESTS: usize = 300;

fn vexil(dir: &Path, password: &str, args: &[&str]) -> String {
    let out =
        Command::new(VEXIL).args(args).current_dir(dir).env("VEXIL_DATABASE_PASSWORD", password).output().unwrap();
    assert!(out.status.success(), "vexil {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

fn post(port: u16, token: &str, form: &str) -> Duration {
    let start = Instant::now();
    let r = servers::http_send(
        port,
        "POST",
        "/dev/api/v4/features/new_navigation_bar",
        &[("PRIVATE-TOKEN", token), ("Content-Type", "application/x-www-form-urlencoded")],
        form.as_bytes(),
    )
    .unwrap();
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    start.elapsed()
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn bench(name: &str, state: Option<(&str, &str)>) {
    let dir = tempfile::tempdir().unwrap();
    let password = state.map_or("", |s| s.1);
    match state {
        None => vexil(dir.path(), password, &["init", "."]),
        Some((url, _)) => vexil(dir.path(), password, &["init", ".", "--state", url]),
    };
    vexil(dir.path(), password, &["keygen"]);
    vexil(dir.path(), password, &["publish"]);
    let created = vexil(dir.path(), password, &["token", "create", "bench", "--environments", "dev", "--json"]);
    let token: serde_json::Value = serde_json::from_str(&created).unwrap();
    let token = token["token"].as_str().unwrap().to_string();
    let mut command = Command::new(VEXIL);
    command
        .args(["serve", "--listen", "127.0.0.1:0", "--api"])
        .current_dir(dir.path())
        .env("VEXIL_DATABASE_PASSWORD", password);
    let server = servers::Serve::start(command);

    let mut latencies: Vec<f64> = (0..REQUESTS)
        .map(|i| post(server.port, &token, &format!("value=true&user={i}")).as_secs_f64() * 1000.0)
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
            let (port, token) = (server.port, token.clone());
            std::thread::spawn(move || {
                let start = Instant::now();
                let mut n = 0u64;
                while start.elapsed() < span {
                    post(port, &token, &format!("value=true&project={client}-{n}"));
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
