//! Account handles are unique by a normalised key (NFKC, lower case), so `@Brand`, `@brand`
//! and a full-width `＠ｂｒａｎｄ` are one account, not three. Existing rows get their key
//! here; if two of them already collide, the later keeps its id in its key (both stay
//! usable, and the next edit of either must resolve it).

use sea_orm_migration::async_trait;
use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, FromQueryResult, Statement};
use std::collections::HashSet;
use unicode_normalization::UnicodeNormalization;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The key as the server computes it when this migration was written (kept here unchanged:
/// a migration is history).
fn handle_key(handle: &str) -> String {
    handle.nfkc().collect::<String>().to_lowercase()
}

#[derive(FromQueryResult)]
struct Row {
    id: String,
    team_id: String,
    platform: String,
    handle: String,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(Account::Table)
                // Text: NFKC can make a key much longer than its handle (U+FDFA is 18 letters).
                .add_column(ColumnDef::new(Account::HandleKey).text().null())
                .to_owned(),
        )
        .await?;
        let db = m.get_connection();
        let backend = db.get_database_backend();
        let rows = Row::find_by_statement(Statement::from_string(
            backend,
            "SELECT id, team_id, platform, handle FROM account ORDER BY created_at, id",
        ))
        .all(db)
        .await?;
        let mut seen = HashSet::new();
        for row in rows {
            let mut key = handle_key(&row.handle);
            if !seen.insert((row.team_id.clone(), row.platform.clone(), key.clone())) {
                key = format!("{key}#{}", row.id);
            }
            let update = Query::update()
                .table(Account::Table)
                .value(Account::HandleKey, key)
                .and_where(Expr::col(Account::Id).eq(row.id))
                .to_owned();
            db.execute(backend.build(&update)).await?;
        }
        m.drop_index(
            Index::drop()
                .name("ux_account_identity")
                .table(Account::Table)
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ux_account_handle_key")
                .table(Account::Table)
                .col(Account::TeamId)
                .col(Account::Platform)
                .col(Account::HandleKey)
                .unique()
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_index(
            Index::drop()
                .name("ux_account_handle_key")
                .table(Account::Table)
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
        m.alter_table(
            Table::alter()
                .table(Account::Table)
                .drop_column(Account::HandleKey)
                .to_owned(),
        )
        .await
    }
}

#[derive(DeriveIden)]
enum Account {
    Table,
    Id,
    TeamId,
    Platform,
    Handle,
    HandleKey,
}
