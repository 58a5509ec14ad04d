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
            format!("a full snapshot, but this build reads only browser snapshots (an environment's /browser/ files; the full module reads both) at byte {}", e.offset())
        );
    }
}

/// A browser snapshot has no kind table (kinds name full snapshots' numeric runs): one that
/// lists a kind is not an encoding of anything, and is refused where the table is.
#[test]
fn a_browser_snapshot_listing_a_kind_is_refused() {
    let bytes = &fixtures()[0];
    // Magic and format version, the environment's name (one length byte: the names are
    // short), version, publication time, the audience tag, the salt: then the kind count.
    let name_len = usize::from(bytes[5]);
    let count_at = 5 + 1 + name_len + 1 + 1 + 1 + 16;
    assert_eq!((bytes[count_at - 17], bytes[count_at]), (1, 0), "a browser snapshot's audience tag, then no kinds");
    let mut listed = bytes.clone();
    listed.splice(count_at..=count_at, [1, 4, b'U', b's', b'e', b'r']);
    let e = Snapshot::decode(&listed, &[]).err().expect("refused");
    assert_eq!(e.kind(), DecodeErrorKind::NotCanonical);
    assert!(e.offset() <= count_at + 1, "refused at the kind table, not after it: byte {}", e.offset());
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
