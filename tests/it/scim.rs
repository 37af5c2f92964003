//! SCIM 2.0 judged by outside tools: the scim2-tester compliance checks and the scim2-client
//! library (pinned in tests/scim/requirements.txt, installed by `make test-deps`), plus the
//! offboarding that deprovisioning starts, the link at first sign-in, and SCIM errors.

use crate::support::idp::{spawn_sso_app, Browser};
use crate::support::{expect_json, spawn_app, TestApp};
use serde_json::{json, Value};

const SEED: &str = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP";

/// The Python of the venv `make test-deps` makes (or `KW_SCIM_PYTHON`).
fn python() -> std::path::PathBuf {
    match std::env::var_os("KW_SCIM_PYTHON") {
        Some(path) => path.into(),
        None => std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/scim/bin/python"),
    }
}

/// Runs tests/scim/scim_client.py against `app`; its exit code and output.
async fn scim_client(app: &TestApp, args: &[&str]) -> (Option<i32>, String) {
    let python = python();
    assert!(
        python.exists(),
        "{} is missing: run `make test-deps` (it installs the pinned SCIM tester and client)",
        python.display()
    );
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/scim/scim_client.py");
    let mut command = std::process::Command::new(python);
    command
        .arg(script)
        .arg(args[0])
        .arg(format!("{}/scim/v2", app.base))
        .args(&args[1..]);
    let out = tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap();
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code(), text)
}

async fn scim_token(app: &TestApp) -> String {
    app.token("scim", "*").await
}

