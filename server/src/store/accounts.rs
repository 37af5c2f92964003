//! Teams and accounts.

use super::entities::{account, backup_code, backup_code_generation, secret, team};
use super::integrity::tampered;
use super::{new_id, now, Integrity};
use sea_orm::sea_query::Expr;
use sea_orm::QueryTrait;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, FromQueryResult,
    QueryFilter, QueryOrder, QuerySelect,
};
use std::collections::HashMap;

pub use account::Model as Account;

/// Finds a team by slug, creating it on first use.
pub async fn ensure_team(
    db: &impl ConnectionTrait,
    ig: &Integrity,
    slug: &str,
) -> Result<team::Model, DbErr> {
    if let Some(found) = team::Entity::find()
        .filter(team::Column::Slug.eq(slug))
        .one(db)
        .await?
    {
        // A team row that does not verify is not used (nothing is added to it).
        return ig.check(found).ok_or_else(|| tampered("team"));
    }
    let row = ig.signed(team::Model {
        id: new_id(),
        slug: slug.to_owned(),
        name: slug.to_owned(),
        created_at: now(),
        mac: None,
    })?;
    team::ActiveModel::from(row).insert(db).await
}

/// Every team id with its slug (teams whose rows verify).
pub async fn team_slugs(
    db: &impl ConnectionTrait,
    ig: &Integrity,
) -> Result<HashMap<String, String>, DbErr> {
    Ok(ig
        .keep(team::Entity::find().all(db).await?)
        .into_iter()
        .map(|t| (t.id, t.slug))
        .collect())
}

/// The slugs of these teams, by id.
pub async fn team_slugs_of(
    db: &impl ConnectionTrait,
    ig: &Integrity,
    ids: Vec<String>,
) -> Result<HashMap<String, String>, DbErr> {
    Ok(ig
        .keep(
            team::Entity::find()
                .filter(team::Column::Id.is_in(ids))
                .all(db)
                .await?,
        )
        .into_iter()
        .map(|t| (t.id, t.slug))
        .collect())
}

pub async fn team_slug(
    db: &impl ConnectionTrait,
    ig: &Integrity,
    team_id: &str,
) -> Result<Option<String>, DbErr> {
    Ok(ig
        .check_opt(team::Entity::find_by_id(team_id).one(db).await?)
        .map(|t| t.slug))
}

pub struct NewAccount<'a> {
    pub team_id: &'a str,
    pub platform: &'a str,
    pub handle: &'a str,
    pub handle_key: String,
    pub login_url: Option<&'a str>,
    pub notes: &'a str,
    /// The access policy it starts with (its team's default).
    pub access: &'a str,
    pub approvers_needed: i32,
}

pub async fn insert(
    db: &impl ConnectionTrait,
    ig: &Integrity,
    new: NewAccount<'_>,
) -> Result<Account, DbErr> {
    let at = now();
    let row = ig.signed(Account {
        id: new_id(),
        team_id: new.team_id.to_owned(),
        platform: new.platform.to_owned(),
        handle: new.handle.to_owned(),
        handle_key: Some(new.handle_key),
        login_url: new.login_url.map(str::to_owned),
        notes: new.notes.to_owned(),
        status: "active".to_owned(),
        access: new.access.to_owned(),
        approvers_needed: new.approvers_needed,
        created_at: at,
        updated_at: at,
        mac: None,
    })?;
    account::ActiveModel::from(row).insert(db).await
}

/// Takes the account's row lock for the rest of the transaction (a no-op update: portable),
/// so writers of one account's secrets queue instead of racing on version numbers.
pub async fn lock(db: &impl ConnectionTrait, id: &str) -> Result<bool, DbErr> {
    let result = account::Entity::update_many()
        .col_expr(
            account::Column::Status,
            Expr::col(account::Column::Status).into(),
        )
        .filter(account::Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(result.rows_affected == 1)
}

/// The account, if its row verifies (an account moved to another team in the database does
/// not: it is in no team until a security admin re-attests it).
pub async fn find(
    db: &impl ConnectionTrait,
    ig: &Integrity,
    id: &str,
) -> Result<Option<Account>, DbErr> {
    Ok(ig.check_opt(account::Entity::find_by_id(id).one(db).await?))
}

/// An account and its team's slug, read with one statement (a join); both rows verified.
pub async fn find_with_team(
    db: &impl ConnectionTrait,
    ig: &Integrity,
    id: &str,
) -> Result<Option<(Account, String)>, DbErr> {
    let stmt = WITH_TEAM.bind(
        db.get_database_backend(),
        |b| with_team("").build(b),
        vec![id.into(), 1u64.into()],
    );
    Ok(
        super::prepared::one::<sea_orm::SelectTwoModel<account::Model, team::Model>>(db, stmt)
            .await?
            .and_then(|(account, team)| {
                let account = ig.check(account)?;
                let team = ig.check(team?)?;
                Some((account, team.slug))
            }),
    )
}

static WITH_TEAM: super::prepared::Prepared = super::prepared::Prepared::new();

fn with_team(id: &str) -> sea_orm::SelectTwo<account::Entity, team::Entity> {
    let to_team = account::Entity::belongs_to(team::Entity)
        .from(account::Column::TeamId)
        .to(team::Column::Id)
        .into();
    account::Entity::find_by_id(id)
        .select_also(team::Entity)
        .join(sea_orm::JoinType::InnerJoin, to_team)
        .limit(1)
}

/// Filters for listing accounts; `None` means any.
#[derive(Default)]
pub struct AccountFilter {
    /// Only these teams (by id); `None` for every team.
    pub team_ids: Option<Vec<String>>,
    pub platform: Option<String>,
    pub status: Option<String>,
    /// Leave archived accounts out (when no status is asked for).
    pub hide_archived: bool,
    /// Only accounts after this one in the listing order (platform, handle, id).
    pub after: Option<ListPosition>,
    /// Only handles containing this (already normalised like a handle key).
    pub handle_contains: Option<String>,
}

/// A place in the listing order, for the next page.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ListPosition {
    pub platform: String,
    pub handle: String,
    pub id: String,
}

