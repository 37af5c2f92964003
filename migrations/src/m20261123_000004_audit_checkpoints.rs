//! Signed checkpoints of the audit chain head, so truncation and full rewrites show.

use sea_orm_migration::async_trait;
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(AuditCheckpoint::Table)
                .col(
                    ColumnDef::new(AuditCheckpoint::Seq)
                        .big_integer()
                        .not_null()
                        .primary_key(),
                )
                .col(
                    ColumnDef::new(AuditCheckpoint::HeadHash)
                        .string_len(64)
                        .not_null(),
                )
                .col(
                    ColumnDef::new(AuditCheckpoint::At)
                        .timestamp_with_time_zone()
                        .not_null(),
                )
                .col(
                    ColumnDef::new(AuditCheckpoint::KeyId)
                        .string_len(64)
                        .not_null(),
                )
                .col(
                    ColumnDef::new(AuditCheckpoint::Signature)
                        .string_len(128)
                        .not_null(),
                )
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(AuditCheckpoint::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum AuditCheckpoint {
    Table,
    Seq,
    HeadHash,
    At,
    KeyId,
    Signature,
}
