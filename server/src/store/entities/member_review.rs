//! The `member_review` table, as the migrations make it (a sea-orm entity; queries are in
//! `store`).

use sea_orm::entity::prelude::*;

/// A departure the IdP implied (the member's groups no longer give a role) or a long absence,
/// waiting for a security admin to offboard the member or keep them.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "member_review")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub member_id: String,
    /// `groups_lost` or `idle`.
    pub reason: String,
    /// `open`, `kept` or `offboarded`.
    pub state: String,
    pub opened_at: DateTimeUtc,
    pub closed_by: Option<String>,
    pub closed_at: Option<DateTimeUtc>,
    /// The row integrity MAC (see `store::integrity`).
    pub mac: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
