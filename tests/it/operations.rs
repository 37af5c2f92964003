use crate::support::{expect_json, spawn_app};
use serde_json::json;

#[tokio::test]
async fn health_and_readiness_answer_without_a_token() {
    let app = spawn_app().await;
    let health = app
        .client
        .get(format!("{}/healthz", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(expect_json(health, 200).await, json!({"status": "ok"}));
    let ready = app
        .client
        .get(format!("{}/readyz", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(expect_json(ready, 200).await["status"], "ready");
}

#[tokio::test]
async fn the_openapi_document_describes_the_contract() {
    let app = spawn_app().await;
    let res = app
        .client
        .get(format!("{}/api/v1/openapi.json", app.base))
        .send()
        .await
        .unwrap();
    let doc = expect_json(res, 200).await;
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let paths = doc["paths"].as_object().unwrap();
    for path in [
        "/healthz",
        "/readyz",
        "/api/v1/me",
        "/api/v1/accounts",
        "/api/v1/accounts/{id}",
        "/api/v1/accounts/{id}/totp",
        "/api/v1/accounts/{id}/totp/code",
        "/api/v1/accounts/{id}/totp/export",
        "/api/v1/accounts/{id}/hotp",
        "/api/v1/accounts/{id}/hotp/code",
        "/api/v1/audit",
        "/api/v1/audit/verify",
    ] {
        assert!(paths.contains_key(path), "{path} documented");
    }
    assert!(doc["components"]["schemas"]["TotpCodeOut"]["properties"]["next_code"].is_object());
}
