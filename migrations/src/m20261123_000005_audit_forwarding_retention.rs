//! Forwarding cursors (one per configured SIEM destination, with a lease so one replica
//! sends at a time) and retention anchors (where the chain resumes after old events were
//! archived and removed).

use sea_orm_migration::async_trait;
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(AuditForwardCursor::Table)
                .col(
                    ColumnDef::new(AuditForwardCursor::Name)
                        .string_len(64)
                        .not_null()
                        .primary_key(),
                )
                .col(
                    ColumnDef::new(AuditForwardCursor::Seq)
                        .big_integer()
                        .not_null(),
                )
                .col(ColumnDef::new(AuditForwardCursor::LeaseOwner).string_len(64))
                .col(ColumnDef::new(AuditForwardCursor::LeaseUntil).timestamp_with_time_zone())
                .col(
                    ColumnDef::new(AuditForwardCursor::Failures)
                        .integer()
                        .not_null()
                        .default(0),
                )
                .col(ColumnDef::new(AuditForwardCursor::LastError).string_len(500))
                .col(ColumnDef::new(AuditForwardCursor::LastAttemptAt).timestamp_with_time_zone())
                .col(ColumnDef::new(AuditForwardCursor::DeliveredAt).timestamp_with_time_zone())
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(AuditAnchor::Table)
                .col(
                    ColumnDef::new(AuditAnchor::Seq)
                        .big_integer()
                        .not_null()
                        .primary_key(),
                )
                .col(ColumnDef::new(AuditAnchor::Hash).string_len(64).not_null())
                .col(
                    ColumnDef::new(AuditAnchor::FirstSeq)
                        .big_integer()
                        .not_null(),
                )
                .col(
                    ColumnDef::new(AuditAnchor::Archive)
                        .string_len(500)
                        .not_null(),
                )
                .col(
                    ColumnDef::new(AuditAnchor::ArchiveSha256)
                        .string_len(64)
                        .not_null(),
                )
                .col(
                    ColumnDef::new(AuditAnchor::At)
                        .timestamp_with_time_zone()
                        .not_null(),
                )
                .col(ColumnDef::new(AuditAnchor::KeyId).string_len(64).not_null())
                .col(
                    ColumnDef::new(AuditAnchor::Signature)
                        .string_len(128)
                        .not_null(),
                )
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(AuditAnchor::Table).to_owned())
            .await?;
        m.drop_table(Table::drop().table(AuditForwardCursor::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum AuditForwardCursor {
    Table,
    Name,
    Seq,
    LeaseOwner,
    LeaseUntil,
    Failures,
    LastError,
    LastAttemptAt,
    DeliveredAt,
}

#[derive(DeriveIden)]
enum AuditAnchor {
    Table,
    Seq,
    Hash,
    FirstSeq,
    Archive,
    ArchiveSha256,
    At,
    KeyId,
    Signature,
}
