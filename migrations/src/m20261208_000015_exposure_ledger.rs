//! Offboarding that misses nothing: the exposure ledger (what each member wrote, imported,
//! exported, revealed, checked out or was released, written with the audit event that proves
//! it and kept past audit retention while the secret is current), a keyed fingerprint of
//! each secret version (so a "rotation" to the same value is refused), and the reviews a
//! departure implied by the IdP opens for a security admin.

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
                .table(Exposure::Table)
                .col(id(Exposure::Id).primary_key())
                // Who: the audit actor (`member:ID` or `token:ID`).
                .col(text(Exposure::Actor))
                .col(id(Exposure::AccountId))
                // totp | hotp | password | backup
                .col(
                    ColumnDef::new(Exposure::SecretKind)
                        .string_len(16)
                        .not_null(),
                )
                // The secret version's id, or the backup-code generation's.
                .col(id(Exposure::SecretId))
                .col(ColumnDef::new(Exposure::Version).integer().not_null())
                // A backup code's position; an HOTP code's counter.
                .col(ColumnDef::new(Exposure::Position).integer().null())
                .col(ColumnDef::new(Exposure::Counter).big_integer().null())
                // write | import | export | reveal | checkout | break_glass
                .col(ColumnDef::new(Exposure::How).string_len(16).not_null())
                // The audit event that proves it.
                .col(ColumnDef::new(Exposure::Seq).big_integer().not_null())
                .col(time(Exposure::At))
                .col(ColumnDef::new(Exposure::Mac).text().null())
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_exposure_actor")
                .table(Exposure::Table)
                .col(Exposure::Actor)
                .col(Exposure::Seq)
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_exposure_secret")
                .table(Exposure::Table)
                .col(Exposure::SecretId)
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(MemberReview::Table)
                .col(id(MemberReview::Id).primary_key())
                .col(id(MemberReview::MemberId))
                // groups_lost | idle
                .col(
                    ColumnDef::new(MemberReview::Reason)
                        .string_len(32)
                        .not_null(),
                )
                // open | kept | offboarded
                .col(
                    ColumnDef::new(MemberReview::State)
                        .string_len(16)
                        .not_null(),
                )
                .col(time(MemberReview::OpenedAt))
                .col(ColumnDef::new(MemberReview::ClosedBy).text().null())
                .col(maybe_time(MemberReview::ClosedAt))
                .col(ColumnDef::new(MemberReview::Mac).text().null())
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_member_review_member")
                .table(MemberReview::Table)
                .col(MemberReview::MemberId)
                .col(MemberReview::State)
                .to_owned(),
        )
        .await?;
        // When the member last signed in (for `offboarding.idle_departure_days`).
        m.alter_table(
            Table::alter()
                .table(Alias::new("member"))
                .add_column(
                    ColumnDef::new(Alias::new("last_sign_in_at"))
                        .timestamp_with_time_zone()
                        .null(),
                )
                .to_owned(),
        )
        .await?;
        // Until their next sign-in, a member's last change stands in for it (each sign-in
        // updated the row), so an upgrade does not make every older member look idle.
        m.get_connection()
            .execute_unprepared("UPDATE member SET last_sign_in_at = updated_at")
            .await?;
        // HMAC of the value under its own key (never a plain hash); none on older versions,
        // which are compared by opening them.
        m.alter_table(
            Table::alter()
                .table(Alias::new("secret"))
                .add_column(
                    ColumnDef::new(Alias::new("fingerprint"))
                        .string_len(64)
                        .null(),
                )
                .to_owned(),
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(Alias::new("member"))
                .drop_column(Alias::new("last_sign_in_at"))
                .to_owned(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table(Alias::new("secret"))
                .drop_column(Alias::new("fingerprint"))
                .to_owned(),
        )
        .await?;
        m.drop_table(Table::drop().table(MemberReview::Table).to_owned())
            .await?;
        m.drop_table(Table::drop().table(Exposure::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum Exposure {
    Table,
    Id,
    Actor,
    AccountId,
    SecretKind,
    SecretId,
    Version,
    Position,
    Counter,
    How,
    Seq,
    At,
    Mac,
}

#[derive(DeriveIden)]
enum MemberReview {
    Table,
    Id,
    MemberId,
    Reason,
    State,
    OpenedAt,
    ClosedBy,
    ClosedAt,
    Mac,
}
