//! OIDC Back-Channel Logout: the IdP says a member's session there ended, so their Keyward
//! sessions from it end too. Not a departure: the member may sign in again.

use super::{Core, RequestMeta, ServiceError};
use crate::audit::{Event, Outcome};
use crate::authn::oidc::OidcError;
use crate::store::{members, sessions};

impl Core {
    /// Ends the sessions a logout token names; returns how many. A refused token is audited
    /// as `auth.denied` and counts against the sending address.
    pub async fn backchannel_logout(
        &self,
        token: Option<&str>,
        meta: &RequestMeta,
    ) -> Result<u64, ServiceError> {
        let oidc = self.oidc.as_ref().ok_or(ServiceError::SignIn {
            code: "sso_not_configured",
            message: "single sign-on is not configured on this server".to_owned(),
        })?;
        let verified = match token {
            Some(token) => oidc.verify_logout_token(token).await,
            None => Err(OidcError::IdToken("no logout_token".to_owned())),
        };
        let order = match verified {
            Ok(order) => order,
            Err(OidcError::Discovery) => return Err(ServiceError::IdpUnavailable),
            Err(err) => {
                tracing::warn!(reason = %err, "logout token refused");
                let limited = self.anonymous_attempt(meta);
                let mut event = Event::new("anonymous", "auth.denied")
                    .outcome(Outcome::Denied)
                    .details(serde_json::json!({ "stage": "backchannel_logout", "reason": "logout_token_invalid" }));
                event.ip = meta.ip.clone();
                event.user_agent = meta.user_agent.clone();
                event.request_id = meta.request_id.clone();
                self.deny_anonymous(event).await;
                limited?;
                return Err(ServiceError::SignIn {
                    code: "invalid_request",
                    message: "the logout token was refused".to_owned(),
                });
            }
        };
        let tx = self.store.begin_write().await?;
        let member =
            members::find_by_identity(&*tx, &self.integrity, &order.issuer, &order.subject).await?;
        let Some(member) = member else {
            // Nobody known: nothing to end (the spec counts that as success).
            return Ok(0);
        };
        let ended =
            sessions::delete_for_idp_session(&*tx, &member.id, order.sid.as_deref()).await?;
        // The issuer goes in the details: an actor is short.
        let mut event = Event::new("idp", "session.revoke")
            .target(format!("member:{}", member.id))
            .details(serde_json::json!({
                "via": "backchannel_logout",
                "issuer": order.issuer,
                "sessions": ended,
                "idp_session": order.sid.is_some(),
                "jti": order.jti,
            }));
        event.ip = meta.ip.clone();
        event.request_id = meta.request_id.clone();
        crate::audit::append(&*tx, event).await?;
        tx.commit().await?;
        Ok(ended)
    }
}
