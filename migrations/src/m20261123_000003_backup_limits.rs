//! Backup codes remember who checked each one out (exposure tracking survives the outcome
//! report); reveal rate limits are counted in the database so they hold across replicas.

use sea_orm_migration::async_trait;
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // SQLite adds one column per ALTER TABLE.
        m.alter_table(
            Table::alter()
                .table(BackupCode::Table)
                .add_column(
                    ColumnDef::new(BackupCode::CheckedOutBy)
                        .string_len(80)
                        .null(),
                )
                .to_owned(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table(BackupCode::Table)
                .add_column(
                    ColumnDef::new(BackupCode::CheckedOutAt)
                        .timestamp_with_time_zone()
                        .null(),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_backup_code_state_at")
                .table(BackupCode::Table)
                .col(BackupCode::State)
                .col(BackupCode::StateAt)
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(RateCounter::Table)
                .col(ColumnDef::new(RateCounter::Key).string_len(200).not_null())
                .col(
                    ColumnDef::new(RateCounter::WindowStart)
                        .big_integer()
                        .not_null(),
                )
                .col(ColumnDef::new(RateCounter::Hits).integer().not_null())
                .primary_key(
                    Index::create()
                        .col(RateCounter::Key)
                        .col(RateCounter::WindowStart),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_rate_counter_window")
                .table(RateCounter::Table)
                .col(RateCounter::WindowStart)
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(RateCounter::Table).to_owned())
            .await?;
        m.drop_index(
            Index::drop()
                .name("ix_backup_code_state_at")
                .table(BackupCode::Table)
                .to_owned(),
        )
        .await?;
        for column in [BackupCode::CheckedOutAt, BackupCode::CheckedOutBy] {
            m.alter_table(
                Table::alter()
                    .table(BackupCode::Table)
                    .drop_column(column)
                    .to_owned(),
            )
            .await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden)]
enum BackupCode {
    Table,
    CheckedOutBy,
    CheckedOutAt,
    State,
    StateAt,
}

#[derive(DeriveIden)]
enum RateCounter {
    Table,
    Key,
    WindowStart,
    Hits,
}
