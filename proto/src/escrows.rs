//! Break-glass escrows: a member's own age key, the ceremony, fetching and confirming a share,
//! retiring an escrow.

use crate::Sensitive;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// A custodian: a member, by id or email (a string), or as an object.
#[derive(Serialize, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum CustodianIn {
    Named(String),
    Object(CustodianObject),
}

#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CustodianObject {
    pub member: Option<String>,
    pub email: Option<String>,
    /// Refused (422 `recipient_from_operator`): a custodian's age key is the one they
    /// enrolled themselves (`PUT /api/v1/me/age-recipient`).
    pub age_recipient: Option<String>,
}

impl CustodianIn {
    /// The member id or email named, and whether an age key was given with it.
    pub fn named(&self) -> (String, bool) {
        match self {
            Self::Named(who) => (who.clone(), false),
            Self::Object(o) => (
                o.member
                    .clone()
                    .or_else(|| o.email.clone())
                    .unwrap_or_default(),
                o.age_recipient.is_some(),
            ),
        }
    }
}

/// A member's own age public key.
#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetAgeRecipient {
    /// `age1…`, as `age-keygen` prints it (the public key, never the identity).
    pub age_recipient: String,
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct AgeRecipientOut {
    pub member: String,
    pub age_recipient: String,
    /// The first 8 bytes of its SHA-256, hex: what the escrow's audit event records.
    pub fingerprint: String,
}

/// A custodian proving they hold their share.
#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConfirmShare {
    /// `kwshare1-…`: checked against its fingerprint, then forgotten.
    #[schema(value_type = String)]
    pub share: Sensitive,
}

#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RetireEscrow {
    #[schema(min_length = 3, max_length = 500)]
    pub justification: String,
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
    /// The member holding the share (none on escrows made before custodians were members).
    pub member: Option<String>,
    pub email: String,
    pub index: i32,
    /// SHA-256 of the share bytes, hex: lets a custodian check they hold the right share.
    pub fingerprint: String,
    /// `age` (encrypted to the key the custodian enrolled) or `pickup` (plain, after their
    /// own fresh sign-in).
    pub delivered: String,
    /// The custodian fetched their share.
    pub picked_up: bool,
    /// The custodian proved they hold it.
    pub confirmed: bool,
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
    /// `pending` (until every custodian confirmed), `active`, `spent` or `retired`.
    pub state: String,
    /// A custodian departed: a new ceremony is due.
    pub needs_ceremony: bool,
    pub waiting_period_minutes: i32,
    pub release_ttl_minutes: i32,
    pub created_at: String,
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct EscrowList {
    pub escrows: Vec<EscrowOut>,
}

/// A custodian's own share, handed out once.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct FetchedShare {
    pub index: i32,
    /// The share, age-encrypted to the key the custodian enrolled (decrypt with `age -d`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub age_armored: Option<Sensitive>,
    /// `kwshare1-…`, for a custodian with no enrolled key: keep it offline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub share: Option<Sensitive>,
}

/// The escrow named in the path.
#[derive(IntoParams)]
#[into_params(names("id"), parameter_in = Path)]
pub struct EscrowId(
    /// The escrow's id.
    pub String,
);
