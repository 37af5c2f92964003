//! Key check values: one row per key id (each KEK, and the root key), recording a one-way
//! fingerprint of its material, so a key file with the right ids but other keys is refused.

use sea_orm_migration::async_trait;
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(KeyCheck::Table)
                .col(
                    ColumnDef::new(KeyCheck::KeyId)
                        .string_len(32)
                        .not_null()
                        .primary_key(),
                )
                .col(
                    ColumnDef::new(KeyCheck::CheckValue)
                        .string_len(64)
                        .not_null(),
                )
                .col(
                    ColumnDef::new(KeyCheck::RecordedAt)
                        .timestamp_with_time_zone()
                        .not_null(),
                )
                .to_owned(),
        )
        .await?;
        // Proving a key and readiness look for one DEK under a KEK id: an index, not a scan.
        m.create_index(
            Index::create()
                .name("ix_generation_kek")
                .table(BackupCodeGeneration::Table)
                .col(BackupCodeGeneration::KekId)
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_index(
            Index::drop()
                .name("ix_generation_kek")
                .table(BackupCodeGeneration::Table)
                .to_owned(),
        )
        .await?;
        m.drop_table(Table::drop().table(KeyCheck::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum KeyCheck {
    Table,
    KeyId,
    CheckValue,
    RecordedAt,
}

#[derive(DeriveIden)]
enum BackupCodeGeneration {
    Table,
    KekId,
}
