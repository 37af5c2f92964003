//! Backup codes: import an ordered generation (superseding the last), hand out the lowest
//! unused code exactly once, take the outcome, verify a typed code, and keep the guard rails
//! (low_codes rotation task, failed-attempt budget).

mod verify;
use super::accounts::{archived, ensure_usable};
use super::{Allowed, Caller, Core, ServiceError};
use crate::audit::Outcome;
use crate::authz::Action;
use crate::crypto::backup_code_aad;
use crate::domain::{CodeList, Hint, Justification, RotationKind, RotationReason};
use crate::store::backup::{self as repo, state, CodeRow, GenerationRow, NewGeneration};
use crate::store::rotation;
use crate::store::{new_id, WriteTx};
use chrono::{DateTime, Duration, NaiveDate, Utc};
use zeroize::Zeroizing;

/// Days a `low_codes` rotation task is given before it is overdue.
const LOW_CODES_DUE_DAYS: i64 = 7;

pub use crate::domain::backup::{warning, CodeOutcome};

/// The state a code takes when its outcome is reported.
fn state_after(outcome: CodeOutcome) -> &'static str {
    match outcome {
        CodeOutcome::Worked => state::USED,
        CodeOutcome::Rejected => state::REJECTED,
    }
}

/// Rejected codes within the failed-attempt window.
#[derive(Debug, Clone, Copy)]
pub struct FailedAttempts {
    pub count: u32,
    pub budget: u32,
    pub window_minutes: u32,
    /// When the oldest rejection in the window leaves it.
    pub oldest_expires: Option<DateTime<Utc>>,
}

impl FailedAttempts {
    /// One short of the budget: the next rejection may lock the account on the platform.
    pub fn near_limit(&self) -> bool {
        self.count + 1 >= self.budget
    }

    pub fn exhausted(&self) -> bool {
        self.count >= self.budget
    }
}

pub struct Imported {
    pub generation: i32,
    pub total: usize,
    pub issued_on: NaiveDate,
    pub superseded: Option<i32>,
}

/// A generation's codes, states only.
pub struct BackupStatus {
    pub generation: GenerationRow,
    pub codes: Vec<CodeRow>,
    pub remaining: u64,
    pub failed: FailedAttempts,
    pub warnings: Vec<&'static str>,
}

pub struct CheckedOut {
    /// As the platform shows it.
    pub code: Zeroizing<String>,
    pub position: i32,
    pub generation: i32,
    pub remaining: u64,
    pub warnings: Vec<&'static str>,
}

pub struct Reported {
    pub position: i32,
    pub generation: i32,
    pub state: &'static str,
    pub remaining: u64,
    pub failed: FailedAttempts,
    pub warnings: Vec<&'static str>,
}

/// A report decided but not yet recorded (see [`Core::plan_report`]).
pub struct ReportPlan {
    account_id: String,
    generation: GenerationRow,
    code: CodeRow,
    holder: String,
    action: &'static str,
}

fn not_checked_out(generation: &GenerationRow, code: &CodeRow) -> ServiceError {
    ServiceError::Conflict {
        code: "backup_code_not_checked_out",
        message: format!(
            "code {} of generation {} is {}; only a checked-out code takes an outcome",
            code.position,
            generation.generation,
            code.state.replace('_', " ")
        ),
    }
}

pub struct Verification {
    /// unused | checked_out | used | rejected | superseded | unknown
    pub status: &'static str,
    pub generation: Option<i32>,
    pub position: Option<i32>,
    /// False when the code was found only by swapping look-alike characters.
    pub exact: bool,
    pub hints: Vec<Hint>,
}

/// An account's budget of verify guesses in the current fixed window.
struct GuessBudget {
    key: String,
    window_start: i64,
    seconds: i64,
    max: u32,
}

impl GuessBudget {
    fn new(limits: &crate::config::LimitSettings, account_id: &str) -> Self {
        let seconds = 60 * i64::from(limits.failed_attempt_window_minutes.max(1));
        let now = Utc::now().timestamp();
        Self {
            key: format!("verify-guesses:{account_id}"),
            window_start: now - now.rem_euclid(seconds),
            seconds,
            max: limits.verify_guesses,
        }
    }

