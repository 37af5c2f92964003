use crate::support::otp::{base32, hotp_sha1, totp_window};
use crate::support::{expect_error, expect_json, spawn_app};
use serde_json::json;

const SEED: &str = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP";

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

#[tokio::test]
async fn a_stored_totp_seed_reveals_the_code_an_authenticator_would_show() {
    let app = spawn_app().await;
    let manager = app.token("manager", "marketing").await;
    let operator = app.token("operator", "marketing").await;
    let id = app.account(&manager, "marketing", "@brand").await;

    let uri =
        format!("otpauth://totp/Brand:%40brand?secret={SEED}&issuer=Brand&digits=6&period=30");
    let set = expect_json(
        app.put(
            &format!("/api/v1/accounts/{id}/totp"),
            &manager,
            json!({"otpauth_uri": uri}),
        )
        .await,
        201,
    )
    .await;
    assert_eq!(set["version"], 1);

    let before = unix_now();
    let revealed = expect_json(
        app.totp_code(
            &operator,
            &id,
            json!({"justification": "posting the launch"}),
        )
        .await,
        200,
    )
    .await;
    let code = revealed["code"].as_str().unwrap();
    assert_eq!(code.len(), 6);
    assert!(
        totp_window(&base32(SEED), before, 30, 6).contains(&code.to_owned()),
        "code {code} matches RFC 6238"
    );
    assert_eq!(revealed["digits"], 6);
    assert_eq!(revealed["period"], 30);
    let expires_in = revealed["expires_in"].as_u64().unwrap();
    assert!((1..=30).contains(&expires_in));
    // next_code is given exactly when the code is about to expire.
    match revealed["next_code"].as_str() {
        Some(next) => {
            assert!(expires_in <= 5);
            assert_eq!(next, hotp_sha1(&base32(SEED), before / 30 + 1, 6).as_str());
        }
        None => assert!(expires_in > 5),
    }

    let account = expect_json(
        app.get(&format!("/api/v1/accounts/{id}"), &operator).await,
        200,
    )
    .await;
    assert_eq!(account["has_totp"], true);
    let reveal = app
        .audit_rows()
        .await
        .into_iter()
        .find(|r| r.action == "totp.reveal")
        .expect("reveal audited");
    assert_eq!(reveal.justification.as_deref(), Some("posting the launch"));
    assert!(
        !reveal.details.contains(code),
        "the code is not in the audit trail"
    );
}

#[tokio::test]
async fn totp_fields_accept_spaced_lowercase_unpadded_base32_and_other_parameters() {
    let app = spawn_app().await;
    let manager = app.token("manager", "marketing").await;
    let id = app.account(&manager, "marketing", "@brand").await;
    let spaced = "jbsw y3dp ehpk 3pxp jbsw y3dp ehpk 3pxp";
    let v1 = expect_json(
        app.put(
            &format!("/api/v1/accounts/{id}/totp"),
            &manager,
            json!({"secret": spaced, "digits": 8, "period": 60}),
        )
        .await,
        201,
    )
    .await;
    assert_eq!(v1["version"], 1);
    let now = unix_now();
    let revealed = expect_json(app.totp_code(&manager, &id, json!({})).await, 200).await;
    assert_eq!(revealed["period"], 60);
    let code = revealed["code"].as_str().unwrap().to_owned();
    assert!(totp_window(&base32(SEED), now, 60, 8).contains(&code));

    // A new seed makes version 2; the code follows the new seed.
    let other_seed = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";
    let v2 = expect_json(
        app.put(
            &format!("/api/v1/accounts/{id}/totp"),
            &manager,
            json!({"secret": other_seed}),
        )
        .await,
        201,
    )
    .await;
    assert_eq!(v2["version"], 2);
    let now = unix_now();
    let revealed = expect_json(app.totp_code(&manager, &id, json!({})).await, 200).await;
    assert!(totp_window(&base32(other_seed), now, 30, 6)
        .contains(&revealed["code"].as_str().unwrap().to_owned()));
}

#[tokio::test]
async fn bad_otp_input_gets_a_precise_422_and_stores_nothing() {
    let app = spawn_app().await;
    let manager = app.token("manager", "marketing").await;
    let id = app.account(&manager, "marketing", "@brand").await;
    let path = format!("/api/v1/accounts/{id}/totp");
    let cases = [
        (
            json!({"otpauth_uri": "otpauth://totp/x?secret=NOT*BASE32"}),
            422,
            "invalid_secret",
        ),
        (
            json!({"otpauth_uri": "https://example.com/"}),
            422,
            "invalid_otpauth_uri",
        ),
        (
            json!({"otpauth_uri": format!("otpauth://hotp/x?secret={SEED}&counter=1")}),
            422,
            "wrong_otp_kind",
        ),
        (json!({"secret": SEED, "digits": 7}), 422, "invalid_digits"),
        (json!({"secret": SEED, "period": 45}), 422, "invalid_period"),
        (
            json!({"secret": SEED, "algorithm": "MD5"}),
            422,
            "unsupported_algorithm",
        ),
        (json!({"secret": "ABCD"}), 422, "invalid_secret"),
        (json!({}), 400, "secret_required"),
    ];
    for (body, status, code) in cases {
        let err = expect_error(app.put(&path, &manager, body).await, status, code).await;
        assert!(!err.to_string().contains(SEED), "no seed in the error");
    }
    let account = expect_json(
        app.get(&format!("/api/v1/accounts/{id}"), &manager).await,
        200,
    )
    .await;
    assert_eq!(account["has_totp"], false);
    expect_error(
        app.totp_code(&manager, &id, json!({})).await,
        404,
        "totp_not_set",
    )
    .await;
}

