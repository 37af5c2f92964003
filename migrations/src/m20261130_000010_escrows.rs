//! Break-glass escrows: an escrow's public key, threshold and scope; its custodians (a share's
//! fingerprint, never the share; a share waiting to be picked up, sealed, until it is); every
//! DEK in its scope sealed to its public key; release requests, with the shares submitted to
//! them (sealed to the requester's release key) and the released secrets (sealed likewise).

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

fn opt_time(col: impl IntoIden) -> ColumnDef {
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
                .table(Escrow::Table)
                .col(id(Escrow::Id).primary_key())
                .col(ColumnDef::new(Escrow::Name).text().not_null())
                // A JSON list of team slugs, or ["*"].
                .col(ColumnDef::new(Escrow::Teams).text().not_null())
                .col(ColumnDef::new(Escrow::Threshold).integer().not_null())
                .col(ColumnDef::new(Escrow::Custodians).integer().not_null())
                .col(ColumnDef::new(Escrow::PublicKey).string_len(64).not_null())
                .col(ColumnDef::new(Escrow::State).string_len(16).not_null())
                .col(
                    ColumnDef::new(Escrow::WaitingPeriodMinutes)
                        .integer()
                        .not_null(),
                )
                .col(
                    ColumnDef::new(Escrow::ReleaseTtlMinutes)
                        .integer()
                        .not_null(),
                )
                .col(ColumnDef::new(Escrow::CreatedBy).string_len(80).not_null())
                .col(time(Escrow::CreatedAt))
                .col(opt_time(Escrow::SpentAt))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(EscrowCustodian::Table)
                .col(id(EscrowCustodian::Id).primary_key())
                .col(id(EscrowCustodian::EscrowId))
                .col(
                    ColumnDef::new(EscrowCustodian::ShareIndex)
                        .integer()
                        .not_null(),
                )
                .col(ColumnDef::new(EscrowCustodian::Email).text().not_null())
                .col(
                    ColumnDef::new(EscrowCustodian::Fingerprint)
                        .string_len(64)
                        .not_null(),
                )
                .col(
                    ColumnDef::new(EscrowCustodian::Delivery)
                        .string_len(8)
                        .not_null(),
                )
                .col(
                    ColumnDef::new(EscrowCustodian::PendingShare)
                        .binary()
                        .null(),
                )
                .col(opt_time(EscrowCustodian::PickedUpAt))
                .foreign_key(
                    ForeignKey::create()
                        .from(EscrowCustodian::Table, EscrowCustodian::EscrowId)
                        .to(Escrow::Table, Escrow::Id),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ux_escrow_custodian_index")
                .table(EscrowCustodian::Table)
                .col(EscrowCustodian::EscrowId)
                .col(EscrowCustodian::ShareIndex)
                .unique()
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(EscrowSeal::Table)
                .col(id(EscrowSeal::EscrowId))
                // A secret version's id, or a backup-code generation's.
                .col(id(EscrowSeal::OwnerId))
                .col(
                    ColumnDef::new(EscrowSeal::OwnerKind)
                        .string_len(16)
                        .not_null(),
                )
                .col(id(EscrowSeal::AccountId))
                .col(ColumnDef::new(EscrowSeal::Sealed).binary().not_null())
                .col(time(EscrowSeal::CreatedAt))
                .primary_key(
                    Index::create()
                        .col(EscrowSeal::EscrowId)
                        .col(EscrowSeal::OwnerId),
                )
                .foreign_key(
                    ForeignKey::create()
                        .from(EscrowSeal::Table, EscrowSeal::EscrowId)
                        .to(Escrow::Table, Escrow::Id),
                )
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(ReleaseRequest::Table)
                .col(id(ReleaseRequest::Id).primary_key())
                .col(id(ReleaseRequest::EscrowId))
                .col(
                    ColumnDef::new(ReleaseRequest::Requester)
                        .string_len(80)
                        .not_null(),
                )
                .col(ColumnDef::new(ReleaseRequest::Reason).text().not_null())
                .col(
                    ColumnDef::new(ReleaseRequest::State)
                        .string_len(16)
                        .not_null(),
                )
                // The requester's release key (X25519, base64): shares and secrets are sealed to it.
                .col(
                    ColumnDef::new(ReleaseRequest::RequesterKey)
                        .string_len(64)
                        .not_null(),
                )
                .col(
                    ColumnDef::new(ReleaseRequest::SharesReceived)
                        .integer()
                        .not_null(),
                )
                .col(
                    ColumnDef::new(ReleaseRequest::Threshold)
                        .integer()
                        .not_null(),
                )
                .col(opt_time(ReleaseRequest::ReleaseAt))
                .col(opt_time(ReleaseRequest::ExpiresAt))
                .col(opt_time(ReleaseRequest::OpenedAt))
                .col(ColumnDef::new(ReleaseRequest::Opened).binary().null())
                .col(
                    ColumnDef::new(ReleaseRequest::VetoedBy)
                        .string_len(80)
                        .null(),
                )
                .col(time(ReleaseRequest::CreatedAt))
                .foreign_key(
                    ForeignKey::create()
                        .from(ReleaseRequest::Table, ReleaseRequest::EscrowId)
                        .to(Escrow::Table, Escrow::Id),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_release_request_escrow")
                .table(ReleaseRequest::Table)
                .col(ReleaseRequest::EscrowId)
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(ReleaseShare::Table)
                .col(id(ReleaseShare::ReleaseId))
                .col(
                    ColumnDef::new(ReleaseShare::ShareIndex)
                        .integer()
                        .not_null(),
                )
                .col(ColumnDef::new(ReleaseShare::Sealed).binary().not_null())
                .col(time(ReleaseShare::CreatedAt))
                .primary_key(
                    Index::create()
                        .col(ReleaseShare::ReleaseId)
                        .col(ReleaseShare::ShareIndex),
                )
                .foreign_key(
                    ForeignKey::create()
                        .from(ReleaseShare::Table, ReleaseShare::ReleaseId)
                        .to(ReleaseRequest::Table, ReleaseRequest::Id),
                )
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(ReleaseShare::Table).to_owned())
            .await?;
        m.drop_table(Table::drop().table(ReleaseRequest::Table).to_owned())
            .await?;
        m.drop_table(Table::drop().table(EscrowSeal::Table).to_owned())
            .await?;
        m.drop_table(Table::drop().table(EscrowCustodian::Table).to_owned())
            .await?;
        m.drop_table(Table::drop().table(Escrow::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum Escrow {
    Table,
    Id,
    Name,
    Teams,
    Threshold,
    Custodians,
    PublicKey,
    State,
    WaitingPeriodMinutes,
    ReleaseTtlMinutes,
    CreatedBy,
    CreatedAt,
    SpentAt,
}

#[derive(DeriveIden)]
enum EscrowCustodian {
    Table,
    Id,
    EscrowId,
    ShareIndex,
    Email,
    Fingerprint,
    Delivery,
    PendingShare,
    PickedUpAt,
}

#[derive(DeriveIden)]
enum EscrowSeal {
    Table,
    EscrowId,
    OwnerId,
    OwnerKind,
    AccountId,
    Sealed,
    CreatedAt,
}

#[derive(DeriveIden)]
enum ReleaseRequest {
    Table,
    Id,
    EscrowId,
    Requester,
    Reason,
    State,
    RequesterKey,
    SharesReceived,
    Threshold,
    ReleaseAt,
    ExpiresAt,
    OpenedAt,
    Opened,
    VetoedBy,
    CreatedAt,
}

#[derive(DeriveIden)]
enum ReleaseShare {
    Table,
    ReleaseId,
    ShareIndex,
    Sealed,
    CreatedAt,
}
