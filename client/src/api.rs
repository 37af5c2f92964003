//! Talking to the server: the saved sign-in, its requests, and the server's refusals turned
//! into exit codes (1 other failures, 2 bad usage, 3 not signed in, 4 not allowed, 5 approval
//! required).

use crate::credentials::{self, Credentials, Unreadable};
use keyward_proto::accounts::{AccountList, AccountOut};
use keyward_proto::wire::ErrorBody;
use std::time::Duration;

/// A failure with its exit code, and the server's error code when the server refused.
pub struct Failure {
    pub code: u8,
    pub message: String,
    pub server_code: Option<String>,
}

impl Failure {
    pub fn new(code: u8, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            server_code: None,
        }
    }

    /// Whether the server asked for a fresher sign-in (a reveal after `auth.reauth_minutes`).
    pub fn needs_fresh_sign_in(&self) -> bool {
        self.server_code.as_deref() == Some("reauthentication_required")
    }
}

impl From<reqwest::Error> for Failure {
    fn from(err: reqwest::Error) -> Self {
        Failure::new(1, format!("cannot reach the server: {err}"))
    }
}

pub fn not_signed_in(why: &str) -> Failure {
    Failure::new(3, format!("not signed in: {why}; run `kw login URL`"))
}

/// The server's error answer as a failure: its code and message, and the exit code it means.
pub async fn refusal(res: reqwest::Response) -> Failure {
    let status = res.status().as_u16();
    let body: Option<ErrorBody> = res.json().await.ok();
    let (code, message) = body
        .map(|b| {
            (
                crate::out::clean(&b.error.code),
                crate::out::clean(&b.error.message),
            )
        })
        .unwrap_or_else(|| ("http_error".to_owned(), format!("HTTP {status}")));
    let exit = match (status, code.as_str()) {
        (_, "approval_required") => 5,
        (401, _) => 3,
        (403, _) => 4,
        _ => 1,
    };
    let message = if code == "reauthentication_required" {
        "reauthentication_required: revealing needs a recent sign-in; run `kw login` again (on a terminal, kw offers it)".to_owned()
    } else {
        format!("{code}: {message}")
    };
    Failure {
        code: exit,
        message,
        server_code: Some(code),
    }
}

pub fn http() -> Result<reqwest::Client, Failure> {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .user_agent(concat!("kw/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| Failure::new(1, format!("cannot start HTTP: {e}")))
}

/// A signed-in client.
pub struct Api {
    pub client: reqwest::Client,
    pub creds: Credentials,
}

impl Api {
    pub fn signed_in() -> Result<Self, Failure> {
        let creds = match credentials::load() {
            Ok(creds) => creds,
            Err(Unreadable::Missing) => {
                return Err(not_signed_in("no saved sign-in and no KW_TOKEN"))
            }
            Err(Unreadable::TooOpen(path, mode)) => {
                return Err(Failure::new(
                    3,
                    format!(
                        "{} is readable by others (mode {mode:o}); run `chmod 600 {}` or `kw login` again",
                        path.display(),
                        path.display()
                    ),
                ))
            }
            Err(Unreadable::Broken(why)) => return Err(not_signed_in(&why)),
        };
        Ok(Self {
            client: http()?,
            creds,
        })
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.creds.server.trim_end_matches('/'))
    }

    pub async fn get<T: serde::de::DeserializeOwned>(&self, path: &str) -> Result<T, Failure> {
        let res = self
            .client
            .get(self.url(path))
            .bearer_auth(&self.creds.token)
            .send()
            .await?;
        if !res.status().is_success() {
            return Err(refusal(res).await);
        }
        Ok(res.json().await?)
    }

    pub async fn post<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        body: &serde_json::Value,
    ) -> Result<T, Failure> {
        let res = self
            .client
            .post(self.url(path))
            .bearer_auth(&self.creds.token)
            .json(body)
            .send()
            .await?;
        if !res.status().is_success() {
            return Err(refusal(res).await);
        }
        Ok(res.json().await?)
    }

    /// A POST that may reveal a secret. When the server asks for a fresher sign-in and `kw`
    /// runs on a terminal, it says so, runs the device sign-in again (the browser asks for a
    /// fresh SSO sign-in before approving), ends the old session, and tries once more.
    pub async fn post_revealing<T: serde::de::DeserializeOwned>(
        &mut self,
        path: &str,
        body: &serde_json::Value,
    ) -> Result<T, Failure> {
        match self.post(path, body).await {
            Err(failure) if failure.needs_fresh_sign_in() && crate::out::interactive() => {
                crate::out::note(
                    "Revealing needs a recent sign-in. Approve this command line again in your browser (it asks you to sign in again first).",
                );
                let old = self.creds.token.clone();
                self.creds = crate::login::device_sign_in(&self.client, &self.creds.server).await?;
                let ended = self
                    .client
                    .post(self.url("/api/v1/me/logout"))
                    .bearer_auth(&old)
                    .send()
                    .await;
                if ended.is_err() {
                    crate::out::note(
                        "(the previous session could not be ended; it expires on its own)",
                    );
                }
                self.post(path, body).await
            }
            other => other,
        }
    }

    /// The account `spec` names: an id, `@handle`, or `platform @handle`.
    pub async fn find_account(&self, spec: &str) -> Result<AccountOut, Failure> {
        let spec = spec.trim();
        let list: AccountList = self.get("/api/v1/accounts").await?;
        let (platform, handle) = match spec.split_once(' ') {
            Some((p, h)) => (Some(p.trim().to_ascii_lowercase()), h.trim()),
            None => (None, spec),
        };
        let wanted = handle.trim_start_matches('@').to_lowercase();
        let mut found: Vec<AccountOut> = list
            .accounts
            .into_iter()
            .filter(|a| {
                a.id == spec
                    || (a.handle.trim_start_matches('@').to_lowercase() == wanted
                        && platform.as_deref().is_none_or(|p| p == a.platform))
            })
            .collect();
        match found.len() {
            1 => found.pop().ok_or_else(|| Failure::new(1, "no account")),
            0 => Err(Failure::new(
                1,
                format!("no account you may see matches {spec:?}; try `kw accounts`"),
            )),
            n => Err(Failure::new(
                2,
                format!("{n} accounts match {spec:?}; say which: \"platform @handle\" or the id"),
            )),
        }
    }
}
