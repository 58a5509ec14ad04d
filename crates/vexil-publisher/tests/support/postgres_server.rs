//! A real PostgreSQL for the team-setup tests: Debian's server, run as a non-root user on
//! 127.0.0.1 on a free port, in its own temporary directory, with password authentication
//! over TCP. It can be stopped and started again on the same data and port, as an
//! operator's restart or an outage would, while vexil keeps running.

use super::{free_port, is_root, Process};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Postgres {
    /// None while stopped. Declared before `dir`, so the server stops before its files go.
    process: Option<Process>,
    dir: tempfile::TempDir,
    bin: PathBuf,
    pub port: u16,
    pub password: String,
    next_db: std::sync::atomic::AtomicU32,
}

fn postgres_bin() -> PathBuf {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .expect("PostgreSQL from apt (make test installs it)")
        .flatten()
        .filter_map(|e| Some((e.file_name().to_string_lossy().parse().ok()?, e.path().join("bin"))))
        .collect();
    versions.sort();
    versions.pop().expect("a PostgreSQL version under /usr/lib/postgresql").1
}

/// Runs `cmd` as the `postgres` user when we are root: PostgreSQL refuses to run as root.
fn as_postgres(program: &Path) -> Command {
    if is_root() {
        let mut c = Command::new("setpriv");
        c.args(["--reuid=postgres", "--regid=postgres", "--init-groups", "--"]).arg(program);
        c
    } else {
        Command::new(program)
    }
}

/// Gives `path` to the `postgres` user when we are root, so the server can read it.
pub(super) fn chown_to_postgres(path: &Path) {
    if is_root() {
        let ok = Command::new("chown").arg("-R").arg("postgres:postgres").arg(path).status().unwrap();
        assert!(ok.success(), "chown {}", path.display());
    }
}

