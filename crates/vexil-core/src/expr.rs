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

use crate::actor::{Actor, Context, Value};
use crate::crc32::Crc32;
use crate::error::{DecodeError, DecodeErrorKind as K};
use crate::limits::{MAX_EXPRESSION_ARGS, MAX_EXPRESSION_DEPTH, MAX_FLAG_DEPTH};
use crate::ruby::{self, Buf, FloatText};
use crate::snapshot::Snapshot;
use crate::wire::{Reader, Span};
use alloc::string::String;
use alloc::vec::Vec;
use core::cmp::Ordering;
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

    fn from_index(i: u64) -> Option<Function> {
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
    fn new(path: &str, message: impl Into<String>) -> Self {
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

#[cfg(feature = "json")]
mod json {
    use super::*;
    use serde_json::{Map, Number, Value as Json};

    impl Expr {
        /// Parses Flipper's JSON form (`{"Equal": [{"Property": ["plan"]}, "gold"]}`).
        ///
        /// As in Flipper, a non-array argument stands for a one-element list
        /// (`{"Property": "plan"}`) and `null` for none (`{"Now": null}`). Unlike Flipper,
        /// which ignores every key but the first, an object with several keys is refused.
        pub fn from_json(json: &Json) -> Result<Expr, ExprError> {
            let e = from_json_at(json, &mut String::new())?;
            e.validate()?;
            Ok(e)
        }

        /// Parses Flipper's JSON form from text.
        pub fn from_json_str(text: &str) -> Result<Expr, ExprError> {
            let json: Json =
                serde_json::from_str(text).map_err(|e| ExprError::new("", alloc::format!("not JSON: {e}")))?;
            Expr::from_json(&json)
        }

        /// Flipper's JSON form, always with argument arrays.
        pub fn to_json(&self) -> Json {
            match self {
                Expr::String(s) => Json::String(s.clone()),
                Expr::Integer(i) => Json::Number((*i).into()),
                Expr::Float(f) => Number::from_f64(*f).map_or(Json::Null, Json::Number),
                Expr::Boolean(b) => Json::Bool(*b),
                Expr::Call(f, args) => {
                    let mut m = Map::new();
                    m.insert(f.name().into(), Json::Array(args.iter().map(Expr::to_json).collect()));
                    Json::Object(m)
                }
            }
        }
    }

    fn from_json_at(json: &Json, path: &mut String) -> Result<Expr, ExprError> {
        match json {
            Json::String(s) => Ok(Expr::String(s.clone())),
            Json::Bool(b) => Ok(Expr::Boolean(*b)),
            Json::Number(n) => {
                if let Some(i) = n.as_i64() {
                    Ok(Expr::Integer(i))
                } else if n.is_u64() {
                    Err(ExprError::new(path, alloc::format!("integer {n} is too large")))
                } else {
                    match n.as_f64() {
                        Some(f) if f.is_finite() => Ok(Expr::Float(f)),
                        _ => Err(ExprError::new(path, alloc::format!("number {n} is out of range"))),
                    }
                }
            }
            Json::Null => Err(ExprError::new(path, "null is not a constant Flipper accepts")),
            Json::Array(_) => Err(ExprError::new(
                path,
                "an array is not a constant Flipper accepts (arguments go inside {\"Function\": [...]})",
            )),
            Json::Object(map) => {
                let mut entries = map.iter();
                let (name, args) = match (entries.next(), entries.next()) {
                    (Some(entry), None) => entry,
                    (None, _) => return Err(ExprError::new(path, "empty object is not an expression")),
                    (Some(_), Some(_)) => {
                        return Err(ExprError::new(path, "an expression object must have exactly one key"))
                    }
                };
                let function = Function::from_name(name)
                    .ok_or_else(|| ExprError::new(path, alloc::format!("unknown function `{name}`")))?;
                let args: &[Json] = match args {
                    Json::Array(a) => a,
                    Json::Null => &[],
                    Json::Object(_) => {
                        return Err(ExprError::new(
                            path,
                            alloc::format!("the arguments of {name} must be a list: {{\"{name}\": [ ... ]}}"),
                        ))
                    }
                    single => core::slice::from_ref(single),
                };
                let len = path.len();
                let mut out = Vec::with_capacity(args.len());
                for (i, a) in args.iter().enumerate() {
                    if !path.is_empty() {
                        path.push('.');
                    }
                    let _ = write!(path, "{name}[{i}]");
                    out.push(from_json_at(a, path)?);
                    path.truncate(len);
                }
                Ok(Expr::Call(function, out))
            }
        }
    }
}

// ---- snapshot encoding ----

const TAG_STRING: u64 = 0;
const TAG_INTEGER: u64 = 1;
const TAG_FLOAT: u64 = 2;
const TAG_BOOLEAN: u64 = 3;
const TAG_CALL: u64 = 4;

#[cfg(feature = "encode")]
impl Expr {
    pub(crate) fn encode(&self, w: &mut crate::wire::Writer) {
        match self {
            Expr::String(s) => {
                w.varint(TAG_STRING);
                w.str(s);
            }
            Expr::Integer(i) => {
                w.varint(TAG_INTEGER);
                w.zigzag(*i);
            }
            Expr::Float(f) => {
                w.varint(TAG_FLOAT);
                w.f64(*f);
            }
            Expr::Boolean(b) => {
                w.varint(TAG_BOOLEAN);
                w.bool(*b);
            }
            Expr::Call(function, args) => {
                w.varint(TAG_CALL);
                w.varint(*function as u64);
                w.varint(args.len() as u64);
                for a in args {
                    a.encode(w);
                }
            }
        }
    }
}

/// A decoded expression node; calls refer to their arguments through [`Arena::args`].
#[derive(Clone, Copy, Debug)]
pub(crate) enum Node {
    Str(Span),
    Int(i64),
    Float(f64),
    Bool(bool),
    Call { function: Function, first: u32, len: u32 },
}

/// Context-reading functions an expression calls.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Used {
    pub random: bool,
    pub now: bool,
    pub feature_enabled: bool,
}

/// All expressions of a snapshot, flattened.
#[derive(Clone, Debug, Default)]
pub(crate) struct Arena {
    pub nodes: Vec<Node>,
    pub args: Vec<u32>,
}

impl Arena {
    pub fn decode(&mut self, r: &mut Reader<'_>, depth: usize) -> Result<u32, DecodeError> {
        let at = r.pos();
        if depth > MAX_EXPRESSION_DEPTH {
            return Err(DecodeError::new(K::BadExpression, at));
        }
        let node = match r.varint()? {
            TAG_STRING => Node::Str(r.str_span()?),
            TAG_INTEGER => Node::Int(r.zigzag()?),
            TAG_FLOAT => {
                let f = r.f64()?;
                if !f.is_finite() {
                    return Err(DecodeError::new(K::BadExpression, at));
                }
                Node::Float(f)
            }
            TAG_BOOLEAN => Node::Bool(r.bool()?),
            TAG_CALL => {
                let function = Function::from_index(r.varint()?).ok_or_else(|| r.err(K::UnknownTag))?;
                // Each argument takes at least two bytes (tag and payload).
                let n = r.len(2)?;
                let (min, max) = function.arity();
                if n < min || n > max {
                    return Err(DecodeError::new(K::BadExpression, at));
                }
                let first = self.args.len();
                self.args.resize(first + n, 0);
                for i in 0..n {
                    let child = self.decode(r, depth + 1)?;
                    self.args[first + i] = child;
                }
                Node::Call { function, first: first as u32, len: n as u32 }
            }
            _ => return Err(DecodeError::new(K::UnknownTag, at)),
        };
        self.nodes.push(node);
        Ok((self.nodes.len() - 1) as u32)
    }

    /// Which context-reading functions the expression at `root` calls.
    pub fn functions_used(&self, root: u32) -> Used {
        let mut used = Used::default();
        let mut stack = alloc::vec![root];
        while let Some(n) = stack.pop() {
            if let Node::Call { function, first, len } = self.nodes[n as usize] {
                match function {
                    Function::Random => used.random = true,
                    Function::Now => used.now = true,
                    Function::FeatureEnabled => used.feature_enabled = true,
                    _ => {}
                }
                stack.extend_from_slice(&self.args[first as usize..(first + len) as usize]);
            }
        }
        used
    }

    pub fn to_expr(&self, bytes: &[u8], node: u32) -> Expr {
        match self.nodes[node as usize] {
            Node::Str(span) => Expr::String(span.str(bytes).into()),
            Node::Int(i) => Expr::Integer(i),
            Node::Float(f) => Expr::Float(f),
            Node::Bool(b) => Expr::Boolean(b),
            Node::Call { function, first, len } => Expr::Call(
                function,
                self.args[first as usize..(first + len) as usize].iter().map(|&a| self.to_expr(bytes, a)).collect(),
            ),
        }
    }
}

// ---- evaluation ----

/// Flags being evaluated, innermost last: `FeatureEnabled` refuses to re-enter one.
pub(crate) struct FlagStack {
    items: [u32; MAX_FLAG_DEPTH],
    len: usize,
}

impl FlagStack {
    pub const fn new() -> Self {
        FlagStack { items: [0; MAX_FLAG_DEPTH], len: 0 }
    }
    pub fn contains(&self, flag: u32) -> bool {
        self.items[..self.len].contains(&flag)
    }
    /// False when full: the chain is too deep to follow.
    pub fn push(&mut self, flag: u32) -> bool {
        if self.len == MAX_FLAG_DEPTH {
            return false;
        }
        self.items[self.len] = flag;
        self.len += 1;
        true
    }
    pub fn pop(&mut self) {
        self.len -= 1;
    }
}

/// A string value: borrowed from the snapshot or the context, or made by `to_s`.
#[derive(Clone, Copy)]
enum Text<'a> {
    Ref(&'a str),
    Owned(Buf<48>),
}

impl<'a> Text<'a> {
    fn as_str(&self) -> &str {
        match self {
            Text::Ref(s) => s,
            Text::Owned(b) => b.as_str(),
        }
    }
}

/// A Ruby value as Flipper's expressions see it.
#[derive(Clone, Copy)]
enum Val<'a> {
    Nil,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(Text<'a>),
    /// Nanoseconds since the epoch, UTC.
    Time(i64),
}

/// The expression raised in Ruby; it does not hold.
struct Raised;

type Eval<'a> = Result<Val<'a>, Raised>;

impl<'a> Val<'a> {
    fn truthy(&self) -> bool {
        !matches!(self, Val::Nil | Val::Bool(false))
    }

    fn from_value(v: Value<'a>) -> Self {
        match v {
            Value::Null => Val::Nil,
            Value::Bool(b) => Val::Bool(b),
            Value::Int(i) => Val::Int(i),
            Value::Float(f) => Val::Float(f),
            Value::Str(s) => Val::Str(Text::Ref(s)),
        }
    }

    /// Ruby's `to_s`; fails for floats when no [`FloatText`] is at hand.
    fn write_to_s(&self, out: &mut impl Write, float: Option<&dyn FloatText>) -> fmt::Result {
        match self {
            Val::Nil => Ok(()),
            Val::Bool(b) => out.write_str(if *b { "true" } else { "false" }),
            Val::Int(i) => ruby::write_int(out, *i),
            Val::Float(f) => ruby::write_float(out, *f, float.ok_or(fmt::Error)?),
            Val::Str(t) => out.write_str(t.as_str()),
            Val::Time(t) => ruby::write_time(out, *t),
        }
    }

    /// Ruby's `==`.
    fn equals(&self, other: &Val<'_>) -> bool {
        match (self, other) {
            (Val::Nil, Val::Nil) => true,
            (Val::Bool(a), Val::Bool(b)) => a == b,
            (Val::Str(a), Val::Str(b)) => a.as_str() == b.as_str(),
            (Val::Time(a), Val::Time(b)) => a == b,
            _ => self.numeric_cmp(other) == Some(Ordering::Equal),
        }
    }

    fn numeric_cmp(&self, other: &Val<'_>) -> Option<Ordering> {
        match (*self, *other) {
            (Val::Int(a), Val::Int(b)) => Some(a.cmp(&b)),
            (Val::Int(a), Val::Float(b)) => ruby::cmp_int_float(a, b),
            (Val::Float(a), Val::Int(b)) => ruby::cmp_int_float(b, a).map(Ordering::reverse),
            (Val::Float(a), Val::Float(b)) => a.partial_cmp(&b),
            _ => None,
        }
    }

    /// Ruby's `<=>` for the ordering operators; `None` where Ruby raises or the operands do
    /// not respond to them (nil, booleans), which Flipper turns into false.
    fn order(&self, other: &Val<'_>) -> Option<Ordering> {
        match (self, other) {
            (Val::Str(a), Val::Str(b)) => Some(a.as_str().as_bytes().cmp(b.as_str().as_bytes())),
            (Val::Time(a), Val::Time(b)) => Some(a.cmp(b)),
            _ => self.numeric_cmp(other),
        }
    }

    /// Ruby's `to_f` where Flipper calls it; raising for booleans.
    fn to_float(self, float: Option<&dyn FloatText>) -> Result<f64, Raised> {
        match self {
            Val::Nil => Ok(0.0),
            Val::Int(i) => Ok(i as f64),
            Val::Float(f) => Ok(f),
            Val::Str(t) => Ok(ruby::string_to_f(t.as_str(), float.ok_or(Raised)?)),
            Val::Time(t) => Ok(t as f64 / 1e9),
            Val::Bool(_) => Err(Raised),
        }
    }
}

struct CrcSink(Crc32);

impl Write for CrcSink {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.0 = self.0.update(s.as_bytes());
        Ok(())
    }
}

