//! Signing in and out through the IdP: login flows bound to the browser that started them,
//! members created from claims, roles recomputed from groups at every login, sessions.

use super::{login_refused, Caller, Core, RequestMeta, ServiceError, SessionInfo};
use crate::audit::Event;
use crate::authn::oidc::{Identity, OidcError};
use crate::authn::session::{self, new_secret};
use crate::authn::{Binding, Principal, PrincipalKind};
use crate::authz::Role;
use crate::store::members::{self, SOURCE_IDP};
use crate::store::now;
use crate::store::sessions::{self as repo, LoginFlowRow, NewSession};
use chrono::{DateTime, Duration, Utc};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

/// Minutes a browser has to come back from the IdP.
const LOGIN_WINDOW_MINUTES: i64 = 10;
const FLOW_PURPOSE: &str = "keyward/v1/login-flow";

#[derive(Serialize, Deserialize)]
struct FlowSecrets {
    nonce: String,
    pkce_verifier: String,
    fresh: bool,
}

/// A started login: where to send the browser and the cookie that binds it.
pub struct LoginRedirect {
    pub url: String,
    pub browser_binding: Zeroizing<String>,
}

/// A finished login: the session cookie value and where to go next.
pub struct SignedIn {
    pub session_cookie: Zeroizing<String>,
    pub return_to: String,
    pub principal: Principal,
}

impl Core {
    fn oidc(&self) -> Result<&crate::authn::oidc::Oidc, ServiceError> {
        self.oidc.as_ref().ok_or(ServiceError::SignIn {
            code: "sso_not_configured",
            message: "single sign-on is not configured on this server".to_owned(),
        })
    }

    /// Starts a login at the IdP; `fresh` forces re-authentication (step-up).
    pub async fn begin_login(
        &self,
        return_to: Option<&str>,
        fresh: bool,
        meta: &RequestMeta,
    ) -> Result<LoginRedirect, ServiceError> {
        // Each start writes a login flow: counted against the address.
        self.anonymous_attempt(meta)?;
        let reauth = std::time::Duration::from_secs(
            u64::try_from(self.settings.auth.reauth_minutes.max(0)).unwrap_or(0) * 60,
        );
        let start = self
            .oidc()?
            .start(fresh, reauth)
            .await
            .map_err(sign_in_error)?;
        let browser_binding = new_secret();
        let id_hash = session::hash(&browser_binding);
        let secrets = Zeroizing::new(
            serde_json::to_vec(&FlowSecrets {
                nonce: start.nonce.expose_secret().to_owned(),
                pkce_verifier: start.pkce_verifier.expose_secret().to_owned(),
                fresh,
            })
            .map_err(|_| ServiceError::internal("cannot encode login flow"))?,
        );
        let sealed =
            self.sealing_keyring()
                .await?
                .seal_derived(FLOW_PURPOSE, &id_hash, &secrets)?;
        let at = now();
        let tx = self.store.begin_write().await?;
        repo::insert_flow(
            &*tx,
            LoginFlowRow {
                id_hash,
                state: start.state,
                sealed,
                return_to: self.settings.return_to(return_to).as_str().to_owned(),
                created_at: at,
                expires_at: at + Duration::minutes(LOGIN_WINDOW_MINUTES),
            },
        )
        .await?;
        tx.commit().await?;
        Ok(LoginRedirect {
            url: start.url.to_string(),
            browser_binding,
        })
    }

