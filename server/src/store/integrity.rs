//! Row integrity at the data's edge: every row that carries authority (who may sign in, with
//! which roles, which team an account is in, which escrows DEKs are sealed to, who asked for a
//! release…) is MAC'ed when written and verified when read, here, so no caller can forget.
//! A row that fails is treated as absent and reported once per process; the services turn
//! reports into `integrity.violation` audit events, a metric and a webhook.

use super::entities::{
    access_request, account, device_grant, escrow, escrow_custodian, escrow_seal, exposure, member,
    member_review, notification, release_request, role_grant, rotation_task, service_token,
    session, team,
};
use crate::crypto::{Keyring, RowFacts};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ConnectionTrait, DbErr, EntityTrait, IntoActiveModel, Iterable,
    PrimaryKeyToColumn, QueryFilter, QueryOrder, QuerySelect,
};
use std::collections::HashSet;
use std::str::FromStr;
use std::sync::{Arc, Mutex};

/// A row whose MAC decides whether it is believed.
pub trait Covered {
    /// The table, as named in `integrity.violation` events and `integrity attest --table`.
    const TABLE: &'static str;
    /// The row's id (a composite key joined by `/`).
    fn row_id(&self) -> String;
    /// The table, the id and the columns the MAC covers.
    fn facts(&self) -> RowFacts;
    fn mac(&self) -> Option<&str>;
    fn set_mac(&mut self, mac: Option<String>);
}

macro_rules! covered {
    ($model:ty, $table:literal, |$r:ident| $id:expr, |$f:ident| $facts:expr) => {
        impl Covered for $model {
            const TABLE: &'static str = $table;
            fn row_id(&self) -> String {
                let $r = self;
                $id
            }
            fn facts(&self) -> RowFacts {
                let $r = self;
                let $f = RowFacts::new($table, &self.row_id());
                $facts
            }
            fn mac(&self) -> Option<&str> {
                self.mac.as_deref()
            }
            fn set_mac(&mut self, mac: Option<String>) {
                self.mac = mac;
            }
        }
    };
}

covered!(
    service_token::Model,
    "service_token",
    |r| r.id.clone(),
    |f| f
        .text(&r.token_hash)
        .text(&r.bindings)
        .opt_text(r.member_id.as_deref())
        .opt_time(r.expires_at)
        .opt_time(r.revoked_at)
);
covered!(session::Model, "session", |r| r.id_hash.clone(), |f| {
    let f = f
        .text(&r.member_id)
        .time(r.created_at)
        .time(r.auth_time)
        .time(r.expires_at)
        .opt_text(r.idp_sid.as_deref());
    // The kind is covered only when it is not a browser's, so the rows MAC'ed before it
    // existed still verify; a command line's session made a browser's in SQL does not.
    if r.client == "browser" {
        f
    } else {
        f.text(&r.client)
    }
});
covered!(device_grant::Model, "device_grant", |r| r.id.clone(), |f| f
    .text(&r.device_code_hash)
    .text(&r.user_code)
    .text(&r.client_id)
    .text(&r.state)
    .opt_text(r.member_id.as_deref())
    .opt_time(r.auth_time)
    .opt_text(r.idp_sid.as_deref())
    .time(r.created_at)
    .time(r.expires_at));
covered!(member::Model, "member", |r| r.id.clone(), |f| f
    .text(&r.issuer)
    .text(&r.subject)
    .opt_text(r.email.as_deref())
    .text(&r.status)
    .opt_text(r.external_id.as_deref())
    .opt_text(r.age_recipient.as_deref())
    .opt_text(r.user_name.as_deref())
    .opt_text(r.source.as_deref()));
covered!(role_grant::Model, "role_grant", |r| r.id.clone(), |f| f
    .text(&r.member_id)
    .text(&r.team)
    .text(&r.role)
    .text(&r.source));
