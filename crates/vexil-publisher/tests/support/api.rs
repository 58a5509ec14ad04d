//! A project served with `vexil serve --api`, and requests to it as a GitLab client sends them.

use super::servers::{http_send, Response, Serve};
use super::TestProject;

pub struct ApiServer {
    pub serve: Serve,
}

impl ApiServer {
    pub fn start(p: &TestProject) -> ApiServer {
        ApiServer { serve: Serve::start(p.command(&["serve", "--listen", "127.0.0.1:0", "--api"])) }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.serve.port)
    }

    /// A request with `PRIVATE-TOKEN` (if any), a form body, and the path under the server.
    pub fn request(&self, method: &str, path: &str, token: Option<&str>, form: &str) -> Response {
        let mut headers = vec![("Content-Type", "application/x-www-form-urlencoded")];
        if let Some(t) = token {
            headers.push(("PRIVATE-TOKEN", t));
        }
        http_send(self.serve.port, method, path, &headers, form.as_bytes())
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"))
    }

    pub fn post(&self, env: &str, flag: &str, token: &str, form: &str) -> Response {
        self.request("POST", &format!("/{env}/api/v4/features/{flag}"), Some(token), form)
    }

    /// `clients` GitLab clients at once, each setting `flag` on `env` for `each` users of
    /// its own (`user=<client>-<i>`): every request must answer 201.
    pub fn concurrent_sets(&self, token: &str, env: &str, flag: &str, clients: usize, each: usize) {
        let threads: Vec<_> = (0..clients)
            .map(|client| {
                let (port, token, path) =
                    (self.serve.port, token.to_string(), format!("/{env}/api/v4/features/{flag}"));
                std::thread::spawn(move || {
                    for i in 0..each {
                        let form = format!("value=true&user={client}-{i}");
                        let headers =
                            [("PRIVATE-TOKEN", token.as_str()), ("Content-Type", "application/x-www-form-urlencoded")];
                        let r = http_send(port, "POST", &path, &headers, form.as_bytes()).unwrap();
                        assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
    }

    pub fn json(response: &Response) -> serde_json::Value {
        serde_json::from_slice(&response.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&response.body)))
    }
}

/// Creates a token on `p`; returns it.
pub fn token(p: &TestProject, name: &str, args: &[&str]) -> String {
    let mut all = vec!["token", "create", name, "--json"];
    all.extend_from_slice(args);
    let out: serde_json::Value = serde_json::from_str(&p.ok(&all)).unwrap();
    out["token"].as_str().unwrap().to_string()
}
