//! An HTTP receiver on 127.0.0.1 that records every request it is sent, for the sinks and
//! chat's `response_url`. It can be slow to answer, or refuse, to test retries.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One request received.
#[derive(Clone, Debug)]
pub struct Received {
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// When it had been read.
    pub at: std::time::Instant,
}

impl Received {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }
}

pub struct Receiver {
    pub port: u16,
    received: Arc<Mutex<Vec<Received>>>,
    stop: Arc<AtomicBool>,
    /// Milliseconds to wait before answering each request.
    pub delay_ms: Arc<AtomicU64>,
    /// Answer 503 while set.
    pub failing: Arc<AtomicBool>,
}

impl Receiver {
    /// A receiver on a free port, or on `port`.
    pub fn start(port: Option<u16>) -> Receiver {
        let listener = TcpListener::bind(("127.0.0.1", port.unwrap_or(0))).unwrap();
        let port = listener.local_addr().unwrap().port();
        let received = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let delay_ms = Arc::new(AtomicU64::new(0));
        let failing = Arc::new(AtomicBool::new(false));
        let (r, s, d, f) = (received.clone(), stop.clone(), delay_ms.clone(), failing.clone());
        std::thread::spawn(move || {
            // Accepting blocks (a poll would add its interval to what benchmarks measure);
            // dropping the receiver connects once to end it.
            for stream in listener.incoming() {
                if s.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(stream) = stream else { continue };
                let (r, d, f) = (r.clone(), d.clone(), f.clone());
                std::thread::spawn(move || serve_one(stream, &r, &d, &f));
            }
        });
        Receiver { port, received, stop, delay_ms, failing }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    /// Waits until `done` holds of what was received, for up to `seconds`.
    pub fn until(&self, seconds: u64, done: impl Fn(&[Received]) -> bool) -> Vec<Received> {
        let start = std::time::Instant::now();
        loop {
            let got = self.received();
            if done(&got) {
                return got;
            }
            assert!(
                start.elapsed() < Duration::from_secs(seconds),
                "not received within {seconds} s; got {} requests: {:?}",
                got.len(),
                got.iter().map(|r| String::from_utf8_lossy(&r.body).into_owned()).collect::<Vec<_>>()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = std::net::TcpStream::connect(("127.0.0.1", self.port));
    }
}

fn serve_one(stream: std::net::TcpStream, received: &Mutex<Vec<Received>>, delay: &AtomicU64, failing: &AtomicBool) {
    stream.set_read_timeout(Some(Duration::from_secs(10))).ok();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut line = String::new();
    if reader.read_line(&mut line).is_err() || line.is_empty() {
        return;
    }
    let path = line.split_whitespace().nth(1).unwrap_or_default().to_string();
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).is_err() || h == "\r\n" || h.is_empty() {
            break;
        }
        if let Some((n, v)) = h.split_once(':') {
            headers.push((n.trim().to_string(), v.trim().to_string()));
        }
    }
    let length = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse::<usize>().ok())
        .unwrap_or(0);
    let mut body = vec![0; length];
    if reader.read_exact(&mut body).is_err() {
        return;
    }
    let at = std::time::Instant::now();
    std::thread::sleep(Duration::from_millis(delay.load(Ordering::SeqCst)));
    let failing = failing.load(Ordering::SeqCst);
    // Recorded before answering: the sender's next request may arrive as soon as it has the
    // answer, and the order recorded must be the order sent.
    if !failing {
        received.lock().unwrap().push(Received { path, headers, body, at });
    }
    let status = if failing { "503 Service Unavailable" } else { "200 OK" };
    let mut stream = stream;
    let _ = stream.write_all(format!("HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n").as_bytes());
}
