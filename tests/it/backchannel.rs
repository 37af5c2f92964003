//! OIDC Back-Channel Logout with the real test provider: signing out at the IdP ends that
//! IdP session's Keyward sessions (and only those); forged or malformed logout tokens are
//! refused and audited.

use crate::support::idp::{spawn_sso_app, Browser};
use serde_json::Value;

async fn me(browser: &Browser, base: &str) -> u16 {
    browser
        .get(&format!("{base}/api/v1/me"))
        .await
        .status()
        .as_u16()
}

#[tokio::test]
async fn signing_out_at_the_idp_ends_that_sessions_keyward_session_and_no_other() {
    let app = spawn_sso_app("").await;
    let (laptop, phone) = (Browser::new(), Browser::new());
    assert!(laptop
        .sign_in(&app.base, "alice")
        .await
        .status()
        .is_redirection());
    assert!(phone
        .sign_in(&app.base, "alice")
        .await
        .status()
        .is_redirection());
    assert_eq!(
        (me(&laptop, &app.base).await, me(&phone, &app.base).await),
        (200, 200)
    );

    let res = laptop.idp_logout(&app.idp.issuer).await;
    assert!(res.status().is_redirection(), "{}", res.status());
    // The provider waits for Keyward's answer before it confirms: no polling needed.
    assert_eq!(me(&laptop, &app.base).await, 401);
    assert_eq!(
        me(&phone, &app.base).await,
        200,
        "another IdP session stays"
    );

    let rows = app.audit_rows().await;
    let revoke = rows
        .iter()
        .find(|r| r.action == "session.revoke")
        .expect("the logout is audited");
    assert_eq!(revoke.actor, "idp");
    let details: Value = serde_json::from_str(&revoke.details).unwrap();
    assert_eq!(details["issuer"], app.idp.issuer.as_str());
    assert_eq!(details["sessions"], 1);
    assert_eq!(details["via"], "backchannel_logout");
    // Not a departure: she may sign in again.
    assert!(laptop
        .sign_in(&app.base, "alice")
        .await
        .status()
        .is_redirection());
    assert_eq!(me(&laptop, &app.base).await, 200);
}

#[tokio::test]
async fn a_signed_logout_token_carrying_a_nonce_is_refused_and_ends_nothing() {
    let app = spawn_sso_app("logout_nonce").await;
    let browser = Browser::new();
    assert!(browser
        .sign_in(&app.base, "alice")
        .await
        .status()
        .is_redirection());
    browser.idp_logout(&app.idp.issuer).await;
    assert_eq!(me(&browser, &app.base).await, 200);
    let rows = app.audit_rows().await;
    assert!(!rows.iter().any(|r| r.action == "session.revoke"));
    assert!(rows
        .iter()
        .any(|r| r.action == "auth.denied" && r.details.contains("backchannel_logout")));
}

#[tokio::test]
async fn malformed_logout_requests_get_the_specs_error_and_never_a_500() {
    let app = spawn_sso_app("").await;
    let url = format!("{}/auth/backchannel-logout", app.base);
    for body in [
        "",
        "logout_token=",
        "logout_token=not.a.jwt",
        "logout_token=eyJhbGciOiJub25lIn0.eyJzdWIiOiJhbGljZSJ9.",
        "other=1",
    ] {
        let res = app
            .client
            .post(&url)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 400, "{body}");
        assert_eq!(res.headers()["cache-control"], "no-store");
        let error: Value = res.json().await.unwrap();
        assert_eq!(error["error"], "invalid_request", "{body}");
    }
}
