//! Row integrity: every row that carries authority gets a `mac` column, an HMAC under a key
//! derived from the keyring over the columns that decide something (see the server's
//! `store::integrity`). The migration cannot compute MACs (it has no keys): `keyward migrate`
//! and `serve`, which hold the key file, MAC the rows that exist right after applying it.
//! Running it again fails (the columns exist), so deleting its record cannot make the server
//! MAC rows planted since.

use sea_orm_migration::async_trait;
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The tables whose rows carry a MAC.
pub const COVERED: [&str; 12] = [
    "service_token",
    "session",
    "member",
    "role_grant",
    "team",
    "account",
    "escrow",
    "escrow_custodian",
    "escrow_seal",
    "release_request",
    "rotation_task",
    "notification",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for table in COVERED {
            m.alter_table(
                Table::alter()
                    .table(Alias::new(table))
                    .add_column(ColumnDef::new(Alias::new("mac")).string_len(120).null())
                    .to_owned(),
            )
            .await?;
        }
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for table in COVERED {
            m.alter_table(
                Table::alter()
                    .table(Alias::new(table))
                    .drop_column(Alias::new("mac"))
                    .to_owned(),
            )
            .await?;
        }
        Ok(())
    }
}
