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

#[tokio::test]
async fn handles_are_unique_whatever_their_case_or_width_and_refuse_invisible_characters() {
    let app = spawn_app().await;
    let manager = app.token("manager", "marketing").await;
    let create = |handle: &str| {
        app.post(
            "/api/v1/accounts",
            &manager,
            json!({"team": "marketing", "platform": "x", "handle": handle}),
        )
    };
    expect_json(create("@Brand").await, 201).await;
    for twin in ["@brand", "@BRAND", "＠ｂｒａｎｄ"] {
        expect_error(create(twin).await, 409, "account_exists").await;
    }
    for sneaky in ["@br\u{200B}and", "@brand\u{202E}", "@\u{2066}brand"] {
        expect_error(create(sneaky).await, 422, "invalid_handle").await;
    }
    // Another platform, or another team, may have the same handle.
    expect_json(
        app.post(
            "/api/v1/accounts",
            &manager,
            json!({"team": "marketing", "platform": "instagram", "handle": "@brand"}),
        )
        .await,
        201,
    )
    .await;
}

#[tokio::test]
async fn the_migration_gives_existing_accounts_their_keys_and_keeps_colliding_ones_apart() {
    use migration::MigratorTrait;
    use sea_orm::ConnectionTrait;
    let dir = tempfile::tempdir().unwrap();
    let url = crate::support::fresh_database(dir.path()).await;
    let db = sea_orm::Database::connect(&url).await.unwrap();
    // The schema as it was before handle keys (migration 7), with two case twins in it.
    migration::Migrator::up(&db, Some(7)).await.unwrap();
    db.execute_unprepared(
        "INSERT INTO team (id, slug, name, created_at) VALUES \
         ('00000000-0000-7000-8000-000000000001', 'marketing', 'marketing', '2026-01-01 00:00:00+00:00')",
    )
    .await
    .unwrap();
    for (id, handle) in [
        ("00000000-0000-7000-8000-00000000000a", "@Brand"),
        ("00000000-0000-7000-8000-00000000000b", "@brand"),
    ] {
        db.execute_unprepared(&format!(
            "INSERT INTO account (id, team_id, platform, handle, login_url, notes, status, created_at, updated_at) VALUES \
             ('{id}', '00000000-0000-7000-8000-000000000001', 'x', '{handle}', NULL, '', 'active', '2026-01-01 00:00:00+00:00', '2026-01-01 00:00:00+00:00')"
        ))
        .await
        .unwrap();
    }
    migration::Migrator::up(&db, None).await.unwrap();
    let keys: Vec<Option<String>> = keyward::store::accounts::list(
        &db,
        &keyward::store::Integrity::without_keys(),
        &Default::default(),
        10,
    )
    .await
    .unwrap()
    .into_iter()
    .map(|a| a.handle_key)
    .collect();
    assert!(keys.contains(&Some("@brand".to_owned())), "{keys:?}");
    assert!(
        keys.contains(&Some(
            "@brand#00000000-0000-7000-8000-00000000000b".to_owned()
        )),
        "{keys:?}"
    );
}

#[tokio::test]
async fn accounts_list_in_pages_of_the_callers_readable_teams() {
    let app = spawn_app().await;
    let manager = app.token("manager", "*").await;
    for i in 0..5 {
        app.account(&manager, "marketing", &format!("@m{i}")).await;
    }
    for i in 0..3 {
        app.account(&manager, "sales", &format!("@s{i}")).await;
    }
    let operator = app.token("operator", "marketing").await;
    let mut seen = Vec::new();
    let mut path = "/api/v1/accounts?limit=2".to_owned();
    loop {
        let page = expect_json(app.get(&path, &operator).await, 200).await;
        let accounts = page["accounts"].as_array().unwrap();
        assert!(accounts.len() <= 2);
        seen.extend(
            accounts
                .iter()
                .map(|a| a["handle"].as_str().unwrap().to_owned()),
        );
        match page["next"].as_str() {
            Some(next) => path = format!("/api/v1/accounts?limit=2&after={next}"),
            None => break,
        }
    }
    assert_eq!(
        seen,
        ["@m0", "@m1", "@m2", "@m3", "@m4"],
        "in order, once each, own team only"
    );
    let all = expect_json(
        app.get("/api/v1/accounts", &app.token("viewer", "*").await)
            .await,
        200,
    )
    .await;
    assert_eq!(all["accounts"].as_array().unwrap().len(), 8);
    assert_eq!(all["next"], serde_json::Value::Null);
    let sales = expect_json(app.get("/api/v1/accounts?team=sales", &operator).await, 200).await;
    assert_eq!(
        sales["accounts"],
        json!([]),
        "a team you cannot read lists nothing"
    );
    expect_error(
        app.get("/api/v1/accounts?after=bm90LWEtY3Vyc29y", &operator)
            .await,
        422,
        "invalid_cursor",
    )
    .await;
}

#[tokio::test]
async fn a_handle_search_matches_parts_of_handles_literally_and_ignores_case_and_width() {
    let app = crate::support::spawn_app().await;
    let manager = app.token("manager", "marketing").await;
    for handle in ["@brand_jp", "@brandxjp", "@Other100%"] {
        app.account(&manager, "marketing", handle).await;
    }
    let find = |part: &str| {
        let filter = keyward::store::accounts::AccountFilter {
            handle_contains: keyward::domain::Handle::search_key(part),
            ..Default::default()
        };
        let db = app.core.store.db().clone();
        let ig = app.core.integrity.clone();
        async move {
            keyward::store::accounts::list(&db, &ig, &filter, 100)
                .await
                .unwrap()
                .into_iter()
                .map(|a| a.handle)
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(find("d_j").await, ["@brand_jp"], "_ is no wildcard");
    assert_eq!(find("BRAND").await.len(), 2, "case is ignored");
    assert_eq!(
        find("ｂｒａｎｄ").await.len(),
        2,
        "full-width letters match"
    );
    assert_eq!(find("100%").await, ["@Other100%"], "% is no wildcard");
    assert!(find("nothing").await.is_empty());
    assert!(keyward::domain::Handle::search_key("  \u{0} ").is_none());
}
