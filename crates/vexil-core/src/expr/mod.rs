//! Flipper ≥ 1.1 expressions: the model, its JSON form, its snapshot encoding, and evaluation.
//!
//! Semantics follow Flipper 1.4 (`lib/flipper/expressions/*.rb`): arguments are evaluated
//! eagerly, left to right; values are Ruby values (nil, booleans, Integers, Floats, Strings,
//! Times) compared with Ruby's operators; `All`/`Any` use Ruby truthiness. Two deliberate
//! choices where Flipper raises:
//!
//! * Malformed expressions (unknown functions, `null` or array constants, wrong argument
//!   counts) are refused when they are built, so a snapshot can never hold one.
//! * Run-time type errors (`"25" > 21`, `Percentage(true)`, `Time("garbage")`) make the
//!   expression not hold for that actor. For comparisons this is what Flipper itself does
//!   since PR #1017; elsewhere Flipper raises out of `enabled?`, which no caller wants.
//!
//! `FeatureEnabled(name)` evaluates another flag of the same snapshot for the actor at hand,
//! with vexil's full (GitLab) semantics; a flag already being evaluated answers false, as
//! Flipper's cycle guard does.
//!
//! - [`json`]: Flipper's JSON form (`{"Equal": [...]}`), for vexil.toml and the publisher;
//! - [`wire`]: the snapshot encoding, and the flat arena a decoded snapshot keeps;
//! - [`interp`]: evaluation over a decoded snapshot, with Ruby's value rules.

mod interp;
#[cfg(feature = "json")]
mod json;
mod wire;

pub(crate) use interp::{FlagStack, Scope};
pub(crate) use wire::Arena;

use crate::limits::{MAX_EXPRESSION_ARGS, MAX_EXPRESSION_DEPTH};
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::{self, Write};

/// The functions of Flipper's expression language, in snapshot discriminant order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Function {
    /// True when every argument is truthy (`All()` is true).
    All,
    /// True when some argument is truthy (`Any()` is false).
    Any,
    /// Ruby `==`.
    Equal,
    /// Ruby `!=`.
    NotEqual,
    /// Ruby `>`; false across types.
    GreaterThan,
    /// Ruby `>=`; false across types.
    GreaterThanOrEqualTo,
    /// Ruby `<`; false across types.
    LessThan,
    /// Ruby `<=`; false across types.
    LessThanOrEqualTo,
    /// An actor property (`flipper_id` included); nil when missing.
    Property,
    /// Ruby `to_s`.
    String,
    /// Flipper's `Typecast.to_number`.
    Number,
    /// Flipper's `Typecast.to_boolean`: true for `true`, `1`, `"true"`, `"1"`.
    Boolean,
    /// `value.to_f.clamp(0, 100)`.
    Percentage,
    /// `crc32(feature_name + text) % 100_000 < percentage * 1_000`.
    PercentageOfActors,
    /// Ruby `rand(max)` over the caller's random draw.
    Random,
    /// The caller's "now".
    Now,
    /// A time from Unix seconds or an ISO 8601 string.
    Time,
    /// Whether another flag is enabled for the same actor.
    FeatureEnabled,
}

impl Function {
    /// Every function, in discriminant order.
    pub const ALL: [Function; 18] = [
        Function::All,
        Function::Any,
        Function::Equal,
        Function::NotEqual,
        Function::GreaterThan,
        Function::GreaterThanOrEqualTo,
        Function::LessThan,
        Function::LessThanOrEqualTo,
        Function::Property,
        Function::String,
        Function::Number,
        Function::Boolean,
        Function::Percentage,
        Function::PercentageOfActors,
        Function::Random,
        Function::Now,
        Function::Time,
        Function::FeatureEnabled,
    ];

    /// The name in Flipper's JSON form.
    pub const fn name(self) -> &'static str {
        match self {
            Function::All => "All",
            Function::Any => "Any",
            Function::Equal => "Equal",
            Function::NotEqual => "NotEqual",
            Function::GreaterThan => "GreaterThan",
            Function::GreaterThanOrEqualTo => "GreaterThanOrEqualTo",
            Function::LessThan => "LessThan",
            Function::LessThanOrEqualTo => "LessThanOrEqualTo",
            Function::Property => "Property",
            Function::String => "String",
            Function::Number => "Number",
            Function::Boolean => "Boolean",
            Function::Percentage => "Percentage",
            Function::PercentageOfActors => "PercentageOfActors",
            Function::Random => "Random",
            Function::Now => "Now",
            Function::Time => "Time",
            Function::FeatureEnabled => "FeatureEnabled",
        }
    }

    /// The function called `name` in Flipper's JSON form.
    pub fn from_name(name: &str) -> Option<Function> {
        Function::ALL.into_iter().find(|f| f.name() == name)
    }

    /// The fewest and most arguments Flipper's `call` accepts.
    pub const fn arity(self) -> (usize, usize) {
        match self {
            Function::All | Function::Any => (0, MAX_EXPRESSION_ARGS),
            Function::Equal
            | Function::NotEqual
            | Function::GreaterThan
            | Function::GreaterThanOrEqualTo
            | Function::LessThan
            | Function::LessThanOrEqualTo
            | Function::PercentageOfActors => (2, 2),
            Function::Random => (0, 1),
            Function::Now => (0, 0),
            Function::Property
            | Function::String
            | Function::Number
            | Function::Boolean
            | Function::Percentage
            | Function::Time
            | Function::FeatureEnabled => (1, 1),
        }
    }

    pub(crate) fn from_index(i: u64) -> Option<Function> {
        Function::ALL.get(usize::try_from(i).ok()?).copied()
    }
}

