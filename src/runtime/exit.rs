//! How a run ends, as values: the launcher prints nothing; the CLI turns
//! these into a message and an exit status.

use std::fmt;

use crate::error::SetupError;
use crate::runtime::sync::{EXIT_CANNOT_EXEC, EXIT_NOT_FOUND, EXIT_SETUP};

/// How a sandbox that ran its command ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    /// The command's status (128 + N when signal N killed it).
    Code(i32),
    /// The wall-clock timeout ran out; the sandbox was killed.
    TimedOut,
    /// The sandbox hit its memory limit and the kernel killed in it; the
    /// command's status.
    OutOfMemory(i32),
    /// The reader of our output went away (a closed pipe).
    ReaderGone,
}

impl Exit {
    /// The status to exit with, as timeout(1), a shell and docker have them.
    pub fn code(self) -> i32 {
        match self {
            Exit::TimedOut => 124,
            // A command that hid the kill (exit 0) still did not finish.
            Exit::OutOfMemory(0) => 137,
            Exit::Code(code) | Exit::OutOfMemory(code) => code,
            Exit::ReaderGone => 141,
        }
    }
}

/// Why a sandbox did not run (or could not start) its command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Failure {
    /// Setting the sandbox up failed (exit 125).
    Setup(SetupError),
    /// The command was found but could not be executed (126).
    CannotExecute(SetupError),
    /// The command was not found (127).
    NotFound(SetupError),
}

impl Failure {
    /// From the status the setup child reported with its error.
    pub fn from_code(code: i32, error: SetupError) -> Failure {
        match code {
            EXIT_CANNOT_EXEC => Failure::CannotExecute(error),
            EXIT_NOT_FOUND => Failure::NotFound(error),
            _ => Failure::Setup(error),
        }
    }

    pub fn code(&self) -> i32 {
        match self {
            Failure::Setup(_) => EXIT_SETUP,
            Failure::CannotExecute(_) => EXIT_CANNOT_EXEC,
            Failure::NotFound(_) => EXIT_NOT_FOUND,
        }
    }

    pub fn error(&self) -> &SetupError {
        match self {
            Failure::Setup(e) | Failure::CannotExecute(e) | Failure::NotFound(e) => e,
        }
    }
}

impl From<SetupError> for Failure {
    fn from(e: SetupError) -> Failure {
        Failure::Setup(e)
    }
}

/// Something the caller should know that does not stop the run: what best
/// effort skipped, what could not be cleaned up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Note {
    /// A resource limit best effort could not apply.
    LimitSkipped(String),
    /// What the sandbox's setup reported (best-effort Landlock, budgets).
    Setup(String),
    /// Cleaning up after the run failed.
    Cleanup(SetupError),
}

impl fmt::Display for Note {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Note::LimitSkipped(line) => write!(f, "limits (best effort): skipped {line}"),
            Note::Setup(text) => f.write_str(text),
            Note::Cleanup(e) => write!(f, "{e}"),
        }
    }
}

/// Where notes go while the sandbox runs (the CLI prints each at once).
pub type Notes<'a> = &'a mut dyn FnMut(Note);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_are_the_ones_shells_and_docker_use() {
        assert_eq!(Exit::Code(3).code(), 3);
        assert_eq!(Exit::TimedOut.code(), 124);
        assert_eq!(Exit::OutOfMemory(0).code(), 137);
        assert_eq!(Exit::OutOfMemory(1).code(), 1);
        assert_eq!(Exit::ReaderGone.code(), 141);
        let e = SetupError::new("x");
        assert_eq!(Failure::from_code(EXIT_NOT_FOUND, e.clone()).code(), 127);
        assert_eq!(Failure::from_code(EXIT_CANNOT_EXEC, e.clone()).code(), 126);
        assert_eq!(Failure::from_code(1, e).code(), 125);
    }
}
