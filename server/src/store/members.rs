//! Members (people from the IdP) and their role grants.

use super::entities::{member, role_grant};
use super::integrity::{tampered, write, write_if};
use super::{new_id, now, Integrity};
use sea_orm::sea_query::Expr;
use sea_orm::Condition;
use sea_orm::QueryTrait;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect,
};

pub use member::Model as MemberRow;
pub use role_grant::Model as GrantRow;

/// Where a grant came from: the IdP's groups (recomputed at each login) or an admin.
pub const SOURCE_IDP: &str = "idp";
pub const SOURCE_ADMIN: &str = "admin";

pub const ACTIVE: &str = "active";
pub const DEPARTED: &str = "departed";

/// The issuer of a member the IdP provisioned through SCIM before their first sign-in.
pub const SCIM_ISSUER: &str = "scim";
/// `source` of a member SCIM deleted: kept for the audit trail and reports, gone for SCIM.
pub const SOURCE_SCIM_DELETED: &str = "scim_deleted";

/// Creates or updates a member from the IdP's claims.
pub async fn upsert(
    db: &impl ConnectionTrait,
    ig: &Integrity,
    issuer: &str,
    subject: &str,
    email: Option<&str>,
    name: Option<&str>,
) -> Result<MemberRow, DbErr> {
    let mut found = member::Entity::find()
        .filter(member::Column::Issuer.eq(issuer))
        .filter(member::Column::Subject.eq(subject))
        .one(db)
        .await?;
    if let Some(row) = found.take() {
        // A tampered member row is neither used nor given a fresh MAC by signing in.
        found = Some(ig.check(row).ok_or_else(|| tampered("member"))?);
    } else {
        found = provisioned_for(db, ig, subject, email).await?;
    }
    let at = now();
    match found {
        Some(mut row) => {
            // A member provisioned by SCIM takes the IdP's identity at their first sign-in.
            row.issuer = issuer.to_owned();
            row.subject = subject.to_owned();
            row.email = email.map(str::to_owned);
            row.name = name.map(str::to_owned);
            row.updated_at = at;
            row.last_sign_in_at = Some(at);
            write::<member::Entity>(db, ig, row).await
        }
        None => {
            let row = ig.signed(MemberRow {
                id: new_id(),
                issuer: issuer.to_owned(),
                subject: subject.to_owned(),
                email: email.map(str::to_owned),
                name: name.map(str::to_owned),
                status: ACTIVE.to_owned(),
                departed_at: None,
                departed_reason: None,
                departed_by: None,
                offboard_policy: None,
                external_id: None,
                user_name: None,
                source: Some("sso".to_owned()),
                created_at: at,
                updated_at: at,
                age_recipient: None,
                mac: None,
                last_sign_in_at: Some(at),
            })?;
            member::ActiveModel::from(row).insert(db).await
        }
    }
}

/// A member SCIM provisioned and nobody has signed in as yet, matching the IdP's subject (as
/// their externalId) or, failing that, their verified email (as their userName).
async fn provisioned_for(
    db: &impl ConnectionTrait,
    ig: &Integrity,
    subject: &str,
    email: Option<&str>,
) -> Result<Option<MemberRow>, DbErr> {
    let waiting = ig.keep(
        member::Entity::find()
            .filter(member::Column::Issuer.eq(SCIM_ISSUER))
            .order_by_asc(member::Column::CreatedAt)
            .all(db)
            .await?,
    );
    let live = |m: &&MemberRow| m.source.as_deref() != Some(SOURCE_SCIM_DELETED);
    if let Some(by_subject) = waiting
        .iter()
        .filter(live)
        .find(|m| m.external_id.as_deref() == Some(subject))
    {
        return Ok(Some(by_subject.clone()));
    }
    let Some(email) = email.map(str::to_lowercase) else {
        return Ok(None);
    };
    Ok(waiting
        .iter()
        .filter(live)
        .find(|m| m.user_name.as_deref().map(str::to_lowercase) == Some(email.clone()))
        .cloned())
}

/// What SCIM says about a user.
pub struct Profile<'a> {
    pub user_name: &'a str,
    pub external_id: Option<&'a str>,
    pub display_name: Option<&'a str>,
    pub email: Option<&'a str>,
}

