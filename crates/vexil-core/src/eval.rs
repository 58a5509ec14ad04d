//! Evaluation: GitLab's `Feature.enabled?` over Flipper's gates.
//!
//! ```text
//! not persisted ─────────────────────────────▶ default_enabled          (reason: default)
//! persisted: first open gate in Flipper ≥ 1.1 order
//!     boolean → expression → actor → percentage_of_actors → percentage_of_time → group
//!   none open ───────────────────────────────▶ false                    (reason: off)
//!   open, but an actor is opted out ─────────▶ false                    (reason: opt_out)
//!   open ────────────────────────────────────▶ true                     (reason: that gate)
//! ```

use crate::actor::{Actor, Context};
use crate::crc32::Crc32;
use crate::expr::{FlagStack, Scope};
use crate::percentage::BUCKETS;
use crate::snapshot::{FlagEntry, Kept, Snapshot, BIT_BOOLEAN, BIT_DEFAULT_ENABLED, BIT_PERSISTED};
use core::fmt;

/// Why a flag is on or off for a context.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Reason {
    /// The boolean gate is on.
    Boolean = 0,
    /// The expression gate holds.
    Expression = 1,
    /// An actor is in the allow-list.
    Actor = 2,
    /// The actors fall within the percentage-of-actors rollout.
    PercentageOfActors = 3,
    /// The random draw fell within the percentage of time.
    PercentageOfTime = 4,
    /// An actor belongs to an enabled feature group.
    Group = 5,
    /// Nothing is persisted: the definition's `default_enabled` applies.
    Default = 6,
    /// State is persisted and no gate opens.
    Off = 7,
    /// A gate opens, but an actor is opted out.
    OptOut = 8,
    /// The snapshot has no such flag.
    NotFound = 9,
}

impl Reason {
    /// Every reason, by code.
    pub const ALL: [Reason; 10] = [
        Reason::Boolean,
        Reason::Expression,
        Reason::Actor,
        Reason::PercentageOfActors,
        Reason::PercentageOfTime,
        Reason::Group,
        Reason::Default,
        Reason::Off,
        Reason::OptOut,
        Reason::NotFound,
    ];

