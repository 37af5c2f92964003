//! What one import may cost, per request and per member: password slots tried, screenshots
//! and their pixels, imports per hour; each refusal with its own code, before the costly work.

use crate::support::{expect_error, expect_json, spawn_with, test_settings, TestApp};
use serde_json::{json, Value};

fn png(width: u32, height: u32) -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    image::DynamicImage::ImageLuma8(image::GrayImage::from_pixel(
        width,
        height,
        image::Luma([255]),
    ))
    .write_to(&mut out, image::ImageFormat::Png)
    .unwrap();
    out.into_inner()
}

fn b64(bytes: &[u8]) -> String {
    data_encoding::BASE64.encode(bytes)
}

/// An encrypted Aegis vault whose `slots` password slots open nothing (scrypt 2^16 × 8 × 1,
/// the most Keyward allows); its db is never reached.
fn vault_with_slots(slots: usize) -> String {
    let slot = json!({
        "type": 1, "uuid": "00000000-0000-0000-0000-000000000000",
        "key": "00".repeat(32), "key_params": {"nonce": "00".repeat(12), "tag": "00".repeat(16)},
        "n": 65536, "r": 8, "p": 1, "salt": "00".repeat(32)
    });
    json!({
        "version": 1,
        "header": {"slots": vec![slot; slots], "params": {"nonce": "00".repeat(12), "tag": "00".repeat(16)}},
        "db": "AAAA"
    })
    .to_string()
}

async fn app_with(imports_per_hour: u32) -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = test_settings(dir.path()).await;
    settings.limits.imports_per_hour = imports_per_hour;
    settings.http.upload_limit = 16 * 1024 * 1024;
    spawn_with(dir, settings).await
}

async fn preview(app: &TestApp, token: &str, body: Value) -> reqwest::Response {
    app.post("/api/v1/imports/preview", token, body).await
}

#[tokio::test]
async fn a_vault_with_thousands_of_password_slots_is_refused_before_any_derivation() {
    let app = app_with(0).await;
    let manager = app.token("manager", "marketing").await;
    let hostile = vault_with_slots(5000);
    let body = json!({"format": "aegis", "data": hostile, "password": "guess"});
    let err = expect_error(
        preview(&app, &manager, body.clone()).await,
        422,
        "too_many_slots",
    )
    .await;
    assert!(
        err["error"]["message"].as_str().unwrap().contains("5000"),
        "{err}"
    );
    // The import itself reads the vault the same way.
    let mut apply = body;
    apply["team"] = json!("marketing");
    apply["entries"] = json!([]);
    expect_error(
        app.post("/api/v1/imports", &manager, apply).await,
        422,
        "too_many_slots",
    )
    .await;
    // Four slots is the most tried; none opens: the password is wrong.
    expect_error(
        preview(
            &app,
            &manager,
            json!({"format": "aegis", "data": vault_with_slots(4), "password": "guess"}),
        )
        .await,
        422,
        "wrong_password",
    )
    .await;
    // Work Aegis never asks for is refused per slot.
    let greedy = vault_with_slots(1).replace("\"p\":1", "\"p\":4");
    expect_error(
        preview(
            &app,
            &manager,
            json!({"format": "aegis", "data": greedy, "password": "guess"}),
        )
        .await,
        422,
        "invalid_import",
    )
    .await;
}

#[tokio::test]
async fn screenshots_are_limited_in_number_and_in_pixels_before_decoding() {
    let app = app_with(0).await;
    let manager = app.token("manager", "marketing").await;
    let small = b64(&png(64, 64));
    let eleven = vec![small.clone(); 11].join("\n");
    let err = expect_error(
        preview(
            &app,
            &manager,
            json!({"format": "google-authenticator", "data": eleven}),
        )
        .await,
        422,
        "too_many_images",
    )
    .await;
    assert!(
        err["error"]["message"].as_str().unwrap().contains("10"),
        "{err}"
    );
    // Seven 6-megapixel screenshots: 42 MP, over the 40 MP a request may decode.
    let big = b64(&png(3000, 2000));
    let seven = vec![big.clone(); 7].join("\n");
    expect_error(
        preview(
            &app,
            &manager,
            json!({"format": "google-authenticator", "data": seven}),
        )
        .await,
        422,
        "too_many_pixels",
    )
    .await;
    // Within the budget, the screenshots are read (and these hold no QR code).
    let six = vec![big; 6].join("\n");
    expect_error(
        preview(
            &app,
            &manager,
            json!({"format": "google-authenticator", "data": six}),
        )
        .await,
        422,
        "no_qr_code",
    )
    .await;
}

