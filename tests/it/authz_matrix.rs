//! One table: every role against every endpoint, allowed or refused, and every refusal audited.

use crate::support::{expect_json, spawn_app, TestApp};
use reqwest::Method;
use serde_json::{json, Value};

const SEED: &str = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP";
const CODES: [&str; 5] = [
    "0000-0001",
    "0000-0002",
    "0000-0003",
    "0000-0004",
    "0000-0005",
];

/// (role, team of its binding)
const SUBJECTS: [(&str, &str); 8] = [
    ("viewer", "marketing"),
    ("operator", "marketing"),
    ("manager", "marketing"),
    ("security_admin", "*"),
    ("auditor", "*"),
    ("custodian", "*"),
    ("operator", "sales"), // the right role in the wrong team
    ("scim", "*"),
];

struct Endpoint {
    name: &'static str,
    method: Method,
    /// `{id}` is the shared account; `{fresh}` an account made for this call alone;
    /// `{checked_out}` the position of a backup code checked out for this call alone;
    /// `{member}` an active member, `{departed}` an offboarded one, `{fresh_member}` a member
    /// made for this call alone; `{task}` an open rotation task, `{fresh_task}` one made for
    /// this call alone; `{incident}` an open incident on the shared account,
    /// `{fresh_incident}` one started for this call alone. Placeholders in the body are
    /// replaced too.
    path: &'static str,
    body: Option<fn() -> Value>,
    /// Which of SUBJECTS may call it, in SUBJECTS order.
    allowed: [bool; 8],
}

