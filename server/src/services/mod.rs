//! The use cases. Each public function is one action: authorize, one transaction, its audit
//! event inside that transaction. Services know nothing of HTTP.

pub mod access;
pub mod accounts;
pub mod admin;
pub mod anonymous;
pub mod anonymous_guard;
pub mod audit;
pub mod audit_state;
pub mod backup;
pub mod ceremony;
pub mod cli_sessions;
pub mod clock;
pub mod departures;
pub mod device;
mod error;
pub mod escalation;
pub mod escrow;
pub mod exposure;
pub mod gauges;
pub mod health;
pub mod imports;
pub mod incidents;
pub mod integrity;
pub mod keys;
pub mod limits;
pub mod logout;
pub mod members;
pub mod notifier;
pub mod offboarding;
pub mod otp;
pub mod page_results;
pub mod passwords;
pub mod platforms;
pub mod release;
pub mod rotation;
pub mod runbooks;
pub mod scim;
pub mod signin;
pub mod tokens;

use crate::audit::{Event, Outcome};
use crate::authn::oidc::Oidc;
use crate::authn::Principal;
use crate::authz::{Action, Authorizer};
use crate::config::Settings;
use crate::crypto::Keyring;
use crate::store::Store;
use std::sync::Arc;

pub(crate) use error::concurrent_change;
pub use error::{Missing, ServiceError};

/// Everything a use case needs: storage, keys, the authorizer, the IdP and the settings.
/// Cloning it is cheap (one reference count): a unit of work handed to SQLite's writer
/// thread takes its own.
#[derive(Clone)]
pub struct Core(Arc<Parts>);

impl Core {
    pub fn new(parts: Parts) -> Self {
        Self(Arc::new(parts))
    }
}

impl std::ops::Deref for Core {
    type Target = Parts;
    fn deref(&self) -> &Parts {
        &self.0
    }
}

/// What [`Core`] holds.
pub struct Parts {
    pub store: Store,
    pub keyring: Arc<Keyring>,
    /// Signs and checks the rows that carry authority (see `store::integrity`).
    pub integrity: Arc<crate::store::Integrity>,
    pub authz: Authorizer,
    pub oidc: Option<Oidc>,
    pub settings: Arc<Settings>,
    /// How far the audit chain is verified and witnessed (see `services::audit`).
    pub audit_state: audit_state::AuditState,
    /// Per-address limits and denial aggregation for anonymous requests.
    pub anonymous: anonymous_guard::AnonymousGuard,
    /// KEK ids that wrapped stored DEKs when the server started (counted once): readiness
    /// checks each of them is still held.
    pub kek_ids_at_start: Vec<String>,
    /// The `[[notify]]` webhooks told about overdue rotation tasks.
    pub notifier: notifier::Notifier,
    /// The incident runbooks, checked at start.
    pub runbooks: Arc<runbooks::Runbooks>,
    /// The identity provider's clock against this host's, as last measured.
    pub idp_clock: clock::IdpClock,
    /// Set on SIGTERM: `/readyz` answers 503 while in-flight and new requests are still
    /// served (see `http.drain_seconds`).
    pub draining: Arc<std::sync::atomic::AtomicBool>,
}

/// Where a request came from, for the audit trail.
#[derive(Debug, Clone, Default)]
pub struct RequestMeta {
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub request_id: Option<String>,
}

/// An authenticated browser session.
#[derive(Debug, Clone)]
pub struct SessionInfo {
    pub id_hash: String,
    pub auth_time: chrono::DateTime<chrono::Utc>,
}

/// An authenticated principal making a request.
#[derive(Debug, Clone)]
pub struct Caller {
    pub principal: Principal,
    pub meta: RequestMeta,
    /// Set when the caller is a signed-in browser (not a service token).
    pub session: Option<SessionInfo>,
}

impl Caller {
    /// An audit event by this caller, with its request metadata.
    pub fn event(&self, action: &'static str) -> Event {
        let mut event = Event::new(self.principal.subject(), action);
        event.ip = self.meta.ip.clone();
        event.user_agent = self.meta.user_agent.clone();
        event.request_id = self.meta.request_id.clone();
        event
    }
}

/// A refused sign-in, for the audit trail (`auth.denied` at the login stage, with `reason`).
pub(crate) fn login_refused(meta: &RequestMeta, actor: &str, reason: &str) -> Event {
    let mut event = Event::new(actor, "auth.denied")
        .outcome(crate::audit::Outcome::Denied)
        .details(serde_json::json!({ "stage": "login", "reason": reason }));
    event.ip = meta.ip.clone();
    event.user_agent = meta.user_agent.clone();
    event.request_id = meta.request_id.clone();
    event
}

/// Who does something, for the audit trail: a caller, the CLI or the server itself.
#[derive(Debug, Clone)]
pub struct Actor {
    pub subject: String,
    pub meta: RequestMeta,
}

