//! Replays the golden vectors in `tests/vectors/` (produced by real Flipper, see
//! `tests/oracle/`) and checks each suite's snapshot against its byte-exact fixture.
//! `VEXIL_BLESS=1` rewrites the fixtures after a deliberate format change.

mod support;

use vexil_core::{Reason, Snapshot};

#[test]
fn golden_vectors() {
    let suites = support::load_vectors();
    assert!(suites.len() >= 5, "vectors present");
    let mut checked = 0;
    for (name, suite) in &suites {
        let env = support::environment_from_suite(suite, &format!("vectors-{name}"));
        let bytes = vexil_core::encode(&env, None).unwrap();
        let fixture = support::repo_root().join(format!("tests/vectors/{name}.vxl"));
        if std::env::var_os("VEXIL_BLESS").is_some() {
            std::fs::write(&fixture, &bytes).unwrap();
        }
        let expected_bytes =
            std::fs::read(&fixture).unwrap_or_else(|_| panic!("{} (VEXIL_BLESS=1 writes it)", fixture.display()));
        assert!(bytes == expected_bytes, "{name}: encoding differs from {}", fixture.display());
        let snapshot = Snapshot::decode(&bytes, &[]).unwrap();
        assert_eq!(snapshot.to_environment(), env, "{name}: round trip");

        for (i, case) in suite["cases"].as_array().unwrap().iter().enumerate() {
            let flag = case["flag"].as_str().unwrap();
            let d = support::with_context(case, |ctx| snapshot.evaluate(flag, ctx));
            let want_enabled = case["expected"]["enabled"].as_bool().unwrap();
            let want_reason = Reason::from_name(case["expected"]["reason"].as_str().unwrap()).unwrap();
            assert_eq!((d.enabled, d.reason), (want_enabled, want_reason), "{name} case {i}: {case}");
            assert_eq!(d.version, 1);
            if let Some(b) = case["bucket"].as_u64() {
                let ids: Vec<String> = support::actors_from_json(&case["actors"]).into_iter().map(|a| a.id).collect();
                let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
                assert_eq!(u64::from(vexil_core::bucket(flag, &ids)), b, "{name} case {i}: bucket");
            }
            checked += 1;
        }
    }
    assert!(checked > 3000, "{checked} cases");
}
