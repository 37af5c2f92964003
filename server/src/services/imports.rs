//! Imports of seeds from other authenticators (the formats are the `keyward-importers`
//! crate's): a preview that proposes, per entry, to attach the seed to an account the caller may store
//! seeds on, to create the account, or to skip it (never showing a secret); and the import
//! itself, as the caller decided, in one transaction with its audit events. A seed already
//! stored on its account is recognised and skipped.

use super::accounts::AccountInput;
use super::{Caller, Core, ServiceError};
use crate::authz::Action;
use crate::domain::{Handle, Invalid, Notes, OtpKind, Platform, TeamSlug};
use crate::importers::{parse_import_until, ImportFormat, ImportedSeed};
use crate::store::accounts::{self as accounts_repo, Account, AccountFilter};
use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Accounts looked at for matches at most.
const MAX_CANDIDATES: u64 = 5000;

/// An export as the caller gave it: its format, its text (see [`Core::read_import`]), and
/// the password of an encrypted vault.
pub struct Export {
    pub format: ImportFormat,
    pub data: String,
    pub password: Option<String>,
}

impl Export {
    pub fn new(format: ImportFormat, data: String, password: Option<String>) -> Self {
        Self {
            format,
            data,
            password,
        }
    }
}

/// What to do with one entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImportAction {
    Attach,
    Create,
    Skip,
}

impl ImportAction {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Attach => "attach",
            Self::Create => "create",
            Self::Skip => "skip",
        }
    }

    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        match raw.trim() {
            "attach" => Ok(Self::Attach),
            "create" => Ok(Self::Create),
            "skip" => Ok(Self::Skip),
            _ => Err(Invalid::new(
                "invalid_action",
                "action is attach, create or skip",
            )),
        }
    }
}

/// What the preview proposes for an entry.
pub struct Proposal {
    pub action: ImportAction,
    pub account: Option<String>,
    pub platform: Option<String>,
    pub handle: Option<String>,
    /// Why, for a skip (`already_stored`, `earlier_version`, `no_handle`) or an attach
    /// (`same_handle`).
    pub reason: Option<&'static str>,
}

/// One entry of a preview: its parameters and the proposal, never its secret.
pub struct PreviewEntry {
    pub index: usize,
    pub issuer: Option<String>,
    pub label: Option<String>,
    pub kind: OtpKind,
    pub algorithm: &'static str,
    pub digits: u32,
    pub period: Option<u64>,
    pub proposal: Proposal,
}

/// The caller's decision for one entry.
pub struct Decision {
    pub index: usize,
    pub action: ImportAction,
    pub account: Option<String>,
    pub platform: Option<Platform>,
    pub handle: Option<Handle>,
}

pub struct AppliedEntry {
    pub index: usize,
    pub account: Option<String>,
    /// `attach`, `create` or `skip` (`already_stored` ones are skips).
    pub action: &'static str,
    pub version: Option<i32>,
}

pub struct Applied {
    pub stored: usize,
    pub created: usize,
    pub skipped: usize,
    pub results: Vec<AppliedEntry>,
}

/// The platform an issuer names, if Keyward knows it.
pub fn platform_of(issuer: Option<&str>) -> Platform {
    let name = issuer.unwrap_or_default().trim().to_lowercase();
    let known = [
        ("instagram", Platform::Instagram),
        ("twitter", Platform::X),
        ("x", Platform::X),
        ("x.com", Platform::X),
        ("facebook", Platform::Facebook),
        ("meta", Platform::Facebook),
        ("tiktok", Platform::Tiktok),
        ("youtube", Platform::Youtube),
        ("linkedin", Platform::Linkedin),
        ("github", Platform::Github),
        ("google", Platform::Google),
    ];
    known
        .iter()
        .find(|(n, _)| name == *n || name.starts_with(&format!("{n} ")))
        .map_or(Platform::Other, |(_, p)| *p)
}

/// The handle a label names: the account part of `Issuer:account`.
pub fn handle_of(label: Option<&str>) -> Option<Handle> {
    let label = label?;
    let account = label.rsplit_once(':').map_or(label, |(_, a)| a).trim();
    Handle::parse(account).ok()
}

