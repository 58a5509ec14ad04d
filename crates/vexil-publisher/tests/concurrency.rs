//! Concurrent publishers serialize and never lose a change; a publisher killed at any point
//! leaves the old or the new state, targets hold only complete snapshots, and the next
//! `vexil publish` brings every target up to date.

mod support;

use std::collections::BTreeSet;
use std::process::{Command, Stdio};
use support::TestProject;
use vexil_core::Snapshot;

const FLAG: &str = "new_navigation_bar";

fn versions(p: &TestProject, env: &str) -> Vec<(u64, Vec<u8>)> {
    let conn = rusqlite::Connection::open(p.path().join(".vexil/state.db")).unwrap();
    let mut stmt =
        conn.prepare("SELECT version, snapshot FROM versions WHERE environment = ?1 ORDER BY version").unwrap();
    stmt.query_map([env], |r| Ok((r.get::<_, i64>(0)? as u64, r.get(1)?))).unwrap().map(Result::unwrap).collect()
}

fn changes(p: &TestProject, env: &str) -> usize {
    let conn = rusqlite::Connection::open(p.path().join(".vexil/state.db")).unwrap();
    conn.query_row("SELECT count(*) FROM changes WHERE environment = ?1", [env], |r| r.get::<_, i64>(0)).unwrap()
        as usize
}

#[test]
fn two_processes_two_hundred_sets_each() {
    let p = TestProject::new();
    let script = |kind: &str| {
        format!(
            "set -e; for i in $(seq 1 200); do {vexil} feature set {FLAG} true --{kind}=$i --dev >/dev/null; done",
            vexil = support::VEXIL
        )
    };
    let spawn = |kind: &str| {
        Command::new("sh")
            .arg("-c")
            .arg(script(kind))
            .current_dir(p.path())
            .env("VEXIL_AUTHOR", kind)
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (spawn("user"), spawn("project"));
    for child in [a, b] {
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    let rows = versions(&p, "dev");
    assert_eq!(rows.len(), 401, "version 1 from init, then one per set");
    assert!(rows.iter().enumerate().all(|(i, (v, _))| *v == i as u64 + 1), "no gaps");
    assert_eq!(changes(&p, "dev"), 401);
    let final_state = Snapshot::decode(&rows.last().unwrap().1, &[]).unwrap().to_environment();
    let actors: BTreeSet<String> = final_state.flags[FLAG].gates.actors.ids().map(String::from).collect();
    let expected: BTreeSet<String> = (1..=200).flat_map(|i| [format!("User:{i}"), format!("Project:{i}")]).collect();
    assert_eq!(actors, expected, "every change is in the final state");
    // The target ends at the newest version, whatever order the pushes ran in.
    let latest = std::fs::read(p.path().join("public/dev/latest.vxl")).unwrap();
    assert_eq!(Snapshot::decode(&latest, &[]).unwrap().version(), 401);
    p.ok(&["status"]);
}

#[test]
fn killed_publishers_leave_old_or_new_state_and_publish_recovers() {
    let p = TestProject::new();
    let mut seed = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64;
    eprintln!("kill test seed {seed}");
    // Kill anywhere from before the command starts to after it would have finished.
    let started = std::time::Instant::now();
    p.ok(&["feature", "set", FLAG, "1", "--actors", "--dev", "--staging", "--ignore-feature-flag-consistency-check"]);
    let span = started.elapsed().as_micros() as u64 * 3 / 2;
    let mut killed = 0;
    for i in 0..60u64 {
        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        let delay = std::time::Duration::from_micros((seed >> 33) % span);
        let pct = format!("{}", i % 97 + 1);
        let mut child = Command::new(support::VEXIL)
            .args([
                "feature",
                "set",
                FLAG,
                &pct,
                "--actors",
                "--dev",
                "--staging",
                "--ignore-feature-flag-consistency-check",
            ])
            .current_dir(p.path())
            .env("VEXIL_AUTHOR", "killer")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(delay);
        if child.try_wait().unwrap().is_none() {
            child.kill().unwrap(); // SIGKILL
            killed += 1;
        }
        let _ = child.wait();

        // The database holds whole versions: each decodes, has a change-log entry per
        // environment, and both environments moved together.
        let (dev, staging) = (versions(&p, "dev"), versions(&p, "staging"));
        assert_eq!(dev.len(), staging.len(), "a command commits to both environments or neither");
        assert_eq!(changes(&p, "dev"), dev.len());
        for (_, bytes) in dev.iter().chain(&staging) {
            Snapshot::decode(bytes, &[]).unwrap();
        }
        // Targets hold complete snapshots the database published, never a torn file.
        for env in ["dev", "staging"] {
            let dir = p.path().join("public").join(env);
            let db = versions(&p, env);
            for entry in std::fs::read_dir(dir.join("v")).unwrap().flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                if name.starts_with('.') {
                    continue; // a temporary file a killed push left; never a served path
                }
                let v: u64 = name.trim_end_matches(".vxl").parse().unwrap();
                assert_eq!(std::fs::read(entry.path()).unwrap(), db[v as usize - 1].1, "{env} v/{name}");
            }
            let latest = std::fs::read(dir.join("latest.vxl")).unwrap();
            let v = Snapshot::decode(&latest, &[]).unwrap().version();
            assert_eq!(latest, db[v as usize - 1].1);
        }
    }
    eprintln!("killed {killed} of 60 publishers mid-command (delays up to {span} µs)");
    assert!(killed > 5 && killed < 60, "kills spread over the command's life");
    p.ok(&["publish"]);
    p.ok(&["status"]);
    for env in ["dev", "staging"] {
        let dir = p.path().join("public").join(env);
        assert!(std::fs::read_dir(&dir).unwrap().flatten().all(|e| !e.file_name().to_string_lossy().contains(".tmp-")));
    }
}
