//! One flag of a decoded snapshot: its definition facts, Flipper's state, what evaluating
//! it reads from the context, and its owned form.

use super::{FlagEntry, Snapshot, BIT_BOOLEAN, BIT_CLIENT_SIDE, BIT_DEFAULT_ENABLED, BIT_PERSISTED};
use crate::model::{Flag, FlagType, Gates, State};

/// What an evaluation of a flag can read from its [`crate::Context`] besides the actors.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Inputs {
    /// The random draw (percentage of time, `Random`).
    pub random: bool,
    /// The clock (`Now`).
    pub now: bool,
}

/// One flag of a snapshot.
#[derive(Clone, Copy)]
pub struct FlagView<'s> {
    snapshot: &'s Snapshot,
    index: u32,
}

impl<'s> FlagView<'s> {
    pub(super) fn new(snapshot: &'s Snapshot, index: u32) -> Self {
        FlagView { snapshot, index }
    }
    fn entry(&self) -> &'s FlagEntry {
        &self.snapshot.flags[self.index as usize]
    }
    /// The index for [`Snapshot::evaluate_index`].
    pub fn index(&self) -> u32 {
        self.index
    }
    /// The flag's name.
    pub fn name(&self) -> &'s str {
        self.entry().name.str(&self.snapshot.bytes)
    }
    /// The definition's type.
    pub fn flag_type(&self) -> FlagType {
        self.entry().flag_type
    }
    /// The definition's `default_enabled`.
    pub fn default_enabled(&self) -> bool {
        self.entry().bits & BIT_DEFAULT_ENABLED != 0
    }
    /// Whether the environment holds state for the flag.
    pub fn persisted(&self) -> bool {
        self.entry().bits & BIT_PERSISTED != 0
    }
    /// Whether browsers may see the flag.
    pub fn client_side(&self) -> bool {
        self.entry().bits & BIT_CLIENT_SIDE != 0
    }
    /// Flipper's state of the flag (off while nothing is persisted).
    pub fn state(&self) -> State {
        self.entry().gate_values().state(self.persisted())
    }
    /// Which of the context's clock and random draw evaluating this flag can read, so callers
    /// for whom either is costly (a JavaScript `Date.now()` is) can skip them. Conservative:
    /// a flag that asks about other flags (`FeatureEnabled`) may need both.
    pub fn inputs(&self) -> Inputs {
        let s = self.snapshot;
        let e = self.entry();
        let mut inputs = Inputs { random: !e.percentage_of_time.is_zero(), now: false };
        let mut scan = |root: u32| {
            let used = s.arena.functions_used(root);
            inputs.random |= used.random || used.feature_enabled;
            inputs.now |= used.now || used.feature_enabled;
        };
        if let Some(root) = e.expression {
            scan(root);
        }
        for &g in e.groups.of(&s.group_refs) {
            if let Some(root) = s.groups[g as usize].expression {
                scan(root);
            }
        }
        inputs
    }

    /// The flag as an owned model value.
    pub fn to_flag(&self) -> Flag {
        let s = self.snapshot;
        let e = self.entry();
        Flag {
            flag_type: e.flag_type,
            default_enabled: self.default_enabled(),
            client_side: self.client_side(),
            persisted: self.persisted(),
            gates: Gates {
                boolean: e.bits & BIT_BOOLEAN != 0,
                actors: s.actor_set(&e.actors),
                opt_outs: s.actor_set(&e.opt_outs),
                groups: e
                    .groups
                    .of(&s.group_refs)
                    .iter()
                    .map(|&g| s.groups[g as usize].name.str(&s.bytes).into())
                    .collect(),
                percentage_of_actors: e.percentage_of_actors,
                percentage_of_time: e.percentage_of_time,
                expression: e.expression.map(|root| s.arena.to_expr(&s.bytes, root)),
            },
        }
    }
}