    fn retry_after(&self) -> u64 {
        (self.window_start + self.seconds - Utc::now().timestamp()).max(1) as u64
    }
}

fn no_codes_left() -> ServiceError {
    ServiceError::Conflict {
        code: "no_backup_codes_left",
        message:
            "every code of the current generation is used or checked out; import a new generation"
                .to_owned(),
    }
}

fn target(account_id: &str) -> String {
    format!("account:{account_id}")
}

impl Core {
    fn low_threshold(&self) -> u64 {
        u64::from(self.settings.limits.low_backup_codes)
    }

    pub(crate) async fn failed_attempts(
        &self,
        db: &impl sea_orm::ConnectionTrait,
        account_id: &str,
    ) -> Result<FailedAttempts, ServiceError> {
        let limits = &self.settings.limits;
        let window = Duration::minutes(i64::from(limits.failed_attempt_window_minutes));
        let times = repo::rejected_since(db, account_id, Utc::now() - window).await?;
        Ok(FailedAttempts {
            count: times.len() as u32,
            budget: limits.failed_attempt_budget,
            window_minutes: limits.failed_attempt_window_minutes,
            oldest_expires: times.first().map(|t| *t + window),
        })
    }

    fn warnings(&self, remaining: u64, failed: &FailedAttempts) -> Vec<&'static str> {
        let mut out = Vec::new();
        if remaining <= self.low_threshold() {
            out.push(warning::LOW_CODES);
        }
        if failed.near_limit() {
            out.push(warning::FAILED_ATTEMPTS);
        }
        out
    }

    /// Imports a new generation in the order given; the previous one is superseded at once and
    /// every open backup-code rotation task is completed by it.
    pub async fn import_backup_codes(
        &self,
        caller: &Caller,
        allowed: &Allowed,
        codes: CodeList,
        issued_on: NaiveDate,
    ) -> Result<Imported, ServiceError> {
        let (account, team) = allowed.for_action(Action::BackupImport)?;
        let account_id = allowed.id();
        if account.status == "archived" {
            return Err(archived());
        }
        let today = Utc::now().date_naive();
        if issued_on > today + Duration::days(1) {
            return Err(crate::domain::Invalid::new(
                "invalid_issued_on",
                "issued_on is in the future; give the date the platform issued the codes",
            )
            .into());
        }
        let subject = caller.principal.subject();
        let keys = self.sealing_keyring().await?;
        let tx = self.store.begin_write().await?;
        crate::store::accounts::lock(&*tx, account_id).await?;
        let number = repo::next_number(&*tx, account_id).await?;
        let generation_id = new_id();
        let items: Vec<(String, &[u8])> = codes
            .codes()
            .iter()
            .enumerate()
            .map(|(i, code)| {
                (
                    backup_code_aad(account_id, &generation_id, i as i32 + 1),
                    code.display.as_bytes(),
                )
            })
            .collect();
        let sealed = keys.seal_set(&generation_id, items)?;
        let (wrapped, kek_id) = (sealed.wrapped_dek.clone(), sealed.kek_id.clone());
        let lookups: Vec<(String, String)> = codes
            .codes()
            .iter()
            .map(|code| (new_id(), keys.backup_lookup(account_id, &code.normalised)))
            .collect();
        let values: Vec<String> = lookups.iter().map(|(_, l)| l.clone()).collect();
        if repo::holds_any_code(&*tx, account_id, &values).await? {
            return Err(crate::domain::Invalid::new(
                "same_secret",
                "some of these backup codes are codes already stored; a rotation needs the new codes from the platform",
            )
            .into());
        }
        let superseded = repo::insert_generation(
            &*tx,
            NewGeneration {
                id: generation_id.clone(),
                account_id,
                generation: number,
                issued_on,
                created_by: &subject,
                codes: lookups,
                sealed,
            },
        )
        .await
        .map_err(super::concurrent_change)?;
        let owner = super::escrow::Owner {
            account_id,
            kind: "backup",
            id: &generation_id,
            wrapped_dek: &wrapped,
            kek_id: &kek_id,
        };
        self.seal_for_escrows(&*tx, team, owner).await?;
        let closed = self
            .complete_rotation_tasks(
                &*tx,
                caller,
                account_id,
                team,
                RotationKind::BackupCodes,
                number,
            )
            .await?;
        let event = caller
            .event("backup.import")
            .target(target(account_id))
            .team(team)
            .details(serde_json::json!({
                "generation_id": generation_id,
                "generation": number,
                "total": codes.len(),
                "issued_on": issued_on.to_string(),
                "superseded_generation": superseded,
                "completed_rotation_tasks": closed,
            }));
        crate::services::exposure::append(&*tx, &self.integrity, event).await?;
        tx.commit().await?;
        Ok(Imported {
            generation: number,
            total: codes.len(),
            issued_on,
            superseded,
        })
    }

    /// The current generation with each position's state (never a value).
    pub async fn backup_status(
        &self,
        caller: &Caller,
        account_id: &str,
    ) -> Result<BackupStatus, ServiceError> {
        self.account_for(caller, account_id, Action::BackupRead)
            .await?;
        let db = self.store.db();
        let generation = repo::current(db, account_id)
            .await?
            .ok_or(ServiceError::NotFound(
                crate::services::Missing::BackupCodes,
            ))?;
        let codes = repo::codes(db, &generation.id).await?;
        let remaining = codes.iter().filter(|c| c.state == state::UNUSED).count() as u64;
        let failed = self.failed_attempts(db, account_id).await?;
        let warnings = self.warnings(remaining, &failed);
        Ok(BackupStatus {
            generation,
            codes,
            remaining,
            failed,
            warnings,
        })
    }

    /// Hands the lowest unused code of the current generation to the caller, exactly once.
    pub async fn check_out_backup_code(
        &self,
        caller: &Caller,
        allowed: &Allowed,
        justification: Justification,
    ) -> Result<CheckedOut, ServiceError> {
        let (account, team) = allowed.for_action(Action::BackupCheckout)?;
        // Refusals that need no lock are decided before taking one (and again inside).
        ensure_usable(account)?;
        self.require_recent_auth(caller)?;
        // One unit of work: on SQLite it runs whole on the writer thread.
        let (core, caller, account, team) = (
            self.clone(),
            caller.clone(),
            account.clone(),
            team.to_owned(),
        );
        self.store
            .unit(move |tx| async move {
                core.check_out_in(tx, &caller, &account, &team, justification)
                    .await
            })
            .await
    }

    /// [`Core::check_out_backup_code`] in the caller's write transaction, for an account whose
    /// `backup.checkout` right is decided. A refusal (failed-attempt budget, no code left) ends
    /// the transaction and is recorded on its own.
    pub(crate) async fn check_out_in(
        &self,
        tx: WriteTx,
        caller: &Caller,
        account: &crate::store::accounts::Account,
        team: &str,
        justification: Justification,
    ) -> Result<(WriteTx, CheckedOut), ServiceError> {
        let account_id = account.id.as_str();
        ensure_usable(account)?;
        self.require_recent_auth(caller)?;
        let failed = self.failed_attempts(&*tx, account_id).await?;
        if failed.exhausted() {
            drop(tx);
            return Err(self
                .refuse_over_budget(caller, account_id, team, failed)
                .await);
        }
        let tx = self
            .charge_reveal(tx, caller, team, "backup.checkout", &target(account_id))
            .await?;
        let (tx, grant) = self
            .require_grant(tx, caller, account, team, "backup.checkout")
            .await?;
        let Some((generation, code)) = self.take_lowest_unused(&tx, caller, account_id).await?
        else {
            drop(tx);
            let event = caller
                .event("backup.checkout")
                .target(target(account_id))
                .team(team)
                .justification(Some(justification.as_str()))
                .outcome(Outcome::Failure)
                .details(serde_json::json!({ "reason": "no_backup_codes_left" }));
            self.record_standalone(event).await;
            return Err(no_codes_left());
        };
        let shown = self.open_code(account_id, &generation, &code)?;
        let remaining = repo::remaining(&*tx, &generation.id).await?;
        let task_opened = remaining <= self.low_threshold()
            && self
                .open_low_codes_task(&tx, caller, account_id, team, &generation.id)
                .await?;
        let mut details = serde_json::json!({
            "generation": generation.generation,
            "generation_id": generation.id,
            "position": code.position,
            "remaining": remaining,
            "low_codes_task_opened": task_opened,
        });
        crate::services::access::name_grant(&mut details, grant);
        let event = caller
            .event("backup.checkout")
            .target(target(account_id))
            .team(team)
            .justification(Some(justification.as_str()))
            .details(details);
        crate::services::exposure::append(&*tx, &self.integrity, event).await?;
        let warnings = self.warnings(remaining, &failed);
        Ok((
            tx,
            CheckedOut {
                code: shown,
                position: code.position,
                generation: generation.generation,
                remaining,
                warnings,
            },
        ))
    }

    /// Marks the lowest unused code of the current generation checked out by the caller.
    /// The generation's row lock (taken first) queues concurrent check-outs of the account and
    /// keeps an import from superseding the generation under this transaction.
    async fn take_lowest_unused(
        &self,
        tx: &WriteTx,
        caller: &Caller,
        account_id: &str,
    ) -> Result<Option<(GenerationRow, CodeRow)>, ServiceError> {
        // Another import may supersede the generation between the read and the lock: retry.
        for _ in 0..3 {
            let Some(generation) = repo::lock_current(&**tx, account_id).await? else {
                // None at all, or superseded while this waited for its lock: look again.
                if repo::current(&**tx, account_id).await?.is_none() {
                    return Err(ServiceError::NotFound(
                        crate::services::Missing::BackupCodes,
                    ));
                }
                continue;
            };
            let by = caller.principal.subject();
            let Some(code) = repo::check_out_lowest(&**tx, &generation.id, &by).await? else {
                return Ok(None);
            };
            return Ok(Some((generation, code)));
        }
        Err(ServiceError::Conflict {
            code: "backup_codes_changing",
            message: "a new generation is being imported; try again".to_owned(),
        })
    }

    /// Opens a `low_codes` task unless one is open for the account already; returns whether
    /// one was opened.
    async fn open_low_codes_task(
        &self,
        tx: &WriteTx,
        caller: &Caller,
        account_id: &str,
        team: &str,
        generation_id: &str,
    ) -> Result<bool, ServiceError> {
        let kind = RotationKind::BackupCodes.as_str();
        let reason = RotationReason::LowCodes.as_str();
        if rotation::find_open(&**tx, &self.integrity, account_id, kind, reason, None)
            .await?
            .is_some()
        {
            return Ok(false);
        }
        let new = rotation::NewTask {
            account_id,
            kind,
            reason,
            secret_id: None,
            generation_id: Some(generation_id),
            member_id: None,
            due_at: Utc::now() + Duration::days(LOW_CODES_DUE_DAYS),
            opened_by: &caller.principal.subject(),
        };
        self.open_rotation_task(&**tx, &caller.into(), team, new)
            .await?;
        Ok(true)
    }

    async fn refuse_over_budget(
        &self,
        caller: &Caller,
        account_id: &str,
        team: &str,
        failed: FailedAttempts,
    ) -> ServiceError {
        let retry_after = failed
            .oldest_expires
            .map(|t| (t - Utc::now()).num_seconds().max(1) as u64)
            .unwrap_or(60);
        let event = caller
            .event("backup.checkout")
            .target(target(account_id))
            .team(team)
            .outcome(Outcome::Denied)
            .details(serde_json::json!({
                "reason": "failed_attempt_budget",
                "rejected_in_window": failed.count,
                "window_minutes": failed.window_minutes,
            }));
        self.record_standalone(event).await;
        ServiceError::RateLimited {
            code: "failed_attempt_budget",
            message: format!(
                "{} codes were rejected in the last {} minutes; the platform has probably locked \
                 sign-in. Wait {retry_after} s before trying another code",
                failed.count, failed.window_minutes
            ),
            retry_after,
        }
    }

    fn open_code(
        &self,
        account_id: &str,
        generation: &GenerationRow,
        code: &CodeRow,
    ) -> Result<Zeroizing<String>, ServiceError> {
        let aad = backup_code_aad(account_id, &generation.id, code.position);
        let bytes = self.keyring.open_member(
            &generation.id,
            &generation.wrapped_dek,
            &generation.kek_id,
            &aad,
            &code.ciphertext,
        )?;
        std::str::from_utf8(&bytes)
            .map(|text| Zeroizing::new(text.to_owned()))
            .map_err(|_| ServiceError::internal("unreadable code"))
    }

    /// Records whether a checked-out code worked or was rejected by the platform. Only the
    /// person holding the code reports it, or a manager who says so (`override_holder`), which
    /// the trail records as `backup.result_override` with the holder.
    pub async fn report_backup_code(
        &self,
        caller: &Caller,
        allowed: &Allowed,
        position: i32,
        generation_number: Option<i32>,
        outcome: CodeOutcome,
        override_holder: bool,
    ) -> Result<Reported, ServiceError> {
        let (_, team) = allowed.for_action(Action::BackupResult)?;
        let plan = self
            .plan_report(
                caller,
                allowed.id(),
                team,
                position,
                generation_number,
                override_holder,
            )
            .await?;
        let tx = self.store.begin_write().await?;
        let reported = self.report_in(&*tx, caller, team, plan, outcome).await?;
        tx.commit().await?;
        Ok(reported)
    }

    /// Finds the checked-out code a report is about and decides who reports it: its holder,
    /// or a manager overriding (whose right is checked here, and a refusal audited).
    pub(crate) async fn plan_report(
        &self,
        caller: &Caller,
        account_id: &str,
        team: &str,
        position: i32,
        generation_number: Option<i32>,
        override_holder: bool,
    ) -> Result<ReportPlan, ServiceError> {
        let db = self.store.db();
        let generation = match generation_number {
            Some(n) => repo::by_number(db, account_id, n).await?,
            None => repo::current(db, account_id).await?,
        }
        .ok_or(ServiceError::NotFound(
            crate::services::Missing::BackupCodes,
        ))?;
        let code = repo::code_at(db, &generation.id, position)
            .await?
            .ok_or(ServiceError::NotFound(crate::services::Missing::BackupCode))?;
        if code.state != state::CHECKED_OUT {
            return Err(not_checked_out(&generation, &code));
        }
        let subject = caller.principal.subject();
        let holder = code.state_by.clone().unwrap_or_default();
        let action = if holder == subject {
            "backup.result"
        } else if override_holder {
            self.authorize(
                caller,
                team,
                Action::BackupResultOverride,
                Some(&target(account_id)),
            )
            .await?;
            "backup.result_override"
        } else {
            let event = caller
                .event("backup.result")
                .target(target(account_id))
                .team(team)
                .outcome(Outcome::Denied)
                .details(serde_json::json!({
                    "reason": "not_code_holder",
                    "generation": generation.generation,
                    "position": position,
                }));
            self.record_standalone(event).await;
            return Err(ServiceError::Refused {
                code: "not_code_holder",
                message: "only the person who checked this code out reports its outcome; a manager may override with \"override\": true".to_owned(),
            });
        };
        Ok(ReportPlan {
            account_id: account_id.to_owned(),
            generation,
            code,
            holder,
            action,
        })
    }

    /// Records a planned report in the caller's transaction.
    pub(crate) async fn report_in(
        &self,
        db: &impl sea_orm::ConnectionTrait,
        caller: &Caller,
        team: &str,
        plan: ReportPlan,
        outcome: CodeOutcome,
    ) -> Result<Reported, ServiceError> {
        let ReportPlan {
            account_id,
            generation,
            code,
            holder,
            action,
        } = plan;
        let position = code.position;
        if !repo::report(db, &code.id, state_after(outcome), &holder).await? {
            return Err(not_checked_out(&generation, &code));
        }
        let remaining = repo::remaining(db, &generation.id).await?;
        let failed = self.failed_attempts(db, &account_id).await?;
        let mut details = serde_json::json!({
            "generation": generation.generation,
            "position": position,
            "outcome": outcome.as_str(),
            "rejected_in_window": failed.count,
        });
        if action == "backup.result_override" {
            details["holder"] = serde_json::Value::String(holder);
        }
        let event = caller
            .event(action)
            .target(target(&account_id))
            .team(team)
            .details(details);
        crate::audit::append(db, event).await?;
        Ok(Reported {
            position,
            generation: generation.generation,
            state: state_after(outcome),
            remaining,
            warnings: self.warnings(remaining, &failed),
            failed,
        })
    }
}
