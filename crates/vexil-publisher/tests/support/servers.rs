//! Real servers for the team-setup tests: Garage (S3-compatible, distributed), nginx (an
//! HTTP origin taking PUT) and `vexil serve` itself (PostgreSQL is in `postgres.rs`). Each runs on 127.0.0.1 on a free port, in its own
//! temporary directory, and is stopped by PID when dropped; none is shared between tests.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

// A child module, so that the benchmarks, which include this file by path, get it too.
#[path = "postgres_server.rs"]
mod postgres_server;
pub use postgres_server::Postgres;

/// A port nobody listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

pub(super) fn is_root() -> bool {
    let out = Command::new("id").arg("-u").output().expect("id");
    String::from_utf8_lossy(&out.stdout).trim() == "0"
}

pub(super) fn wait_for(what: &str, timeout: Duration, mut ready: impl FnMut() -> bool) {
    let start = Instant::now();
    while !ready() {
        assert!(start.elapsed() < timeout, "{what} did not become ready within {timeout:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn listening(port: u16) -> bool {
    TcpStream::connect(("127.0.0.1", port)).is_ok()
}

/// Stops a server: SIGTERM, then SIGKILL if it lingers.
fn stop(child: &mut Child) {
    if child.try_wait().ok().flatten().is_some() {
        return;
    }
    let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(10) {
        if child.try_wait().ok().flatten().is_some() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// A server's process: stopped by PID when dropped (so declare it before the temporary
/// directory it uses), or killed abruptly on demand.
pub struct Process(Option<Child>);

impl Process {
    pub(super) fn new(child: Child) -> Process {
        Process(Some(child))
    }

    pub fn pid(&self) -> u32 {
        self.0.as_ref().expect("running").id()
    }

    /// Sends `signal` (a name: INT, TERM, STOP, CONT) to the process, unless it is gone.
    pub fn signal(&mut self, signal: &str) {
        if self.exited().is_none() {
            let _ = Command::new("kill").arg(format!("-{signal}")).arg(self.pid().to_string()).status();
        }
    }

    /// Its exit status, once it has exited.
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.0.as_mut().and_then(|c| c.try_wait().ok().flatten())
    }

    /// Stops the process abruptly, as a crash or a network cut would.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.0.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        if let Some(c) = self.0.as_mut() {
            stop(c);
        }
    }
}

/// An HTTP response, read whole.
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// A plain HTTP/1.0 GET, as a CDN's origin fetch: no client library between the test and
/// what the server sends. A body shorter than its Content-Length is a failure, not data.
pub fn http_get(port: u16, host: &str, path: &str) -> std::io::Result<Response> {
    http_request(port, "GET", path, &[("Host", host)])
}

/// A plain HTTP/1.0 request with the given headers.
pub fn http_request(port: u16, method: &str, path: &str, headers: &[(&str, &str)]) -> std::io::Result<Response> {
    http_send(port, method, path, headers, b"")
}

/// A plain HTTP/1.0 request with the given headers and body.
pub fn http_send(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> std::io::Result<Response> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut request = format!("{method} {path} HTTP/1.0\r\nConnection: close\r\n");
    if !headers.iter().any(|(n, _)| n.eq_ignore_ascii_case("host")) {
        request.push_str(&format!("Host: 127.0.0.1:{port}\r\n"));
    }
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    if !body.is_empty() {
        request.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    request.push_str("\r\n");
    s.write_all(request.as_bytes())?;
    s.write_all(body)?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    let split =
        raw.windows(4).position(|w| w == b"\r\n\r\n").ok_or_else(|| std::io::Error::other("no end of headers"))?;
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let body = raw[split + 4..].to_vec();
    let mut lines = head.lines();
    let status: u16 = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| std::io::Error::other("no status line"))?;
    let headers: Vec<(String, String)> =
        lines.filter_map(|l| l.split_once(':')).map(|(n, v)| (n.trim().to_string(), v.trim().to_string())).collect();
    let response = Response { status, headers, body };
    let has_body = method != "HEAD" && response.status != 304;
    if let Some(len) = response.header("content-length").and_then(|l| l.parse::<usize>().ok()).filter(|_| has_body) {
        if len != response.body.len() {
            return Err(std::io::Error::other(format!("body of {} bytes, Content-Length {len}", response.body.len())));
        }
    }
    Ok(response)
}

// ---------------------------------------------------------------------------------------------

/// A one-node Garage cluster with a bucket `flags`, a key allowed to write it, and website
/// access on, so readers fetch objects over plain HTTP as a CDN would.
pub struct Garage {
    process: Process,
    dir: tempfile::TempDir,
    config: PathBuf,
    pub s3_port: u16,
    pub web_port: u16,
    pub key_id: String,
    pub secret: String,
    pub bucket: String,
}

/// The Garage binary: `$VEXIL_GARAGE`, else on PATH, else cargo's bin directory.
pub fn garage_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("VEXIL_GARAGE") {
        return PathBuf::from(p);
    }
    let on_path = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).map(|d| d.join("garage")).find(|p| p.is_file()))
        .unwrap_or_default();
    on_path
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo/bin/garage")))
        .filter(|p| p.is_file())
        .expect("garage (make test installs it with cargo install)")
}