/// A member the IdP provisions before their first sign-in.
pub async fn insert_provisioned(
    db: &impl ConnectionTrait,
    ig: &Integrity,
    profile: Profile<'_>,
) -> Result<MemberRow, DbErr> {
    let at = now();
    let id = new_id();
    let row = ig.signed(MemberRow {
        id: id.clone(),
        issuer: SCIM_ISSUER.to_owned(),
        subject: id,
        email: profile.email.map(str::to_owned),
        name: profile.display_name.map(str::to_owned),
        status: ACTIVE.to_owned(),
        departed_at: None,
        departed_reason: None,
        departed_by: None,
        offboard_policy: None,
        external_id: profile.external_id.map(str::to_owned),
        user_name: Some(profile.user_name.to_owned()),
        source: Some("scim".to_owned()),
        created_at: at,
        updated_at: at,
        age_recipient: None,
        mac: None,
        last_sign_in_at: None,
    })?;
    member::ActiveModel::from(row).insert(db).await
}

/// Active members who have not signed in since `before` (members who never signed in count
/// from when they were made), at most `limit`.
pub async fn idle_since(
    db: &impl ConnectionTrait,
    ig: &Integrity,
    before: chrono::DateTime<chrono::Utc>,
    limit: u64,
) -> Result<Vec<MemberRow>, DbErr> {
    let idle = Condition::any()
        .add(member::Column::LastSignInAt.lt(before))
        .add(
            Condition::all()
                .add(member::Column::LastSignInAt.is_null())
                .add(member::Column::CreatedAt.lt(before)),
        );
    // Members with an open review, or kept after one since `before`, are not asked about.
    let reviewed = sea_orm::sea_query::Query::select()
        .column(super::entities::member_review::Column::MemberId)
        .from(super::entities::member_review::Entity)
        .cond_where(
            Condition::any()
                .add(super::entities::member_review::Column::State.eq("open"))
                .add(super::entities::member_review::Column::ClosedAt.gt(before)),
        )
        .to_owned();
    Ok(ig.keep(
        member::Entity::find()
            .filter(member::Column::Status.eq(ACTIVE))
            .filter(member::Column::Id.not_in_subquery(reviewed))
            .filter(idle)
            .order_by_asc(member::Column::Id)
            .limit(limit)
            .all(db)
            .await?,
    ))
}

/// Replaces what SCIM manages of a member (userName, externalId, displayName; the email too
/// while nobody has signed in: afterwards it is the one the IdP verified at sign-in).
pub async fn update_profile(
    db: &impl ConnectionTrait,
    ig: &Integrity,
    mut row: MemberRow,
    profile: Profile<'_>,
) -> Result<MemberRow, DbErr> {
    if !ig.valid(&row) {
        return Err(tampered("member"));
    }
    let waiting = row.issuer == SCIM_ISSUER;
    row.user_name = Some(profile.user_name.to_owned());
    row.external_id = profile.external_id.map(str::to_owned);
    row.name = profile.display_name.map(str::to_owned);
    if waiting {
        row.email = profile.email.map(str::to_owned);
    }
    row.updated_at = now();
    write::<member::Entity>(db, ig, row).await
}

/// Makes a departed member active again (the IdP re-activated them through SCIM).
pub async fn reactivate(
    db: &impl ConnectionTrait,
    ig: &Integrity,
    id: &str,
) -> Result<bool, DbErr> {
    let Some(mut row) = find(db, ig, id).await? else {
        return Ok(false);
    };
    if row.status != DEPARTED {
        return Ok(false);
    }
    row.status = ACTIVE.to_owned();
    row.departed_at = None;
    row.departed_reason = None;
    row.departed_by = None;
    row.offboard_policy = None;
    row.updated_at = now();
    let condition = Condition::all()
        .add(member::Column::Id.eq(id))
        .add(member::Column::Status.eq(DEPARTED));
    write_if::<member::Entity>(db, ig, row, condition).await
}

