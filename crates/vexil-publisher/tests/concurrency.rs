//! Concurrent publishers serialize and never lose a change; a publisher killed at any point
//! leaves the old or the new state, targets hold only complete snapshots, and the next
//! `vexil publish` brings every target up to date. Each on SQLite and on PostgreSQL.

mod support;

use std::collections::BTreeSet;
use std::process::Stdio;
use support::servers::Postgres;
use support::TestProject;
use vexil_core::Snapshot;

const FLAG: &str = "new_navigation_bar";

#[test]
fn sqlite_two_processes_two_hundred_sets_each() {
    two_processes_two_hundred_sets_each(&TestProject::new());
}

#[test]
fn postgres_two_processes_two_hundred_sets_each() {
    let pg = Postgres::start();
    two_processes_two_hundred_sets_each(&TestProject::on_postgres(&pg));
}

#[test]
fn sqlite_killed_publishers_leave_old_or_new_state_and_publish_recovers() {
    killed_publishers_leave_old_or_new_state_and_publish_recovers(&TestProject::new());
}

#[test]
fn postgres_killed_publishers_leave_old_or_new_state_and_publish_recovers() {
    let pg = Postgres::start();
    killed_publishers_leave_old_or_new_state_and_publish_recovers(&TestProject::on_postgres(&pg));
}

fn two_processes_two_hundred_sets_each(p: &TestProject) {
    p.race_two_writers(FLAG, 200);
    let rows = p.versions("dev");
    assert_eq!(rows.len(), 401, "version 1 from init, then one per set");
    assert!(rows.iter().enumerate().all(|(i, (v, _))| *v == i as u64 + 1), "no gaps");
    assert_eq!(p.change_count("dev"), 401);
    let final_state = Snapshot::decode(&rows.last().unwrap().1, &[]).unwrap().to_environment();
    let actors: BTreeSet<String> = final_state.flags[FLAG].gates.actors.ids().map(String::from).collect();
    let expected: BTreeSet<String> = (1..=200).flat_map(|i| [format!("User:{i}"), format!("Project:{i}")]).collect();
    assert_eq!(actors, expected, "every change is in the final state");
    // The target ends at the newest version, whatever order the pushes ran in.
    let latest = std::fs::read(p.path().join("public/dev/latest.vxl")).unwrap();
    assert_eq!(Snapshot::decode(&latest, &[]).unwrap().version(), 401);
    p.ok(&["status"]);
    // Racing writers extended the hash chain one at a time: every link holds.
    let verified = p.json(&["log", "--verify"]);
    assert_eq!(verified["entries"].as_u64(), Some(p.json(&["log"]).as_array().unwrap().len() as u64));
}

fn killed_publishers_leave_old_or_new_state_and_publish_recovers(p: &TestProject) {
    let mut seed = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64;
    eprintln!("kill test seed {seed}");
    // Kill anywhere from before the command starts to after it would have finished: delays
    // span 1.5 times the median duration of recent whole commands, timed every few kills so
    // that it follows the machine's load as the other tests come and go.
    let mut durations = Vec::new();
    let mut killed = 0;
    let mut span = 0;
    for i in 0..60u64 {
        let timed = if i == 0 {
            5
        } else if i % 10 == 0 {
            1
        } else {
            0
        };
        for _ in 0..timed {
            let started = std::time::Instant::now();
            p.ok(&[
                "feature",
                "set",
                FLAG,
                "1",
                "--actors",
                "--dev",
                "--staging",
                "--ignore-feature-flag-consistency-check",
            ]);
            durations.push(started.elapsed().as_micros() as u64);
        }
        let mut recent = durations[durations.len().saturating_sub(7)..].to_vec();
        recent.sort_unstable();
        span = recent[recent.len() / 2] * 3 / 2;
        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        let delay = std::time::Duration::from_micros((seed >> 33) % span);
        let pct = format!("{}", i % 97 + 1);
        let mut child = p
            .command(&[
                "feature",
                "set",
                FLAG,
                &pct,
                "--actors",
                "--dev",
                "--staging",
                "--ignore-feature-flag-consistency-check",
            ])
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
        p.settle();

        // The database holds whole versions: each decodes, has a change-log entry per
        // environment, and both environments moved together.
        let (dev, staging) = (p.versions("dev"), p.versions("staging"));
        assert_eq!(dev.len(), staging.len(), "a command commits to both environments or neither");
        assert_eq!(p.change_count("dev"), dev.len());
        for (_, bytes) in dev.iter().chain(&staging) {
            Snapshot::decode(bytes, &[]).unwrap();
        }
        // Targets hold complete snapshots the database published, never a torn file.
        for env in ["dev", "staging"] {
            let dir = p.path().join("public").join(env);
            let db = p.versions(env);
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
    eprintln!("killed {killed} of 60 publishers mid-command (delays up to {span} µs at the end)");
    assert!((5..=55).contains(&killed), "kills spread over the command's life: {killed} of 60");
    p.ok(&["publish"]);
    p.ok(&["status"]);
    p.ok(&["log", "--verify"]);
    for env in ["dev", "staging"] {
        let dir = p.path().join("public").join(env);
        assert!(std::fs::read_dir(&dir).unwrap().flatten().all(|e| !e.file_name().to_string_lossy().contains(".tmp-")));
    }
}
