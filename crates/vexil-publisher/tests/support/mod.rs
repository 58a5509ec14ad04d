//! Helpers for driving the real `vexil` binary against throwaway projects.
#![allow(dead_code)]

pub mod api;
pub mod chat;
pub mod prometheus;
pub mod receiver;
pub mod servers;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub const VEXIL: &str = env!("CARGO_BIN_EXE_vexil");

/// A project in a temporary directory, created with `vexil init`.
pub struct TestProject {
    pub dir: tempfile::TempDir,
    /// Environment variables every command gets (the database password).
    pub env: Vec<(String, String)>,
    /// The PostgreSQL state, if not SQLite: URL and password.
    pub postgres: Option<(String, String)>,
}

impl TestProject {
    pub fn new() -> TestProject {
        let dir = tempfile::tempdir().unwrap();
        let out = run_in(dir.path(), &["init", "."]);
        assert!(out.status.success(), "init: {}", stderr(&out));
        TestProject { dir, env: Vec::new(), postgres: None }
    }

    /// A project whose state is a new database on `pg`.
    pub fn on_postgres(pg: &servers::Postgres) -> TestProject {
        let dir = tempfile::tempdir().unwrap();
        let url = pg.create_database();
        let env = vec![("VEXIL_DATABASE_PASSWORD".to_string(), pg.password.clone())];
        let p = TestProject { dir, env, postgres: Some((url.clone(), pg.password.clone())) };
        let out = p.run(&["init", ".", "--state", &url]);
        assert!(out.status.success(), "init: {}", stderr(&out));
        p
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Runs vexil; returns the output whatever the exit status.
    pub fn run(&self, args: &[&str]) -> Output {
        let env: Vec<(&str, &str)> = self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        run_env(self.path(), args, &env)
    }

    /// A `vexil` command for spawning, with this project's directory and environment.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(VEXIL);
        c.args(args)
            .current_dir(self.path())
            .env("VEXIL_AUTHOR", "Test Author <test@example.com>")
            .env_remove("VEXIL_PROJECT")
            .env_remove("VEXIL_URL")
            .env_remove("VEXIL_TOKEN");
        for (k, v) in &self.env {
            c.env(k, v);
        }
        c
    }

    /// Two `vexil` processes racing on dev: one sets `flag` for `--user=1..=sets`, the other
    /// for `--project=1..=sets`, each as its own shell loop; asserts both succeeded.
    pub fn race_two_writers(&self, flag: &str, sets: usize) {
        let spawn = |kind: &str| {
            let script = format!(
                "set -e; for i in $(seq 1 {sets}); do {VEXIL} feature set {flag} true --{kind}=$i --dev >/dev/null; done"
            );
            Command::new("sh")
                .arg("-c")
                .arg(script)
                .current_dir(self.path())
                .envs(self.env.iter().cloned())
                .env("VEXIL_AUTHOR", kind)
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        };
        let (a, b) = (spawn("user"), spawn("project"));
        for child in [a, b] {
            let out = child.wait_with_output().unwrap();
            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        }
    }

    /// Replaces the targets of `environment` in vexil.toml with `targets` (TOML tables).
    pub fn set_targets(&self, environment: &str, targets: &str) {
        let path = self.path().join("vexil.toml");
        let text = std::fs::read_to_string(&path).unwrap();
        let header = format!("[[environment]]\nname = \"{environment}\"\n");
        let start =
            text.find(&header).unwrap_or_else(|| panic!("no environment {environment} in vexil.toml")) + header.len();
        let end = text[start..].find("[[environment]]").map_or(text.len(), |i| start + i);
        let updated = format!("{}{targets}\n{}", &text[..start], &text[end..]);
        std::fs::write(path, updated).unwrap();
    }

    fn pg_client(&self) -> Option<postgres::Client> {
        let (url, password) = self.postgres.as_ref()?;
        let mut config: postgres::Config = url.parse().unwrap();
        config.password(password);
        Some(config.connect(postgres::NoTls).unwrap())
    }

