//! Access requests: an account under `approval` holds its reveals back until a second person
//! approves a time-boxed grant. Requesters and approvers sign in through the real test IdP
//! (approvals need a person with a fresh sign-in); every refusal is audited; grants end by
//! expiry (once across replicas), revocation, cancellation and departure, and freezing the
//! account suspends them. On SQLite and PostgreSQL alike.

use crate::rotation::{header, receiver};
use crate::support::idp::{spawn_sso_app_with, Browser, SsoApp};
use crate::support::{expect_error, expect_json};
use keyward::config::NotifySettings;
use reqwest::Response;
use serde_json::{json, Value};
use std::time::Duration;

const SEED: &str = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP";

/// A demo member signed in through the IdP, calling the JSON API with their session.
struct Person {
    browser: Browser,
    base: String,
}

impl Person {
    async fn sign_in(app: &SsoApp, user: &str) -> Self {
        let browser = Browser::new();
        browser.sign_in(&app.base, user).await;
        Self {
            browser,
            base: app.base.clone(),
        }
    }

    async fn post(&self, path: &str, body: Value) -> Response {
        self.browser
            .post_json(&format!("{}{path}", self.base), Some(&self.base), body)
            .await
    }

    async fn get(&self, path: &str) -> Response {
        self.browser.get(&format!("{}{path}", self.base)).await
    }

    async fn id(&self) -> String {
        expect_json(self.get("/api/v1/me").await, 200).await["id"]
            .as_str()
            .expect("member id")
            .to_owned()
    }

    async fn reveal(&self, account: &str) -> Response {
        self.post(&format!("/api/v1/accounts/{account}/totp/code"), json!({}))
            .await
    }

    async fn ask(&self, account: &str, actions: &[&str], minutes: i64) -> Response {
        self.post(
            "/api/v1/access-requests",
            json!({"account": account, "actions": actions, "minutes": minutes, "reason": "customer escalation #42"}),
        )
        .await
    }

    async fn decide(&self, id: &str, verb: &str) -> Response {
        self.post(
            &format!("/api/v1/access-requests/{id}/{verb}"),
            json!({"comment": "checked with the team"}),
        )
        .await
    }
}

/// The test IdP's app, its settings adjusted.
async fn app_with(adjust: impl FnOnce(&mut keyward::config::Settings, &std::path::Path)) -> SsoApp {
    spawn_sso_app_with("", adjust).await
}

