//! The dashboard's HTML over HTTP: security headers, language, empty states, reveal.
//! (The same flows run in real Chromium in tests/browser.)

use crate::support::expect_json;
use crate::support::idp::{csrf_of, spawn_sso_app, Browser};
use crate::support::otp::{base32, totp_window};
use serde_json::json;

const SEED: &str = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP";

#[tokio::test]
async fn pages_carry_a_strict_csp_and_no_inline_script() {
    let app = spawn_sso_app("").await;
    let res = Browser::new().get(&format!("{}/signin", app.base)).await;
    let csp = res.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        csp.contains("script-src 'self'")
            && !csp.contains("unsafe-inline")
            && csp.contains("frame-ancestors 'none'"),
        "{csp}"
    );
    let html = res.text().await.unwrap();
    assert!(html.contains("<script src=\"/static/app.js\" defer></script>"));
    assert_eq!(
        html.matches("<script").count(),
        1,
        "the only script is the external file"
    );
    assert!(!html.contains(" style=\""), "no inline style attributes");
}

#[tokio::test]
async fn the_language_follows_accept_language_and_the_switch() {
    let app = spawn_sso_app("").await;
    let browser = Browser::new();
    let ja = browser
        .client
        .get(format!("{}/signin", app.base))
        .header("accept-language", "ja-JP,ja;q=0.9")
        .send()
        .await
        .unwrap();
    let html = ja.text().await.unwrap();
    assert!(html.contains("lang=\"ja\"") && html.contains("Keyward にログイン"));
    let switched = browser
        .get(&format!("{}/lang/en?return_to=/signin", app.base))
        .await;
    assert_eq!(switched.status(), 303);
    let en = browser
        .client
        .get(format!("{}/signin", app.base))
        .header("accept-language", "ja")
        .send()
        .await
        .unwrap();
    assert!(
        en.text().await.unwrap().contains("Sign in to Keyward"),
        "the switch wins over the header"
    );
    let offsite = browser
        .get(&format!("{}/lang/ja?return_to=//evil.example", app.base))
        .await;
    assert_eq!(
        offsite.headers()["location"],
        "/accounts",
        "no open redirect"
    );
}