fn endpoints() -> Vec<Endpoint> {
    vec![
        Endpoint {
            name: "get account",
            method: Method::GET,
            path: "/api/v1/accounts/{id}",
            body: None,
            allowed: [true, true, true, true, true, false, false, false],
        },
        Endpoint {
            name: "create account",
            method: Method::POST,
            path: "/api/v1/accounts",
            body: Some(
                || json!({"team": "marketing", "platform": "tiktok", "handle": format!("@n{}", uuid::Uuid::now_v7().simple())}),
            ),
            allowed: [false, false, true, false, false, false, false, false],
        },
        Endpoint {
            name: "patch account",
            method: Method::PATCH,
            path: "/api/v1/accounts/{id}",
            body: Some(|| json!({"notes": "n"})),
            allowed: [false, false, true, false, false, false, false, false],
        },
        Endpoint {
            name: "archive account",
            method: Method::DELETE,
            path: "/api/v1/accounts/{fresh}",
            body: None,
            allowed: [false, false, true, false, false, false, false, false],
        },
        Endpoint {
            name: "set totp",
            method: Method::PUT,
            path: "/api/v1/accounts/{fresh}/totp",
            body: Some(|| json!({"secret": SEED})),
            allowed: [false, false, true, false, false, false, false, false],
        },
        Endpoint {
            name: "reveal totp",
            method: Method::POST,
            path: "/api/v1/accounts/{id}/totp/code",
            body: Some(|| json!({})),
            allowed: [false, true, true, false, false, false, false, false],
        },
        Endpoint {
            name: "export totp",
            method: Method::POST,
            path: "/api/v1/accounts/{id}/totp/export",
            body: Some(|| json!({"justification": "matrix test"})),
            allowed: [false, false, false, true, false, false, false, false],
        },
        Endpoint {
            name: "set hotp",
            method: Method::PUT,
            path: "/api/v1/accounts/{fresh}/hotp",
            body: Some(|| json!({"secret": SEED})),
            allowed: [false, false, true, false, false, false, false, false],
        },
        Endpoint {
            name: "reveal hotp",
            method: Method::POST,
            path: "/api/v1/accounts/{id}/hotp/code",
            body: Some(|| json!({})),
            allowed: [false, true, true, false, false, false, false, false],
        },
        Endpoint {
            name: "export hotp",
            method: Method::POST,
            path: "/api/v1/accounts/{id}/hotp/export",
            body: Some(|| json!({"justification": "matrix test"})),
            allowed: [false, false, false, true, false, false, false, false],
        },
        Endpoint {
            name: "set password",
            method: Method::PUT,
            path: "/api/v1/accounts/{fresh}/password",
            body: Some(|| json!({"password": "matrix-pass"})),
            allowed: [false, false, true, false, false, false, false, false],
        },
        Endpoint {
            name: "reveal password",
            method: Method::POST,
            path: "/api/v1/accounts/{id}/password/reveal",
            body: Some(|| json!({"justification": "matrix test"})),
            allowed: [false, false, true, false, false, false, false, false],
        },
        Endpoint {
            name: "backup-code states",
            method: Method::GET,
            path: "/api/v1/accounts/{id}/backup-codes",
            body: None,
            allowed: [false, true, true, true, true, false, false, false],
        },
        Endpoint {
            name: "check out a backup code",
            method: Method::POST,
            path: "/api/v1/accounts/{id}/backup-codes/checkout",
            body: Some(|| json!({"justification": "matrix test"})),
            allowed: [false, true, true, false, false, false, false, false],
        },
        Endpoint {
            name: "report a backup code",
            method: Method::POST,
            path: "/api/v1/accounts/{id}/backup-codes/{checked_out}/result",
            body: Some(|| json!({"outcome": "worked"})),
            allowed: [false, true, true, false, false, false, false, false],
        },
        Endpoint {
            name: "report someone else's backup code (override)",
            method: Method::POST,
            path: "/api/v1/accounts/{id}/backup-codes/{checked_out_by_owner}/result",
            body: Some(|| json!({"outcome": "worked", "override": true})),
            allowed: [false, false, true, false, false, false, false, false],
        },
        Endpoint {
            name: "verify a backup code",
            method: Method::POST,
            path: "/api/v1/accounts/{id}/backup-codes/verify",
            body: Some(|| json!({"code": "0000-0001"})),
            allowed: [false, true, true, false, false, false, false, false],
        },
        Endpoint {
            name: "import backup codes",
            method: Method::POST,
            path: "/api/v1/accounts/{fresh}/backup-codes",
            body: Some(|| json!({"codes": CODES, "issued_on": "2025-12-16"})),
            allowed: [false, false, true, false, false, false, false, false],
        },
        Endpoint {
            name: "read audit",
            method: Method::GET,
            path: "/api/v1/audit",
            body: None,
            allowed: [false, false, false, true, true, false, false, false],
        },
        Endpoint {
            name: "verify audit",
            method: Method::GET,
            path: "/api/v1/audit/verify",
            body: None,
            allowed: [false, false, false, true, true, false, false, false],
        },
        Endpoint {
            name: "SIEM forwarders",
            method: Method::GET,
            path: "/api/v1/audit/forwarders",
            body: None,
            allowed: [false, false, false, true, true, false, false, false],
        },
        Endpoint {
            name: "list members",
            method: Method::GET,
            path: "/api/v1/members",
            body: None,
            allowed: [false, false, false, true, true, false, false, false],
        },
        Endpoint {
            name: "member exposure",
            method: Method::GET,
            path: "/api/v1/members/{member}/exposure",
            body: None,
            allowed: [false, false, false, true, true, false, false, false],
        },
        Endpoint {
            name: "offboard a member",
            method: Method::POST,
            path: "/api/v1/members/{fresh_member}/offboard",
            body: Some(|| json!({"reason": "matrix test"})),
            allowed: [false, false, false, true, false, false, false, false],
        },
        Endpoint {
            name: "offboarding report",
            method: Method::GET,
            path: "/api/v1/members/{departed}/offboarding-report",
            body: None,
            allowed: [false, false, false, true, true, false, false, false],
        },
        Endpoint {
            // Everyone may ask; each sees the tasks of the accounts they may read.
            name: "list rotation tasks",
            method: Method::GET,
            path: "/api/v1/rotation-tasks",
            body: None,
            allowed: [true, true, true, true, true, true, true, true],
        },
        Endpoint {
            name: "open a rotation task",
            method: Method::POST,
            path: "/api/v1/rotation-tasks",
            body: Some(|| json!({"account": "{fresh}", "kind": "password"})),
            allowed: [false, false, true, true, false, false, false, false],
        },
        Endpoint {
            name: "get a rotation task",
            method: Method::GET,
            path: "/api/v1/rotation-tasks/{task}",
            body: None,
            allowed: [true, true, true, true, true, false, false, false],
        },
        Endpoint {
            name: "assign a rotation task",
            method: Method::POST,
            path: "/api/v1/rotation-tasks/{task}/assign",
            body: Some(|| json!({"assignee": "{member}"})),
            allowed: [false, false, true, false, false, false, false, false],
        },
        Endpoint {
            name: "set up an escrow",
            method: Method::POST,
            path: "/api/v1/escrows",
            body: Some(|| {
                json!({"name": "m", "teams": ["marketing"], "threshold": 2,
                "custodians": ["{member}", "{fresh_member}"]})
            }),
            allowed: [false, false, false, true, false, false, false, false],
        },
        Endpoint {
            // Everyone may ask; each sees the escrows they may see.
            name: "list escrows",
            method: Method::GET,
            path: "/api/v1/escrows",
            body: None,
            allowed: [true, true, true, true, true, true, true, true],
        },
        Endpoint {
            // Security admins and auditors, its custodians, and whoever may ask for its release
            // (a role in its teams).
            name: "get an escrow",
            method: Method::GET,
            path: "/api/v1/escrows/{escrow}",
            body: None,
            allowed: [true, true, true, true, true, false, false, false],
        },
        Endpoint {
            // Only the escrow's custodians (members, by id) fetch a share: none of these.
            name: "pick up a share",
            method: Method::POST,
            path: "/api/v1/escrows/{escrow}/share",
            body: None,
            allowed: [false, false, false, false, false, false, false, false],
        },
        Endpoint {
            // An operator or above in the escrow's team (or one of its custodians); a viewer
            // or an auditor may see it but not ask.
            name: "ask for a release",
            method: Method::POST,
            path: "/api/v1/escrows/{escrow}/releases",
            body: Some(|| json!({"reason": "matrix test"})),
            allowed: [false, true, true, true, false, false, false, false],
        },
        Endpoint {
            name: "get a release",
            method: Method::GET,
            path: "/api/v1/releases/{release}",
            body: None,
            allowed: [false, false, false, true, true, false, false, false],
        },
        Endpoint {
            // Only its requester, with the release key, reads a release's secrets.
            name: "read a release's secrets",
            method: Method::GET,
            path: "/api/v1/releases/{release}/secrets",
            body: None,
            allowed: [false, false, false, false, false, false, false, false],
        },
        Endpoint {
            name: "veto a release",
            method: Method::POST,
            path: "/api/v1/releases/{fresh_release}/veto",
            body: Some(|| json!({"justification": "matrix test"})),
            allowed: [false, false, false, true, false, false, false, false],
        },
        Endpoint {
            name: "preview an import",
            method: Method::POST,
            path: "/api/v1/imports/preview",
            body: Some(
                || json!({"format": "otpauth", "data": format!("otpauth://totp/X:m?secret={SEED}&issuer=X")}),
            ),
            allowed: [false, false, true, false, false, false, false, false],
        },
        Endpoint {
            name: "import seeds",
            method: Method::POST,
            path: "/api/v1/imports",
            body: Some(|| {
                let handle = format!("@i{}", uuid::Uuid::now_v7().simple());
                json!({"format": "otpauth", "data": format!("otpauth://totp/X:m?secret={SEED}&issuer=X"),
                       "team": "marketing", "entries": [{"index": 0, "action": "create", "platform": "x", "handle": handle}]})
            }),
            allowed: [false, false, true, false, false, false, false, false],
        },
        Endpoint {
            name: "list runbooks",
            method: Method::GET,
            path: "/api/v1/runbooks",
            body: None,
            allowed: [true, true, true, true, true, true, true, true],
        },
        Endpoint {
            name: "start an incident",
            method: Method::POST,
            path: "/api/v1/incidents",
            body: Some(|| json!({"account": "{id}", "runbook": "lockout", "note": "matrix"})),
            allowed: [false, true, true, true, false, false, false, false],
        },
        Endpoint {
            // Everyone may ask; each sees the incidents of the teams they may read.
            name: "list incidents",
            method: Method::GET,
            path: "/api/v1/incidents",
            body: None,
            allowed: [true, true, true, true, true, true, true, true],
        },
        Endpoint {
            name: "get an incident",
            method: Method::GET,
            path: "/api/v1/incidents/{incident}",
            body: None,
            allowed: [false, true, true, true, true, false, false, false],
        },
        Endpoint {
            name: "answer an incident",
            method: Method::POST,
            path: "/api/v1/incidents/{fresh_incident}/answer",
            body: Some(|| json!({"step": "device_left", "choice": "no"})),
            allowed: [false, true, true, true, false, false, false, false],
        },
        Endpoint {
            name: "resolve an incident",
            method: Method::POST,
            path: "/api/v1/incidents/{fresh_incident}/resolve",
            body: Some(|| json!({"summary": "matrix test"})),
            allowed: [false, true, true, true, false, false, false, false],
        },
        Endpoint {
            name: "cancel an incident",
            method: Method::POST,
            path: "/api/v1/incidents/{fresh_incident}/cancel",
            body: Some(|| json!({"reason": "matrix test"})),
            allowed: [false, true, true, true, false, false, false, false],
        },
        Endpoint {
            name: "dismiss a rotation task",
            method: Method::POST,
            path: "/api/v1/rotation-tasks/{fresh_task}/dismiss",
            body: Some(|| json!({"justification": "matrix test"})),
            allowed: [false, false, false, true, false, false, false, false],
        },
    ]
}

