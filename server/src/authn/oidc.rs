//! OpenID Connect relying party: discovery, the authorization-code flow with PKCE (S256),
//! state and nonce, ID-token checks (signature, issuer, audience, expiry, nonce), the RFC 9207
//! `iss` response parameter, and userinfo when the ID token lacks claims.

use crate::config::OidcSettings;
use chrono::{DateTime, Utc};
use openidconnect::core::{
    CoreAuthDisplay, CoreAuthPrompt, CoreAuthenticationFlow, CoreClaimName, CoreClaimType,
    CoreClientAuthMethod, CoreErrorResponseType, CoreGenderClaim, CoreGrantType, CoreJsonWebKey,
    CoreJweContentEncryptionAlgorithm, CoreJweKeyManagementAlgorithm, CoreJwsSigningAlgorithm,
    CoreResponseMode, CoreResponseType, CoreRevocableToken, CoreRevocationErrorResponse,
    CoreSubjectIdentifierType, CoreTokenIntrospectionResponse, CoreTokenType,
};
use openidconnect::{
    AdditionalClaims, AdditionalProviderMetadata, AuthorizationCode, Client, ClientId,
    ClientSecret, CsrfToken, EmptyExtraTokenFields, EndpointMaybeSet, EndpointNotSet, EndpointSet,
    IdTokenFields, IssuerUrl, Nonce, OAuth2TokenResponse, PkceCodeChallenge, PkceCodeVerifier,
    ProviderMetadata, RedirectUrl, Scope, StandardErrorResponse, StandardTokenResponse,
};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use std::time::{Duration, Instant};
use tokio::sync::RwLock;

/// Claims beyond the standard ones (the groups claim lives here).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ExtraClaims {
    #[serde(flatten)]
    pub other: serde_json::Map<String, serde_json::Value>,
}
impl AdditionalClaims for ExtraClaims {}

/// Provider metadata beyond the core: whether the `iss` authorization response parameter is sent.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct IssParameterMetadata {
    #[serde(default)]
    pub authorization_response_iss_parameter_supported: Option<bool>,
}
impl AdditionalProviderMetadata for IssParameterMetadata {}

type Metadata = ProviderMetadata<
    IssParameterMetadata,
    CoreAuthDisplay,
    CoreClientAuthMethod,
    CoreClaimName,
    CoreClaimType,
    CoreGrantType,
    CoreJweContentEncryptionAlgorithm,
    CoreJweKeyManagementAlgorithm,
    CoreJsonWebKey,
    CoreResponseMode,
    CoreResponseType,
    CoreSubjectIdentifierType,
>;
type IdFields = IdTokenFields<
    ExtraClaims,
    EmptyExtraTokenFields,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJwsSigningAlgorithm,
>;
type TokenResponse = StandardTokenResponse<IdFields, CoreTokenType>;
pub(super) type RpClient = Client<
    ExtraClaims,
    CoreAuthDisplay,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJsonWebKey,
    CoreAuthPrompt,
    StandardErrorResponse<CoreErrorResponseType>,
    TokenResponse,
    CoreTokenIntrospectionResponse,
    CoreRevocableToken,
    CoreRevocationErrorResponse,
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

/// OAuth 2.0 and OpenID Connect error codes an IdP sends back (RFC 6749 §4.1.2.1, OIDC Core
/// §3.1.2.6).
pub const KNOWN_IDP_ERRORS: &[&str] = &[
    "access_denied",
    "invalid_request",
    "unauthorized_client",
    "unsupported_response_type",
    "invalid_scope",
    "server_error",
    "temporarily_unavailable",
    "interaction_required",
    "login_required",
    "account_selection_required",
    "consent_required",
    "invalid_request_uri",
    "invalid_request_object",
    "request_not_supported",
    "request_uri_not_supported",
    "registration_not_supported",
];

/// Why a sign-in failed. Messages carry no token, code or secret.
#[derive(Debug, thiserror::Error)]
pub enum OidcError {
    #[error("the identity provider cannot be reached or its discovery document is invalid")]
    Discovery,
    #[error("the identity provider's answer did not name it as the issuer")]
    IssuerMismatch,
    #[error("the authorization code could not be exchanged")]
    Exchange,
    #[error("the ID token was refused: {0}")]
    IdToken(String),
    #[error("the identity provider configuration is incomplete: {0}")]
    Config(String),
}

