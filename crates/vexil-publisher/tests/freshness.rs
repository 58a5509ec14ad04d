//! Freshness statements from the publisher: every push writes `freshness.vxf` next to
//! `latest.vxl`, `vexil freshness` re-issues it on a schedule, `vexil serve` issues its own;
//! each is signed by the project's key and vouches for exactly the newest snapshot.

mod support;

use std::time::{Duration, Instant};
use support::servers::Serve;
use support::TestProject;
use vexil_core::{Freshness, Snapshot};

const FLAG: &str = "new_navigation_bar";

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64
}

fn trusted(p: &TestProject) -> [u8; 32] {
    let inspected = p.json(&["inspect", "--env", "dev"]);
    let signer = inspected["signer"].as_str().unwrap().to_string();
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.decode(signer).unwrap().try_into().unwrap()
}

/// The statement in `dir` checked against the snapshot next to it, now.
fn vouched(dir: &std::path::Path, key: [u8; 32]) -> Freshness {
    let statement = Freshness::decode(&std::fs::read(dir.join("freshness.vxf")).unwrap(), &[key]).unwrap();
    let latest = Snapshot::decode(&std::fs::read(dir.join("latest.vxl")).unwrap(), &[key]).unwrap();
    latest.check_freshness(&statement, now_ms()).unwrap();
    assert_eq!(statement.version(), latest.version());
    statement
}

#[test]
fn pushes_and_vexil_freshness_keep_every_target_vouched_for() {
    let p = TestProject::new();
    p.ok(&["feature", "set", FLAG, "true", "--dev"]);
    let dev = p.path().join("public/dev");
    assert!(!dev.join("freshness.vxf").exists(), "unsigned snapshots have nothing to vouch for");
    p.fails(&["freshness"], 1, "not signed");

    p.ok(&["keygen"]);
    p.ok(&["publish"]);
    let key = trusted(&p);
    let first = vouched(&dev, key);
    let lifetime = first.expires_at() - first.issued_at();
    assert_eq!(lifetime, 24 * 3600 * 1000, "TUF's default for its timestamp role");
    assert!((first.issued_at() - now_ms()).abs() < 60_000);

    // A change moves the statement to the new version.
    p.ok(&["feature", "set", FLAG, "false", "--dev"]);
    assert_eq!(vouched(&dev, key).version(), first.version() + 1);

    // `[signing] freshness` sets the lifetime; `vexil freshness` re-issues without a change.
    let toml = std::fs::read_to_string(p.path().join("vexil.toml")).unwrap();
    std::fs::write(p.path().join("vexil.toml"), toml.replace("[signing]", "[signing]\nfreshness = \"2h\"")).unwrap();
    let versions_before = p.version("dev");
    std::thread::sleep(Duration::from_millis(5));
    let out = p.ok(&["freshness", "--env", "dev"]);
    assert!(out.contains("dev → ") && out.contains("2h"), "{out}");
    let again = vouched(&dev, key);
    assert_eq!(again.expires_at() - again.issued_at(), 2 * 3600 * 1000);
    assert!(again.issued_at() > first.issued_at());
    assert_eq!(p.version("dev"), versions_before, "re-issuing commits nothing");

    // Lifetimes clients' clocks cannot honour, and unknown environments, are refused.
    let toml = std::fs::read_to_string(p.path().join("vexil.toml")).unwrap();
    std::fs::write(p.path().join("vexil.toml"), toml.replace("freshness = \"2h\"", "freshness = \"30s\"")).unwrap();
    p.fails(&["freshness"], 1, "[signing] freshness: at least 1m");
    std::fs::write(p.path().join("vexil.toml"), toml).unwrap();
    p.fails(&["freshness", "--env", "nowhere"], 1, "nowhere");
}

#[test]
fn vexil_serve_issues_statements_for_its_newest_snapshots() {
    let p = TestProject::new();
    p.ok(&["keygen"]);
    p.ok(&["feature", "set", FLAG, "true", "--dev"]);
    let key = trusted(&p);
    let serve = Serve::start(p.command(&["serve", "--listen", "127.0.0.1:0"]));
    let check = |path: &str| {
        let r = serve.get(&format!("/dev/{path}freshness.vxf"), &[]);
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        assert_eq!(r.header("access-control-allow-origin"), Some("*"));
        let statement = Freshness::decode(&r.body, &[key]).unwrap();
        let latest = Snapshot::decode(&serve.get(&format!("/dev/{path}latest.vxl"), &[]).body, &[key]).unwrap();
        latest.check_freshness(&statement, now_ms()).unwrap();
        (statement.version(), statement.audience())
    };
    let (v, audience) = check("");
    assert_eq!(audience, vexil_core::AudienceKind::Server);
    assert_eq!(check("browser/").1, vexil_core::AudienceKind::Browser);
    p.ok(&["feature", "set", FLAG, "false", "--dev"]);
    let deadline = Instant::now() + Duration::from_secs(20);
    while check("").0 == v {
        assert!(Instant::now() < deadline, "the statement follows the head");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(check("").0, v + 1);
    assert_eq!(serve.get("/nowhere/freshness.vxf", &[]).status, 404);
}