/// A member as their first sign-in makes them; their id.
async fn member(app: &TestApp) -> String {
    let subject = uuid::Uuid::now_v7().simple().to_string();
    keyward::store::members::upsert(
        app.core.store.db(),
        &app.core.integrity,
        "https://idp.test",
        &subject,
        Some(&format!("{subject}@example.com")),
        None,
    )
    .await
    .expect("member")
    .id
}

/// An open rotation task on `account`; its id. Backup codes: the matrix stores new seeds and
/// passwords on the shared account (which would close a task of those kinds), never a new
/// backup-code generation.
async fn task(app: &TestApp, account: &str) -> String {
    keyward::store::rotation::insert(
        app.core.store.db(),
        &app.core.integrity,
        keyward::store::rotation::NewTask {
            account_id: account,
            kind: "backup_codes",
            reason: "manual",
            secret_id: None,
            generation_id: None,
            member_id: None,
            due_at: chrono::Utc::now() + chrono::Duration::hours(24),
            opened_by: "test",
        },
    )
    .await
    .expect("task")
    .id
}

async fn setup(app: &TestApp) -> (String, String) {
    let owner = app.token("manager", "marketing").await;
    let id = app.account(&owner, "marketing", "@matrix").await;
    app.set_totp(&owner, &id, SEED).await;
    expect_json(
        app.put(
            &format!("/api/v1/accounts/{id}/hotp"),
            &owner,
            json!({"secret": SEED}),
        )
        .await,
        201,
    )
    .await;
    let codes: Vec<String> = (1..=20).map(|i| format!("1000-{i:04}")).collect();
    app.backup_codes(&owner, &id, &codes).await;
    app.set_password(&owner, &id, "matrix-pass").await;
    (owner, id)
}

