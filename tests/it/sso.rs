//! Sign-in through a real OpenID Provider, sessions, step-up, and every way a login can be
//! forged or replayed.

use crate::support::idp::{csrf_of, spawn_sso_app, Browser, SsoApp};
use crate::support::otp::{base32, totp_window};
use crate::support::{expect_error, expect_json};
use sea_orm::ConnectionTrait;
use serde_json::json;

const SEED: &str = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP";

async fn sql(app: &SsoApp, statement: &str) {
    app.core
        .store
        .db()
        .execute_unprepared(statement)
        .await
        .expect("statement runs");
}

async fn denied_reasons(app: &SsoApp) -> Vec<String> {
    app.audit_rows()
        .await
        .into_iter()
        .filter(|r| r.action == "auth.denied")
        .map(|r| {
            serde_json::from_str::<serde_json::Value>(&r.details).unwrap()["reason"]
                .as_str()
                .unwrap_or("")
                .to_owned()
        })
        .collect()
}

/// An account with a TOTP seed in team marketing, made with a manager token.
async fn seeded_account(app: &SsoApp) -> String {
    let manager = app.token("manager", "marketing").await;
    let id = app.account(&manager, "marketing", "@brand").await;
    app.set_totp(&manager, &id, SEED).await;
    id
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

#[tokio::test]
async fn a_member_signs_in_with_pkce_and_gets_the_roles_of_their_idp_groups() {
    let app = spawn_sso_app("").await;
    let browser = Browser::new();
    let login = browser
        .get(&format!("{}/auth/login?return_to=/accounts", app.base))
        .await;
    assert_eq!(login.status(), 302);
    let to_idp = login.headers()["location"].to_str().unwrap().to_owned();
    assert!(to_idp.starts_with(&app.idp.issuer));
    for part in [
        "code_challenge_method=S256",
        "code_challenge=",
        "state=",
        "nonce=",
        "response_type=code",
    ] {
        assert!(to_idp.contains(part), "{part} in {to_idp}");
    }

    let done = browser.sign_in(&app.base, "alice").await;
    if done.status() != 303 {
        let reasons = denied_reasons(&app).await;
        panic!(
            "sign-in refused: {reasons:?} {}",
            done.text().await.unwrap_or_default()
        );
    }
    assert_eq!(done.headers()["location"], "/accounts");
    let cookie = done
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|c| c.starts_with("kw_session="))
        .expect("session cookie set");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax") && cookie.contains("Path=/"),
        "{cookie}"
    );
    assert!(
        !cookie.contains("Secure"),
        "no Secure flag over plain http: {cookie}"
    );

    let me = expect_json(browser.get(&format!("{}/api/v1/me", app.base)).await, 200).await;
    assert_eq!(me["kind"], "member");
    assert_eq!(me["email"], "alice@example.com");
    assert_eq!(me["name"], "Alice Operator");
    assert_eq!(
        me["roles"],
        json!([{"team": "marketing", "role": "operator"}])
    );
    let login_event = app
        .audit_rows()
        .await
        .into_iter()
        .find(|r| r.action == "auth.login")
        .expect("login audited");
    assert_eq!(
        login_event.actor,
        format!("member:{}", me["id"].as_str().unwrap())
    );
}

#[tokio::test]
async fn a_signed_in_operator_reveals_a_code_and_a_fresh_login_rotates_the_session() {
    let app = spawn_sso_app("").await;
    let id = seeded_account(&app).await;
    let browser = Browser::new();
    browser.sign_in(&app.base, "alice").await;
    let first_cookie = app
        .core
        .store
        .db()
        .query_one(sea_orm::Statement::from_string(
            app.core.store.backend(),
            "SELECT id_hash FROM session",
        ))
        .await
        .unwrap()
        .unwrap()
        .try_get::<String>("", "id_hash")
        .unwrap();

    let url = format!("{}/api/v1/accounts/{id}/totp/code", app.base);
    let before = unix_now();
    let code = expect_json(
        browser
            .post_json(
                &url,
                Some(&app.base),
                json!({"justification": "weekly post"}),
            )
            .await,
        200,
    )
    .await;
    assert!(totp_window(&base32(SEED), before, 30, 6)
        .contains(&code["code"].as_str().unwrap().to_owned()));

    // Signing in again in the same browser replaces the session (new id, old one gone).
    browser.sign_in(&app.base, "alice").await;
    let rows = app
        .core
        .store
        .db()
        .query_all(sea_orm::Statement::from_string(
            app.core.store.backend(),
            "SELECT id_hash FROM session",
        ))
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    assert_ne!(
        rows[0].try_get::<String>("", "id_hash").unwrap(),
        first_cookie
    );
}

