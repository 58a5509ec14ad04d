//! `[chat]` and `[[chat.user]]`: who may change flags from a chat slash command, in which
//! environments, and the one channel production changes are taken from (chatops' rule).
//! The chat's signing secret and command token come from the environment.

use crate::error::{Error, Result};
use crate::tokens::{Access, Identity};
use serde::Deserialize;

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawChat {
    production_channel: Option<String>,
    #[serde(default, rename = "user")]
    users: Vec<RawUser>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawUser {
    id: String,
    name: String,
    #[serde(default)]
    environments: Vec<String>,
    #[serde(default)]
    read_only: bool,
}

/// Chat's rules.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ChatConfig {
    /// The channel (its name without `#`, or its id) production changes must come from.
    pub production_channel: Option<String>,
    /// The chat users vexil knows, by their chat user id.
    pub users: Vec<(String, Identity)>,
}

impl ChatConfig {
    /// The identity of the chat user `id`.
    pub fn user(&self, id: &str) -> Option<&Identity> {
        self.users.iter().find(|(u, _)| u == id).map(|(_, i)| i)
    }
}

pub(super) fn parse(raw: RawChat, environments: &[String]) -> Result<ChatConfig> {
    let mut users: Vec<(String, Identity)> = Vec::new();
    for u in raw.users {
        let at = |m: String| Error::refused(format!("[[chat.user]] {:?}: {m}", u.id));
        if u.id.is_empty() || users.iter().any(|(id, _)| *id == u.id) {
            return Err(at("ids are the chat's user ids, each once".into()));
        }
        if u.name.is_empty() || u.name.chars().any(char::is_control) {
            return Err(at("name is the author the change log records".into()));
        }
        if let Some(e) = u.environments.iter().find(|e| *e != "*" && !environments.contains(e)) {
            return Err(at(format!("environments: {e:?} is not a defined environment")));
        }
        let access = if u.read_only { Access::Read } else { Access::Write };
        users.push((u.id.clone(), Identity { name: u.name, environments: u.environments, access }));
    }
    Ok(ChatConfig { production_channel: raw.production_channel.map(|c| c.trim_start_matches('#').to_string()), users })
}
