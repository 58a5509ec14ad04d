//! The publisher's error: a message that names what a user can act on (file and line, flag,
//! environment, target, option), and the exit status it maps to.

use std::fmt;

/// A failed command.
#[derive(Debug)]
pub struct Error {
    message: String,
    kind: ErrorKind,
}

/// What kind of failure, for the exit status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// Bad input or a refused command (exit 1).
    Refused,
    /// A command line that does not parse (exit 2).
    Usage,
    /// Something outside vexil failed: a database, a target, a file (exit 1).
    Io,
    /// Another writer moved first: what was asked no longer applies (exit 1).
    Conflict,
}

impl Error {
    /// A refused command or bad input.
    pub fn refused(message: impl Into<String>) -> Self {
        Error { message: message.into(), kind: ErrorKind::Refused }
    }
    /// A command line that does not parse.
    pub fn usage(message: impl Into<String>) -> Self {
        Error { message: message.into(), kind: ErrorKind::Usage }
    }
    /// Another writer moved first (a rollout step another driver applied).
    pub fn conflict(message: impl Into<String>) -> Self {
        Error { message: message.into(), kind: ErrorKind::Conflict }
    }
    /// A failure of something vexil depends on.
    pub fn io(message: impl Into<String>) -> Self {
        Error { message: message.into(), kind: ErrorKind::Io }
    }
    /// The kind.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }
    /// The message.
    pub fn message(&self) -> &str {
        &self.message
    }
    /// The same error with `context` in front: "context: message".
    pub fn context(self, context: impl fmt::Display) -> Self {
        Error { message: format!("{context}: {}", self.message), kind: self.kind }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

/// A result of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Adds context to foreign errors (`.context("cannot read vexil.toml")`).
pub trait ErrorContext<T> {
    /// Wraps the error as an I/O failure described by `what`.
    fn context(self, what: impl fmt::Display) -> Result<T>;
}

impl<T, E: fmt::Display> ErrorContext<T> for std::result::Result<T, E> {
    fn context(self, what: impl fmt::Display) -> Result<T> {
        self.map_err(|e| Error::io(format!("{what}: {e}")))
    }
}