/// What an expression is evaluated against.
pub(crate) struct Scope<'a> {
    pub snapshot: &'a Snapshot,
    /// The flag being evaluated: `PercentageOfActors` hashes its name.
    pub flag: u32,
    pub actor: Option<&'a Actor<'a>>,
    pub ctx: &'a Context<'a>,
}

impl<'a> Scope<'a> {
    /// Whether the expression at `root` holds (Ruby truthiness; a raise does not hold).
    pub fn holds(&self, root: u32, stack: &mut FlagStack) -> bool {
        matches!(self.eval(root, stack), Ok(v) if v.truthy())
    }

    fn eval(&self, node: u32, stack: &mut FlagStack) -> Eval<'a> {
        let arena = self.snapshot.arena();
        match arena.nodes[node as usize] {
            Node::Str(span) => Ok(Val::Str(Text::Ref(span.str(self.snapshot.bytes())))),
            Node::Int(i) => Ok(Val::Int(i)),
            Node::Float(f) => Ok(Val::Float(f)),
            Node::Bool(b) => Ok(Val::Bool(b)),
            Node::Call { function, first, len } => {
                let args = &arena.args[first as usize..(first + len) as usize];
                self.call(function, args, stack)
            }
        }
    }

    fn call(&self, function: Function, args: &[u32], stack: &mut FlagStack) -> Eval<'a> {
        use Function as F;
        // Flipper evaluates every argument first, so a raise anywhere propagates even
        // when another argument would have decided `All`/`Any`.
        let arg = |i: usize, stack: &mut FlagStack| self.eval(args[i], stack);
        match function {
            F::All | F::Any => {
                let mut all = true;
                let mut any = false;
                for &a in args {
                    let t = self.eval(a, stack)?.truthy();
                    all &= t;
                    any |= t;
                }
                Ok(Val::Bool(if function == F::All { all } else { any }))
            }
            F::Equal | F::NotEqual => {
                let (l, r) = (arg(0, stack)?, arg(1, stack)?);
                Ok(Val::Bool(l.equals(&r) == (function == F::Equal)))
            }
            F::GreaterThan | F::GreaterThanOrEqualTo | F::LessThan | F::LessThanOrEqualTo => {
                let (l, r) = (arg(0, stack)?, arg(1, stack)?);
                let holds = l.order(&r).is_some_and(|o| match function {
                    F::GreaterThan => o == Ordering::Greater,
                    F::GreaterThanOrEqualTo => o != Ordering::Less,
                    F::LessThan => o == Ordering::Less,
                    _ => o != Ordering::Greater,
                });
                Ok(Val::Bool(holds))
            }
            F::Property => {
                let key = arg(0, stack)?;
                let mut name = Buf::<64>::new();
                let value = match key {
                    Val::Str(t) => self.property(t.as_str()),
                    other => {
                        if other.write_to_s(&mut name, self.float()).is_err() {
                            return Ok(Val::Nil);
                        }
                        self.property(name.as_str())
                    }
                };
                Ok(value)
            }
            F::String => {
                let v = arg(0, stack)?;
                if let Val::Str(_) = v {
                    return Ok(v);
                }
                let mut out = Buf::<48>::new();
                v.write_to_s(&mut out, self.float()).map_err(|_| Raised)?;
                Ok(Val::Str(Text::Owned(out)))
            }
            F::Number => match arg(0, stack)? {
                v @ (Val::Int(_) | Val::Float(_)) => Ok(v),
                Val::Str(t) => {
                    let s = t.as_str();
                    if s.contains('.') {
                        Ok(Val::Float(ruby::string_to_f(s, self.float().ok_or(Raised)?)))
                    } else {
                        ruby::string_to_i(s).map(Val::Int).ok_or(Raised)
                    }
                }
                Val::Nil => Ok(Val::Int(0)),
                Val::Time(t) => Ok(Val::Float(t as f64 / 1e9)),
                Val::Bool(_) => Err(Raised),
            },
            F::Boolean => {
                let truth = match arg(0, stack)? {
                    Val::Bool(b) => b,
                    Val::Int(i) => i == 1,
                    Val::Str(t) => matches!(t.as_str(), "true" | "1"),
                    _ => false,
                };
                Ok(Val::Bool(truth))
            }
            F::Percentage => {
                let f = arg(0, stack)?.to_float(self.float())?;
                // `clamp` hands back its bound, an Integer, when it clamps.
                if f.is_nan() {
                    Err(Raised)
                } else if f < 0.0 {
                    Ok(Val::Int(0))
                } else if f > 100.0 {
                    Ok(Val::Int(100))
                } else {
                    Ok(Val::Float(f))
                }
            }
            F::PercentageOfActors => {
                let (text, pct) = (arg(0, stack)?, arg(1, stack)?);
                let mut crc = CrcSink(self.snapshot.name_crc(self.flag));
                text.write_to_s(&mut crc, self.float()).map_err(|_| Raised)?;
                let bucket = crc.0.finish() % crate::percentage::BUCKETS;
                match pct {
                    Val::Int(p) => Ok(Val::Bool(i128::from(bucket) < i128::from(p) * 1000)),
                    Val::Float(p) => Ok(Val::Bool((bucket as f64) < p * 1000.0)),
                    _ => Err(Raised),
                }
            }
            F::Random => {
                let r = self.ctx.random;
                let max = if args.is_empty() { Val::Nil } else { arg(0, stack)? };
                let n = match max {
                    Val::Nil => 0,
                    Val::Int(i) => i.unsigned_abs(),
                    Val::Float(f) if f.is_finite() => (f as i64).unsigned_abs(),
                    _ => return Err(Raised),
                };
                if n == 0 {
                    Ok(Val::Float(r))
                } else {
                    let pick = (r * n as f64) as u64;
                    Ok(Val::Int(pick.min(n - 1) as i64))
                }
            }
            F::Now => Ok(Val::Time(self.ctx.now.unix_nanos())),
            F::Time => match arg(0, stack)? {
                Val::Int(s) => ruby::seconds_to_nanos_int(s).map(Val::Time).ok_or(Raised),
                Val::Float(s) => ruby::seconds_to_nanos_float(s).map(Val::Time).ok_or(Raised),
                Val::Str(t) => ruby::parse_time(t.as_str()).map(Val::Time).ok_or(Raised),
                _ => Err(Raised),
            },
            F::FeatureEnabled => {
                let name = arg(0, stack)?;
                let mut buf = Buf::<256>::new();
                let name = match &name {
                    Val::Str(t) => t.as_str(),
                    other => {
                        other.write_to_s(&mut buf, self.float()).map_err(|_| Raised)?;
                        buf.as_str()
                    }
                };
                let Some(flag) = self.snapshot.find(name) else {
                    return Ok(Val::Bool(false));
                };
                if stack.contains(flag) {
                    return Ok(Val::Bool(false));
                }
                let actors = match self.actor {
                    Some(a) => core::slice::from_ref(a),
                    None => &[],
                };
                let ctx = Context { actors, ..*self.ctx };
                let (enabled, _) = self.snapshot.decide(flag, &ctx, stack);
                Ok(Val::Bool(enabled))
            }
        }
    }

    fn float(&self) -> Option<&'a dyn FloatText> {
        self.snapshot.float_text()
    }

    fn property(&self, name: &str) -> Val<'a> {
        match self.actor {
            Some(actor) => actor.property(name).map_or(Val::Nil, Val::from_value),
            None => Val::Nil,
        }
    }
}
