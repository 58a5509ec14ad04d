//! The owned, editable form of one environment's flag state: what the publisher builds and
//! encodes, and what [`crate::Snapshot::to_environment`] gives back.

use crate::expr::Expr;
use crate::percentage::Percentage;
use alloc::collections::{BTreeMap, BTreeSet};
use alloc::string::String;
use alloc::vec::Vec;

/// GitLab's feature flag types (`lib/feature/shared.rb`), in snapshot discriminant order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FlagType {
    /// `gitlab_com_derisk`: de-risking a change on GitLab.com.
    GitlabComDerisk,
    /// `wip`: work in progress, never on by default.
    Wip,
    /// `beta`: may be on by default.
    Beta,
    /// `ops`: operational toggles, may be on by default, long-lived.
    Ops,
    /// `experiment`: A/B experiments.
    Experiment,
    /// `worker`: Sidekiq worker controls.
    Worker,
    /// `undefined`: a flag with no definition of its own (Gitaly's).
    Undefined,
    /// `development`: deprecated catch-all type, may be on by default.
    Development,
}

impl FlagType {
    /// Every type, in discriminant order.
    pub const ALL: [FlagType; 8] = [
        FlagType::GitlabComDerisk,
        FlagType::Wip,
        FlagType::Beta,
        FlagType::Ops,
        FlagType::Experiment,
        FlagType::Worker,
        FlagType::Undefined,
        FlagType::Development,
    ];

    /// The name used in YAML and in `config/feature_flags/<type>/`.
    pub const fn name(self) -> &'static str {
        match self {
            FlagType::GitlabComDerisk => "gitlab_com_derisk",
            FlagType::Wip => "wip",
            FlagType::Beta => "beta",
            FlagType::Ops => "ops",
            FlagType::Experiment => "experiment",
            FlagType::Worker => "worker",
            FlagType::Undefined => "undefined",
            FlagType::Development => "development",
        }
    }

    /// The type called `name`, if GitLab knows it.
    pub fn from_name(name: &str) -> Option<FlagType> {
        FlagType::ALL.into_iter().find(|t| t.name() == name)
    }

    /// Whether a definition of this type may say `default_enabled: true`.
    pub const fn can_be_default_enabled(self) -> bool {
        matches!(self, FlagType::Beta | FlagType::Ops | FlagType::Development)
    }

    /// Whether code may check a flag of this type that has no definition file.
    pub const fn optional(self) -> bool {
        matches!(self, FlagType::Experiment | FlagType::Worker | FlagType::Undefined)
    }

    /// Whether GitLab expects a rollout issue for this type.
    pub const fn rollout_issue(self) -> bool {
        matches!(self, FlagType::GitlabComDerisk | FlagType::Beta | FlagType::Ops | FlagType::Experiment)
    }

    /// Whether the type is deprecated for new flags.
    pub const fn deprecated(self) -> bool {
        matches!(self, FlagType::Development)
    }

    pub(crate) fn from_index(i: u64) -> Option<FlagType> {
        FlagType::ALL.get(usize::try_from(i).ok()?).copied()
    }
}

/// Who a snapshot is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Audience {
    /// Servers and edge workers: every flag, actor ids in the clear.
    Server,
    /// Browsers: client-side flags only, actor ids as salted hashes.
    Browser {
        /// The SipHash key the actor ids were hashed with.
        salt: [u8; 16],
    },
}

impl Audience {
    /// Which audience, without the browser salt.
    pub const fn kind(self) -> AudienceKind {
        match self {
            Audience::Server => AudienceKind::Server,
            Audience::Browser { .. } => AudienceKind::Browser,
        }
    }
}

/// Who a snapshot is for, as configuration and commands name it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AudienceKind {
    /// Every flag, actor ids in the clear.
    #[default]
    Server,
    /// Client-side flags only, actor ids hashed.
    Browser,
}

impl AudienceKind {
    /// Both, in code order (the wasm boundary's audience numbers).
    pub const ALL: [AudienceKind; 2] = [AudienceKind::Server, AudienceKind::Browser];

