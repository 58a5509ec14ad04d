//! What an event says. Servers are told every flag a version changed; browsers only of the
//! flags they may see, now or before (a flag that stopped being client-side was known to
//! them), and the browser snapshot's ETag.

use super::Head;
use vexil_core::{AudienceKind, Environment};

/// One announcement on an event stream, as servers and as browsers read it.
#[derive(Clone, Debug)]
pub(super) struct Announcement {
    pub version: u64,
    data: String,
    browser_data: String,
}

impl Announcement {
    pub fn data(&self, audience: AudienceKind) -> &str {
        match audience {
            AudienceKind::Server => &self.data,
            AudienceKind::Browser => &self.browser_data,
        }
    }
}

/// The announcement of `head`. Browsers are told only of flags they may see, now or in
/// the `before` state (a flag that stopped being client-side was known to them).
pub(super) fn announcement(head: &Head, changed: &[String], before: Option<&Environment>) -> Announcement {
    let data = serde_json::json!({ "version": head.version, "etag": head.etag, "changed": changed }).to_string();
    let client_side = |state: &Environment, name: &str| state.flags.get(name).is_some_and(|f| f.client_side);
    let visible: Vec<&String> =
        changed.iter().filter(|n| client_side(&head.state, n) || before.is_some_and(|b| client_side(b, n))).collect();
    let etag = head.browser.as_ref().map(|(e, _)| e.as_str());
    let browser_data = serde_json::json!({ "version": head.version, "etag": etag, "changed": visible }).to_string();
    Announcement { version: head.version, data, browser_data }
}

/// The `/events` stream's data for a new version of `environment`: one stream for every
/// environment, so the data names it.
pub(super) fn all_environments_data(environment: &str, head: &Head, changed: &[String]) -> String {
    serde_json::json!({ "environment": environment, "version": head.version, "etag": head.etag, "changed": changed })
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use vexil_core::{Flag, FlagType};

    fn state(client_side: &[&str]) -> Environment {
        let mut env = Environment::new("dev", 2, 0);
        for name in ["a", "b", "c"] {
            let mut flag = Flag::new(FlagType::Beta, false);
            flag.client_side = client_side.contains(&name);
            env.flags.insert(name.into(), flag);
        }
        env
    }

    #[test]
    fn browsers_hear_of_the_flags_they_may_see_now_or_saw_before() {
        let head = Head {
            version: 2,
            etag: "\"s\"".into(),
            bytes: Default::default(),
            state: state(&["a"]),
            browser: Some(("\"b\"".into(), Default::default())),
        };
        let changed: Vec<String> = ["a", "b", "c"].map(String::from).to_vec();
        let a = announcement(&head, &changed, Some(&state(&["b"])));
        let server: serde_json::Value = serde_json::from_str(a.data(AudienceKind::Server)).unwrap();
        let browser: serde_json::Value = serde_json::from_str(a.data(AudienceKind::Browser)).unwrap();
        assert_eq!(server["changed"], serde_json::json!(["a", "b", "c"]));
        assert_eq!(browser["changed"], serde_json::json!(["a", "b"]), "c was never client-side");
        assert_eq!((server["etag"].as_str(), browser["etag"].as_str()), (Some("\"s\""), Some("\"b\"")));
    }
}