impl Postgres {
    pub fn start() -> Postgres {
        let bin = postgres_bin();
        let dir = tempfile::tempdir().unwrap();
        chown_to_postgres(dir.path());
        let password = format!("pw-{}", std::process::id());
        let pwfile = dir.path().join("pwfile");
        std::fs::write(&pwfile, &password).unwrap();
        chown_to_postgres(&pwfile);
        let data = dir.path().join("data");
        let out = as_postgres(&bin.join("initdb"))
            .arg("-D")
            .arg(&data)
            .args(["-U", "vexil", "-E", "UTF8", "--auth-local=trust", "--auth-host=scram-sha-256", "--no-instructions"])
            .arg(format!("--pwfile={}", pwfile.display()))
            .output()
            .unwrap();
        assert!(out.status.success(), "initdb: {}", String::from_utf8_lossy(&out.stderr));
        let mut pg = Postgres { process: None, dir, bin, port: free_port(), password, next_db: 0.into() };
        pg.start_again();
        pg
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// Appends `settings` to postgresql.conf; they apply from the next start.
    pub fn configure(&self, settings: &str) {
        let conf = self.data().join("postgresql.conf");
        let mut text = std::fs::read_to_string(&conf).unwrap();
        text.push_str(settings);
        text.push('\n');
        std::fs::write(&conf, text).unwrap();
    }

    /// Turns TLS on with `cert_pem` (the server's chain) and `key_pem`, logs every connection
    /// with whether it is encrypted, and restarts the server. Plaintext is still accepted.
    pub fn enable_tls(&mut self, cert_pem: &str, key_pem: &str) {
        use std::os::unix::fs::PermissionsExt;
        let (cert, key) = (self.data().join("server.crt"), self.data().join("server.key"));
        std::fs::write(&cert, cert_pem).unwrap();
        std::fs::write(&key, key_pem).unwrap();
        // PostgreSQL refuses a key that others can read.
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
        chown_to_postgres(&cert);
        chown_to_postgres(&key);
        self.configure("ssl = on\nssl_cert_file = 'server.crt'\nssl_key_file = 'server.key'\nlog_connections = on");
        self.restart();
    }

    fn spawn(&self) -> Child {
        let log = std::fs::OpenOptions::new().create(true).append(true).open(self.dir.path().join("postgres.log"));
        as_postgres(&self.bin.join("postgres"))
            .arg("-D")
            .arg(self.data())
            .args(["-c", "listen_addresses=127.0.0.1", "-c", &format!("port={}", self.port)])
            .arg("-c")
            .arg(format!("unix_socket_directories={}", self.dir.path().display()))
            .stdout(Stdio::null())
            .stderr(log.unwrap())
            .spawn()
            .unwrap()
    }

    /// Starts the server on its data and port (again, after [`Postgres::stop`]), and waits
    /// until it takes connections.
    pub fn start_again(&mut self) {
        assert!(self.process.is_none(), "PostgreSQL is running already");
        self.process = Some(Process::new(self.spawn()));
        let start = Instant::now();
        while self.try_client("postgres").is_err() {
            let exited = self.process.as_mut().and_then(Process::exited);
            assert!(exited.is_none(), "PostgreSQL exited ({exited:?}):\n{}", self.log());
            assert!(start.elapsed() < Duration::from_secs(30), "PostgreSQL not ready within 30 s:\n{}", self.log());
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// A fast shutdown, as `pg_ctl stop` does: every session is ended at once and the port
    /// closes; the data stays.
    pub fn stop(&mut self) {
        assert!(self.shut_down(), "PostgreSQL did not shut down within 30 s:\n{}", self.log());
    }

    /// Whether the server stopped in time; never panics, for `drop`.
    fn shut_down(&mut self) -> bool {
        if self.process.is_none() {
            return true;
        }
        // A frozen server must run to shut down.
        self.thaw();
        let Some(mut process) = self.process.take() else { return true };
        process.signal("INT");
        let start = Instant::now();
        while process.exited().is_none() {
            if start.elapsed() > Duration::from_secs(30) {
                process.kill();
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        true
    }

    /// The server's processes: the postmaster, then each of its children.
    fn processes(&self) -> Vec<String> {
        let postmaster = self.process.as_ref().expect("running").pid().to_string();
        let out = Command::new("ps").args(["-o", "pid=", "--ppid", &postmaster]).output().unwrap();
        let children = String::from_utf8_lossy(&out.stdout).split_whitespace().map(str::to_string).collect::<Vec<_>>();
        std::iter::once(postmaster).chain(children).collect()
    }

    /// Freezes every process of the server (SIGSTOP), as a paused VM or a hung disk would:
    /// connections stay open and the kernel still acknowledges packets, but nothing answers.
    pub fn freeze(&self) {
        // The postmaster first, so that it starts no process that would escape.
        for pid in self.processes() {
            let _ = Command::new("kill").args(["-STOP", &pid]).status();
        }
    }

    /// Undoes [`Postgres::freeze`].
    pub fn thaw(&self) {
        for pid in self.processes().iter().rev() {
            let _ = Command::new("kill").args(["-CONT", pid]).status();
        }
    }

    /// Stops and starts the server: every connection breaks, the state survives.
    pub fn restart(&mut self) {
        self.stop();
        self.start_again();
    }

    fn try_client(&self, db: &str) -> Result<postgres::Client, postgres::Error> {
        postgres::Config::new()
            .host("127.0.0.1")
            .port(self.port)
            .user("vexil")
            .password(&self.password)
            .dbname(db)
            .connect(postgres::NoTls)
    }

    pub fn client(&self, db: &str) -> postgres::Client {
        self.try_client(db).unwrap()
    }

    /// A URL without the password (vexil reads it from VEXIL_DATABASE_PASSWORD).
    pub fn url(&self, db: &str) -> String {
        format!("postgres://vexil@127.0.0.1:{}/{db}", self.port)
    }

    /// A new, empty database; its URL.
    pub fn create_database(&self) -> String {
        let n = self.next_db.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let name = format!("vexil_{n}");
        self.client("postgres").batch_execute(&format!("CREATE DATABASE {name}")).unwrap();
        self.url(&name)
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("postgres.log")).unwrap_or_default()
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        // A smart shutdown (SIGTERM) would wait for every client, vexil serve's included.
        self.shut_down();
    }
}
