//! The core built without `full-snapshots`, as the npm package's browser-snapshot module is:
//! it reads browser snapshots exactly as the full build does, and refuses a full one by its
//! own error. `make test-rust` runs it without the feature; in builds with it, this file is
//! empty.
#![cfg(not(feature = "full-snapshots"))]

#[path = "support/edits.rs"]
mod edits;
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

/// The browser fixtures' bytes, read once.
fn fixtures() -> &'static [Vec<u8>] {
    static FIXTURES: std::sync::OnceLock<Vec<Vec<u8>>> = std::sync::OnceLock::new();
    FIXTURES.get_or_init(|| {
        let root = support::repo_root();
        support::load_vectors()
            .keys()
            .map(|name| std::fs::read(root.join(format!("tests/vectors/browser/{name}.vxl"))).unwrap())
            .collect()
    })
}

proptest::proptest! {
    /// Decoding stays total without the feature, and what it accepts is still the one
    /// canonical encoding of its state: browser fixtures with bytes changed, inserted or cut.
    #[test]
    fn decode_is_total_and_canonical(fixture in proptest::prelude::any::<proptest::sample::Index>(), edits in edits::edits()) {
        let mut bytes = fixture.get(fixtures()).clone();
        edits::apply(&mut bytes, &edits);
        if let Ok(snapshot) = Snapshot::decode(&bytes, &[]) {
            proptest::prop_assert_eq!(vexil_core::encode(&snapshot.to_environment(), None).unwrap(), bytes);
        }
    }
}
