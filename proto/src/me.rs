//! Who the caller is.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Serialize, Deserialize, ToSchema)]
pub struct RoleBindingOut {
    pub team: String,
    pub role: String,
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct Me {
    pub id: String,
    pub email: Option<String>,
    pub name: String,
    /// `member` or `token`.
    pub kind: String,
    pub roles: Vec<RoleBindingOut>,
}
