//! The `escrow_custodian` table, as the migrations make it (a sea-orm entity; queries are in `store`).

use sea_orm::entity::prelude::*;

/// A custodian of an escrow: where their share went and its fingerprint (never the share; a
/// share waiting for pickup is kept sealed until then).
#[derive(Clone, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "escrow_custodian")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub escrow_id: String,
    pub share_index: i32,
    pub email: String,
    /// SHA-256 of the share bytes, hex.
    pub fingerprint: String,
    /// `age` (returned once, encrypted) or `pickup`.
    pub delivery: String,
    pub pending_share: Option<Vec<u8>>,
    pub picked_up_at: Option<DateTimeUtc>,
    /// The member who holds the share (escrows made before custodians were members: none).
    pub member_id: Option<String>,
    /// The age recipient the share is encrypted to (the member's, at the ceremony), if any.
    pub age_recipient: Option<String>,
    /// When the custodian proved they hold their share.
    pub confirmed_at: Option<DateTimeUtc>,
    /// The row integrity MAC (see `store::integrity`); none on a row never MAC'ed.
    pub mac: Option<String>,
}

impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EscrowCustodian")
            .field("id", &self.id)
            .field("escrow_id", &self.escrow_id)
            .field("share_index", &self.share_index)
            .finish_non_exhaustive()
    }
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
