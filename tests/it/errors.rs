//! Bad input gets a clear 4xx with a stable code, never a 500 and never a secret.

use crate::support::{expect_error, expect_json, spawn_app};
use reqwest::header::CONTENT_TYPE;
use reqwest::Method;
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
    // The unknown field is not named either: a seed pasted as a key would come back.
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("does not take")
            && !body.to_string().contains("colour"),
        "{body}"
    );
    let body = expect_error(
        send(
            format!(r#"{{"{SEED}": "pasted as a key"}}"#),
            "application/json",
        )
        .await
        .unwrap(),
        400,
        "invalid_json",
    )
    .await;
    assert!(!body.to_string().contains(SEED), "{body}");
    expect_error(
        send(json!({"secret": SEED}).to_string(), "text/plain")
            .await
            .unwrap(),
        415,
        "unsupported_media_type",
    )
    .await;
    // Storing a seed may carry a QR screenshot: its limit is http.upload_limit.
    let huge = json!({"secret": "A".repeat(app.settings.http.upload_limit + 1)}).to_string();
    expect_error(
        send(huge, "application/json").await.unwrap(),
        413,
        "payload_too_large",
    )
    .await;
    // Every other body keeps http.body_limit.
    let big = json!({"team": "marketing", "platform": "x", "handle": "A".repeat(100_000)});
    expect_error(
        app.post("/api/v1/accounts", &manager, big).await,
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

#[tokio::test]
async fn a_json_body_declared_in_another_charset_is_refused_not_misread() {
    let app = spawn_app().await;
    let manager = app.token("manager", "marketing").await;
    let id = app.account(&manager, "marketing", "@brand").await;
    let send = |content_type: &'static str| {
        app.client
            .put(format!("{}/api/v1/accounts/{id}/totp", app.base))
            .bearer_auth(&manager)
            .header(CONTENT_TYPE, content_type)
            .body(json!({"secret": SEED}).to_string())
            .send()
    };
    for declared in [
        "application/json; charset=iso-8859-1",
        "application/json; charset=utf-16",
    ] {
        expect_error(send(declared).await.unwrap(), 415, "unsupported_media_type").await;
    }
    expect_json(send("application/json; charset=UTF-8").await.unwrap(), 201).await;
}

#[tokio::test]
async fn the_callers_right_is_decided_before_the_body_and_the_refusal_is_audited() {
    let app = spawn_app().await;
    let manager = app.token("manager", "marketing").await;
    let viewer = app.token("viewer", "marketing").await;
    let operator = app.token("operator", "marketing").await;
    let id = app.account(&manager, "marketing", "@brand").await;
    let denied = || async {
        app.audit_rows()
            .await
            .iter()
            .filter(|r| r.action == "auth.denied" && r.outcome == "denied")
            .count()
    };
    let before = denied().await;
    // A short justification, no body, a body that is not JSON: all 403 for who may not act.
    for (token, path, body) in [
        (
            &viewer,
            format!("/api/v1/accounts/{id}/backup-codes/checkout"),
            Some(json!({"justification": "x"})),
        ),
        (
            &viewer,
            format!("/api/v1/accounts/{id}/backup-codes/checkout"),
            None,
        ),
        (
            &operator,
            format!("/api/v1/accounts/{id}/totp/export"),
            Some(json!({"justification": "x"})),
        ),
        (
            &viewer,
            format!("/api/v1/accounts/{id}/password/reveal"),
            Some(json!({"justification": 7})),
        ),
        (
            &viewer,
            format!("/api/v1/accounts/{id}/backup-codes/verify"),
            Some(json!({"code": "!!"})),
        ),
        (
            &viewer,
            "/api/v1/accounts".to_owned(),
            Some(json!({"team": "marketing", "handle": "two words"})),
        ),
    ] {
        let res = app.request(Method::POST, &path, Some(token), body).await;
        expect_error(res, 403, "forbidden").await;
    }
    let res = app
        .client
        .put(format!("{}/api/v1/accounts/{id}/totp", app.base))
        .bearer_auth(&viewer)
        .header(CONTENT_TYPE, "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    expect_error(res, 403, "forbidden").await;
    expect_error(
        app.get("/api/v1/audit?limit=lots", &viewer).await,
        403,
        "forbidden",
    )
    .await;
    expect_error(
        app.get("/api/v1/audit/export?since=yesterday", &viewer)
            .await,
        403,
        "forbidden",
    )
    .await;
    assert_eq!(denied().await - before, 9, "every refusal is in the trail");
    // With the right, the same bodies are judged on their merits.
    expect_error(
        app.post(
            &format!("/api/v1/accounts/{id}/backup-codes/checkout"),
            &operator,
            json!({"justification": "x"}),
        )
        .await,
        422,
        "justification_too_short",
    )
    .await;
}

#[tokio::test]
async fn nul_bytes_long_values_and_huge_counters_are_4xx_on_every_database() {
    let app = spawn_app().await;
    let manager = app.token("manager", "marketing").await;
    let auditor = app.token("auditor", "*").await;
    let id = app.account(&manager, "marketing", "@brand").await;
    // Ids that cannot be ids are unknown, without a query.
    for path in ["/api/v1/accounts/%00", "/api/v1/accounts/a%00b/totp/code"] {
        let res = app
            .request(Method::POST, path, Some(&manager), Some(json!({})))
            .await;
        assert!(
            matches!(res.status().as_u16(), 404 | 405),
            "{path}: {}",
            res.status()
        );
    }
    expect_error(
        app.get("/api/v1/accounts/%00", &manager).await,
        404,
        "account_not_found",
    )
    .await;
    // Audit filters: checked before anything is read or streamed.
    for path in [
        "/api/v1/audit?actor=%00",
        "/api/v1/audit?action=a%00b",
        "/api/v1/audit/export?account=%00",
        "/api/v1/audit/export?actor=a%0Ab",
    ] {
        expect_error(app.get(path, &auditor).await, 422, "invalid_filter").await;
    }
    // Text fields.
    let create = |body: serde_json::Value| app.post("/api/v1/accounts", &manager, body);
    expect_error(
        create(json!({"team": "marketing", "platform": "x", "handle": "@a\u{0}b"})).await,
        422,
        "invalid_handle",
    )
    .await;
    expect_error(
        create(
            json!({"team": "marketing", "platform": "x", "handle": "@notes", "notes": "a\u{0}b"}),
        )
        .await,
        422,
        "invalid_notes",
    )
    .await;
    let long_url = format!("https://x.com/{}", "a".repeat(2100));
    expect_error(
        create(
            json!({"team": "marketing", "platform": "x", "handle": "@url", "login_url": long_url}),
        )
        .await,
        422,
        "invalid_login_url",
    )
    .await;
    expect_error(
        app.totp_code(&manager, &id, json!({"justification": "a\u{0}bc"}))
            .await,
        422,
        "invalid_justification",
    )
    .await;
    // An HOTP counter near 2^63 is refused up front; the largest accepted one still advances.
    let hotp = format!("/api/v1/accounts/{id}/hotp");
    expect_error(
        app.put(
            &hotp,
            &manager,
            json!({"secret": SEED, "counter": i64::MAX}),
        )
        .await,
        422,
        "invalid_counter",
    )
    .await;
    let max = (1u64 << 53) - 1;
    expect_json(
        app.put(&hotp, &manager, json!({"secret": SEED, "counter": max}))
            .await,
        201,
    )
    .await;
    for expected in [max, max + 1] {
        let code = expect_json(
            app.post(&format!("{hotp}/code"), &manager, json!({})).await,
            200,
        )
        .await;
        assert_eq!(code["counter"].as_u64(), Some(expected));
    }
}

#[tokio::test]
async fn concurrent_seed_writes_and_imports_never_fail_as_storage_errors() {
    let app = spawn_app().await;
    let manager = app.token("manager", "marketing").await;
    let id = app.account(&manager, "marketing", "@brand").await;
    let (totp, codes) = (
        format!("/api/v1/accounts/{id}/totp"),
        format!("/api/v1/accounts/{id}/backup-codes"),
    );
    // Twelve different seeds: the same one twice is refused as `same_secret` (tested apart).
    let seeds = (0..12u8).map(|i| {
        let seed = format!(
            "JBSWY3DPEHPK3PXP{}",
            char::from(b'A' + i).to_string().repeat(16)
        );
        app.put(&totp, &manager, json!({"secret": seed}))
    });
    let imports = (0..12).map(|i| {
        app.post(
            &codes,
            &manager,
            json!({"codes": [format!("{i:04}-1111"), format!("{i:04}-2222")], "issued_on": "2025-12-16"}),
        )
    });
    let (seeds, imports) = tokio::join!(
        futures_util::future::join_all(seeds),
        futures_util::future::join_all(imports)
    );
    let mut versions = Vec::new();
    for res in seeds {
        let status = res.status().as_u16();
        let body: serde_json::Value = res.json().await.unwrap();
        assert!(matches!(status, 201 | 409), "{status} {body}");
        versions.extend(body["version"].as_i64());
    }
    versions.sort_unstable();
    versions.dedup();
    assert!(!versions.is_empty() && versions.iter().all(|v| *v >= 1));
    let mut generations = Vec::new();
    for res in imports {
        let status = res.status().as_u16();
        let body: serde_json::Value = res.json().await.unwrap();
        assert!(matches!(status, 201 | 409), "{status} {body}");
        generations.extend(body["generation"].as_i64());
    }
    let count = generations.len();
    generations.sort_unstable();
    generations.dedup();
    assert_eq!(generations.len(), count, "no generation number twice");
}

#[tokio::test]
async fn a_stored_value_that_cannot_be_read_is_an_internal_error_never_storage_or_an_echo() {
    let app = spawn_app().await;
    let manager = app.token("manager", "marketing").await;
    let operator = app.token("operator", "marketing").await;
    let id = app.account(&manager, "marketing", "@brand").await;
    app.set_totp(&manager, &id, SEED).await;
    // Someone with the database changes a seed's parameters to what no writer produces.
    use sea_orm::ConnectionTrait;
    app.core
        .store
        .db()
        .execute_unprepared("UPDATE secret SET params = 'planted{not json' WHERE kind = 'totp'")
        .await
        .unwrap();
    let res = app
        .post(
            &format!("/api/v1/accounts/{id}/totp/code"),
            &operator,
            json!({}),
        )
        .await;
    let body = expect_error(res, 500, "internal_error").await;
    assert!(!body.to_string().contains("planted"), "{body}");
    // The database itself answers: readiness says so.
    let ready = app
        .client
        .get(format!("{}/readyz", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 200);
}