covered!(team::Model, "team", |r| r.id.clone(), |f| f.text(&r.slug));
covered!(account::Model, "account", |r| r.id.clone(), |f| {
    let f = f
        .text(&r.team_id)
        .text(&r.platform)
        .text(&r.handle)
        .opt_text(r.login_url.as_deref())
        .text(&r.status);
    // The access policy is covered only when it is not the default, so rows MAC'ed before it
    // existed still verify; setting an account back to `open` in the database breaks its MAC.
    if r.access == "open" && r.approvers_needed == 1 {
        f
    } else {
        f.text(&r.access).int(r.approvers_needed.into())
    }
});
covered!(
    access_request::Model,
    "access_request",
    |r| r.id.clone(),
    |f| f
        .text(&r.account_id)
        .text(&r.requester)
        .text(&r.actions)
        .int(r.minutes.into())
        .text(&r.reason)
        .text(&r.state)
        .int(r.approvers_needed.into())
        .text(&r.approvals)
        .opt_time(r.starts_at)
        .opt_time(r.expires_at)
        .time(r.created_at)
        .opt_time(r.ended_at)
        .opt_text(r.ended_by.as_deref())
);
covered!(escrow::Model, "escrow", |r| r.id.clone(), |f| f
    .text(&r.name)
    .text(&r.teams)
    .int(r.threshold.into())
    .int(r.custodians.into())
    .text(&r.public_key)
    .text(&r.state)
    .int(r.waiting_period_minutes.into())
    .int(r.release_ttl_minutes.into())
    .text(&r.created_by)
    .flag(r.needs_ceremony));
covered!(
    escrow_custodian::Model,
    "escrow_custodian",
    |r| r.id.clone(),
    |f| f
        .text(&r.escrow_id)
        .int(r.share_index.into())
        .text(&r.email)
        .text(&r.fingerprint)
        .text(&r.delivery)
        .flag(r.picked_up_at.is_some())
        .opt_bytes(r.pending_share.as_deref())
        .opt_text(r.member_id.as_deref())
        .opt_text(r.age_recipient.as_deref())
        .flag(r.confirmed_at.is_some())
);
covered!(
    escrow_seal::Model,
    "escrow_seal",
    |r| format!("{}/{}", r.escrow_id, r.owner_id),
    |f| f.text(&r.owner_kind).text(&r.account_id).bytes(&r.sealed)
);
covered!(
    release_request::Model,
    "release_request",
    |r| r.id.clone(),
    |f| f
        .text(&r.escrow_id)
        .text(&r.requester)
        .text(&r.reason)
        .text(&r.state)
        .text(&r.requester_key)
        .int(r.shares_received.into())
        .int(r.threshold.into())
        .opt_time(r.release_at)
        .opt_time(r.expires_at)
        .opt_bytes(r.opened.as_deref())
        .opt_text(r.vetoed_by.as_deref())
        .time(r.created_at)
);
covered!(
    rotation_task::Model,
    "rotation_task",
    |r| r.id.clone(),
    |f| f
        .text(&r.account_id)
        .text(&r.secret_kind)
        .opt_text(r.secret_id.as_deref())
        .opt_text(r.generation_id.as_deref())
        .text(&r.state)
        .opt_text(r.member_id.as_deref())
);
covered!(notification::Model, "notification", |r| r.id.clone(), |f| f
    .text(&r.task_id)
    .text(&r.hook)
    .text(&r.body));
covered!(exposure::Model, "exposure", |r| r.id.clone(), |f| f
    .text(&r.actor)
    .text(&r.account_id)
    .text(&r.secret_kind)
    .text(&r.secret_id)
    .int(r.version.into())
    .opt_int(r.position.map(i64::from))
    .opt_int(r.counter)
    .text(&r.how)
    .int(r.seq)
    .time(r.at));
covered!(
    member_review::Model,
    "member_review",
    |r| r.id.clone(),
    |f| f
        .text(&r.member_id)
        .text(&r.reason)
        .text(&r.state)
        .time(r.opened_at)
);