struct Discovered {
    client: RpClient,
    iss_parameter_supported: bool,
    fetched: Instant,
}

/// What the browser is sent to, and what must be kept (sealed) until the callback.
pub struct LoginStart {
    pub url: url::Url,
    pub state: String,
    pub nonce: SecretString,
    pub pkce_verifier: SecretString,
}

/// Who signed in, as the IdP vouched.
#[derive(Debug, Clone)]
pub struct Identity {
    pub issuer: String,
    pub subject: String,
    /// Only an address the IdP says it verified (`email_verified: true`).
    pub email: Option<String>,
    pub name: Option<String>,
    pub groups: Vec<String>,
    /// Whether the IdP sent the groups claim at all (in the ID token or at userinfo): only
    /// then does an empty `groups` mean the member has none.
    pub groups_known: bool,
    /// When the person last authenticated at the IdP; `None` when the ID token does not say
    /// (then the sign-in never counts as recent: `iat` only says when the token was made).
    pub auth_time: Option<DateTime<Utc>>,
    /// The IdP's session id (`sid`), when it sends one (for back-channel logout).
    pub sid: Option<String>,
}

/// The longest subject kept (the member table's limit); a longer one cannot identify anyone.
const MAX_SUBJECT: usize = 255;
const MAX_EMAIL: usize = 320;
const MAX_NAME: usize = 200;

/// An email worth keeping: verified by the IdP, not too long, no control characters.
fn verified_email(email: Option<String>, verified: Option<bool>) -> Option<String> {
    email.filter(|e| {
        verified == Some(true)
            && !e.is_empty()
            && e.chars().count() <= MAX_EMAIL
            && !e.chars().any(char::is_control)
    })
}

/// A display name without control characters, at most [`MAX_NAME`] characters.
fn clean_name(name: Option<String>) -> Option<String> {
    name.map(|n| {
        n.chars()
            .filter(|c| !c.is_control())
            .take(MAX_NAME)
            .collect::<String>()
    })
    .filter(|n| !n.trim().is_empty())
}

/// The relying party for the configured IdP. Discovery is lazy and cached for an hour, so the
/// service starts (and API tokens work) while the IdP is down.
pub struct Oidc {
    settings: OidcSettings,
    secret: Option<SecretString>,
    redirect: RedirectUrl,
    pub(super) skew: chrono::Duration,
    http: openidconnect::reqwest::Client,
    discovered: RwLock<Option<Discovered>>,
    /// When discovery last failed: for a while, sign-ins fail at once instead of each one
    /// waiting on (and hammering) an IdP that is down.
    failed_at: std::sync::Mutex<Option<Instant>>,
}

const DISCOVERY_TTL: Duration = Duration::from_secs(3600);
/// How long a failed discovery is remembered.
const DISCOVERY_RETRY: Duration = Duration::from_secs(30);

