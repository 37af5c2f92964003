//! OIDC Back-Channel Logout 1.0 (relying party): the IdP posts a logout token, a signed JWT
//! that names the member (`sub`) and their IdP session (`sid`). It is checked like an ID token
//! (signature by the IdP's discovered keys, issuer, audience, expiry, issue time), then for
//! what makes it a logout token: the back-channel logout event, a `jti`, and no nonce.

use super::oidc::{session_id, Oidc, OidcError};
use chrono::Utc;
use openidconnect::core::{
    CoreGenderClaim, CoreJweContentEncryptionAlgorithm, CoreJwsSigningAlgorithm,
};
use openidconnect::{AdditionalClaims, IdToken, JsonWebTokenType, Nonce};
use serde::{Deserialize, Serialize};

const EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";
/// A logout token older than this is refused (the spec asks for short-lived tokens).
const MAX_AGE_MINUTES: i64 = 5;

#[derive(Debug, Clone, Serialize, Deserialize)]
struct LogoutClaims {
    /// Required: a token without it is not a logout token (an ID token is refused here).
    events: serde_json::Map<String, serde_json::Value>,
    jti: String,
    #[serde(flatten)]
    other: serde_json::Map<String, serde_json::Value>,
}
impl AdditionalClaims for LogoutClaims {}

type LogoutToken = IdToken<
    LogoutClaims,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJwsSigningAlgorithm,
>;

/// Whose sessions a valid logout token ends.
#[derive(Debug, Clone)]
pub struct LogoutOrder {
    pub issuer: String,
    pub subject: String,
    /// The IdP session; `None` ends every session of the member.
    pub sid: Option<String>,
    pub jti: String,
}

impl Oidc {
    /// Verifies a logout token from the IdP.
    pub async fn verify_logout_token(&self, token: &str) -> Result<LogoutOrder, OidcError> {
        let refused = |why: &str| OidcError::IdToken(why.to_owned());
        if token.len() > 16 * 1024 {
            return Err(refused("the logout token is too long"));
        }
        let (client, _) = self.client().await?;
        let skew = self.skew;
        let typ = JsonWebTokenType::new("logout+jwt".to_owned())
            .normalize()
            .map_err(|_| refused("typ"))?;
        let verifier = client
            .id_token_verifier()
            .set_allowed_jose_types([typ])
            .set_time_fn(move || Utc::now() - skew)
            .set_issue_time_verifier_fn(move |iat| {
                let now = Utc::now();
                if iat > now + skew {
                    Err("issued in the future".to_owned())
                } else if iat < now - chrono::Duration::minutes(MAX_AGE_MINUTES) - skew {
                    Err("too old".to_owned())
                } else {
                    Ok(())
                }
            });
        let jwt: LogoutToken = token
            .trim()
            .parse()
            .map_err(|_| refused("not a logout token"))?;
        let claims = jwt
            .claims(&verifier, |nonce: Option<&Nonce>| match nonce {
                None => Ok(()),
                Some(_) => Err("a logout token carries no nonce".to_owned()),
            })
            .map_err(|e| OidcError::IdToken(e.to_string()))?;
        let extra = claims.additional_claims();
        if !extra
            .events
            .get(EVENT)
            .is_some_and(serde_json::Value::is_object)
        {
            return Err(refused("not a back-channel logout event"));
        }
        if extra.jti.is_empty() || extra.jti.len() > 255 {
            return Err(refused("the jti is missing"));
        }
        Ok(LogoutOrder {
            issuer: claims.issuer().to_string(),
            subject: claims.subject().to_string(),
            sid: session_id(&extra.other),
            jti: extra.jti.clone(),
        })
    }
}