/// Handle keys an entry may match: as given, and with or without a leading `@`.
fn keys_of(handle: &Handle) -> [String; 2] {
    let key = handle.key();
    let other = match key.strip_prefix('@') {
        Some(bare) => bare.to_owned(),
        None => format!("@{key}"),
    };
    [key, other]
}

/// Import work (key derivations, decoding screenshots) runs one piece at a time in the
/// process, so imports never take more than one core from everyone else.
static IMPORT_WORK: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(1);

/// How long an import waits for its turn before 429 `imports_busy`.
const IMPORT_WAIT: std::time::Duration = std::time::Duration::from_secs(30);

/// The turn to run import work, waited for at most `wait` ([`IMPORT_WAIT`]).
async fn import_turn(
    wait: std::time::Duration,
) -> Result<tokio::sync::SemaphorePermit<'static>, ServiceError> {
    match tokio::time::timeout(wait, IMPORT_WORK.acquire()).await {
        Ok(Ok(permit)) => Ok(permit),
        _ => Err(ServiceError::RateLimited {
            code: "imports_busy",
            message: "other imports are being read; try again in a few seconds".to_owned(),
            retry_after: 5,
        }),
    }
}

/// Counts work that stopped because its request had gone (nobody reads its answer).
fn stopped<T>(result: Result<T, Invalid>) -> Result<T, Invalid> {
    if result.as_ref().is_err_and(|e| e.code == "cancelled") {
        crate::telemetry::metrics::count_import_stopped();
    }
    result
}

/// Set when the client that asked for import work has gone (see `http::hangup`), or when
/// the request's future is dropped: the work stops at its next step.
#[derive(Clone, Default)]
pub struct ClientGone(Arc<AtomicBool>);

impl ClientGone {
    /// For callers with no client to lose (the CLI).
    pub fn never() -> Self {
        Self::default()
    }

    pub fn set(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    pub fn is_set(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }

    fn flag(&self) -> Arc<AtomicBool> {
        self.0.clone()
    }
}

/// Sets the flag if dropped before [`StopOnDrop::finish`]: the request's future went away
/// while its blocking work was running.
struct StopOnDrop(Option<ClientGone>);

impl StopOnDrop {
    fn finish(mut self) {
        self.0 = None;
    }
}

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        if let Some(gone) = self.0.take() {
            gone.set();
        }
    }
}

impl Core {
    /// The export's text from what a request sent: the text itself, or base64 of a file or of
    /// screenshots (PNG, JPEG or WebP, one per line for a multi-batch export) of Google
    /// Authenticator's export QR codes or of otpauth:// QR codes, read for their URIs within
    /// the per-request budget (`too_many_images`, `too_many_pixels`). Counts against the
    /// caller's `limits.imports_per_hour` first.
    pub async fn read_import(
        &self,
        caller: &Caller,
        format: ImportFormat,
        raw: &str,
        gone: &ClientGone,
    ) -> Result<String, ServiceError> {
        self.charge_import(caller).await?;
        let raw = raw.trim();
        let looks_like_text = match format {
            ImportFormat::Aegis | ImportFormat::TwoFas | ImportFormat::Bitwarden => {
                raw.starts_with('{')
            }
            ImportFormat::GoogleAuthenticator | ImportFormat::Otpauth => raw.contains("://"),
        };
        if looks_like_text || raw.is_empty() {
            return Ok(raw.to_owned());
        }
        let not_base64 = || {
            Invalid::new(
                "invalid_import",
                "data is neither the export's text nor base64",
            )
        };
        let mut files = Vec::new();
        for block in raw.split_whitespace() {
            files.push(
                data_encoding::BASE64
                    .decode(block.as_bytes())
                    .map_err(|_| not_base64())?,
            );
        }
        let images = files
            .iter()
            .filter(|f| crate::importers::qr::is_image(f))
            .count();
        if images == 0 {
            let [file] = <[Vec<u8>; 1]>::try_from(files).map_err(|_| not_base64())?;
            return String::from_utf8(file).map_err(|_| {
                Invalid::new("invalid_import", "the decoded data is not text").into()
            });
        }
        if images != files.len() {
            return Err(
                Invalid::new("invalid_import", "give either screenshots or one file").into(),
            );
        }
        if !matches!(
            format,
            ImportFormat::GoogleAuthenticator | ImportFormat::Otpauth
        ) {
            return Err(Invalid::new(
                "unsupported_image",
                "screenshots are read for google-authenticator and otpauth imports; give this export's file",
            )
            .into());
        }
        let turn = import_turn(IMPORT_WAIT).await?;
        let guard = StopOnDrop(Some(gone.clone()));
        let cancel = gone.flag();
        let texts = tokio::task::spawn_blocking(move || {
            let _turn = turn;
            stopped(crate::importers::qr::texts_of_images(&files, &cancel))
        })
        .await;
        guard.finish();
        // The reader stopped (it panicked on this image): the image's fault.
        let texts =
            texts.map_err(|_| Invalid::new("not_an_image", "the image could not be read"))??;
        Ok(texts.join("\n"))
    }

