//! The host clock against the clocks around it. TOTP codes are only as right as the clock
//! that computes them: a host a minute off reveals codes the platform refuses. `keyward
//! doctor` and `/readyz` compare it with the database server's clock (PostgreSQL; SQLite runs
//! on this host's clock) and `keyward doctor` also with the identity provider's `Date`.

use crate::store::Store;
use sea_orm::{ConnectionTrait, DatabaseBackend, DbErr, Statement};

/// Skew at which a clock is reported: a quarter of the usual 30-second TOTP period would
/// already move some codes to the neighbouring step.
pub const WARN_SKEW_MS: i64 = 3_000;

/// The database server's clock minus this host's, in milliseconds (half the round trip is
/// taken off as its travel time); `None` for SQLite, which has no clock of its own.
pub async fn database_skew_ms(store: &Store) -> Result<Option<i64>, DbErr> {
    if store.backend() != DatabaseBackend::Postgres {
        return Ok(None);
    }
    let before = chrono::Utc::now();
    let row = store
        .db()
        .query_one(Statement::from_string(
            DatabaseBackend::Postgres,
            "SELECT (EXTRACT(EPOCH FROM clock_timestamp()) * 1000)::int8 AS ms",
        ))
        .await?;
    let after = chrono::Utc::now();
    let Some(row) = row else {
        return Ok(None);
    };
    let server_ms: i64 = row.try_get("", "ms")?;
    let middle = before.timestamp_millis() + (after - before).num_milliseconds() / 2;
    Ok(Some(server_ms - middle))
}

/// An HTTP `Date` header's time minus this host's at `received`, in milliseconds. The header
/// has whole seconds, so anything under a second is noise.
pub fn http_date_skew_ms(date: &str, received: chrono::DateTime<chrono::Utc>) -> Option<i64> {
    let theirs = chrono::DateTime::parse_from_rfc2822(date.trim()).ok()?;
    Some((theirs.with_timezone(&chrono::Utc) - received).num_milliseconds())
}

/// What the identity provider's discovery document said: whether it answered, the issuer it
/// names, and its `Date` against this host's clock.
pub struct IdpAnswer {
    pub status: u16,
    pub issuer: Option<String>,
    pub skew_ms: Option<i64>,
}

/// Fetches `{issuer}/.well-known/openid-configuration` once, within `wait`.
pub async fn ask_idp(issuer: &str, wait: std::time::Duration) -> Result<IdpAnswer, String> {
    let url = format!(
        "{}/.well-known/openid-configuration",
        issuer.trim_end_matches('/')
    );
    let client = openidconnect::reqwest::Client::builder()
        .timeout(wait)
        .redirect(openidconnect::reqwest::redirect::Policy::none())
        .build()
        .map_err(|_| "no HTTP client".to_owned())?;
    let response = client.get(&url).send().await.map_err(|err| {
        if err.is_timeout() {
            format!("{url}: no answer within {} s", wait.as_secs())
        } else {
            format!("{url} cannot be fetched: connection refused or the name does not resolve")
        }
    })?;
    let received = chrono::Utc::now();
    let skew_ms = response
        .headers()
        .get("date")
        .and_then(|v| v.to_str().ok())
        .and_then(|date| http_date_skew_ms(date, received));
    let status = response.status().as_u16();
    let document: Option<serde_json::Value> = response.json().await.ok();
    Ok(IdpAnswer {
        status,
        issuer: document
            .as_ref()
            .and_then(|d| d["issuer"].as_str())
            .map(|s| s.trim_end_matches('/').to_owned()),
        skew_ms,
    })
}

/// The identity provider's clock as last measured (by the server every ten minutes), for
/// `/readyz`: readiness probes come often, and none of them waits on the IdP.
#[derive(Default)]
pub struct IdpClock {
    skew_ms: std::sync::Mutex<Option<i64>>,
}

impl IdpClock {
    pub fn set(&self, skew: Option<i64>) {
        if let Ok(mut held) = self.skew_ms.lock() {
            *held = skew;
        }
    }

    pub fn get(&self) -> Option<i64> {
        self.skew_ms.lock().ok().and_then(|held| *held)
    }
}

/// Says a skew in words, or `None` when it is within [`WARN_SKEW_MS`].
pub fn describe(what: &str, skew_ms: i64) -> Option<String> {
    (skew_ms.abs() >= WARN_SKEW_MS).then(|| {
        let direction = if skew_ms > 0 { "behind" } else { "ahead of" };
        format!(
            "this host's clock is {:.1} s {direction} {what}: TOTP codes may be refused; \
             synchronise it (e.g. systemd-timesyncd or chrony)",
            skew_ms.abs() as f64 / 1000.0
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_http_date_gives_the_skew_in_either_direction() {
        let now = chrono::DateTime::parse_from_rfc3339("2026-12-01T04:00:00Z")
            .map(|t| t.with_timezone(&chrono::Utc))
            .ok();
        let now = now.unwrap_or_default();
        assert_eq!(
            http_date_skew_ms("Tue, 01 Dec 2026 04:00:10 GMT", now),
            Some(10_000)
        );
        assert_eq!(
            http_date_skew_ms("Tue, 01 Dec 2026 03:59:58 GMT", now),
            Some(-2_000)
        );
        assert_eq!(http_date_skew_ms("yesterday", now), None);
    }

    #[test]
    fn a_skew_is_said_only_from_three_seconds_and_says_which_way() {
        assert_eq!(describe("the database server", 2_999), None);
        assert_eq!(describe("the database server", -2_999), None);
        let behind = describe("the identity provider", 10_000).unwrap_or_default();
        assert!(
            behind.contains("10.0 s behind the identity provider"),
            "{behind}"
        );
        let ahead = describe("the database server", -4_500).unwrap_or_default();
        assert!(
            ahead.contains("4.5 s ahead of the database server"),
            "{ahead}"
        );
    }
}
