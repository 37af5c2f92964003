//! The `member` table, as the migrations make it (a sea-orm entity; queries are in `store`).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "member")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub issuer: String,
    pub subject: String,
    pub email: Option<String>,
    pub name: Option<String>,
    pub status: String,
    pub departed_at: Option<DateTimeUtc>,
    pub departed_reason: Option<String>,
    pub departed_by: Option<String>,
    pub offboard_policy: Option<String>,
    /// SCIM: the IdP's id for this user.
    pub external_id: Option<String>,
    /// SCIM: the userName the IdP gave (the email).
    pub user_name: Option<String>,
    /// How the member first appeared: `sso` (a sign-in) or `scim` (provisioned).
    pub source: Option<String>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    /// The member's own age public key (`age1…`), enrolled by them: their break-glass
    /// shares are encrypted to it.
    pub age_recipient: Option<String>,
    /// The row integrity MAC (see `store::integrity`); none on a row never MAC'ed.
    pub mac: Option<String>,
    /// The last sign-in (none before the exposure-ledger migration); not MAC'ed: it decides
    /// only when an idle member gets a review.
    pub last_sign_in_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
