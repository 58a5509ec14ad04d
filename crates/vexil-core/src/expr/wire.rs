//! The snapshot encoding of expressions, and the flat arena a decoded snapshot keeps them in:
//! a tag per node (string, integer, float, boolean, call), calls with their function's
//! discriminant and argument count, arguments in order.

use super::{Expr, Function};
use crate::error::{DecodeError, DecodeErrorKind as K};
use crate::limits::MAX_EXPRESSION_DEPTH;
use crate::wire::{Reader, Span};
use alloc::vec::Vec;

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
