//! Device sign-in (RFC 8628) for the members' command-line client: the grants a `kw login`
//! waits on while its member approves in the browser, and the kind of each session (a
//! browser's cookie, or a command line's `kwcli_` token).

use sea_orm_migration::async_trait;
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

fn maybe_time(col: impl IntoIden) -> ColumnDef {
    ColumnDef::new(col)
        .timestamp_with_time_zone()
        .null()
        .to_owned()
}

fn time(col: impl IntoIden) -> ColumnDef {
    ColumnDef::new(col)
        .timestamp_with_time_zone()
        .not_null()
        .to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // browser | cli; a session's MAC covers it only when it is not `browser`, so the rows
        // MAC'ed before it existed still verify.
        m.alter_table(
            Table::alter()
                .table(Alias::new("session"))
                .add_column(
                    ColumnDef::new(Alias::new("client"))
                        .string_len(16)
                        .not_null()
                        .default("browser"),
                )
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(DeviceGrant::Table)
                .col(
                    ColumnDef::new(DeviceGrant::Id)
                        .string_len(36)
                        .not_null()
                        .primary_key(),
                )
                // SHA-256 of the device code the client polls with.
                .col(
                    ColumnDef::new(DeviceGrant::DeviceCodeHash)
                        .string_len(64)
                        .not_null()
                        .unique_key(),
                )
                .col(
                    ColumnDef::new(DeviceGrant::UserCode)
                        .string_len(8)
                        .not_null(),
                )
                .col(
                    ColumnDef::new(DeviceGrant::ClientId)
                        .string_len(32)
                        .not_null(),
                )
                // pending | approved | denied | used
                .col(ColumnDef::new(DeviceGrant::State).string_len(16).not_null())
                .col(ColumnDef::new(DeviceGrant::MemberId).string_len(36).null())
                // The approving browser session's IdP authentication and session id.
                .col(maybe_time(DeviceGrant::AuthTime))
                .col(ColumnDef::new(DeviceGrant::IdpSid).text().null())
                .col(
                    ColumnDef::new(DeviceGrant::IntervalSeconds)
                        .integer()
                        .not_null(),
                )
                .col(maybe_time(DeviceGrant::LastPollAt))
                .col(ColumnDef::new(DeviceGrant::Ip).text().null())
                .col(ColumnDef::new(DeviceGrant::UserAgent).text().null())
                .col(time(DeviceGrant::CreatedAt))
                .col(time(DeviceGrant::ExpiresAt))
                .col(maybe_time(DeviceGrant::DecidedAt))
                .col(ColumnDef::new(DeviceGrant::Mac).text().null())
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_device_grant_user_code")
                .table(DeviceGrant::Table)
                .col(DeviceGrant::UserCode)
                .to_owned(),
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(DeviceGrant::Table).to_owned())
            .await?;
        m.alter_table(
            Table::alter()
                .table(Alias::new("session"))
                .drop_column(Alias::new("client"))
                .to_owned(),
        )
        .await
    }
}

#[derive(DeriveIden)]
enum DeviceGrant {
    Table,
    Id,
    DeviceCodeHash,
    UserCode,
    ClientId,
    State,
    MemberId,
    AuthTime,
    IdpSid,
    IntervalSeconds,
    LastPollAt,
    Ip,
    UserAgent,
    CreatedAt,
    ExpiresAt,
    DecidedAt,
    Mac,
}
