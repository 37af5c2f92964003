//! The errors of the use cases: one enum, with what was not found and the server's own faults
//! typed; `http::error` maps each to a status and a stable code, once.

use super::keys;
use crate::crypto::CryptoError;
use crate::domain::Invalid;
use sea_orm::DbErr;

/// What was not found: each has its stable error code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Missing {
    Account,
    TotpSecret,
    HotpSecret,
    Password,
    BackupCodes,
    BackupCode,
    Member,
    RotationTask,
    Escrow,
    Release,
    Incident,
    Runbook,
    Team,
    AccessRequest,
    DeviceCode,
    Session,
}

impl Missing {
    /// What it is, in words (`… not found`).
    pub fn what(self) -> &'static str {
        match self {
            Missing::Account => "account",
            Missing::TotpSecret => "totp secret",
            Missing::HotpSecret => "hotp secret",
            Missing::Password => "password",
            Missing::BackupCodes => "backup codes",
            Missing::BackupCode => "backup code",
            Missing::Member => "member",
            Missing::RotationTask => "rotation task",
            Missing::Escrow => "escrow",
            Missing::Release => "release",
            Missing::Incident => "incident",
            Missing::Runbook => "runbook",
            Missing::Team => "team",
            Missing::AccessRequest => "access request",
            Missing::DeviceCode => "device code",
            Missing::Session => "session",
        }
    }

    /// The stable error code.
    pub fn code(self) -> &'static str {
        match self {
            Missing::Account => "account_not_found",
            Missing::TotpSecret => "totp_not_set",
            Missing::HotpSecret => "hotp_not_set",
            Missing::Password => "password_not_set",
            Missing::BackupCodes => "backup_codes_not_set",
            Missing::BackupCode => "backup_code_not_found",
            Missing::Member => "member_not_found",
            Missing::RotationTask => "task_not_found",
            Missing::Escrow => "escrow_not_found",
            Missing::Release => "release_not_found",
            Missing::Incident => "incident_not_found",
            Missing::Runbook => "runbook_not_found",
            Missing::Team => "not_found",
            Missing::AccessRequest => "access_request_not_found",
            Missing::DeviceCode => "user_code_not_found",
            Missing::Session => "session_not_found",
        }
    }
}

impl std::fmt::Display for Missing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.what())
    }
}

/// Errors of the use cases. Messages never carry a secret value.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("{0}")]
    Invalid(#[from] Invalid),
    #[error("{0} not found")]
    NotFound(Missing),
    #[error("not allowed")]
    Forbidden,
    /// Not allowed for a reason of its own (403 with this code).
    #[error("{message}")]
    Refused { code: &'static str, message: String },
    #[error("{message}")]
    Conflict { code: &'static str, message: String },
    #[error("{message}")]
    Locked { code: &'static str, message: String },
    /// It existed and is gone for good (410).
    #[error("{message}")]
    Gone { code: &'static str, message: String },
    #[error("{message}")]
    RateLimited {
        code: &'static str,
        message: String,
        retry_after: u64,
    },
    #[error("{message}")]
    SignIn { code: &'static str, message: String },
    #[error("a recent sign-in is required")]
    ReauthRequired,
    #[error("the identity provider is unavailable")]
    IdpUnavailable,
    #[error("the key needed for this secret is unavailable")]
    KeyUnavailable(#[source] CryptoError),
    #[error("storage error")]
    Storage(#[from] DbErr),
    /// A fault of this server, not of the request or the database's reachability: a stored
    /// value that cannot be read, a worker that stopped. Logged with `what`; answered 500.
    #[error("internal error: {what}")]
    Internal { what: String },
}

impl ServiceError {
    /// A fault of this server (see [`ServiceError::Internal`]).
    pub fn internal(what: impl Into<String>) -> Self {
        ServiceError::Internal { what: what.into() }
    }
}

impl From<CryptoError> for ServiceError {
    fn from(err: CryptoError) -> Self {
        ServiceError::KeyUnavailable(err)
    }
}

/// A refusal with its code and message (403).
pub(crate) fn refused(code: &'static str, message: &str) -> ServiceError {
    ServiceError::Refused {
        code,
        message: message.to_owned(),
    }
}

/// A conflict with its code and message (409).
pub(crate) fn conflict(code: &'static str, message: &str) -> ServiceError {
    ServiceError::Conflict {
        code,
        message: message.to_owned(),
    }
}

/// A unique-key clash from two writers at once is a conflict to retry, not a storage failure.
pub(crate) fn concurrent_change(err: DbErr) -> ServiceError {
    if crate::store::is_unique_violation(&err) {
        ServiceError::Conflict {
            code: "concurrent_change",
            message: "someone else changed this at the same moment; try again".to_owned(),
        }
    } else {
        ServiceError::Storage(err)
    }
}

impl From<keys::RotateError> for ServiceError {
    fn from(err: keys::RotateError) -> Self {
        match err {
            keys::RotateError::Crypto(err) => ServiceError::KeyUnavailable(err),
            keys::RotateError::Storage(err) => ServiceError::Storage(err),
        }
    }
}