    /// Waits until PostgreSQL has finished with every other session on this project's
    /// database. A client killed right after sending COMMIT leaves the server to complete
    /// that commit on its own a moment later; reading before then would see it half-way
    /// through two separate queries. (SQLite commits in the killed process or not at all.)
    pub fn settle(&self) {
        let Some(mut c) = self.pg_client() else { return };
        let start = std::time::Instant::now();
        loop {
            let others: i64 = c
                .query_one(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()",
                    &[],
                )
                .unwrap()
                .get(0);
            if others == 0 {
                return;
            }
            assert!(start.elapsed() < std::time::Duration::from_secs(30), "{others} sessions linger after 30 s");
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
    }

    /// Every version of `environment` in the database: (version, snapshot bytes).
    pub fn versions(&self, environment: &str) -> Vec<(u64, Vec<u8>)> {
        if let Some(mut c) = self.pg_client() {
            return c
                .query(
                    "SELECT version, snapshot FROM versions WHERE environment = $1 ORDER BY version",
                    &[&environment],
                )
                .unwrap()
                .iter()
                .map(|r| (r.get::<_, i64>(0) as u64, r.get(1)))
                .collect();
        }
        let conn = rusqlite::Connection::open(self.path().join(".vexil/state.db")).unwrap();
        let mut stmt =
            conn.prepare("SELECT version, snapshot FROM versions WHERE environment = ?1 ORDER BY version").unwrap();
        stmt.query_map([environment], |r| Ok((r.get::<_, i64>(0)? as u64, r.get(1)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    }

    /// The number of change-log entries of `environment`.
    pub fn change_count(&self, environment: &str) -> usize {
        if let Some(mut c) = self.pg_client() {
            return c
                .query_one("SELECT count(*) FROM changes WHERE environment = $1", &[&environment])
                .unwrap()
                .get::<_, i64>(0) as usize;
        }
        let conn = rusqlite::Connection::open(self.path().join(".vexil/state.db")).unwrap();
        conn.query_row("SELECT count(*) FROM changes WHERE environment = ?1", [environment], |r| r.get::<_, i64>(0))
            .unwrap() as usize
    }

    /// Runs vexil and asserts it succeeded; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "vexil {args:?} failed ({:?}):\n{}\n{}",
            out.status.code(),
            stdout(&out),
            stderr(&out)
        );
        stdout(&out)
    }

    /// Runs vexil, asserts it failed with `code` and that stderr mentions `needle`.
    pub fn fails(&self, args: &[&str], code: i32, needle: &str) -> String {
        let out = self.run(args);
        let err = stderr(&out);
        assert_eq!(
            out.status.code(),
            Some(code),
            "vexil {args:?}: expected exit {code}\nstdout: {}\nstderr: {err}",
            stdout(&out)
        );
        assert!(err.contains(needle), "vexil {args:?}: stderr lacks {needle:?}:\n{err}");
        err
    }

    pub fn json(&self, args: &[&str]) -> serde_json::Value {
        let mut a = args.to_vec();
        a.push("--json");
        serde_json::from_str(&self.ok(&a)).unwrap()
    }

    pub fn write(&self, rel: &str, text: &str) {
        let p = self.path().join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }

    pub fn define(&self, name: &str, flag_type: &str, default_enabled: bool) {
        self.write(
            &format!("config/feature_flags/{flag_type}/{name}.yml"),
            &format!("---\nname: {name}\nmilestone: '17.0'\ngroup: group::test\ntype: {flag_type}\ndefault_enabled: {default_enabled}\n"),
        );
    }

    /// Everything a command could change: every file under the project (the database's
    /// logical content instead of its file, whose bytes SQLite may rewrite on its own).
    pub fn fingerprint(&self) -> BTreeMap<String, Vec<u8>> {
        let mut out = BTreeMap::new();
        walk(self.path(), self.path(), &mut out);
        let database = match self.pg_client() {
            Some(mut c) => dump_postgres(&mut c),
            None => dump_database(&self.path().join(".vexil/state.db")),
        };
        out.insert("<database>".into(), database.into_bytes());
        out
    }

    /// The environment's latest version in the database.
    pub fn version(&self, env: &str) -> u64 {
        let s = self.ok(&["inspect", "--env", env, "--json"]);
        let v: serde_json::Value = serde_json::from_str(&s).unwrap();
        v["version"].as_u64().unwrap()
    }

    pub fn eval(&self, env: &str, flag: &str, actor: &str) -> (bool, String) {
        let v = self.json(&["eval", flag, "--env", env, "--actor", actor, "--random", "0.5"]);
        (v["enabled"].as_bool().unwrap(), v["reason"].as_str().unwrap().to_string())
    }
}

fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        let rel = p.strip_prefix(root).unwrap().display().to_string();
        if rel.starts_with(".vexil/state.db") || rel.starts_with(".vexil/locks") {
            continue;
        }
        if p.is_dir() {
            walk(root, &p, out);
        } else {
            out.insert(rel, std::fs::read(&p).unwrap_or_default());
        }
    }
}