async fn scim(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = app
        .client
        .request(method, format!("{}/scim/v2{path}", app.base));
    if let Some(token) = token {
        req = req.bearer_auth(token);
    }
    if let Some(body) = body {
        req = req
            .header("content-type", "application/scim+json")
            .body(body.to_string());
    }
    let res = req.send().await.unwrap();
    let status = res.status().as_u16();
    if status != 204 {
        assert_eq!(
            res.headers()["content-type"].to_str().unwrap(),
            "application/scim+json",
            "{path}"
        );
    }
    let text = res.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

#[tokio::test]
async fn the_scim2_tester_compliance_checks_pass() {
    let app = spawn_app().await;
    let token = scim_token(&app).await;
    let (code, report) = scim_client(&app, &["compliance", &token]).await;
    println!("{report}");
    assert_eq!(code, Some(0), "scim2-tester found problems:\n{report}");
    // It really ran the User checks.
    assert!(
        report.contains("User/object_creation") && report.contains(" 0 failed"),
        "{report}"
    );
}

#[tokio::test]
async fn a_real_scim_client_provisions_finds_replaces_and_deprovisions_a_member() {
    let app = spawn_app().await;
    let token = scim_token(&app).await;
    let (code, out) = scim_client(
        &app,
        &["lifecycle", &token, "new.hire@example.com", "idp-sub-1"],
    )
    .await;
    assert_eq!(code, Some(0), "{out}");
    let id = out.lines().next().unwrap().trim().to_owned();
    let admin = app.token("security_admin", "*").await;
    let members = expect_json(app.get("/api/v1/members", &admin).await, 200).await;
    let member = members["members"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == id.as_str())
        .cloned()
        .unwrap();
    assert_eq!(member["status"], "departed", "{member}");
    assert_eq!(member["email"], "new.hire@example.com");
    assert_eq!(member["name"], "Patched");
    let actions: Vec<String> = app
        .audit_rows()
        .await
        .into_iter()
        .map(|r| r.action)
        .collect();
    for action in [
        "scim.create",
        "scim.replace",
        "scim.patch",
        "member.offboard",
    ] {
        assert!(
            actions.iter().any(|a| a == action),
            "{action} in {actions:?}"
        );
    }
}

/// Two members who saw the same things (a password reveal, a seed export, a code still out).
async fn twin(app: &TestApp, manager: &str, name: &str) -> String {
    let id = app.member(name).await;
    let token = app
        .token_for(&id, &[("manager", "marketing"), ("security_admin", "*")])
        .await;
    let account = app.account(manager, "marketing", &format!("@{name}")).await;
    app.set_totp(manager, &account, SEED).await;
    app.set_password(manager, &account, "pw").await;
    let codes: Vec<String> = (1..=5).map(|i| format!("4444-{i:04}")).collect();
    expect_json(
        app.post(
            &format!("/api/v1/accounts/{account}/backup-codes"),
            manager,
            json!({"codes": codes, "issued_on": "2025-12-16"}),
        )
        .await,
        201,
    )
    .await;
    let why = json!({"justification": "twin"});
    for path in ["totp/export", "password/reveal", "backup-codes/checkout"] {
        expect_json(
            app.post(
                &format!("/api/v1/accounts/{account}/{path}"),
                &token,
                why.clone(),
            )
            .await,
            200,
        )
        .await;
    }
    id
}

fn task_kinds(tasks: &Value) -> Vec<(String, String)> {
    let mut kinds: Vec<(String, String)> = tasks["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["kind"].as_str().unwrap().to_owned(),
                t["reason"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    kinds.sort();
    kinds
}

#[tokio::test]
async fn scim_deprovisioning_opens_the_same_tasks_as_an_admins_offboarding() {
    let app = spawn_app().await;
    let manager = app.token("manager", "marketing").await;
    let admin = app.token("security_admin", "*").await;
    let by_admin = twin(&app, &manager, "twin-admin").await;
    let by_scim = twin(&app, &manager, "twin-scim").await;
    expect_json(
        app.post(
            &format!("/api/v1/members/{by_admin}/offboard"),
            &admin,
            json!({"reason": "left"}),
        )
        .await,
        200,
    )
    .await;
    let token = scim_token(&app).await;
    let (code, out) = scim_client(&app, &["deprovision", &token, "twin-scim@example.com"]).await;
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(out.lines().next().unwrap().trim(), by_scim);
    let admin_tasks = expect_json(
        app.get("/api/v1/rotation-tasks?state=open&reason=departure", &admin)
            .await,
        200,
    )
    .await;
    let of = |member: &str| json!({"tasks": admin_tasks["tasks"].as_array().unwrap().iter().filter(|t| t["member"] == member).cloned().collect::<Vec<_>>()});
    let (a, s) = (task_kinds(&of(&by_admin)), task_kinds(&of(&by_scim)));
    assert_eq!(a.len(), 3, "{admin_tasks}");
    assert_eq!(a, s);
    // The SCIM departure is recorded as the provisioning token's, with the SCIM reason.
    let report = expect_json(
        app.get(
            &format!("/api/v1/members/{by_scim}/offboarding-report"),
            &admin,
        )
        .await,
        200,
    )
    .await;
    assert!(report["offboarded_by"]
        .as_str()
        .unwrap()
        .starts_with("token:"));
    assert!(report["reason"].as_str().unwrap().contains("SCIM"));
    assert_eq!(report["exposure"].as_array().unwrap().len(), 3);
}

#[tokio::test]
async fn deleting_a_user_offboards_the_member_and_hides_the_user_from_scim() {
    let app = spawn_app().await;
    let token = scim_token(&app).await;
    let (status, user) = scim(
        &app,
        reqwest::Method::POST,
        "/Users",
        Some(&token),
        Some(json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": "leaving@example.com",
            "name": {"givenName": "ignored"},
            "emails": [{"value": "leaving@example.com", "primary": true}],
        })),
    )
    .await;
    assert_eq!(status, 201, "{user}");
    let id = user["id"].as_str().unwrap().to_owned();
    assert_eq!(user["active"], true);
    assert!(
        user.get("emails").is_none(),
        "attributes Keyward does not keep are not echoed"
    );
    let (status, _) = scim(
        &app,
        reqwest::Method::DELETE,
        &format!("/Users/{id}"),
        Some(&token),
        None,
    )
    .await;
    assert_eq!(status, 204);
    let (status, body) = scim(
        &app,
        reqwest::Method::GET,
        &format!("/Users/{id}"),
        Some(&token),
        None,
    )
    .await;
    assert_eq!((status, body["status"].as_str()), (404, Some("404")));
    let (status, _) = scim(
        &app,
        reqwest::Method::DELETE,
        &format!("/Users/{id}"),
        Some(&token),
        None,
    )
    .await;
    assert_eq!(status, 404);
    // Kept for the record, departed.
    let admin = app.token("security_admin", "*").await;
    let departed = expect_json(
        app.get("/api/v1/members?status=departed", &admin).await,
        200,
    )
    .await;
    assert!(departed["members"]
        .as_array()
        .unwrap()
        .iter()
        .any(|m| m["id"] == id.as_str()));
    // Its userName is free again.
    let (status, _) = scim(
        &app,
        reqwest::Method::POST,
        "/Users",
        Some(&token),
        Some(json!({"userName": "leaving@example.com"})),
    )
    .await;
    assert_eq!(status, 201);
}

#[tokio::test]
async fn bad_scim_requests_get_scim_errors_and_change_nothing() {
    let app = spawn_app().await;
    let token = scim_token(&app).await;
    let (_, user) = scim(
        &app,
        reqwest::Method::POST,
        "/Users",
        Some(&token),
        Some(json!({"userName": "bad@example.com"})),
    )
    .await;
    let id = user["id"].as_str().unwrap().to_owned();
    // (method, path, body, status, scimType)
    type Case<'a> = (reqwest::Method, String, Option<Value>, u16, Option<&'a str>);
    let cases: Vec<Case> = vec![
        (
            reqwest::Method::GET,
            "/Users?filter=userName%20co%20%22b%22".into(),
            None,
            400,
            Some("invalidFilter"),
        ),
        (
            reqwest::Method::GET,
            "/Users?filter=emails%5Btype%20eq%20%22work%22%5D".into(),
            None,
            400,
            Some("invalidFilter"),
        ),
        (
            reqwest::Method::PATCH,
            format!("/Users/{id}"),
            Some(json!({"Operations": [{"op": "jump", "path": "active", "value": false}]})),
            400,
            Some("invalidSyntax"),
        ),
        (
            reqwest::Method::PATCH,
            format!("/Users/{id}"),
            Some(json!({"Operations": [{"op": "replace", "path": "emails", "value": []}]})),
            400,
            Some("invalidPath"),
        ),
        (
            reqwest::Method::PATCH,
            format!("/Users/{id}"),
            Some(json!({"Operations": [{"op": "remove"}]})),
            400,
            Some("noTarget"),
        ),
        (
            reqwest::Method::PATCH,
            format!("/Users/{id}"),
            Some(json!({"Operations": "all"})),
            400,
            Some("invalidSyntax"),
        ),
        (
            reqwest::Method::PATCH,
            format!("/Users/{id}"),
            Some(
                json!({"Operations": [{"op": "replace", "path": "active", "value": false}, {"op": "replace", "path": "userName", "value": ""}]}),
            ),
            400,
            Some("invalidValue"),
        ),
        (
            reqwest::Method::POST,
            "/Users".into(),
            Some(json!({"userName": "BAD@example.com"})),
            409,
            Some("uniqueness"),
        ),
        (
            reqwest::Method::POST,
            "/Users".into(),
            Some(json!({"displayName": "no user name"})),
            400,
            Some("invalidValue"),
        ),
        (
            reqwest::Method::POST,
            "/Users".into(),
            Some(json!({"userName": "x\u{0}y"})),
            400,
            Some("invalidValue"),
        ),
        (
            reqwest::Method::PUT,
            "/Users/0190aaaa-0000-7000-8000-000000000000".into(),
            Some(json!({"userName": "nobody"})),
            404,
            None,
        ),
        (
            reqwest::Method::POST,
            "/ServiceProviderConfig".into(),
            None,
            405,
            None,
        ),
        (reqwest::Method::GET, "/Groups".into(), None, 404, None),
    ];
    for (method, path, body, status, scim_type) in cases {
        let (got, error) = scim(&app, method.clone(), &path, Some(&token), body).await;
        assert_eq!(got, status, "{method} {path}: {error}");
        assert_eq!(
            error["schemas"][0], "urn:ietf:params:scim:api:messages:2.0:Error",
            "{path}"
        );
        assert_eq!(
            error["scimType"].as_str(),
            scim_type,
            "{method} {path}: {error}"
        );
    }
    // The half-valid PATCH changed nothing: the member is still active.
    let (_, user) = scim(
        &app,
        reqwest::Method::GET,
        &format!("/Users/{id}"),
        Some(&token),
        None,
    )
    .await;
    assert_eq!(user["active"], true);
    // Only the provisioning token may provision; anyone else is refused (and audited).
    let admin = app.token("security_admin", "*").await;
    let (status, error) = scim(&app, reqwest::Method::GET, "/Users", Some(&admin), None).await;
    assert_eq!((status, error["status"].as_str()), (403, Some("403")));
    let (status, _) = scim(&app, reqwest::Method::GET, "/Users", None, None).await;
    assert_eq!(status, 401);
    assert!(app
        .audit_rows()
        .await
        .iter()
        .any(|r| r.action == "auth.denied" && r.details.contains("scim.provision")));
    // A scim token can do nothing else.
    let res = app.get("/api/v1/accounts", &token).await;
    let listed = expect_json(res, 200).await;
    assert!(listed["accounts"].as_array().unwrap().is_empty());
}

