//! A real Prometheus (Debian's 2.42) on 127.0.0.1, scraping every second a metrics endpoint
//! whose values the test sets — the error ratio a rollout's guard watches. Stopped by PID
//! when dropped; it can be stopped and started again on the same port and data.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Gauges served as Prometheus's text format at `/metrics`.
pub struct Metrics {
    pub port: u16,
    gauges: Arc<Mutex<Vec<(String, f64)>>>,
}

impl Metrics {
    pub fn start() -> Metrics {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let gauges: Arc<Mutex<Vec<(String, f64)>>> = Arc::new(Mutex::new(Vec::new()));
        let served = gauges.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                    line.clear();
                }
                let body: String = served.lock().unwrap().iter().map(|(k, v)| format!("{k} {v}\n")).collect();
                let _ = stream.write_all(
                    format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    )
                    .as_bytes(),
                );
            }
        });
        Metrics { port, gauges }
    }

    /// Sets the series `name` (with its labels, `app_error_ratio{flag_state="on"}`) to `value`.
    pub fn set(&self, name: &str, value: f64) {
        let mut g = self.gauges.lock().unwrap();
        match g.iter_mut().find(|(k, _)| k == name) {
            Some(entry) => entry.1 = value,
            None => g.push((name.to_string(), value)),
        }
    }
}

pub struct Prometheus {
    pub port: u16,
    dir: tempfile::TempDir,
    child: Option<Child>,
}

impl Prometheus {
    /// Prometheus scraping `targets` (ports on 127.0.0.1) every second.
    pub fn start(targets: &[u16]) -> Prometheus {
        let dir = tempfile::tempdir().unwrap();
        let list: Vec<String> = targets.iter().map(|p| format!("'127.0.0.1:{p}'")).collect();
        std::fs::write(
            dir.path().join("prometheus.yml"),
            format!(
                "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: app\n    static_configs:\n      - targets: [{}]\n",
                list.join(", ")
            ),
        )
        .unwrap();
        let port = super::servers::free_port();
        let mut p = Prometheus { port, dir, child: None };
        p.restart();
        p
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// (Re)starts it on its port and data, and waits until it is ready.
    pub fn restart(&mut self) {
        let child = Command::new("prometheus")
            .arg(format!("--config.file={}", self.dir.path().join("prometheus.yml").display()))
            .arg(format!("--storage.tsdb.path={}", self.data().display()))
            .arg(format!("--web.listen-address=127.0.0.1:{}", self.port))
            .arg("--log.level=warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("prometheus (Debian's package; scripts/deps.sh installs it)");
        self.child = Some(child);
        let start = Instant::now();
        while !super::servers::http_send(self.port, "GET", "/-/ready", &[], b"").is_ok_and(|r| r.status == 200) {
            assert!(start.elapsed() < Duration::from_secs(30), "prometheus did not become ready");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Stops it (SIGKILL: as if it went away).
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// The value of an instant query, if it has one.
    pub fn value(&self, query: &str) -> Option<f64> {
        let path =
            format!("/api/v1/query?query={}", form_urlencoded::byte_serialize(query.as_bytes()).collect::<String>());
        let r = super::servers::http_send(self.port, "GET", &path, &[], b"").ok()?;
        let body: serde_json::Value = serde_json::from_slice(&r.body).ok()?;
        body["data"]["result"][0]["value"][1].as_str()?.parse().ok()
    }

    /// Waits until `query` reads `value`: the scrape that carries it has happened.
    pub fn until_value(&self, query: &str, value: f64) {
        let start = Instant::now();
        while self.value(query) != Some(value) {
            assert!(start.elapsed() < Duration::from_secs(30), "{query} never read {value}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        self.stop();
    }
}
