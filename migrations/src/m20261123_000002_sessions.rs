//! Server-side browser sessions and in-flight OIDC logins.

use sea_orm_migration::async_trait;
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(Session::Table)
                .col(
                    ColumnDef::new(Session::IdHash)
                        .string_len(64)
                        .not_null()
                        .primary_key(),
                )
                .col(ColumnDef::new(Session::MemberId).string_len(36).not_null())
                .col(
                    ColumnDef::new(Session::CreatedAt)
                        .timestamp_with_time_zone()
                        .not_null(),
                )
                .col(
                    ColumnDef::new(Session::LastSeenAt)
                        .timestamp_with_time_zone()
                        .not_null(),
                )
                .col(
                    ColumnDef::new(Session::AuthTime)
                        .timestamp_with_time_zone()
                        .not_null(),
                )
                .col(
                    ColumnDef::new(Session::ExpiresAt)
                        .timestamp_with_time_zone()
                        .not_null(),
                )
                .col(ColumnDef::new(Session::Ip).string_len(64).null())
                .col(ColumnDef::new(Session::UserAgent).string_len(300).null())
                .foreign_key(
                    ForeignKey::create()
                        .from(Session::Table, Session::MemberId)
                        .to(Member::Table, Member::Id),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_session_member")
                .table(Session::Table)
                .col(Session::MemberId)
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(LoginFlow::Table)
                .col(
                    ColumnDef::new(LoginFlow::IdHash)
                        .string_len(64)
                        .not_null()
                        .primary_key(),
                )
                .col(ColumnDef::new(LoginFlow::State).string_len(128).not_null())
                .col(ColumnDef::new(LoginFlow::Sealed).binary().not_null())
                .col(
                    ColumnDef::new(LoginFlow::ReturnTo)
                        .string_len(2048)
                        .not_null(),
                )
                .col(
                    ColumnDef::new(LoginFlow::CreatedAt)
                        .timestamp_with_time_zone()
                        .not_null(),
                )
                .col(
                    ColumnDef::new(LoginFlow::ExpiresAt)
                        .timestamp_with_time_zone()
                        .not_null(),
                )
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(LoginFlow::Table).to_owned())
            .await?;
        m.drop_table(Table::drop().table(Session::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum Session {
    Table,
    IdHash,
    MemberId,
    CreatedAt,
    LastSeenAt,
    AuthTime,
    ExpiresAt,
    Ip,
    UserAgent,
}

#[derive(DeriveIden)]
enum LoginFlow {
    Table,
    IdHash,
    State,
    Sealed,
    ReturnTo,
    CreatedAt,
    ExpiresAt,
}

#[derive(DeriveIden)]
enum Member {
    Table,
    Id,
}
