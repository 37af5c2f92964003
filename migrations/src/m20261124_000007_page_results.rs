//! One-time page results: what a dashboard form produced (a code shown once, a message), kept
//! sealed for a minute so the form can answer with a redirect and a reload repeats nothing.

use sea_orm_migration::async_trait;
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(PageResult::Table)
                .col(
                    ColumnDef::new(PageResult::IdHash)
                        .string_len(64)
                        .not_null()
                        .primary_key(),
                )
                .col(
                    ColumnDef::new(PageResult::SessionHash)
                        .string_len(64)
                        .not_null(),
                )
                .col(ColumnDef::new(PageResult::Sealed).binary().not_null())
                .col(
                    ColumnDef::new(PageResult::ExpiresAt)
                        .timestamp_with_time_zone()
                        .not_null(),
                )
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(PageResult::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum PageResult {
    Table,
    IdHash,
    SessionHash,
    Sealed,
    ExpiresAt,
}
