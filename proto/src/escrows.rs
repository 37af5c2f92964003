//! Break-glass escrows: setting one up, reading it, picking up a share.

use crate::Sensitive;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CustodianIn {
    pub email: String,
    /// The custodian's own age key (`age1…`): the share is encrypted to it and returned once.
    /// Without one, the custodian picks the share up once after signing in.
    pub age_recipient: Option<String>,
}

#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateEscrow {
    #[schema(min_length = 1, max_length = 100)]
    pub name: String,
    /// Team slugs, or `["*"]` for every team.
    pub teams: Vec<String>,
    /// k: how many shares open the escrow (2 ≤ k ≤ n ≤ 16).
    #[schema(minimum = 2, maximum = 16)]
    pub threshold: i64,
    /// n custodians, one share each.
    pub custodians: Vec<CustodianIn>,
    /// Minutes between the k-th share and the release, during which it can be vetoed (0 to 10080).
    #[schema(minimum = 0, maximum = 10080)]
    pub waiting_period_minutes: Option<i64>,
    /// Minutes the released secrets stay readable (5 to 1440; default 60).
    #[schema(minimum = 5, maximum = 1440)]
    pub release_ttl_minutes: Option<i64>,
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct CustodianOut {
    pub email: String,
    pub index: i32,
    /// SHA-256 of the share bytes, hex: lets a custodian check they hold the right share.
    pub fingerprint: String,
    /// `age` or `pickup`.
    pub delivered: String,
    pub picked_up: bool,
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct ShareOut {
    pub email: String,
    /// The share, age-encrypted to the custodian's key. Shown once; Keyward keeps no copy.
    #[schema(value_type = String)]
    pub age_armored: Sensitive,
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct EscrowOut {
    pub id: String,
    pub name: String,
    pub teams: Vec<String>,
    pub threshold: i32,
    pub custodians: Vec<CustodianOut>,
    /// The 32-byte X25519 public key, base64.
    pub public_key: String,
    /// `active`, `spent` or `retired`.
    pub state: String,
    pub waiting_period_minutes: i32,
    pub release_ttl_minutes: i32,
    pub created_at: String,
    /// Only in the answer to the ceremony: the age-encrypted shares.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub shares: Vec<ShareOut>,
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct EscrowList {
    pub escrows: Vec<EscrowOut>,
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct PickedUp {
    /// `kwshare1-…`: keep it offline. It is not shown again.
    #[schema(value_type = String)]
    pub share: Sensitive,
    pub index: i32,
}

/// The escrow named in the path.
#[derive(IntoParams)]
#[into_params(names("id"), parameter_in = Path)]
pub struct EscrowId(
    /// The escrow's id.
    pub String,
);