#[tokio::test]
async fn hotp_codes_follow_rfc4226_and_the_counter_advances_once_per_reveal() {
    let app = spawn_app().await;
    let manager = app.token("manager", "marketing").await;
    let id = app.account(&manager, "marketing", "@bot").await;
    // RFC 4226 appendix D seed.
    let seed = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";
    let uri = format!("otpauth://hotp/bot?secret={seed}&counter=3");
    expect_json(
        app.put(
            &format!("/api/v1/accounts/{id}/hotp"),
            &manager,
            json!({"otpauth_uri": uri}),
        )
        .await,
        201,
    )
    .await;
    let expected = ["969429", "338314", "254676"];
    for (i, want) in expected.iter().enumerate() {
        let got = expect_json(
            app.post(
                &format!("/api/v1/accounts/{id}/hotp/code"),
                &manager,
                json!({}),
            )
            .await,
            200,
        )
        .await;
        assert_eq!(got["counter"], 3 + i as u64);
        assert_eq!(got["code"], *want);
    }
    // Export carries the live counter, so an authenticator app would continue correctly.
    let admin = app.token("security_admin", "*").await;
    let exported = expect_json(
        app.post(
            &format!("/api/v1/accounts/{id}/hotp/export"),
            &admin,
            json!({"justification": "moving to hardware token"}),
        )
        .await,
        200,
    )
    .await;
    assert!(exported["otpauth_uri"]
        .as_str()
        .unwrap()
        .contains("counter=6"));
}

#[tokio::test]
async fn exporting_a_seed_needs_a_justification_and_round_trips() {
    let app = spawn_app().await;
    let manager = app.token("manager", "marketing").await;
    let admin = app.token("security_admin", "*").await;
    let id = app.account(&manager, "marketing", "@brand").await;
    expect_json(
        app.put(
            &format!("/api/v1/accounts/{id}/totp"),
            &manager,
            json!({"secret": SEED, "algorithm": "sha256", "digits": 8}),
        )
        .await,
        201,
    )
    .await;
    let path = format!("/api/v1/accounts/{id}/totp/export");
    expect_error(
        app.post(&path, &admin, json!({})).await,
        400,
        "justification_required",
    )
    .await;
    expect_error(
        app.post(&path, &admin, json!({"justification": "x"})).await,
        422,
        "justification_too_short",
    )
    .await;
    let exported = expect_json(
        app.post(
            &path,
            &admin,
            json!({"justification": "migrating to a new vault"}),
        )
        .await,
        200,
    )
    .await;
    let uri = exported["otpauth_uri"].as_str().unwrap();
    assert!(uri.starts_with("otpauth://totp/"));
    assert!(
        uri.contains(&format!("secret={SEED}"))
            && uri.contains("algorithm=SHA256")
            && uri.contains("digits=8")
    );

    // The exported URI stores back as an identical seed.
    let second = app.account(&manager, "marketing", "@brand-copy").await;
    expect_json(
        app.put(
            &format!("/api/v1/accounts/{second}/totp"),
            &manager,
            json!({"otpauth_uri": uri}),
        )
        .await,
        201,
    )
    .await;
    let a = expect_json(app.totp_code(&manager, &id, json!({})).await, 200).await;
    let b = expect_json(app.totp_code(&manager, &second, json!({})).await, 200).await;
    if a["expires_in"].as_u64() > Some(1) {
        assert_eq!(a["code"], b["code"]);
    }
    let export = app
        .audit_rows()
        .await
        .into_iter()
        .find(|r| r.action == "totp.export")
        .expect("export audited");
    assert_eq!(
        export.justification.as_deref(),
        Some("migrating to a new vault")
    );
}

#[tokio::test]
async fn a_frozen_account_reveals_nothing_until_unfrozen() {
    let app = spawn_app().await;
    let manager = app.token("manager", "marketing").await;
    let id = app.account(&manager, "marketing", "@brand").await;
    app.set_totp(&manager, &id, SEED).await;
    let account_path = format!("/api/v1/accounts/{id}");
    let patch = |status: &'static str| {
        app.request(
            reqwest::Method::PATCH,
            &account_path,
            Some(&manager),
            Some(json!({"status": status})),
        )
    };
    expect_json(patch("frozen").await, 200).await;
    expect_error(
        app.totp_code(&manager, &id, json!({})).await,
        423,
        "account_frozen",
    )
    .await;
    expect_json(patch("active").await, 200).await;
    expect_json(app.totp_code(&manager, &id, json!({})).await, 200).await;
}

#[tokio::test]
async fn a_seed_under_128_bits_is_stored_with_a_warning_and_a_160_bit_one_without() {
    let app = spawn_app().await;
    let manager = app.token("manager", "*").await;
    let id = app.account(&manager, "marketing", "@short").await;
    // 80 bits, as some platforms still issue.
    let res = app
        .put(
            &format!("/api/v1/accounts/{id}/totp"),
            &manager,
            json!({"secret": "JBSWY3DPEHPK3PXP"}),
        )
        .await;
    let body = expect_json(res, 201).await;
    assert_eq!(body["warnings"], json!(["short_seed"]), "{body}");
    let res = app
        .put(
            &format!("/api/v1/accounts/{id}/totp"),
            &manager,
            json!({"secret": "6QPONMYIMP6SKWAI4EGMK7HFNZBRDGXL"}),
        )
        .await;
    let body = expect_json(res, 201).await;
    assert_eq!(body, json!({"version": 2}), "no warning for 160 bits");
}