pub const GARAGE_WEB_DOMAIN: &str = ".web.garage.localhost";

impl Garage {
    pub fn start() -> Garage {
        let dir = tempfile::tempdir().unwrap();
        let (s3_port, web_port, rpc_port) = (free_port(), free_port(), free_port());
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).unwrap();
        let secret: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        let config = dir.path().join("garage.toml");
        std::fs::write(
            &config,
            format!(
                r#"metadata_dir = "{d}/meta"
data_dir = "{d}/data"
db_engine = "sqlite"
replication_factor = 1
rpc_bind_addr = "127.0.0.1:{rpc_port}"
rpc_public_addr = "127.0.0.1:{rpc_port}"
rpc_secret = "{secret}"

[s3_api]
s3_region = "garage"
api_bind_addr = "127.0.0.1:{s3_port}"
root_domain = ".s3.garage.localhost"

[s3_web]
bind_addr = "127.0.0.1:{web_port}"
root_domain = "{GARAGE_WEB_DOMAIN}"
"#,
                d = dir.path().display()
            ),
        )
        .unwrap();
        std::fs::set_permissions(&config, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
        let mut g = Garage {
            process: Process(None),
            dir,
            config,
            s3_port,
            web_port,
            key_id: String::new(),
            secret: String::new(),
            bucket: "flags".into(),
        };
        g.spawn();
        let node = g.cli(&["node", "id", "-q"]);
        let node = node.trim().split('@').next().unwrap().to_string();
        g.cli(&["layout", "assign", "-z", "dc1", "-c", "1G", &node]);
        g.cli(&["layout", "apply", "--version", "1"]);
        let key = g.cli(&["key", "create", "vexil-test"]);
        let field = |name: &str| {
            key.lines()
                .find_map(|l| l.strip_prefix(name))
                .map(|v| v.trim().to_string())
                .unwrap_or_else(|| panic!("garage key create printed no {name}:\n{key}"))
        };
        g.key_id = field("Key ID:");
        g.secret = field("Secret key:");
        g.cli(&["bucket", "create", "flags"]);
        g.cli(&["bucket", "allow", "--read", "--write", "--owner", "flags", "--key", "vexil-test"]);
        g.cli(&["bucket", "website", "--allow", "flags"]);
        g.wait_serving();
        g
    }

    fn spawn(&mut self) {
        let log =
            std::fs::OpenOptions::new().create(true).append(true).open(self.dir.path().join("garage.log")).unwrap();
        let child = Command::new(garage_bin())
            .arg("-c")
            .arg(&self.config)
            .arg("server")
            .env("RUST_LOG", "warn")
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        self.process = Process(Some(child));
        let (s3, web) = (self.s3_port, self.web_port);
        wait_for("Garage", Duration::from_secs(30), || listening(s3) && listening(web));
    }

    /// Waits until the bucket answers reads (after a restart the node needs a moment).
    fn wait_serving(&self) {
        wait_for("Garage's bucket", Duration::from_secs(30), || self.get("vexil-probe").is_ok_and(|r| r.status == 404));
    }

