//! The `backup_code` table, as the migrations make it (a sea-orm entity; queries are in `store`).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "backup_code")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub generation_id: String,
    pub position: i32,
    pub ciphertext: Vec<u8>,
    pub lookup_hmac: String,
    pub state: String,
    pub state_by: Option<String>,
    pub state_at: Option<DateTimeUtc>,
    pub checked_out_by: Option<String>,
    pub checked_out_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
