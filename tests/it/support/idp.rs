//! A real OpenID Provider (tests/oidc/provider.mjs, panva's oidc-provider) per test, an app
//! signed in through it, and a cookie-keeping HTTP client that walks the redirects a browser would.

use super::{spawn_on, test_settings, TestApp};
use keyward::config::{OidcSettings, RoleBindingSettings, Settings};
use reqwest::{redirect, Client, Response};
use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};

pub struct Idp {
    pub issuer: String,
    /// The provider's GROUPS_FILE (see provider.mjs): [`Idp::set_groups`] writes it.
    groups_file: tempfile::NamedTempFile,
    child: Child,
    // Kept open: closing the pipe would make the provider's next write fail.
    _stdout: BufReader<std::process::ChildStdout>,
}

impl Drop for Idp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts the provider; `tamper` is "", "aud", "iss" or "no_auth_time" (see provider.mjs).
pub fn start_idp(redirect_uri: &str, tamper: &str) -> Idp {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/oidc/provider.mjs");
    // The provider's stderr goes to a file so a failed start can say why.
    let stderr = tempfile::NamedTempFile::new().expect("temp file");
    let groups_file = tempfile::NamedTempFile::new().expect("temp file");
    std::fs::write(groups_file.path(), "{}").expect("groups file");
    let mut child = Command::new("node")
        .arg(script)
        .env("GROUPS_FILE", groups_file.path())
        .env("REDIRECT_URIS", redirect_uri)
        .env(
            "BACKCHANNEL_LOGOUT_URI",
            redirect_uri.replace("/auth/callback", "/auth/backchannel-logout"),
        )
        .env("TAMPER", tamper)
        .stdout(Stdio::piped())
        .stderr(stderr.reopen().expect("reopen").try_clone().expect("clone"))
        .spawn()
        .expect("node runs tests/oidc/provider.mjs (run `npm ci` in tests/oidc)");
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
    let mut line = String::new();
    stdout
        .read_line(&mut line)
        .expect("the provider prints its issuer");
    let issuer = line.trim().to_owned();
    if !issuer.starts_with("http://") {
        let _ = child.wait();
        let why = std::fs::read_to_string(stderr.path()).unwrap_or_default();
        panic!(
            "the OpenID Provider did not start (is `make test-deps` done?): \
             stdout {issuer:?}, stderr:\n{why}"
        );
    }
    Idp {
        issuer,
        groups_file,
        child,
        _stdout: stdout,
    }
}

impl Idp {
    /// Gives `user` these groups at their next sign-in, as an IdP administrator would.
    pub fn set_groups(&self, user: &str, groups: &[&str]) {
        let mut all: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(&std::fs::read_to_string(self.groups_file.path()).expect("read"))
                .expect("JSON");
        all.insert(user.to_owned(), serde_json::json!(groups));
        std::fs::write(
            self.groups_file.path(),
            serde_json::Value::Object(all).to_string(),
        )
        .expect("write");
    }
}

/// The demo groups → roles mapping used by `make dev` too.
pub fn demo_bindings() -> Vec<RoleBindingSettings> {
    [
        ("sns-marketing", "marketing", "operator"),
        ("sns-marketing-leads", "marketing", "manager"),
        ("sns-viewers", "marketing", "viewer"),
        ("security", "*", "security_admin"),
        ("auditors", "*", "auditor"),
    ]
    .into_iter()
    .map(|(group, team, role)| RoleBindingSettings {
        group: group.into(),
        team: team.into(),
        role: role.into(),
    })
    .collect()
}

pub struct SsoApp {
    pub app: TestApp,
    pub idp: Idp,
}

impl std::ops::Deref for SsoApp {
    type Target = TestApp;
    fn deref(&self) -> &TestApp {
        &self.app
    }
}

pub async fn spawn_sso_app(tamper: &str) -> SsoApp {
    spawn_sso_app_with(tamper, |_, _| {}).await
}

/// `spawn_sso_app` with settings adjusted by `adjust` (given the test's directory).
pub async fn spawn_sso_app_with(
    tamper: &str,
    adjust: impl FnOnce(&mut Settings, &std::path::Path),
) -> SsoApp {
    let dir = tempfile::tempdir().expect("temp dir");
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let base = format!(
        "http://127.0.0.1:{}",
        listener.local_addr().expect("addr").port()
    );
    let idp = start_idp(&format!("{base}/auth/callback"), tamper);
    let mut settings = test_settings(dir.path()).await;
    settings.public_url = base;
    sign_in_through(&mut settings, &idp);
    adjust(&mut settings, dir.path());
    let app = spawn_on(dir, settings, listener).await;
    SsoApp { app, idp }
}