/// Marks a member deleted by SCIM (they stay for the audit trail and reports).
pub async fn mark_scim_deleted(
    db: &impl ConnectionTrait,
    ig: &Integrity,
    id: &str,
) -> Result<(), DbErr> {
    let Some(mut row) = find(db, ig, id).await? else {
        return Ok(());
    };
    row.source = Some(SOURCE_SCIM_DELETED.to_owned());
    row.updated_at = now();
    write::<member::Entity>(db, ig, row).await.map(|_| ())
}

/// The member an IdP identity (issuer, subject) belongs to.
pub async fn find_by_identity(
    db: &impl ConnectionTrait,
    ig: &Integrity,
    issuer: &str,
    subject: &str,
) -> Result<Option<MemberRow>, DbErr> {
    Ok(ig.check_opt(
        member::Entity::find()
            .filter(member::Column::Issuer.eq(issuer))
            .filter(member::Column::Subject.eq(subject))
            .one(db)
            .await?,
    ))
}

pub async fn find(
    db: &impl ConnectionTrait,
    ig: &Integrity,
    id: &str,
) -> Result<Option<MemberRow>, DbErr> {
    Ok(ig.check_opt(member::Entity::find_by_id(id).one(db).await?))
}

pub async fn find_by_email(
    db: &impl ConnectionTrait,
    ig: &Integrity,
    email: &str,
) -> Result<Vec<MemberRow>, DbErr> {
    Ok(ig.keep(
        member::Entity::find()
            .filter(member::Column::Email.eq(email))
            .all(db)
            .await?,
    ))
}

pub async fn list(db: &impl ConnectionTrait, ig: &Integrity) -> Result<Vec<MemberRow>, DbErr> {
    Ok(ig.keep(
        member::Entity::find()
            .order_by_asc(member::Column::Email)
            .all(db)
            .await?,
    ))
}

/// Takes the member's row lock for the rest of the transaction if they are still active (a
/// no-op update: portable); false when they departed. A departure updates the same row, so
/// whichever comes second sees the other: a reveal cannot slip past a departure unseen.
pub async fn lock_active(db: &impl ConnectionTrait, id: &str) -> Result<bool, DbErr> {
    let stmt = LOCK_ACTIVE.bind(
        db.get_database_backend(),
        |b| lock_active_query("").build(b),
        vec![id.into(), ACTIVE.into()],
    );
    Ok(db.execute(stmt).await?.rows_affected() == 1)
}

static LOCK_ACTIVE: super::prepared::Prepared = super::prepared::Prepared::new();

fn lock_active_query(id: &str) -> sea_orm::UpdateMany<member::Entity> {
    member::Entity::update_many()
        .col_expr(
            member::Column::Status,
            Expr::col(member::Column::Status).into(),
        )
        .filter(member::Column::Id.eq(id))
        .filter(member::Column::Status.eq(ACTIVE))
}

/// Takes the member's row lock for the rest of the transaction, whatever their status.
pub async fn lock(db: &impl ConnectionTrait, id: &str) -> Result<(), DbErr> {
    member::Entity::update_many()
        .col_expr(
            member::Column::Status,
            Expr::col(member::Column::Status).into(),
        )
        .filter(member::Column::Id.eq(id))
        .exec(db)
        .await
        .map(|_| ())
}

/// Members with a status (`active`, `departed`), or all, by email then id.
pub async fn list_by_status(
    db: &impl ConnectionTrait,
    ig: &Integrity,
    status: Option<&str>,
) -> Result<Vec<MemberRow>, DbErr> {
    let mut query = member::Entity::find();
    if let Some(status) = status {
        query = query.filter(member::Column::Status.eq(status));
    }
    Ok(ig.keep(
        query
            .order_by_asc(member::Column::Email)
            .order_by_asc(member::Column::Id)
            .all(db)
            .await?,
    ))
}

/// What a departure records.
pub struct Departure<'a> {
    pub reason: &'a str,
    pub by: &'a str,
    pub policy: &'a str,
}

