//! What a committed change announces: one event per commit (every environment it touched,
//! every record), with a stable id, as JSON for webhooks and as one human-readable line for
//! chat, as chatops cross-posts it. Pure: made from the request, the plan's records and who
//! asked.

use crate::definitions::Definitions;
use crate::plan::{ChangeRecord, Request, SetValue};
use crate::project::{EntryPoint, Origin};
use serde::{Deserialize, Serialize};

/// One announcement.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Stable across sinks and attempts: receivers deduplicate on it.
    pub id: String,
    /// Always `vexil.change`.
    #[serde(rename = "type")]
    pub kind: String,
    /// When the change committed (ms since the epoch).
    pub at: i64,
    /// Who.
    pub author: String,
    /// Through which entry point.
    pub via: EntryPoint,
    /// The exact command or request.
    pub command: String,
    /// What was done, in words: "set `new_navigation_bar` to 50% of actors".
    pub summary: String,
    /// The flag the change was about, if one.
    pub flag: Option<String>,
    /// The environments given a new version, and their versions.
    pub versions: Vec<(String, u64)>,
    /// The environments concerned: those of `versions`, or a rollout's.
    #[serde(default)]
    pub environments: Vec<String>,
    /// The flag's rollout issue, from its definition.
    pub rollout_issue_url: Option<String>,
    /// Every change record.
    pub changes: Vec<EventChange>,
}

/// One record of the change.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EventChange {
    /// The environment.
    pub environment: String,
    /// The version the change produced.
    pub version: u64,
    /// The flag, if one.
    pub flag: Option<String>,
    /// What happened.
    pub action: crate::plan::Action,
    /// Before.
    pub before: crate::plan::Recorded,
    /// After.
    pub after: crate::plan::Recorded,
}

/// The flag a request is about.
pub fn flag_of(request: &Request) -> Option<&str> {
    match request {
        Request::Set { set, .. } => Some(&set.flag),
        Request::Delete { flag, .. } | Request::Cleanup { flag, .. } => Some(flag),
        Request::Publish { .. } | Request::Rollback { .. } => None,
    }
}

/// What `request` did, in words, as chatops says it.
pub fn summary(request: &Request, restored: Option<u64>) -> String {
    match request {
        Request::Set { set, .. } => {
            let value = match set.value {
                SetValue::True => "true".to_string(),
                SetValue::False => "false".to_string(),
                SetValue::Percentage(p) if set.actors => format!("{p}% of actors"),
                SetValue::Percentage(p) => format!("{p}% of time"),
                SetValue::OptOut => "opt_out".to_string(),
                SetValue::RemoveOptOut => "remove_opt_out".to_string(),
            };
            let targets: Vec<String> = set.targets.iter().map(ToString::to_string).collect();
            let who = if targets.is_empty() { String::new() } else { format!(" for {}", targets.join(", ")) };
            format!("set `{}` to {value}{who}", set.flag)
        }
        Request::Delete { flag, .. } => format!("deleted the state of `{flag}` (its YAML default applies)"),
        Request::Cleanup { flag, .. } => format!("cleaned up `{flag}`: its definition and its state are gone"),
        Request::Publish { .. } => "published definition changes".to_string(),
        Request::Rollback { .. } => match restored {
            Some(v) => format!("rolled back to the state of v{v}"),
            None => "rolled back".to_string(),
        },
    }
}

