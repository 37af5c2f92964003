//! Checking a typed backup code against the unused ones without handing one out: a guess
//! budget per account keeps it from being an oracle.

use super::*;
use crate::audit::Outcome;
use crate::authz::Action;
use crate::domain::TypedCode;
use crate::services::{Allowed, Caller, Core, ServiceError};
use crate::store::backup::{self as repo, state};

impl Core {
    /// Says what a typed code is (unused, used, superseded…) without revealing any other code.
    /// It is no oracle: it needs a recent sign-in, counts against the member's reveal limits,
    /// and a verify that finds nothing spends guesses (the typed code, plus each look-alike
    /// variant tried) from the account's budget of `limits.verify_guesses` per window.
    pub async fn verify_backup_code(
        &self,
        caller: &Caller,
        allowed: &Allowed,
        typed: TypedCode,
    ) -> Result<Verification, ServiceError> {
        let (_, team) = allowed.for_action(Action::BackupVerify)?;
        let account_id = allowed.id();
        self.require_recent_auth(caller)?;
        let budget = GuessBudget::new(&self.settings.limits, account_id);
        let tx = self.store.begin_write().await?;
        let spent = crate::store::limits::count(&*tx, &budget.key, budget.window_start).await?;
        if spent >= i64::from(budget.max) {
            drop(tx);
            return Err(self.refuse_verify(caller, account_id, team, &budget).await);
        }
        let tx = self
            .charge_reveal(tx, caller, team, "backup.verify", &target(account_id))
            .await?;
        let generations = repo::all_generations(&*tx, account_id).await?;
        let exact = self.keyring.backup_lookup(account_id, &typed.normalised);
        let mut found = repo::find_by_lookup(&*tx, &generations, vec![exact]).await?;
        let mut via_look_alike = false;
        let mut guesses = 1;
        if found.is_empty() {
            let variants: Vec<String> = typed
                .look_alike_variants()
                .iter()
                .map(|v| self.keyring.backup_lookup(account_id, v))
                .collect();
            guesses += variants.len();
            found = repo::find_by_lookup(&*tx, &generations, variants).await?;
            via_look_alike = true;
        }
        // Newest generation first; a look-alike must point at one code only to count.
        found.sort_by_key(|c| {
            std::cmp::Reverse(
                generations
                    .iter()
                    .find(|g| g.id == c.generation_id)
                    .map(|g| g.generation),
            )
        });
        let matched = match (via_look_alike, found.len()) {
            (_, 0) => None,
            (true, n) if n > 1 => None,
            _ => found.first(),
        };
        let verification = match matched.and_then(|code| {
            generations
                .iter()
                .find(|g| g.id == code.generation_id)
                .map(|g| (g, code))
        }) {
            Some((generation, code)) => {
                let shown = self.open_code(account_id, generation, code)?;
                let status = if generation.superseded_at.is_some() {
                    "superseded"
                } else {
                    match code.state.as_str() {
                        state::UNUSED => "unused",
                        state::CHECKED_OUT => "checked_out",
                        state::USED => "used",
                        _ => "rejected",
                    }
                };
                Verification {
                    status,
                    generation: Some(generation.generation),
                    position: Some(code.position),
                    exact: !via_look_alike,
                    hints: typed.hints(Some(&shown), via_look_alike),
                }
            }
            None => Verification {
                status: "unknown",
                generation: None,
                position: None,
                exact: false,
                hints: typed.hints(None, false),
            },
        };
        // Only a verify that finds nothing spends the budget: a person checking a code they
        // hold is never locked out by it.
        let spent = if verification.status == "unknown" {
            let n = i32::try_from(guesses).unwrap_or(i32::MAX);
            crate::store::limits::add(&*tx, &budget.key, budget.window_start, n).await?
        } else {
            spent
        };
        let event = caller
            .event("backup.verify")
            .target(target(account_id))
            .team(team)
            .details(serde_json::json!({
                "status": verification.status,
                "generation": verification.generation,
                "position": verification.position,
                "exact": verification.exact,
                "guesses": guesses,
                "guesses_spent_in_window": spent,
            }));
        crate::audit::append(&*tx, event).await?;
        tx.commit().await?;
        Ok(verification)
    }

    pub(super) async fn refuse_verify(
        &self,
        caller: &Caller,
        account_id: &str,
        team: &str,
        budget: &GuessBudget,
    ) -> ServiceError {
        let retry_after = budget.retry_after();
        let event = caller
            .event("backup.verify")
            .target(target(account_id))
            .team(team)
            .outcome(Outcome::Denied)
            .details(serde_json::json!({
                "reason": "verify_budget",
                "budget": budget.max,
                "window_seconds": budget.seconds,
            }));
        self.record_standalone(event).await;
        ServiceError::RateLimited {
            code: "verify_budget",
            message: format!(
                "this account's backup codes were checked too often without a match; try again in {retry_after} s"
            ),
            retry_after,
        }
    }
}