    /// Finishes a login from the IdP's redirect. Each failure is audited and refused.
    pub async fn finish_login(
        &self,
        browser_binding: Option<&str>,
        state: Option<&str>,
        code: Option<&str>,
        iss: Option<&str>,
        previous_session: Option<&str>,
        meta: &RequestMeta,
    ) -> Result<SignedIn, ServiceError> {
        let refuse = |reason: &'static str| async move {
            let limited = self.anonymous_attempt(meta);
            self.deny_anonymous(login_refused(meta, "anonymous", reason))
                .await;
            limited?;
            Err(ServiceError::SignIn {
                code: "sign_in_failed",
                message: sign_in_message(reason).to_owned(),
            })
        };
        let Some(binding) = browser_binding else {
            return refuse("no_login_in_this_browser").await;
        };
        let (Some(state), Some(code)) = (state, code) else {
            return refuse("missing_state_or_code").await;
        };
        let flow_hash = session::hash(binding);
        let tx = self.store.begin_write().await?;
        let flow = repo::take_flow(&*tx, &flow_hash).await?;
        tx.commit().await?;
        let Some(flow) = flow else {
            return refuse("no_login_in_this_browser").await;
        };
        if flow.expires_at < now() {
            return refuse("login_expired").await;
        }
        if !crate::crypto::constant_time_eq(flow.state.as_bytes(), state.as_bytes()) {
            return refuse("state_mismatch").await;
        }
        let opened = self
            .keyring
            .open_derived(FLOW_PURPOSE, &flow_hash, &flow.sealed)?;
        let secrets: FlowSecrets = match serde_json::from_slice(&opened) {
            Ok(s) => s,
            Err(_) => return refuse("login_flow_unreadable").await,
        };
        let nonce = SecretString::from(secrets.nonce);
        let verifier = SecretString::from(secrets.pkce_verifier);
        let identity = match self.oidc()?.finish(code, iss, &nonce, &verifier).await {
            Ok(identity) => identity,
            Err(OidcError::IssuerMismatch) => return refuse("issuer_mismatch").await,
            Err(OidcError::IdToken(why)) => {
                tracing::warn!(reason = %why, "ID token refused");
                return refuse("id_token_invalid").await;
            }
            Err(OidcError::Exchange) => return refuse("code_exchange_failed").await,
            Err(other) => return Err(sign_in_error(other)),
        };
        let skew = Duration::seconds(self.settings.auth.clock_skew_seconds);
        // A step-up needs the IdP to say when the person authenticated; no auth_time, no
        // proof (iat only says when the token was made, e.g. by a silent SSO).
        if secrets.fresh
            && identity
                .auth_time
                .is_none_or(|at| at < flow.created_at - skew)
        {
            return refuse("reauthentication_not_performed").await;
        }
        // Checked again: the login flow's row is not MAC'ed, and a database writer must not
        // turn a sign-in into a redirect elsewhere.
        let return_to = self
            .settings
            .return_to(Some(&flow.return_to))
            .as_str()
            .to_owned();
        self.sign_in(identity, previous_session, return_to, meta)
            .await
    }

    /// Records an error the IdP sent back to the callback (its code only when it is a known
    /// OAuth code: the parameter is whatever the link's author wrote).
    pub async fn refuse_idp_error(
        &self,
        code: &str,
        meta: &RequestMeta,
    ) -> Result<(), ServiceError> {
        let known = crate::authn::oidc::KNOWN_IDP_ERRORS.contains(&code);
        let mut event = login_refused(meta, "anonymous", "idp_error");
        event.details["idp_error"] =
            serde_json::Value::String(if known { code } else { "other" }.to_owned());
        let limited = self.anonymous_attempt(meta);
        self.deny_anonymous(event).await;
        limited
    }

    fn bindings_for(&self, groups: &[String]) -> Vec<(String, String)> {
        let mut bindings: Vec<(String, String)> = self
            .settings
            .role_bindings
            .iter()
            .filter(|b| groups.iter().any(|g| g == &b.group))
            .map(|b| (b.team.clone(), b.role.clone()))
            .collect();
        bindings.sort();
        bindings.dedup();
        bindings
    }

    async fn sign_in(
        &self,
        identity: Identity,
        previous_session: Option<&str>,
        return_to: String,
        meta: &RequestMeta,
    ) -> Result<SignedIn, ServiceError> {
        let bindings = self.bindings_for(&identity.groups);
        let cookie = new_secret();
        let at = now();
        let tx = self.store.begin_write().await?;
        let member = members::upsert(
            &*tx,
            &self.integrity,
            &identity.issuer,
            &identity.subject,
            identity.email.as_deref(),
            identity.name.as_deref(),
        )
        .await?;
        if member.status != "active" {
            drop(tx);
            self.record_standalone(login_refused(
                meta,
                &format!("member:{}", member.id),
                "member_departed",
            ))
            .await;
            return Err(ServiceError::SignIn {
                code: "member_departed",
                message: "this account was offboarded; ask a security admin".to_owned(),
            });
        }
        let tx = match self.review_at_sign_in(tx, &member, meta).await? {
            Ok(tx) => tx,
            Err(refused) => return Err(refused),
        };
        let before = members::grants(&*tx, &self.integrity, &member.id).await?;
        if identity.groups_known && super::departures::groups_lost(&before, &bindings) {
            return Err(self
                .on_groups_lost(tx, &member, &identity.groups, meta)
                .await?);
        }
        members::replace_grants(&*tx, &self.integrity, &member.id, SOURCE_IDP, &bindings).await?;
        if let Some(old) = previous_session {
            repo::delete(&*tx, &session::hash(old)).await?;
        }
        let id_hash = session::hash(&cookie);
        repo::insert(
            &*tx,
            &self.integrity,
            NewSession {
                id_hash: &id_hash,
                member_id: &member.id,
                // Without auth_time the session never counts as a recent sign-in.
                auth_time: identity
                    .auth_time
                    .map_or(DateTime::<Utc>::UNIX_EPOCH, |t| t.min(at)),
                expires_at: at + Duration::hours(self.settings.auth.session_max_hours),
                ip: meta.ip.as_deref(),
                user_agent: meta.user_agent.as_deref(),
                idp_sid: identity.sid.as_deref(),
                client: "browser",
            },
        )
        .await?;
        let grants = members::grants(&*tx, &self.integrity, &member.id).await?;
        let principal = member_principal(&member, &grants);
        let mut event = Event::new(principal.subject(), "auth.login").details(serde_json::json!({
            "issuer": identity.issuer,
            "groups": identity.groups,
            "roles": principal.bindings,
        }));
        event.ip = meta.ip.clone();
        event.user_agent = meta.user_agent.clone();
        event.request_id = meta.request_id.clone();
        crate::audit::append(&*tx, event).await?;
        tx.commit().await?;
        Ok(SignedIn {
            session_cookie: cookie,
            return_to,
            principal,
        })
    }

    /// The member behind a session cookie, if the session is still valid. Expired or idle
    /// sessions are deleted.
    pub async fn session_principal(
        &self,
        cookie: &str,
    ) -> Result<Option<(Principal, SessionInfo)>, ServiceError> {
        self.session_of(cookie, "browser").await
    }

    /// The member behind a command line's `kwcli_` token, if its session is still valid (it
    /// ends `session.cli_hours` after the device sign-in, idle or not).
    pub async fn cli_session_principal(
        &self,
        token: &str,
    ) -> Result<Option<(Principal, SessionInfo)>, ServiceError> {
        self.session_of(token, "cli").await
    }

    /// A session of `client` (`browser` or `cli`) by its secret: a browser's cookie is never
    /// a command line's token, nor the other way round.
    async fn session_of(
        &self,
        secret: &str,
        client: &str,
    ) -> Result<Option<(Principal, SessionInfo)>, ServiceError> {
        let id_hash = session::hash(secret);
        let Some(row) = repo::find(&self.store.reader(), &self.integrity, &id_hash).await? else {
            return Ok(None);
        };
        if row.client != client {
            return Ok(None);
        }
        let at = now();
        let idle = Duration::minutes(self.settings.auth.session_idle_minutes);
        let idle_ended = client == "browser" && row.last_seen_at + idle <= at;
        if row.expires_at <= at || idle_ended {
            let tx = self.store.begin_write().await?;
            repo::delete(&*tx, &id_hash).await?;
            tx.commit().await?;
            return Ok(None);
        }
        let Some(member) =
            members::find(&self.store.reader(), &self.integrity, &row.member_id).await?
        else {
            return Ok(None);
        };
        if member.status != "active" {
            return Ok(None);
        }
        let grants = members::grants(self.store.db(), &self.integrity, &member.id).await?;
        if at - row.last_seen_at > Duration::seconds(60) {
            repo::touch(self.store.db(), &id_hash).await?;
        }
        let info = SessionInfo {
            id_hash: row.id_hash.clone(),
            auth_time: row.auth_time,
        };
        Ok(Some((member_principal(&member, &grants), info)))
    }

    /// Ends the caller's session.
    pub async fn sign_out(&self, caller: &Caller) -> Result<(), ServiceError> {
        let Some(session) = &caller.session else {
            return Ok(());
        };
        let tx = self.store.begin_write().await?;
        repo::delete(&*tx, &session.id_hash).await?;
        crate::audit::append(&*tx, caller.event("auth.logout")).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Removes expired sessions, login flows and device sign-ins.
    pub async fn purge_sessions(&self) -> Result<u64, ServiceError> {
        let tx = self.store.begin_write().await?;
        let n =
            repo::purge_expired(&*tx).await? + crate::store::device::purge_expired(&*tx).await?;
        tx.commit().await?;
        Ok(n)
    }
}

