//! The `access_request` table, as the migrations make it (a sea-orm entity; queries are in
//! `store`).

use sea_orm::entity::prelude::*;

/// A member's request for time-boxed access to an account under `approval`; once approved,
/// the grant itself.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "access_request")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub account_id: String,
    /// The member who asked, by id.
    pub requester: String,
    /// A JSON array of the actions asked for (`totp.reveal`, `backup.checkout`…).
    pub actions: String,
    pub minutes: i32,
    pub reason: String,
    /// `pending`, `approved`, `denied`, `expired`, `revoked` or `cancelled`.
    pub state: String,
    /// How many different approvers it needs (the account's policy when it was asked).
    pub approvers_needed: i32,
    /// A JSON array of `{by, at, comment}`, approvers by member id (or `cli`).
    pub approvals: String,
    /// When the grant started (the last approval) and ends.
    pub starts_at: Option<DateTimeUtc>,
    pub expires_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    /// When and by whom it was denied, revoked, cancelled or expired.
    pub ended_at: Option<DateTimeUtc>,
    pub ended_by: Option<String>,
    /// The row integrity MAC (see `store::integrity`).
    pub mac: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
