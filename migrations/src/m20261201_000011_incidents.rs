//! Incidents: an account's run through a runbook — which runbook, where it stands, the
//! backup code it checked out last (position and generation, never the code), and how it
//! ended. Its timeline is the audit trail (events whose target is the incident).

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

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(Incident::Table)
                .col(id(Incident::Id).primary_key())
                .col(id(Incident::AccountId))
                .col(id(Incident::TeamId))
                .col(ColumnDef::new(Incident::Runbook).string_len(64).not_null())
                .col(ColumnDef::new(Incident::State).string_len(16).not_null())
                .col(ColumnDef::new(Incident::Step).string_len(64).not_null())
                // Answers so far, to number them; bumped by every answer.
                .col(ColumnDef::new(Incident::Answers).integer().not_null())
                .col(ColumnDef::new(Incident::BackupGeneration).integer().null())
                .col(ColumnDef::new(Incident::BackupPosition).integer().null())
                .col(ColumnDef::new(Incident::Note).text().null())
                .col(ColumnDef::new(Incident::Summary).text().null())
                .col(ColumnDef::new(Incident::OpenedBy).string_len(80).not_null())
                .col(time(Incident::OpenedAt))
                .col(time(Incident::UpdatedAt))
                .col(ColumnDef::new(Incident::ClosedBy).string_len(80).null())
                .col(
                    ColumnDef::new(Incident::ClosedAt)
                        .timestamp_with_time_zone()
                        .null(),
                )
                .foreign_key(
                    ForeignKey::create()
                        .from(Incident::Table, Incident::AccountId)
                        .to(Account::Table, Account::Id),
                )
                .to_owned(),
        )
        .await?;
        for (name, col) in [
            ("ix_incident_state", Incident::State),
            ("ix_incident_account", Incident::AccountId),
        ] {
            m.create_index(
                Index::create()
                    .name(name)
                    .table(Incident::Table)
                    .col(col)
                    .to_owned(),
            )
            .await?;
        }
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(Incident::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum Incident {
    Table,
    Id,
    AccountId,
    TeamId,
    Runbook,
    State,
    Step,
    Answers,
    BackupGeneration,
    BackupPosition,
    Note,
    Summary,
    OpenedBy,
    OpenedAt,
    UpdatedAt,
    ClosedBy,
    ClosedAt,
}

#[derive(DeriveIden)]
enum Account {
    Table,
    Id,
}