fn member_principal(member: &members::MemberRow, grants: &[members::GrantRow]) -> Principal {
    let mut bindings: Vec<Binding> = grants
        .iter()
        .filter_map(|g| {
            Role::parse(&g.role).map(|role| Binding {
                team: g.team.clone(),
                role,
            })
        })
        .collect();
    bindings.sort();
    bindings.dedup();
    Principal {
        kind: PrincipalKind::Member,
        id: member.id.clone(),
        name: member
            .name
            .clone()
            .or_else(|| member.email.clone())
            .unwrap_or_else(|| member.subject.clone()),
        email: member.email.clone(),
        bindings,
    }
}

fn sign_in_message(reason: &str) -> &'static str {
    match reason {
        "no_login_in_this_browser" => {
            "this sign-in was not started in this browser, or was already used; start again"
        }
        "login_expired" => "the sign-in took too long; start again",
        "reauthentication_not_performed" => {
            "the identity provider did not ask you to sign in again; start again"
        }
        _ => "the sign-in could not be completed; start again",
    }
}

fn sign_in_error(err: OidcError) -> ServiceError {
    match err {
        OidcError::Discovery => ServiceError::IdpUnavailable,
        other => ServiceError::SignIn {
            code: "sign_in_failed",
            message: other.to_string(),
        },
    }
}
