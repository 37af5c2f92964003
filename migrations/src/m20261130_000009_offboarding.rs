//! Offboarding: why and by whom a member departed, members provisioned by SCIM before their
//! first sign-in, service tokens bound to a member (revoked with them), and rotation tasks that
//! name the member whose exposure opened them and whether their escalation was sent.
//! Sessions keep the IdP's session id (`sid`), so OIDC Back-Channel Logout can end them.
//! The `low-codes` reason becomes `low_codes`, the name the API uses.

use sea_orm_migration::async_trait;
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// SQLite takes one column per ALTER TABLE.
async fn add(
    m: &SchemaManager<'_>,
    table: impl IntoIden + Copy + 'static,
    col: ColumnDef,
) -> Result<(), DbErr> {
    let mut col = col;
    m.alter_table(Table::alter().table(table).add_column(&mut col).to_owned())
        .await
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        add(
            m,
            Member::Table,
            ColumnDef::new(Member::DepartedReason)
                .text()
                .null()
                .to_owned(),
        )
        .await?;
        add(
            m,
            Member::Table,
            ColumnDef::new(Member::DepartedBy)
                .string_len(80)
                .null()
                .to_owned(),
        )
        .await?;
        add(
            m,
            Member::Table,
            ColumnDef::new(Member::OffboardPolicy)
                .string_len(16)
                .null()
                .to_owned(),
        )
        .await?;
        // SCIM: the IdP's own id for the user, and the userName it gave (the email).
        add(
            m,
            Member::Table,
            ColumnDef::new(Member::ExternalId).text().null().to_owned(),
        )
        .await?;
        add(
            m,
            Member::Table,
            ColumnDef::new(Member::UserName).text().null().to_owned(),
        )
        .await?;
        add(
            m,
            Member::Table,
            ColumnDef::new(Member::Source)
                .string_len(16)
                .null()
                .to_owned(),
        )
        .await?;
        add(
            m,
            ServiceToken::Table,
            ColumnDef::new(ServiceToken::MemberId)
                .string_len(36)
                .null()
                .to_owned(),
        )
        .await?;
        add(
            m,
            RotationTask::Table,
            ColumnDef::new(RotationTask::MemberId)
                .string_len(36)
                .null()
                .to_owned(),
        )
        .await?;
        add(
            m,
            RotationTask::Table,
            ColumnDef::new(RotationTask::OpenedBy)
                .string_len(80)
                .null()
                .to_owned(),
        )
        .await?;
        add(
            m,
            RotationTask::Table,
            ColumnDef::new(RotationTask::NotifiedAt)
                .timestamp_with_time_zone()
                .null()
                .to_owned(),
        )
        .await?;
        add(
            m,
            Session::Table,
            ColumnDef::new(Session::IdpSid)
                .string_len(255)
                .null()
                .to_owned(),
        )
        .await?;
        let db = m.get_connection();
        let rename = Query::update()
            .table(RotationTask::Table)
            .value(RotationTask::Reason, "low_codes")
            .and_where(Expr::col(RotationTask::Reason).eq("low-codes"))
            .to_owned();
        db.execute(db.get_database_backend().build(&rename)).await?;
        m.create_index(
            Index::create()
                .name("ix_rotation_task_account_state")
                .table(RotationTask::Table)
                .col(RotationTask::AccountId)
                .col(RotationTask::State)
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_rotation_task_member")
                .table(RotationTask::Table)
                .col(RotationTask::MemberId)
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for name in ["ix_rotation_task_account_state", "ix_rotation_task_member"] {
            m.drop_index(
                Index::drop()
                    .name(name)
                    .table(RotationTask::Table)
                    .to_owned(),
            )
            .await?;
        }
        for col in [
            RotationTask::MemberId,
            RotationTask::OpenedBy,
            RotationTask::NotifiedAt,
        ] {
            m.alter_table(
                Table::alter()
                    .table(RotationTask::Table)
                    .drop_column(col)
                    .to_owned(),
            )
            .await?;
        }
        m.alter_table(
            Table::alter()
                .table(ServiceToken::Table)
                .drop_column(ServiceToken::MemberId)
                .to_owned(),
        )
        .await?;
        for col in [
            Member::DepartedReason,
            Member::DepartedBy,
            Member::OffboardPolicy,
            Member::ExternalId,
            Member::UserName,
            Member::Source,
        ] {
            m.alter_table(
                Table::alter()
                    .table(Member::Table)
                    .drop_column(col)
                    .to_owned(),
            )
            .await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum Member {
    Table,
    DepartedReason,
    DepartedBy,
    OffboardPolicy,
    ExternalId,
    UserName,
    Source,
}

#[derive(DeriveIden, Clone, Copy)]
enum ServiceToken {
    Table,
    MemberId,
}

#[derive(DeriveIden, Clone, Copy)]
enum RotationTask {
    Table,
    AccountId,
    State,
    Reason,
    MemberId,
    OpenedBy,
    NotifiedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum Session {
    Table,
    IdpSid,
}
