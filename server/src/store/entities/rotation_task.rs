//! The `rotation_task` table, as the migrations make it (a sea-orm entity; queries are in `store`).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "rotation_task")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub account_id: String,
    pub secret_kind: String,
    pub secret_id: Option<String>,
    pub generation_id: Option<String>,
    pub reason: String,
    pub due_at: Option<DateTimeUtc>,
    pub assignee: Option<String>,
    pub state: String,
    pub created_at: DateTimeUtc,
    pub completed_by: Option<String>,
    pub completed_at: Option<DateTimeUtc>,
    pub resulting_version: Option<i32>,
    /// The departed member whose exposure opened the task.
    pub member_id: Option<String>,
    pub opened_by: Option<String>,
    /// When the overdue notification was sent (once).
    pub notified_at: Option<DateTimeUtc>,
    /// The row integrity MAC (see `store::integrity`); none on a row never MAC'ed.
    pub mac: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
