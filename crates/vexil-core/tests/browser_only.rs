//! The core built without `full-snapshots`, as the npm package's browser-snapshot module is:
//! it reads browser snapshots exactly as the full build does, and refuses a full one by its
//! own error. `make test-rust` runs it without the feature; in builds with it, this file is
//! empty.
#![cfg(not(feature = "full-snapshots"))]

mod support;

use vexil_core::{DecodeErrorKind, Snapshot};

#[test]
fn browser_snapshots_answer_every_golden_vector() {
    let root = support::repo_root();
    let mut checked = 0;
    for (name, suite) in &support::load_vectors() {
        let bytes = std::fs::read(root.join(format!("tests/vectors/browser/{name}.vxl"))).unwrap();
        let snapshot = Snapshot::decode(&bytes, &[]).unwrap();
        checked += support::replay_suite(&snapshot, suite, name);
    }
    assert!(checked > 3000, "{checked} cases");
}

#[test]
fn a_full_snapshot_is_refused_at_its_audience() {
    let root = support::repo_root();
    for name in support::load_vectors().keys() {
        let bytes = std::fs::read(root.join(format!("tests/vectors/{name}.vxl"))).unwrap();
        let e = Snapshot::decode(&bytes, &[]).err().unwrap();
        assert_eq!(e.kind(), DecodeErrorKind::FullSnapshot, "{name}");
        // Magic, version, the environment's name, version and publication time: then the
        // audience byte.
        assert_eq!(bytes[e.offset()], 0, "{name}: offset {} is the audience tag", e.offset());
        assert_eq!(
            e.to_string(),
            format!("a full snapshot, but this build reads browser snapshots only at byte {}", e.offset())
        );
    }
}
