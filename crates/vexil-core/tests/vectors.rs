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

/// Signed fixtures for the SDKs' signature and rollback tests (tests/vectors/signed/):
/// the gates suite at versions 1 and 2 signed with a test key, and version 1 signed with
/// another. Deterministic signatures make them byte-exact, like the other fixtures.
#[test]
fn signed_fixtures() {
    let dir = support::repo_root().join("tests/vectors/signed");
    let suites = support::load_vectors();
    let key = vexil_core::SigningKey::from_seed([7; 32]).unwrap();
    let other = vexil_core::SigningKey::from_seed([8; 32]).unwrap();
    let mut env = support::environment_from_suite(&suites["gates"], "vectors-gates");
    let mut files: Vec<(String, Vec<u8>)> = Vec::new();
    files.push(("gates-v1.signed.vxl".into(), vexil_core::encode(&env, Some(&key)).unwrap()));
    files.push(("gates-v1.other-key.vxl".into(), vexil_core::encode(&env, Some(&other)).unwrap()));
    env.version = 2;
    files.push(("gates-v2.signed.vxl".into(), vexil_core::encode(&env, Some(&key)).unwrap()));
    // Version 3 turns `on_flag` off, for update and subscription tests.
    env.version = 3;
    env.flags.get_mut("on_flag").unwrap().gates.boolean = false;
    files.push(("gates-v3.on-flag-off.signed.vxl".into(), vexil_core::encode(&env, Some(&key)).unwrap()));
    let b64 = |k: [u8; 32]| {
        const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut out = String::new();
        for chunk in k.chunks(3) {
            let n = chunk.iter().fold(0u32, |acc, &b| acc << 8 | u32::from(b)) << (8 * (3 - chunk.len()));
            for i in 0..4 {
                if i <= chunk.len() {
                    out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
                } else {
                    out.push('=');
                }
            }
        }
        out
    };
    files.push(("key.pub".into(), format!("{}\n", b64(key.public_key())).into_bytes()));
    files.push(("other-key.pub".into(), format!("{}\n", b64(other.public_key())).into_bytes()));
    if std::env::var_os("VEXIL_BLESS").is_some() {
        std::fs::create_dir_all(&dir).unwrap();
        for (name, bytes) in &files {
            std::fs::write(dir.join(name), bytes).unwrap();
        }
    }
    for (name, bytes) in &files {
        let fixture = std::fs::read(dir.join(name)).unwrap_or_else(|_| panic!("{name} (VEXIL_BLESS=1 writes it)"));
        assert!(&fixture == bytes, "{name} differs from its fixture");
    }
    let s = Snapshot::decode(&files[0].1, &[key.public_key()]).unwrap();
    assert_eq!(s.version(), 1);
}
