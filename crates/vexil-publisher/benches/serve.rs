//! `vexil serve` benchmarks (results in the README):
//! - propagation: from the moment a `vexil feature set` process returns to the moment a
//!   subscriber of the environment's event stream reads the announcement — p50, p99 and max
//!   over 300 changes, on SQLite (polled) and PostgreSQL (LISTEN/NOTIFY);
//! - `latest.vxl` throughput: keep-alive GETs from four connections, with and without
//!   If-None-Match (304).
//!
//! Not criterion: a latency distribution across processes is the measurement here.
//!
//!     make bench-serve

#[allow(dead_code)]
#[path = "../tests/support/servers.rs"]
mod servers;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::Command;
use std::sync::mpsc;
use std::time::{Duration, Instant};

const VEXIL: &str = env!("CARGO_BIN_EXE_vexil");
const CHANGES: usize = 300;

fn vexil(dir: &Path, password: &str, args: &[&str]) {
    let out =
        Command::new(VEXIL).args(args).current_dir(dir).env("VEXIL_DATABASE_PASSWORD", password).output().unwrap();
    assert!(out.status.success(), "vexil {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn propagation(name: &str, state: Option<(&str, &str)>) {
    let dir = tempfile::tempdir().unwrap();
    let password = state.map_or("", |s| s.1);
    match state {
        None => vexil(dir.path(), password, &["init", "."]),
        Some((url, _)) => vexil(dir.path(), password, &["init", ".", "--state", url]),
    }
    let mut command = Command::new(VEXIL);
    command.args(["serve", "--listen", "127.0.0.1:0"]).current_dir(dir.path()).env("VEXIL_DATABASE_PASSWORD", password);
    let server = servers::Serve::start(command);
    let mut stream = servers::EventStream::open(server.port, "/dev/events", &[]);
    let first: u64 = stream.next_event().unwrap().id.unwrap().parse().unwrap();
    let (tx, rx) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        for _ in 0..CHANGES {
            let event = stream.next_event().unwrap();
            tx.send((event.id.unwrap().parse::<u64>().unwrap(), Instant::now())).unwrap();
        }
    });
    let mut returned = Vec::new();
    for i in 0..CHANGES {
        let value = if i % 2 == 0 { "true" } else { "false" };
        vexil(dir.path(), password, &["feature", "set", "new_navigation_bar", value, "--dev"]);
        returned.push(Instant::now());
        // Changes a release manager makes are seconds apart; 20 ms keeps them distinct events.
        std::thread::sleep(Duration::from_millis(20));
    }
    reader.join().unwrap();
    let mut latencies: Vec<f64> = rx
        .try_iter()
        .map(|(version, at)| {
            let done = returned[(version - first - 1) as usize];
            // An event read before the process finished exiting counts as zero.
            at.saturating_duration_since(done).as_secs_f64() * 1000.0
        })
        .collect();
    assert_eq!(latencies.len(), CHANGES);
    latencies.sort_by(f64::total_cmp);
    println!(
        "propagation {name:<10} {CHANGES} changes: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99),
        latencies[latencies.len() - 1]
    );
}

/// Sends keep-alive GETs of `latest.vxl` on one connection for `span`; returns how many.
fn hammer(port: u16, etag: Option<String>, span: Duration) -> u64 {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_nodelay(true).unwrap();
    let mut reader = BufReader::new(s.try_clone().unwrap());
    let conditional = etag.map(|e| format!("If-None-Match: {e}\r\n")).unwrap_or_default();
    let request = format!("GET /dev/latest.vxl HTTP/1.1\r\nHost: 127.0.0.1\r\n{conditional}\r\n");
    let start = Instant::now();
    let mut count = 0;
    while start.elapsed() < span {
        s.write_all(request.as_bytes()).unwrap();
        let mut length = 0usize;
        let mut status = String::new();
        reader.read_line(&mut status).unwrap();
        assert!(status.contains(" 200 ") || status.contains(" 304 "), "{status}");
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            if line == "\r\n" {
                break;
            }
            if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                length = v.trim().parse().unwrap();
            }
        }
        if status.contains(" 200 ") {
            let mut body = vec![0; length];
            reader.read_exact(&mut body).unwrap();
        }
        count += 1;
    }
    count
}

fn throughput() {
    let dir = tempfile::tempdir().unwrap();
    vexil(dir.path(), "", &["init", "."]);
    let mut command = Command::new(VEXIL);
    command.args(["serve", "--listen", "127.0.0.1:0"]).current_dir(dir.path());
    let server = servers::Serve::start(command);
    let etag = server.get("/dev/latest.vxl", &[]).header("etag").unwrap().to_string();
    let span = Duration::from_secs(5);
    for (label, tag) in [("200", None), ("304", Some(etag))] {
        let port = server.port;
        let threads: Vec<_> = (0..4)
            .map(|_| {
                std::thread::spawn({
                    let tag = tag.clone();
                    move || hammer(port, tag, span)
                })
            })
            .collect();
        let total: u64 = threads.into_iter().map(|t| t.join().unwrap()).sum();
        println!(
            "latest.vxl GET, 4 keep-alive connections, {label}: {:.0} requests/s",
            total as f64 / span.as_secs_f64()
        );
    }
}

fn main() {
    // `cargo bench` passes --bench; a filter argument is ignored.
    throughput();
    propagation("sqlite", None);
    let pg = servers::Postgres::start();
    let url = pg.create_database();
    propagation("postgresql", Some((&url, &pg.password)));
}