/// A page of accounts in the listing order: at most `limit`, from `filter.after` on.
pub async fn list(
    db: &impl ConnectionTrait,
    ig: &Integrity,
    filter: &AccountFilter,
    limit: u64,
) -> Result<Vec<Account>, DbErr> {
    use sea_orm::sea_query::Condition;
    let mut query = account::Entity::find();
    if let Some(team_ids) = &filter.team_ids {
        query = query.filter(account::Column::TeamId.is_in(team_ids.iter().cloned()));
    }
    if let Some(platform) = &filter.platform {
        query = query.filter(account::Column::Platform.eq(platform.as_str()));
    }
    if let Some(status) = &filter.status {
        query = query.filter(account::Column::Status.eq(status.as_str()));
    } else if filter.hide_archived {
        query = query.filter(account::Column::Status.ne("archived"));
    }
    if let Some(part) = &filter.handle_contains {
        // LIKE with its wildcards escaped: a search for "a_b" finds "a_b", not "axb".
        let escaped: String = part
            .chars()
            .flat_map(|c| match c {
                '%' | '_' | '\\' => vec!['\\', c],
                c => vec![c],
            })
            .collect();
        query = query.filter(
            sea_orm::sea_query::Expr::col(account::Column::HandleKey)
                .like(sea_orm::sea_query::LikeExpr::new(format!("%{escaped}%")).escape('\\')),
        );
    }
    if let Some(after) = &filter.after {
        let (p, h, i) = (&after.platform, &after.handle, &after.id);
        query = query.filter(
            Condition::any()
                .add(account::Column::Platform.gt(p.as_str()))
                .add(
                    Condition::all()
                        .add(account::Column::Platform.eq(p.as_str()))
                        .add(account::Column::Handle.gt(h.as_str())),
                )
                .add(
                    Condition::all()
                        .add(account::Column::Platform.eq(p.as_str()))
                        .add(account::Column::Handle.eq(h.as_str()))
                        .add(account::Column::Id.gt(i.as_str())),
                ),
        );
    }
    // A page may come back shorter when rows in it do not verify; the next page starts
    // after the last row read, so listing goes on past them.
    Ok(ig.keep(
        query
            .order_by_asc(account::Column::Platform)
            .order_by_asc(account::Column::Handle)
            .order_by_asc(account::Column::Id)
            .limit(limit)
            .all(db)
            .await?,
    ))
}

/// The ids of every account in these teams (archived ones too) whose rows verify.
pub async fn ids_in_teams(
    db: &impl ConnectionTrait,
    ig: &Integrity,
    team_ids: &[String],
) -> Result<Vec<String>, DbErr> {
    Ok(ig
        .keep(
            account::Entity::find()
                .filter(account::Column::TeamId.is_in(team_ids.iter().cloned()))
                .all(db)
                .await?,
        )
        .into_iter()
        .map(|a| a.id)
        .collect())
}

/// The ids of the teams with these slugs.
pub async fn team_ids(
    db: &impl ConnectionTrait,
    ig: &Integrity,
    slugs: &[String],
) -> Result<HashMap<String, String>, DbErr> {
    Ok(ig
        .keep(
            team::Entity::find()
                .filter(team::Column::Slug.is_in(slugs.iter().cloned()))
                .all(db)
                .await?,
        )
        .into_iter()
        .map(|t| (t.id, t.slug))
        .collect())
}

/// Writes a changed account, signed. The caller read it verified.
pub async fn update(
    db: &impl ConnectionTrait,
    ig: &Integrity,
    row: Account,
) -> Result<Account, DbErr> {
    super::integrity::write::<account::Entity>(db, ig, row).await
}