/// A row found with a MAC that does not verify.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    pub table: &'static str,
    pub id: String,
}

/// Signs rows as they are written and checks them as they are read; remembers the bad rows
/// met, so each is reported once per process.
pub struct Integrity {
    /// None only for `keyward breakglass open`, which runs with no key file: it believes what
    /// it reads (the shares it is given are the authority) and leaves what it writes without
    /// a MAC, for `keyward integrity check` to list and a security admin to attest.
    keyring: Option<Arc<Keyring>>,
    seen: Mutex<HashSet<(&'static str, String)>>,
    reports: Mutex<Vec<Violation>>,
    wake: tokio::sync::Notify,
}

fn crypto(err: crate::crypto::CryptoError) -> DbErr {
    DbErr::Custom(format!("row integrity: {err}"))
}

impl Integrity {
    pub fn new(keyring: Arc<Keyring>) -> Self {
        Self::with(Some(keyring))
    }

    /// For `keyward breakglass open` alone (see the `keyring` field).
    pub fn without_keys() -> Self {
        Self::with(None)
    }

    fn with(keyring: Option<Arc<Keyring>>) -> Self {
        Self {
            keyring,
            seen: Mutex::default(),
            reports: Mutex::default(),
            wake: tokio::sync::Notify::new(),
        }
    }

    pub fn keyring(&self) -> Option<&Keyring> {
        self.keyring.as_deref()
    }

    /// Sets the row's MAC under the active KEK (without keys: none).
    pub fn sign<T: Covered>(&self, row: &mut T) -> Result<(), DbErr> {
        let mac = match &self.keyring {
            Some(keyring) => Some(keyring.row_mac(&row.facts()).map_err(crypto)?),
            None => None,
        };
        row.set_mac(mac);
        Ok(())
    }

    pub fn signed<T: Covered>(&self, mut row: T) -> Result<T, DbErr> {
        self.sign(&mut row)?;
        Ok(row)
    }

    /// Whether the row's MAC verifies (nothing reported).
    pub fn valid<T: Covered>(&self, row: &T) -> bool {
        match &self.keyring {
            Some(keyring) => keyring.row_mac_valid(&row.facts(), row.mac()),
            None => true,
        }
    }

    /// The row if it verifies; else `None`, and the violation is reported.
    pub fn check<T: Covered>(&self, row: T) -> Option<T> {
        if self.valid(&row) {
            return Some(row);
        }
        self.report(T::TABLE, row.row_id());
        None
    }

    pub fn check_opt<T: Covered>(&self, row: Option<T>) -> Option<T> {
        row.and_then(|r| self.check(r))
    }

    /// The rows that verify; the others are reported.
    pub fn keep<T: Covered>(&self, rows: Vec<T>) -> Vec<T> {
        rows.into_iter().filter_map(|r| self.check(r)).collect()
    }

    /// Notes a bad row; the first time in this process it is queued for reporting and
    /// counted in `keyward_integrity_violations_total{table}`.
    pub fn report(&self, table: &'static str, id: String) {
        let first = match self.seen.lock() {
            Ok(mut seen) => seen.insert((table, id.clone())),
            Err(poisoned) => poisoned.into_inner().insert((table, id.clone())),
        };
        if !first {
            return;
        }
        crate::telemetry::metrics::count_integrity_violation(table);
        tracing::warn!(table, row = %id, "a row's integrity MAC does not verify; it is treated as absent");
        match self.reports.lock() {
            Ok(mut reports) => reports.push(Violation { table, id }),
            Err(poisoned) => poisoned.into_inner().push(Violation { table, id }),
        }
        self.wake.notify_one();
    }

    /// Forgets that a row was reported (it was re-attested), so a new tampering is reported.
    pub fn forget(&self, table: &str, id: &str) {
        if let Ok(mut seen) = self.seen.lock() {
            seen.retain(|(t, i)| !(*t == table && i == id));
        }
    }