    async fn parse_blocking(
        export: Export,
        gone: &ClientGone,
    ) -> Result<Vec<ImportedSeed>, ServiceError> {
        let Export {
            format,
            data,
            password,
        } = export;
        // An encrypted vault costs a scrypt derivation: off the request threads, and stopped
        // between password slots once the request has gone.
        let turn = import_turn(IMPORT_WAIT).await?;
        let guard = StopOnDrop(Some(gone.clone()));
        let cancel = gone.flag();
        let parsed = tokio::task::spawn_blocking(move || {
            let _turn = turn;
            let password = password.map(zeroize::Zeroizing::new);
            let data = zeroize::Zeroizing::new(data);
            stopped(parse_import_until(
                format,
                &data,
                password.as_deref().map(String::as_str),
                &cancel,
            ))
        })
        .await;
        guard.finish();
        parsed
            // The parser stopped (it panicked on this input): the input's fault, told as such.
            .map_err(|_| {
                crate::domain::Invalid::new("invalid_import", "the export could not be read")
            })?
            .map_err(ServiceError::from)
    }

    /// The accounts whose seeds the caller may store, by (platform, handle key).
    async fn import_candidates(
        &self,
        caller: &Caller,
    ) -> Result<HashMap<(String, String), (Account, String)>, ServiceError> {
        let db = self.store.db();
        let teams = self.teams_allowing(caller, None, Action::TotpSet).await?;
        if teams.as_ref().is_some_and(HashMap::is_empty) {
            return Ok(HashMap::new());
        }
        let filter = AccountFilter {
            team_ids: teams.as_ref().map(|t| t.keys().cloned().collect()),
            hide_archived: true,
            ..Default::default()
        };
        let accounts = accounts_repo::list(db, &self.integrity, &filter, MAX_CANDIDATES).await?;
        let slugs = match teams {
            Some(known) => known,
            None => accounts_repo::team_slugs(db, &self.integrity).await?,
        };
        Ok(accounts
            .into_iter()
            .map(|a| {
                let key = (a.platform.clone(), a.handle_key.clone().unwrap_or_default());
                let team = slugs.get(&a.team_id).cloned().unwrap_or_default();
                (key, (a, team))
            })
            .collect())
    }