    /// Runs a `garage` admin command; its stdout.
    pub fn cli(&self, args: &[&str]) -> String {
        let out = Command::new(garage_bin()).arg("-c").arg(&self.config).args(args).output().unwrap();
        assert!(out.status.success(), "garage {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.s3_port)
    }

    /// A `[[environment.target]]` writing to `prefix` in the bucket; the secret key is in a
    /// file outside the project, as vexil.toml never holds one.
    pub fn target_toml(&self, name: &str, prefix: &str) -> String {
        self.target_toml_with_secret(name, prefix, &self.secret)
    }

    /// [`Garage::target_toml`] with another secret key.
    pub fn target_toml_with_secret(&self, name: &str, prefix: &str, secret: &str) -> String {
        let file = self.dir.path().join(format!("secret-{}", &secret[..secret.len().min(16)]));
        std::fs::write(&file, format!("{secret}\n")).unwrap();
        format!(
            "[[environment.target]]\nname = \"{name}\"\nkind = \"s3\"\nbucket = \"{}\"\nprefix = \"{prefix}\"\nendpoint = \"{}\"\nregion = \"garage\"\naccess_key_id = \"{}\"\nsecret_access_key_file = {:?}\n",
            self.bucket,
            self.endpoint(),
            self.key_id,
            file.display().to_string()
        )
    }

    /// `GET /<key>` from the website endpoint, as a CDN fetches from its origin.
    pub fn get(&self, key: &str) -> std::io::Result<Response> {
        http_get(self.web_port, &format!("{}{GARAGE_WEB_DOMAIN}", self.bucket), &format!("/{key}"))
    }

    pub fn pid(&self) -> u32 {
        self.process.pid()
    }

    /// Stops the node abruptly, as a crash or a network cut would.
    pub fn kill(&mut self) {
        self.process.kill();
    }

    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
        self.wait_serving();
    }
}

// ---------------------------------------------------------------------------------------------

/// nginx with its WebDAV module taking PUT under `/flags/`; `/broken/` answers 500 to
/// everything and `/readonly/` refuses writes, for the error tests. Origins cannot store the
/// headers a PUT carries, so the cache headers come from this configuration, as in the
/// README's example.
pub struct Nginx {
    process: Process,
    dir: tempfile::TempDir,
    pub port: u16,
}

impl Nginx {
    pub fn start() -> Nginx {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let d = dir.path().display();
        for sub in ["www", "tmp"] {
            std::fs::create_dir_all(dir.path().join(sub)).unwrap();
        }
        std::fs::write(
            dir.path().join("nginx.conf"),
            format!(
                r#"daemon off;
master_process off;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{}}
http {{
    access_log off;
    client_body_temp_path {d}/tmp/body;
    proxy_temp_path {d}/tmp/proxy;
    fastcgi_temp_path {d}/tmp/fastcgi;
    uwsgi_temp_path {d}/tmp/uwsgi;
    scgi_temp_path {d}/tmp/scgi;
    types {{ application/octet-stream vxl; }}
    server {{
        listen 127.0.0.1:{port};
        root {d}/www;
        location /flags/ {{
            dav_methods PUT DELETE;
            create_full_put_path on;
            client_max_body_size 64m;
            location ~ /v/ {{
                dav_methods PUT DELETE;
                create_full_put_path on;
                add_header Cache-Control "public, max-age=31536000, immutable";
            }}
            location ~ /latest\.vxl$ {{
                dav_methods PUT DELETE;
                create_full_put_path on;
                add_header Cache-Control "public, max-age=5";
            }}
        }}
        location /broken/ {{ return 500; }}
        location /readonly/ {{ }}
    }}
}}
"#
            ),
        )
        .unwrap();
        let mut n = Nginx { process: Process(None), dir, port };
        n.spawn();
        n
    }

    fn spawn(&mut self) {
        let child = Command::new("nginx")
            .arg("-p")
            .arg(self.dir.path())
            .arg("-c")
            .arg(self.dir.path().join("nginx.conf"))
            .arg("-e")
            .arg(self.dir.path().join("error.log"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nginx from apt (make test installs it)");
        self.process = Process(Some(child));
        let port = self.port;
        wait_for("nginx", Duration::from_secs(20), || listening(port));
    }

    /// The base URL of `path` (`flags/production`).
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}/{path}", self.port)
    }

    pub fn target_toml(&self, name: &str, path: &str) -> String {
        format!("[[environment.target]]\nname = \"{name}\"\nkind = \"http\"\nurl = \"{}\"\n", self.url(path))
    }

    pub fn get(&self, path: &str) -> std::io::Result<Response> {
        http_get(self.port, "127.0.0.1", &format!("/{path}"))
    }

    pub fn pid(&self) -> u32 {
        self.process.pid()
    }

    pub fn kill(&mut self) {
        self.process.kill();
    }

    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
    }
}

// ---------------------------------------------------------------------------------------------

/// `vexil serve` on a project, on a free port; stopped by PID when dropped.
pub struct Serve {
    process: Process,
    pub port: u16,
    /// Where its stderr goes, when the test reads it.
    log: Option<tempfile::NamedTempFile>,
}

