//! The small values every query shares: new ids, the current time as stored, and telling a
//! unique-constraint violation apart.

use sea_orm::DbErr;

/// A new opaque id: UUID v7, so ids sort by creation time.
pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// Now, truncated to microseconds so it round-trips through every backend unchanged.
pub fn now() -> chrono::DateTime<chrono::Utc> {
    use chrono::{SubsecRound, Utc};
    Utc::now().trunc_subsecs(6)
}

/// How SQLite's writer thread marks a unique-constraint violation (sea-orm recognises only
/// sqlx's own errors).
pub(super) const UNIQUE_VIOLATION: &str = "unique violation: ";

/// Whether a database error is a unique-constraint violation.
pub fn is_unique_violation(err: &DbErr) -> bool {
    if let DbErr::Query(sea_orm::RuntimeErr::Internal(message))
    | DbErr::Exec(sea_orm::RuntimeErr::Internal(message)) = err
    {
        return message.starts_with(UNIQUE_VIOLATION);
    }
    matches!(
        err.sql_err(),
        Some(sea_orm::SqlErr::UniqueConstraintViolation(_))
    )
}