    /// `server` or `browser`.
    pub const fn name(self) -> &'static str {
        match self {
            AudienceKind::Server => "server",
            AudienceKind::Browser => "browser",
        }
    }

    /// The audience called `name`.
    pub fn from_name(name: &str) -> Option<AudienceKind> {
        AudienceKind::ALL.into_iter().find(|a| a.name() == name)
    }
}

/// A set of actor ids: in the clear, or (in browser snapshots) as salted 64-bit hashes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ActorSet {
    /// Flipper ids such as `User:42`.
    Ids(BTreeSet<String>),
    /// SipHash-2-4 of each id under the snapshot's salt.
    Hashed(BTreeSet<u64>),
}

impl Default for ActorSet {
    fn default() -> Self {
        ActorSet::Ids(BTreeSet::new())
    }
}

impl ActorSet {
    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// How many actors the set holds.
    pub fn len(&self) -> usize {
        match self {
            ActorSet::Ids(ids) => ids.len(),
            ActorSet::Hashed(h) => h.len(),
        }
    }
    /// The ids in the clear; empty for a hashed set.
    pub fn ids(&self) -> impl Iterator<Item = &str> {
        let ids = match self {
            ActorSet::Ids(ids) => Some(ids),
            ActorSet::Hashed(_) => None,
        };
        ids.into_iter().flatten().map(String::as_str)
    }
    /// Whether `id` is in the set, hashing it with `salt` for a hashed set.
    pub fn contains(&self, id: &str, salt: Option<&[u8; 16]>) -> bool {
        match (self, salt) {
            (ActorSet::Ids(ids), _) => ids.contains(id),
            (ActorSet::Hashed(h), Some(salt)) => h.contains(&crate::snapshot::actor_hash(salt, id)),
            (ActorSet::Hashed(_), None) => false,
        }
    }
    /// Adds an id to a set in the clear (the publisher's sets always are); false if present.
    pub fn insert(&mut self, id: String) -> bool {
        match self {
            ActorSet::Ids(ids) => ids.insert(id),
            ActorSet::Hashed(_) => false,
        }
    }
    /// Removes an id from a set in the clear; false if absent.
    pub fn remove(&mut self, id: &str) -> bool {
        match self {
            ActorSet::Ids(ids) => ids.remove(id),
            ActorSet::Hashed(_) => false,
        }
    }
}

/// A flag's gates, as Flipper stores them, with GitLab's opt-outs kept apart.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Gates {
    /// The boolean gate: on for everyone.
    pub boolean: bool,
    /// The actor gate's allow-list.
    pub actors: ActorSet,
    /// Actors opted out: GitLab keeps these as `<id>:opt_out` in the actor gate.
    pub opt_outs: ActorSet,
    /// Feature group names.
    pub groups: BTreeSet<String>,
    /// Percentage of actors.
    pub percentage_of_actors: Percentage,
    /// Percentage of time.
    pub percentage_of_time: Percentage,
    /// Flipper ≥ 1.1 expression.
    pub expression: Option<Expr>,
}

impl Gates {
    /// Whether no gate holds a value.
    pub fn is_empty(&self) -> bool {
        !self.values().any()
    }

    /// Flipper's `Feature#state` of these gates, for a flag whose state is persisted.
    pub fn state(&self) -> State {
        self.values().state(true)
    }

    fn values(&self) -> GateValues {
        GateValues {
            boolean: self.boolean,
            percentage_of_time: self.percentage_of_time,
            others: !self.actors.is_empty()
                || !self.opt_outs.is_empty()
                || !self.groups.is_empty()
                || !self.percentage_of_actors.is_zero()
                || self.expression.is_some(),
        }
    }
}

/// Which gates hold a value: all that Flipper's state rules look at. The owned [`Gates`]
/// and a decoded snapshot's flags both answer through this, so the rules exist once.
#[derive(Clone, Copy, Debug)]
pub(crate) struct GateValues {
    pub boolean: bool,
    pub percentage_of_time: Percentage,
    /// Any gate but the boolean and percentage of time: actors, opt-outs, groups,
    /// percentage of actors, expression.
    pub others: bool,
}