/// Points `settings` at the test provider: its OIDC client and the demo group bindings.
pub fn sign_in_through(settings: &mut Settings, idp: &Idp) {
    settings.oidc = Some(OidcSettings {
        issuer: idp.issuer.clone(),
        client_id: "keyward".into(),
        client_secret: Some("keyward-dev-secret".into()),
        client_secret_file: None,
        groups_claim: "groups".into(),
        scopes: vec!["openid".into(), "email".into(), "profile".into()],
    });
    settings.role_bindings = demo_bindings();
}

/// An HTTP client with its own cookie jar that follows no redirect by itself.
pub struct Browser {
    pub client: Client,
}

impl Default for Browser {
    fn default() -> Self {
        Self::new()
    }
}

fn location(res: &Response) -> Option<String> {
    let base = res.url().clone();
    let raw = res.headers().get("location")?.to_str().ok()?;
    base.join(raw).ok().map(|u| u.to_string())
}

impl Browser {
    pub fn new() -> Self {
        let client = Client::builder()
            .cookie_store(true)
            .redirect(redirect::Policy::none())
            .build()
            .expect("client");
        Self { client }
    }

    pub async fn get(&self, url: &str) -> Response {
        self.client.get(url).send().await.expect("GET")
    }

    /// The body of the page at `url`.
    pub async fn page(&self, url: &str) -> String {
        self.get(url).await.text().await.expect("page body")
    }

    /// Starts a login at `app` and signs in at the IdP as `user`; returns the callback URL the
    /// IdP sends the browser to (not yet visited), so tests can replay or tamper with it.
    pub async fn authorize(&self, app: &str, user: &str, login_path: &str) -> String {
        let mut url = format!("{app}{login_path}");
        for _ in 0..20 {
            if url.starts_with(&format!("{app}/auth/callback")) {
                return url;
            }
            let res = self.get(&url).await;
            if res.status().is_redirection() {
                url = location(&res).expect("redirect has a location");
                continue;
            }
            assert_eq!(res.status(), 200, "unexpected page at {url}");
            let page_url = res.url().clone();
            let html = res.text().await.expect("page");
            let action = html
                .split("action=\"")
                .nth(1)
                .and_then(|rest| rest.split('"').next())
                .expect("the IdP shows its login form");
            let post_to = page_url.join(action).expect("form action").to_string();
            let res = self
                .client
                .post(&post_to)
                .form(&[("login", user), ("password", "demo")])
                .send()
                .await
                .expect("login POST");
            assert!(
                res.status().is_redirection(),
                "IdP accepts {user}: {}",
                res.status()
            );
            url = location(&res).expect("location");
        }
        panic!("the login never came back to {app}/auth/callback");
    }

    /// Signs in completely; returns the callback's response (a redirect with the session cookie).
    pub async fn sign_in(&self, app: &str, user: &str) -> Response {
        let callback = self
            .authorize(app, user, "/auth/login?return_to=/accounts")
            .await;
        self.get(&callback).await
    }

    /// A state-changing request with this browser's cookies and the given Origin.
    pub async fn post_json(
        &self,
        url: &str,
        origin: Option<&str>,
        body: serde_json::Value,
    ) -> Response {
        let mut req = self.client.post(url).json(&body);
        if let Some(origin) = origin {
            req = req.header("origin", origin);
        }
        req.send().await.expect("POST")
    }
}

impl Browser {
    /// Submits a dashboard form at `app` as a browser would: from Keyward's own origin, with
    /// the CSRF token of `page` added to `fields`.
    pub async fn submit(
        &self,
        app: &str,
        path: &str,
        page: &str,
        fields: &[(&str, &str)],
    ) -> Response {
        let csrf = csrf_of(page);
        let mut form: Vec<(&str, &str)> = fields.to_vec();
        form.push(("csrf", csrf.as_str()));
        self.client
            .post(format!("{app}{path}"))
            .header("origin", app)
            .form(&form)
            .send()
            .await
            .expect("form POST")
    }
}

impl Browser {
    /// Signs out at the IdP as a person would on its logout page (which makes the IdP post
    /// a logout token to Keyward before it answers).
    pub async fn idp_logout(&self, issuer: &str) -> Response {
        let page = self.page(&format!("{issuer}/session/end")).await;
        let xsrf = page
            .split("name=\"xsrf\" value=\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .expect("the IdP shows its logout form")
            .to_owned();
        self.client
            .post(format!("{issuer}/session/end/confirm"))
            .form(&[("xsrf", xsrf.as_str()), ("logout", "yes")])
            .send()
            .await
            .expect("logout confirmation")
    }
}

/// The CSRF token a page's forms carry.
pub fn csrf_of(page: &str) -> String {
    page.split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("the page has a form with a CSRF token")
        .to_owned()
}