impl Oidc {
    pub fn new(
        settings: OidcSettings,
        secret: Option<SecretString>,
        public_url: &str,
        clock_skew_seconds: i64,
    ) -> Result<Self, OidcError> {
        let redirect = RedirectUrl::new(format!(
            "{}/auth/callback",
            public_url.trim_end_matches('/')
        ))
        .map_err(|_| OidcError::Config("public_url does not make a valid redirect URL".into()))?;
        let http = openidconnect::reqwest::ClientBuilder::new()
            // Following redirects would allow SSRF through the IdP's endpoints.
            .redirect(openidconnect::reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(|_| OidcError::Config("cannot build the HTTP client".into()))?;
        Ok(Self {
            settings,
            secret,
            redirect,
            skew: chrono::Duration::seconds(clock_skew_seconds),
            http,
            discovered: RwLock::new(None),
            failed_at: std::sync::Mutex::new(None),
        })
    }

    pub fn issuer(&self) -> &str {
        &self.settings.issuer
    }

    pub(super) async fn client(&self) -> Result<(RpClient, bool), OidcError> {
        {
            let cached = self.discovered.read().await;
            if let Some(d) = cached
                .as_ref()
                .filter(|d| d.fetched.elapsed() < DISCOVERY_TTL)
            {
                return Ok((d.client.clone(), d.iss_parameter_supported));
            }
        }
        let recently_failed = match self.failed_at.lock() {
            Ok(guard) => guard.is_some_and(|at| at.elapsed() < DISCOVERY_RETRY),
            Err(_) => false,
        };
        if recently_failed {
            return Err(OidcError::Discovery);
        }
        let issuer = IssuerUrl::new(self.settings.issuer.clone())
            .map_err(|_| OidcError::Config("oidc.issuer".into()))?;
        let metadata = Metadata::discover_async(issuer, &self.http)
            .await
            .map_err(|e| {
                tracing::warn!(error = %e, "OIDC discovery failed; retrying in 30 s at the earliest");
                if let Ok(mut guard) = self.failed_at.lock() {
                    *guard = Some(Instant::now());
                }
                OidcError::Discovery
            })?;
        let iss_parameter_supported = metadata
            .additional_metadata()
            .authorization_response_iss_parameter_supported
            .unwrap_or(false);
        let client = RpClient::from_provider_metadata(
            metadata,
            ClientId::new(self.settings.client_id.clone()),
            self.secret
                .as_ref()
                .map(|s| ClientSecret::new(s.expose_secret().to_owned())),
        )
        .set_redirect_uri(self.redirect.clone());
        *self.discovered.write().await = Some(Discovered {
            client: client.clone(),
            iss_parameter_supported,
            fetched: Instant::now(),
        });
        Ok((client, iss_parameter_supported))
    }

    /// The authorization URL for a new login. Every login sends `max_age` (the reauth window),
    /// which obliges the IdP to say in `auth_time` when the person authenticated; `fresh`
    /// forces a new authentication (step-up: `prompt=login` and `max_age=0`).
    pub async fn start(&self, fresh: bool, max_age: Duration) -> Result<LoginStart, OidcError> {
        let (client, _) = self.client().await?;
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let mut request = client
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                CsrfToken::new_random,
                Nonce::new_random,
            )
            .set_pkce_challenge(challenge);
        for scope in self
            .settings
            .scopes
            .iter()
            .filter(|s| s.as_str() != "openid")
        {
            request = request.add_scope(Scope::new(scope.clone()));
        }
        request = if fresh {
            request
                .add_prompt(CoreAuthPrompt::Login)
                .set_max_age(Duration::ZERO)
        } else {
            request.set_max_age(max_age)
        };
        let (url, state, nonce) = request.url();
        Ok(LoginStart {
            url,
            state: state.secret().clone(),
            nonce: SecretString::from(nonce.secret().clone()),
            pkce_verifier: SecretString::from(verifier.secret().clone()),
        })
    }

    /// Finishes a login: checks `iss`, exchanges the code with the PKCE verifier, verifies the
    /// ID token and its nonce, and fills missing claims from userinfo.
    pub async fn finish(
        &self,
        code: &str,
        iss: Option<&str>,
        nonce: &SecretString,
        pkce_verifier: &SecretString,
    ) -> Result<Identity, OidcError> {
        let (client, iss_supported) = self.client().await?;
        match iss {
            Some(iss) if iss != self.settings.issuer => return Err(OidcError::IssuerMismatch),
            None if iss_supported => return Err(OidcError::IssuerMismatch),
            _ => {}
        }
        let response = client
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .map_err(|_| OidcError::Config("the IdP has no token endpoint".into()))?
            .set_pkce_verifier(PkceCodeVerifier::new(
                pkce_verifier.expose_secret().to_owned(),
            ))
            .request_async(&self.http)
            .await
            .map_err(|e| {
                tracing::warn!(error = %e, "OIDC code exchange failed");
                OidcError::Exchange
            })?;
        let id_token = response
            .extra_fields()
            .id_token()
            .ok_or_else(|| OidcError::IdToken("the response has no ID token".into()))?;
        let skew = self.skew;
        let verifier = client
            .id_token_verifier()
            .set_time_fn(move || Utc::now() - skew)
            .set_issue_time_verifier_fn(move |iat| {
                if iat > Utc::now() + skew {
                    Err("issued in the future".to_owned())
                } else {
                    Ok(())
                }
            });
        let expected_nonce = Nonce::new(nonce.expose_secret().to_owned());
        let claims = id_token
            .claims(&verifier, &expected_nonce)
            .map_err(|e| OidcError::IdToken(e.to_string()))?;

        let subject = claims.subject().to_string();
        if subject.is_empty()
            || subject.chars().count() > MAX_SUBJECT
            || subject.chars().any(char::is_control)
        {
            return Err(OidcError::IdToken(
                "the subject is empty, too long or has control characters".into(),
            ));
        }
        let mut identity = Identity {
            issuer: claims.issuer().to_string(),
            subject,
            email: verified_email(
                claims.email().map(|e| e.to_string()),
                claims.email_verified(),
            ),
            name: clean_name(
                claims
                    .name()
                    .and_then(|n| n.get(None))
                    .map(|n| n.to_string()),
            ),
            groups: groups_from(
                &claims.additional_claims().other,
                &self.settings.groups_claim,
            )
            .unwrap_or_default(),
            groups_known: false,
            auth_time: claims.auth_time(),
            sid: session_id(&claims.additional_claims().other),
        };
        let has_groups = groups_from(
            &claims.additional_claims().other,
            &self.settings.groups_claim,
        )
        .is_some();
        identity.groups_known = has_groups;
        if identity.email.is_none() || identity.name.is_none() || !has_groups {
            self.fill_from_userinfo(&client, &response, &mut identity)
                .await;
        }
        Ok(identity)
    }

