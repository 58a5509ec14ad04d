//! `vexil serve`'s limits on what one client can cost: versions that do not exist never
//! reach the database (negative caching: proven with the database stopped), and
//! `--max-connections-per-client` caps one address while others are still served.

mod support;

use std::io::Write;
use std::net::TcpStream;
use std::time::{Duration, Instant};
use support::servers::{EventStream, Postgres, Serve};
use support::TestProject;

const FLAG: &str = "new_navigation_bar";

fn set(p: &TestProject, value: &str) {
    p.ok(&["feature", "set", FLAG, value, "--production", "--ignore-feature-flag-consistency-check"]);
}

fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < Duration::from_secs(60), "{what}: not within 60 s");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn versions_that_do_not_exist_cost_no_query() {
    let mut pg = Postgres::start();
    let p = TestProject::on_postgres(&pg);
    set(&p, "true");
    set(&p, "false");
    let head = p.version("production");
    let s = Serve::start(p.command(&["serve", "--listen", "127.0.0.1:0"]));
    wait_until("healthy", || s.get("/healthz", &[]).status == 200);
    // An older version, asked for once, is cached; one never asked for is not.
    assert_eq!(s.get(&format!("/production/v/{}.vxl", head - 1), &[]).status, 200);
    pg.stop();
    wait_until("the database is seen down", || s.get("/healthz", &[]).status == 503);
    for n in [head + 1, head + 1000, u64::MAX / 2, 0] {
        let r = s.get(&format!("/production/v/{n}.vxl"), &[]);
        assert_eq!(r.status, 404, "v{n}: a version above the head is not there yet, without asking the database");
    }
    assert_eq!(s.get(&format!("/production/v/{}.vxl", head - 1), &[]).status, 200, "cached");
    assert_eq!(s.get(&format!("/production/v/{head}.vxl"), &[]).status, 200, "the head is in memory");
    assert_eq!(s.get("/production/v/1.vxl", &[]).status, 503, "never asked for: only the database knows");
    pg.start_again();
}

#[test]
fn one_address_gets_its_share_and_others_are_still_served() {
    let p = TestProject::new();
    set(&p, "true");
    let s = Serve::start(p.command(&["serve", "--listen", "127.0.0.1:0", "--max-connections-per-client", "4"]));
    // Three subscribers from 127.0.0.1 and one connection left for the test's own requests.
    let mut subscribers: Vec<_> = (0..3).map(|_| EventStream::open(s.port, "/production/events", &[])).collect();
    for sub in &mut subscribers {
        sub.next_event().unwrap();
    }
    let descriptors = || std::fs::read_dir(format!("/proc/{}/fd", s.pid())).unwrap().count();
    let before = descriptors();
    // Past the share, connections from the same address are closed at once.
    let mut flood: Vec<TcpStream> = (0..10)
        .map(|_| {
            let mut c = TcpStream::connect(("127.0.0.1", s.port)).unwrap();
            let _ = c.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n");
            c
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    let closed =
        flood.iter_mut().map(|c| support::closed_within(c, Duration::from_millis(200))).filter(Option::is_some).count();
    assert!(closed >= 9, "only {closed} of 10 connections past the share were closed");
    assert!(descriptors() <= before + 1, "the server holds {} descriptors more for the flood", descriptors() - before);
    // Another address (all of 127/8 is this host) is served meanwhile.
    let other = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind("127.0.0.2:0".parse().unwrap()).unwrap();
        let mut stream = socket.connect(([127, 0, 0, 1], s.port).into()).await.unwrap().into_std().unwrap();
        stream.set_nonblocking(false).unwrap();
        stream.write_all(b"GET /healthz HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").unwrap();
        let mut answer = String::new();
        std::io::Read::read_to_string(&mut stream, &mut answer).unwrap();
        answer
    });
    assert!(other.starts_with("HTTP/1.0 200") || other.starts_with("HTTP/1.1 200"), "{other}");
    // The subscribers still get every event.
    set(&p, "false");
    for sub in &mut subscribers {
        assert_eq!(sub.next_event().unwrap().id.as_deref().map(str::parse::<u64>), Some(Ok(p.version("production"))));
    }
    drop(flood);
    wait_until("the share is free again", || s.try_get("/healthz", &[]).is_ok_and(|r| r.status == 200));
}

#[test]
fn a_flood_of_subscribers_past_the_limit_costs_no_memory_or_descriptors() {
    let p = TestProject::new();
    set(&p, "true");
    let s = Serve::start(p.command(&["serve", "--listen", "127.0.0.1:0", "--max-connections", "40"]));
    let status = |field: &str| -> u64 {
        let text = std::fs::read_to_string(format!("/proc/{}/status", s.pid())).unwrap();
        let line = text.lines().find(|l| l.starts_with(field)).unwrap().to_string();
        line.split_whitespace().nth(1).unwrap().parse().unwrap()
    };
    let descriptors = || std::fs::read_dir(format!("/proc/{}/fd", s.pid())).unwrap().count();
    let mut kept: Vec<_> = (0..5).map(|_| EventStream::open(s.port, "/production/events", &[])).collect();
    for sub in &mut kept {
        sub.next_event().unwrap();
    }
    let (fds_before, rss_before) = (descriptors(), status("VmRSS:"));
    // Two hundred more subscribers: the limit takes 35 of them, the rest are closed at once.
    let mut flood: Vec<TcpStream> = (0..200)
        .map(|_| {
            let mut c = TcpStream::connect(("127.0.0.1", s.port)).unwrap();
            let _ =
                c.write_all(b"GET /production/events HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n");
            c
        })
        .collect();
    std::thread::sleep(Duration::from_millis(500));
    let fds = descriptors();
    assert!(fds <= fds_before + 36, "{} descriptors for 200 subscribers past a limit of 40", fds - fds_before);
    let rss = status("VmRSS:");
    assert!(rss < rss_before + 32 * 1024, "resident memory grew {} KiB", rss - rss_before);
    set(&p, "false");
    for sub in &mut kept {
        assert_eq!(sub.next_event().unwrap().id.as_deref().map(str::parse::<u64>), Some(Ok(p.version("production"))));
    }
    flood.clear();
    wait_until("room again", || s.try_get("/healthz", &[]).is_ok_and(|r| r.status == 200));
}
