//! Setup errors: the step that failed, the object, the errno, and the fix
//! where we know it. They cross the parent/child socket as text and are
//! printed once, by `main`.

use std::fmt;

use nix::errno::Errno;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SetupError {
    /// What we were doing, with its object: "mount overlay on /", "write memory.max".
    pub step: String,
    pub errno: Option<Errno>,
    /// Extra detail beyond the errno, if any.
    pub detail: Option<String>,
    /// How to fix it, when we know.
    pub fix: Option<String>,
}

impl SetupError {
    pub fn new(step: impl Into<String>) -> Self {
        SetupError { step: step.into(), errno: None, detail: None, fix: None }
    }

    /// A failed system call: `step` names the operation and its object.
    pub fn sys(step: impl Into<String>, errno: Errno) -> Self {
        SetupError { errno: Some(errno), ..SetupError::new(step) }
    }

    /// From an `std::io::Error` (which carries the errno when it has one).
    pub fn io(step: impl Into<String>, e: &std::io::Error) -> Self {
        match e.raw_os_error() {
            Some(code) => SetupError::sys(step, Errno::from_raw(code)),
            None => SetupError::new(step).detail(e.to_string()),
        }
    }

    #[must_use]
    pub fn detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    #[must_use]
    pub fn fix(mut self, fix: impl Into<String>) -> Self {
        self.fix = Some(fix.into());
        self
    }
}

impl fmt::Display for SetupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.step)?;
        if let Some(errno) = self.errno {
            write!(f, ": {}", errno_text(errno))?;
        }
        if let Some(detail) = &self.detail {
            write!(f, ": {detail}")?;
        }
        if let Some(fix) = &self.fix {
            write!(f, " ({fix})")?;
        }
        Ok(())
    }
}

impl std::error::Error for SetupError {}

/// `EINVAL (Invalid argument)`.
fn errno_text(errno: Errno) -> String {
    format!("{errno:?} ({})", errno.desc())
}

pub type Result<T, E = SetupError> = std::result::Result<T, E>;
