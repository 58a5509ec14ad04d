//! TLS to a real PostgreSQL (ssl = on, certificates made here with rcgen): libpq's sslmode as
//! libpq reads it — prefer falls back to plaintext, require insists on TLS without checking
//! the certificate, verify-ca and verify-full check it against sslrootcert — and the server
//! itself (pg_stat_ssl, its connection log) sees every session of vexil's encrypted.

mod support;

use rcgen::{BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair};
use std::path::{Path, PathBuf};
use support::servers::{Postgres, Serve};
use support::{stderr, TestProject};
use vexil_core::Snapshot;

const FLAG: &str = "new_navigation_bar";

/// A certificate authority, the server's certificate it issued (for `localhost` only, so that
/// 127.0.0.1 is a name it does not hold), and an unrelated authority.
struct Pki {
    dir: tempfile::TempDir,
    server_cert: String,
    server_key: String,
}

impl Pki {
    fn new() -> Pki {
        let dir = tempfile::tempdir().unwrap();
        let authority = |name: &str| {
            let key = KeyPair::generate().unwrap();
            let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
            params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
            params.distinguished_name.push(DnType::CommonName, name);
            let cert = params.self_signed(&key).unwrap();
            (Issuer::new(params, key), cert.pem())
        };
        let (ca, ca_pem) = authority("vexil test CA");
        let (_, other_pem) = authority("some other CA");
        std::fs::write(dir.path().join("ca.pem"), ca_pem).unwrap();
        std::fs::write(dir.path().join("other-ca.pem"), other_pem).unwrap();
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(vec!["localhost".to_string()]).unwrap();
        params.distinguished_name.push(DnType::CommonName, "localhost");
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let cert = params.signed_by(&key, &ca).unwrap();
        Pki { dir, server_cert: cert.pem(), server_key: key.serialize_pem() }
    }

