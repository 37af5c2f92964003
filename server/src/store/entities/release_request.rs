//! The `release_request` table, as the migrations make it (a sea-orm entity; queries are in `store`).

use sea_orm::entity::prelude::*;

/// A break-glass release: who asked and why, how far it is, and (once opened) the released
/// secrets sealed to the requester's release key.
#[derive(Clone, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "release_request")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub escrow_id: String,
    pub requester: String,
    pub reason: String,
    /// collecting | waiting | released | vetoed | expired
    pub state: String,
    /// The requester's release key (X25519 public key, base64).
    pub requester_key: String,
    pub shares_received: i32,
    pub threshold: i32,
    pub release_at: Option<DateTimeUtc>,
    pub expires_at: Option<DateTimeUtc>,
    pub opened_at: Option<DateTimeUtc>,
    pub opened: Option<Vec<u8>>,
    pub vetoed_by: Option<String>,
    pub created_at: DateTimeUtc,
    /// The row integrity MAC (see `store::integrity`); none on a row never MAC'ed.
    pub mac: Option<String>,
}

impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReleaseRequest")
            .field("id", &self.id)
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