    /// The violations not yet reported.
    pub fn take_reports(&self) -> Vec<Violation> {
        match self.reports.lock() {
            Ok(mut reports) => std::mem::take(&mut *reports),
            Err(poisoned) => std::mem::take(&mut *poisoned.into_inner()),
        }
    }

    /// Waits until a violation is queued.
    pub async fn reported(&self) {
        self.wake.notified().await;
    }
}

/// Sets only the `mac` column of a row already stored.
async fn store_mac<E>(db: &impl ConnectionTrait, row: E::Model) -> Result<(), DbErr>
where
    E: EntityTrait,
    E::Model: Covered + IntoActiveModel<E::ActiveModel>,
    E::ActiveModel: ActiveModelTrait<Entity = E> + Send,
{
    let mac = row.mac().map(str::to_owned);
    let mut active = row.into_active_model();
    let column = E::Column::from_str("mac").map_err(|_| DbErr::Custom("no mac column".into()))?;
    active.set(column, mac.into());
    active.update(db).await.map(|_| ())
}

/// Re-signs rows just changed by a statement that did not go through their model (a
/// conditional update): read back by id, signed, stored.
pub async fn resign<E>(
    db: &impl ConnectionTrait,
    ig: &Integrity,
    rows: Vec<E::Model>,
) -> Result<(), DbErr>
where
    E: EntityTrait,
    E::Model: Covered + IntoActiveModel<E::ActiveModel>,
    E::ActiveModel: ActiveModelTrait<Entity = E> + Send,
{
    for mut row in rows {
        ig.sign(&mut row)?;
        store_mac::<E>(db, row).await?;
    }
    Ok(())
}

/// What a pass over one table found or did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct TableScan {
    pub table: &'static str,
    pub rows: u64,
    /// Rows whose MAC does not verify (their ids).
    pub bad: Vec<String>,
    /// Rows MAC'ed (or re-MAC'ed) by this pass.
    pub signed: u64,
    /// Rows that carried a MAC (valid or not) when the pass read them.
    pub with_mac: u64,
}

/// What a pass over a table does with each row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pass {
    /// Only look.
    Check,
    /// MAC the rows that have none (right after the migration that added MACs).
    SignMissing,
    /// Re-MAC valid rows under the active KEK (after `keys rotate`).
    Rotate,
}

const PAGE: u64 = 500;

async fn scan<E>(db: &impl ConnectionTrait, ig: &Integrity, pass: Pass) -> Result<TableScan, DbErr>
where
    E: EntityTrait,
    E::Model: Covered + IntoActiveModel<E::ActiveModel> + Sync,
    E::ActiveModel: ActiveModelTrait<Entity = E> + Send,
{
    let mut out = TableScan {
        table: E::Model::TABLE,
        ..TableScan::default()
    };
    let mut offset = 0;
    loop {
        let mut query = E::find();
        for key in E::PrimaryKey::iter() {
            query = query.order_by_asc(key.into_column());
        }
        let page = query.offset(offset).limit(PAGE).all(db).await?;
        offset += PAGE;
        let done = (page.len() as u64) < PAGE;
        for mut row in page {
            out.rows += 1;
            if row.mac().is_some() {
                out.with_mac += 1;
            }
            let act = match pass {
                Pass::Check => false,
                Pass::SignMissing => row.mac().is_none(),
                Pass::Rotate => {
                    ig.valid(&row) && !ig.keyring().is_some_and(|k| k.row_mac_current(row.mac()))
                }
            };
            if act {
                ig.sign(&mut row)?;
                store_mac::<E>(db, row).await?;
                out.signed += 1;
            } else if !ig.valid(&row) {
                out.bad.push(row.row_id());
            }
        }
        if done {
            return Ok(out);
        }
    }
}

