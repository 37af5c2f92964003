//! The `account` table, as the migrations make it (a sea-orm entity; queries are in `store`).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "account")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub team_id: String,
    pub platform: String,
    pub handle: String,
    /// The handle's uniqueness key (see `domain::Handle::key`).
    pub handle_key: Option<String>,
    pub login_url: Option<String>,
    pub notes: String,
    pub status: String,
    /// `open` (a role is enough) or `approval` (reveals also need an approved grant).
    pub access: String,
    /// Different approvers a request needs under `approval`: 1 or 2.
    pub approvers_needed: i32,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    /// The row integrity MAC (see `store::integrity`); none on a row never MAC'ed.
    pub mac: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
