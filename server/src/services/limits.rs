//! Per-member reveal rate limits, counted in the database (they hold across replicas) inside
//! the reveal's own transaction: a reveal that fails does not count, and one that is refused
//! rolls back and is audited. The same transaction first re-checks that the caller may still
//! act (not departed, token not revoked), so no reveal slips past an offboarding.

use super::{Caller, Core, ServiceError};
use crate::audit::Outcome;
use crate::store::{limits as repo, WriteTx};

/// A fixed window: its name in the counter key, its length, and the configured maximum.
struct Window {
    name: &'static str,
    seconds: i64,
    max: u32,
}

impl Core {
    /// Counts one reveal by `caller` in `tx`. Over a limit, the transaction is rolled back, the
    /// refusal is audited and the error carries the seconds until the window ends.
    pub(crate) async fn charge_reveal(
        &self,
        tx: WriteTx,
        caller: &Caller,
        team: &str,
        attempted: &'static str,
        target: &str,
    ) -> Result<WriteTx, ServiceError> {
        if !self.still_allowed(&tx, caller).await? {
            drop(tx);
            let event = caller
                .event("auth.denied")
                .team(team)
                .target(target)
                .outcome(Outcome::Denied)
                .details(serde_json::json!({ "attempted": attempted, "reason": "access_ended" }));
            self.record_standalone(event).await;
            return Err(ServiceError::Refused {
                code: "access_ended",
                message: "your access has ended (offboarded, or the token was revoked)".to_owned(),
            });
        }
        let limits = &self.settings.limits;
        let windows = [
            Window {
                name: "m",
                seconds: 60,
                max: limits.reveals_per_minute,
            },
            Window {
                name: "h",
                seconds: 3600,
                max: limits.reveals_per_hour,
            },
        ];
        let now = chrono::Utc::now().timestamp();
        let subject = caller.principal.subject();
        let enabled: Vec<(&Window, String, i64)> = windows
            .iter()
            .filter(|w| w.max > 0)
            .map(|w| {
                let start = now - now.rem_euclid(w.seconds);
                (w, format!("reveal:{}:{subject}", w.name), start)
            })
            .collect();
        if enabled.is_empty() {
            return Ok(tx);
        }
        // Every window is counted in one statement; a refusal drops the transaction, so none
        // of the increments stays.
        let keys: Vec<(&str, i64)> = enabled.iter().map(|(_, k, s)| (k.as_str(), *s)).collect();
        let totals = repo::add_many(&*tx, &keys, 1).await?;
        for ((window, _, start), hits) in enabled.iter().zip(totals) {
            let (window, start) = (*window, *start);
            if hits > i64::from(window.max) {
                drop(tx);
                let retry_after = (start + window.seconds - now).max(1) as u64;
                let event = caller
                    .event("reveal.rate_limited")
                    .team(team)
                    .target(target)
                    .outcome(Outcome::Denied)
                    .details(serde_json::json!({
                        "attempted": attempted,
                        "limit": window.max,
                        "per_seconds": window.seconds,
                    }));
                self.record_standalone(event).await;
                return Err(ServiceError::RateLimited {
                    code: "rate_limited",
                    message: format!(
                        "you reached the limit of {} reveals per {}; try again in {retry_after} s",
                        window.max,
                        if window.seconds == 60 {
                            "minute"
                        } else {
                            "hour"
                        }
                    ),
                    retry_after,
                });
            }
        }
        Ok(tx)
    }

    /// Whether the caller may still act, checked in `tx` with their row locked: a departure
    /// (or a revocation) that committed since the request was authenticated is seen, and one
    /// that comes later waits for this transaction, whose audit event it then counts.
    async fn still_allowed(&self, tx: &WriteTx, caller: &Caller) -> Result<bool, ServiceError> {
        let id = &caller.principal.id;
        Ok(match caller.principal.kind {
            crate::authn::PrincipalKind::Member => {
                crate::store::members::lock_active(&**tx, id).await?
            }
            crate::authn::PrincipalKind::Token => {
                crate::store::tokens::lock_usable(&**tx, id).await?
            }
            crate::authn::PrincipalKind::Cli => true,
        })
    }

    /// Counts one import read (a preview, or an import sent whole) by `caller` against
    /// `limits.imports_per_hour`, in its own transaction; over the limit, 429
    /// `import_rate_limited`, audited. The operator's CLI is not limited.
    pub(crate) async fn charge_import(&self, caller: &Caller) -> Result<(), ServiceError> {
        let max = self.settings.limits.imports_per_hour;
        if max == 0 || caller.principal.kind == crate::authn::PrincipalKind::Cli {
            return Ok(());
        }
        let now = chrono::Utc::now().timestamp();
        let start = now - now.rem_euclid(3600);
        let key = format!("import:h:{}", caller.principal.subject());
        let tx = self.store.begin_write().await?;
        let hits = repo::add_many(&*tx, &[(key.as_str(), start)], 1).await?;
        if hits.first().is_some_and(|&n| n > i64::from(max)) {
            drop(tx);
            let retry_after = (start + 3600 - now).max(1) as u64;
            let event = caller
                .event("import.rate_limited")
                .outcome(Outcome::Denied)
                .details(serde_json::json!({ "limit": max, "per_seconds": 3600 }));
            self.record_standalone(event).await;
            return Err(ServiceError::RateLimited {
                code: "import_rate_limited",
                message: format!(
                    "you reached the limit of {max} imports per hour; try again in {retry_after} s"
                ),
                retry_after,
            });
        }
        tx.commit().await?;
        Ok(())
    }

    /// Housekeeping: drops expired sessions, login flows and rate windows.
    pub async fn purge_expired(&self) -> Result<u64, ServiceError> {
        let sessions = self.purge_sessions().await?;
        let releases = self.expire_releases().await?;
        let tx = self.store.begin_write().await?;
        let windows = repo::purge(&*tx, chrono::Utc::now().timestamp() - 2 * 3600).await?;
        tx.commit().await?;
        Ok(sessions + windows + releases)
    }
}
