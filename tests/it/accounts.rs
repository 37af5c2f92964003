use crate::support::{expect_error, expect_json, spawn_app};
use reqwest::Method;
use serde_json::json;

#[tokio::test]
async fn a_manager_creates_lists_reads_updates_and_archives_an_account() {
    let app = spawn_app().await;
    let manager = app.token("manager", "marketing").await;

    let created = expect_json(
        app.post(
            "/api/v1/accounts",
            &manager,
            json!({"team": "Marketing", "platform": "Instagram", "handle": " @brand ", "login_url": "https://instagram.com/accounts/login", "notes": "main brand"}),
        )
        .await,
        201,
    )
    .await;
    let id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(created["team"], "marketing");
    assert_eq!(created["platform"], "instagram");
    assert_eq!(created["handle"], "@brand");
    assert_eq!(created["status"], "active");
    assert_eq!(created["has_totp"], false);
    assert_eq!(created["backup_codes"], serde_json::Value::Null);
    assert_eq!(created["open_rotation_tasks"], 0);
    assert!(created["created_at"].as_str().unwrap().ends_with('Z'));

    let other = app.account(&manager, "marketing", "@brand-jp").await;
    let listed = expect_json(app.get("/api/v1/accounts", &manager).await, 200).await;
    assert_eq!(listed["accounts"].as_array().unwrap().len(), 2);
    let filtered = expect_json(
        app.get("/api/v1/accounts?platform=instagram", &manager)
            .await,
        200,
    )
    .await;
    assert_eq!(filtered["accounts"].as_array().unwrap().len(), 1);
    assert_eq!(filtered["accounts"][0]["id"], id.as_str());

    let fetched = expect_json(
        app.get(&format!("/api/v1/accounts/{id}"), &manager).await,
        200,
    )
    .await;
    assert_eq!(fetched["login_url"], "https://instagram.com/accounts/login");

    let patched = expect_json(
        app.request(
            Method::PATCH,
            &format!("/api/v1/accounts/{id}"),
            Some(&manager),
            Some(json!({"notes": "moved to the JP team", "status": "frozen"})),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(patched["notes"], "moved to the JP team");
    assert_eq!(patched["status"], "frozen");

    let archived = expect_json(
        app.request(
            Method::DELETE,
            &format!("/api/v1/accounts/{other}"),
            Some(&manager),
            None,
        )
        .await,
        200,
    )
    .await;
    assert_eq!(archived["status"], "archived");
    let active = expect_json(
        app.get("/api/v1/accounts?status=archived", &manager).await,
        200,
    )
    .await;
    assert_eq!(active["accounts"].as_array().unwrap().len(), 1);
    expect_error(
        app.request(
            Method::PATCH,
            &format!("/api/v1/accounts/{other}"),
            Some(&manager),
            Some(json!({"notes": "x"})),
        )
        .await,
        423,
        "account_archived",
    )
    .await;

    let actions: Vec<String> = app
        .audit_rows()
        .await
        .into_iter()
        .map(|r| r.action)
        .collect();
    for expected in ["account.create", "account.update", "account.archive"] {
        assert!(
            actions.iter().any(|a| a == expected),
            "{expected} audited: {actions:?}"
        );
    }
}

#[tokio::test]
async fn the_same_handle_twice_in_a_team_is_a_conflict_but_another_team_may_have_it() {
    let app = spawn_app().await;
    let manager = app.token("manager", "*").await;
    app.account(&manager, "marketing", "@brand").await;
    expect_error(
        app.post(
            "/api/v1/accounts",
            &manager,
            json!({"team": "marketing", "platform": "x", "handle": "@brand"}),
        )
        .await,
        409,
        "account_exists",
    )
    .await;
    app.account(&manager, "sales", "@brand").await;
}

#[tokio::test]
async fn people_see_only_the_accounts_of_their_own_teams() {
    let app = spawn_app().await;
    let admin = app.token("manager", "*").await;
    app.account(&admin, "marketing", "@brand").await;
    let sales_account = app.account(&admin, "sales", "@brand-sales").await;
    let marketing_viewer = app.token("viewer", "marketing").await;

    let listed = expect_json(app.get("/api/v1/accounts", &marketing_viewer).await, 200).await;
    let handles: Vec<&str> = listed["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["handle"].as_str().unwrap())
        .collect();
    assert_eq!(handles, ["@brand"]);
    let none = expect_json(
        app.get("/api/v1/accounts?team=sales", &marketing_viewer)
            .await,
        200,
    )
    .await;
    assert_eq!(none["accounts"].as_array().unwrap().len(), 0);
    expect_error(
        app.get(
            &format!("/api/v1/accounts/{sales_account}"),
            &marketing_viewer,
        )
        .await,
        403,
        "forbidden",
    )
    .await;
}

#[tokio::test]
async fn invalid_account_fields_are_refused_with_their_own_codes() {
    let app = spawn_app().await;
    let manager = app.token("manager", "marketing").await;
    let cases = [
        (
            json!({"team": "marketing", "platform": "myspace", "handle": "@b"}),
            "invalid_platform",
        ),
        (
            json!({"team": "marketing", "platform": "x", "handle": "two words"}),
            "invalid_handle",
        ),
        (
            json!({"team": "Bad Team!", "platform": "x", "handle": "@b"}),
            "invalid_team",
        ),
        (
            json!({"team": "marketing", "platform": "x", "handle": "@b", "login_url": "javascript:alert(1)"}),
            "invalid_login_url",
        ),
        (
            json!({"team": "marketing", "platform": "x", "handle": "@b", "notes": "n".repeat(2001)}),
            "notes_too_long",
        ),
    ];
    for (body, code) in cases {
        expect_error(
            app.post("/api/v1/accounts", &manager, body).await,
            422,
            code,
        )
        .await;
    }
    let listed = expect_json(app.get("/api/v1/accounts", &manager).await, 200).await;
    assert_eq!(
        listed["accounts"].as_array().unwrap().len(),
        0,
        "nothing half-written"
    );
}
