//! The one place that maps errors to HTTP status codes and stable error codes.
//! Bodies are `{"error":{"code","message"}}` and never carry a secret.

use crate::domain::Invalid;
use crate::services::ServiceError;
use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub retry_after: Option<u64>,
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.status.as_u16(),
            self.code,
            self.message
        )
    }
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            retry_after: None,
        }
    }

    pub fn not_found(what: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("{what} not found"),
        )
    }

    pub fn unauthenticated(message: &str) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthenticated", message)
    }
}

impl From<Invalid> for ApiError {
    fn from(invalid: Invalid) -> Self {
        // Something absent is a bad request; something present but invalid, unprocessable.
        let status = if invalid.required {
            StatusCode::BAD_REQUEST
        } else {
            StatusCode::UNPROCESSABLE_ENTITY
        };
        Self::new(status, invalid.code, invalid.message)
    }
}

impl From<ServiceError> for ApiError {
    fn from(err: ServiceError) -> Self {
        match err {
            ServiceError::Invalid(invalid) => invalid.into(),
            ServiceError::NotFound(what) => Self::new(
                StatusCode::NOT_FOUND,
                what.code(),
                format!("{what} not found"),
            ),
            ServiceError::Forbidden => Self::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                "your roles do not allow this action",
            ),
            ServiceError::Refused { code, message } => {
                Self::new(StatusCode::FORBIDDEN, code, message)
            }
            ServiceError::Conflict { code, message } => {
                Self::new(StatusCode::CONFLICT, code, message)
            }
            ServiceError::Locked { code, message } => Self::new(StatusCode::LOCKED, code, message),
            ServiceError::Gone { code, message } => Self::new(StatusCode::GONE, code, message),
            ServiceError::RateLimited {
                code,
                message,
                retry_after,
            } => Self {
                retry_after: Some(retry_after),
                ..Self::new(StatusCode::TOO_MANY_REQUESTS, code, message)
            },
            ServiceError::SignIn { code, message } => {
                Self::new(StatusCode::BAD_REQUEST, code, message)
            }
            ServiceError::ReauthRequired => Self::new(
                StatusCode::UNAUTHORIZED,
                "reauthentication_required",
                "sign in again to reveal secrets: GET /auth/login?prompt=login&return_to=…",
            ),
            ServiceError::IdpUnavailable => Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "idp_unavailable",
                "the identity provider cannot be reached; try again shortly",
            ),
            ServiceError::KeyUnavailable(cause) => {
                tracing::error!(error = %cause, "secret could not be opened");
                Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "keyring_unavailable",
                    "the key needed for this secret is not available; ask an operator to check the key file",
                )
            }
            ServiceError::Internal { what } => {
                tracing::error!(error = %what, "internal error");
                Self::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal_error",
                    "something went wrong on the server; it has been logged",
                )
            }
            ServiceError::Storage(cause) if crate::services::integrity::is_tampered(&cause) => {
                Self::new(
                    StatusCode::FORBIDDEN,
                    "integrity_violation",
                    "a record this needs was changed outside Keyward and is not trusted; a security admin has been told",
                )
            }
            ServiceError::Storage(cause) => {
                tracing::error!(error = %cause, "storage error");
                Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "storage_unavailable",
                    "the database is unavailable; try again",
                )
            }
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status);
        if self.status == StatusCode::UNAUTHORIZED {
            response.insert_header((header::WWW_AUTHENTICATE, "Bearer"));
        }
        if let Some(seconds) = self.retry_after {
            response.insert_header((header::RETRY_AFTER, seconds.to_string()));
        }
        response
            .json(serde_json::json!({ "error": { "code": self.code, "message": self.message } }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::services::Missing;

    #[test]
    fn each_service_error_maps_to_its_status_and_code_without_reading_its_message() {
        let cases: Vec<(ServiceError, u16, &str)> = vec![
            (
                ServiceError::NotFound(Missing::Account),
                404,
                "account_not_found",
            ),
            (
                ServiceError::NotFound(Missing::RotationTask),
                404,
                "task_not_found",
            ),
            (ServiceError::NotFound(Missing::Team), 404, "not_found"),
            (
                Invalid::required("reason_required", "x").into(),
                400,
                "reason_required",
            ),
            (
                Invalid::new("invalid_reason", "x").into(),
                422,
                "invalid_reason",
            ),
            // The same code, absent or present but invalid: the kind decides, not the text.
            (
                Invalid::required("secret_required", "x").into(),
                400,
                "secret_required",
            ),
            (
                Invalid::new("secret_required", "x").into(),
                422,
                "secret_required",
            ),
            (
                ServiceError::internal("unreadable password"),
                500,
                "internal_error",
            ),
            (
                ServiceError::Storage(sea_orm::DbErr::Custom("down".into())),
                503,
                "storage_unavailable",
            ),
            (ServiceError::Forbidden, 403, "forbidden"),
        ];
        for (err, status, code) in cases {
            let api = ApiError::from(err);
            assert_eq!((api.status.as_u16(), api.code), (status, code));
        }
    }

    #[test]
    fn an_internal_error_says_nothing_of_its_cause() {
        let api = ApiError::from(ServiceError::internal("unreadable secret parameters"));
        assert!(!api.message.contains("unreadable"), "{}", api.message);
    }
}
