//! What one evaluation of a flag can cost in `FeatureEnabled` checks: each flag whose
//! expression or groups ask about others, counting what those ask in turn, as deep as an
//! evaluation follows them. An upper bound, so that `vexil publish` can refuse a state whose
//! evaluation could reach the interpreter's budget ([`crate::limits::MAX_FLAG_CHECKS`]).

use crate::limits::MAX_FLAG_DEPTH;
use crate::model::Environment;
use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;

impl Environment {
    /// For each flag that asks about others, the most `FeatureEnabled` checks evaluating it
    /// for one actor can make (saturating). A name computed at run time may be any flag.
    pub fn feature_checks(&self) -> BTreeMap<String, usize> {
        // The flags each flag asks about directly, by name (None: a computed name).
        let asks: BTreeMap<&str, Vec<Option<&str>>> = self
            .flags
            .iter()
            .map(|(name, flag)| {
                let g = &flag.gates;
                let own = g.expression.iter();
                let groups = g.groups.iter().filter_map(|n| self.groups.get(n));
                let mut names = Vec::new();
                for e in own.chain(groups) {
                    names.extend(e.feature_references().into_iter().map(Some));
                    if e.asks_computed_feature() {
                        names.push(None);
                    }
                }
                (name.as_str(), names)
            })
            .filter(|(_, names)| !names.is_empty())
            .collect();
        // cost_d(f) = Σ over what f asks of (1 + cost_{d-1}(that flag)): the cycle guard only
        // ever answers sooner, so this bounds every evaluation.
        let mut cost: BTreeMap<&str, usize> = asks.keys().map(|&n| (n, 0)).collect();
        for _ in 0..MAX_FLAG_DEPTH {
            let dearest = cost.values().copied().max().unwrap_or(0);
            let next: BTreeMap<&str, usize> = asks
                .iter()
                .map(|(&name, names)| {
                    let total = names.iter().fold(0usize, |acc, asked| {
                        let below = match asked {
                            Some(other) => cost.get(other).copied().unwrap_or(0),
                            None => dearest,
                        };
                        acc.saturating_add(1).saturating_add(below)
                    });
                    (name, total)
                })
                .collect();
            cost = next;
        }
        cost.into_iter().map(|(n, c)| (String::from(n), c)).collect()
    }
}

#[cfg(test)]
mod tests {
    use crate::expr::{Expr, Function};
    use crate::model::{Environment, Flag, FlagType};
    use alloc::string::ToString;
    use alloc::vec::Vec;

    fn asking(names: &[&str]) -> Flag {
        let mut f = Flag::new(FlagType::Beta, false);
        f.persisted = true;
        let calls: Vec<Expr> = names
            .iter()
            .map(|n| Expr::Call(Function::FeatureEnabled, alloc::vec![Expr::String(n.to_string())]))
            .collect();
        f.gates.expression = Some(Expr::Call(Function::Any, calls));
        f
    }

    #[test]
    fn counts_what_each_flag_asks_transitively() {
        let mut env = Environment::new("dev", 1, 0);
        env.flags.insert("a".into(), asking(&["b", "c"]));
        env.flags.insert("b".into(), asking(&["c"]));
        env.flags.insert("c".into(), Flag::new(FlagType::Beta, true));
        env.flags.insert("loop".into(), asking(&["loop"]));
        let cost = env.feature_checks();
        assert_eq!(cost["a"], 3, "b, c, and c again from b");
        assert_eq!(cost["b"], 1);
        assert!(!cost.contains_key("c"));
        assert_eq!(cost["loop"], crate::limits::MAX_FLAG_DEPTH, "a cycle counts as deep as evaluation follows it");
    }

    /// A forged snapshot whose top flag fans out forty ways through ten levels: evaluation
    /// stops at the budget instead of making 40^10 checks.
    #[cfg(feature = "encode")]
    #[test]
    fn a_fan_out_no_publisher_would_write_costs_one_budget() {
        use crate::{Actor, Context, Snapshot, Timestamp};
        let mut env = Environment::new("dev", 1, 0);
        let name = |level: usize, i: usize| alloc::format!("l{level}_{i}");
        for level in 0..11 {
            for i in 0..40 {
                let below: Vec<_> = (0..40).map(|j| name(level + 1, j)).collect();
                let below: Vec<&str> = below.iter().map(alloc::string::String::as_str).collect();
                let flag = if level < 10 { asking(&below) } else { Flag::new(FlagType::Beta, false) };
                env.flags.insert(name(level, i), flag);
            }
        }
        assert!(env.feature_checks()["l0_0"] > 1_000_000_000);
        let snapshot = Snapshot::decode(&crate::encode(&env, None).unwrap(), &[]).unwrap();
        let actors = [Actor::new("User:1")];
        let d = snapshot.evaluate("l0_0", &Context::new(&actors, 0.5, Timestamp::from_unix_millis(0)));
        assert!(!d.enabled);
    }
}
