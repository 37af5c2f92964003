//! The `secret` table, as the migrations make it (a sea-orm entity; queries are in `store`).

use sea_orm::entity::prelude::*;

/// One version of a secret. Only ciphertext and clear metadata; never the value.
#[derive(Clone, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "secret")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub account_id: String,
    pub kind: String,
    pub version: i32,
    /// Clear JSON metadata (algorithm, digits, period, issuer, label).
    pub params: String,
    pub hotp_counter: Option<i64>,
    pub ciphertext: Vec<u8>,
    pub wrapped_dek: Vec<u8>,
    pub kek_id: String,
    pub created_by: String,
    pub created_at: DateTimeUtc,
    pub superseded_at: Option<DateTimeUtc>,
    /// HMAC of the value under the fingerprint key (`crypto::Keyring::fingerprint`); none on
    /// versions stored before fingerprints, which are compared by opening them.
    pub fingerprint: Option<String>,
}

impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Secret")
            .field("id", &self.id)
            .field("kind", &self.kind)
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