#[tokio::test]
async fn an_operator_sees_their_team_and_reveals_a_code_from_the_account_page() {
    let app = spawn_sso_app("").await;
    let manager = app.token("manager", "*").await;
    let id = app.account(&manager, "marketing", "@brand").await;
    app.account(&manager, "sales", "@sales-only").await;
    app.set_totp(&manager, &id, SEED).await;

    let browser = Browser::new();
    browser.sign_in(&app.base, "alice").await;
    let list = browser.page(&format!("{}/accounts", app.base)).await;
    assert!(
        list.contains("@brand") && !list.contains("@sales-only"),
        "{list}"
    );
    let page = browser.page(&format!("{}/accounts/{id}", app.base)).await;
    let csrf = csrf_of(&page);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let res = browser
        .client
        .post(format!("{}/accounts/{id}/totp/reveal", app.base))
        .header("origin", &app.base)
        .form(&[("justification", "launch post"), ("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    // The form answers with a redirect to a page that shows the code once.
    assert_eq!(res.status(), 303);
    let shown = res.headers()["location"].to_str().unwrap().to_owned();
    assert!(
        shown.starts_with(&format!("/accounts/{id}?shown=")),
        "{shown}"
    );
    let html = browser.page(&format!("{}{shown}", app.base)).await;
    let code = html
        .split("data-code=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned();
    assert!(totp_window(&base32(SEED), now, 30, 6).contains(&code));
    let reveal = app
        .audit_rows()
        .await
        .into_iter()
        .find(|r| r.action == "totp.reveal")
        .unwrap();
    assert_eq!(reveal.justification.as_deref(), Some("launch post"));
    assert!(reveal.actor.starts_with("member:"));
    // A reload shows the page without the code, and reveals nothing again.
    let reloaded = browser.page(&format!("{}{shown}", app.base)).await;
    assert!(
        !reloaded.contains("data-code=") && !reloaded.contains(&code),
        "{reloaded}"
    );
    assert!(reloaded.contains(r#"data-testid="shown-once""#));

    // A forged form (wrong CSRF token) reveals nothing.
    let forged = browser
        .client
        .post(format!("{}/accounts/{id}/totp/reveal", app.base))
        .header("origin", &app.base)
        .form(&[("justification", "x"), ("csrf", "00")])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 403);
    assert_eq!(
        app.audit_rows()
            .await
            .iter()
            .filter(|r| r.action == "totp.reveal")
            .count(),
        1
    );
}

#[tokio::test]
async fn a_viewer_sees_the_account_but_no_reveal_button() {
    let app = spawn_sso_app("").await;
    let manager = app.token("manager", "marketing").await;
    let id = app.account(&manager, "marketing", "@brand").await;
    app.set_totp(&manager, &id, SEED).await;
    let browser = Browser::new();
    browser.sign_in(&app.base, "victor").await;
    let page = browser.page(&format!("{}/accounts/{id}", app.base)).await;
    assert!(
        page.contains("data-testid=\"totp-not-allowed\"")
            && !page.contains("data-testid=\"reveal\""),
        "{page}"
    );
}

#[tokio::test]
async fn auditors_browse_filter_and_see_the_chain_status_of_the_trail() {
    use sea_orm::ConnectionTrait;
    let app = spawn_sso_app("").await;
    let manager = app.token("manager", "*").await;
    let id = app.account(&manager, "marketing", "@brand").await;
    app.account(&manager, "marketing", "@other").await;
    app.set_totp(&manager, &id, SEED).await;
    for _ in 0..2 {
        let res = app
            .totp_code(&manager, &id, json!({"justification": "weekly post"}))
            .await;
        expect_json(res, 200).await;
    }
    let browser = Browser::new();
    browser.sign_in(&app.base, "olga").await;
    let account_page = browser.page(&format!("{}/accounts/{id}", app.base)).await;
    assert!(
        account_page.contains(&format!("/audit?account={id}")),
        "a link to the account's history"
    );

    let all = browser.page(&format!("{}/audit", app.base)).await;
    assert!(all.contains(r#"data-ok="true""#), "{all}");
    assert!(
        all.contains("No SIEM destination is configured") && !all.contains("were archived"),
        "{all}"
    );
    assert!(
        all.contains("account.create") && all.contains("weekly post") && all.contains("auth.login")
    );
    // The account's history: its own events only, each linked to the one before.
    let history = browser
        .page(&format!(
            "{}/audit?account={id}&action=totp.reveal",
            app.base
        ))
        .await;
    assert_eq!(
        history.matches(r#"data-testid="event""#).count(),
        2,
        "{history}"
    );
    assert!(!history.contains("BROKEN"));
    let denied = browser
        .page(&format!("{}/audit?outcome=denied", app.base))
        .await;
    assert!(denied.contains(r#"data-testid="audit-empty""#), "{denied}");

    // An edited event shows as broken, in the list and in the chain status.
    let seq = app
        .audit_rows()
        .await
        .iter()
        .find(|r| r.action == "totp.reveal")
        .unwrap()
        .seq;
    app.core
        .store
        .db()
        .execute_unprepared(&format!(
            "UPDATE audit_event SET justification = 'nothing' WHERE seq = {seq}"
        ))
        .await
        .unwrap();
    let broken = browser
        .page(&format!("{}/audit?account={id}", app.base))
        .await;
    assert!(
        broken.contains(r#"data-ok="false""#) && broken.contains(&format!("broken at event {seq}")),
        "{broken}"
    );
    assert!(
        broken.contains(&format!(
            r#"data-testid="link-{seq}"><span class="pill bad">BROKEN"#
        )),
        "{broken}"
    );

    // Operators do not read the trail.
    let operator = Browser::new();
    operator.sign_in(&app.base, "alice").await;
    let res = operator.get(&format!("{}/audit", app.base)).await;
    assert_eq!(res.status(), 403);
}

#[tokio::test]
async fn reloading_a_check_out_result_never_takes_a_second_code() {
    let app = spawn_sso_app("").await;
    let manager = app.token("manager", "*").await;
    let id = app.account(&manager, "marketing", "@brand").await;
    expect_json(
        app.post(
            &format!("/api/v1/accounts/{id}/backup-codes"),
            &manager,
            json!({"codes": ["1111-2222", "3333-4444", "5555-6666"], "issued_on": "2025-12-16"}),
        )
        .await,
        201,
    )
    .await;
    let browser = Browser::new();
    browser.sign_in(&app.base, "alice").await;
    let page = browser.page(&format!("{}/accounts/{id}", app.base)).await;
    let res = browser
        .submit(
            &app.base,
            &format!("/accounts/{id}/backup/checkout"),
            &page,
            &[("justification", "new phone")],
        )
        .await;
    assert_eq!(res.status(), 303);
    let shown = format!(
        "{}{}",
        app.base,
        res.headers()["location"].to_str().unwrap()
    );
    let first = browser.page(&shown).await;
    assert!(first.contains("1111-2222"), "{first}");
    for _ in 0..3 {
        let again = browser.page(&shown).await;
        assert!(!again.contains("1111-2222") && again.contains(r#"data-testid="shown-once""#));
    }
    let checkouts = app
        .audit_rows()
        .await
        .iter()
        .filter(|r| r.action == "backup.checkout" && r.outcome == "success")
        .count();
    assert_eq!(checkouts, 1, "one code, however often the page is reloaded");
    let status = expect_json(
        app.get(&format!("/api/v1/accounts/{id}/backup-codes"), &manager)
            .await,
        200,
    )
    .await;
    assert_eq!(status["remaining"], 2);
    // Another browser session cannot take the result either.
    let other = Browser::new();
    other.sign_in(&app.base, "mia").await;
    let foreign = other.page(&shown).await;
    assert!(!foreign.contains("1111-2222"));
}

#[tokio::test]
async fn a_manager_reports_a_code_someone_else_holds_as_an_override_from_the_page() {
    let app = spawn_sso_app("").await;
    let manager = app.token("manager", "*").await;
    let id = app.account(&manager, "marketing", "@brand").await;
    expect_json(
        app.post(
            &format!("/api/v1/accounts/{id}/backup-codes"),
            &manager,
            json!({"codes": ["1111-2222", "3333-4444"], "issued_on": "2025-12-16"}),
        )
        .await,
        201,
    )
    .await;
    let alice = Browser::new();
    alice.sign_in(&app.base, "alice").await;
    let page = alice.page(&format!("{}/accounts/{id}", app.base)).await;
    let res = alice
        .submit(
            &app.base,
            &format!("/accounts/{id}/backup/checkout"),
            &page,
            &[("justification", "new phone")],
        )
        .await;
    assert_eq!(res.status(), 303);
    // Another operator sees nothing to report; the manager sees Alice's code, by name.
    let mia = Browser::new();
    mia.sign_in(&app.base, "mia").await;
    let page = mia.page(&format!("{}/accounts/{id}", app.base)).await;
    assert!(
        page.contains(r#"data-testid="held-by-others""#) && page.contains("Alice Operator"),
        "{page}"
    );
    let res = mia
        .client
        .post(format!("{}/accounts/{id}/backup/1/result", app.base))
        .header("origin", &app.base)
        .form(&[
            ("outcome", "worked"),
            ("override", "true"),
            ("csrf", csrf_of(&page).as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    let overrides = app
        .audit_rows()
        .await
        .iter()
        .filter(|r| r.action == "backup.result_override")
        .count();
    assert_eq!(overrides, 1);
}

#[tokio::test]
async fn the_audit_viewer_checks_its_filters_like_the_api() {
    let app = spawn_sso_app("").await;
    let browser = Browser::new();
    browser.sign_in(&app.base, "olga").await;
    for bad in [
        "actor=%00",
        "action=a%0Ab",
        &format!("account={}", "x".repeat(300)),
    ] {
        let res = browser.get(&format!("{}/audit?{bad}", app.base)).await;
        assert_eq!(res.status(), 200, "{bad}: never a storage error");
        let page = res.text().await.unwrap();
        assert!(page.contains("without control characters"), "{bad}: {page}");
        assert!(
            !page.contains(r#"data-testid="event""#),
            "{bad}: nothing is listed"
        );
    }
}

fn seqs_of(page: &str) -> Vec<i64> {
    page.split("data-testid=\"event\" data-seq=\"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next()?.parse().ok())
        .collect()
}

#[tokio::test]
async fn the_audit_viewer_lists_the_newest_first_and_pages_back_in_time() {
    let app = spawn_sso_app("").await;
    let manager = app.token("manager", "*").await;
    let id = app.account(&manager, "marketing", "@brand").await;
    app.set_totp(&manager, &id, SEED).await;
    for _ in 0..55 {
        let res = app
            .totp_code(&manager, &id, json!({"justification": "weekly post"}))
            .await;
        expect_json(res, 200).await;
    }
    let browser = Browser::new();
    browser.sign_in(&app.base, "olga").await;
    let head = app.audit_rows().await.iter().map(|r| r.seq).max().unwrap();
    let first = browser.page(&format!("{}/audit", app.base)).await;
    let seqs = seqs_of(&first);
    assert_eq!(seqs.len(), 50);
    assert_eq!(seqs[0], head, "the newest event comes first");
    assert!(seqs.windows(2).all(|w| w[0] == w[1] + 1), "{seqs:?}");
    assert!(
        !first.contains("BROKEN"),
        "links are checked whatever the order"
    );
    assert!(
        first.contains(">token test</td>") && !first.contains(">token:"),
        "a token is named, not shown by id"
    );
    let last = seqs[49];
    assert!(
        first.contains(&format!("/audit?before={last}")),
        "the next page goes back in time"
    );
    let older = browser
        .page(&format!("{}/audit?before={last}", app.base))
        .await;
    let older_seqs = seqs_of(&older);
    assert_eq!(older_seqs.first(), Some(&(last - 1)));
    assert_eq!(*older_seqs.last().unwrap(), 1, "down to the first event");

    // Oldest first on request, paged forward; the filters keep the order.
    let oldest = browser
        .page(&format!("{}/audit?order=oldest", app.base))
        .await;
    let seqs = seqs_of(&oldest);
    assert_eq!(seqs[..3], [1, 2, 3]);
    assert!(
        oldest.contains("/audit?order=oldest&#38;after=50"),
        "the next page goes forward: {oldest}"
    );
    let reveals = browser
        .page(&format!(
            "{}/audit?action=totp.reveal&order=oldest",
            app.base
        ))
        .await;
    let seqs = seqs_of(&reveals);
    assert!(seqs.windows(2).all(|w| w[0] < w[1]) && seqs.len() == 50);
    assert!(reveals.contains(r#"name="order" value="oldest""#));
}

#[tokio::test]
async fn a_short_seed_stored_from_the_account_page_gets_a_warning_and_a_long_one_none() {
    let app = spawn_sso_app("").await;
    let manager = app.token("manager", "*").await;
    let id = app.account(&manager, "marketing", "@brand").await;
    let browser = Browser::new();
    browser.sign_in(&app.base, "mia").await;
    for (seed, warned) in [
        ("JBSWY3DPEHPK3PXP", true),
        ("6QPONMYIMP6SKWAI4EGMK7HFNZBRDGXL", false),
    ] {
        let page = browser.page(&format!("{}/accounts/{id}", app.base)).await;
        let res = browser
            .submit(
                &app.base,
                &format!("/accounts/{id}/totp/set"),
                &page,
                &[("secret", seed)],
            )
            .await;
        assert_eq!(res.status(), 303);
        let shown = res.headers()["location"].to_str().unwrap().to_owned();
        let html = browser.page(&format!("{}{shown}", app.base)).await;
        assert!(html.contains("New seed stored"), "{html}");
        assert_eq!(
            html.contains("shorter than 128 bits"),
            warned,
            "{seed}: {html}"
        );
    }
}
