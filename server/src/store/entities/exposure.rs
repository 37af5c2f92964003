//! The `exposure` table, as the migrations make it (a sea-orm entity; queries are in `store`).

use sea_orm::entity::prelude::*;

/// One secret an actor wrote, imported, exported, revealed, checked out or was released: the
/// exposure ledger, written in the transaction of the audit event `seq` that proves it, and
/// kept past audit retention while the secret is current.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "exposure")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    /// The audit actor: `member:ID` or `token:ID`.
    pub actor: String,
    pub account_id: String,
    /// `totp`, `hotp`, `password` or `backup`.
    pub secret_kind: String,
    /// The secret version's id, or the backup-code generation's.
    pub secret_id: String,
    /// The secret's version, or the generation's number.
    pub version: i32,
    /// A backup code's position.
    pub position: Option<i32>,
    /// An HOTP code's counter.
    pub counter: Option<i64>,
    /// `write`, `import`, `export`, `reveal`, `checkout` or `break_glass`.
    pub how: String,
    pub seq: i64,
    pub at: DateTimeUtc,
    /// The row integrity MAC (see `store::integrity`).
    pub mac: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
