//! Departures the IdP implies: a member whose IdP groups no longer give them any role is seen
//! at their next sign-in (the real test IdP changes their groups), and is offboarded or put
//! up for review as configured; a security admin decides reviews; idle members get one too.

use crate::support::idp::{spawn_sso_app, spawn_sso_app_with, Browser, SsoApp};
use crate::support::{expect_error, expect_json};
use serde_json::{json, Value};

/// Alice (an operator through `sns-marketing`) signs in and checks out a backup code, so
/// her departure has something to rotate. Returns her browser, her member id and the account.
async fn alice_with_a_code(app: &SsoApp) -> (Browser, String, String) {
    let manager = app.token("manager", "marketing").await;
    let account = app.account(&manager, "marketing", "@brand").await;
    let codes: Vec<String> = (1..=5).map(|i| format!("5555-{i:04}")).collect();
    expect_json(
        app.post(
            &format!("/api/v1/accounts/{account}/backup-codes"),
            &manager,
            json!({"codes": codes, "issued_on": "2026-12-01"}),
        )
        .await,
        201,
    )
    .await;
    let browser = Browser::new();
    assert!(browser
        .sign_in(&app.base, "alice")
        .await
        .status()
        .is_redirection());
    let me = expect_json(browser.get(&format!("{}/api/v1/me", app.base)).await, 200).await;
    assert_eq!(
        me["roles"],
        json!([{"team": "marketing", "role": "operator"}])
    );
    let out = browser
        .post_json(
            &format!(
                "{}/api/v1/accounts/{account}/backup-codes/checkout",
                app.base
            ),
            Some(&app.base),
            json!({"justification": "signing in for the campaign"}),
        )
        .await;
    assert_eq!(out.status(), 200);
    (browser, me["id"].as_str().unwrap().to_owned(), account)
}

async fn member_of(app: &SsoApp, admin: &str, id: &str) -> Value {
    let list = expect_json(app.get("/api/v1/members", admin).await, 200).await;
    list["members"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == id)
        .cloned()
        .unwrap()
}

fn denied_for_groups_lost(rows: &[keyward::store::audit::AuditRow]) -> bool {
    rows.iter()
        .any(|r| r.action == "auth.denied" && r.details.contains("groups_lost"))
}

#[tokio::test]
async fn losing_every_group_at_the_idp_offboards_at_the_next_sign_in() {
    let app = spawn_sso_app("").await;
    let admin = app.token("security_admin", "*").await;
    let (browser, alice, account) = alice_with_a_code(&app).await;

    // The IdP administrator removes alice from every group.
    app.idp.set_groups("alice", &[]);
    let again = Browser::new();
    let res = again.sign_in(&app.base, "alice").await;
    assert!(
        res.headers().get("set-cookie").is_none() || !res.status().is_redirection(),
        "no session for a member whose groups were lost"
    );
    // Her earlier session has ended too.
    assert_eq!(
        browser
            .get(&format!("{}/api/v1/me", app.base))
            .await
            .status(),
        401
    );
    let member = member_of(&app, &admin, &alice).await;
    assert_eq!(member["status"], "departed");
    assert_eq!(member["roles"], json!([]));
    // The code she checked out is rotated, as for any departure.
    let tasks = expect_json(
        app.get("/api/v1/rotation-tasks?state=open&reason=departure", &admin)
            .await,
        200,
    )
    .await;
    assert!(
        tasks["tasks"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["account"] == account.as_str() && t["kind"] == "backup_codes"),
        "{tasks}"
    );
    let rows = app.audit_rows().await;
    assert!(rows
        .iter()
        .any(|r| r.action == "member.groups_lost" && r.details.contains("\"offboard\"")));
    assert!(rows.iter().any(|r| r.action == "member.offboard"));
    assert!(denied_for_groups_lost(&rows));

    // Groups given back do not undo a departure.
    app.idp.set_groups("alice", &["sns-marketing"]);
    let later = Browser::new();
    later.sign_in(&app.base, "alice").await;
    assert_eq!(
        later.get(&format!("{}/api/v1/me", app.base)).await.status(),
        401
    );
}

