//! Device sign-in (RFC 8628) for `kw`: the real server and the real test IdP. The browser leg
//! is the ordinary SSO sign-in; the polling follows the RFC; the token is a server-side
//! session of the member with the browser sign-in's `auth_time`, ended like any session.

use crate::support::expect_json;
use crate::support::idp::{spawn_sso_app_with, Browser, SsoApp};
use serde_json::{json, Value};

const SEED: &str = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP";
const GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

async fn start(app: &SsoApp) -> Value {
    let res = app
        .client
        .post(format!("{}/auth/device/code", app.base))
        .form(&[("client_id", "keyward-cli")])
        .send()
        .await
        .unwrap();
    expect_json(res, 200).await
}

async fn poll(app: &SsoApp, device_code: &str) -> (u16, Value) {
    let res = app
        .client
        .post(format!("{}/auth/device/token", app.base))
        .form(&[
            ("grant_type", GRANT),
            ("device_code", device_code),
            ("client_id", "keyward-cli"),
        ])
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

async fn signed_in(app: &SsoApp, user: &str) -> Browser {
    let browser = Browser::new();
    browser.sign_in(&app.base, user).await;
    browser
}

/// Opens the approval page for `user_code` and answers it.
async fn decide(
    app: &SsoApp,
    browser: &Browser,
    user_code: &str,
    decision: &str,
) -> reqwest::Response {
    let page = browser
        .page(&format!("{}/device?user_code={user_code}", app.base))
        .await;
    assert!(page.contains("data-testid=\"device-pending\""), "{page}");
    browser
        .submit(
            &app.base,
            "/device",
            &page,
            &[("user_code", user_code), ("decision", decision)],
        )
        .await
}

async fn events(app: &SsoApp, action: &str) -> usize {
    app.audit_rows()
        .await
        .iter()
        .filter(|r| r.action == action)
        .count()
}

#[tokio::test]
async fn a_command_line_signs_in_through_the_browser_and_acts_as_the_member() {
    let app = spawn_sso_app_with("", |_, _| {}).await;
    let manager = app.token("manager", "marketing").await;
    let account = app.account(&manager, "marketing", "@cli").await;
    app.set_totp(&manager, &account, SEED).await;

    let started = start(&app).await;
    let user_code = started["user_code"].as_str().unwrap().to_owned();
    let device_code = started["device_code"].as_str().unwrap().to_owned();
    assert_eq!(user_code.len(), 9);
    assert_eq!(&user_code[4..5], "-");
    assert!(user_code
        .chars()
        .filter(|c| *c != '-')
        .all(|c| "BCDFGHJKLMNPQRSTVWXZ".contains(c)));
    assert_eq!(started["interval"], 5);
    assert_eq!(started["expires_in"], 600);
    assert_eq!(
        started["verification_uri"],
        format!("{}/device", app.base).as_str()
    );
    assert!(started["verification_uri_complete"]
        .as_str()
        .unwrap()
        .ends_with(&user_code));

    // Waiting, then too fast.
    let (status, body) = poll(&app, &device_code).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("authorization_pending"))
    );
    let (status, body) = poll(&app, &device_code).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("slow_down")));

    // Alice signs in as usual and approves; the form redirects, a reload repeats nothing.
    let alice = signed_in(&app, "alice").await;
    let answer = decide(&app, &alice, &user_code.to_lowercase(), "approve").await;
    assert_eq!(answer.status(), 303);
    assert_eq!(answer.headers()["location"], "/device?done=approved");
    let done = alice
        .page(&format!("{}/device?done=approved", app.base))
        .await;
    assert!(done.contains("data-testid=\"device-done\""));
    assert_eq!(events(&app, "auth.device.approve").await, 1);

    // The first poll after approval gets the token; the device code is then spent.
    let (status, token) = poll(&app, &device_code).await;
    assert_eq!(status, 200, "{token}");
    let access = token["access_token"].as_str().unwrap().to_owned();
    assert!(access.starts_with("kwcli_"));
    assert_eq!(token["token_type"], "Bearer");
    assert_eq!(token["expires_in"], 12 * 3600);
    let (status, body) = poll(&app, &device_code).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );

    // The token is Alice, with her roles and her sign-in's freshness: she reveals the code.
    let me = expect_json(app.get("/api/v1/me", &access).await, 200).await;
    assert_eq!(
        (me["kind"].as_str(), me["name"].as_str()),
        (Some("member"), Some("Alice Operator"))
    );
    let code = expect_json(
        app.post(
            &format!("/api/v1/accounts/{account}/totp/code"),
            &access,
            json!({}),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(code["code"].as_str().map(str::len), Some(6));
    let reveal = app
        .audit_rows()
        .await
        .into_iter()
        .rfind(|r| r.action == "totp.reveal")
        .unwrap();
    assert_eq!(
        reveal.actor,
        format!("member:{}", me["id"].as_str().unwrap())
    );
    assert_eq!(events(&app, "auth.device.token").await, 1);

    // The token is no browser cookie, and a cookie is no token.
    let as_cookie = reqwest::Client::new()
        .get(format!("{}/api/v1/me", app.base))
        .header("cookie", format!("kw_session={access}"))
        .send()
        .await
        .unwrap();
    assert_eq!(as_cookie.status(), 401);

    // Offboarding Alice ends the command line's session with her browser's.
    let admin = app.token("security_admin", "*").await;
    expect_json(
        app.post(
            &format!("/api/v1/members/{}/offboard", me["id"].as_str().unwrap()),
            &admin,
            json!({"reason": "left the agency"}),
        )
        .await,
        200,
    )
    .await;
    let gone = app.get("/api/v1/me", &access).await;
    assert_eq!(gone.status(), 401);
}

#[tokio::test]
async fn a_denied_an_unknown_and_a_planted_sign_in_get_no_token() {
    let app = spawn_sso_app_with("", |_, _| {}).await;
    let started = start(&app).await;
    let (user_code, device_code) = (
        started["user_code"].as_str().unwrap().to_owned(),
        started["device_code"].as_str().unwrap().to_owned(),
    );
    let mia = signed_in(&app, "mia").await;
    assert_eq!(decide(&app, &mia, &user_code, "deny").await.status(), 303);
    let (status, body) = poll(&app, &device_code).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("access_denied"))
    );
    assert_eq!(events(&app, "auth.device.deny").await, 1);

    // Protocol errors.
    let res = app
        .client
        .post(format!("{}/auth/device/code", app.base))
        .form(&[("client_id", "someone-else")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    assert_eq!(
        res.json::<Value>().await.unwrap()["error"],
        "invalid_client"
    );
    let res = app
        .client
        .post(format!("{}/auth/device/token", app.base))
        .form(&[
            ("grant_type", "password"),
            ("device_code", "x"),
            ("client_id", "keyward-cli"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.json::<Value>().await.unwrap()["error"],
        "unsupported_grant_type"
    );
    let (_, body) = poll(&app, "kwdev_nothing").await;
    assert_eq!(body["error"], "invalid_grant");

    // A grant approved in SQL (its MAC no longer verifies) gives no token.
    let planted = start(&app).await;
    let code = planted["user_code"].as_str().unwrap().replace('-', "");
    use sea_orm::ConnectionTrait;
    app.core
        .store
        .db()
        .execute_unprepared(&format!(
            "UPDATE device_grant SET state = 'approved', auth_time = created_at WHERE user_code = '{code}'"
        ))
        .await
        .unwrap();
    let (_, body) = poll(&app, planted["device_code"].as_str().unwrap()).await;
    assert_eq!(body["error"], "invalid_grant");

    // Wrong codes are counted: after ten, 429.
    for _ in 0..10 {
        let res = mia
            .get(&format!("{}/device?user_code=BBBB-BBBB", app.base))
            .await;
        assert_eq!(res.status(), 404);
    }
    let res = mia
        .get(&format!("{}/device?user_code=BBBB-BBBB", app.base))
        .await;
    assert_eq!(res.status(), 429);
    // Past the limit a right code is refused too, so guessing gains nothing; the limit is
    // audited once, not once per try.
    let real = start(&app).await;
    let real_code = real["user_code"].as_str().unwrap();
    let res = mia
        .get(&format!("{}/device?user_code={real_code}", app.base))
        .await;
    assert_eq!(res.status(), 429);
    let page = mia.page(&format!("{}/device", app.base)).await;
    let res = mia
        .submit(
            &app.base,
            "/device",
            &page,
            &[("user_code", real_code), ("decision", "deny")],
        )
        .await;
    assert_eq!(res.status(), 429);
    let (_, body) = poll(&app, real["device_code"].as_str().unwrap()).await;
    assert_eq!(
        body["error"], "authorization_pending",
        "nothing was decided"
    );
    let limited = app
        .audit_rows()
        .await
        .into_iter()
        .filter(|r| r.action == "auth.denied" && r.details.contains("too_many_codes"))
        .count();
    assert_eq!(limited, 1);
    let res = mia
        .get(&format!("{}/device?user_code=nope", app.base))
        .await;
    assert_eq!(res.status(), 422);

    // Without a session, the page sends the member to sign in and back to the code.
    let res = Browser::new()
        .get(&format!("{}/device?user_code={user_code}", app.base))
        .await;
    assert_eq!(res.status(), 303);
    assert!(res.headers()["location"]
        .to_str()
        .unwrap()
        .contains("device%3Fuser_code"));
}

#[tokio::test]
async fn a_command_line_session_made_a_browser_session_in_sql_is_refused_and_reported() {
    let app = spawn_sso_app_with("", |_, _| {}).await;
    let started = start(&app).await;
    let (user_code, device_code) = (
        started["user_code"].as_str().unwrap().to_owned(),
        started["device_code"].as_str().unwrap().to_owned(),
    );
    let alice = signed_in(&app, "alice").await;
    assert_eq!(
        decide(&app, &alice, &user_code, "approve").await.status(),
        303
    );
    let (status, token) = poll(&app, &device_code).await;
    assert_eq!(status, 200);
    let access = token["access_token"].as_str().unwrap().to_owned();
    assert_eq!(app.get("/api/v1/me", &access).await.status(), 200);

    // The session's kind is in its MAC: flipped in SQL, the row is believed by neither path.
    use sea_orm::ConnectionTrait;
    let hash = keyward::authn::session::hash(&access);
    app.core
        .store
        .db()
        .execute_unprepared(&format!(
            "UPDATE session SET client = 'browser' WHERE id_hash = '{hash}'"
        ))
        .await
        .unwrap();
    let as_cookie = reqwest::Client::new()
        .get(format!("{}/api/v1/me", app.base))
        .header("cookie", format!("kw_session={access}"))
        .send()
        .await
        .unwrap();
    assert_eq!(as_cookie.status(), 401);
    assert_eq!(app.get("/api/v1/me", &access).await.status(), 401);
    let mut reported = false;
    for _ in 0..50 {
        app.core.report_integrity_violations().await;
        reported = app
            .audit_rows()
            .await
            .iter()
            .any(|r| r.action == "integrity.violation" && r.details.contains("\"session\""));
        if reported {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(reported, "the flipped session is reported");
}

#[tokio::test]
async fn approving_a_command_line_needs_a_recent_sign_in_but_denying_does_not() {
    let app = spawn_sso_app_with("", |_, _| {}).await;
    let started = start(&app).await;
    let (user_code, device_code) = (
        started["user_code"].as_str().unwrap().to_owned(),
        started["device_code"].as_str().unwrap().to_owned(),
    );
    let alice = signed_in(&app, "alice").await;
    crate::support::sql_attested(
        &app.core,
        "UPDATE session SET auth_time = '2020-01-01 00:00:00+00:00'",
        "session",
    )
    .await;
    // The page offers a fresh sign-in in place of the Approve button…
    let page = alice
        .page(&format!("{}/device?user_code={user_code}", app.base))
        .await;
    assert!(
        page.contains("data-testid=\"device-reauth-link\""),
        "{page}"
    );
    assert!(!page.contains("data-testid=\"device-approve\""), "{page}");
    // …and a form posted anyway goes there, approving nothing.
    let res = alice
        .submit(
            &app.base,
            "/device",
            &page,
            &[("user_code", &user_code), ("decision", "approve")],
        )
        .await;
    assert_eq!(res.status(), 303);
    let to = res.headers()["location"].to_str().unwrap().to_owned();
    assert!(
        to.starts_with("/auth/reauth?return_to=%2Fdevice%3Fuser_code%3D"),
        "{to}"
    );
    let (status, body) = poll(&app, &device_code).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("authorization_pending"))
    );
    assert_eq!(events(&app, "auth.device.approve").await, 0);

    // A fresh sign-in approves; the command line gets that sign-in's time.
    let fresh = signed_in(&app, "alice").await;
    assert_eq!(
        decide(&app, &fresh, &user_code, "approve").await.status(),
        303
    );
    tokio::time::sleep(std::time::Duration::from_secs(5)).await;
    let (status, body) = poll(&app, &device_code).await;
    assert_eq!(status, 200, "{body}");

    // Denying needs no fresh sign-in: saying no is always allowed.
    let other = start(&app).await;
    let code = other["user_code"].as_str().unwrap();
    let res = alice
        .submit(
            &app.base,
            "/device",
            &alice
                .page(&format!("{}/device?user_code={code}", app.base))
                .await,
            &[("user_code", code), ("decision", "deny")],
        )
        .await;
    assert_eq!(res.status(), 303);
    assert_eq!(res.headers()["location"], "/device?done=denied");
}

/// A command line signed in as `user`: its token.
async fn command_line_of(app: &SsoApp, user: &str) -> String {
    let started = start(app).await;
    let browser = signed_in(app, user).await;
    let user_code = started["user_code"].as_str().unwrap();
    assert_eq!(
        decide(app, &browser, user_code, "approve").await.status(),
        303
    );
    let (status, token) = poll(app, started["device_code"].as_str().unwrap()).await;
    assert_eq!(status, 200, "{token}");
    token["access_token"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_security_admin_sees_a_members_command_lines_and_ends_one() {
    let app = spawn_sso_app_with("", |_, _| {}).await;
    let first = command_line_of(&app, "alice").await;
    let second = command_line_of(&app, "alice").await;
    let me = expect_json(app.get("/api/v1/me", &first).await, 200).await;
    let member = me["id"].as_str().unwrap().to_owned();
    let page_of = |browser: &Browser| {
        let url = format!("{}/members/{member}", app.base);
        let browser = browser.client.clone();
        async move { browser.get(url).send().await.unwrap().text().await.unwrap() }
    };

    // An auditor sees them, without the button.
    let olga = signed_in(&app, "olga").await;
    let seen = page_of(&olga).await;
    assert_eq!(
        seen.matches("data-testid=\"command-line\"").count(),
        2,
        "{seen}"
    );
    assert!(!seen.contains("command-line-revoke"));

    // A security admin ends one; the other goes on.
    let sam = signed_in(&app, "sam").await;
    let page = page_of(&sam).await;
    assert!(page.contains("Signed-in command lines"), "{page}");
    let handle = keyward::authn::session::hash(&first);
    assert!(
        page.contains(&handle),
        "the form names the session by its hash"
    );
    assert!(
        !page.contains(&first) && !page.contains(&second),
        "never a token"
    );
    let here = format!("/members/{member}/command-lines/revoke");
    let res = sam
        .submit(&app.base, &here, &page, &[("session", &handle)])
        .await;
    assert_eq!(res.status(), 303);
    assert_eq!(
        res.headers()["location"],
        format!("/members/{member}#command-lines").as_str()
    );
    assert_eq!(app.get("/api/v1/me", &first).await.status(), 401);
    assert_eq!(app.get("/api/v1/me", &second).await.status(), 200);
    let revoked: Vec<_> = app
        .audit_rows()
        .await
        .into_iter()
        .filter(|r| r.action == "session.revoke")
        .collect();
    assert_eq!(revoked.len(), 1);
    assert_eq!(
        revoked[0].target.as_deref(),
        Some(format!("member:{member}").as_str())
    );
    // Again, or another member's, or nonsense: 404, and nothing else ends.
    let res = sam
        .submit(&app.base, &here, &page, &[("session", &handle)])
        .await;
    assert_eq!(res.status(), 404);
    let res = sam
        .submit(&app.base, &here, &page, &[("session", "not-a-hash")])
        .await;
    assert_eq!(res.status(), 404);
    let mia = command_line_of(&app, "mia").await;
    let res = sam
        .submit(
            &app.base,
            &here,
            &page,
            &[("session", &keyward::authn::session::hash(&mia))],
        )
        .await;
    assert_eq!(res.status(), 404);
    assert_eq!(app.get("/api/v1/me", &mia).await.status(), 200);
    // The Japanese page has its own words.
    sam.get(&format!("{}/lang/ja?return_to=/members", app.base))
        .await;
    let ja = page_of(&sam).await;
    assert!(ja.contains("サインイン中のコマンドライン"), "{ja}");
}

#[tokio::test]
async fn signing_out_at_the_idp_ends_the_command_line_that_browser_approved() {
    let app = spawn_sso_app_with("", |_, _| {}).await;
    let laptop = signed_in(&app, "alice").await;
    let started = start(&app).await;
    let user_code = started["user_code"].as_str().unwrap();
    assert_eq!(
        decide(&app, &laptop, user_code, "approve").await.status(),
        303
    );
    let (status, token) = poll(&app, started["device_code"].as_str().unwrap()).await;
    assert_eq!(status, 200);
    let cli = token["access_token"].as_str().unwrap().to_owned();
    let other = command_line_of(&app, "alice").await;
    assert_eq!(app.get("/api/v1/me", &cli).await.status(), 200);

    // Back-channel logout of the laptop's IdP session ends the command line it approved…
    assert!(laptop
        .idp_logout(&app.idp.issuer)
        .await
        .status()
        .is_redirection());
    assert_eq!(app.get("/api/v1/me", &cli).await.status(), 401);
    // …and not one approved from another IdP session.
    assert_eq!(app.get("/api/v1/me", &other).await.status(), 200);
}

#[tokio::test]
async fn a_member_sees_and_ends_their_own_command_lines_and_no_one_elses() {
    let app = spawn_sso_app_with("", |_, _| {}).await;
    let mine = command_line_of(&app, "alice").await;
    let theirs = command_line_of(&app, "mia").await;
    let alice = signed_in(&app, "alice").await;
    let page = alice.page(&format!("{}/device", app.base)).await;
    assert_eq!(
        page.matches("data-testid=\"device-mine-line\"").count(),
        1,
        "{page}"
    );
    assert!(page.contains(&keyward::authn::session::hash(&mine)));
    assert!(!page.contains(&keyward::authn::session::hash(&theirs)));
    // Someone else's handle ends nothing.
    let res = alice
        .submit(
            &app.base,
            "/device/sessions/end",
            &page,
            &[("session", &keyward::authn::session::hash(&theirs))],
        )
        .await;
    assert_eq!(res.status(), 404);
    assert_eq!(app.get("/api/v1/me", &theirs).await.status(), 200);
    let res = alice
        .submit(
            &app.base,
            "/device/sessions/end",
            &page,
            &[("session", &keyward::authn::session::hash(&mine))],
        )
        .await;
    assert_eq!(res.status(), 303);
    assert_eq!(res.headers()["location"], "/device#mine");
    assert_eq!(app.get("/api/v1/me", &mine).await.status(), 401);
    let ended: Vec<_> = app
        .audit_rows()
        .await
        .into_iter()
        .filter(|r| r.action == "session.revoke")
        .collect();
    assert_eq!(ended.len(), 1);
    assert!(
        ended[0].details.contains("\"how\":\"self\""),
        "{}",
        ended[0].details
    );
    let page = alice.page(&format!("{}/device", app.base)).await;
    assert!(page.contains("data-testid=\"device-mine-empty\""));
}

#[tokio::test]
async fn device_sign_ins_long_expired_are_purged() {
    let app = spawn_sso_app_with("", |_, _| {}).await;
    let (old, fresh) = (start(&app).await, start(&app).await);
    let old_code = old["user_code"].as_str().unwrap().replace('-', "");
    crate::support::sql_attested(
        &app.core,
        &format!(
            "UPDATE device_grant SET expires_at = '2020-01-01 00:00:00+00:00' WHERE user_code = '{old_code}'"
        ),
        "device_grant",
    )
    .await;
    app.core.purge_expired().await.unwrap();
    let (_, body) = poll(&app, old["device_code"].as_str().unwrap()).await;
    assert_eq!(body["error"], "invalid_grant", "the old grant is gone");
    let (_, body) = poll(&app, fresh["device_code"].as_str().unwrap()).await;
    assert_eq!(
        body["error"], "authorization_pending",
        "the fresh one stays"
    );
}