/// Runs `$f::<Entity>(args…)` for the covered table named `$table`: `Some(result)`, or
/// `None` for a name that is not one. The one place the table names meet their entities.
macro_rules! by_table {
    ($table:expr, $f:ident($($arg:expr),*)) => {
        match $table {
            "service_token" => Some($f::<service_token::Entity>($($arg),*).await),
            "session" => Some($f::<session::Entity>($($arg),*).await),
            "member" => Some($f::<member::Entity>($($arg),*).await),
            "role_grant" => Some($f::<role_grant::Entity>($($arg),*).await),
            "team" => Some($f::<team::Entity>($($arg),*).await),
            "account" => Some($f::<account::Entity>($($arg),*).await),
            "escrow" => Some($f::<escrow::Entity>($($arg),*).await),
            "escrow_custodian" => Some($f::<escrow_custodian::Entity>($($arg),*).await),
            "escrow_seal" => Some($f::<escrow_seal::Entity>($($arg),*).await),
            "release_request" => Some($f::<release_request::Entity>($($arg),*).await),
            "rotation_task" => Some($f::<rotation_task::Entity>($($arg),*).await),
            "notification" => Some($f::<notification::Entity>($($arg),*).await),
            "exposure" => Some($f::<exposure::Entity>($($arg),*).await),
            "member_review" => Some($f::<member_review::Entity>($($arg),*).await),
            "access_request" => Some($f::<access_request::Entity>($($arg),*).await),
            "device_grant" => Some($f::<device_grant::Entity>($($arg),*).await),
            _ => None,
        }
    };
}

/// One pass over every covered table, in [`TABLES`] order.
pub async fn scan_all(
    db: &impl ConnectionTrait,
    ig: &Integrity,
    pass: Pass,
) -> Result<Vec<TableScan>, DbErr> {
    let mut out = Vec::new();
    for table in TABLES {
        if let Some(scanned) = by_table!(table, scan(db, ig, pass)) {
            out.push(scanned?);
        }
    }
    Ok(out)
}

/// The covered tables, by name.
pub const TABLES: [&str; 16] = [
    "service_token",
    "session",
    "member",
    "role_grant",
    "team",
    "account",
    "escrow",
    "escrow_custodian",
    "escrow_seal",
    "release_request",
    "rotation_task",
    "notification",
    "exposure",
    "member_review",
    "access_request",
    "device_grant",
];

async fn attest_in<E>(db: &impl ConnectionTrait, ig: &Integrity, id: &str) -> Result<bool, DbErr>
where
    E: EntityTrait,
    E::Model: Covered + IntoActiveModel<E::ActiveModel>,
    E::ActiveModel: ActiveModelTrait<Entity = E> + Send,
{
    // Composite ids (escrow seals) are matched on the id the row reports.
    let Some(condition) = by_row_id::<E>(id) else {
        return Ok(false);
    };
    let query = E::find().filter(condition);
    let Some(mut row) = query.one(db).await? else {
        return Ok(false);
    };
    ig.sign(&mut row)?;
    store_mac::<E>(db, row).await?;
    Ok(true)
}

/// The filter naming one row by the id [`Covered::row_id`] gives it (composite ids are
/// joined by `/`); none when the id has the wrong number of parts.
fn by_row_id<E: EntityTrait>(id: &str) -> Option<sea_orm::Condition> {
    let keys: Vec<_> = E::PrimaryKey::iter().map(|k| k.into_column()).collect();
    let parts: Vec<&str> = if keys.len() == 1 {
        vec![id]
    } else {
        id.splitn(keys.len(), '/').collect()
    };
    if parts.len() != keys.len() {
        return None;
    }
    let mut condition = sea_orm::Condition::all();
    for (key, part) in keys.into_iter().zip(parts) {
        condition = condition.add(Expr::col((E::default(), key)).eq(part));
    }
    Some(condition)
}

