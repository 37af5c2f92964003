//! Test kit: `spawn_app()` starts the real server on a random port with a fresh database
//! (SQLite file, or a new PostgreSQL database when `KW_TEST_DB=postgres`) and a fresh key file.

#![allow(dead_code)]

pub mod idp;
pub mod otp;
pub mod siem;

use keyward::authn::Binding;
use keyward::authz::Role;
use keyward::config::Settings;
use keyward::services::Core;
use keyward::startup::{build_core, Application};
use reqwest::{Client, Method, Response};
use sea_orm::{ConnectionTrait, Database};
use serde_json::{json, Value};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::Command;
use tempfile::TempDir;

/// Which database the tests run on.
pub fn backend() -> &'static str {
    match std::env::var("KW_TEST_DB").as_deref() {
        Ok("postgres") => "postgres",
        _ => "sqlite",
    }
}

fn pg_admin_url() -> String {
    std::env::var("KW_TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// A fresh, empty database URL for one test.
pub async fn fresh_database(dir: &std::path::Path) -> String {
    if backend() == "postgres" {
        let name = format!("kwt_{}", uuid::Uuid::now_v7().simple());
        let admin = Database::connect(pg_admin_url())
            .await
            .expect("PostgreSQL at KW_TEST_PG_URL is reachable");
        admin
            .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
            .await
            .expect("create test database");
        admin.close().await.ok();
        let base = pg_admin_url();
        let (root, _) = base
            .rsplit_once('/')
            .expect("admin URL has a database part");
        format!("{root}/{name}")
    } else {
        format!("sqlite://{}?mode=rwc", dir.join("keyward.db").display())
    }
}

pub struct TestApp {
    pub base: String,
    pub client: Client,
    pub dir: TempDir,
    pub settings: Settings,
    pub core: actix_web::web::Data<Core>,
    handle: actix_web::dev::ServerHandle,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        // Stop workers promptly; the runtime may already be going away.
        let handle = self.handle.clone();
        drop(handle.stop(false));
    }
}

/// Settings for a fresh database and key file under `dir`.
pub async fn test_settings(dir: &std::path::Path) -> Settings {
    let key_file = dir.join("keys.json");
    if !key_file.exists() {
        keyward::crypto::KeyFile::generate()
            .create(&key_file)
            .expect("key file");
    }
    let mut settings = Settings::default();
    settings.database.url = fresh_database(dir).await;
    settings.database.max_connections = 8;
    settings.keys.key_file = Some(key_file);
    settings.listen = "127.0.0.1:0".to_owned();
    settings.http.workers = 2;
    settings.http.shutdown_timeout = 1;
    // Tests reveal in bursts; the limits stay on (high) so their code path runs everywhere.
    settings.limits.reveals_per_minute = 10_000;
    settings.limits.reveals_per_hour = 100_000;
    settings
}

pub async fn spawn_app() -> TestApp {
    let dir = tempfile::tempdir().expect("temp dir");
    let settings = test_settings(dir.path()).await;
    spawn_with(dir, settings).await
}

pub async fn spawn_with(dir: TempDir, settings: Settings) -> TestApp {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    spawn_on(dir, settings, listener).await
}

pub async fn spawn_on(dir: TempDir, settings: Settings, listener: TcpListener) -> TestApp {
    let core = build_core(&settings, true).await.expect("core builds");
    let app = Application::with_listener(&settings, core, listener).expect("app builds");
    let port = app.port();
    let core = app.core();
    let handle = app.handle();
    tokio::spawn(app.into_server());
    TestApp {
        base: format!("http://127.0.0.1:{port}"),
        client: Client::builder().build().expect("client"),
        dir,
        settings,
        core,
        handle,
    }
}

impl TestApp {
    /// A service token with one role binding, created the way the CLI does.
    pub async fn token(&self, role: &str, team: &str) -> String {
        let role = Role::parse(role).expect("known role");
        let bindings = vec![Binding {
            team: team.to_owned(),
            role,
        }];
        let (_, token) = keyward::services::tokens::create(
            &self.core.store,
            &self.core.integrity,
            "test",
            bindings,
            None,
        )
        .await
        .expect("token");
        token.as_str().to_owned()
    }

    /// A member as their first sign-in makes them (`{name}@example.com`, verified); their id.
    pub async fn member(&self, name: &str) -> String {
        keyward::store::members::upsert(
            self.core.store.db(),
            &self.core.integrity,
            "https://idp.test",
            &format!("sub-{name}"),
            Some(&format!("{name}@example.com")),
            Some(name),
        )
        .await
        .expect("member")
        .id
    }

    /// A token acting for `member` with these (role, team) bindings.
    pub async fn token_for(&self, member: &str, roles: &[(&str, &str)]) -> String {
        let bindings = roles
            .iter()
            .map(|(role, team)| Binding {
                team: (*team).to_owned(),
                role: Role::parse(role).expect("known role"),
            })
            .collect();
        let (_, token) = keyward::services::tokens::create_for(
            &self.core.store,
            &self.core.integrity,
            "test",
            bindings,
            None,
            Some(member),
        )
        .await
        .expect("token");
        token.as_str().to_owned()
    }

    pub async fn request(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Response {
        let mut req = self
            .client
            .request(method, format!("{}{}", self.base, path));
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        if let Some(body) = body {
            req = req.json(&body);
        }
        req.send().await.expect("request is sent")
    }

    pub async fn get(&self, path: &str, token: &str) -> Response {
        self.request(Method::GET, path, Some(token), None).await
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> Response {
        self.request(Method::POST, path, Some(token), Some(body))
            .await
    }

    pub async fn put(&self, path: &str, token: &str, body: Value) -> Response {
        self.request(Method::PUT, path, Some(token), Some(body))
            .await
    }

    /// Creates an account as `token` and returns its id (through the typed wire types).
    pub async fn account(&self, token: &str, team: &str, handle: &str) -> String {
        let body = keyward_proto::accounts::CreateAccount {
            team: team.to_owned(),
            platform: "x".to_owned(),
            handle: handle.to_owned(),
            login_url: None,
            notes: None,
        };
        let res = self
            .client
            .post(format!("{}/api/v1/accounts", self.base))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .expect("request is sent");
        assert_eq!(res.status(), 201, "account is created");
        let out: keyward_proto::accounts::AccountOut = res.json().await.expect("an AccountOut");
        out.id
    }

    /// The `keyward` binary, configured for this app's database and key file.
    pub fn cli(&self) -> Command {
        cli_for(&self.settings)
    }

    pub fn key_file(&self) -> PathBuf {
        self.settings.keys.key_file.clone().expect("key file")
    }

    /// Audit events, oldest first, read straight from the database.
    pub async fn audit_rows(&self) -> Vec<keyward::store::audit::AuditRow> {
        keyward::store::audit::page(self.core.store.db(), 0, 100_000)
            .await
            .expect("audit rows")
    }
}

/// The `keyward` binary with a clean environment pointing at `settings`.
pub fn cli_for(settings: &Settings) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_keyward"));
    for (key, _) in std::env::vars() {
        if key.starts_with("KEYWARD_") {
            cmd.env_remove(key);
        }
    }
    cmd.env("KEYWARD_DATABASE_URL", &settings.database.url);
    if let Some(key_file) = &settings.keys.key_file {
        cmd.env("KEYWARD_KEY_FILE", key_file);
    }
    cmd
}

/// A service token made with `keyward token create`, as an operator would (its last line).
pub fn cli_token(settings: &Settings, role: &str, team: &str) -> String {
    let out = cli_for(settings)
        .args([
            "token", "create", "--name", "test", "--role", role, "--team", team,
        ])
        .output()
        .expect("keyward runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .last()
        .expect("the token is the last line")
        .trim()
        .to_owned()
}

/// Reads a JSON body, asserting the status first.
pub async fn expect_json(res: Response, status: u16) -> Value {
    let got = res.status().as_u16();
    let text = res.text().await.unwrap_or_default();
    assert_eq!(got, status, "unexpected status; body: {text}");
    serde_json::from_str(&text).unwrap_or(Value::Null)
}

/// Asserts an error response: status and stable code.
pub async fn expect_error(res: Response, status: u16, code: &str) -> Value {
    let body = expect_json(res, status).await;
    assert_eq!(body["error"]["code"], code, "error code; body: {body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "error message present"
    );
    body
}

/// A `keyward serve` process on `settings` (its database and key file), on a free port.
/// Killed on drop.
pub struct ServerProcess {
    pub base: String,
    child: std::process::Child,
}

impl ServerProcess {
    /// Ends the process with SIGKILL: no shutdown, no flush.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Sends SIGTERM (a graceful stop: in-flight requests finish) and waits for the exit.
    pub fn terminate(mut self) -> std::process::ExitStatus {
        let pid = libc::pid_t::try_from(self.child.id()).expect("a pid");
        // SAFETY: kill(2) with a pid this test started and has not reaped.
        unsafe { libc::kill(pid, libc::SIGTERM) };
        self.child.wait().expect("the process exits")
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// The child is reaped by `ServerProcess`'s Drop, which clippy cannot see.
#[allow(clippy::zombie_processes)]
pub async fn spawn_process(settings: &Settings) -> ServerProcess {
    spawn_process_with(settings, &[]).await
}

/// `spawn_process` with extra environment variables (e.g. `KEYWARD_CONFIG`).
#[allow(clippy::zombie_processes)]
pub async fn spawn_process_with(settings: &Settings, env: &[(&str, String)]) -> ServerProcess {
    let port = TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let child = cli_for(settings)
        .args(["serve", "--no-migrate"])
        .env("KEYWARD_LISTEN", format!("127.0.0.1:{port}"))
        .env("KEYWARD_LOG__LEVEL", "warn")
        .env("KEYWARD_LIMITS__REVEALS_PER_MINUTE", "0")
        .env("KEYWARD_LIMITS__REVEALS_PER_HOUR", "0")
        // Stop at once on SIGTERM unless a test asks for a drain.
        .env("KEYWARD_HTTP__DRAIN_SECONDS", "0")
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("keyward serve starts");
    let base = format!("http://127.0.0.1:{port}");
    let client = Client::new();
    for _ in 0..200 {
        if client
            .get(format!("{base}/readyz"))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            return ServerProcess { base, child };
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("keyward serve did not become ready at {base}");
}

impl TestApp {
    /// Asks for the current TOTP code of an account as `token`.
    pub async fn totp_code(&self, token: &str, account_id: &str, body: Value) -> Response {
        self.post(
            &format!("/api/v1/accounts/{account_id}/totp/code"),
            token,
            body,
        )
        .await
    }

    /// Stores a TOTP seed (Base32) on an account as `token`, asserting 201 and a version.
    pub async fn set_totp(&self, token: &str, account_id: &str, seed: &str) {
        let res = self
            .client
            .put(format!("{}/api/v1/accounts/{account_id}/totp", self.base))
            .bearer_auth(token)
            .json(&keyward_proto::otp::SetOtp::seed(seed))
            .send()
            .await
            .expect("request is sent");
        assert_eq!(res.status(), 201, "the seed is stored");
        let out: keyward_proto::otp::VersionOut = res.json().await.expect("a VersionOut");
        assert!(out.version >= 1);
    }

    /// Stores a password on an account as `token`, asserting 201; the new version's view.
    pub async fn set_password(&self, token: &str, account_id: &str, password: &str) -> Value {
        let res = self
            .put(
                &format!("/api/v1/accounts/{account_id}/password"),
                token,
                json!({"password": password}),
            )
            .await;
        expect_json(res, 201).await
    }

    /// Imports `codes` as a new backup-code generation of an account, asserting 201.
    pub async fn backup_codes(&self, token: &str, account_id: &str, codes: &[String]) {
        let res = self
            .post(
                &format!("/api/v1/accounts/{account_id}/backup-codes"),
                token,
                json!({"codes": codes, "issued_on": "2025-12-16"}),
            )
            .await;
        expect_json(res, 201).await;
    }

    /// An active 2-of-2 escrow over `team`, set up by the security admin `token` with a
    /// full ceremony; its id.
    pub async fn escrow(&self, token: &str, name: &str, team: &str) -> String {
        self.ceremony(token, name, &[team], 2, 2, 0).await.id
    }

    /// A break-glass ceremony as members run it: `n` custodians (members, each with a token
    /// bound to them) enrol their own age key; `admin` makes the escrow naming them; each
    /// fetches their share (encrypted to their key), decrypts it and confirms it. The escrow
    /// is active.
    pub async fn ceremony(
        &self,
        admin: &str,
        name: &str,
        teams: &[&str],
        k: u8,
        n: u8,
        waiting: i64,
    ) -> Ceremony {
        let tag = uuid::Uuid::now_v7().simple().to_string();
        let mut custodians = Vec::new();
        for i in 0..n {
            let member = self.member(&format!("keeper{i}-{}", &tag[20..])).await;
            let token = self.token_for(&member, &[("custodian", "*")]).await;
            let identity = age::x25519::Identity::generate();
            let res = self
                .put(
                    "/api/v1/me/age-recipient",
                    &token,
                    json!({"age_recipient": identity.to_public().to_string()}),
                )
                .await;
            expect_json(res, 200).await;
            custodians.push((member, token, identity));
        }
        let body = json!({"name": name, "teams": teams, "threshold": k,
            "custodians": custodians.iter().map(|(m, _, _)| m.clone()).collect::<Vec<_>>(),
            "waiting_period_minutes": waiting, "release_ttl_minutes": 30});
        let escrow = expect_json(self.post("/api/v1/escrows", admin, body).await, 201).await;
        assert_eq!(escrow["state"], "pending");
        let id = id_of(escrow);
        let mut shares = Vec::new();
        for (_, token, identity) in &custodians {
            let fetched = expect_json(
                self.post(&format!("/api/v1/escrows/{id}/share"), token, json!({}))
                    .await,
                200,
            )
            .await;
            let share = open_age(identity, fetched["age_armored"].as_str().expect("age"));
            let res = self
                .post(
                    &format!("/api/v1/escrows/{id}/confirm"),
                    token,
                    json!({"share": share}),
                )
                .await;
            expect_json(res, 200).await;
            shares.push(share);
        }
        let escrow =
            expect_json(self.get(&format!("/api/v1/escrows/{id}"), admin).await, 200).await;
        assert_eq!(escrow["state"], "active", "every custodian confirmed");
        Ceremony {
            id,
            shares,
            custodians: custodians.into_iter().map(|(m, t, _)| (m, t)).collect(),
        }
    }

    /// Asks for a release of `escrow` as `token`; its id.
    pub async fn release(&self, token: &str, escrow: &str, reason: &str) -> String {
        let path = format!("/api/v1/escrows/{escrow}/releases");
        let res = self.post(&path, token, json!({"reason": reason})).await;
        id_of(expect_json(res, 201).await)
    }

    /// Starts the lockout runbook on an account as `token`; the incident's id.
    pub async fn incident(&self, token: &str, account_id: &str) -> String {
        let body = json!({"account": account_id, "runbook": "lockout"});
        let res = self.post("/api/v1/incidents", token, body).await;
        id_of(expect_json(res, 201).await)
    }
}

/// An escrow made by [`TestApp::ceremony`].
pub struct Ceremony {
    pub id: String,
    /// Each custodian's share, in index order.
    pub shares: Vec<String>,
    /// (member id, token bound to them), in index order.
    pub custodians: Vec<(String, String)>,
}

/// Decrypts an armored age file with `identity`.
pub fn open_age(identity: &age::x25519::Identity, armored: &str) -> String {
    use std::io::Read;
    let reader = age::armor::ArmoredReader::new(armored.as_bytes());
    let decryptor = age::Decryptor::new(reader).expect("an age file");
    let mut out = String::new();
    decryptor
        .decrypt(std::iter::once(identity as &dyn age::Identity))
        .expect("it opens with the custodian's identity")
        .read_to_string(&mut out)
        .expect("text");
    out
}

/// The `id` of a created thing's answer.
fn id_of(body: Value) -> String {
    body["id"].as_str().expect("an id").to_owned()
}

/// Runs a statement that changes rows of `table` behind the service's back (a test standing
/// in for time passing, or an old release), then re-signs every row of the table as a
/// security admin's `keyward integrity attest` would after reviewing them.
pub async fn sql_attested(core: &Core, statement: &str, table: &str) {
    let db = core.store.db();
    db.execute_unprepared(statement)
        .await
        .expect("statement runs");
    let id = if table == "session" { "id_hash" } else { "id" };
    let rows = db
        .query_all(sea_orm::Statement::from_string(
            db.get_database_backend(),
            format!("SELECT {id} AS id FROM {table}"),
        ))
        .await
        .expect("ids");
    for row in rows {
        let id: String = row.try_get("", "id").expect("id");
        assert!(
            keyward::store::integrity::attest(db, &core.integrity, table, &id)
                .await
                .expect("attest"),
            "{table} {id} attested"
        );
    }
}
