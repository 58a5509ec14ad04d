//! A project served by `vexil serve --api` for the API's benchmarks: SQLite state or a
//! PostgreSQL database, signed, published, and a write token for `dev`.

use super::servers;
use std::path::Path;
use std::process::Command;

const VEXIL: &str = env!("CARGO_BIN_EXE_vexil");

pub struct Served {
    pub dir: tempfile::TempDir,
    pub server: servers::Serve,
    pub token: String,
    env: Vec<(String, String)>,
}

/// `state`: none for SQLite, or a PostgreSQL URL and its password; `extra_toml` is appended
/// to vexil.toml; `env` is given to every command and to the server.
pub fn start(state: Option<(&str, &str)>, extra_toml: &str, env: &[(&str, &str)]) -> Served {
    let dir = tempfile::tempdir().unwrap();
    let mut env: Vec<(String, String)> = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    env.push(("VEXIL_DATABASE_PASSWORD".into(), state.map_or("", |s| s.1).into()));
    match state {
        None => vexil(dir.path(), &env, &["init", "."]),
        Some((url, _)) => vexil(dir.path(), &env, &["init", ".", "--state", url]),
    };
    vexil(dir.path(), &env, &["keygen"]);
    let toml = std::fs::read_to_string(dir.path().join("vexil.toml")).unwrap();
    std::fs::write(dir.path().join("vexil.toml"), toml + extra_toml).unwrap();
    vexil(dir.path(), &env, &["publish"]);
    let created = vexil(dir.path(), &env, &["token", "create", "bench", "--environments", "dev", "--json"]);
    let token: serde_json::Value = serde_json::from_str(&created).unwrap();
    let token = token["token"].as_str().unwrap().to_string();
    let mut command = Command::new(VEXIL);
    command.args(["serve", "--listen", "127.0.0.1:0", "--api"]).current_dir(dir.path()).envs(env.iter().cloned());
    let server = servers::Serve::start(command);
    Served { dir, server, token, env }
}

impl Served {
    /// Runs `vexil` in the project; its stdout.
    pub fn vexil(&self, args: &[&str]) -> String {
        vexil(self.dir.path(), &self.env, args)
    }

    /// `POST /dev/api/v4/features/new_navigation_bar` with `form`; asserts 201.
    pub fn post(&self, form: &str) {
        post(self.server.port, &self.token, form);
    }
}

pub fn post(port: u16, token: &str, form: &str) {
    let r = servers::http_send(
        port,
        "POST",
        "/dev/api/v4/features/new_navigation_bar",
        &[("PRIVATE-TOKEN", token), ("Content-Type", "application/x-www-form-urlencoded")],
        form.as_bytes(),
    )
    .unwrap();
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
}

fn vexil(dir: &Path, env: &[(String, String)], args: &[&str]) -> String {
    let out = Command::new(VEXIL).args(args).current_dir(dir).envs(env.iter().cloned()).output().unwrap();
    assert!(out.status.success(), "vexil {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}
