//! The `incident` table, as the migrations make it (a sea-orm entity; queries are in `store`).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "incident")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub account_id: String,
    pub team_id: String,
    pub runbook: String,
    pub state: String,
    pub step: String,
    pub answers: i32,
    /// The backup code this incident checked out last (never the code).
    pub backup_generation: Option<i32>,
    pub backup_position: Option<i32>,
    pub note: Option<String>,
    pub summary: Option<String>,
    pub opened_by: String,
    pub opened_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    pub closed_by: Option<String>,
    pub closed_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