#[tokio::test]
async fn a_member_provisioned_by_scim_is_linked_at_their_first_sign_in() {
    let app = spawn_sso_app("").await;
    let token = scim_token(&app).await;
    // The demo IdP's subject for alice is "alice": the IdP sends it as externalId.
    let (status, user) = scim(
        &app,
        reqwest::Method::POST,
        "/Users",
        Some(&token),
        Some(json!({
            "userName": "alice@example.com", "externalId": "alice", "displayName": "Alice (HR)"
        })),
    )
    .await;
    assert_eq!(status, 201);
    let browser = Browser::new();
    assert!(browser
        .sign_in(&app.base, "alice")
        .await
        .status()
        .is_redirection());
    let me: Value = browser
        .get(&format!("{}/api/v1/me", app.base))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["id"], user["id"], "{me}");
    // Deprovisioning by SCIM ends that session at once.
    let (status, _) = scim(
        &app,
        reqwest::Method::PATCH,
        &format!("/Users/{}", user["id"].as_str().unwrap()),
        Some(&token),
        Some(json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "replace", "value": {"active": false}}]
        })),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        browser
            .get(&format!("{}/api/v1/me", app.base))
            .await
            .status(),
        401
    );
}

#[tokio::test]
async fn the_idp_cannot_undo_a_security_admins_offboarding_but_can_undo_its_own() {
    let app = spawn_app().await;
    let token = scim_token(&app).await;
    let admin = app.token("security_admin", "*").await;
    let create = |name: &str| json!({"userName": format!("{name}@example.com")});
    let (_, kept_out) = scim(
        &app,
        reqwest::Method::POST,
        "/Users",
        Some(&token),
        Some(create("kept-out")),
    )
    .await;
    let (_, rehired) = scim(
        &app,
        reqwest::Method::POST,
        "/Users",
        Some(&token),
        Some(create("rehired")),
    )
    .await;
    let (kept_out, rehired) = (
        kept_out["id"].as_str().unwrap().to_owned(),
        rehired["id"].as_str().unwrap().to_owned(),
    );
    // A security admin offboards one; the IdP deprovisions the other.
    expect_json(
        app.post(
            &format!("/api/v1/members/{kept_out}/offboard"),
            &admin,
            json!({"reason": "incident"}),
        )
        .await,
        200,
    )
    .await;
    let deactivate = json!({"Operations": [{"op": "replace", "path": "active", "value": false}]});
    let (status, _) = scim(
        &app,
        reqwest::Method::PATCH,
        &format!("/Users/{rehired}"),
        Some(&token),
        Some(deactivate.clone()),
    )
    .await;
    assert_eq!(status, 200);
    // The IdP's next push says both are active.
    for id in [&kept_out, &rehired] {
        let (status, _) = scim(&app, reqwest::Method::PUT, &format!("/Users/{id}"), Some(&token), Some(json!({"userName": format!("{}@example.com", if *id == kept_out { "kept-out" } else { "rehired" }), "active": true}))).await;
        assert_eq!(status, 200);
    }
    let (_, user) = scim(
        &app,
        reqwest::Method::GET,
        &format!("/Users/{kept_out}"),
        Some(&token),
        None,
    )
    .await;
    assert_eq!(user["active"], false, "the admin's offboarding stands");
    let (_, user) = scim(
        &app,
        reqwest::Method::GET,
        &format!("/Users/{rehired}"),
        Some(&token),
        None,
    )
    .await;
    assert_eq!(
        user["active"], true,
        "the IdP undoes its own deprovisioning"
    );
    // A PUT without `active` leaves it as it is.
    let (_, user) = scim(
        &app,
        reqwest::Method::PUT,
        &format!("/Users/{kept_out}"),
        Some(&token),
        Some(json!({"userName": "kept-out@example.com", "displayName": "K"})),
    )
    .await;
    assert_eq!(user["active"], false);
    let rows = app.audit_rows().await;
    assert!(rows
        .iter()
        .any(|r| r.action == "member.reactivate" && r.outcome == "denied"));
    // Leaving again: the report is about the latest departure.
    scim(
        &app,
        reqwest::Method::PATCH,
        &format!("/Users/{rehired}"),
        Some(&token),
        Some(deactivate),
    )
    .await;
    let latest = app
        .audit_rows()
        .await
        .into_iter()
        .filter(|r| {
            r.action == "member.offboard"
                && r.target.as_deref() == Some(&format!("member:{rehired}"))
        })
        .map(|r| r.seq)
        .max()
        .unwrap();
    let report = expect_json(
        app.get(
            &format!("/api/v1/members/{rehired}/offboarding-report"),
            &admin,
        )
        .await,
        200,
    )
    .await;
    assert_eq!(report["offboard_seq"], latest);
}

#[tokio::test]
async fn creating_a_user_who_already_signed_in_is_a_uniqueness_conflict() {
    let app = spawn_app().await;
    let token = scim_token(&app).await;
    keyward::store::members::upsert(
        app.core.store.db(),
        &app.core.integrity,
        "https://idp.test",
        "sub-42",
        None,
        Some("Signed In"),
    )
    .await
    .unwrap();
    let (status, error) = scim(
        &app,
        reqwest::Method::POST,
        "/Users",
        Some(&token),
        Some(json!({"userName": "upn@example.com", "externalId": "sub-42"})),
    )
    .await;
    assert_eq!(
        (status, error["scimType"].as_str()),
        (409, Some("uniqueness"))
    );
    let (status, found) = scim(
        &app,
        reqwest::Method::GET,
        "/Users?filter=userName%20eq%20%22sub-42%22",
        Some(&token),
        None,
    )
    .await;
    assert_eq!((status, found["totalResults"].as_u64()), (200, Some(1)));
}
