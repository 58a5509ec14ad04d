//! What a browser may see of an environment: its client-side flags, the feature groups they
//! use, and every allow-list and opt-out as salted hashes. A page hashes its own actor's id
//! with the snapshot's salt, so it can answer for itself but never list who else is in.

use crate::encode::EncodeError;
use crate::model::{ActorSet, Audience, Environment};
use alloc::string::String;

impl Environment {
    /// What a browser may see of this environment: the client-side flags, the feature
    /// groups they use, and every allow-list and opt-out as SipHash-2-4 hashes of the ids
    /// under `salt` (which the snapshot carries, so a browser can hash its own actor's id).
    ///
    /// Client-side flags evaluate exactly as in the full environment. A client-side flag
    /// whose expression, or one of whose groups, asks `FeatureEnabled` of a server-only flag
    /// (or of a computed name, which might be one) cannot: the browser must not learn that
    /// flag, so this is refused, naming the flag and where it asks.
    pub fn for_browser(&self, salt: [u8; 16]) -> Result<Environment, EncodeError> {
        let mut browser = Environment::new(self.name.clone(), self.version, self.published_at);
        browser.audience = Audience::Browser { salt };
        let hashed = |set: &ActorSet| match set {
            ActorSet::Ids(ids) => {
                ActorSet::Hashed(ids.iter().map(|id| crate::snapshot::actor_hash(&salt, id)).collect())
            }
            ActorSet::Hashed(h) => ActorSet::Hashed(h.clone()),
        };
        for (name, flag) in self.flags.iter().filter(|(_, f)| f.client_side) {
            let group_expressions = flag.gates.groups.iter().filter_map(|g| self.groups.get(g).map(|e| (Some(g), e)));
            for (group, e) in flag.gates.expression.iter().map(|e| (None, e)).chain(group_expressions) {
                let place = || match group {
                    Some(g) => alloc::format!("feature group `{g}`"),
                    None => String::from("its expression"),
                };
                if e.asks_computed_feature() {
                    return Err(EncodeError::new(
                        Some(name),
                        alloc::format!(
                            "client-side, but {} asks FeatureEnabled of a computed name, which may be a flag browsers cannot see; name the flag literally",
                            place()
                        ),
                    ));
                }
                for other in e.feature_references() {
                    if self.flags.get(other).is_some_and(|f| !f.client_side) {
                        return Err(EncodeError::new(
                            Some(name),
                            alloc::format!(
                                "client-side, but {} asks FeatureEnabled(\"{other}\"), which browsers may not see; mark `{other}` client_side or change the expression",
                                place()
                            ),
                        ));
                    }
                }
            }
            for g in &flag.gates.groups {
                if let Some(e) = self.groups.get(g) {
                    browser.groups.insert(g.clone(), e.clone());
                }
            }
            let mut seen = flag.clone();
            seen.gates.actors = hashed(&flag.gates.actors);
            seen.gates.opt_outs = hashed(&flag.gates.opt_outs);
            browser.flags.insert(name.clone(), seen);
        }
        Ok(browser)
    }
}