    async fn fill_from_userinfo(
        &self,
        client: &RpClient,
        response: &TokenResponse,
        identity: &mut Identity,
    ) {
        let Ok(request) = client.user_info(
            response.access_token().clone(),
            Some(openidconnect::SubjectIdentifier::new(
                identity.subject.clone(),
            )),
        ) else {
            return;
        };
        let info: Result<openidconnect::UserInfoClaims<ExtraClaims, CoreGenderClaim>, _> =
            request.request_async(&self.http).await;
        match info {
            Ok(info) => {
                if identity.email.is_none() {
                    identity.email =
                        verified_email(info.email().map(|e| e.to_string()), info.email_verified());
                }
                if identity.name.is_none() {
                    identity.name =
                        clean_name(info.name().and_then(|n| n.get(None)).map(|n| n.to_string()));
                }
                if let Some(groups) =
                    groups_from(&info.additional_claims().other, &self.settings.groups_claim)
                {
                    identity.groups = groups;
                    identity.groups_known = true;
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "OIDC userinfo failed; using the ID token's claims only")
            }
        }
    }
}

/// Reads a groups claim given as a string or an array of strings.
fn groups_from(
    claims: &serde_json::Map<String, serde_json::Value>,
    name: &str,
) -> Option<Vec<String>> {
    match claims.get(name)? {
        serde_json::Value::String(one) => Some(vec![one.clone()]),
        serde_json::Value::Array(many) => Some(
            many.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect(),
        ),
        // Null or anything else: the IdP said nothing usable about groups.
        _ => None,
    }
}

/// The `sid` claim, if it is a sane session id.
pub(super) fn session_id(claims: &serde_json::Map<String, serde_json::Value>) -> Option<String> {
    claims
        .get("sid")
        .and_then(|v| v.as_str())
        .filter(|sid| !sid.is_empty() && sid.len() <= 255 && !sid.chars().any(char::is_control))
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_verified_emails_and_clean_names_are_kept() {
        let email = Some("a@example.com".to_owned());
        assert_eq!(verified_email(email.clone(), Some(true)), email);
        assert_eq!(verified_email(email.clone(), Some(false)), None);
        assert_eq!(verified_email(email, None), None);
        assert_eq!(verified_email(Some("a\0@x".into()), Some(true)), None);
        assert_eq!(clean_name(Some("Al\0ice".into())), Some("Alice".into()));
        assert_eq!(
            clean_name(Some("x".repeat(300))).map(|n| n.len()),
            Some(200)
        );
        assert_eq!(clean_name(Some("\n".into())), None);
    }

    #[test]
    fn the_groups_claim_may_be_a_string_or_an_array() {
        let claims: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(r#"{"groups":["a","b",3],"role":"ops","n":5,"none":null}"#)
                .unwrap_or_default();
        assert_eq!(
            groups_from(&claims, "groups"),
            Some(vec!["a".to_owned(), "b".to_owned()])
        );
        assert_eq!(groups_from(&claims, "role"), Some(vec!["ops".to_owned()]));
        // A claim that is neither says nothing about groups (it is not "no groups").
        assert_eq!(groups_from(&claims, "n"), None);
        assert_eq!(groups_from(&claims, "none"), None);
        assert_eq!(groups_from(&claims, "missing"), None);
    }
}
