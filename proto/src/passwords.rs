//! Account passwords: store and reveal.

use crate::Sensitive;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetPassword {
    /// Kept exactly as given (no trimming), up to 1024 characters.
    #[schema(value_type = String, min_length = 1, max_length = 1024)]
    pub password: Sensitive,
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct PasswordOut {
    #[schema(value_type = String)]
    pub password: Sensitive,
    pub version: i32,
}
