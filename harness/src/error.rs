//! The harness's one error type, and its exit codes.
//!
//! Conformance outcomes are verdicts, never errors: an [`Error`] says that the harness could
//! not find out what the SP does (bad input, a transport failure, a hook that failed, a probe
//! it cannot read). Its [`ErrorKind`] decides the exit code of a command that stops on it and
//! the wording of a scenario that errs.

/// What kind of thing went wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// Bad input or configuration: a target or scenario file, a placeholder, a user the target
    /// does not define, a report folder that cannot be written (exit code 2).
    Input,
    /// A request to the SP or to the mock IdP got no usable answer: refused, reset or closed
    /// connection, timeout, unreadable answer (exit code 3).
    Transport,
    /// The SP answered, but not in a way the harness can read (a session probe that says
    /// "signed in" without a readable identity, a redirect without a Location) (exit code 3).
    Sp,
    /// A target hook failed (exit code 3).
    Hook,
    /// The harness itself or its mock IdP failed (exit code 3).
    Harness,
}

impl ErrorKind {
    /// The exit code of a command that stops on an error of this kind.
    pub fn exit_code(self) -> ExitCode {
        match self {
            ErrorKind::Input => ExitCode::BadInput,
            ErrorKind::Transport | ErrorKind::Sp | ErrorKind::Hook | ErrorKind::Harness => {
                ExitCode::Infrastructure
            }
        }
    }
}

/// A failure of the harness, with what it was doing in the message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Error {
    /// What kind of failure.
    pub kind: ErrorKind,
    /// What failed, with the evidence (lower case, "failed to ..." where it fits).
    pub message: String,
}

impl Error {
    /// An error of `kind`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }

    /// Bad input or configuration.
    pub fn input(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Input, message)
    }

    /// No usable answer from the SP or the IdP.
    pub fn transport(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Transport, message)
    }

    /// An answer of the SP the harness cannot read.
    pub fn sp(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Sp, message)
    }

    /// A hook that failed.
    pub fn hook(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Hook, message)
    }

    /// The harness's own failure.
    pub fn harness(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Harness, message)
    }

    /// The exit code of a command that stops on this error.
    pub fn exit_code(&self) -> ExitCode {
        self.kind.exit_code()
    }

    /// The same error with `context` before its message (`step 2: ...`).
    pub fn context(self, context: impl std::fmt::Display) -> Self {
        Self {
            kind: self.kind,
            message: format!("{context}: {}", self.message),
        }
    }
}

impl From<crate::target::TargetError> for Error {
    fn from(e: crate::target::TargetError) -> Self {
        Self::input(e.to_string())
    }
}

impl From<crate::template::TemplateError> for Error {
    fn from(e: crate::template::TemplateError) -> Self {
        Self::input(e.to_string())
    }
}

/// The exit codes of `saml-harness` (and of `cargo xtask run`, which passes them on).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ExitCode {
    /// Everything passed or was waived (warnings, skips and inconclusive scenarios included,
    /// unless `--strict`).
    Passed,
    /// Conformance failures (or, with `--strict`, inconclusive scenarios).
    Failures,
    /// Bad input or configuration: the message names the file, the line and the field.
    BadInput,
    /// A harness or infrastructure error; it wins over failures, since results are
    /// incomplete.
    Infrastructure,
}

impl ExitCode {
    /// The process exit code.
    pub fn code(self) -> u8 {
        match self {
            ExitCode::Passed => 0,
            ExitCode::Failures => 1,
            ExitCode::BadInput => 2,
            ExitCode::Infrastructure => 3,
        }
    }
}

impl From<ExitCode> for std::process::ExitCode {
    fn from(code: ExitCode) -> Self {
        std::process::ExitCode::from(code.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_map_to_exit_codes_and_context_keeps_the_kind() {
        assert_eq!(ErrorKind::Input.exit_code().code(), 2);
        for kind in [
            ErrorKind::Transport,
            ErrorKind::Sp,
            ErrorKind::Hook,
            ErrorKind::Harness,
        ] {
            assert_eq!(kind.exit_code().code(), 3, "{kind:?}");
        }
        let e = Error::transport("connection reset").context("POST http://127.0.0.1:1/acs");
        assert_eq!(e.kind, ErrorKind::Transport);
        assert_eq!(
            e.to_string(),
            "POST http://127.0.0.1:1/acs: connection reset"
        );
        assert_eq!(ExitCode::Passed.code(), 0);
        assert_eq!(ExitCode::Failures.code(), 1);
    }
}
