//! Bad input gets a clear 4xx with a stable code, never a 500 and never a secret.

use crate::support::{expect_error, expect_json, spawn_app};
use reqwest::header::CONTENT_TYPE;
use serde_json::json;

const SEED: &str = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP";

#[tokio::test]
async fn malformed_bodies_get_400_413_or_415_with_codes_and_no_echoed_values() {
    let app = spawn_app().await;
    let manager = app.token("manager", "marketing").await;
    let id = app.account(&manager, "marketing", "@brand").await;
    let url = format!("{}/api/v1/accounts/{id}/totp", app.base);
    let send = |body: String, content_type: &'static str| {
        app.client
            .put(&url)
            .bearer_auth(&manager)
            .header(CONTENT_TYPE, content_type)
            .body(body)
            .send()
    };

    expect_error(
        send("{not json".into(), "application/json").await.unwrap(),
        400,
        "invalid_json",
    )
    .await;
    expect_error(
        send("[]".into(), "application/json").await.unwrap(),
        400,
        "invalid_json",
    )
    .await;
    // A seed typed into a numeric field is not echoed back.
    let body = expect_error(
        send(json!({"digits": SEED}).to_string(), "application/json")
            .await
            .unwrap(),
        400,
        "invalid_json",
    )
    .await;
    assert!(!body.to_string().contains(SEED), "{body}");
    let body = expect_error(
        send(
            json!({"secret": SEED, "colour": "red"}).to_string(),
            "application/json",
        )
        .await
        .unwrap(),
        400,
        "invalid_json",
    )
    .await;
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("colour"));
    expect_error(
        send(json!({"secret": SEED}).to_string(), "text/plain")
            .await
            .unwrap(),
        415,
        "unsupported_media_type",
    )
    .await;
    let huge = json!({"secret": "A".repeat(100_000)}).to_string();
    expect_error(
        send(huge, "application/json").await.unwrap(),
        413,
        "payload_too_large",
    )
    .await;

    let account = expect_json(
        app.get(&format!("/api/v1/accounts/{id}"), &manager).await,
        200,
    )
    .await;
    assert_eq!(account["has_totp"], false, "nothing was stored");
}

#[tokio::test]
async fn unknown_things_are_404_with_codes() {
    let app = spawn_app().await;
    let manager = app.token("manager", "marketing").await;
    expect_error(
        app.get(
            "/api/v1/accounts/0190d3a0-0000-7000-8000-000000000000",
            &manager,
        )
        .await,
        404,
        "account_not_found",
    )
    .await;
    expect_error(
        app.get("/api/v1/nothing-here", &manager).await,
        404,
        "not_found",
    )
    .await;
    expect_error(
        app.post("/api/v1/accounts/nope/totp/code", &manager, json!({}))
            .await,
        404,
        "account_not_found",
    )
    .await;
    expect_error(
        app.get("/api/v1/accounts?status=sleeping", &manager).await,
        422,
        "invalid_status",
    )
    .await;
    expect_error(
        app.get("/api/v1/audit?limit=lots", &app.token("auditor", "*").await)
            .await,
        400,
        "invalid_query",
    )
    .await;
}

#[tokio::test]
async fn every_response_carries_a_request_id_and_a_given_one_is_echoed_into_the_audit_trail() {
    let app = spawn_app().await;
    let manager = app.token("manager", "marketing").await;
    let res = app
        .client
        .get(format!("{}/healthz", app.base))
        .send()
        .await
        .unwrap();
    assert!(res.headers().get("x-request-id").is_some());
    let res = app
        .client
        .post(format!("{}/api/v1/accounts", app.base))
        .bearer_auth(&manager)
        .header("x-request-id", "chatops-42")
        .json(&json!({"team": "marketing", "platform": "x", "handle": "@brand"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers().get("x-request-id").unwrap(), "chatops-42");
    assert_eq!(res.headers().get("cache-control").unwrap(), "no-store");
    assert_eq!(res.status(), 201);
    let created = app
        .audit_rows()
        .await
        .into_iter()
        .find(|r| r.action == "account.create")
        .unwrap();
    assert_eq!(created.request_id.as_deref(), Some("chatops-42"));
    assert_eq!(created.ip.as_deref(), Some("127.0.0.1"));
}
