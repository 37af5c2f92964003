//! The `device_grant` table, as the migrations make it (a sea-orm entity; queries are in
//! `store`).

use sea_orm::entity::prelude::*;

/// A device sign-in (RFC 8628) a command line waits on while its member approves it in the
/// browser.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "device_grant")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    /// SHA-256 of the device code.
    pub device_code_hash: String,
    /// Normalised: 8 letters, no dash.
    pub user_code: String,
    pub client_id: String,
    /// `pending`, `approved`, `denied` or `used`.
    pub state: String,
    /// The member who approved or denied it.
    pub member_id: Option<String>,
    /// The approving browser session's IdP authentication and IdP session id.
    pub auth_time: Option<DateTimeUtc>,
    pub idp_sid: Option<String>,
    pub interval_seconds: i32,
    pub last_poll_at: Option<DateTimeUtc>,
    /// Where the request came from, shown on the approval page.
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub created_at: DateTimeUtc,
    pub expires_at: DateTimeUtc,
    pub decided_at: Option<DateTimeUtc>,
    /// The row integrity MAC (see `store::integrity`).
    pub mac: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