impl Event {
    /// The event of a commit of `request` by `origin` that wrote `records` and `versions`.
    pub fn new(
        id: String,
        request: &Request,
        restored: Option<u64>,
        records: &[(ChangeRecord, u64)],
        versions: &[(String, u64)],
        origin: &Origin,
        definitions: &Definitions,
    ) -> Event {
        let flag = flag_of(request).map(String::from);
        let rollout_issue_url =
            flag.as_ref().and_then(|f| definitions.by_name.get(f)).and_then(|d| d.rollout_issue_url.clone());
        Event {
            id,
            kind: "vexil.change".into(),
            at: origin.at,
            author: origin.author.clone(),
            via: origin.via,
            command: origin.command.clone(),
            summary: summary(request, restored),
            flag,
            versions: versions.to_vec(),
            environments: versions.iter().map(|(e, _)| e.clone()).collect(),
            rollout_issue_url,
            changes: records
                .iter()
                .map(|(r, version)| EventChange {
                    environment: r.environment.clone(),
                    version: *version,
                    flag: r.flag.clone(),
                    action: r.action,
                    before: r.before.clone(),
                    after: r.after.clone(),
                })
                .collect(),
        }
    }

    /// A rollout's event that changes no flag (a pause, an approval, the end): `summary`
    /// says what happened, about `flag` in `environments`.
    pub fn rollout(
        id: String,
        flag: &str,
        summary: String,
        environments: &[String],
        origin: &Origin,
        rollout_issue_url: Option<String>,
    ) -> Event {
        Event {
            id,
            kind: "vexil.rollout".into(),
            at: origin.at,
            author: origin.author.clone(),
            via: origin.via,
            command: origin.command.clone(),
            summary,
            flag: Some(flag.to_string()),
            versions: Vec::new(),
            environments: environments.to_vec(),
            rollout_issue_url,
            changes: Vec::new(),
        }
    }

    /// The environments, as chat reads them: "dev, staging".
    pub fn environment_list(&self) -> String {
        self.environments.join(", ")
    }

    /// The line chat sinks post: who did what where, and the rollout issue.
    pub fn line(&self) -> String {
        let via = match self.via {
            EntryPoint::Cli => String::new(),
            other => format!(" (via {})", other.name()),
        };
        let mut line = format!("{} {} on {}{via}", self.author, self.summary, self.environment_list());
        if let Some(url) = &self.rollout_issue_url {
            line.push_str(&format!(" · rollout issue: {url}"));
        }
        line
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{ActorOrGroup, SetOptions, SetRequest};

    #[test]
    fn chat_lines_say_who_did_what_where() {
        let set = SetRequest::new("my_flag".into(), "50".into(), true, false, false, vec![]).unwrap();
        let request = Request::Set { set, environments: vec![], options: SetOptions::default() };
        let origin = Origin { author: "alice".into(), command: "c".into(), via: EntryPoint::Chat, at: 5 };
        let mut defs = Definitions::default();
        let versions = [("staging".to_string(), 3), ("production".to_string(), 9)];
        let e = Event::new("evt_1".into(), &request, None, &[], &versions, &origin, &defs);
        assert_eq!(e.line(), "alice set `my_flag` to 50% of actors on staging, production (via chat)");
        let targeted = SetRequest::new(
            "my_flag".into(),
            "true".into(),
            false,
            false,
            false,
            vec![ActorOrGroup::Actor("User:1".into())],
        )
        .unwrap();
        let request = Request::Set { set: targeted, environments: vec![], options: SetOptions::default() };
        defs = crate::testing::definitions(&[("my_flag", vexil_core::FlagType::Beta, false)]);
        defs.by_name.get_mut("my_flag").unwrap().rollout_issue_url = Some("https://gitlab.example.com/i/1".into());
        let e = Event::new(
            "evt_2".into(),
            &request,
            None,
            &[],
            &versions[..1],
            &Origin { via: EntryPoint::Cli, ..origin },
            &defs,
        );
        assert_eq!(
            e.line(),
            "alice set `my_flag` to true for User:1 on staging · rollout issue: https://gitlab.example.com/i/1"
        );
        let json = serde_json::to_value(&e).unwrap();
        assert_eq!((json["type"].as_str(), json["id"].as_str()), (Some("vexil.change"), Some("evt_2")));
        assert_eq!(
            summary(
                &Request::Rollback { environment: "dev".into(), to: crate::plan::RollbackTo::StepsBack(1) },
                Some(4)
            ),
            "rolled back to the state of v4"
        );
    }
}
