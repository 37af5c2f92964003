//! The `escrow_seal` table, as the migrations make it (a sea-orm entity; queries are in `store`).

use sea_orm::entity::prelude::*;

/// A DEK (of a secret version or a backup-code generation) sealed to an escrow's public key.
#[derive(Clone, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "escrow_seal")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub escrow_id: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub owner_id: String,
    /// `secret` or `backup`.
    pub owner_kind: String,
    pub account_id: String,
    pub sealed: Vec<u8>,
    pub created_at: DateTimeUtc,
    /// The row integrity MAC (see `store::integrity`); none on a row never MAC'ed.
    pub mac: Option<String>,
}

impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EscrowSeal")
            .field("escrow_id", &self.escrow_id)
            .field("owner_id", &self.owner_id)
            .finish_non_exhaustive()
    }
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
