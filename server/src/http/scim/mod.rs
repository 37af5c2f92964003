//! SCIM 2.0 (`/scim/v2`, RFC 7643/7644) for the organisation's IdP: discovery and Users.
//! Every answer is `application/scim+json`, errors in the SCIM error schema.

pub(crate) mod discovery;
pub(crate) mod users;

use crate::http::ApiError;
use crate::services::ServiceError;
use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse, ResponseError};

pub const CONTENT_TYPE: &str = "application/scim+json";
pub const ERROR_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:Error";
pub const LIST_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
pub const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";

/// SCIM's scope after its routes (`http::routes`): discovery is read-only (any other method
/// is 405), and an unknown SCIM path gets a SCIM 404.
pub fn finish_scope(scope: actix_web::Scope) -> actix_web::Scope {
    scope
        .service(
            web::resource("/ServiceProviderConfig").default_service(web::to(method_not_allowed)),
        )
        .service(web::resource("/ResourceTypes").default_service(web::to(method_not_allowed)))
        .service(web::resource("/ResourceTypes/{id}").default_service(web::to(method_not_allowed)))
        .service(web::resource("/Schemas").default_service(web::to(method_not_allowed)))
        .service(web::resource("/Schemas/{id}").default_service(web::to(method_not_allowed)))
        .default_service(web::to(|| async {
            ScimError::new(StatusCode::NOT_FOUND, None, "no such SCIM endpoint").error_response()
        }))
}

async fn method_not_allowed() -> HttpResponse {
    ScimError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        None,
        "this endpoint is read-only",
    )
    .error_response()
}

/// An error in the SCIM error schema (RFC 7644 3.12).
#[derive(Debug)]
pub struct ScimError {
    pub status: StatusCode,
    pub scim_type: Option<&'static str>,
    pub detail: String,
    pub retry_after: Option<u64>,
}

impl ScimError {
    pub fn new(
        status: StatusCode,
        scim_type: Option<&'static str>,
        detail: impl Into<String>,
    ) -> Self {
        Self {
            status,
            scim_type,
            detail: detail.into(),
            retry_after: None,
        }
    }
}

impl std::fmt::Display for ScimError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.status.as_u16(), self.detail)
    }
}

/// The SCIM error body.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct ScimErrorBody {
    pub schemas: Vec<String>,
    /// The HTTP status, as a string.
    pub status: String,
    #[serde(rename = "scimType", skip_serializing_if = "Option::is_none")]
    pub scim_type: Option<String>,
    pub detail: String,
}

impl ResponseError for ScimError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status);
        response.content_type(CONTENT_TYPE);
        if self.status == StatusCode::UNAUTHORIZED {
            response.insert_header(("WWW-Authenticate", "Bearer"));
        }
        if let Some(seconds) = self.retry_after {
            response.insert_header(("Retry-After", seconds.to_string()));
        }
        let body = ScimErrorBody {
            schemas: vec![ERROR_SCHEMA.to_owned()],
            status: self.status.as_u16().to_string(),
            scim_type: self.scim_type.map(str::to_owned),
            detail: self.detail.clone(),
        };
        response.body(serde_json::to_string(&body).unwrap_or_default())
    }
}

/// Keyward's own errors (authentication, bodies, services) in SCIM's shape.
impl From<ApiError> for ScimError {
    fn from(err: ApiError) -> Self {
        let scim_type = match err.code {
            "invalid_filter" => Some("invalidFilter"),
            "invalid_path" => Some("invalidPath"),
            "no_target" => Some("noTarget"),
            "uniqueness" => Some("uniqueness"),
            "invalid_json" | "missing_body" | "invalid_patch" | "invalid_body" => {
                Some("invalidSyntax")
            }
            _ if err.status == StatusCode::UNPROCESSABLE_ENTITY => Some("invalidValue"),
            _ => None,
        };
        // SCIM clients expect 400 for every bad value (RFC 7644 3.12).
        let status = if err.status == StatusCode::UNPROCESSABLE_ENTITY {
            StatusCode::BAD_REQUEST
        } else {
            err.status
        };
        Self {
            retry_after: err.retry_after,
            ..Self::new(status, scim_type, err.message)
        }
    }
}

impl From<ServiceError> for ScimError {
    fn from(err: ServiceError) -> Self {
        ApiError::from(err).into()
    }
}

impl From<crate::domain::Invalid> for ScimError {
    fn from(err: crate::domain::Invalid) -> Self {
        ApiError::from(err).into()
    }
}

/// A SCIM resource or list as the answer.
fn scim_json(status: StatusCode, body: &serde_json::Value) -> HttpResponse {
    HttpResponse::build(status)
        .content_type(CONTENT_TYPE)
        .body(body.to_string())
}
