//! Limits that keep decoding and evaluation bounded, each with what it means in practice.

/// Largest snapshot accepted: GitLab.com runs about 600 flags; 64 MiB is room for a
/// hundred thousand flags with large allow-lists, and far below what would hurt a worker.
pub const MAX_SNAPSHOT_BYTES: usize = 64 << 20;

/// Most numeric and hashed actor ids one snapshot holds, over every allow-list and opt-out.
/// They are what decoding expands most: a run of consecutive ids costs one bit each in the
/// input and eight bytes once decoded, so without a cap a 2 MiB forged snapshot would ask
/// for 128 MiB. GitLab's largest allow-lists hold thousands of ids; a million (8 MiB
/// decoded, 16 MiB with run headers) is far beyond them, and `vexil publish` refuses more.
pub const MAX_ACTOR_IDS: usize = 1 << 20;

/// Largest freshness statement accepted: an environment name, a version, a signature and
/// two times fit in a few hundred bytes.
pub const MAX_FRESHNESS_BYTES: usize = 4096;

/// Deepest expression nesting. Flipper's own expressions rarely pass 4 levels; the limit
/// keeps recursive decoding and evaluation far from any stack's end, in wasm too.
pub const MAX_EXPRESSION_DEPTH: usize = 32;

/// Most arguments to one expression function (`All`/`Any` over many conditions).
pub const MAX_EXPRESSION_ARGS: usize = 1024;

/// How deep `FeatureEnabled` may chain flags before answering false. GitLab's `Feature`
/// gives up after 10 nested checks of the same kind (its recursion guard).
pub const MAX_FLAG_DEPTH: usize = 10;

/// Most flags one evaluation may ask about through `FeatureEnabled`, however they nest;
/// past it they answer false, as a chain too deep does. Without it, ten levels of flags each
/// asking about forty others would cost 40^10 checks.
pub const MAX_FLAG_CHECKS: usize = 1024;

/// Most checks evaluating one flag for one actor may need ([`crate::Environment::feature_checks`]):
/// `vexil publish` refuses more, so that no context of [`MAX_CONTEXT_ACTORS`] actors reaches
/// [`MAX_FLAG_CHECKS`] and only a forged snapshot ever meets the budget.
pub const MAX_FLAG_CHECKS_PER_ACTOR: usize = MAX_FLAG_CHECKS / MAX_CONTEXT_ACTORS;

/// Most actors in one evaluation context. Flipper ≥ 0.28 hashes them sorted and joined; more
/// than a handful (user, project, group, namespace, request) has no use.
pub const MAX_CONTEXT_ACTORS: usize = 64;
