//! Evaluating a decoded expression for one actor: Flipper 1.4's functions over Ruby values.

use super::wire::Node;
use super::Function;
use crate::actor::{Actor, Context, Value};
use crate::crc32::Crc32;
use crate::limits::{MAX_FLAG_CHECKS, MAX_FLAG_DEPTH};
use crate::ruby::{self, Buf, FloatText};
use crate::snapshot::Snapshot;
use core::cmp::Ordering;
use core::fmt::{self, Write};

/// Flags being evaluated, innermost last: `FeatureEnabled` refuses to re-enter one; and how
/// many flags one evaluation has asked about so far, so that no snapshot — forged or not —
/// can make one evaluation cost more than [`MAX_FLAG_CHECKS`] of them (ten levels of
/// flags each asking about many others would otherwise multiply).
pub(crate) struct FlagStack {
    items: [u32; MAX_FLAG_DEPTH],
    len: usize,
    checks: usize,
    /// Expression nodes evaluated: the work [`FlagStack::checks`] multiplies.
    steps: usize,
}

impl FlagStack {
    pub const fn new() -> Self {
        FlagStack { items: [0; MAX_FLAG_DEPTH], len: 0, checks: 0, steps: 0 }
    }
    /// Counts one `FeatureEnabled`; false once the evaluation has spent its budget.
    pub fn spend(&mut self) -> bool {
        if self.checks == MAX_FLAG_CHECKS {
            return false;
        }
        self.checks += 1;
        true
    }
    /// `FeatureEnabled` checks made so far: each one decision of another flag.
    pub fn checks(&self) -> usize {
        self.checks
    }
    /// Expression nodes evaluated so far.
    pub fn steps(&self) -> usize {
        self.steps
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

    /// Ruby's `to_s`; fails for floats when no [`FloatText`] is at hand. Through `dyn Sink`:
    /// one copy of the number and time formatting for every sink, not one per sink (four, in
    /// the browser's module).
    fn write_to_s(&self, out: &mut dyn Sink, float: Option<&dyn FloatText>) -> fmt::Result {
        let mut out = ToSink(out);
        match self {
            Val::Nil => Ok(()),
            Val::Bool(b) => out.write_str(if *b { "true" } else { "false" }),
            Val::Int(i) => ruby::write_int(&mut out, *i),
            Val::Float(f) => ruby::write_float(&mut out, *f, float.ok_or(fmt::Error)?),
            Val::Str(t) => out.write_str(t.as_str()),
            Val::Time(t) => ruby::write_time(&mut out, *t),
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

/// What `to_s` writes to. Not `dyn core::fmt::Write`: its vtable carries `write_fmt`, and
/// with it `core::fmt`'s machinery, into the browser's module.
trait Sink {
    fn put(&mut self, s: &str) -> fmt::Result;
}

impl<W: Write> Sink for W {
    fn put(&mut self, s: &str) -> fmt::Result {
        self.write_str(s)
    }
}

/// A `Sink` as the one `Write` the formatting functions are compiled for.
struct ToSink<'s>(&'s mut dyn Sink);

impl Write for ToSink<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.0.put(s)
    }
}

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
        stack.steps += 1;
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
                if stack.contains(flag) || !stack.spend() {
                    return Ok(Val::Bool(false));
                }
                let actors = match self.actor {
                    Some(a) => core::slice::from_ref(a),
                    None => &[],
                };
                let ctx = Context { actors, ..*self.ctx };
                let (enabled, _) = self.snapshot.decide(flag, &ctx, None, stack);
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