/// Checks out the next backup code of `id` as `holder`; its position.
async fn checkout_as(app: &TestApp, id: &str, holder: &str) -> String {
    let res = app
        .post(
            &format!("/api/v1/accounts/{id}/backup-codes/checkout"),
            holder,
            json!({"justification": "matrix setup"}),
        )
        .await;
    expect_json(res, 200).await["position"].to_string()
}

#[tokio::test]
async fn every_role_gets_exactly_the_endpoints_the_policy_grants() {
    let app = spawn_app().await;
    let (owner, id) = setup(&app).await;
    let active = member(&app).await;
    let departed = member(&app).await;
    app.core
        .depart(
            &keyward::services::Actor::cli(),
            &departed,
            keyward::domain::DepartureReason::parse("matrix setup").unwrap(),
            keyward::domain::OffboardPolicy::Exposed,
        )
        .await
        .expect("departs");
    let open_task = task(&app, &id).await;
    let admin = app.token("security_admin", "*").await;
    let escrow = app.escrow(&admin, "matrix", "marketing").await;
    let requester = app.token("manager", "marketing").await;
    let ask = |escrow: String| {
        let (app, requester) = (&app, requester.clone());
        async move { app.release(&requester, &escrow, "matrix setup").await }
    };
    let release = ask(escrow.clone()).await;
    let start_incident = || {
        let (app, requester, id) = (&app, requester.clone(), id.clone());
        async move { app.incident(&requester, &id).await }
    };
    let incident = start_incident().await;
    let denied_before = app
        .audit_rows()
        .await
        .iter()
        .filter(|r| r.action == "auth.denied")
        .count();
    let mut failures = Vec::new();
    let mut denials = 0;
    for (i, (role, team)) in SUBJECTS.iter().enumerate() {
        let token = app.token(role, team).await;
        for endpoint in endpoints() {
            let uses_fresh = endpoint.path.contains("{fresh}")
                || endpoint
                    .body
                    .is_some_and(|b| b().to_string().contains("{fresh}"));
            let fresh = if uses_fresh {
                app.account(
                    &owner,
                    "marketing",
                    &format!("@fresh{}", uuid::Uuid::now_v7().simple()),
                )
                .await
            } else {
                String::new()
            };
            // A code to report: held by the subject when it may check codes out (only the
            // holder reports), otherwise by the owner; the override row always reports the
            // owner's code.
            let may_check_out = endpoints()
                .iter()
                .any(|e| e.name == "check out a backup code" && e.allowed[i]);
            let checked_out = if endpoint.path.contains("{checked_out}") {
                checkout_as(&app, &id, if may_check_out { &token } else { &owner }).await
            } else {
                String::new()
            };
            let by_owner = if endpoint.path.contains("{checked_out_by_owner}") {
                checkout_as(&app, &id, &owner).await
            } else {
                String::new()
            };
            let uses_fresh_member = endpoint.path.contains("{fresh_member}")
                || endpoint
                    .body
                    .is_some_and(|b| b().to_string().contains("{fresh_member}"));
            let fresh_member = if uses_fresh_member {
                member(&app).await
            } else {
                String::new()
            };
            let fresh_release = if endpoint.path.contains("{fresh_release}") {
                ask(escrow.clone()).await
            } else {
                String::new()
            };
            let fresh_incident = if endpoint.path.contains("{fresh_incident}") {
                start_incident().await
            } else {
                String::new()
            };
            let fresh_task = if endpoint.path.contains("{fresh_task}") {
                task(&app, &id).await
            } else {
                String::new()
            };
            let fill = |text: &str| {
                text.replace("{id}", &id)
                    .replace("{fresh}", &fresh)
                    .replace("{checked_out}", &checked_out)
                    .replace("{checked_out_by_owner}", &by_owner)
                    .replace("{fresh_member}", &fresh_member)
                    .replace("{member}", &active)
                    .replace("{departed}", &departed)
                    .replace("{fresh_task}", &fresh_task)
                    .replace("{task}", &open_task)
                    .replace("{escrow}", &escrow)
                    .replace("{fresh_release}", &fresh_release)
                    .replace("{release}", &release)
                    .replace("{fresh_incident}", &fresh_incident)
                    .replace("{incident}", &incident)
            };
            let path = fill(endpoint.path);
            let body = endpoint
                .body
                .map(|b| serde_json::from_str::<Value>(&fill(&b().to_string())).unwrap());
            let res = app
                .request(endpoint.method.clone(), &path, Some(&token), body)
                .await;
            let status = res.status().as_u16();
            let allowed = endpoint.allowed[i];
            let ok = if allowed {
                (200..300).contains(&status)
            } else {
                status == 403
            };
            if !allowed {
                denials += 1;
            }
            if !ok {
                failures.push(format!(
                    "{role}@{team} {}: got {status}, expected {}",
                    endpoint.name,
                    if allowed { "2xx" } else { "403" }
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "authorization matrix mismatches:\n{}",
        failures.join("\n")
    );
    let denied_after = app
        .audit_rows()
        .await
        .iter()
        .filter(|r| r.action == "auth.denied")
        .count();
    assert_eq!(
        denied_after - denied_before,
        denials,
        "every refusal is audited"
    );
}

#[tokio::test]
async fn every_role_may_ask_who_it_is_and_lists_only_what_it_may_read() {
    let app = spawn_app().await;
    setup(&app).await;
    let can_read = [true, true, true, true, true, false, false, false];
    for (i, (role, team)) in SUBJECTS.iter().enumerate() {
        let token = app.token(role, team).await;
        let me = expect_json(app.get("/api/v1/me", &token).await, 200).await;
        assert_eq!(me["kind"], "token");
        assert_eq!(me["roles"], json!([{"team": team, "role": role}]));
        let listed = expect_json(app.get("/api/v1/accounts", &token).await, 200).await;
        let n = listed["accounts"].as_array().unwrap().len();
        assert_eq!(
            n,
            usize::from(can_read[i]),
            "{role}@{team} sees {n} accounts"
        );
    }
}

#[tokio::test]
async fn without_a_valid_token_nothing_is_served_and_the_attempt_is_audited() {
    let app = spawn_app().await;
    let (_, id) = setup(&app).await;
    for token in [None, Some("kw_notarealtoken"), Some("garbage")] {
        let res = app
            .request(
                Method::POST,
                &format!("/api/v1/accounts/{id}/totp/code"),
                token,
                Some(json!({})),
            )
            .await;
        assert_eq!(res.status(), 401);
        assert_eq!(
            res.headers()
                .get("www-authenticate")
                .and_then(|v| v.to_str().ok()),
            Some("Bearer")
        );
    }
    // The first is written at once; repeats from the same address are aggregated per minute.
    app.core.flush_anonymous_denials(true).await;
    let refused: u64 = app
        .audit_rows()
        .await
        .into_iter()
        .filter(|r| r.action == "auth.denied" && r.actor == "anonymous")
        .map(|r| {
            let details: Value = serde_json::from_str(&r.details).unwrap();
            // An aggregate stands for `repeated` denials; any other event for one.
            details["repeated"].as_u64().unwrap_or(1)
        })
        .sum();
    assert_eq!(refused, 2, "the two presented tokens are audited");
}

/// The dashboard's forms that change an account or import seeds, for every demo member
/// (viewer, operator, manager, security admin, auditor, no team), as the API's rows above
/// allow: a redirect (or the preview) when allowed, a 403 page and an audited refusal when
/// not.
#[tokio::test]
async fn every_member_gets_exactly_the_dashboard_forms_the_policy_grants() {
    use crate::support::idp::{spawn_sso_app, Browser};
    let app = spawn_sso_app("").await;
    let manager = app.token("manager", "*").await;
    let id = app.account(&manager, "marketing", "@forms").await;
    app.set_password(&manager, &id, "correct horse battery staple")
        .await;
    let uri = format!("otpauth://totp/X:m?secret={SEED}&issuer=X");
    // (member, allowed): only the team's manager changes accounts and imports.
    let members = [
        ("victor", false),
        ("alice", false),
        ("mia", true),
        ("sam", false),
        ("olga", false),
        ("nora", false),
    ];
    for (member, allowed) in members {
        let browser = Browser::new();
        browser.sign_in(&app.base, member).await;
        let page = browser.page(&format!("{}/accounts", app.base)).await;
        let fresh = app
            .account(
                &manager,
                "marketing",
                &format!("@f{}", uuid::Uuid::now_v7().simple()),
            )
            .await;
        let handle = format!("@d{}", uuid::Uuid::now_v7().simple());
        let forms: Vec<(String, Vec<(&str, &str)>)> = vec![
            (
                "/accounts".to_owned(),
                vec![
                    ("team", "marketing"),
                    ("platform", "tiktok"),
                    ("handle", &handle),
                ],
            ),
            (
                format!("/accounts/{id}/edit"),
                vec![("handle", "@forms"), ("notes", "posting calendar")],
            ),
            (format!("/accounts/{fresh}/archive"), vec![]),
            (
                format!("/accounts/{id}/password/reveal"),
                vec![("justification", "monthly campaign post")],
            ),
            (
                "/imports/preview".to_owned(),
                vec![("format", "otpauth"), ("data", &uri), ("team", "marketing")],
            ),
            ("/imports/apply".to_owned(), vec![("token", "none")]),
        ];
        for (path, fields) in forms {
            let before = app.audit_rows().await.len();
            let res = browser.submit(&app.base, &path, &page, &fields).await;
            let status = res.status().as_u16();
            let rows = app.audit_rows().await;
            let denied = rows[before..].iter().any(|r| r.action == "auth.denied");
            if allowed {
                // A preview answers with the page; an apply of an unknown preview says it
                // expired (422); every other form redirects.
                let want = match path.as_str() {
                    "/imports/preview" => 200,
                    "/imports/apply" => 422,
                    _ => 303,
                };
                assert_eq!(status, want, "{member} {path}");
                assert!(!denied, "{member} {path}: no refusal");
            } else {
                assert_eq!(status, 403, "{member} {path}");
                assert!(denied, "{member} {path}: the refusal is audited");
            }
        }
    }
}