/// Marks an active member departed. False when they were not active (already departed, or
/// gone): the row lock of this UPDATE makes two concurrent departures one.
pub async fn depart(
    db: &impl ConnectionTrait,
    ig: &Integrity,
    id: &str,
    departure: Departure<'_>,
) -> Result<bool, DbErr> {
    let Some(mut row) = find(db, ig, id).await? else {
        return Ok(false);
    };
    if row.status != ACTIVE {
        return Ok(false);
    }
    let at = now();
    row.status = DEPARTED.to_owned();
    row.departed_at = Some(at);
    row.departed_reason = Some(departure.reason.to_owned());
    row.departed_by = Some(departure.by.to_owned());
    row.offboard_policy = Some(departure.policy.to_owned());
    row.updated_at = at;
    let condition = Condition::all()
        .add(member::Column::Id.eq(id))
        .add(member::Column::Status.eq(ACTIVE));
    write_if::<member::Entity>(db, ig, row, condition).await
}

/// Grants of many members at once (member id → grants).
pub async fn grants_of(
    db: &impl ConnectionTrait,
    ig: &Integrity,
    member_ids: &[String],
) -> Result<std::collections::HashMap<String, Vec<GrantRow>>, DbErr> {
    let rows = ig.keep(
        role_grant::Entity::find()
            .filter(role_grant::Column::MemberId.is_in(member_ids.iter().cloned()))
            .order_by_asc(role_grant::Column::Team)
            .all(db)
            .await?,
    );
    let mut out: std::collections::HashMap<String, Vec<GrantRow>> = Default::default();
    for row in rows {
        out.entry(row.member_id.clone()).or_default().push(row);
    }
    Ok(out)
}

/// A member's grants whose rows verify.
pub async fn grants(
    db: &impl ConnectionTrait,
    ig: &Integrity,
    member_id: &str,
) -> Result<Vec<GrantRow>, DbErr> {
    Ok(ig.keep(
        role_grant::Entity::find()
            .filter(role_grant::Column::MemberId.eq(member_id))
            .order_by_asc(role_grant::Column::Team)
            .all(db)
            .await?,
    ))
}

/// Replaces a member's grants from one source with `bindings` (team, role).
pub async fn replace_grants(
    db: &impl ConnectionTrait,
    ig: &Integrity,
    member_id: &str,
    source: &str,
    bindings: &[(String, String)],
) -> Result<(), DbErr> {
    role_grant::Entity::delete_many()
        .filter(role_grant::Column::MemberId.eq(member_id))
        .filter(role_grant::Column::Source.eq(source))
        .exec(db)
        .await?;
    for (team, role) in bindings {
        insert_grant(db, ig, member_id, team, role, source).await?;
    }
    Ok(())
}

pub async fn insert_grant(
    db: &impl ConnectionTrait,
    ig: &Integrity,
    member_id: &str,
    team: &str,
    role: &str,
    source: &str,
) -> Result<GrantRow, DbErr> {
    let row = ig.signed(GrantRow {
        id: new_id(),
        member_id: member_id.to_owned(),
        team: team.to_owned(),
        role: role.to_owned(),
        source: source.to_owned(),
        created_at: now(),
        mac: None,
    })?;
    role_grant::ActiveModel::from(row).insert(db).await
}

pub async fn delete_grant(
    db: &impl ConnectionTrait,
    member_id: &str,
    team: &str,
    role: &str,
    source: &str,
) -> Result<u64, DbErr> {
    Ok(role_grant::Entity::delete_many()
        .filter(role_grant::Column::MemberId.eq(member_id))
        .filter(role_grant::Column::Team.eq(team))
        .filter(role_grant::Column::Role.eq(role))
        .filter(role_grant::Column::Source.eq(source))
        .exec(db)
        .await?
        .rows_affected)
}

/// Sets the member's own age recipient (or clears it); the caller read the row verified.
pub async fn set_age_recipient(
    db: &impl ConnectionTrait,
    ig: &Integrity,
    mut row: MemberRow,
    recipient: Option<&str>,
) -> Result<MemberRow, DbErr> {
    row.age_recipient = recipient.map(str::to_owned);
    row.updated_at = now();
    write::<member::Entity>(db, ig, row).await
}

impl MemberRow {
    /// Not departed.
    pub fn is_active(&self) -> bool {
        self.status == ACTIVE
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::prepared::check::same;

    #[test]
    fn the_prepared_statements_are_fresh_builds() {
        same(
            |b, other| lock_active_query(if other { "x" } else { "m" }).build(b),
            || vec!["m".into(), ACTIVE.into()],
        );
    }
}