async fn describe_in<E: EntityTrait>(
    db: &impl ConnectionTrait,
    id: &str,
) -> Result<Option<serde_json::Value>, DbErr> {
    let Some(condition) = by_row_id::<E>(id) else {
        return Ok(None);
    };
    let Some(mut row) = E::find().filter(condition).into_json().one(db).await? else {
        return Ok(None);
    };
    if let Some(fields) = row.as_object_mut() {
        fields.remove("mac");
        // Sealed blobs are shown by size: they are ciphertext, and long.
        for value in fields.values_mut() {
            if let Some(bytes) = value.as_array().filter(|a| a.len() > 8) {
                *value = serde_json::Value::String(format!("<{} bytes>", bytes.len()));
            }
        }
    }
    Ok(Some(row))
}

/// A row of a covered table as stored (its MAC left out, sealed blobs by size), for a
/// security admin to review before attesting it; none when there is no such row.
pub async fn describe(
    db: &impl ConnectionTrait,
    table: &str,
    id: &str,
) -> Result<Option<serde_json::Value>, DbErr> {
    Ok(by_table!(table, describe_in(db, id)).transpose()?.flatten())
}

/// Re-signs one row a security admin reviewed; false when there is no such row.
pub async fn attest(
    db: &impl ConnectionTrait,
    ig: &Integrity,
    table: &str,
    id: &str,
) -> Result<bool, DbErr> {
    let signed = by_table!(table, attest_in(db, ig, id))
        .transpose()?
        .unwrap_or(false);
    if signed {
        ig.forget(table, id);
    }
    Ok(signed)
}

/// Writes a changed row, signed, if `condition` (which names the row) still holds: one
/// statement, so a concurrent writer that changed what the condition checks wins and this
/// returns false. Every column is written, so nothing changed behind the row's back
/// survives under a fresh MAC.
pub async fn write_if<E>(
    db: &impl ConnectionTrait,
    ig: &Integrity,
    row: E::Model,
    condition: sea_orm::Condition,
) -> Result<bool, DbErr>
where
    E: EntityTrait,
    E::Model: Covered + IntoActiveModel<E::ActiveModel>,
    E::ActiveModel: ActiveModelTrait<Entity = E> + Send,
{
    let row = ig.signed(row)?;
    let active = row.into_active_model().reset_all();
    let result = E::update_many()
        .set(active)
        .filter(condition)
        .exec(db)
        .await?;
    Ok(result.rows_affected == 1)
}

/// The condition that a row is still as it was read: its id, its state and its MAC (a row
/// never MAC'ed has none), for [`write_if`]'s compare-and-swap of a state change.
pub fn unchanged<C: sea_orm::ColumnTrait>(
    id: (C, &str),
    state: (C, &str),
    mac: (C, Option<&str>),
) -> sea_orm::Condition {
    let same = sea_orm::Condition::all()
        .add(id.0.eq(id.1))
        .add(state.0.eq(state.1));
    match mac.1 {
        Some(value) => same.add(mac.0.eq(value)),
        None => same.add(mac.0.is_null()),
    }
}

/// Writes a changed row, signed, every column.
pub async fn write<E>(
    db: &impl ConnectionTrait,
    ig: &Integrity,
    row: E::Model,
) -> Result<E::Model, DbErr>
where
    E: EntityTrait,
    E::Model: Covered + IntoActiveModel<E::ActiveModel>,
    E::ActiveModel: ActiveModelTrait<Entity = E> + Send,
{
    let row = ig.signed(row)?;
    let active = row.into_active_model().reset_all();
    active.update(db).await
}

/// The error of a write refused because the row it would change does not verify (the
/// violation is reported): a change must not give a tampered row a fresh MAC.
pub fn tampered(table: &str) -> DbErr {
    DbErr::Custom(format!("{TAMPERED}: {table}"))
}

const TAMPERED: &str = "row integrity: the row does not verify";

/// Whether a storage error is [`tampered`].
pub fn is_tampered(err: &DbErr) -> bool {
    matches!(err, DbErr::Custom(text) if text.starts_with(TAMPERED))
}