/// A Flipper expression: a constant or a function applied to expressions.
#[derive(Clone, Debug)]
pub enum Expr {
    /// A string constant.
    String(String),
    /// An integer constant.
    Integer(i64),
    /// A float constant (finite).
    Float(f64),
    /// A boolean constant.
    Boolean(bool),
    /// A function call.
    Call(Function, Vec<Expr>),
}

impl PartialEq for Expr {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Expr::String(a), Expr::String(b)) => a == b,
            (Expr::Integer(a), Expr::Integer(b)) => a == b,
            // Bitwise, so equality agrees with the encoded bytes.
            (Expr::Float(a), Expr::Float(b)) => a.to_bits() == b.to_bits(),
            (Expr::Boolean(a), Expr::Boolean(b)) => a == b,
            (Expr::Call(f, a), Expr::Call(g, b)) => f == g && a == b,
            _ => false,
        }
    }
}

/// Why an expression was refused, and where in it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExprError {
    path: String,
    message: String,
}

impl ExprError {
    pub(crate) fn new(path: &str, message: impl Into<String>) -> Self {
        ExprError { path: path.into(), message: message.into() }
    }
    /// Where in the expression, as `All[1].Equal[0]` (empty at the top).
    pub fn path(&self) -> &str {
        &self.path
    }
    /// What is wrong.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for ExprError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "at {}: {}", self.path, self.message)
        }
    }
}

impl Expr {
    /// `function(args…)`, refused when the argument count is not one Flipper accepts.
    pub fn call(function: Function, args: Vec<Expr>) -> Result<Expr, ExprError> {
        let e = Expr::Call(function, args);
        e.validate()?;
        Ok(e)
    }

    /// Checks argument counts, nesting depth and constants.
    pub fn validate(&self) -> Result<(), ExprError> {
        self.validate_at(&mut String::new(), 1)
    }

    fn validate_at(&self, path: &mut String, depth: usize) -> Result<(), ExprError> {
        if depth > MAX_EXPRESSION_DEPTH {
            return Err(ExprError::new(path, alloc::format!("nested deeper than {MAX_EXPRESSION_DEPTH} levels")));
        }
        match self {
            Expr::Float(f) if !f.is_finite() => Err(ExprError::new(path, "numbers must be finite")),
            Expr::Call(function, args) => {
                let (min, max) = function.arity();
                if args.len() < min || args.len() > max {
                    let expected = if min == max { alloc::format!("{min}") } else { alloc::format!("{min} to {max}") };
                    return Err(ExprError::new(
                        path,
                        alloc::format!("{} takes {expected} arguments, got {}", function.name(), args.len()),
                    ));
                }
                let len = path.len();
                for (i, arg) in args.iter().enumerate() {
                    if !path.is_empty() {
                        path.push('.');
                    }
                    let _ = write!(path, "{}[{i}]", function.name());
                    arg.validate_at(path, depth + 1)?;
                    path.truncate(len);
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// The names of flags this expression asks about with `FeatureEnabled("name")`.
    pub fn feature_references(&self) -> Vec<&str> {
        let mut out = Vec::new();
        self.collect_features(&mut out);
        out
    }

    fn collect_features<'a>(&'a self, out: &mut Vec<&'a str>) {
        if let Expr::Call(function, args) = self {
            if let (Function::FeatureEnabled, [Expr::String(name)]) = (function, args.as_slice()) {
                out.push(name);
            }
            for a in args {
                a.collect_features(out);
            }
        }
    }

    /// Whether the expression asks `FeatureEnabled` of a name it computes (from a property,
    /// say) rather than a literal: which flags it may ask about is then unknown.
    pub fn asks_computed_feature(&self) -> bool {
        match self {
            Expr::Call(Function::FeatureEnabled, args) if !matches!(args.as_slice(), [Expr::String(_)]) => true,
            Expr::Call(_, args) => args.iter().any(Expr::asks_computed_feature),
            _ => false,
        }
    }

    /// String constants anywhere in the expression (for lint checks on literal values).
    pub fn string_constants(&self) -> Vec<&str> {
        let mut out = Vec::new();
        self.collect_strings(&mut out);
        out
    }

    fn collect_strings<'a>(&'a self, out: &mut Vec<&'a str>) {
        match self {
            Expr::String(s) => out.push(s),
            Expr::Call(_, args) => args.iter().for_each(|a| a.collect_strings(out)),
            _ => {}
        }
    }
}
