//! The `escrow` table, as the migrations make it (a sea-orm entity; queries are in `store`).

use sea_orm::entity::prelude::*;

/// A break-glass escrow: its public key and scope. The private key is never stored.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "escrow")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub name: String,
    /// JSON list of team slugs, or `["*"]`.
    pub teams: String,
    pub threshold: i32,
    pub custodians: i32,
    /// The X25519 public key, base64.
    pub public_key: String,
    pub state: String,
    pub waiting_period_minutes: i32,
    pub release_ttl_minutes: i32,
    pub created_by: String,
    pub created_at: DateTimeUtc,
    pub spent_at: Option<DateTimeUtc>,
    /// A custodian departed: the escrow still works, but a new ceremony is due.
    pub needs_ceremony: bool,
    /// The row integrity MAC (see `store::integrity`); none on a row never MAC'ed.
    pub mac: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
