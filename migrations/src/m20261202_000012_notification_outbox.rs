//! The notification outbox: each `[[notify]]` webhook's copy of an overdue task's escalation,
//! written in the escalation's own transaction and delivered from here. A replica that dies
//! after escalating, or in the middle of a delivery, leaves the notification to another
//! replica (once its lease ends) instead of losing it.

use sea_orm_migration::async_trait;
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

fn id(col: impl IntoIden) -> ColumnDef {
    ColumnDef::new(col).string_len(36).not_null().to_owned()
}

fn time(col: impl IntoIden) -> ColumnDef {
    ColumnDef::new(col)
        .timestamp_with_time_zone()
        .not_null()
        .to_owned()
}

fn maybe_time(col: impl IntoIden) -> ColumnDef {
    ColumnDef::new(col)
        .timestamp_with_time_zone()
        .null()
        .to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(Notification::Table)
                .col(id(Notification::Id).primary_key())
                .col(id(Notification::TaskId))
                // Which webhook: a digest of its URL (the URL may hold a token).
                .col(ColumnDef::new(Notification::Hook).string_len(64).not_null())
                .col(ColumnDef::new(Notification::Body).text().not_null())
                // Failed tries so far.
                .col(ColumnDef::new(Notification::Attempts).integer().not_null())
                .col(time(Notification::NextAttemptAt))
                // The process delivering it, until when.
                .col(
                    ColumnDef::new(Notification::LeaseOwner)
                        .string_len(80)
                        .null(),
                )
                .col(maybe_time(Notification::LeaseUntil))
                .col(maybe_time(Notification::DeliveredAt))
                .col(maybe_time(Notification::GivenUpAt))
                .col(time(Notification::CreatedAt))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_notification_due")
                .table(Notification::Table)
                .col(Notification::DeliveredAt)
                .col(Notification::NextAttemptAt)
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(Notification::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum Notification {
    Table,
    Id,
    TaskId,
    Hook,
    Body,
    Attempts,
    NextAttemptAt,
    LeaseOwner,
    LeaseUntil,
    DeliveredAt,
    GivenUpAt,
    CreatedAt,
}