    /// Why `seed` is not to be stored on `account`, if it is a value the account held already:
    /// `already_stored` (its current seed) or `earlier_version` (a seed it has replaced, which
    /// coming back would undo a rotation).
    async fn held_already(
        &self,
        db: &impl sea_orm::ConnectionTrait,
        account: &Account,
        seed: &ImportedSeed,
    ) -> Result<Option<&'static str>, ServiceError> {
        let kind = seed.otp.params.kind().as_str();
        let bytes = seed.otp.secret.expose_bytes();
        let fingerprint = self.fingerprint_of(&account.id, kind, bytes);
        Ok(self
            .version_holding(db, &account.id, kind, &fingerprint, bytes)
            .await?
            .map(|row| {
                if row.superseded_at.is_none() {
                    "already_stored"
                } else {
                    "earlier_version"
                }
            }))
    }

    /// Reads an import and proposes what to do with each seed. Needs the right to store seeds
    /// somewhere (decided, and a refusal audited, before the data is read).
    pub async fn preview_import(
        &self,
        caller: &Caller,
        export: Export,
        gone: &ClientGone,
    ) -> Result<Vec<PreviewEntry>, ServiceError> {
        let seeds = Self::parse_blocking(export, gone).await?;
        let candidates = self.import_candidates(caller).await?;
        let db = self.store.db();
        let mut entries = Vec::with_capacity(seeds.len());
        for seed in &seeds {
            let p = &seed.otp.params;
            let platform = platform_of(p.issuer.as_deref());
            let handle = handle_of(p.label.as_deref());
            let found = handle.as_ref().and_then(|h| {
                keys_of(h)
                    .iter()
                    .find_map(|k| candidates.get(&(platform.as_str().to_owned(), k.clone())))
            });
            let held = match found {
                Some((account, _)) => self.held_already(db, account, seed).await?,
                None => None,
            };
            let proposal = match (found, &handle) {
                (Some((account, _)), _) if held.is_some() => Proposal {
                    action: ImportAction::Skip,
                    account: Some(account.id.clone()),
                    platform: Some(account.platform.clone()),
                    handle: Some(account.handle.clone()),
                    reason: held,
                },
                (Some((account, _)), _) => Proposal {
                    action: ImportAction::Attach,
                    account: Some(account.id.clone()),
                    platform: Some(account.platform.clone()),
                    handle: Some(account.handle.clone()),
                    reason: Some("same_handle"),
                },
                (None, Some(handle)) => Proposal {
                    action: ImportAction::Create,
                    account: None,
                    platform: Some(platform.as_str().to_owned()),
                    handle: Some(handle.as_str().to_owned()),
                    reason: None,
                },
                (None, None) => Proposal {
                    action: ImportAction::Skip,
                    account: None,
                    platform: Some(platform.as_str().to_owned()),
                    handle: None,
                    reason: Some("no_handle"),
                },
            };
            entries.push(PreviewEntry {
                index: seed.index,
                issuer: p.issuer.clone(),
                label: p.label.clone(),
                kind: p.kind(),
                algorithm: p.algorithm.as_str(),
                digits: p.digits,
                period: p.period,
                proposal,
            });
        }
        Ok(entries)
    }

    /// Imports the seeds as decided, all in one transaction: accounts are created in `team`,
    /// seeds stored as new versions (each audited, naming the import), a seed already stored
    /// on its account skipped, and `import.apply` recorded. Every right is decided (and a
    /// refusal audited) before anything is written; one refusal or bad decision refuses the
    /// whole import.
    pub async fn apply_import(
        &self,
        caller: &Caller,
        team: &TeamSlug,
        export: Export,
        decisions: Vec<Decision>,
        gone: &ClientGone,
    ) -> Result<Applied, ServiceError> {
        let format = export.format;
        let seeds = Self::parse_blocking(export, gone).await?;
        let mut seen = BTreeSet::new();
        for d in &decisions {
            if d.index >= seeds.len() {
                return Err(Invalid::new(
                    "invalid_entry",
                    format!(
                        "entry {} is not in this import (it has {})",
                        d.index,
                        seeds.len()
                    ),
                )
                .into());
            }
            if !seen.insert(d.index) {
                return Err(Invalid::new(
                    "invalid_entry",
                    format!("entry {} is decided twice", d.index),
                )
                .into());
            }
        }
        // Rights first: creating in the team, storing on each account attached to.
        let creates = decisions.iter().any(|d| d.action == ImportAction::Create);
        if creates {
            self.authorize(caller, team.as_str(), Action::AccountCreate, None)
                .await?;
            self.authorize(caller, team.as_str(), Action::TotpSet, None)
                .await?;
        }
        let mut attach_to: HashMap<usize, (Account, String)> = HashMap::new();
        for d in decisions
            .iter()
            .filter(|d| d.action == ImportAction::Attach)
        {
            let id = d.account.as_deref().ok_or_else(|| {
                Invalid::new(
                    "invalid_entry",
                    format!("entry {}: attach names the account", d.index),
                )
            })?;
            let kind = seeds[d.index].otp.params.kind();
            let right = if kind == OtpKind::Totp {
                Action::TotpSet
            } else {
                Action::HotpSet
            };
            let allowed = self.allow(caller, id, right).await?;
            if allowed.account.status == "archived" {
                return Err(super::accounts::archived());
            }
            attach_to.insert(d.index, (allowed.account, allowed.team));
        }
        let mut to_create = HashMap::new();
        for d in decisions
            .iter()
            .filter(|d| d.action == ImportAction::Create)
        {
            let (Some(platform), Some(handle)) = (d.platform, d.handle.clone()) else {
                return Err(Invalid::new(
                    "invalid_entry",
                    format!(
                        "entry {}: create names the platform and the handle",
                        d.index
                    ),
                )
                .into());
            };
            to_create.insert(
                d.index,
                AccountInput {
                    team: team.clone(),
                    platform,
                    handle,
                    login_url: None,
                    notes: Notes::parse("")?,
                },
            );
        }
        self.sealing_keyring().await?;
        let tx = self.store.begin_write().await?;
        let tag = format.as_str();
        let mut applied = Applied {
            stored: 0,
            created: 0,
            skipped: 0,
            results: Vec::new(),
        };
        for seed in &seeds {
            let decided = decisions.iter().find(|d| d.index == seed.index);
            let target = match decided.map(|d| d.action) {
                Some(ImportAction::Attach) => attach_to.remove(&seed.index),
                Some(ImportAction::Create) => match to_create.remove(&seed.index) {
                    Some(input) => {
                        let account = self.create_account_in(&*tx, caller, &input).await?;
                        applied.created += 1;
                        Some((account, team.as_str().to_owned()))
                    }
                    None => None,
                },
                _ => None,
            };
            let Some((account, account_team)) = target else {
                applied.skipped += 1;
                applied.results.push(AppliedEntry {
                    index: seed.index,
                    account: None,
                    action: "skip",
                    version: None,
                });
                continue;
            };
            if self.held_already(&*tx, &account, seed).await?.is_some() {
                applied.skipped += 1;
                applied.results.push(AppliedEntry {
                    index: seed.index,
                    account: Some(account.id),
                    action: "skip",
                    version: None,
                });
                continue;
            }
            let version = self
                .store_otp_in(
                    &tx,
                    caller,
                    &account.id,
                    &account_team,
                    &seed.otp,
                    Some(tag),
                )
                .await?;
            applied.stored += 1;
            applied.results.push(AppliedEntry {
                index: seed.index,
                account: Some(account.id),
                action: decided.map_or("skip", |d| d.action.as_str()),
                version: Some(version),
            });
        }
        let event = caller
            .event("import.apply")
            .team(team.as_str())
            .details(serde_json::json!({
                "format": tag,
                "entries": seeds.len(),
                "stored": applied.stored,
                "created": applied.created,
                "skipped": applied.skipped,
            }));
        crate::audit::append(&*tx, event).await?;
        tx.commit().await?;
        Ok(applied)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn import_work_waits_its_turn_and_gives_up_with_imports_busy() {
        let held = import_turn(IMPORT_WAIT).await;
        assert!(held.is_ok());
        let waited = import_turn(std::time::Duration::from_millis(20)).await;
        assert!(matches!(
            waited,
            Err(ServiceError::RateLimited {
                code: "imports_busy",
                retry_after: 5,
                ..
            })
        ));
        drop(held);
        assert!(import_turn(std::time::Duration::from_millis(20))
            .await
            .is_ok());
        // The flag that stops blocking work is set when the request's future goes while
        // the work runs, and not when the work has finished.
        let gone = ClientGone::default();
        drop(StopOnDrop(Some(gone.clone())));
        assert!(gone.is_set());
        let finished = ClientGone::default();
        StopOnDrop(Some(finished.clone())).finish();
        assert!(!finished.is_set());
    }

    #[test]
    fn issuers_and_labels_give_platforms_and_handles() {
        assert_eq!(platform_of(Some("Instagram")), Platform::Instagram);
        assert_eq!(platform_of(Some("Twitter")), Platform::X);
        assert_eq!(platform_of(Some("GitHub Enterprise")), Platform::Github);
        assert_eq!(platform_of(Some("Acme VPN")), Platform::Other);
        assert_eq!(platform_of(None), Platform::Other);
        assert_eq!(
            handle_of(Some("Instagram:brand")).map(|h| h.as_str().to_owned()),
            Some("brand".to_owned())
        );
        assert_eq!(
            handle_of(Some("@brand")).map(|h| h.as_str().to_owned()),
            Some("@brand".to_owned())
        );
        assert!(handle_of(Some("Instagram:")).is_none());
        let keys = keys_of(&Handle::parse("@Brand").unwrap());
        assert_eq!(keys, ["@brand".to_owned(), "brand".to_owned()]);
    }
}
