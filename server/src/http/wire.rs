//! Types the HTTP layer's wings share on the wire: path parameters and the error envelope, as
//! the OpenAPI document describes them.

/// A social platform.
#[derive(utoipa::ToSchema)]
#[schema(rename_all = "lowercase")]
#[allow(dead_code)]
pub enum PlatformName {
    X,
    Instagram,
    Facebook,
    Tiktok,
    Youtube,
    Linkedin,
    Github,
    Google,
    Other,
}

/// The account named in the path.
#[derive(utoipa::IntoParams)]
#[into_params(names("id"), parameter_in = Path)]
#[allow(dead_code)]
pub struct AccountId(
    /// The account's id (a UUID, as returned when it was created).
    String,
);

/// The error envelope every failure uses.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// Stable snake_case code, e.g. `account_not_found`.
    pub code: String,
    pub message: String,
}