#[tokio::test]
async fn with_review_configured_groups_lost_end_access_and_wait_for_a_security_admin() {
    let app = spawn_sso_app_with("", |s, _| {
        s.offboarding.on_groups_lost = "review".to_owned();
    })
    .await;
    let admin = app.token("security_admin", "*").await;
    let manager = app.token("manager", "marketing").await;
    let (browser, alice, account) = alice_with_a_code(&app).await;

    app.idp.set_groups("alice", &["unrelated-group"]);
    Browser::new().sign_in(&app.base, "alice").await;
    assert_eq!(
        browser
            .get(&format!("{}/api/v1/me", app.base))
            .await
            .status(),
        401,
        "the session ends at once"
    );
    // Signing in again is refused while the review is open, whatever the groups say.
    app.idp.set_groups("alice", &["sns-marketing"]);
    let again = Browser::new();
    again.sign_in(&app.base, "alice").await;
    assert_eq!(
        again.get(&format!("{}/api/v1/me", app.base)).await.status(),
        401
    );
    assert!(app
        .audit_rows()
        .await
        .iter()
        .any(|r| r.action == "auth.denied" && r.details.contains("under_review")));
    let member = member_of(&app, &admin, &alice).await;
    assert_eq!(member["status"], "active");
    assert_eq!(member["roles"], json!([]));
    assert_eq!(member["review"]["reason"], "groups_lost");
    assert!(denied_for_groups_lost(&app.audit_rows().await));

    // Only a security admin decides, with a reason; bad decisions are clear 4xx errors.
    let review = format!("/api/v1/members/{alice}/review");
    expect_error(
        app.post(
            &review,
            &manager,
            json!({"decision": "keep", "reason": "still here"}),
        )
        .await,
        403,
        "forbidden",
    )
    .await;
    expect_error(
        app.post(
            &review,
            &admin,
            json!({"decision": "maybe", "reason": "hmm hmm"}),
        )
        .await,
        422,
        "invalid_decision",
    )
    .await;
    let done = expect_json(
        app.post(
            &review,
            &admin,
            json!({"decision": "offboard", "reason": "left the marketing team"}),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(done["review"], "offboarded");
    assert_eq!(done["member"]["status"], "departed");
    assert!(done["member"].get("review").is_none());
    assert!(done["rotation_tasks"]
        .as_array()
        .unwrap()
        .iter()
        .any(|t| t["account"] == account.as_str()));
    expect_error(
        app.post(
            &review,
            &admin,
            json!({"decision": "keep", "reason": "again?"}),
        )
        .await,
        409,
        "no_open_review",
    )
    .await;
}

#[tokio::test]
async fn a_kept_member_signs_in_again_once_the_idp_gives_groups_back() {
    let app = spawn_sso_app_with("", |s, _| {
        s.offboarding.on_groups_lost = "review".to_owned();
    })
    .await;
    let admin = app.token("security_admin", "*").await;
    let (_, alice, _) = alice_with_a_code(&app).await;
    app.idp.set_groups("alice", &[]);
    Browser::new().sign_in(&app.base, "alice").await;
    let kept = expect_json(
        app.post(
            &format!("/api/v1/members/{alice}/review"),
            &admin,
            json!({"decision": "keep", "reason": "moved teams; groups come back tomorrow"}),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(kept["review"], "kept");
    assert_eq!(kept["member"]["status"], "active");
    assert!(kept["rotation_tasks"].as_array().unwrap().is_empty());
    app.idp.set_groups("alice", &["sns-marketing"]);
    let browser = Browser::new();
    browser.sign_in(&app.base, "alice").await;
    let me = expect_json(browser.get(&format!("{}/api/v1/me", app.base)).await, 200).await;
    assert_eq!(
        me["roles"],
        json!([{"team": "marketing", "role": "operator"}])
    );
    let rows = app.audit_rows().await;
    assert!(rows
        .iter()
        .any(|r| r.action == "member.review" && r.details.contains("\"kept\"")));
}

#[tokio::test]
async fn a_member_who_never_had_a_role_is_no_departure() {
    let app = spawn_sso_app("").await;
    let admin = app.token("security_admin", "*").await;
    let browser = Browser::new();
    browser.sign_in(&app.base, "nora").await;
    let me = expect_json(browser.get(&format!("{}/api/v1/me", app.base)).await, 200).await;
    assert_eq!(me["roles"], json!([]));
    browser.sign_in(&app.base, "nora").await;
    let me = expect_json(browser.get(&format!("{}/api/v1/me", app.base)).await, 200).await;
    let member = member_of(&app, &admin, me["id"].as_str().unwrap()).await;
    assert_eq!(member["status"], "active");
    assert!(member.get("review").is_none());
}

#[tokio::test]
async fn idle_members_get_a_review_once_and_not_again_after_being_kept() {
    let app = spawn_sso_app_with("", |s, _| {
        s.offboarding.idle_departure_days = 30;
    })
    .await;
    let admin = app.token("security_admin", "*").await;
    let browser = Browser::new();
    browser.sign_in(&app.base, "mia").await;
    let me = expect_json(browser.get(&format!("{}/api/v1/me", app.base)).await, 200).await;
    let mia = me["id"].as_str().unwrap().to_owned();
    assert_eq!(
        app.core.open_idle_reviews().await.unwrap(),
        0,
        "she just signed in"
    );
    crate::support::sql_attested(
        &app.core,
        &format!(
            "UPDATE member SET last_sign_in_at = '2026-01-01 00:00:00+00:00' WHERE id = '{mia}'"
        ),
        "member",
    )
    .await;
    // Two replicas at once open one review.
    let (a, b) = tokio::join!(app.core.open_idle_reviews(), app.core.open_idle_reviews());
    assert_eq!(a.unwrap() + b.unwrap(), 1);
    assert_eq!(
        member_of(&app, &admin, &mia).await["review"]["reason"],
        "idle"
    );
    expect_json(
        app.post(
            &format!("/api/v1/members/{mia}/review"),
            &admin,
            json!({"decision": "keep", "reason": "on parental leave"}),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(app.core.open_idle_reviews().await.unwrap(), 0);
    assert!(member_of(&app, &admin, &mia).await.get("review").is_none());
}

#[tokio::test]
async fn a_security_admin_decides_a_review_on_the_members_page_in_english_and_japanese() {
    let app = spawn_sso_app_with("", |s, _| {
        s.offboarding.on_groups_lost = "review".to_owned();
    })
    .await;
    let (_, alice, _) = alice_with_a_code(&app).await;
    app.idp.set_groups("alice", &[]);
    Browser::new().sign_in(&app.base, "alice").await;

    let sam = Browser::new();
    sam.sign_in(&app.base, "sam").await;
    let list = sam.page(&format!("{}/members", app.base)).await;
    assert!(list.contains("data-testid=\"member-review\""), "{list}");
    assert!(list.contains("needs review: IdP groups lost"));
    let page = sam.page(&format!("{}/members/{alice}", app.base)).await;
    assert!(page.contains("data-testid=\"review\""));
    // A reason is needed: the page comes back with the error, nothing decided.
    let res = sam
        .submit(
            &app.base,
            &format!("/members/{alice}/review"),
            &page,
            &[("decision", "keep"), ("reason", "")],
        )
        .await;
    assert_eq!(res.status(), 400);
    assert!(res.text().await.unwrap().contains("data-testid=\"review\""));
    let res = sam
        .submit(
            &app.base,
            &format!("/members/{alice}/review"),
            &page,
            &[("decision", "keep"), ("reason", "moved to the sales team")],
        )
        .await;
    assert_eq!(res.status(), 303, "a redirect, so a reload repeats nothing");
    assert_eq!(
        res.headers().get("location").and_then(|l| l.to_str().ok()),
        Some(format!("/members/{alice}").as_str())
    );
    let after = sam.page(&format!("{}/members/{alice}", app.base)).await;
    assert!(!after.contains("data-testid=\"review\""));

    // The Japanese dashboard names the review too.
    let bob = Browser::new();
    app.idp.set_groups("mia", &["sns-marketing-leads"]);
    bob.sign_in(&app.base, "mia").await;
    app.idp.set_groups("mia", &[]);
    Browser::new().sign_in(&app.base, "mia").await;
    let ja = sam
        .client
        .get(format!("{}/members", app.base))
        .header("accept-language", "ja")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(ja.contains("要確認：IdPのグループ喪失"), "{ja}");
}

#[tokio::test]
async fn a_review_planted_in_the_database_is_not_believed() {
    let app = spawn_sso_app("").await;
    let admin = app.token("security_admin", "*").await;
    let (_, alice, _) = alice_with_a_code(&app).await;
    // A database writer plants an open review, hoping a hurried admin offboards a colleague.
    use sea_orm::ConnectionTrait;
    app.core
        .store
        .db()
        .execute_unprepared(&format!(
            "INSERT INTO member_review (id, member_id, reason, state, opened_at, mac) \
             VALUES ('r1', '{alice}', 'groups_lost', 'open', '2026-12-01 00:00:00+00:00', 'kek-0001:00')"
        ))
        .await
        .unwrap();
    assert!(member_of(&app, &admin, &alice)
        .await
        .get("review")
        .is_none());
    expect_error(
        app.post(
            &format!("/api/v1/members/{alice}/review"),
            &admin,
            json!({"decision": "offboard", "reason": "the page said so"}),
        )
        .await,
        409,
        "no_open_review",
    )
    .await;
    assert_eq!(member_of(&app, &admin, &alice).await["status"], "active");
}

#[tokio::test]
async fn nobody_decides_their_own_review_and_an_idle_member_who_signs_in_closes_theirs() {
    let app = spawn_sso_app_with("", |s, _| {
        s.offboarding.idle_departure_days = 30;
    })
    .await;
    let admin = app.token("security_admin", "*").await;
    let sam = Browser::new();
    sam.sign_in(&app.base, "sam").await;
    let me = expect_json(sam.get(&format!("{}/api/v1/me", app.base)).await, 200).await;
    let sam_id = me["id"].as_str().unwrap().to_owned();
    crate::support::sql_attested(
        &app.core,
        &format!(
            "UPDATE member SET last_sign_in_at = '2026-01-01 00:00:00+00:00' WHERE id = '{sam_id}'"
        ),
        "member",
    )
    .await;
    assert_eq!(app.core.open_idle_reviews().await.unwrap(), 1);
    // Sam (a security admin) cannot keep himself.
    let own = sam
        .post_json(
            &format!("{}/api/v1/members/{sam_id}/review", app.base),
            Some(&app.base),
            json!({"decision": "keep", "reason": "I am still here"}),
        )
        .await;
    expect_error(own, 403, "self_review").await;
    assert!(member_of(&app, &admin, &sam_id)
        .await
        .get("review")
        .is_some());
    // His next sign-in shows he is around: the idle review closes itself.
    Browser::new().sign_in(&app.base, "sam").await;
    assert!(member_of(&app, &admin, &sam_id)
        .await
        .get("review")
        .is_none());
    assert!(app
        .audit_rows()
        .await
        .iter()
        .any(|r| r.action == "member.review" && r.details.contains("sign_in")));
}
