//! Offboarding: why and by whom a member departed, members provisioned by SCIM before their
//! first sign-in, service tokens bound to a member (revoked with them), and rotation tasks that
//! name the member whose exposure opened them and whether their escalation was sent.
//! Sessions keep the IdP's session id (`sid`), so OIDC Back-Channel Logout can end them.
//! The `low-codes` reason becomes `low_codes`, the name the API uses.

use sea_orm_migration::async_trait;
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

fn text(col: impl IntoIden) -> ColumnDef {
    ColumnDef::new(col).text().null().to_owned()
}

fn string(col: impl IntoIden, len: u32) -> ColumnDef {
    ColumnDef::new(col).string_len(len).null().to_owned()
}

/// The columns this migration adds, all nullable, by table.
fn columns() -> Vec<(DynIden, ColumnDef)> {
    let (member, token, task, session) = (
        Member::Table.into_iden(),
        ServiceToken::Table.into_iden(),
        RotationTask::Table.into_iden(),
        Session::Table.into_iden(),
    );
    vec![
        (member.clone(), text(Member::DepartedReason)),
        (member.clone(), string(Member::DepartedBy, 80)),
        (member.clone(), string(Member::OffboardPolicy, 16)),
        // SCIM: the IdP's own id for the user, and the userName it gave (the email).
        (member.clone(), text(Member::ExternalId)),
        (member.clone(), text(Member::UserName)),
        (member, string(Member::Source, 16)),
        (token, string(ServiceToken::MemberId, 36)),
        (task.clone(), string(RotationTask::MemberId, 36)),
        (task.clone(), string(RotationTask::OpenedBy, 80)),
        (
            task,
            ColumnDef::new(RotationTask::NotifiedAt)
                .timestamp_with_time_zone()
                .null()
                .to_owned(),
        ),
        (session, string(Session::IdpSid, 255)),
    ]
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // SQLite takes one column per ALTER TABLE.
        for (table, mut col) in columns() {
            m.alter_table(Table::alter().table(table).add_column(&mut col).to_owned())
                .await?;
        }
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
        let db = m.get_connection();
        let rename = Query::update()
            .table(RotationTask::Table)
            .value(RotationTask::Reason, "low-codes")
            .and_where(Expr::col(RotationTask::Reason).eq("low_codes"))
            .to_owned();
        db.execute(db.get_database_backend().build(&rename)).await?;
        for (table, col) in columns() {
            let name = col.get_column_name();
            m.alter_table(
                Table::alter()
                    .table(table)
                    .drop_column(Alias::new(name))
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
