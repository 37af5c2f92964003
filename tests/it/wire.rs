//! The wire types of `keyward-proto` are what the server sends: each answer of the main flows
//! reads into its type, and written out again is the same JSON (no field lost or added).

use crate::support::{expect_json, spawn_app, TestApp};
use keyward_proto::{accounts, audit, backup, escrows, incidents, me, members, otp, rotation};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{json, Value};

const SEED: &str = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP";

/// Reads `body` as `T` and checks that writing it out gives the same JSON back.
fn round_trip<T: DeserializeOwned + Serialize>(what: &str, body: &Value) -> T {
    let typed: T = serde_json::from_value(body.clone())
        .unwrap_or_else(|e| panic!("{what}: not its wire type: {e}: {body}"));
    assert_eq!(
        &serde_json::to_value(&typed).unwrap(),
        body,
        "{what}: the wire type loses or adds something"
    );
    typed
}

async fn get(app: &TestApp, path: &str, token: &str) -> Value {
    expect_json(app.get(path, token).await, 200).await
}

#[tokio::test]
async fn the_main_answers_read_into_their_wire_types_and_back_unchanged() {
    let app = spawn_app().await;
    let manager = app.token("manager", "marketing").await;
    let admin = app.token("security_admin", "*").await;
    let id = app.account(&manager, "marketing", "@wire").await;

    let body = otp::SetOtp::seed(SEED);
    let stored = expect_json(
        app.put(
            &format!("/api/v1/accounts/{id}/totp"),
            &manager,
            serde_json::to_value(&body).unwrap(),
        )
        .await,
        201,
    )
    .await;
    let version: otp::VersionOut = round_trip("VersionOut", &stored);
    assert_eq!(version.version, 1);
    let code = expect_json(
        app.post(
            &format!("/api/v1/accounts/{id}/totp/code"),
            &manager,
            json!({}),
        )
        .await,
        200,
    )
    .await;
    let code: otp::TotpCodeOut = round_trip("TotpCodeOut", &code);
    assert_eq!(secrecy::ExposeSecret::expose_secret(&code.code).len(), 6);

    let codes = backup::ImportCodes {
        codes: Some(
            (1..=5)
                .map(|i| keyward_proto::Sensitive::new(format!("3000-{i:04}")))
                .collect(),
        ),
        block: None,
        issued_on: "2025-12-16".into(),
    };
    let imported = expect_json(
        app.post(
            &format!("/api/v1/accounts/{id}/backup-codes"),
            &manager,
            serde_json::to_value(&codes).unwrap(),
        )
        .await,
        201,
    )
    .await;
    round_trip::<backup::ImportedOut>("ImportedOut", &imported);
    let checked_out = expect_json(
        app.post(
            &format!("/api/v1/accounts/{id}/backup-codes/checkout"),
            &manager,
            json!({"justification": "wire test"}),
        )
        .await,
        200,
    )
    .await;
    let checked_out: backup::CheckedOutOut = round_trip("CheckedOutOut", &checked_out);
    assert_eq!(checked_out.position, 1);
    round_trip::<backup::GenerationOut>(
        "GenerationOut",
        &get(
            &app,
            &format!("/api/v1/accounts/{id}/backup-codes"),
            &manager,
        )
        .await,
    );
    let account: accounts::AccountOut = round_trip(
        "AccountOut",
        &get(&app, &format!("/api/v1/accounts/{id}"), &manager).await,
    );
    assert!(account.has_totp);
    round_trip::<accounts::AccountList>(
        "AccountList",
        &get(&app, "/api/v1/accounts", &manager).await,
    );
    round_trip::<me::Me>("Me", &get(&app, "/api/v1/me", &manager).await);
    round_trip::<audit::AuditPage>("AuditPage", &get(&app, "/api/v1/audit", &admin).await);
    round_trip::<members::MemberList>("MemberList", &get(&app, "/api/v1/members", &admin).await);
    round_trip::<rotation::TaskList>(
        "TaskList",
        &get(&app, "/api/v1/rotation-tasks", &manager).await,
    );
    round_trip::<escrows::EscrowList>("EscrowList", &get(&app, "/api/v1/escrows", &admin).await);
    round_trip::<incidents::RunbookList>(
        "RunbookList",
        &get(&app, "/api/v1/runbooks", &manager).await,
    );
    let started = expect_json(
        app.post(
            "/api/v1/incidents",
            &manager,
            json!({"account": id, "runbook": "lockout"}),
        )
        .await,
        201,
    )
    .await;
    round_trip::<incidents::IncidentOut>("IncidentOut", &started);
    round_trip::<incidents::IncidentList>(
        "IncidentList",
        &get(&app, "/api/v1/incidents", &manager).await,
    );
}

#[test]
fn a_sensitive_value_is_written_on_the_wire_but_never_printed() {
    let value = keyward_proto::Sensitive::new("correct horse battery staple");
    assert_eq!(
        serde_json::to_string(&value).unwrap(),
        "\"correct horse battery staple\""
    );
    assert!(!format!("{value:?}").contains("horse"));
}