#[tokio::test]
async fn cookie_requests_from_another_origin_are_refused() {
    let app = spawn_sso_app("").await;
    let id = seeded_account(&app).await;
    let browser = Browser::new();
    browser.sign_in(&app.base, "alice").await;
    let url = format!("{}/api/v1/accounts/{id}/totp/code", app.base);
    expect_error(
        browser
            .post_json(&url, Some("http://evil.example"), json!({}))
            .await,
        403,
        "cross_origin_request",
    )
    .await;
    expect_error(
        browser.post_json(&url, None, json!({})).await,
        403,
        "cross_origin_request",
    )
    .await;
    let with_referer = browser
        .client
        .post(&url)
        .header("referer", format!("{}/accounts/{id}", app.base))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        with_referer.status(),
        200,
        "a same-origin Referer is accepted when Origin is absent"
    );
}

#[tokio::test]
async fn an_old_login_must_step_up_before_revealing_and_comes_back_to_the_same_page() {
    let app = spawn_sso_app("").await;
    let id = seeded_account(&app).await;
    let browser = Browser::new();
    browser.sign_in(&app.base, "alice").await;
    crate::support::sql_attested(
        &app.core,
        "UPDATE session SET auth_time = '2020-01-01 00:00:00+00:00'",
        "session",
    )
    .await;

    let url = format!("{}/api/v1/accounts/{id}/totp/code", app.base);
    expect_error(
        browser.post_json(&url, Some(&app.base), json!({})).await,
        401,
        "reauthentication_required",
    )
    .await;
    // Verifying a typed backup code tells what a code is: it needs a fresh sign-in too.
    expect_error(
        browser
            .post_json(
                &format!("{}/api/v1/accounts/{id}/backup-codes/verify", app.base),
                Some(&app.base),
                json!({"code": "1234-5678"}),
            )
            .await,
        401,
        "reauthentication_required",
    )
    .await;

    // The dashboard sends the browser back to the IdP with prompt=login and max_age=0.
    let page = browser.page(&format!("{}/accounts/{id}", app.base)).await;
    let csrf = csrf_of(&page);
    let res = browser
        .client
        .post(format!("{}/accounts/{id}/totp/reveal", app.base))
        .header("origin", &app.base)
        .form(&[("justification", "campaign"), ("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    // The form's redirect stays on this origin (CSP form-action 'self'); the page it lands on
    // has the one link to the step-up login (app.js follows it at once).
    let reauth_path = res.headers()["location"].to_str().unwrap().to_owned();
    assert!(
        reauth_path.starts_with("/auth/reauth?return_to=%2Faccounts%2F"),
        "{reauth_path}"
    );
    let reauth = browser.page(&format!("{}{reauth_path}", app.base)).await;
    let login_path = reauth
        .split("href=\"")
        .find(|part| part.starts_with("/auth/login"))
        .and_then(|part| part.split('"').next())
        .unwrap()
        .replace("&#38;", "&");
    assert!(
        login_path.starts_with("/auth/login?prompt=login&return_to=%2Faccounts%2F"),
        "{login_path}"
    );
    let idp_redirect = browser.get(&format!("{}{login_path}", app.base)).await;
    let to_idp = idp_redirect.headers()["location"].to_str().unwrap();
    assert!(
        to_idp.contains("prompt=login") && to_idp.contains("max_age=0"),
        "{to_idp}"
    );

    // Signing in again at the IdP (it asks, despite its own session) completes the step-up.
    let callback = browser.authorize(&app.base, "alice", &login_path).await;
    let back = browser.get(&callback).await;
    assert_eq!(
        back.headers()["location"].to_str().unwrap(),
        format!("/accounts/{id}")
    );
    expect_json(
        browser.post_json(&url, Some(&app.base), json!({})).await,
        200,
    )
    .await;
}

#[tokio::test]
async fn forged_missing_or_replayed_callbacks_and_foreign_browsers_are_refused_and_audited() {
    let app = spawn_sso_app("").await;

    // Forged state.
    let browser = Browser::new();
    let callback = browser.authorize(&app.base, "alice", "/auth/login").await;
    let forged = regex_replace_param(&callback, "state", "forged-state");
    assert_eq!(browser.get(&forged).await.status(), 400);

    // Missing state.
    let browser = Browser::new();
    let callback = browser.authorize(&app.base, "alice", "/auth/login").await;
    assert_eq!(
        browser
            .get(&remove_param(&callback, "state"))
            .await
            .status(),
        400
    );

    // Finished in a browser that did not start the login.
    let starter = Browser::new();
    let callback = starter.authorize(&app.base, "alice", "/auth/login").await;
    let other = Browser::new();
    assert_eq!(other.get(&callback).await.status(), 400);

    // Replayed: the first use signs in, the second is refused.
    let browser = Browser::new();
    let callback = browser.authorize(&app.base, "alice", "/auth/login").await;
    assert_eq!(browser.get(&callback).await.status(), 303);
    assert_eq!(browser.get(&callback).await.status(), 400);

    // A different `iss` in the authorization response (mix-up attack).
    let browser = Browser::new();
    let callback = browser.authorize(&app.base, "alice", "/auth/login").await;
    assert_eq!(
        browser
            .get(&regex_replace_param(
                &callback,
                "iss",
                "http://evil.example"
            ))
            .await
            .status(),
        400
    );

    let reasons = denied_reasons(&app).await;
    for reason in [
        "state_mismatch",
        "missing_state_or_code",
        "no_login_in_this_browser",
        "issuer_mismatch",
    ] {
        assert!(
            reasons.iter().any(|r| r == reason),
            "{reason} audited: {reasons:?}"
        );
    }
    assert_eq!(
        app.audit_rows()
            .await
            .iter()
            .filter(|r| r.action == "auth.login")
            .count(),
        1,
        "only the first replay signed in"
    );
}

#[tokio::test]
async fn an_id_token_for_another_audience_is_refused() {
    let app = spawn_sso_app("aud").await;
    let browser = Browser::new();
    let res = browser.sign_in(&app.base, "alice").await;
    assert_eq!(res.status(), 400);
    assert!(res.headers().get_all("set-cookie").iter().all(|c| !c
        .to_str()
        .unwrap()
        .starts_with("kw_session=")
        || c.to_str().unwrap().starts_with("kw_session=;")));
    expect_error(
        browser.get(&format!("{}/api/v1/me", app.base)).await,
        401,
        "unauthenticated",
    )
    .await;
    assert!(denied_reasons(&app)
        .await
        .contains(&"id_token_invalid".to_owned()));
}

#[tokio::test]
async fn an_id_token_from_another_issuer_is_refused() {
    let app = spawn_sso_app("iss").await;
    let browser = Browser::new();
    assert_eq!(browser.sign_in(&app.base, "alice").await.status(), 400);
    expect_error(
        browser.get(&format!("{}/api/v1/me", app.base)).await,
        401,
        "unauthenticated",
    )
    .await;
    assert!(denied_reasons(&app)
        .await
        .contains(&"id_token_invalid".to_owned()));
}

#[tokio::test]
async fn expired_and_idle_sessions_end_and_logout_ends_the_session_at_once() {
    let app = spawn_sso_app("").await;
    let me = format!("{}/api/v1/me", app.base);

    let browser = Browser::new();
    browser.sign_in(&app.base, "victor").await;
    expect_json(browser.get(&me).await, 200).await;
    crate::support::sql_attested(
        &app.core,
        "UPDATE session SET expires_at = '2020-01-01 00:00:00+00:00'",
        "session",
    )
    .await;
    expect_error(browser.get(&me).await, 401, "unauthenticated").await;
    let page = browser.get(&format!("{}/accounts", app.base)).await;
    assert_eq!(page.status(), 303);
    assert_eq!(page.headers()["location"], "/signin?return_to=%2Faccounts");

    let browser = Browser::new();
    browser.sign_in(&app.base, "victor").await;
    sql(
        &app,
        "UPDATE session SET last_seen_at = '2020-01-01 00:00:00+00:00'",
    )
    .await;
    expect_error(browser.get(&me).await, 401, "unauthenticated").await;

    let browser = Browser::new();
    browser.sign_in(&app.base, "victor").await;
    let page = browser.page(&format!("{}/accounts", app.base)).await;
    let csrf = csrf_of(&page);
    let no_token = browser
        .client
        .post(format!("{}/auth/logout", app.base))
        .header("origin", &app.base)
        .form(&[("csrf", "nope")])
        .send()
        .await
        .unwrap();
    assert_eq!(no_token.status(), 403);
    expect_json(browser.get(&me).await, 200).await;
    let out = browser
        .client
        .post(format!("{}/auth/logout", app.base))
        .header("origin", &app.base)
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), 303);
    assert_eq!(out.headers()["location"], "/signin?signed_out=1");
    expect_error(browser.get(&me).await, 401, "unauthenticated").await;
    assert!(app
        .audit_rows()
        .await
        .iter()
        .any(|r| r.action == "auth.logout"));
}

fn regex_replace_param(url: &str, name: &str, value: &str) -> String {
    let mut parsed = url::Url::parse(url).unwrap();
    let pairs: Vec<(String, String)> = parsed
        .query_pairs()
        .map(|(k, v)| {
            if k == name {
                (k.into_owned(), value.to_owned())
            } else {
                (k.into_owned(), v.into_owned())
            }
        })
        .collect();
    parsed.query_pairs_mut().clear().extend_pairs(pairs);
    parsed.to_string()
}

fn remove_param(url: &str, name: &str) -> String {
    let mut parsed = url::Url::parse(url).unwrap();
    let pairs: Vec<(String, String)> = parsed
        .query_pairs()
        .filter(|(k, _)| k != name)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    parsed.query_pairs_mut().clear().extend_pairs(pairs);
    parsed.to_string()
}

#[tokio::test]
async fn a_grant_stored_in_keyward_survives_sign_ins_until_revoked() {
    let app = spawn_sso_app("").await;
    let browser = Browser::new();
    let me_url = format!("{}/api/v1/me", app.base);
    let unknown = app
        .cli()
        .args([
            "member",
            "grant",
            "--email",
            "nora@example.com",
            "--role",
            "viewer",
            "--team",
            "sales",
        ])
        .output()
        .unwrap();
    assert_eq!(
        unknown.status.code(),
        Some(2),
        "members appear after their first sign-in"
    );

    browser.sign_in(&app.base, "nora").await;
    let out = app
        .cli()
        .args([
            "member",
            "grant",
            "--email",
            "nora@example.com",
            "--role",
            "viewer",
            "--team",
            "sales",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    browser.sign_in(&app.base, "nora").await;
    let me = expect_json(browser.get(&me_url).await, 200).await;
    assert_eq!(me["roles"], json!([{"team": "sales", "role": "viewer"}]));
    let list =
        String::from_utf8_lossy(&app.cli().args(["member", "list"]).output().unwrap().stdout)
            .into_owned();
    assert!(
        list.contains("nora@example.com") && list.contains("viewer@sales (admin)"),
        "{list}"
    );

    let out = app
        .cli()
        .args([
            "member",
            "revoke",
            "--email",
            "nora@example.com",
            "--role",
            "viewer",
            "--team",
            "sales",
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    let me = expect_json(browser.get(&me_url).await, 200).await;
    assert_eq!(
        me["roles"],
        json!([]),
        "revocation applies to the live session at once"
    );
    let actions: Vec<String> = app
        .audit_rows()
        .await
        .into_iter()
        .map(|r| r.action)
        .collect();
    assert!(
        actions.contains(&"member.grant".to_owned())
            && actions.contains(&"member.revoke_grant".to_owned())
    );
}

#[tokio::test]
async fn an_authorization_header_that_is_not_a_bearer_token_does_not_skip_the_origin_check() {
    let app = spawn_sso_app("").await;
    let id = seeded_account(&app).await;
    let browser = Browser::new();
    browser.sign_in(&app.base, "alice").await;
    let url = format!("{}/api/v1/accounts/{id}/totp/code", app.base);
    for header in ["Basic YWxpY2U6ZGVtbw==", "Bearer", "Token abc"] {
        let res = browser
            .client
            .post(&url)
            .header("authorization", header)
            .header("origin", "http://evil.example")
            .json(&json!({}))
            .send()
            .await
            .unwrap();
        expect_error(res, 403, "cross_origin_request").await;
    }
}

#[tokio::test]
async fn without_auth_time_a_sign_in_is_never_recent_and_a_step_up_is_refused() {
    let app = spawn_sso_app("no_auth_time").await;
    let id = seeded_account(&app).await;
    let browser = Browser::new();
    browser.sign_in(&app.base, "alice").await;
    let url = format!("{}/api/v1/accounts/{id}/totp/code", app.base);
    // Signed in, but the IdP never said when: iat is not an authentication time.
    expect_error(
        browser.post_json(&url, Some(&app.base), json!({})).await,
        401,
        "reauthentication_required",
    )
    .await;
    let login_path = format!("/auth/login?prompt=login&return_to=%2Faccounts%2F{id}");
    let callback = browser.authorize(&app.base, "alice", &login_path).await;
    let back = browser.get(&callback).await;
    assert_eq!(back.status(), 400, "the step-up is refused");
    assert!(denied_reasons(&app)
        .await
        .contains(&"reauthentication_not_performed".to_owned()));
}

#[tokio::test]
async fn only_verified_emails_are_kept_and_a_grant_can_name_the_member_by_id() {
    let app = spawn_sso_app("").await;
    let browser = Browser::new();
    browser.sign_in(&app.base, "uma").await;
    let me = expect_json(browser.get(&format!("{}/api/v1/me", app.base)).await, 200).await;
    assert_eq!(me["email"], serde_json::Value::Null, "{me}");
    let by_email = app
        .cli()
        .args([
            "member",
            "grant",
            "--email",
            "uma@example.com",
            "--role",
            "operator",
            "--team",
            "sales",
        ])
        .output()
        .unwrap();
    assert_eq!(
        by_email.status.code(),
        Some(2),
        "an unverified address names nobody"
    );
    let id = me["id"].as_str().unwrap();
    let by_id = app
        .cli()
        .args([
            "member", "grant", "--member", id, "--role", "operator", "--team", "sales",
        ])
        .output()
        .unwrap();
    assert!(
        by_id.status.success(),
        "{}",
        String::from_utf8_lossy(&by_id.stderr)
    );
    let both = app
        .cli()
        .args([
            "member",
            "grant",
            "--member",
            id,
            "--email",
            "x@example.com",
            "--role",
            "viewer",
            "--team",
            "sales",
        ])
        .output()
        .unwrap();
    assert_eq!(both.status.code(), Some(2), "one of --member or --email");
    let me = expect_json(browser.get(&format!("{}/api/v1/me", app.base)).await, 200).await;
    assert!(
        me["roles"]
            .as_array()
            .unwrap()
            .contains(&json!({"team": "sales", "role": "operator"})),
        "{me}"
    );
}

#[tokio::test]
async fn return_to_stays_on_this_origin_through_a_real_sign_in_and_the_language_switch() {
    let app = spawn_sso_app("").await;
    let browser = Browser::new();
    // A tab, a line feed, a backslash, a protocol-relative URL: each falls back to /accounts.
    for sneaky in [
        "/%09/evil.example/x",
        "/%0a/evil.example/x",
        "/%5Cevil.example",
        "//evil.example/x",
    ] {
        let switched = browser
            .get(&format!("{}/lang/en?return_to={sneaky}", app.base))
            .await;
        assert_eq!(switched.status(), 303, "{sneaky}: never a 500");
        assert_eq!(switched.headers()["location"], "/accounts", "{sneaky}");
        let callback = browser
            .authorize(
                &app.base,
                "alice",
                &format!("/auth/login?return_to={sneaky}"),
            )
            .await;
        let back = browser.get(&callback).await;
        assert_eq!(back.status(), 303);
        assert_eq!(back.headers()["location"], "/accounts", "{sneaky}");
    }
    let kept = browser
        .get(&format!(
            "{}/lang/ja?return_to=/audit%3Faction%3Dtotp.reveal",
            app.base
        ))
        .await;
    assert_eq!(kept.headers()["location"], "/audit?action=totp.reveal");
}

#[tokio::test]
async fn the_sign_in_error_page_shows_fixed_texts_never_the_links_own_words() {
    let app = spawn_sso_app("").await;
    let browser = Browser::new();
    let planted = "Your+account+is+locked.+Call+%2B1-555-0100+now";
    for (error, expected) in [
        ("access_denied", "declined at the identity provider"),
        ("login_required", "needs you to sign in"),
        ("temporarily_unavailable", "had a problem"),
        ("invalid_scope", "(invalid_scope)"),
        ("made_up_by_an_attacker", "(?)"),
    ] {
        let res = browser
            .get(&format!(
                "{}/auth/callback?error={error}&error_description={planted}",
                app.base
            ))
            .await;
        assert_eq!(res.status(), 400);
        let html = res.text().await.unwrap();
        assert!(html.contains(expected), "{error}: {html}");
        assert!(
            !html.contains("555-0100") && !html.contains("account is locked"),
            "{html}"
        );
        assert!(!html.contains("made_up_by_an_attacker"));
    }
}

#[tokio::test]
async fn pages_served_over_https_tell_browsers_to_stay_on_https() {
    let app = crate::support::idp::spawn_sso_app_with("", |settings, _| {
        settings.public_url = "https://keyward.example.com".into();
    })
    .await;
    let res = Browser::new().get(&format!("{}/healthz", app.base)).await;
    assert_eq!(
        res.headers()["strict-transport-security"],
        "max-age=31536000"
    );
    let plain = spawn_sso_app("").await;
    let res = Browser::new().get(&format!("{}/healthz", plain.base)).await;
    assert!(res.headers().get("strict-transport-security").is_none());
}

/// Waits, if need be, so that a burst of requests fits in one per-address minute window.
async fn early_in_a_minute() {
    let into = unix_now() % 60;
    if into > 45 {
        tokio::time::sleep(std::time::Duration::from_secs(61 - into)).await;
    }
}

/// Audit events about anonymous denials, and how many denials they stand for.
async fn anonymous_denials(app: &SsoApp) -> (usize, u64) {
    app.core.flush_anonymous_denials(true).await;
    let rows: Vec<serde_json::Value> = app
        .audit_rows()
        .await
        .into_iter()
        .filter(|r| r.action == "auth.denied" && r.actor == "anonymous")
        .map(|r| serde_json::from_str(&r.details).unwrap())
        .collect();
    let stood_for = rows
        .iter()
        .map(|d| d["repeated"].as_u64().unwrap_or(1))
        .sum();
    (rows.len(), stood_for)
}

#[tokio::test]
async fn a_flood_of_anonymous_failures_is_limited_per_address_and_written_as_a_few_events() {
    let app = spawn_sso_app("").await;
    let browser = Browser::new();
    early_in_a_minute().await;
    let before = app.audit_rows().await.len();
    // Bare callbacks, as in the review: 300 of them.
    let mut statuses = std::collections::BTreeMap::new();
    for _ in 0..300 {
        let res = browser
            .get(&format!("{}/auth/callback?state=x&code=y", app.base))
            .await;
        *statuses.entry(res.status().as_u16()).or_insert(0) += 1;
    }
    assert_eq!(statuses.get(&400), Some(&60), "{statuses:?}");
    assert_eq!(statuses.get(&429), Some(&240), "{statuses:?}");
    // Bogus bearer tokens from the same address are past the limit too.
    let res = app
        .client
        .get(format!("{}/api/v1/me", app.base))
        .bearer_auth("kw_bogus")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 429);
    assert!(res.headers().contains_key("retry-after"));
    let (events, stood_for) = anonymous_denials(&app).await;
    assert_eq!(stood_for, 301, "every denial is accounted for");
    assert!(events <= 4, "a few chained events, not 301: {events}");
    assert!(app.audit_rows().await.len() - before <= 4);
    // A valid token from the same address is still served.
    let token = app.token("viewer", "marketing").await;
    expect_json(app.get("/api/v1/me", &token).await, 200).await;
}

#[tokio::test]
async fn sign_in_starts_are_limited_per_address() {
    let app = spawn_sso_app("").await;
    let browser = Browser::new();
    let mut redirected = 0;
    let mut limited = 0;
    early_in_a_minute().await;
    for _ in 0..80 {
        match browser
            .get(&format!("{}/auth/login", app.base))
            .await
            .status()
            .as_u16()
        {
            302 => redirected += 1,
            429 => limited += 1,
            other => panic!("unexpected {other}"),
        }
    }
    assert_eq!((redirected, limited), (60, 20));
    let flows = app
        .core
        .store
        .db()
        .query_one(sea_orm::Statement::from_string(
            app.core.store.backend(),
            "SELECT COUNT(*) AS n FROM login_flow",
        ))
        .await
        .unwrap()
        .unwrap()
        .try_get::<i64>("", "n")
        .unwrap();
    assert_eq!(flows, 60, "no login flow is written past the limit");
}

#[tokio::test]
async fn a_failed_discovery_is_remembered_so_an_idp_outage_is_not_hammered() {
    // An "IdP" that accepts connections, counts them and closes them at once.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let issuer = format!("http://{}", listener.local_addr().unwrap());
    let connections = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = connections.clone();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            drop(socket);
        }
    });
    let app = crate::support::idp::spawn_sso_app_with("", move |settings, _| {
        if let Some(oidc) = settings.oidc.as_mut() {
            oidc.issuer = issuer;
        }
    })
    .await;
    // The server reads the IdP's clock once at start (then every ten minutes): that is one
    // connection before any sign-in.
    let count = || connections.load(std::sync::atomic::Ordering::SeqCst);
    for _ in 0..100 {
        if count() == 1 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(count(), 1, "the clock check at start");
    let browser = Browser::new();
    for _ in 0..5 {
        let res = browser.get(&format!("{}/auth/login", app.base)).await;
        assert_eq!(res.status(), 503);
    }
    assert_eq!(count(), 2, "one discovery attempt for five sign-ins");
}

#[tokio::test]
async fn a_bearer_header_never_lets_a_cookie_form_skip_the_origin_check() {
    let app = spawn_sso_app("").await;
    let id = seeded_account(&app).await;
    let browser = Browser::new();
    browser.sign_in(&app.base, "alice").await;
    let res = browser
        .client
        .post(format!("{}/accounts/{id}/totp/reveal", app.base))
        .header("authorization", "Bearer kw_whatever")
        .header("origin", "http://evil.example")
        .form(&[("justification", "x")])
        .send()
        .await
        .unwrap();
    expect_error(res, 403, "cross_origin_request").await;
}