/// Backup-code totals of an account's current generation.
#[derive(Debug, Clone)]
pub struct BackupSummary {
    pub generation: i32,
    pub issued_on: chrono::NaiveDate,
    pub total: i32,
    pub remaining: i32,
}

/// What the account list shows beside each account, fetched for many accounts at once.
#[derive(Debug, Clone, Default)]
pub struct AccountFacts {
    pub kinds: Vec<String>,
    pub backup: Option<BackupSummary>,
    pub open_rotation_tasks: i64,
    /// Open tasks past their deadline.
    pub overdue_rotation_tasks: i64,
    /// The earliest deadline of the open tasks.
    pub rotate_by: Option<chrono::DateTime<chrono::Utc>>,
    /// Backup codes reported rejected within the failed-attempt window.
    pub rejected_recently: i64,
}

#[derive(FromQueryResult)]
struct KindRow {
    account_id: String,
    kind: String,
}

#[derive(FromQueryResult)]
struct CountRow {
    key: String,
    n: i64,
}

pub async fn facts(
    db: &impl ConnectionTrait,
    ids: &[String],
    rejected_since: chrono::DateTime<chrono::Utc>,
) -> Result<HashMap<String, AccountFacts>, DbErr> {
    let mut out: HashMap<String, AccountFacts> = ids
        .iter()
        .map(|id| (id.clone(), AccountFacts::default()))
        .collect();
    if ids.is_empty() {
        return Ok(out);
    }
    let kinds = secret::Entity::find()
        .select_only()
        .column(secret::Column::AccountId)
        .column(secret::Column::Kind)
        .filter(secret::Column::AccountId.is_in(ids.iter().cloned()))
        .filter(secret::Column::SupersededAt.is_null())
        .into_model::<KindRow>()
        .all(db)
        .await?;
    for row in kinds {
        if let Some(f) = out.get_mut(&row.account_id) {
            f.kinds.push(row.kind);
        }
    }
    for (account_id, (open, overdue, due)) in super::rotation::open_counts(db, ids).await? {
        if let Some(f) = out.get_mut(&account_id) {
            f.open_rotation_tasks = open;
            f.overdue_rotation_tasks = overdue;
            f.rotate_by = due;
        }
    }
    let all_generations = backup_code_generation::Entity::find()
        .filter(backup_code_generation::Column::AccountId.is_in(ids.iter().cloned()))
        .all(db)
        .await?;
    if !all_generations.is_empty() {
        let rejected = backup_code::Entity::find()
            .select_only()
            .column_as(backup_code::Column::GenerationId, "key")
            .column_as(Expr::col(backup_code::Column::Id).count(), "n")
            .filter(
                backup_code::Column::GenerationId
                    .is_in(all_generations.iter().map(|g| g.id.clone())),
            )
            .filter(backup_code::Column::State.eq("rejected"))
            .filter(backup_code::Column::StateAt.gte(rejected_since))
            .group_by(backup_code::Column::GenerationId)
            .into_model::<CountRow>()
            .all(db)
            .await?;
        for row in rejected {
            let account = all_generations
                .iter()
                .find(|g| g.id == row.key)
                .map(|g| &g.account_id);
            if let Some(f) = account.and_then(|a| out.get_mut(a)) {
                f.rejected_recently += row.n;
            }
        }
    }
    let generations: Vec<_> = all_generations
        .into_iter()
        .filter(|g| g.superseded_at.is_none())
        .collect();
    if !generations.is_empty() {
        let remaining: HashMap<String, i64> = backup_code::Entity::find()
            .select_only()
            .column_as(backup_code::Column::GenerationId, "key")
            .column_as(Expr::col(backup_code::Column::Id).count(), "n")
            .filter(
                backup_code::Column::GenerationId.is_in(generations.iter().map(|g| g.id.clone())),
            )
            .filter(backup_code::Column::State.eq("unused"))
            .group_by(backup_code::Column::GenerationId)
            .into_model::<CountRow>()
            .all(db)
            .await?
            .into_iter()
            .map(|r| (r.key, r.n))
            .collect();
        for generation in generations {
            if let Some(f) = out.get_mut(&generation.account_id) {
                f.backup = Some(BackupSummary {
                    generation: generation.generation,
                    issued_on: generation.issued_on,
                    total: generation.total,
                    remaining: remaining.get(&generation.id).copied().unwrap_or(0) as i32,
                });
            }
        }
    }
    Ok(out)
}

impl Account {
    /// Archived: kept for the record, no longer used (its secrets are not revealed).
    pub fn is_archived(&self) -> bool {
        self.status == crate::domain::AccountStatus::Archived.as_str()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::prepared::check::same;

    #[test]
    fn the_prepared_statements_are_fresh_builds() {
        same(
            |b, other| with_team(if other { "x" } else { "a" }).build(b),
            || vec!["a".into(), 1u64.into()],
        );
    }
}
