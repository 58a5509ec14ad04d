//! Publisher benchmarks (results in the README):
//! - `feature set` latency on SQLite and on PostgreSQL, through the library and as a whole
//!   `vexil` process;
//! - publishing 10,000 flags × 6 environments: open the project (10,000 YAML files), compose,
//!   encode and sign six snapshots, commit them, push them — to six directories on the
//!   embedded defaults, and to a Garage bucket from PostgreSQL state for the team setup.
//!
//! PostgreSQL and Garage are started here, on 127.0.0.1, exactly as the tests start them.
//!
//!     make bench-publisher

#[allow(dead_code)]
#[path = "../tests/support/servers.rs"]
mod servers;

use criterion::{criterion_group, criterion_main, Criterion};
use std::path::Path;
use std::time::{Duration, Instant};
use vexil_publisher::plan::{SetOptions, SetRequest};
use vexil_publisher::project::{self, EntryPoint, Origin, Project};

fn origin() -> Origin {
    Origin { author: "bench".into(), command: "bench".into(), via: EntryPoint::Cli, at: 1_700_000_000_000 }
}

fn project_with(flags: usize, state: Option<&str>) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    project::init(dir.path(), state, &origin()).unwrap();
    for i in 0..flags {
        let p = dir.path().join(format!("config/feature_flags/beta/flag_{i:05}.yml"));
        std::fs::write(
            p,
            format!(
                "---\nname: flag_{i:05}\nmilestone: '17.0'\ngroup: group::bench\ntype: beta\ndefault_enabled: false\n"
            ),
        )
        .unwrap();
    }
    let status = std::process::Command::new(env!("CARGO_BIN_EXE_vexil"))
        .args(["keygen"])
        .current_dir(dir.path())
        .stdout(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    dir
}

fn feature_set(c: &mut Criterion) {
    let pg = servers::Postgres::start();
    // Single-threaded here: nothing else reads the environment.
    std::env::set_var("VEXIL_DATABASE_PASSWORD", &pg.password);
    let mut g = c.benchmark_group("feature_set");
    for (name, state) in [("sqlite", None), ("postgres", Some(pg.create_database()))] {
        feature_set_on(&mut g, name, project_with(100, state.as_deref()));
    }
    g.finish();
}

fn feature_set_on(
    g: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    state: &str,
    dir: tempfile::TempDir,
) {
    let mut p = Project::open(dir.path()).unwrap();
    let mut i = 0u64;
    g.sample_size(100);
    g.bench_function(format!("library_{state}_one_env"), |b| {
        b.iter(|| {
            i += 1;
            let req =
                SetRequest::new("flag_00001".into(), format!("{}", i % 99 + 1), true, false, false, vec![]).unwrap();
            p.feature_set(&req, &["dev".into()], &SetOptions::default(), &origin()).unwrap()
        })
    });
    let vexil = env!("CARGO_BIN_EXE_vexil");
    g.sample_size(30);
    g.bench_function(format!("process_{state}_one_env"), |b| {
        b.iter(|| {
            i += 1;
            let status = std::process::Command::new(vexil)
                .args(["feature", "set", "flag_00002", &format!("{}", i % 99 + 1), "--actors", "--dev"])
                .current_dir(dir.path())
                .env("VEXIL_AUTHOR", "bench")
                .stdout(std::process::Stdio::null())
                .status()
                .unwrap();
            assert!(status.success());
        })
    });
}

fn flip_default(dir: &Path, on: bool) {
    let p = dir.join("config/feature_flags/beta/flag_00000.yml");
    std::fs::write(
        p,
        format!("---\nname: flag_00000\nmilestone: '17.0'\ngroup: group::bench\ntype: beta\ndefault_enabled: {on}\n"),
    )
    .unwrap();
}

fn publish_10k(c: &mut Criterion) {
    let dir = project_with(10_000, None);
    let mut g = c.benchmark_group("publish");
    g.sample_size(10).measurement_time(Duration::from_secs(20));
    bench_publish(&mut g, "open_and_publish_10k_flags_6_envs", dir.path());
    let bytes = std::fs::read(dir.path().join("public/production/latest.vxl")).unwrap();
    eprintln!("10,000-flag snapshot: {} bytes, signed", bytes.len());

    let pg = servers::Postgres::start();
    let garage = servers::Garage::start();
    std::env::set_var("VEXIL_DATABASE_PASSWORD", &pg.password);
    let team = project_with(10_000, Some(&pg.create_database()));
    let toml_path = team.path().join("vexil.toml");
    let mut toml = std::fs::read_to_string(&toml_path).unwrap();
    for env in vexil_publisher::config::GITLAB_ENVIRONMENTS {
        let local = format!("[[environment.target]]\nkind = \"directory\"\npath = \"public/{env}\"\n");
        assert!(toml.contains(&local));
        toml = toml.replace(&local, &garage.target_toml("cdn", env));
    }
    std::fs::write(&toml_path, toml).unwrap();
    Project::open(team.path()).unwrap().publish(&[], &origin(), false).unwrap();
    bench_publish(&mut g, "open_and_publish_10k_flags_6_envs_postgres_to_garage", team.path());
    let latest = garage.get("production/latest.vxl").unwrap();
    assert_eq!(latest.status, 200);
    g.finish();
}

fn bench_publish(g: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>, name: &str, dir: &Path) {
    let mut on = false;
    g.bench_function(name, |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                on = !on;
                flip_default(dir, on);
                let start = Instant::now();
                let mut p = Project::open(dir).unwrap();
                let published = p.publish(&[], &origin(), false).unwrap();
                total += start.elapsed();
                assert_eq!(published.len(), 6);
                let pushed = published.iter().flat_map(|x| &x.pushes).all(|r| {
                    matches!(r.result, project::PushResult::Ok(vexil_publisher::push::PushOutcome::Pushed { .. }))
                });
                assert!(pushed, "every environment pushed");
            }
            total
        })
    });
}

criterion_group!(benches, feature_set, publish_10k);
criterion_main!(benches);
