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

/// Browser snapshots of every suite (tests/vectors/browser/), for the SDKs' browser-snapshot
/// module, which reads nothing else: they answer every case as the full snapshots do.
#[test]
fn browser_fixtures() {
    let dir = support::repo_root().join("tests/vectors/browser");
    let suites = support::load_vectors();
    let mut files: Vec<(String, Vec<u8>)> = Vec::new();
    let mut checked = 0;
    for (name, suite) in &suites {
        let env = support::browser_environment_from_suite(suite, &format!("vectors-{name}"));
        let bytes = vexil_core::encode(&env, None).unwrap();
        let snapshot = Snapshot::decode(&bytes, &[]).unwrap();
        assert!(matches!(snapshot.audience(), vexil_core::Audience::Browser { .. }));
        checked += support::replay_suite(&snapshot, suite, name);
        files.push((format!("{name}.vxl"), bytes));
    }
    assert!(checked > 3000, "{checked} cases");
    bless_or_check(&dir, &files);
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
    bless_or_check(&dir, &files);
    let s = Snapshot::decode(&files[0].1, &[key.public_key()]).unwrap();
    assert_eq!(s.version(), 1);
}

/// Fixtures for the SDKs' freshness attack suite (tests/vectors/freshness/): production at
/// versions 1 to 3, staging's and a browser snapshot, and freshness statements that vouch
/// until 2100 (fresh), expired in 2020, or are signed by another key. Times are fixed, so
/// the files are byte-exact like the others.
#[test]
fn freshness_fixtures() {
    use vexil_core::{encode, encode_freshness, Freshness, SigningKey};
    const ISSUED: i64 = 1_577_836_800_000; // 2020-01-01
    const EXPIRED: i64 = 1_580_515_200_000; // 2020-02-01
    const FRESH: i64 = 4_102_444_800_000; // 2100-01-01
    let dir = support::repo_root().join("tests/vectors/freshness");
    let suites = support::load_vectors();
    let key = SigningKey::from_seed([7; 32]).unwrap();
    let other = SigningKey::from_seed([8; 32]).unwrap();
    let mut env = support::environment_from_suite(&suites["gates"], "production");
    let mut files: Vec<(String, Vec<u8>)> = Vec::new();
    let mut snapshot = |name: &str, env: &vexil_core::Environment| {
        let bytes = encode(env, Some(&key)).unwrap();
        files.push((format!("{name}.vxl"), bytes.clone()));
        bytes
    };
    let v1 = snapshot("production-v1", &env);
    env.version = 2;
    let v2 = snapshot("production-v2", &env);
    env.version = 3;
    env.flags.get_mut("on_flag").unwrap().gates.boolean = false;
    let v3 = snapshot("production-v3", &env);
    let browser = snapshot("production-browser-v3", &env.for_browser([5; 16]).unwrap());
    let mut staging = env.clone();
    staging.name = "staging".into();
    staging.version = 9;
    let staging = snapshot("staging-v9", &staging);
    let mut statement = |name: &str, snapshot: &[u8], expires: i64, by: &SigningKey| {
        let decoded = Snapshot::decode(snapshot, &[]).unwrap();
        files.push((format!("{name}.vxf"), encode_freshness(&decoded, ISSUED, expires, by).unwrap()));
    };
    statement("production-v1.fresh", &v1, FRESH, &key);
    statement("production-v1.expired", &v1, EXPIRED, &key);
    statement("production-v2.fresh", &v2, FRESH, &key);
    statement("production-v3.fresh", &v3, FRESH, &key);
    statement("production-v3.expired", &v3, EXPIRED, &key);
    statement("production-v3.other-key", &v3, FRESH, &other);
    statement("production-browser-v3.fresh", &browser, FRESH, &key);
    statement("staging-v9.fresh", &staging, FRESH, &key);
    bless_or_check(&dir, &files);
    let f =
        Freshness::decode(&files.iter().find(|(n, _)| n == "production-v3.fresh.vxf").unwrap().1, &[key.public_key()]);
    assert_eq!(f.unwrap().version(), 3);
}

/// Each of `files` must equal its fixture in `dir`; `VEXIL_BLESS=1` writes them first.
fn bless_or_check(dir: &std::path::Path, files: &[(String, Vec<u8>)]) {
    if std::env::var_os("VEXIL_BLESS").is_some() {
        std::fs::create_dir_all(dir).unwrap();
        for (name, bytes) in files {
            std::fs::write(dir.join(name), bytes).unwrap();
        }
    }
    for (name, bytes) in files {
        let fixture = std::fs::read(dir.join(name)).unwrap_or_else(|_| panic!("{name} (VEXIL_BLESS=1 writes it)"));
        assert!(&fixture == bytes, "{name} differs from its fixture");
    }
}