impl Actor {
    /// An administrator at the command line.
    pub fn cli() -> Self {
        Self {
            subject: tokens::CLI_ACTOR.to_owned(),
            meta: RequestMeta::default(),
        }
    }

    /// The server's own background jobs.
    pub fn system() -> Self {
        Self {
            subject: tokens::SYSTEM_ACTOR.to_owned(),
            meta: RequestMeta::default(),
        }
    }

    pub fn event(&self, action: &'static str) -> Event {
        let mut event = Event::new(self.subject.clone(), action);
        event.ip = self.meta.ip.clone();
        event.user_agent = self.meta.user_agent.clone();
        event.request_id = self.meta.request_id.clone();
        event
    }
}

impl From<&Caller> for Actor {
    fn from(caller: &Caller) -> Self {
        Self {
            subject: caller.principal.subject(),
            meta: caller.meta.clone(),
        }
    }
}

/// An account the caller may act on for one action: decided, and a refusal audited, before
/// anything the request carries is looked at. Services that change or reveal something take
/// it instead of an account id.
pub struct Allowed {
    pub account: crate::store::accounts::Account,
    pub team: String,
    action: Action,
}

impl Allowed {
    pub fn id(&self) -> &str {
        &self.account.id
    }

    /// The account and its team, if this decision was made for `action`.
    pub(crate) fn for_action(
        &self,
        action: Action,
    ) -> Result<(&crate::store::accounts::Account, &str), ServiceError> {
        if self.action == action {
            Ok((&self.account, &self.team))
        } else {
            // A handler asked for one right and used another: refuse rather than guess.
            Err(ServiceError::Forbidden)
        }
    }
}

impl Core {
    /// The keyring for sealing, once every key it holds is proven against the database's key
    /// check values (a key file rotated since start is proven here): no write goes under a
    /// key the database does not vouch for.
    pub(crate) async fn sealing_keyring(&self) -> Result<&Keyring, ServiceError> {
        // Picks up a key file rotated since the last write.
        let _ = self.keyring.active_id();
        if !self.keyring.unproven().is_empty() {
            keys::prove(&self.store, &self.keyring).await?;
        }
        Ok(&self.keyring)
    }

    /// Allows or refuses `action` in `team`; a refusal is audited as `auth.denied`.
    pub async fn authorize(
        &self,
        caller: &Caller,
        team: &str,
        action: Action,
        target: Option<&str>,
    ) -> Result<(), ServiceError> {
        if self.authz.allows(&caller.principal, team, action).await {
            return Ok(());
        }
        let mut event = caller
            .event("auth.denied")
            .team(team)
            .outcome(Outcome::Denied)
            .details(serde_json::json!({ "attempted": action.as_str() }));
        event.target = target.map(str::to_owned);
        self.record_standalone(event).await;
        Err(ServiceError::Forbidden)
    }

    /// Refuses (and audits) a caller who may do `action` in no team at all: for requests
    /// that name their team only in the body, before the body is read.
    pub async fn authorize_somewhere(
        &self,
        caller: &Caller,
        action: Action,
    ) -> Result<(), ServiceError> {
        for binding in &caller.principal.bindings {
            if self
                .authz
                .allows(&caller.principal, &binding.team, action)
                .await
            {
                return Ok(());
            }
        }
        self.authorize(caller, crate::authz::ORG_WIDE, action, None)
            .await
    }

    /// Whether the caller may do `action` in `team` (for showing or hiding controls; the
    /// action itself is checked again, and audited, when it is attempted).
    pub async fn may(&self, caller: &Caller, team: &str, action: Action) -> bool {
        self.authz.allows(&caller.principal, team, action).await
    }

    /// Revealing needs a recent IdP authentication when the caller is a browser session.
    pub fn require_recent_auth(&self, caller: &Caller) -> Result<(), ServiceError> {
        match &caller.session {
            Some(session) if !self.is_recent(session) => Err(ServiceError::ReauthRequired),
            _ => Ok(()),
        }
    }

    /// Whether a session's IdP authentication is within `auth.reauth_minutes`.
    pub fn is_recent(&self, session: &SessionInfo) -> bool {
        session.auth_time + chrono::Duration::minutes(self.settings.auth.reauth_minutes)
            > chrono::Utc::now()
    }

    /// Records an event that belongs to no other transaction (denials, failed sign-ins).
    /// A failure here is logged; the refusal it records stands either way.
    pub async fn record_standalone(&self, event: Event) {
        let action = event.action;
        let result = async {
            let tx = self.store.begin_write().await?;
            crate::audit::append(&*tx, event).await?;
            tx.commit().await
        }
        .await;
        if let Err(err) = result {
            tracing::error!(action, error = %err, "could not record audit event");
        }
    }
}
