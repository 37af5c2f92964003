//! Access requests: an account's access policy (`open`, or `approval` with one or two
//! approvers) and the requests members make for time-boxed, approved access to it. A request's
//! row is the grant once approved: MAC'ed like the other rows that decide something, so none
//! can be planted, widened or extended in the database.

use sea_orm_migration::async_trait;
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

fn id(col: impl IntoIden) -> ColumnDef {
    ColumnDef::new(col).string_len(36).not_null().to_owned()
}

fn text(col: impl IntoIden) -> ColumnDef {
    ColumnDef::new(col).text().not_null().to_owned()
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
        // open | approval; an account's row MAC covers them only when they differ from the
        // defaults, so the rows MAC'ed before this migration still verify.
        m.alter_table(
            Table::alter()
                .table(Alias::new("account"))
                .add_column(
                    ColumnDef::new(Alias::new("access"))
                        .string_len(16)
                        .not_null()
                        .default("open"),
                )
                .to_owned(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table(Alias::new("account"))
                .add_column(
                    ColumnDef::new(Alias::new("approvers_needed"))
                        .integer()
                        .not_null()
                        .default(1),
                )
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(AccessRequest::Table)
                .col(id(AccessRequest::Id).primary_key())
                .col(id(AccessRequest::AccountId))
                // The member who asked (by id).
                .col(id(AccessRequest::Requester))
                // A JSON array of actions, e.g. ["totp.reveal"].
                .col(text(AccessRequest::Actions))
                .col(ColumnDef::new(AccessRequest::Minutes).integer().not_null())
                .col(text(AccessRequest::Reason))
                // pending | approved | denied | expired | revoked | cancelled
                .col(
                    ColumnDef::new(AccessRequest::State)
                        .string_len(16)
                        .not_null(),
                )
                .col(
                    ColumnDef::new(AccessRequest::ApproversNeeded)
                        .integer()
                        .not_null(),
                )
                // A JSON array of {by, at, comment}: approvers by member id.
                .col(text(AccessRequest::Approvals))
                .col(maybe_time(AccessRequest::StartsAt))
                .col(maybe_time(AccessRequest::ExpiresAt))
                .col(
                    ColumnDef::new(AccessRequest::CreatedAt)
                        .timestamp_with_time_zone()
                        .not_null(),
                )
                .col(maybe_time(AccessRequest::EndedAt))
                // Who denied, revoked or cancelled it (an audit actor), or `system`.
                .col(ColumnDef::new(AccessRequest::EndedBy).text().null())
                .col(ColumnDef::new(AccessRequest::Mac).text().null())
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_access_request_grant")
                .table(AccessRequest::Table)
                .col(AccessRequest::AccountId)
                .col(AccessRequest::Requester)
                .col(AccessRequest::State)
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_access_request_state")
                .table(AccessRequest::Table)
                .col(AccessRequest::State)
                .col(AccessRequest::CreatedAt)
                .to_owned(),
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(AccessRequest::Table).to_owned())
            .await?;
        for column in ["approvers_needed", "access"] {
            m.alter_table(
                Table::alter()
                    .table(Alias::new("account"))
                    .drop_column(Alias::new(column))
                    .to_owned(),
            )
            .await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden)]
enum AccessRequest {
    Table,
    Id,
    AccountId,
    Requester,
    Actions,
    Minutes,
    Reason,
    State,
    ApproversNeeded,
    Approvals,
    StartsAt,
    ExpiresAt,
    CreatedAt,
    EndedAt,
    EndedBy,
    Mac,
}
