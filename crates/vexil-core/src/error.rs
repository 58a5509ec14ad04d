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
    /// The freshness statement expired: the origin stopped vouching for this snapshot being
    /// the newest (a frozen origin, or a replayed old state).
    Expired,
    /// The snapshot (or statement) is of another environment than the caller expects.
    WrongEnvironment,
    /// The snapshot (or statement) is for another audience (server or browser) than the
    /// caller expects.
    WrongAudience,
    /// A newer version exists: the freshness statement, or a version the caller already
    /// held, names one.
    Rollback,
    /// A full snapshot, given to a build that reads browser snapshots only (without the
    /// `full-snapshots` feature: the npm package's browser-snapshot module).
    FullSnapshot,
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

impl DecodeErrorKind {
    /// Every kind, in [`DecodeErrorKind::code`] order (`VersionMismatch` with zero fields).
    pub const ALL: [DecodeErrorKind; 23] = {
        use DecodeErrorKind::*;
        [
            BadMagic,
            VersionMismatch { expected: 0, found: 0 },
            UnexpectedEnd,
            BadVarint,
            BadBool,
            BadUtf8,
            UnknownTag,
            NotCanonical,
            BadReference,
            BadPercentage,
            GatesWithoutState,
            BadActorKeys,
            BadExpression,
            TooLarge,
            TrailingBytes,
            Unsigned,
            UntrustedKey,
            BadSignature,
            Expired,
            WrongEnvironment,
            WrongAudience,
            Rollback,
            FullSnapshot,
        ]
    };

    /// The kind's number where it crosses a boundary as one (the wasm module's errors); the
    /// SDK's table of codes and messages is generated from [`DecodeErrorKind::ALL`].
    pub const fn code(self) -> u8 {
        use DecodeErrorKind::*;
        match self {
            BadMagic => 0,
            VersionMismatch { .. } => 1,
            UnexpectedEnd => 2,
            BadVarint => 3,
            BadBool => 4,
            BadUtf8 => 5,
            UnknownTag => 6,
            NotCanonical => 7,
            BadReference => 8,
            BadPercentage => 9,
            GatesWithoutState => 10,
            BadActorKeys => 11,
            BadExpression => 12,
            TooLarge => 13,
            TrailingBytes => 14,
            Unsigned => 15,
            UntrustedKey => 16,
            BadSignature => 17,
            Expired => 18,
            WrongEnvironment => 19,
            WrongAudience => 20,
            Rollback => 21,
            FullSnapshot => 22,
        }
    }

    /// The code SDKs report (`SnapshotError.code`): what a caller can act on, so every kind
    /// of damage inside the body is `MALFORMED`.
    pub const fn sdk_code(self) -> &'static str {
        use DecodeErrorKind::*;
        match self {
            BadMagic => "BAD_MAGIC",
            VersionMismatch { .. } => "VERSION_MISMATCH",
            UnexpectedEnd => "TRUNCATED",
            TooLarge => "TOO_LARGE",
            Unsigned => "UNSIGNED",
            UntrustedKey => "UNTRUSTED_KEY",
            BadSignature => "BAD_SIGNATURE",
            Expired => "EXPIRED",
            WrongEnvironment => "WRONG_ENVIRONMENT",
            WrongAudience | FullSnapshot => "WRONG_AUDIENCE",
            Rollback => "ROLLBACK",
            BadVarint | BadBool | BadUtf8 | UnknownTag | NotCanonical | BadReference | BadPercentage
            | GatesWithoutState | BadActorKeys | BadExpression | TrailingBytes => "MALFORMED",
        }
    }
}

/// The message of [`DecodeErrorKind::VersionMismatch`], with its numbers given as anything
/// displayable: the SDK's generated table fills in a template placeholder for `found`.
#[doc(hidden)]
pub fn write_version_mismatch(
    f: &mut impl fmt::Write,
    expected: impl fmt::Display,
    found: impl fmt::Display,
) -> fmt::Result {
    write!(f, "snapshot format version {found} is not supported (this build reads version {expected}); upgrade vexil")
}

impl fmt::Display for DecodeErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use DecodeErrorKind::*;
        match self {
            BadMagic => f.write_str("not a vexil snapshot (bad magic)"),
            VersionMismatch { expected, found } => write_version_mismatch(f, expected, found),
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
            Expired => f.write_str("the freshness statement expired: the origin no longer vouches for this snapshot"),
            WrongEnvironment => f.write_str("snapshot of another environment than expected"),
            WrongAudience => f.write_str("snapshot for another audience than expected"),
            Rollback => f.write_str("a newer version exists: refusing an older one (rollback)"),
            FullSnapshot => f.write_str("a full snapshot, but this build reads only browser snapshots (an environment's /browser/ files; the full module reads both)"),
        }
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at byte {}", self.kind, self.offset)
    }
}

impl core::error::Error for DecodeError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_the_positions_in_all() {
        for (i, kind) in DecodeErrorKind::ALL.iter().enumerate() {
            assert_eq!(usize::from(kind.code()), i, "{kind:?}");
        }
    }
}
