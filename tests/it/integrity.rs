//! Row integrity: someone who can write the database but holds no key file plants or changes
//! rows that carry authority. Each attempt is refused (the row is treated as absent), recorded
//! once as `integrity.violation` (table and id, no value), counted in the metrics, and found by
//! `keyward integrity check`; `keyward integrity attest` re-signs a reviewed row.

use crate::support::{expect_error, expect_json, spawn_app, TestApp};
use sea_orm::ConnectionTrait;
use serde_json::json;

const SEED: &str = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP";
const T0: &str = "2026-01-01 00:00:00+00:00";

async fn sql(app: &TestApp, statement: &str) {
    app.core
        .store
        .db()
        .execute_unprepared(statement)
        .await
        .expect("statement runs");
}

/// Waits for the `integrity.violation` of `table`/`id` (the report is written by a job just
/// after the request that met the row); returns how many there are.
async fn violations_of(app: &TestApp, table: &str, id: &str) -> usize {
    let target = format!("{table}:{id}");
    for _ in 0..100 {
        let found: Vec<_> = app
            .audit_rows()
            .await
            .into_iter()
            .filter(|r| r.action == "integrity.violation" && r.target.as_deref() == Some(&target))
            .collect();
        if let Some(row) = found.first() {
            let details: serde_json::Value = serde_json::from_str(&row.details).unwrap();
            assert_eq!(
                details,
                json!({"table": table, "row": id}),
                "names, never values"
            );
            assert_eq!(row.actor, "system");
            return found.len();
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    0
}

/// `keyward integrity check`: (exit success, stdout).
fn check(app: &TestApp) -> (bool, String) {
    let out = app.cli().args(["integrity", "check"]).output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

fn attest(app: &TestApp, table: &str, id: &str) {
    let out = app
        .cli()
        .args([
            "integrity",
            "attest",
            "--table",
            table,
            "--id",
            id,
            "--justification",
            "reviewed in the integrity test",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
async fn a_planted_service_token_is_refused_reported_counted_and_found_by_the_check() {
    let app = spawn_app().await;
    assert_eq!(
        check(&app),
        (true, check(&app).1),
        "a clean database verifies"
    );
    assert!(check(&app).1.contains("rows that carry authority verify"));
    // The attacker chooses a token and stores its plain SHA-256 (what used to be enough), and
    // also the keyed hash's shape with a made-up MAC.
    let token = "kw_plantedtokenplantedtokenplantedtokenplanted";
    let hash = keyward::authn::tokens::hash(token);
    let id = "00000000-0000-7000-8000-0000000000aa";
    sql(&app, &format!(
        "INSERT INTO service_token (id, name, token_hash, bindings, created_at, mac) VALUES \
         ('{id}', 'planted', '{hash}', '[{{\"team\":\"*\",\"role\":\"security_admin\"}}]', '{T0}', 'kek-0001:{}')",
        "00".repeat(32)
    )).await;
    expect_error(
        app.get("/api/v1/escrows", token).await,
        401,
        "unauthenticated",
    )
    .await;
    expect_error(
        app.get("/api/v1/escrows", token).await,
        401,
        "unauthenticated",
    )
    .await;
    assert_eq!(
        violations_of(&app, "service_token", id).await,
        1,
        "reported once"
    );
    let metrics = keyward::telemetry::metrics::render(&Default::default()).unwrap();
    assert!(
        metrics.contains("keyward_integrity_violations_total{table=\"service_token\"} 1"),
        "{metrics}"
    );
    let (ok, out) = check(&app);
    assert!(!ok);
    assert!(out.contains(&format!("service_token     {id}")), "{out}");
    let doctor = app.cli().arg("doctor").output().unwrap();
    let report = String::from_utf8_lossy(&doctor.stdout).into_owned();
    assert!(
        report
            .lines()
            .any(|l| l.starts_with("FAIL") && l.contains("integrity") && l.contains(id)),
        "{report}"
    );
    // The service keeps serving everything else.
    let admin = app.token("security_admin", "*").await;
    expect_json(app.get("/api/v1/escrows", &admin).await, 200).await;
    expect_json(app.get("/readyz", &admin).await, 200).await;
}

#[tokio::test]
async fn a_planted_session_and_a_planted_role_grant_give_nothing() {
    let app = spawn_app().await;
    let member = app.member("mallory").await;
    // A session whose id the attacker knows: the cookie carries the id, the row its hash.
    let session_id = "planted-session-id";
    let hash = keyward::authn::session::hash(session_id);
    sql(&app, &format!(
        "INSERT INTO session (id_hash, member_id, created_at, last_seen_at, auth_time, expires_at) VALUES \
         ('{hash}', '{member}', '{T0}', '{T0}', '{T0}', '2099-01-01 00:00:00+00:00')"
    )).await;
    let res = app
        .client
        .get(format!("{}/api/v1/me", app.base))
        .header("cookie", format!("kw_session={session_id}"))
        .send()
        .await
        .unwrap();
    expect_error(res, 401, "unauthenticated").await;
    assert_eq!(violations_of(&app, "session", &hash).await, 1);
    // A grant planted for a member who has a real token gives that token nothing more.
    let token = app.token_for(&member, &[("viewer", "marketing")]).await;
    let grant = "00000000-0000-7000-8000-0000000000ab";
    sql(
        &app,
        &format!(
            "INSERT INTO role_grant (id, member_id, team, role, source, created_at) VALUES \
         ('{grant}', '{member}', '*', 'security_admin', 'admin', '{T0}')"
        ),
    )
    .await;
    let me = expect_json(app.get("/api/v1/me", &token).await, 200).await;
    assert_eq!(
        me["roles"],
        json!([{"role": "viewer", "team": "marketing"}])
    );
    let admin = app.token("security_admin", "*").await;
    let members = expect_json(app.get("/api/v1/members", &admin).await, 200).await;
    let listed = members["members"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == member.as_str())
        .cloned()
        .unwrap();
    assert!(
        !listed.to_string().contains("security_admin"),
        "the planted grant is not shown as held: {listed}"
    );
    assert_eq!(violations_of(&app, "role_grant", grant).await, 1);
}

#[tokio::test]
async fn a_planted_escrow_has_nothing_sealed_to_it() {
    let app = spawn_app().await;
    let manager = app.token("manager", "marketing").await;
    let escrow = "00000000-0000-7000-8000-0000000000ac";
    sql(
        &app,
        &format!(
            "INSERT INTO escrow (id, name, teams, threshold, custodians, public_key, state, \
         waiting_period_minutes, release_ttl_minutes, created_by, created_at) VALUES \
         ('{escrow}', 'mine', '[\"*\"]', 2, 2, '{}', 'active', 0, 60, 'member:x', '{T0}')",
            "A".repeat(43) + "="
        ),
    )
    .await;
    let id = app.account(&manager, "marketing", "@sealed").await;
    app.set_totp(&manager, &id, SEED).await;
    app.set_password(&manager, &id, "correct horse").await;
    let seals: i64 = app
        .core
        .store
        .db()
        .query_one(sea_orm::Statement::from_string(
            app.core.store.db().get_database_backend(),
            format!("SELECT COUNT(*) AS n FROM escrow_seal WHERE escrow_id = '{escrow}'"),
        ))
        .await
        .unwrap()
        .unwrap()
        .try_get("", "n")
        .unwrap();
    assert_eq!(seals, 0, "no DEK is sealed to a planted escrow");
    assert_eq!(violations_of(&app, "escrow", escrow).await, 1);
    let admin = app.token("security_admin", "*").await;
    expect_error(
        app.get(&format!("/api/v1/escrows/{escrow}"), &admin).await,
        404,
        "escrow_not_found",
    )
    .await;
}

#[tokio::test]
async fn an_account_moved_in_the_database_is_in_no_team_until_attested() {
    let app = spawn_app().await;
    let marketing = app.token("manager", "marketing").await;
    let sales = app.token("manager", "sales").await;
    let id = app.account(&marketing, "marketing", "@moved").await;
    app.set_totp(&marketing, &id, SEED).await;
    // sales exists as a team once it has an account.
    app.account(&sales, "sales", "@sales").await;
    sql(
        &app,
        &format!(
        "UPDATE account SET team_id = (SELECT id FROM team WHERE slug = 'sales') WHERE id = '{id}'"
    ),
    )
    .await;
    for token in [&marketing, &sales] {
        expect_error(
            app.post(
                &format!("/api/v1/accounts/{id}/totp/code"),
                token,
                json!({}),
            )
            .await,
            404,
            "account_not_found",
        )
        .await;
    }
    let listed = expect_json(app.get("/api/v1/accounts", &sales).await, 200).await;
    assert!(!listed.to_string().contains("@moved"));
    assert_eq!(violations_of(&app, "account", &id).await, 1);
    // The check shows what the row says now, for the review (never its MAC).
    let (_, listed) = check(&app);
    let shown = listed
        .lines()
        .skip_while(|l| !l.contains(&id))
        .nth(1)
        .unwrap_or_default()
        .trim()
        .to_owned();
    let shown: serde_json::Value = serde_json::from_str(&shown).unwrap();
    assert_eq!(shown["handle"], "@moved");
    assert!(shown.get("mac").is_none());
    // A security admin reviews the move and re-signs the row: it is in sales now.
    attest(&app, "account", &id);
    expect_json(
        app.post(
            &format!("/api/v1/accounts/{id}/totp/code"),
            &sales,
            json!({}),
        )
        .await,
        200,
    )
    .await;
    expect_error(
        app.post(
            &format!("/api/v1/accounts/{id}/totp/code"),
            &marketing,
            json!({}),
        )
        .await,
        403,
        "forbidden",
    )
    .await;
    let attested = app
        .audit_rows()
        .await
        .into_iter()
        .find(|r| r.action == "integrity.attest")
        .expect("integrity.attest is recorded");
    assert_eq!(
        attested.target.as_deref(),
        Some(format!("account:{id}").as_str())
    );
    assert!(check(&app).0, "after the attest every row verifies");
}

#[tokio::test]
async fn a_valid_row_copied_to_another_id_does_not_verify() {
    let app = spawn_app().await;
    let manager = app.token("manager", "marketing").await;
    let id = app.account(&manager, "marketing", "@original").await;
    let copy = "00000000-0000-7000-8000-0000000000ad";
    sql(&app, &format!(
        "INSERT INTO account (id, team_id, platform, handle, handle_key, login_url, notes, status, created_at, updated_at, mac) \
         SELECT '{copy}', team_id, platform, handle, 'copy', login_url, notes, status, created_at, updated_at, mac \
         FROM account WHERE id = '{id}'"
    )).await;
    expect_error(
        app.get(&format!("/api/v1/accounts/{copy}"), &manager).await,
        404,
        "account_not_found",
    )
    .await;
    expect_json(
        app.get(&format!("/api/v1/accounts/{id}"), &manager).await,
        200,
    )
    .await;
    assert_eq!(violations_of(&app, "account", copy).await, 1);
}

#[tokio::test]
async fn a_flipped_member_status_changes_nothing() {
    let app = spawn_app().await;
    let admin = app.token("security_admin", "*").await;
    let member = app.member("leaver").await;
    let token = app.token_for(&member, &[("operator", "marketing")]).await;
    expect_json(
        app.post(
            &format!("/api/v1/members/{member}/offboard"),
            &admin,
            json!({"reason": "left the company", "policy": "strict"}),
        )
        .await,
        200,
    )
    .await;
    sql(
        &app,
        &format!("UPDATE member SET status = 'active' WHERE id = '{member}'"),
    )
    .await;
    sql(&app, "UPDATE service_token SET revoked_at = NULL").await;
    expect_error(app.get("/api/v1/me", &token).await, 401, "unauthenticated").await;
    let members = expect_json(app.get("/api/v1/members", &admin).await, 200).await;
    assert!(
        !members.to_string().contains(&member),
        "a member row that does not verify is not listed as active"
    );
    assert_eq!(violations_of(&app, "member", &member).await, 1);
    let (ok, out) = check(&app);
    assert!(!ok && out.contains(&member), "{out}");
}

#[tokio::test]
async fn a_swapped_requester_key_collects_no_share() {
    let app = spawn_app().await;
    let admin = app.token("security_admin", "*").await;
    let manager = app.token("manager", "marketing").await;
    app.account(&manager, "marketing", "@escrowed").await;
    let escrow = app.escrow(&admin, "swap", "marketing").await;
    let release = app.release(&manager, &escrow, "swap test").await;
    let attacker_key = "B".repeat(43) + "=";
    sql(
        &app,
        &format!(
            "UPDATE release_request SET requester_key = '{attacker_key}' WHERE id = '{release}'"
        ),
    )
    .await;
    expect_error(
        app.request(
            reqwest::Method::POST,
            &format!("/api/v1/releases/{release}/shares"),
            None,
            Some(json!({"share": format!("kwshare1-{escrow}-1-AAAA-0000")})),
        )
        .await,
        404,
        "release_not_found",
    )
    .await;
    assert_eq!(violations_of(&app, "release_request", &release).await, 1);
}

#[tokio::test]
async fn a_rotation_task_marked_done_in_the_database_is_not_believed() {
    let app = spawn_app().await;
    let admin = app.token("security_admin", "*").await;
    let manager = app.token("manager", "marketing").await;
    let id = app.account(&manager, "marketing", "@rotate").await;
    app.set_totp(&manager, &id, SEED).await;
    let task = expect_json(
        app.post(
            "/api/v1/rotation-tasks",
            &manager,
            json!({"account": id, "kind": "totp"}),
        )
        .await,
        201,
    )
    .await;
    let task = task["id"].as_str().unwrap().to_owned();
    sql(
        &app,
        &format!("UPDATE rotation_task SET state = 'done' WHERE id = '{task}'"),
    )
    .await;
    let listed = expect_json(
        app.get("/api/v1/rotation-tasks?state=done", &admin).await,
        200,
    )
    .await;
    assert!(!listed.to_string().contains(&task));
    assert_eq!(violations_of(&app, "rotation_task", &task).await, 1);
}

#[tokio::test]
async fn a_planted_notification_is_never_signed_and_sent_and_the_violation_is_told_to_the_webhooks()
{
    let hook = crate::rotation::receiver(0).await;
    let app = crate::rotation::app_notifying(&hook.url).await;
    let hook_id = {
        use sha2::Digest;
        hex::encode(&sha2::Sha256::digest(hook.url.as_bytes())[..16])
    };
    let id = "00000000-0000-7000-8000-0000000000ae";
    sql(&app, &format!(
        "INSERT INTO notification (id, task_id, hook, body, attempts, next_attempt_at, created_at) VALUES \
         ('{id}', '{id}', '{hook_id}', '{{\"event\":\"rotation.overdue\",\"planted\":true}}', 0, '{T0}', '{T0}')"
    )).await;
    // The outbox job (every second) meets the planted row.
    assert_eq!(violations_of(&app, "notification", id).await, 1);
    // The violation itself reaches the webhook (through the outbox); the planted body never.
    for _ in 0..100 {
        if !hook.seen.lock().unwrap().is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    // Delivered once (the next rounds find nothing more to send).
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let bodies: Vec<String> = hook
        .seen
        .lock()
        .unwrap()
        .iter()
        .map(|(_, body)| String::from_utf8_lossy(body).into_owned())
        .collect();
    assert_eq!(bodies.len(), 1, "{bodies:?}");
    let told: serde_json::Value = serde_json::from_str(&bodies[0]).unwrap();
    assert_eq!(told["event"], "integrity.violation");
    assert_eq!(told["table"], "notification");
    assert_eq!(told["row"], id);
    assert!(!bodies[0].contains("planted"));
}

#[tokio::test]
async fn migrating_with_the_key_file_macs_the_rows_that_exist_and_without_it_leaves_them_to_attest()
{
    use migration::MigratorTrait;
    for with_key in [true, false] {
        let dir = tempfile::tempdir().unwrap();
        let settings = crate::support::test_settings(dir.path()).await;
        let db = sea_orm::Database::connect(&settings.database.url)
            .await
            .unwrap();
        // The schema before row MACs, with a team, an account and a service token in it.
        migration::Migrator::up(&db, Some(12)).await.unwrap();
        let token = "kw_tokenfromtheolddaystokenfromtheolddays";
        let hash = keyward::authn::tokens::hash(token);
        for statement in [
            format!("INSERT INTO team (id, slug, name, created_at) VALUES ('00000000-0000-7000-8000-000000000001', 'marketing', 'marketing', '{T0}')"),
            format!("INSERT INTO account (id, team_id, platform, handle, handle_key, login_url, notes, status, created_at, updated_at) VALUES \
             ('00000000-0000-7000-8000-00000000000a', '00000000-0000-7000-8000-000000000001', 'x', '@old', '@old', NULL, '', 'active', '{T0}', '{T0}')"),
            format!("INSERT INTO service_token (id, name, token_hash, bindings, created_at) VALUES \
             ('00000000-0000-7000-8000-00000000000b', 'old', '{hash}', '[{{\"team\":\"marketing\",\"role\":\"viewer\"}}]', '{T0}')"),
        ] {
            db.execute_unprepared(&statement).await.unwrap();
        }
        let mut migrate = crate::support::cli_for(&settings);
        if !with_key {
            migrate.env_remove("KEYWARD_KEY_FILE");
        }
        let out = migrate.arg("migrate").output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let check = crate::support::cli_for(&settings)
            .args(["integrity", "check"])
            .output()
            .unwrap();
        let listed = String::from_utf8_lossy(&check.stdout).into_owned();
        if with_key {
            assert!(String::from_utf8_lossy(&out.stdout).contains("MAC'ed the 3 rows"));
            assert!(check.status.success(), "{listed}");
            // The old token (a plain hash) still works, its row now MAC'ed.
            let app = crate::support::spawn_with(dir, settings).await;
            let me = expect_json(app.get("/api/v1/me", token).await, 200).await;
            assert_eq!(
                me["roles"],
                json!([{"role": "viewer", "team": "marketing"}])
            );
        } else {
            assert!(String::from_utf8_lossy(&out.stderr).contains("keyward integrity attest"));
            assert!(!check.status.success());
            assert_eq!(
                listed.lines().filter(|l| l.starts_with("bad  ")).count(),
                3,
                "{listed}"
            );
        }
    }
}

#[tokio::test]
async fn removing_the_mac_columns_and_the_migrations_record_gets_no_planted_row_signed() {
    let app = spawn_app().await;
    let member = app.member("victim").await;
    // The attacker drops every MAC column and the record of the migration that added them,
    // then plants a grant: the next migrate must not sign it.
    for table in [
        "service_token",
        "session",
        "member",
        "role_grant",
        "team",
        "account",
        "escrow",
        "escrow_custodian",
        "escrow_seal",
        "release_request",
        "rotation_task",
        "notification",
    ] {
        sql(&app, &format!("ALTER TABLE {table} DROP COLUMN mac")).await;
    }
    sql(
        &app,
        "DELETE FROM seaql_migrations WHERE version = 'm20261207_000013_row_integrity'",
    )
    .await;
    let grant = "00000000-0000-7000-8000-0000000000af";
    sql(
        &app,
        &format!(
            "INSERT INTO role_grant (id, member_id, team, role, source, created_at) VALUES \
         ('{grant}', '{member}', '*', 'security_admin', 'admin', '{T0}')"
        ),
    )
    .await;
    let out = app.cli().arg("migrate").output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("NOT signed"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (ok, listed) = check(&app);
    assert!(!ok);
    assert!(listed.contains(grant), "{listed}");
}