    fn ca(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    fn other_ca(&self) -> PathBuf {
        self.dir.path().join("other-ca.pem")
    }
}

/// A project on a new database of `pg`, started with `query` on its URL; the test's own
/// client reads the database in plaintext.
fn project(pg: &Postgres, query: &str) -> (TestProject, String) {
    let plain = pg.create_database();
    let p = TestProject {
        dir: tempfile::tempdir().unwrap(),
        env: vec![("VEXIL_DATABASE_PASSWORD".into(), pg.password.clone())],
        postgres: Some((plain.clone(), pg.password.clone())),
    };
    let url = format!("{plain}?{query}");
    p.ok(&["init", ".", "--state", &url]);
    (p, url)
}

/// Points the project at `url` instead of `from`.
fn use_state(p: &TestProject, from: &str, url: &str) {
    let toml = std::fs::read_to_string(p.path().join("vexil.toml")).unwrap();
    assert!(toml.contains(from), "{toml}");
    p.write("vexil.toml", &toml.replace(from, url));
}

fn database(url: &str) -> String {
    url.rsplit('/').next().unwrap().split('?').next().unwrap().to_string()
}

/// Every session of vexil's on `db` now: whether each is encrypted.
fn sessions(pg: &Postgres, db: &str) -> Vec<bool> {
    pg.client("postgres")
        .query(
            "SELECT s.ssl FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid)
             WHERE a.datname = $1 AND a.application_name = 'vexil'",
            &[&db],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
}

/// The server's log lines for vexil's connections to `db`.
fn logged_connections(pg: &Postgres, db: &str) -> Vec<String> {
    let needle = format!("connection authorized: user=vexil database={db} application_name=vexil");
    pg.log().lines().filter(|l| l.contains(&needle)).map(str::to_string).collect()
}

fn no_password(pg: &Postgres, p: &TestProject, said: &str) {
    assert!(!said.contains(&pg.password), "the password leaked: {said}");
    let toml = std::fs::read_to_string(p.path().join("vexil.toml")).unwrap();
    assert!(!toml.contains(&pg.password), "{toml}");
}

#[test]
fn sslmode_require_publishes_and_reads_over_tls_and_the_server_sees_it_encrypted() {
    let mut pg = Postgres::start();
    // Before the server offers TLS: prefer (the default) falls back, require refuses.
    let (p, prefer) = project(&pg, "sslmode=prefer");
    let db = database(&prefer);
    let require = prefer.replace("sslmode=prefer", "sslmode=require");
    use_state(&p, &prefer, &require);
    let err = p.fails(&["status"], 1, "cannot connect");
    assert!(err.contains("server does not support TLS"), "{err}");
    no_password(&pg, &p, &err);

    let pki = Pki::new();
    pg.enable_tls(&pki.server_cert, &pki.server_key);
    let out = p.ok(&["feature", "set", FLAG, "true", "--dev"]);
    no_password(&pg, &p, &out);
    let got = p.json(&["feature", "get", FLAG, "--dev"]);
    assert_eq!(got[0]["state"], "on", "{got}");
    assert_eq!(p.json(&["log", "--limit", "1"])[0]["flag"], FLAG);

    // vexil serve's connections (reader, follower, LISTEN) are all encrypted, as the server
    // itself reports them.
    let s = Serve::start_logged(p.command(&["serve", "--listen", "127.0.0.1:0"]));
    let latest = s.get("/dev/latest.vxl", &[]);
    assert_eq!(Snapshot::decode(&latest.body, &[]).unwrap().version(), p.version("dev"));
    let open = sessions(&pg, &db);
    assert!(open.len() >= 3 && open.iter().all(|&ssl| ssl), "vexil's sessions, encrypted or not: {open:?}");
    p.ok(&["feature", "set", FLAG, "false", "--dev"]);
    drop(s);

    // And so was every connection the commands above made, by the server's own log (which
    // starts with TLS).
    let logged = logged_connections(&pg, &db);
    assert!(logged.len() >= 6, "{logged:#?}");
    assert!(logged.iter().all(|l| l.contains("SSL enabled (protocol=TLSv1.")), "{logged:#?}");
    assert!(!pg.log().contains(&pg.password));
}

#[test]
fn verify_full_and_verify_ca_check_the_certificate_against_sslrootcert() {
    let mut pg = Postgres::start();
    let pki = Pki::new();
    pg.enable_tls(&pki.server_cert, &pki.server_key);
    let (p, start) = project(&pg, "sslmode=require");
    let db = database(&start);
    p.ok(&["feature", "set", FLAG, "true", "--dev"]);
    let before = p.fingerprint();
    let at = |host: &str, query: String| format!("postgres://vexil@{host}:{}/{db}?{query}", pg.port);
    let root = |path: &Path| format!("sslrootcert={}", path.display());

    // The name the certificate holds, and the authority that issued it: accepted.
    let mut current = start.clone();
    let full = at("localhost", format!("sslmode=verify-full&{}", root(&pki.ca())));
    use_state(&p, &current, &full);
    current = full;
    p.ok(&["status"]);
    p.ok(&["feature", "get", FLAG, "--dev"]);

    // Refusals, each naming what does not verify; nothing changes.
    let cases = [
        (
            at("localhost", format!("sslmode=verify-full&{}", root(&pki.other_ca()))),
            format!(
                "the server's certificate is not issued by a certificate authority in sslrootcert={}",
                pki.other_ca().display()
            ),
        ),
        (
            at("127.0.0.1", format!("sslmode=verify-full&{}", root(&pki.ca()))),
            "sslmode=verify-full: the server's certificate does not name the host \"127.0.0.1\"".to_string(),
        ),
        (
            at("127.0.0.1", format!("sslmode=verify-ca&{}", root(&pki.other_ca()))),
            "sslmode=verify-ca: the server's certificate is not issued by a certificate authority".to_string(),
        ),
        (
            at("localhost", "sslmode=verify-full&sslrootcert=/nonexistent/ca.pem".to_string()),
            "sslrootcert=/nonexistent/ca.pem:".to_string(),
        ),
        (at("localhost", "sslmode=verify-ca".to_string()), "sslmode=verify-ca needs sslrootcert=<file>".to_string()),
        (at("localhost", "sslmode=sometimes".to_string()), "sslmode=\"sometimes\" is not one of".to_string()),
        // The system's roots do not know a test authority.
        (at("localhost", "sslmode=verify-full".to_string()), "the system's root certificates".to_string()),
    ];
    for (url, needle) in cases {
        use_state(&p, &current, &url);
        current = url.clone();
        for args in [&["feature", "set", FLAG, "false", "--dev"][..], &["status"]] {
            let out = p.run(args);
            let err = stderr(&out);
            assert_eq!(out.status.code(), Some(1), "{url}: {err}");
            assert!(err.contains(&needle), "{url}: stderr lacks {needle:?}: {err}");
            assert!(!err.contains("panicked"), "{err}");
            no_password(&pg, &p, &err);
        }
    }

    // verify-ca checks the issuer, not the name; require with sslrootcert is verify-ca.
    for url in [
        at("127.0.0.1", format!("sslmode=verify-ca&{}", root(&pki.ca()))),
        at("127.0.0.1", format!("sslmode=require&{}", root(&pki.ca()))),
    ] {
        use_state(&p, &current, &url);
        current = url;
        p.ok(&["status"]);
    }
    let url = at("127.0.0.1", format!("sslmode=require&{}", root(&pki.other_ca())));
    use_state(&p, &current, &url);
    p.fails(&["status"], 1, "not issued by a certificate authority");
    use_state(&p, &url, &start);
    assert!(before == p.fingerprint(), "a refused connection changed something");
}
