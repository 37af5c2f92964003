//! The `audit_anchor` table, as the migrations make it (a sea-orm entity; queries are in `store`).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "audit_anchor")]
pub struct Model {
    /// The last archived (removed) event; the chain resumes at `seq + 1`.
    #[sea_orm(primary_key, auto_increment = false)]
    pub seq: i64,
    /// That event's hash: the `prev_hash` of the first event kept.
    pub hash: String,
    /// The first event in the archive file.
    pub first_seq: i64,
    /// The archive file's name (in `audit.archive_dir`).
    pub archive: String,
    pub archive_sha256: String,
    pub at: DateTimeUtc,
    pub key_id: String,
    pub signature: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