impl Serve {
    /// Starts `command` (a `vexil serve --listen 127.0.0.1:0 …`) and waits for its address.
    pub fn start(command: Command) -> Serve {
        Serve::spawn(command, None)
    }

    /// [`Serve::start`], keeping what the server writes to stderr for [`Serve::stderr`].
    pub fn start_logged(command: Command) -> Serve {
        Serve::spawn(command, Some(tempfile::NamedTempFile::new().unwrap()))
    }

    /// Everything the server wrote to stderr so far.
    pub fn stderr(&self) -> String {
        self.log.as_ref().map(|f| std::fs::read_to_string(f.path()).unwrap()).unwrap_or_default()
    }

    fn spawn(mut command: Command, log: Option<tempfile::NamedTempFile>) -> Serve {
        use std::io::BufRead;
        let stderr = match &log {
            Some(f) => Stdio::from(f.reopen().unwrap()),
            None => Stdio::inherit(),
        };
        let mut child = command.stdout(Stdio::piped()).stderr(stderr).spawn().expect("vexil serve");
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let port = line
            .split("http://127.0.0.1:")
            .nth(1)
            .and_then(|rest| rest.split('/').next())
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("vexil serve printed no address: {line:?}"));
        Serve { process: Process(Some(child)), port, log }
    }

    pub fn pid(&self) -> u32 {
        self.process.pid()
    }

    pub fn get(&self, path: &str, headers: &[(&str, &str)]) -> Response {
        self.try_get(path, headers).unwrap_or_else(|e| panic!("GET {path}: {e}"))
    }

    /// For polling while a limit is still in force: a connection past it is closed at once,
    /// which a client sees as a reset, not a status.
    pub fn try_get(&self, path: &str, headers: &[(&str, &str)]) -> std::io::Result<Response> {
        http_request(self.port, "GET", path, headers)
    }
}

/// One server-sent event.
#[derive(Clone, Debug, PartialEq)]
pub struct SseEvent {
    pub event: String,
    pub id: Option<String>,
    pub data: String,
}

/// An open event stream, read line by line (comments kept, to see heartbeats).
pub struct EventStream {
    reader: std::io::BufReader<TcpStream>,
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub comments: Vec<String>,
}

impl EventStream {
    pub fn open(port: u16, path: &str, headers: &[(&str, &str)]) -> EventStream {
        use std::io::BufRead;
        let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        // HTTP/1.0: the body is delimited by the connection closing, so it needs no de-chunking.
        let mut request = format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\nAccept: text/event-stream\r\n");
        for (name, value) in headers {
            request.push_str(&format!("{name}: {value}\r\n"));
        }
        request.push_str("\r\n");
        s.write_all(request.as_bytes()).unwrap();
        let mut reader = std::io::BufReader::new(s);
        let mut status_line = String::new();
        reader.read_line(&mut status_line).unwrap();
        let status = status_line.split_whitespace().nth(1).and_then(|c| c.parse().ok()).expect("status line");
        let mut headers = Vec::new();
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some((n, v)) = line.split_once(':') {
                headers.push((n.trim().to_ascii_lowercase(), v.trim().to_string()));
            }
        }
        EventStream { reader, status, headers, comments: Vec::new() }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    fn line(&mut self) -> std::io::Result<String> {
        use std::io::BufRead;
        let mut line = String::new();
        if self.reader.read_line(&mut line)? == 0 {
            return Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "stream closed"));
        }
        Ok(line.trim_end_matches(['\r', '\n']).to_string())
    }

    /// The next event, waiting up to the read timeout.
    pub fn next_event(&mut self) -> std::io::Result<SseEvent> {
        let mut event = SseEvent { event: "message".into(), id: None, data: String::new() };
        let mut has_data = false;
        loop {
            let line = self.line()?;
            if line.is_empty() {
                if has_data {
                    return Ok(event);
                }
                continue;
            }
            if let Some(comment) = line.strip_prefix(':') {
                self.comments.push(comment.trim().to_string());
                continue;
            }
            let (field, value) =
                line.split_once(':').map_or((line.as_str(), ""), |(f, v)| (f, v.strip_prefix(' ').unwrap_or(v)));
            match field {
                "event" => event.event = value.to_string(),
                "id" => event.id = Some(value.to_string()),
                "data" => {
                    if has_data {
                        event.data.push('\n');
                    }
                    event.data.push_str(value);
                    has_data = true;
                }
                _ => {}
            }
        }
    }

    pub fn set_timeout(&mut self, timeout: Duration) {
        self.reader.get_ref().set_read_timeout(Some(timeout)).unwrap();
    }
}