#[tokio::test]
async fn previews_are_limited_per_member_and_hour_and_the_refusal_is_audited() {
    let app = app_with(2).await;
    let manager = app.token("manager", "marketing").await;
    let other = app.token("manager", "marketing").await;
    let body = json!({"format": "otpauth", "data": "otpauth://totp/X:@a?secret=JBSWY3DPEHPK3PXP&issuer=X"});
    for _ in 0..2 {
        expect_json(preview(&app, &manager, body.clone()).await, 200).await;
    }
    let res = preview(&app, &manager, body.clone()).await;
    let retry = res
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .expect("Retry-After");
    assert!((1..=3600).contains(&retry));
    expect_error(res, 429, "import_rate_limited").await;
    // Another caller has their own budget.
    expect_json(preview(&app, &other, body).await, 200).await;
    assert!(app
        .audit_rows()
        .await
        .iter()
        .any(|r| r.action == "import.rate_limited" && r.outcome == "denied"));
}

#[tokio::test]
async fn the_server_answers_others_while_the_costliest_legal_vault_is_tried() {
    let app = app_with(0).await;
    let manager = app.token("manager", "marketing").await;
    let body = json!({"format": "aegis", "data": vault_with_slots(4), "password": "guess"});
    let slow = preview(&app, &manager, body);
    let health = async {
        // Started after the preview, answered while its key derivations run elsewhere.
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        let mut answered = 0;
        for _ in 0..5 {
            let res = app
                .client
                .get(format!("{}/healthz", app.base))
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), 200);
            answered += 1;
        }
        (answered, std::time::Instant::now())
    };
    let (slow, (answered, health_done)) = tokio::join!(
        async {
            let res = slow.await;
            (res, std::time::Instant::now())
        },
        health
    );
    assert_eq!(answered, 5);
    assert!(
        health_done < slow.1,
        "health checks did not wait for the import"
    );
    expect_error(slow.0, 422, "wrong_password").await;
}

#[tokio::test]
async fn a_client_that_leaves_stops_the_vaults_key_derivations() {
    let app = app_with(0).await;
    let manager = app.token("manager", "marketing").await;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let server = crate::support::spawn_process_with(
        &app.settings,
        &[("KEYWARD_METRICS_LISTEN", format!("127.0.0.1:{port}"))],
    )
    .await;
    let stopped = || async {
        let text = reqwest::get(format!("http://127.0.0.1:{port}/metrics"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        text.lines()
            .find_map(|l| l.strip_prefix("keyward_import_work_stopped_total "))
            .and_then(|v| v.trim().parse::<u64>().ok())
            .unwrap_or(0)
    };
    assert_eq!(stopped().await, 0);
    // The client gives up while the first of four slots is being derived.
    let impatient = reqwest::Client::builder()
        .timeout(std::time::Duration::from_millis(40))
        .build()
        .unwrap();
    let gone = impatient
        .post(format!("{}/api/v1/imports/preview", server.base))
        .bearer_auth(&manager)
        .json(&json!({"format": "aegis", "data": vault_with_slots(4), "password": "guess"}))
        .send()
        .await;
    assert!(gone.is_err(), "the client left before the answer");
    let mut seen = 0;
    for _ in 0..100 {
        seen = stopped().await;
        if seen > 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(seen, 1, "the derivations stopped at the next slot");
}