pub fn dump_database(path: &Path) -> String {
    let conn = rusqlite::Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    let mut out = String::new();
    let mut stmt = conn.prepare("SELECT environment, version, published_at, author, hex(snapshot) FROM versions ORDER BY environment, version").unwrap();
    let rows = stmt
        .query_map([], |r| {
            Ok(format!(
                "{}|{}|{}|{}|{}\n",
                r.get::<_, String>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, i64>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, String>(4)?
            ))
        })
        .unwrap();
    for r in rows {
        out.push_str(&r.unwrap());
    }
    let mut stmt = conn.prepare("SELECT id, environment, version, flag, action, command, author, at, before, after FROM changes ORDER BY id").unwrap();
    let rows = stmt
        .query_map([], |r| {
            Ok(format!(
                "{}|{}|{}|{:?}|{}|{}|{}|{}|{}|{}\n",
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, i64>(2)?,
                r.get::<_, Option<String>>(3)?,
                r.get::<_, String>(4)?,
                r.get::<_, String>(5)?,
                r.get::<_, String>(6)?,
                r.get::<_, i64>(7)?,
                r.get::<_, String>(8)?,
                r.get::<_, String>(9)?
            ))
        })
        .unwrap();
    for r in rows {
        out.push_str(&r.unwrap());
    }
    out
}

/// The PostgreSQL state in the same form as [`dump_database`].
pub fn dump_postgres(c: &mut postgres::Client) -> String {
    let mut out = String::new();
    for r in c
        .query(
            "SELECT environment, version, published_at, author, snapshot FROM versions ORDER BY environment, version",
            &[],
        )
        .unwrap()
    {
        let hex: String = r.get::<_, Vec<u8>>(4).iter().map(|b| format!("{b:02X}")).collect();
        out.push_str(&format!(
            "{}|{}|{}|{}|{hex}\n",
            r.get::<_, String>(0),
            r.get::<_, i64>(1),
            r.get::<_, i64>(2),
            r.get::<_, String>(3)
        ));
    }
    for r in c.query("SELECT id, environment, version, flag, action, command, author, at, before, after FROM changes ORDER BY id", &[]).unwrap() {
        out.push_str(&format!(
            "{}|{}|{}|{:?}|{}|{}|{}|{}|{}|{}\n",
            r.get::<_, i64>(0),
            r.get::<_, String>(1),
            r.get::<_, i64>(2),
            r.get::<_, Option<String>>(3),
            r.get::<_, String>(4),
            r.get::<_, String>(5),
            r.get::<_, String>(6),
            r.get::<_, i64>(7),
            r.get::<_, String>(8),
            r.get::<_, String>(9)
        ));
    }
    out
}

pub fn run_in(dir: &Path, args: &[&str]) -> Output {
    run_env(dir, args, &[])
}

pub fn run_env(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = Command::new(VEXIL);
    c.args(args)
        .current_dir(dir)
        .env("VEXIL_AUTHOR", "Test Author <test@example.com>")
        .env_remove("VEXIL_PROJECT")
        .env_remove("VEXIL_URL")
        .env_remove("VEXIL_TOKEN");
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().unwrap()
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap()
}

/// Reads until the server closes the connection; None if it is still open after `wait`.
pub fn closed_within(stream: &mut std::net::TcpStream, wait: std::time::Duration) -> Option<Vec<u8>> {
    use std::io::Read;
    stream.set_read_timeout(Some(wait)).unwrap();
    let mut got = Vec::new();
    match stream.read_to_end(&mut got) {
        Ok(_) => Some(got),
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => Some(got),
        Err(_) => None,
    }
}