/// An account of `marketing` with a TOTP seed, a password and backup codes, under `approval`
/// with `needed` approvers.
async fn locked_account(app: &SsoApp, handle: &str, needed: i64) -> String {
    let manager = app.token("manager", "marketing").await;
    let account = app.account(&manager, "marketing", handle).await;
    app.set_totp(&manager, &account, SEED).await;
    app.set_password(&manager, &account, "brand password 1")
        .await;
    let codes: Vec<String> = (1..=5).map(|i| format!("3000-{i:04}")).collect();
    app.backup_codes(&manager, &account, &codes).await;
    let patched = expect_json(
        app.request(
            reqwest::Method::PATCH,
            &format!("/api/v1/accounts/{account}"),
            Some(&manager),
            Some(json!({"access": "approval", "approvers_needed": needed})),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(
        (&patched["access"], &patched["approvers_needed"]),
        (&json!("approval"), &json!(needed))
    );
    account
}

async fn events(app: &SsoApp, action: &str) -> Vec<keyward::store::audit::AuditRow> {
    app.audit_rows()
        .await
        .into_iter()
        .filter(|r| r.action == action)
        .collect()
}

fn details(row: &keyward::store::audit::AuditRow) -> Value {
    serde_json::from_str(&row.details).unwrap_or(Value::Null)
}

/// The audited refusals with this reason.
async fn refusals(app: &SsoApp, reason: &str) -> usize {
    events(app, "auth.denied")
        .await
        .iter()
        .filter(|r| details(r)["reason"] == reason)
        .count()
}

/// Moves a grant's end to `seconds` from now, re-signed with the server's key: the window
/// passing, without waiting a whole minute.
async fn ends_in(app: &SsoApp, id: &str, seconds: i64) {
    let db = app.core.store.db();
    let before = keyward::store::access::find(db, &app.core.integrity, id)
        .await
        .unwrap()
        .expect("the request verifies");
    let mut after = before.clone();
    after.expires_at = Some(chrono::Utc::now() + chrono::Duration::seconds(seconds));
    assert!(
        keyward::store::access::change(db, &app.core.integrity, &before, after)
            .await
            .unwrap()
    );
}

fn notifying(url: String) -> impl FnOnce(&mut keyward::config::Settings, &std::path::Path) {
    move |settings, dir| {
        let key = dir.join("notify.key");
        std::fs::write(&key, "a-test-key-of-thirty-two-bytes!!").unwrap();
        settings.notify = vec![NotifySettings {
            url,
            secret_file: Some(key),
            secret_env: None,
            ca_file: None,
            timeout_seconds: 5,
        }];
    }
}

#[tokio::test]
async fn a_locked_account_is_revealed_after_a_managers_approval_until_the_grant_ends() {
    let hook = receiver(0).await;
    let app = app_with(notifying(hook.url.clone())).await;
    let account = locked_account(&app, "@ceo", 1).await;
    let alice = Person::sign_in(&app, "alice").await;
    let mia = Person::sign_in(&app, "mia").await;

    // Refused with a clear message that says how to ask, and audited.
    let refused = expect_error(alice.reveal(&account).await, 403, "approval_required").await;
    let message = refused["error"]["message"].as_str().unwrap();
    assert!(message.contains("/api/v1/access-requests"), "{message}");
    assert_eq!(refusals(&app, "approval_required").await, 1);
    assert!(events(&app, "totp.reveal").await.is_empty());

    // Alice asks; the approvers' webhook is told, with a link to the request's page.
    let asked = expect_json(alice.ask(&account, &["totp.reveal"], 30).await, 201).await;
    let id = asked["id"].as_str().unwrap().to_owned();
    assert_eq!(asked["state"], "pending");
    assert_eq!(asked["requester"], alice.id().await.as_str());
    assert_eq!(asked["approvers_needed"], 1);
    assert!(asked["expires_at"].is_null());
    let seen = hook.wait_for(1, 100).await;
    assert_eq!(seen.len(), 1, "one webhook, one notice");
    let (head, body) = &seen[0];
    let notice: Value = serde_json::from_slice(body).unwrap();
    assert_eq!(notice["event"], "access.requested");
    assert_eq!(notice["request"]["id"], id.as_str());
    assert_eq!(notice["request"]["actions"], json!(["totp.reveal"]));
    assert_eq!(
        notice["url"],
        format!("{}/access-requests/{id}", app.base).as_str()
    );
    let signature = keyward::audit::forward::webhook_signature(
        b"a-test-key-of-thirty-two-bytes!!",
        &header(head, "x-keyward-timestamp"),
        body,
    );
    assert_eq!(
        header(head, "x-keyward-signature"),
        format!("sha256={signature}")
    );
    // Still pending: still refused.
    expect_error(alice.reveal(&account).await, 403, "approval_required").await;

    // The manager approves after a fresh sign-in; the grant runs 30 minutes from now.
    let approved = expect_json(mia.decide(&id, "approve").await, 200).await;
    assert_eq!(approved["state"], "approved");
    assert_eq!(approved["approvals"][0]["by"], mia.id().await.as_str());
    assert_eq!(approved["approvals"][0]["comment"], "checked with the team");
    let starts =
        chrono::DateTime::parse_from_rfc3339(approved["starts_at"].as_str().unwrap()).unwrap();
    let ends =
        chrono::DateTime::parse_from_rfc3339(approved["expires_at"].as_str().unwrap()).unwrap();
    assert_eq!((ends - starts).num_minutes(), 30);

    // Alice reveals; the event names the grant. Only the actions asked for are granted.
    let code = expect_json(alice.reveal(&account).await, 200).await;
    assert_eq!(code["code"].as_str().map(str::len), Some(6));
    let reveals = events(&app, "totp.reveal").await;
    assert_eq!(reveals.len(), 1);
    assert_eq!(details(&reveals[0])["grant"], id.as_str());
    expect_error(
        alice
            .post(
                &format!("/api/v1/accounts/{account}/backup-codes/checkout"),
                json!({"justification": "not granted"}),
            )
            .await,
        403,
        "approval_required",
    )
    .await;
    // The grant is Alice's alone: another operator of the team is still refused.
    let other = app.member("other-operator").await;
    let other = app.token_for(&other, &[("operator", "marketing")]).await;
    expect_error(
        app.post(
            &format!("/api/v1/accounts/{account}/totp/code"),
            &other,
            json!({}),
        )
        .await,
        403,
        "approval_required",
    )
    .await;
    // A token bound to Alice acts for her, under her grant.
    let alice_token = app
        .token_for(&alice.id().await, &[("operator", "marketing")])
        .await;
    expect_json(
        app.post(
            &format!("/api/v1/accounts/{account}/totp/code"),
            &alice_token,
            json!({}),
        )
        .await,
        200,
    )
    .await;

    // The window ends: refused again, and two replicas record the expiry once.
    ends_in(&app, &id, 1).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    expect_error(alice.reveal(&account).await, 403, "approval_required").await;
    let listed = expect_json(
        alice.get(&format!("/api/v1/access-requests/{id}")).await,
        200,
    )
    .await;
    assert_eq!(
        listed["state"], "expired",
        "an ended window reads as expired at once"
    );
    let replica = keyward::startup::build_core(&app.settings, false)
        .await
        .unwrap();
    let (a, b) = tokio::join!(app.core.expire_access(), replica.expire_access());
    assert_eq!(a.unwrap() + b.unwrap(), 1, "expired once across replicas");
    assert_eq!(app.core.expire_access().await.unwrap(), 0, "never twice");
    let expired = events(&app, "access.expire").await;
    assert_eq!(expired.len(), 1);
    assert_eq!(
        expired[0].target.as_deref(),
        Some(format!("access_request:{id}").as_str())
    );
    let row = keyward::store::access::find(app.core.store.db(), &app.core.integrity, &id)
        .await
        .unwrap()
        .expect("the expired row verifies");
    assert_eq!(row.state, "expired");

    // The whole story is in the chain with the request's id.
    for action in ["access.request", "access.approve", "access.expire"] {
        let rows = events(&app, action).await;
        assert_eq!(rows.len(), 1, "{action}");
        assert_eq!(
            rows[0].target.as_deref(),
            Some(format!("access_request:{id}").as_str())
        );
    }
}

#[tokio::test]
async fn two_approvers_are_two_people_and_every_refusal_is_audited() {
    let app = app_with(|_, _| {}).await;
    let account = locked_account(&app, "@brand", 2).await;
    let alice = Person::sign_in(&app, "alice").await;
    let mia = Person::sign_in(&app, "mia").await;
    let sam = Person::sign_in(&app, "sam").await;
    let victor = Person::sign_in(&app, "victor").await;

    // A viewer may not ask, nor ask for what their role does not allow.
    expect_error(
        victor.ask(&account, &["totp.reveal"], 30).await,
        403,
        "forbidden",
    )
    .await;
    expect_error(
        alice.ask(&account, &["password.reveal"], 30).await,
        403,
        "forbidden",
    )
    .await;
    let asked = expect_json(
        alice
            .ask(&account, &["totp.reveal", "backup.checkout"], 60)
            .await,
        201,
    )
    .await;
    let id = asked["id"].as_str().unwrap().to_owned();
    assert_eq!(asked["actions"], json!(["totp.reveal", "backup.checkout"]));
    assert_eq!(asked["approvers_needed"], 2);
    // One waiting request per member and account.
    expect_error(
        alice.ask(&account, &["totp.reveal"], 5).await,
        409,
        "request_pending",
    )
    .await;

    // Wrong role, a service token, the same approver twice.
    expect_error(alice.decide(&id, "approve").await, 403, "forbidden").await;
    let manager_token = app.token("manager", "marketing").await;
    expect_error(
        app.post(
            &format!("/api/v1/access-requests/{id}/approve"),
            &manager_token,
            json!({}),
        )
        .await,
        403,
        "sign_in_required",
    )
    .await;
    let first = expect_json(mia.decide(&id, "approve").await, 200).await;
    assert_eq!(first["state"], "pending", "one of two approvals");
    expect_error(alice.reveal(&account).await, 403, "approval_required").await;
    expect_error(mia.decide(&id, "approve").await, 409, "already_approved").await;
    let second = expect_json(sam.decide(&id, "approve").await, 200).await;
    assert_eq!(second["state"], "approved");
    assert_eq!(second["approvals"].as_array().map(Vec::len), Some(2));
    expect_json(alice.reveal(&account).await, 200).await;
    let checkout = expect_json(
        alice
            .post(
                &format!("/api/v1/accounts/{account}/backup-codes/checkout"),
                json!({"justification": "locked out"}),
            )
            .await,
        200,
    )
    .await;
    assert_eq!(checkout["position"], 1);
    let checked = events(&app, "backup.checkout").await;
    assert_eq!(details(&checked[0])["grant"], id.as_str());
    expect_error(mia.decide(&id, "deny").await, 409, "request_not_pending").await;

    // The requester may not decide on their own request, even as a manager.
    let own = expect_json(mia.ask(&account, &["password.reveal"], 10).await, 201).await;
    let own = own["id"].as_str().unwrap();
    expect_error(mia.decide(own, "approve").await, 403, "self_approval").await;
    expect_error(mia.decide(own, "deny").await, 403, "self_approval").await;
    // Nor a token bound to them.
    let mia_token = app
        .token_for(&mia.id().await, &[("manager", "marketing")])
        .await;
    expect_error(
        app.post(
            &format!("/api/v1/access-requests/{own}/approve"),
            &mia_token,
            json!({}),
        )
        .await,
        403,
        "self_approval",
    )
    .await;
    // Only the requester cancels.
    expect_error(
        sam.post(&format!("/api/v1/access-requests/{own}/cancel"), json!({}))
            .await,
        403,
        "not_requester",
    )
    .await;
    let cancelled = expect_json(
        mia.post(&format!("/api/v1/access-requests/{own}/cancel"), json!({}))
            .await,
        200,
    )
    .await;
    assert_eq!(cancelled["state"], "cancelled");

    // Every refusal is in the trail.
    assert_eq!(refusals(&app, "self_approval").await, 3);
    assert_eq!(refusals(&app, "sign_in_required").await, 1);
    assert_eq!(refusals(&app, "not_requester").await, 1);
    let denied = events(&app, "auth.denied").await;
    let attempted = |action: &str| {
        denied
            .iter()
            .filter(|r| details(r)["attempted"] == action && details(r)["reason"].is_null())
            .count()
    };
    assert_eq!(attempted("access.request"), 1, "the viewer");
    assert_eq!(
        attempted("password.reveal"),
        1,
        "an action the operator's role lacks"
    );
    assert_eq!(attempted("access.approve"), 1, "the operator approving");
    for action in ["access.request", "access.approve", "access.cancel"] {
        assert!(!events(&app, action).await.is_empty(), "{action}");
    }
    assert_eq!(events(&app, "access.approve").await.len(), 2);
}

#[tokio::test]
async fn revoking_freezing_and_offboarding_end_or_suspend_a_grant() {
    let app = app_with(|_, _| {}).await;
    let account = locked_account(&app, "@github-owner", 1).await;
    let alice = Person::sign_in(&app, "alice").await;
    let mia = Person::sign_in(&app, "mia").await;
    let manager = app.token("manager", "marketing").await;

    // Revoked mid-window: refused at once.
    let first = expect_json(alice.ask(&account, &["totp.reveal"], 120).await, 201).await;
    let first = first["id"].as_str().unwrap().to_owned();
    expect_json(mia.decide(&first, "approve").await, 200).await;
    expect_json(alice.reveal(&account).await, 200).await;
    let revoked = expect_json(mia.decide(&first, "revoke").await, 200).await;
    assert_eq!(revoked["state"], "revoked");
    expect_error(alice.reveal(&account).await, 403, "approval_required").await;
    expect_error(
        mia.decide(&first, "revoke").await,
        409,
        "request_not_pending",
    )
    .await;

    // Frozen: the grant is suspended, and works again once the account is unfrozen.
    let second = expect_json(alice.ask(&account, &["totp.reveal"], 120).await, 201).await;
    let second = second["id"].as_str().unwrap().to_owned();
    expect_json(mia.decide(&second, "approve").await, 200).await;
    let path = format!("/api/v1/accounts/{account}");
    let patch = |status: &'static str| {
        app.request(
            reqwest::Method::PATCH,
            &path,
            Some(&manager),
            Some(json!({ "status": status })),
        )
    };
    expect_json(patch("frozen").await, 200).await;
    expect_error(alice.reveal(&account).await, 423, "account_frozen").await;
    let view = expect_json(
        alice
            .get(&format!("/api/v1/access-requests/{second}"))
            .await,
        200,
    )
    .await;
    assert_eq!(
        (&view["state"], &view["suspended"]),
        (&json!("approved"), &json!(true))
    );
    expect_json(patch("active").await, 200).await;
    expect_json(alice.reveal(&account).await, 200).await;

    // Alice leaves: her grant ends with her departure, audited.
    let alice_id = alice.id().await;
    let admin = app.token("security_admin", "*").await;
    expect_json(
        app.post(
            &format!("/api/v1/members/{alice_id}/offboard"),
            &admin,
            json!({"reason": "left the agency"}),
        )
        .await,
        200,
    )
    .await;
    let row = keyward::store::access::find(app.core.store.db(), &app.core.integrity, &second)
        .await
        .unwrap()
        .expect("verifies");
    assert_eq!(row.state, "revoked");
    let ended: Vec<_> = events(&app, "access.revoke")
        .await
        .into_iter()
        .filter(|r| details(r)["why"] == "offboarding")
        .collect();
    assert_eq!(ended.len(), 1);
    assert_eq!(
        ended[0].target.as_deref(),
        Some(format!("access_request:{second}").as_str())
    );
}

#[tokio::test]
async fn a_grant_planted_or_stretched_in_the_database_grants_nothing() {
    let app = app_with(|_, _| {}).await;
    let account = locked_account(&app, "@planted", 1).await;
    let alice = Person::sign_in(&app, "alice").await;
    let mia = Person::sign_in(&app, "mia").await;
    let alice_id = alice.id().await;
    let db = app.core.store.db();
    use sea_orm::ConnectionTrait;
    let exec = |sql: String| async move {
        db.execute_unprepared(&sql).await.expect("SQL runs");
    };

    // A planted approved grant, without a MAC (or with another row's).
    let now = chrono::Utc::now();
    exec(format!(
        "INSERT INTO access_request (id, account_id, requester, actions, minutes, reason, state, approvers_needed, approvals, starts_at, expires_at, created_at) \
         VALUES ('0190a000-0000-7000-8000-000000000001', '{account}', '{alice_id}', '[\"totp.reveal\"]', 480, 'planted', 'approved', 1, '[]', '{}', '{}', '{}')",
        (now - chrono::Duration::minutes(1)).to_rfc3339(),
        (now + chrono::Duration::hours(8)).to_rfc3339(),
        now.to_rfc3339(),
    ))
    .await;
    expect_error(alice.reveal(&account).await, 403, "approval_required").await;

    // A real grant for one minute, its end pushed out in SQL: the row no longer verifies.
    let asked = expect_json(alice.ask(&account, &["totp.reveal"], 1).await, 201).await;
    let id = asked["id"].as_str().unwrap().to_owned();
    expect_json(mia.decide(&id, "approve").await, 200).await;
    expect_json(alice.reveal(&account).await, 200).await;
    exec(format!(
        "UPDATE access_request SET expires_at = '{}' WHERE id = '{id}'",
        (now + chrono::Duration::hours(8)).to_rfc3339()
    ))
    .await;
    expect_error(alice.reveal(&account).await, 403, "approval_required").await;
    // Another action written into it does not count either.
    exec(format!(
        "UPDATE access_request SET actions = '[\"totp.reveal\",\"password.reveal\"]' WHERE id = '{id}'"
    ))
    .await;
    expect_error(alice.reveal(&account).await, 403, "approval_required").await;

    // The account set back to open in SQL no longer verifies: it is in no team.
    exec(format!(
        "UPDATE account SET access = 'open' WHERE id = '{account}'"
    ))
    .await;
    let gone = alice.reveal(&account).await;
    assert_eq!(
        gone.status(),
        404,
        "an account whose row fails is treated as absent"
    );
    // Reported by the background job or here, whichever comes first.
    let mut reported: Vec<String> = Vec::new();
    for _ in 0..50 {
        app.core.report_integrity_violations().await;
        reported = events(&app, "integrity.violation")
            .await
            .into_iter()
            .map(|r| r.details)
            .collect();
        if reported.iter().any(|d| d.contains("\"account\"")) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for table in ["\"access_request\"", "\"account\""] {
        assert!(
            reported.iter().any(|d| d.contains(table)),
            "{table} reported: {reported:?}"
        );
    }
}

#[tokio::test]
async fn requests_are_checked_and_an_open_account_needs_none() {
    let app = app_with(|settings, _| settings.access.max_minutes = 60).await;
    let alice = Person::sign_in(&app, "alice").await;
    let manager = app.token("manager", "marketing").await;
    let open = app.account(&manager, "marketing", "@open").await;
    app.set_totp(&manager, &open, SEED).await;
    // Open: a role is enough, and asking is pointless.
    expect_json(alice.reveal(&open).await, 200).await;
    expect_error(
        alice.ask(&open, &["totp.reveal"], 30).await,
        409,
        "approval_not_required",
    )
    .await;

    let account = locked_account(&app, "@bounded", 1).await;
    for (minutes, code) in [
        (0, "invalid_minutes"),
        (61, "invalid_minutes"),
        (481, "invalid_minutes"),
    ] {
        expect_error(
            alice.ask(&account, &["totp.reveal"], minutes).await,
            422,
            code,
        )
        .await;
    }
    expect_error(
        alice.ask(&account, &["account.update"], 30).await,
        422,
        "invalid_action",
    )
    .await;
    expect_error(alice.ask(&account, &[], 30).await, 400, "actions_required").await;
    expect_error(
        alice
            .post(
                "/api/v1/access-requests",
                json!({"account": account, "actions": ["totp.reveal"], "minutes": 30, "reason": "x"}),
            )
            .await,
        422,
        "justification_too_short",
    )
    .await;
    expect_error(
        alice
            .post(
                "/api/v1/access-requests",
                json!({"account": "0190a000-0000-7000-8000-00000000ffff", "actions": ["totp.reveal"], "minutes": 30, "reason": "why not"}),
            )
            .await,
        404,
        "account_not_found",
    )
    .await;
    expect_error(
        alice.get("/api/v1/access-requests/nope").await,
        404,
        "access_request_not_found",
    )
    .await;
    expect_error(
        alice.get("/api/v1/access-requests?state=maybe").await,
        422,
        "invalid_state",
    )
    .await;

    // The lists: mine, and by state.
    let asked = expect_json(alice.ask(&account, &["totp.reveal"], 60).await, 201).await;
    let mine = expect_json(alice.get("/api/v1/access-requests?mine=true").await, 200).await;
    assert_eq!(mine["requests"].as_array().map(Vec::len), Some(1));
    assert_eq!(mine["requests"][0]["id"], asked["id"]);
    let pending = expect_json(
        app.get("/api/v1/access-requests?state=pending", &manager)
            .await,
        200,
    )
    .await;
    assert_eq!(pending["requests"][0]["id"], asked["id"]);
    let sales = app.token("operator", "sales").await;
    let none = expect_json(app.get("/api/v1/access-requests", &sales).await, 200).await;
    assert_eq!(
        none["requests"],
        json!([]),
        "another team's requests are not listed"
    );

    // A team's default holds new accounts back from the start.
    let app = app_with(|settings, _| {
        settings.teams = vec![keyward::config::TeamSettings {
            slug: "marketing".into(),
            default_access: "approval".into(),
            approvers_needed: 2,
        }]
    })
    .await;
    let manager = app.token("manager", "marketing").await;
    let fresh = app.account(&manager, "marketing", "@born-locked").await;
    let got = expect_json(
        app.get(&format!("/api/v1/accounts/{fresh}"), &manager)
            .await,
        200,
    )
    .await;
    assert_eq!(
        (&got["access"], &got["approvers_needed"]),
        (&json!("approval"), &json!(2))
    );
}

#[tokio::test]
async fn the_operators_command_line_lists_approves_and_revokes() {
    let app = app_with(|_, _| {}).await;
    let account = locked_account(&app, "@cli", 2).await;
    let alice = Person::sign_in(&app, "alice").await;
    let mia = Person::sign_in(&app, "mia").await;
    let asked = expect_json(alice.ask(&account, &["totp.reveal"], 45).await, 201).await;
    let id = asked["id"].as_str().unwrap().to_owned();
    let run = |args: &[&str]| {
        let out = app.cli().args(args).output().expect("keyward runs");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };

    let (code, listed, _) = run(&["access", "list", "--state", "pending"]);
    assert_eq!(code, Some(0));
    assert!(
        listed.contains(&id) && listed.contains("pending") && listed.contains("@cli"),
        "{listed}"
    );
    let (_, json_lines, _) = run(&["access", "list", "--json"]);
    let first: Value = serde_json::from_str(json_lines.lines().next().unwrap()).unwrap();
    assert_eq!(first["id"], id.as_str());

    // The command line is one approver; a person is the second.
    let (code, out, err) = run(&["access", "approve", &id, "--comment", "on the bridge call"]);
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains("pending"), "one of two approvals: {out}");
    let (code, _, err) = run(&["access", "approve", &id]);
    assert_ne!(code, Some(0));
    assert!(err.contains("already"), "{err}");
    expect_json(mia.decide(&id, "approve").await, 200).await;
    expect_json(alice.reveal(&account).await, 200).await;
    let approvals = events(&app, "access.approve").await;
    assert_eq!(approvals[0].actor, "cli");

    let (code, out, _) = run(&["access", "revoke", &id]);
    assert_eq!(code, Some(0));
    assert!(out.contains("revoked"), "{out}");
    expect_error(alice.reveal(&account).await, 403, "approval_required").await;
    let (code, _, err) = run(&["access", "deny", "not-an-id"]);
    assert_ne!(code, Some(0));
    assert!(err.contains("not found"), "{err}");
}

#[tokio::test]
async fn a_lockout_incident_asks_for_access_and_waits_for_the_approval() {
    let app = app_with(|_, _| {}).await;
    let account = locked_account(&app, "@incident", 1).await;
    let alice = Person::sign_in(&app, "alice").await;
    let mia = Person::sign_in(&app, "mia").await;
    let started = expect_json(
        alice
            .post(
                "/api/v1/incidents",
                json!({"account": account, "runbook": "lockout"}),
            )
            .await,
        201,
    )
    .await;
    let id = started["id"].as_str().unwrap().to_owned();
    let answer = |step: &'static str, choice: &'static str| {
        let path = format!("/api/v1/incidents/{id}/answer");
        let alice = &alice;
        async move {
            alice
                .post(&path, json!({"step": step, "choice": choice}))
                .await
        }
    };
    expect_json(answer("device_left", "no").await, 200).await;
    expect_json(answer("old_device", "no").await, 200).await;

    // The code is held back: the incident stays where it is, and says why.
    expect_error(answer("try_totp", "reveal").await, 403, "approval_required").await;
    let asked = expect_json(answer("try_totp", "ask_access").await, 200).await;
    assert_eq!(asked["step"]["id"], "wait_access");
    let request = asked["result"]["request"]
        .as_str()
        .expect("a request")
        .to_owned();
    assert_eq!(asked["result"]["state"], "pending");
    let view = expect_json(
        alice
            .get(&format!("/api/v1/access-requests/{request}"))
            .await,
        200,
    )
    .await;
    assert_eq!(view["actions"], json!(["totp.reveal", "backup.checkout"]));
    assert_eq!(view["minutes"], 60);
    assert_eq!(view["reason"], format!("incident {id}").as_str());
    let asked_event = events(&app, "access.request").await;
    assert_eq!(details(&asked_event[0])["incident"], id.as_str());

    // A manager approves; the incident goes on and reveals under the grant.
    expect_json(mia.decide(&request, "approve").await, 200).await;
    expect_json(answer("wait_access", "approved").await, 200).await;
    let revealed = expect_json(answer("try_totp", "reveal").await, 200).await;
    assert_eq!(revealed["result"]["code"].as_str().map(str::len), Some(6));
    let reveal = events(&app, "totp.reveal").await;
    assert_eq!(details(&reveal[0])["grant"], request.as_str());
    assert_eq!(details(&reveal[0])["incident"], id.as_str());
}

#[tokio::test]
async fn a_manager_may_lock_an_account_but_only_a_security_admin_unlocks_it() {
    let app = app_with(|_, _| {}).await;
    let account = locked_account(&app, "@unlock", 2).await;
    let manager = app.token("manager", "marketing").await;
    let path = format!("/api/v1/accounts/{account}");
    let patch =
        |body: Value| app.request(reqwest::Method::PATCH, &path, Some(&manager), Some(body));
    // Lifting approval, or going from two approvers to one, is refused to a manager, audited.
    expect_error(
        patch(json!({"access": "open"})).await,
        403,
        "relax_needs_security_admin",
    )
    .await;
    expect_error(
        patch(json!({"approvers_needed": 1})).await,
        403,
        "relax_needs_security_admin",
    )
    .await;
    assert_eq!(refusals(&app, "relax_needs_security_admin").await, 2);
    let still = expect_json(app.get(&path, &manager).await, 200).await;
    assert_eq!(
        (&still["access"], &still["approvers_needed"]),
        (&json!("approval"), &json!(2))
    );
    // A security admin's service token may not either: a person signed in does it.
    let admin = app.token("security_admin", "*").await;
    let access_path = format!("{path}/access");
    expect_error(
        app.request(
            reqwest::Method::PUT,
            &access_path,
            Some(&admin),
            Some(json!({"access": "open"})),
        )
        .await,
        403,
        "sign_in_required",
    )
    .await;
    let sam = Person::sign_in(&app, "sam").await;
    let opened = expect_json(
        sam.browser
            .client
            .put(format!("{}{access_path}", app.base))
            .header("origin", &app.base)
            .json(&json!({"access": "open"}))
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    assert_eq!(
        (&opened["access"], &opened["approvers_needed"]),
        (&json!("open"), &json!(1))
    );
    let updates = events(&app, "account.update").await;
    let last = details(updates.last().unwrap());
    assert_eq!(
        (&last["access"], &last["changed"]),
        (&json!("open"), &json!(["access", "approvers_needed"]))
    );
    assert_eq!(
        updates.last().unwrap().actor,
        format!("member:{}", sam.id().await)
    );
    // An operator may not touch it at all.
    let alice = Person::sign_in(&app, "alice").await;
    let refused = alice
        .browser
        .client
        .put(format!("{}{access_path}", app.base))
        .header("origin", &app.base)
        .json(&json!({"access": "approval"}))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 403);
}

#[tokio::test]
async fn a_reveal_holds_its_grant_so_a_revocation_waits_for_it() {
    let app = app_with(|_, _| {}).await;
    let account = locked_account(&app, "@held", 1).await;
    let alice = Person::sign_in(&app, "alice").await;
    let mia = Person::sign_in(&app, "mia").await;
    let asked = expect_json(alice.ask(&account, &["totp.reveal"], 60).await, 201).await;
    let id = asked["id"].as_str().unwrap().to_owned();
    expect_json(mia.decide(&id, "approve").await, 200).await;

    // A reveal's transaction has read the grant and not committed yet.
    let alice_id = alice.id().await;
    let tx = app.core.store.begin_write().await.unwrap();
    let held = keyward::store::access::live_grants(&*tx, &app.core.integrity, &account, &alice_id)
        .await
        .unwrap();
    assert_eq!(held.len(), 1);
    let revoking = tokio::spawn({
        let path = format!("/api/v1/access-requests/{id}/revoke");
        async move { mia.post(&path, json!({})).await.status().as_u16() }
    });
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(
        !revoking.is_finished(),
        "the revocation waits for the reveal that holds the grant"
    );
    tx.commit().await.unwrap();
    assert_eq!(revoking.await.unwrap(), 200);
    expect_error(alice.reveal(&account).await, 403, "approval_required").await;
}

#[tokio::test]
async fn an_ended_window_is_not_revoked_and_a_raised_policy_needs_two() {
    let app = app_with(|_, _| {}).await;
    let account = locked_account(&app, "@raised", 1).await;
    let alice = Person::sign_in(&app, "alice").await;
    let mia = Person::sign_in(&app, "mia").await;
    let sam = Person::sign_in(&app, "sam").await;

    // Asked under one approver; the manager raises it to two before anyone approves.
    let asked = expect_json(alice.ask(&account, &["totp.reveal"], 30).await, 201).await;
    let id = asked["id"].as_str().unwrap().to_owned();
    let manager = app.token("manager", "marketing").await;
    expect_json(
        app.request(
            reqwest::Method::PATCH,
            &format!("/api/v1/accounts/{account}"),
            Some(&manager),
            Some(json!({"approvers_needed": 2})),
        )
        .await,
        200,
    )
    .await;
    let first = expect_json(mia.decide(&id, "approve").await, 200).await;
    assert_eq!(
        (&first["state"], &first["approvers_needed"]),
        (&json!("pending"), &json!(2))
    );
    expect_json(sam.decide(&id, "approve").await, 200).await;
    expect_json(alice.reveal(&account).await, 200).await;

    // Once its window has passed, a grant has ended: revoking it is a conflict, and the
    // expiry job records its end.
    ends_in(&app, &id, 1).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    expect_error(mia.decide(&id, "revoke").await, 409, "request_not_pending").await;
    assert_eq!(app.core.expire_access().await.unwrap(), 1);
    assert!(events(&app, "access.revoke").await.is_empty());
}

#[tokio::test]
async fn an_approver_signs_in_again_before_deciding() {
    // Every sign-in is too old to decide on anything.
    let app = app_with(|settings, _| settings.auth.reauth_minutes = 0).await;
    let account = locked_account(&app, "@stale", 1).await;
    let alice = Person::sign_in(&app, "alice").await;
    let mia = Person::sign_in(&app, "mia").await;
    let asked = expect_json(alice.ask(&account, &["totp.reveal"], 30).await, 201).await;
    let id = asked["id"].as_str().unwrap().to_owned();
    expect_error(
        mia.decide(&id, "approve").await,
        401,
        "reauthentication_required",
    )
    .await;
    expect_error(
        mia.decide(&id, "deny").await,
        401,
        "reauthentication_required",
    )
    .await;
    // The dashboard sends the approver to sign in again, and back to the request.
    let page = mia
        .browser
        .page(&format!("{}/access-requests/{id}", app.base))
        .await;
    assert!(
        page.contains("data-testid=\"access-reauth-hint\""),
        "the page says so first"
    );
    let res = mia
        .browser
        .submit(
            &app.base,
            &format!("/access-requests/{id}/approve"),
            &page,
            &[],
        )
        .await;
    assert_eq!(res.status(), 303);
    let location = res.headers()["location"].to_str().unwrap().to_owned();
    assert!(
        location.starts_with("/auth/reauth?return_to=")
            && location.contains(&format!("%2Faccess-requests%2F{id}")),
        "{location}"
    );
    let row = keyward::store::access::find(app.core.store.db(), &app.core.integrity, &id)
        .await
        .unwrap()
        .expect("verifies");
    assert_eq!(
        (row.state.as_str(), row.approval_list().len()),
        ("pending", 0)
    );
}
