//! A ceremony no single admin controls: members enrol their own age recipient; custodians are
//! members (by id), confirm they hold their share, and an escrow stays `pending` until all
//! have; an escrow whose custodian departed needs a new ceremony.

use sea_orm_migration::async_trait;
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let add = |table: &str, col: ColumnDef| {
            Table::alter()
                .table(Alias::new(table))
                .add_column(col)
                .to_owned()
        };
        // The member's own age public key (`age1…`): their shares are encrypted to it.
        m.alter_table(add(
            "member",
            ColumnDef::new(Alias::new("age_recipient"))
                .text()
                .null()
                .to_owned(),
        ))
        .await?;
        // The custodian as a member (escrows made before keep only their email).
        m.alter_table(add(
            "escrow_custodian",
            ColumnDef::new(Alias::new("member_id"))
                .string_len(36)
                .null()
                .to_owned(),
        ))
        .await?;
        // The age recipient the share goes to, as enrolled when the escrow was made.
        m.alter_table(add(
            "escrow_custodian",
            ColumnDef::new(Alias::new("age_recipient"))
                .text()
                .null()
                .to_owned(),
        ))
        .await?;
        m.alter_table(add(
            "escrow_custodian",
            ColumnDef::new(Alias::new("confirmed_at"))
                .timestamp_with_time_zone()
                .null()
                .to_owned(),
        ))
        .await?;
        m.alter_table(add(
            "escrow",
            ColumnDef::new(Alias::new("needs_ceremony"))
                .boolean()
                .not_null()
                .default(false)
                .to_owned(),
        ))
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for (table, col) in [
            ("member", "age_recipient"),
            ("escrow_custodian", "member_id"),
            ("escrow_custodian", "age_recipient"),
            ("escrow_custodian", "confirmed_at"),
            ("escrow", "needs_ceremony"),
        ] {
            m.alter_table(
                Table::alter()
                    .table(Alias::new(table))
                    .drop_column(Alias::new(col))
                    .to_owned(),
            )
            .await?;
        }
        Ok(())
    }
}
