//! Publisher benchmarks (results in the README):
//! - `feature set` latency on SQLite, through the library and as a whole `vexil` process;
//! - publishing 10,000 flags × 6 environments: open the project (10,000 YAML files), compose,
//!   encode and sign six snapshots, commit them, push them to six directories.
//!
//!     make bench-publisher

use criterion::{criterion_group, criterion_main, Criterion};
use std::path::Path;
use std::time::{Duration, Instant};
use vexil_publisher::chatops::SetRequest;
use vexil_publisher::project::{self, Origin, Project, SetOptions};

fn origin() -> Origin {
    Origin { author: "bench".into(), command: "bench".into(), at: 1_700_000_000_000 }
}

fn project_with(flags: usize) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    project::init(dir.path(), &origin()).unwrap();
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
    let dir = project_with(100);
    let mut p = Project::open(dir.path()).unwrap();
    let mut g = c.benchmark_group("feature_set");
    let mut i = 0u64;
    g.bench_function("library_sqlite_one_env", |b| {
        b.iter(|| {
            i += 1;
            let req =
                SetRequest::new("flag_00001".into(), format!("{}", i % 99 + 1), true, false, false, vec![]).unwrap();
            p.feature_set(&req, &["dev".into()], &SetOptions::default(), &origin()).unwrap()
        })
    });
    let vexil = env!("CARGO_BIN_EXE_vexil");
    g.sample_size(30);
    g.bench_function("process_sqlite_one_env", |b| {
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
    g.finish();
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
    let dir = project_with(10_000);
    let mut g = c.benchmark_group("publish");
    g.sample_size(10).measurement_time(Duration::from_secs(20));
    let mut on = false;
    g.bench_function("open_and_publish_10k_flags_6_envs", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                on = !on;
                flip_default(dir.path(), on);
                let start = Instant::now();
                let mut p = Project::open(dir.path()).unwrap();
                let published = p.publish(&[], &origin(), false).unwrap();
                total += start.elapsed();
                assert_eq!(published.len(), 6);
            }
            total
        })
    });
    g.finish();
    let bytes = std::fs::read(dir.path().join("public/production/latest.vxl")).unwrap();
    eprintln!("10,000-flag snapshot: {} bytes, signed", bytes.len());
}

criterion_group!(benches, feature_set, publish_10k);
criterion_main!(benches);
