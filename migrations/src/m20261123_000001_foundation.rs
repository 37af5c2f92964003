//! The first schema: teams, members, service tokens, accounts, versioned secrets, backup-code
//! generations, rotation tasks and the hash-chained audit log.

use sea_orm_migration::async_trait;
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

fn id_col<T: IntoIden>(name: T) -> ColumnDef {
    ColumnDef::new(name)
        .string_len(36)
        .not_null()
        .primary_key()
        .to_owned()
}

fn time_col<T: IntoIden>(name: T) -> ColumnDef {
    ColumnDef::new(name)
        .timestamp_with_time_zone()
        .not_null()
        .to_owned()
}

fn opt_time_col<T: IntoIden>(name: T) -> ColumnDef {
    ColumnDef::new(name)
        .timestamp_with_time_zone()
        .null()
        .to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(Team::Table)
                .col(id_col(Team::Id))
                .col(
                    ColumnDef::new(Team::Slug)
                        .string_len(63)
                        .not_null()
                        .unique_key(),
                )
                .col(ColumnDef::new(Team::Name).string_len(200).not_null())
                .col(time_col(Team::CreatedAt))
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(Member::Table)
                .col(id_col(Member::Id))
                .col(ColumnDef::new(Member::Issuer).string_len(500).not_null())
                .col(ColumnDef::new(Member::Subject).string_len(255).not_null())
                .col(ColumnDef::new(Member::Email).string_len(320).null())
                .col(ColumnDef::new(Member::Name).string_len(200).null())
                .col(ColumnDef::new(Member::Status).string_len(16).not_null())
                .col(opt_time_col(Member::DepartedAt))
                .col(time_col(Member::CreatedAt))
                .col(time_col(Member::UpdatedAt))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ux_member_identity")
                .table(Member::Table)
                .col(Member::Issuer)
                .col(Member::Subject)
                .unique()
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(RoleGrant::Table)
                .col(id_col(RoleGrant::Id))
                .col(
                    ColumnDef::new(RoleGrant::MemberId)
                        .string_len(36)
                        .not_null(),
                )
                .col(ColumnDef::new(RoleGrant::Team).string_len(63).not_null())
                .col(ColumnDef::new(RoleGrant::Role).string_len(32).not_null())
                .col(ColumnDef::new(RoleGrant::Source).string_len(16).not_null())
                .col(time_col(RoleGrant::CreatedAt))
                .foreign_key(
                    ForeignKey::create()
                        .from(RoleGrant::Table, RoleGrant::MemberId)
                        .to(Member::Table, Member::Id),
                )
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(ServiceToken::Table)
                .col(id_col(ServiceToken::Id))
                .col(
                    ColumnDef::new(ServiceToken::Name)
                        .string_len(100)
                        .not_null(),
                )
                .col(
                    ColumnDef::new(ServiceToken::TokenHash)
                        .string_len(64)
                        .not_null()
                        .unique_key(),
                )
                .col(ColumnDef::new(ServiceToken::Bindings).text().not_null())
                .col(time_col(ServiceToken::CreatedAt))
                .col(opt_time_col(ServiceToken::ExpiresAt))
                .col(opt_time_col(ServiceToken::RevokedAt))
                .col(opt_time_col(ServiceToken::LastUsedAt))
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(Account::Table)
                .col(id_col(Account::Id))
                .col(ColumnDef::new(Account::TeamId).string_len(36).not_null())
                .col(ColumnDef::new(Account::Platform).string_len(32).not_null())
                .col(ColumnDef::new(Account::Handle).string_len(100).not_null())
                .col(ColumnDef::new(Account::LoginUrl).string_len(2048).null())
                .col(ColumnDef::new(Account::Notes).text().not_null())
                .col(ColumnDef::new(Account::Status).string_len(16).not_null())
                .col(time_col(Account::CreatedAt))
                .col(time_col(Account::UpdatedAt))
                .foreign_key(
                    ForeignKey::create()
                        .from(Account::Table, Account::TeamId)
                        .to(Team::Table, Team::Id),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ux_account_identity")
                .table(Account::Table)
                .col(Account::TeamId)
                .col(Account::Platform)
                .col(Account::Handle)
                .unique()
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(Secret::Table)
                .col(id_col(Secret::Id))
                .col(ColumnDef::new(Secret::AccountId).string_len(36).not_null())
                .col(ColumnDef::new(Secret::Kind).string_len(16).not_null())
                .col(ColumnDef::new(Secret::Version).integer().not_null())
                .col(ColumnDef::new(Secret::Params).text().not_null())
                .col(ColumnDef::new(Secret::HotpCounter).big_integer().null())
                .col(ColumnDef::new(Secret::Ciphertext).binary().not_null())
                .col(ColumnDef::new(Secret::WrappedDek).binary().not_null())
                .col(ColumnDef::new(Secret::KekId).string_len(32).not_null())
                .col(ColumnDef::new(Secret::CreatedBy).string_len(80).not_null())
                .col(time_col(Secret::CreatedAt))
                .col(opt_time_col(Secret::SupersededAt))
                .foreign_key(
                    ForeignKey::create()
                        .from(Secret::Table, Secret::AccountId)
                        .to(Account::Table, Account::Id),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ux_secret_version")
                .table(Secret::Table)
                .col(Secret::AccountId)
                .col(Secret::Kind)
                .col(Secret::Version)
                .unique()
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_secret_kek")
                .table(Secret::Table)
                .col(Secret::KekId)
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(BackupCodeGeneration::Table)
                .col(id_col(BackupCodeGeneration::Id))
                .col(
                    ColumnDef::new(BackupCodeGeneration::AccountId)
                        .string_len(36)
                        .not_null(),
                )
                .col(
                    ColumnDef::new(BackupCodeGeneration::Generation)
                        .integer()
                        .not_null(),
                )
                .col(
                    ColumnDef::new(BackupCodeGeneration::IssuedOn)
                        .date()
                        .not_null(),
                )
                .col(
                    ColumnDef::new(BackupCodeGeneration::Total)
                        .integer()
                        .not_null(),
                )
                .col(
                    ColumnDef::new(BackupCodeGeneration::WrappedDek)
                        .binary()
                        .not_null(),
                )
                .col(
                    ColumnDef::new(BackupCodeGeneration::KekId)
                        .string_len(32)
                        .not_null(),
                )
                .col(
                    ColumnDef::new(BackupCodeGeneration::CreatedBy)
                        .string_len(80)
                        .not_null(),
                )
                .col(time_col(BackupCodeGeneration::CreatedAt))
                .col(opt_time_col(BackupCodeGeneration::SupersededAt))
                .foreign_key(
                    ForeignKey::create()
                        .from(BackupCodeGeneration::Table, BackupCodeGeneration::AccountId)
                        .to(Account::Table, Account::Id),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ux_backup_generation")
                .table(BackupCodeGeneration::Table)
                .col(BackupCodeGeneration::AccountId)
                .col(BackupCodeGeneration::Generation)
                .unique()
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(BackupCode::Table)
                .col(id_col(BackupCode::Id))
                .col(
                    ColumnDef::new(BackupCode::GenerationId)
                        .string_len(36)
                        .not_null(),
                )
                .col(ColumnDef::new(BackupCode::Position).integer().not_null())
                .col(ColumnDef::new(BackupCode::Ciphertext).binary().not_null())
                .col(
                    ColumnDef::new(BackupCode::LookupHmac)
                        .string_len(64)
                        .not_null(),
                )
                .col(ColumnDef::new(BackupCode::State).string_len(16).not_null())
                .col(ColumnDef::new(BackupCode::StateBy).string_len(80).null())
                .col(opt_time_col(BackupCode::StateAt))
                .foreign_key(
                    ForeignKey::create()
                        .from(BackupCode::Table, BackupCode::GenerationId)
                        .to(BackupCodeGeneration::Table, BackupCodeGeneration::Id),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ux_backup_code_position")
                .table(BackupCode::Table)
                .col(BackupCode::GenerationId)
                .col(BackupCode::Position)
                .unique()
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_backup_code_lookup")
                .table(BackupCode::Table)
                .col(BackupCode::LookupHmac)
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(RotationTask::Table)
                .col(id_col(RotationTask::Id))
                .col(
                    ColumnDef::new(RotationTask::AccountId)
                        .string_len(36)
                        .not_null(),
                )
                .col(
                    ColumnDef::new(RotationTask::SecretKind)
                        .string_len(16)
                        .not_null(),
                )
                .col(ColumnDef::new(RotationTask::SecretId).string_len(36).null())
                .col(
                    ColumnDef::new(RotationTask::GenerationId)
                        .string_len(36)
                        .null(),
                )
                .col(
                    ColumnDef::new(RotationTask::Reason)
                        .string_len(32)
                        .not_null(),
                )
                .col(opt_time_col(RotationTask::DueAt))
                .col(ColumnDef::new(RotationTask::Assignee).string_len(80).null())
                .col(
                    ColumnDef::new(RotationTask::State)
                        .string_len(16)
                        .not_null(),
                )
                .col(time_col(RotationTask::CreatedAt))
                .col(
                    ColumnDef::new(RotationTask::CompletedBy)
                        .string_len(80)
                        .null(),
                )
                .col(opt_time_col(RotationTask::CompletedAt))
                .col(
                    ColumnDef::new(RotationTask::ResultingVersion)
                        .integer()
                        .null(),
                )
                .foreign_key(
                    ForeignKey::create()
                        .from(RotationTask::Table, RotationTask::AccountId)
                        .to(Account::Table, Account::Id),
                )
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(AuditEvent::Table)
                .col(
                    ColumnDef::new(AuditEvent::Seq)
                        .big_integer()
                        .not_null()
                        .primary_key(),
                )
                .col(time_col(AuditEvent::At))
                .col(ColumnDef::new(AuditEvent::Actor).string_len(80).not_null())
                .col(ColumnDef::new(AuditEvent::Action).string_len(64).not_null())
                .col(ColumnDef::new(AuditEvent::Target).string_len(120).null())
                .col(ColumnDef::new(AuditEvent::Team).string_len(63).null())
                .col(
                    ColumnDef::new(AuditEvent::Outcome)
                        .string_len(16)
                        .not_null(),
                )
                .col(ColumnDef::new(AuditEvent::Justification).text().null())
                .col(ColumnDef::new(AuditEvent::Ip).string_len(64).null())
                .col(ColumnDef::new(AuditEvent::UserAgent).string_len(300).null())
                .col(ColumnDef::new(AuditEvent::RequestId).string_len(128).null())
                .col(ColumnDef::new(AuditEvent::Details).text().not_null())
                .col(
                    ColumnDef::new(AuditEvent::PrevHash)
                        .string_len(64)
                        .not_null(),
                )
                .col(ColumnDef::new(AuditEvent::Hash).string_len(64).not_null())
                .to_owned(),
        )
        .await?;
        for (name, col) in [
            ("ix_audit_actor", AuditEvent::Actor),
            ("ix_audit_action", AuditEvent::Action),
            ("ix_audit_target", AuditEvent::Target),
        ] {
            m.create_index(
                Index::create()
                    .name(name)
                    .table(AuditEvent::Table)
                    .col(col)
                    .to_owned(),
            )
            .await?;
        }

        // One row that SQLite write transactions update first, so they take the write lock
        // before reading anything (the equivalent of BEGIN IMMEDIATE across processes).
        m.create_table(
            Table::create()
                .table(WriteGate::Table)
                .col(
                    ColumnDef::new(WriteGate::Id)
                        .integer()
                        .not_null()
                        .primary_key(),
                )
                .col(ColumnDef::new(WriteGate::Ticks).big_integer().not_null())
                .to_owned(),
        )
        .await?;
        m.exec_stmt(
            Query::insert()
                .into_table(WriteGate::Table)
                .columns([WriteGate::Id, WriteGate::Ticks])
                .values_panic([1.into(), 0.into()])
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            WriteGate::Table.into_iden(),
            AuditEvent::Table.into_iden(),
            RotationTask::Table.into_iden(),
            BackupCode::Table.into_iden(),
            BackupCodeGeneration::Table.into_iden(),
            Secret::Table.into_iden(),
            Account::Table.into_iden(),
            ServiceToken::Table.into_iden(),
            RoleGrant::Table.into_iden(),
            Member::Table.into_iden(),
            Team::Table.into_iden(),
        ] {
            m.drop_table(Table::drop().table(table).to_owned()).await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden)]
enum Team {
    Table,
    Id,
    Slug,
    Name,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Member {
    Table,
    Id,
    Issuer,
    Subject,
    Email,
    Name,
    Status,
    DepartedAt,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum RoleGrant {
    Table,
    Id,
    MemberId,
    Team,
    Role,
    Source,
    CreatedAt,
}

#[derive(DeriveIden)]
enum ServiceToken {
    Table,
    Id,
    Name,
    TokenHash,
    Bindings,
    CreatedAt,
    ExpiresAt,
    RevokedAt,
    LastUsedAt,
}

#[derive(DeriveIden)]
enum Account {
    Table,
    Id,
    TeamId,
    Platform,
    Handle,
    LoginUrl,
    Notes,
    Status,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Secret {
    Table,
    Id,
    AccountId,
    Kind,
    Version,
    Params,
    HotpCounter,
    Ciphertext,
    WrappedDek,
    KekId,
    CreatedBy,
    CreatedAt,
    SupersededAt,
}

#[derive(DeriveIden)]
enum BackupCodeGeneration {
    Table,
    Id,
    AccountId,
    Generation,
    IssuedOn,
    Total,
    WrappedDek,
    KekId,
    CreatedBy,
    CreatedAt,
    SupersededAt,
}

#[derive(DeriveIden)]
enum BackupCode {
    Table,
    Id,
    GenerationId,
    Position,
    Ciphertext,
    LookupHmac,
    State,
    StateBy,
    StateAt,
}

#[derive(DeriveIden)]
enum RotationTask {
    Table,
    Id,
    AccountId,
    SecretKind,
    SecretId,
    GenerationId,
    Reason,
    DueAt,
    Assignee,
    State,
    CreatedAt,
    CompletedBy,
    CompletedAt,
    ResultingVersion,
}

#[derive(DeriveIden)]
enum AuditEvent {
    Table,
    Seq,
    At,
    Actor,
    Action,
    Target,
    Team,
    Outcome,
    Justification,
    Ip,
    UserAgent,
    RequestId,
    Details,
    PrevHash,
    Hash,
}

#[derive(DeriveIden)]
enum WriteGate {
    Table,
    Id,
    Ticks,
}