    /// The snake_case name (Flipper's gate names for gates).
    pub const fn name(self) -> &'static str {
        match self {
            Reason::Boolean => "boolean",
            Reason::Expression => "expression",
            Reason::Actor => "actor",
            Reason::PercentageOfActors => "percentage_of_actors",
            Reason::PercentageOfTime => "percentage_of_time",
            Reason::Group => "group",
            Reason::Default => "default",
            Reason::Off => "off",
            Reason::OptOut => "opt_out",
            Reason::NotFound => "not_found",
        }
    }

    /// The reason called `name`.
    pub fn from_name(name: &str) -> Option<Reason> {
        Reason::ALL.into_iter().find(|r| r.name() == name)
    }

    /// The reason with numeric code `code` (its `repr`).
    pub fn from_code(code: u8) -> Option<Reason> {
        Reason::ALL.get(usize::from(code)).copied()
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The result of evaluating one flag.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Decision {
    /// Whether the flag is on.
    pub enabled: bool,
    /// Why.
    pub reason: Reason,
    /// The snapshot version the decision was made on.
    pub version: u64,
}

impl Snapshot {
    /// Evaluates flag `name` for `ctx`; a flag the snapshot lacks is off with reason
    /// [`Reason::NotFound`].
    pub fn evaluate(&self, name: &str, ctx: &Context<'_>) -> Decision {
        match self.find(name) {
            Some(i) => self.evaluate_index(i, ctx),
            None => Decision { enabled: false, reason: Reason::NotFound, version: self.version() },
        }
    }

    /// Evaluates the flag at `index` (from [`Snapshot::find`]); out of range is
    /// [`Reason::NotFound`].
    pub fn evaluate_index(&self, index: u32, ctx: &Context<'_>) -> Decision {
        self.evaluate_probed(index, ctx, None)
    }

    /// Evaluates each flag of `indexes` for one context, in order, as
    /// [`Snapshot::evaluate_index`] would, calling `each` with the index and its decision:
    /// with each actor's id parsed (or, in a browser snapshot, hashed) once for all the flags
    /// rather than once per flag. What a page's `evaluateAll` and an edge bootstrap do. (A
    /// callback rather than an iterator: it compiles to less wasm.)
    pub fn evaluate_many(
        &self,
        indexes: impl IntoIterator<Item = u32>,
        ctx: &Context<'_>,
        mut each: impl FnMut(u32, Decision),
    ) {
        let kept = Kept::default();
        for index in indexes {
            each(index, self.evaluate_probed(index, ctx, Some(&kept)));
        }
    }

    fn evaluate_probed(&self, index: u32, ctx: &Context<'_>, kept: Option<&Kept>) -> Decision {
        let (enabled, reason) = if (index as usize) < self.flags.len() {
            self.decide(index, ctx, kept, &mut FlagStack::new())
        } else {
            (false, Reason::NotFound)
        };
        Decision { enabled, reason, version: self.version() }
    }

    /// [`Snapshot::evaluate_index`], also telling its cost: the `FeatureEnabled` checks and
    /// the expression nodes it evaluated, which the tests hold against
    /// [`crate::limits::MAX_FLAG_CHECKS`] and the publisher's cost bound.
    #[doc(hidden)]
    pub fn evaluate_counting(&self, index: u32, ctx: &Context<'_>) -> (Decision, usize, usize) {
        let mut stack = FlagStack::new();
        let (enabled, reason) = if (index as usize) < self.flags.len() {
            self.decide(index, ctx, None, &mut stack)
        } else {
            (false, Reason::NotFound)
        };
        (Decision { enabled, reason, version: self.version() }, stack.checks(), stack.steps())
    }

    /// GitLab's `current_feature_value` for one flag; `kept` holds probes of `ctx`'s actors.
    pub(crate) fn decide(
        &self,
        index: u32,
        ctx: &Context<'_>,
        kept: Option<&Kept>,
        stack: &mut FlagStack,
    ) -> (bool, Reason) {
        let f = &self.flags[index as usize];
        if f.bits & BIT_PERSISTED == 0 {
            return (f.bits & BIT_DEFAULT_ENABLED != 0, Reason::Default);
        }
        // Only expressions and groups can reach other flags (FeatureEnabled); the others need
        // no cycle guard.
        let guarded = f.expression.is_some() || f.groups.len > 0;
        if guarded && !stack.push(index) {
            return (false, Reason::Off);
        }
        let gate = self.open_gate(index, f, ctx, kept, stack);
        if guarded {
            stack.pop();
        }
        match gate {
            None => (false, Reason::Off),
            Some(_) if self.opted_out(f, ctx.actors, kept) => (false, Reason::OptOut),
            Some(reason) => (true, reason),
        }
    }

    fn open_gate(
        &self,
        index: u32,
        f: &FlagEntry,
        ctx: &Context<'_>,
        kept: Option<&Kept>,
        stack: &mut FlagStack,
    ) -> Option<Reason> {
        if f.bits & BIT_BOOLEAN != 0 {
            return Some(Reason::Boolean);
        }
        if let Some(root) = f.expression {
            let holds = if ctx.actors.is_empty() {
                Scope { snapshot: self, flag: index, actor: None, ctx }.holds(root, stack)
            } else {
                ctx.actors.iter().any(|a| Scope { snapshot: self, flag: index, actor: Some(a), ctx }.holds(root, stack))
            };
            if holds {
                return Some(Reason::Expression);
            }
        }
        if self.actor_gate_opens(f, ctx.actors, kept) {
            return Some(Reason::Actor);
        }
        if f.open_buckets > 0 && !ctx.actors.is_empty() && bucket(f.name_crc, ctx.actors) < f.open_buckets {
            return Some(Reason::PercentageOfActors);
        }
        let pot = f.percentage_of_time.thousandths();
        // Flipper draws `rand < pct / 100.0`; 0 and 100 short-circuit as in its newest code,
        // which changes nothing for draws in [0, 1).
        if pot == 100_000 || (pot > 0 && ctx.random < f.time_cutoff) {
            return Some(Reason::PercentageOfTime);
        }
        if f.groups.len > 0 && !ctx.actors.is_empty() {
            let groups = &self.group_refs[f.groups.start as usize..(f.groups.start + f.groups.len) as usize];
            let matched = groups.iter().any(|&g| {
                self.group_expression(g).is_some_and(|root| {
                    ctx.actors
                        .iter()
                        .any(|a| Scope { snapshot: self, flag: index, actor: Some(a), ctx }.holds(root, stack))
                })
            });
            if matched {
                return Some(Reason::Group);
            }
        }
        None
    }
}

/// Flipper's percentage-of-actors bucket: `crc32(name ++ ids.sort.join) % 100_000`, with
/// the CRC state after the name already computed. One actor, GitLab's case, is inlined into
/// the gate; several are sorted without allocating.
#[inline]
pub(crate) fn bucket(name_crc: Crc32, actors: &[Actor<'_>]) -> u32 {
    let crc = match actors {
        [one] => name_crc.update(one.id.as_bytes()),
        _ => sorted_ids_crc(name_crc, actors),
    };
    crc.finish() % BUCKETS
}

/// The CRC over the actors' ids in sorted order, by selection so that no allocation is
/// needed; duplicates are kept, as Flipper keeps them.
#[inline(never)]
fn sorted_ids_crc(name_crc: Crc32, actors: &[Actor<'_>]) -> Crc32 {
    let mut crc = name_crc;
    let mut last: Option<&str> = None;
    loop {
        let next = actors.iter().map(|a| a.id).filter(|id| last.is_none_or(|l| *id > l)).min();
        let Some(next) = next else { break };
        let copies = actors.iter().filter(|a| a.id == next).count();
        for _ in 0..copies {
            crc = crc.update(next.as_bytes());
        }
        last = Some(next);
    }
    crc
}
