//! The `notification` table, as the migrations make it (a sea-orm entity; queries are in `store`).

use sea_orm::entity::prelude::*;

/// One webhook's copy of an escalation, waiting for delivery or delivered (the outbox).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "notification")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub task_id: String,
    /// A digest of the webhook's URL.
    pub hook: String,
    /// The JSON body sent (the task's account, team and deadline; never a secret).
    pub body: String,
    /// Failed tries so far.
    pub attempts: i32,
    pub next_attempt_at: DateTimeUtc,
    /// The process delivering it, and until when nobody else may.
    pub lease_owner: Option<String>,
    pub lease_until: Option<DateTimeUtc>,
    pub delivered_at: Option<DateTimeUtc>,
    pub given_up_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    /// The row integrity MAC (see `store::integrity`); none on a row never MAC'ed.
    pub mac: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
