//! Decoding errors: what went wrong and where in the input.

use core::fmt;

/// Why a byte string is not a snapshot vexil will use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DecodeError {
    kind: DecodeErrorKind,
    offset: usize,
}

/// The kinds of [`DecodeError`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DecodeErrorKind {
    /// The input does not start with the snapshot magic `VEXL`.
    BadMagic,
    /// The snapshot uses a format version this build does not read.
    VersionMismatch {
        /// The newest version this build reads.
        expected: u8,
        /// The version the snapshot declares.
        found: u8,
    },
    /// The input ends inside a value, or declares more elements than it holds.
    UnexpectedEnd,
    /// An integer is malformed, overlong, or out of range for its field.
    BadVarint,
    /// A boolean byte other than 0 or 1.
    BadBool,
    /// A string that is not UTF-8.
    BadUtf8,
    /// An enum discriminant or flag bit this format version does not define.
    UnknownTag,
    /// Names, actor ids or references out of order or repeated; the format is canonical.
    NotCanonical,
    /// A reference to a feature group or actor kind that does not exist.
    BadReference,
    /// A percentage above 100.
    BadPercentage,
    /// A flag that is not persisted but has gates set.
    GatesWithoutState,
    /// The packed actor keys are malformed.
    BadActorKeys,
    /// An expression nests deeper than [`crate::limits::MAX_EXPRESSION_DEPTH`], or calls a
    /// function with the wrong number of arguments.
    BadExpression,
    /// The snapshot exceeds a limit in [`crate::limits`].
    TooLarge,
    /// Bytes after the end of the snapshot.
    TrailingBytes,
    /// Public keys were given but the snapshot is not signed.
    Unsigned,
    /// The snapshot is signed by a key that is not among the trusted ones.
    UntrustedKey,
    /// The signature does not match the snapshot's contents.
    BadSignature,
}

impl DecodeError {
    pub(crate) fn new(kind: DecodeErrorKind, offset: usize) -> Self {
        DecodeError { kind, offset }
    }

    /// What went wrong.
    pub fn kind(&self) -> DecodeErrorKind {
        self.kind
    }

    /// The byte offset in the input where decoding stopped.
    pub fn offset(&self) -> usize {
        self.offset
    }

    /// Whether the bytes may be a good snapshot that fails only the signature policy
    /// (unsigned, untrusted key, or forged).
    pub fn is_signature_error(&self) -> bool {
        matches!(self.kind, DecodeErrorKind::Unsigned | DecodeErrorKind::UntrustedKey | DecodeErrorKind::BadSignature)
    }
}

impl fmt::Display for DecodeErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use DecodeErrorKind::*;
        match self {
            BadMagic => f.write_str("not a vexil snapshot (bad magic)"),
            VersionMismatch { expected, found } => write!(
                f,
                "snapshot format version {found} is not supported (this build reads version {expected}); upgrade vexil"
            ),
            UnexpectedEnd => f.write_str("truncated snapshot"),
            BadVarint => f.write_str("malformed integer"),
            BadBool => f.write_str("malformed boolean"),
            BadUtf8 => f.write_str("string is not UTF-8"),
            UnknownTag => f.write_str("unknown tag"),
            NotCanonical => f.write_str("entries out of order or repeated"),
            BadReference => f.write_str("reference to a missing entry"),
            BadPercentage => f.write_str("percentage above 100"),
            GatesWithoutState => f.write_str("gates set on a flag that is not persisted"),
            BadActorKeys => f.write_str("malformed actor keys"),
            BadExpression => f.write_str("malformed expression"),
            TooLarge => f.write_str("snapshot exceeds a size limit"),
            TrailingBytes => f.write_str("trailing bytes after the snapshot"),
            Unsigned => f.write_str("snapshot is not signed, but public keys were given"),
            UntrustedKey => f.write_str("snapshot is signed by an untrusted key"),
            BadSignature => f.write_str("snapshot signature does not verify (forged or corrupted)"),
        }
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at byte {}", self.kind, self.offset)
    }
}

impl core::error::Error for DecodeError {}