impl GateValues {
    /// Whether any gate holds a value.
    pub fn any(self) -> bool {
        self.boolean || !self.percentage_of_time.is_zero() || self.others
    }

    /// Flipper's `Feature#state`; a flag with nothing persisted is off whatever it holds.
    pub fn state(self, persisted: bool) -> State {
        if !persisted || !self.any() {
            State::Off
        } else if self.boolean || self.percentage_of_time == Percentage::HUNDRED {
            State::On
        } else {
            State::Conditional
        }
    }
}

/// Flipper's `Feature#state`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum State {
    /// Boolean gate on, or percentage of time 100.
    On,
    /// Some other gate set (actors, opt-outs, groups, a percentage, an expression).
    Conditional,
    /// No gate set.
    Off,
}

impl State {
    /// Flipper's `Feature#state` of a flag with these gates: `off` while nothing is
    /// persisted, whatever the gates hold.
    pub fn of(persisted: bool, gates: &Gates) -> State {
        gates.values().state(persisted)
    }

    /// Every state, in discriminant order.
    pub const ALL: [State; 3] = [State::On, State::Conditional, State::Off];

    /// `on`, `conditional` or `off`, as GitLab's API says.
    pub const fn name(self) -> &'static str {
        match self {
            State::On => "on",
            State::Conditional => "conditional",
            State::Off => "off",
        }
    }
}

/// One flag: the definition facts evaluation needs, and its gates in this environment.
#[derive(Clone, Debug, PartialEq)]
pub struct Flag {
    /// The definition's type.
    pub flag_type: FlagType,
    /// The definition's `default_enabled`, which applies while nothing is persisted.
    pub default_enabled: bool,
    /// Whether browsers may see this flag (`client_side: true`).
    pub client_side: bool,
    /// Whether the environment holds state for the flag (GitLab's `persisted_name?`).
    pub persisted: bool,
    /// The gates; empty while not persisted.
    pub gates: Gates,
}

impl Flag {
    /// A defined flag with nothing persisted.
    pub fn new(flag_type: FlagType, default_enabled: bool) -> Flag {
        Flag { flag_type, default_enabled, client_side: false, persisted: false, gates: Gates::default() }
    }

    /// Flipper's state of the flag: `off` while nothing is persisted.
    pub fn state(&self) -> State {
        State::of(self.persisted, &self.gates)
    }

    /// What the flag is for everyone: its state once persisted, its YAML default before.
    pub fn effective_state(&self) -> State {
        match (self.persisted, self.default_enabled) {
            (true, _) => self.state(),
            (false, true) => State::On,
            (false, false) => State::Off,
        }
    }
}

/// One environment's flag state at one version.
#[derive(Clone, Debug, PartialEq)]
pub struct Environment {
    /// The environment's name (`production`).
    pub name: String,
    /// The version, increasing by one with every change.
    pub version: u64,
    /// When this version was published, in milliseconds since the Unix epoch.
    pub published_at: i64,
    /// Who the snapshot is for.
    pub audience: Audience,
    /// Feature groups by name: Flipper expressions over an actor's properties.
    pub groups: BTreeMap<String, Expr>,
    /// Flags by name.
    pub flags: BTreeMap<String, Flag>,
}

impl Environment {
    /// The flags whose definition facts or gates differ between `before` and this state, or
    /// that exist in only one of them, in name order.
    pub fn changed_since(&self, before: &Environment) -> Vec<String> {
        let mut changed: Vec<String> = self
            .flags
            .iter()
            .filter(|(name, flag)| before.flags.get(*name) != Some(flag))
            .map(|(name, _)| name.clone())
            .collect();
        changed.extend(before.flags.keys().filter(|name| !self.flags.contains_key(*name)).cloned());
        changed.sort();
        changed
    }

    /// An empty server-audience environment.
    pub fn new(name: impl Into<String>, version: u64, published_at: i64) -> Environment {
        Environment {
            name: name.into(),
            version,
            published_at,
            audience: Audience::Server,
            groups: BTreeMap::new(),
            flags: BTreeMap::new(),
        }
    }
}
