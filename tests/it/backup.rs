//! Backup codes: import → check-out → outcome → verify, generations, guard rails; passwords;
//! reveal rate limits.

use crate::support::{expect_error, expect_json, spawn_app, spawn_with, test_settings, TestApp};
use reqwest::Method;
use serde_json::{json, Value};

/// Ten codes as a platform shows them: mixed case, hyphens, a space inside.
const CODES: [&str; 10] = [
    "k7p2-x9qd",
    "M4TN-8WVR",
    "3HJC-Q6ZE",
    "YU5F-2RNA",
    "8DKP-LM3T",
    "ZQ9X-4VHC",
    "W2EJ-7TGS",
    "N6RB-K5PY",
    "F3AM 9XUD",
    "T8CW-J2QV",
];

fn details(row: &keyward::store::audit::AuditRow) -> Value {
    serde_json::from_str(&row.details).unwrap()
}

async fn manager_and_account(app: &TestApp) -> (String, String) {
    let manager = app.token("manager", "marketing").await;
    let id = app.account(&manager, "marketing", "@codes").await;
    (manager, id)
}

async fn import(app: &TestApp, token: &str, id: &str, codes: &[&str], issued_on: &str) -> Value {
    expect_json(
        app.post(
            &format!("/api/v1/accounts/{id}/backup-codes"),
            token,
            json!({"codes": codes, "issued_on": issued_on}),
        )
        .await,
        201,
    )
    .await
}

async fn check_out(app: &TestApp, token: &str, id: &str) -> Value {
    expect_json(
        app.post(
            &format!("/api/v1/accounts/{id}/backup-codes/checkout"),
            token,
            json!({"justification": "signing in for the campaign"}),
        )
        .await,
        200,
    )
    .await
}

async fn report(app: &TestApp, token: &str, id: &str, position: u64, outcome: &str) -> Value {
    expect_json(
        app.post(
            &format!("/api/v1/accounts/{id}/backup-codes/{position}/result"),
            token,
            json!({"outcome": outcome}),
        )
        .await,
        200,
    )
    .await
}

async fn verify(app: &TestApp, token: &str, id: &str, code: &str) -> Value {
    expect_json(
        app.post(
            &format!("/api/v1/accounts/{id}/backup-codes/verify"),
            token,
            json!({"code": code}),
        )
        .await,
        200,
    )
    .await
}

#[tokio::test]
async fn codes_are_handed_out_in_order_once_and_verified_without_revealing_others() {
    let app = spawn_app().await;
    let (manager, id) = manager_and_account(&app).await;
    let operator = app.token("operator", "marketing").await;
    let imported = import(&app, &manager, &id, &CODES, "2025-12-16").await;
    assert_eq!(imported["generation"], 1);
    assert_eq!(imported["total"], 10);
    assert_eq!(imported["superseded"], Value::Null);

    let listed = expect_json(
        app.get(&format!("/api/v1/accounts/{id}/backup-codes"), &operator)
            .await,
        200,
    )
    .await;
    assert_eq!(listed["issued_on"], "2025-12-16");
    assert_eq!(listed["remaining"], 10);
    let positions: Vec<u64> = listed["codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["position"].as_u64().unwrap())
        .collect();
    assert_eq!(positions, (1..=10).collect::<Vec<_>>());
    assert!(
        !listed.to_string().contains("X9QD") && !listed.to_string().to_lowercase().contains("x9qd")
    );

    // Handed out in the order given, as the platform shows them.
    let first = check_out(&app, &operator, &id).await;
    assert_eq!(
        (first["position"].as_u64(), first["code"].as_str()),
        (Some(1), Some(CODES[0]))
    );
    assert_eq!(first["remaining"], 9);
    let second = check_out(&app, &operator, &id).await;
    assert_eq!(
        (second["position"].as_u64(), second["code"].as_str()),
        (Some(2), Some(CODES[1]))
    );

    let worked = report(&app, &operator, &id, 1, "worked").await;
    assert_eq!(worked["state"], "used");
    let rejected = report(&app, &operator, &id, 2, "rejected").await;
    assert_eq!(rejected["state"], "rejected");
    assert_eq!(rejected["failed_attempts"]["count"], 1);
    // A rejected code is not offered again: the next one is position 3.
    assert_eq!(check_out(&app, &operator, &id).await["position"], 3);
    // An outcome twice, or for a code never checked out: refused.
    let again = app
        .post(
            &format!("/api/v1/accounts/{id}/backup-codes/1/result"),
            &operator,
            json!({"outcome": "worked"}),
        )
        .await;
    expect_error(again, 409, "backup_code_not_checked_out").await;
    let unused = app
        .post(
            &format!("/api/v1/accounts/{id}/backup-codes/9/result"),
            &operator,
            json!({"outcome": "worked"}),
        )
        .await;
    expect_error(unused, 409, "backup_code_not_checked_out").await;

    let states = expect_json(
        app.get(&format!("/api/v1/accounts/{id}/backup-codes"), &operator)
            .await,
        200,
    )
    .await;
    let state_of = |p: usize| states["codes"][p - 1]["state"].as_str().unwrap().to_owned();
    assert_eq!(
        [state_of(1), state_of(2), state_of(3), state_of(4)],
        ["used", "rejected", "checked_out", "unused"]
    );
    assert_eq!(states["remaining"], 7);
    assert!(states["codes"][0]["by"]
        .as_str()
        .is_some_and(|b| b.starts_with("token:")));

    // Verify: each state, with hints about how the typed text differs from the code.
    let used = verify(&app, &operator, &id, "K7P2X9QD").await;
    assert_eq!(
        (
            used["status"].as_str(),
            used["generation"].as_i64(),
            used["position"].as_i64()
        ),
        (Some("used"), Some(1), Some(1))
    );
    assert_eq!(used["hints"], json!(["hyphen"]));
    assert_eq!(
        verify(&app, &operator, &id, "m4tn-8wvr").await["status"],
        "rejected"
    );
    assert_eq!(
        verify(&app, &operator, &id, "3HJC-Q6ZE").await["status"],
        "checked_out"
    );
    let typed = verify(&app, &operator, &id, " yu5f 2rna ").await;
    assert_eq!(
        (
            typed["status"].as_str(),
            typed["position"].as_i64(),
            typed["exact"].as_bool()
        ),
        (Some("unused"), Some(4), Some(true))
    );
    assert_eq!(typed["hints"], json!(["whitespace", "hyphen", "lowercase"]));
    // O typed for 0? Here: 8DKP-LM3T typed with B for 8 and 1 for L.
    let look_alike = verify(&app, &operator, &id, "BDKP-1M3T").await;
    assert_eq!(
        (
            look_alike["status"].as_str(),
            look_alike["position"].as_i64(),
            look_alike["exact"].as_bool()
        ),
        (Some("unused"), Some(5), Some(false))
    );
    assert_eq!(look_alike["hints"], json!(["ambiguous_characters"]));
    let unknown = verify(&app, &operator, &id, "AAAA-AAAA").await;
    assert_eq!(
        (
            unknown["status"].as_str(),
            unknown["generation"].clone(),
            unknown["position"].clone()
        ),
        (Some("unknown"), Value::Null, Value::Null)
    );
    assert_eq!(unknown["hints"], json!(["hyphen"]));

    // Every step is audited with its actor and justification, and no code is in the trail.
    let rows = app.audit_rows().await;
    let count = |action: &str| {
        rows.iter()
            .filter(|r| r.action == action && r.outcome == "success")
            .count()
    };
    assert_eq!(
        (
            count("backup.import"),
            count("backup.checkout"),
            count("backup.result"),
            count("backup.verify")
        ),
        (1, 3, 2, 6)
    );
    let checkout = rows.iter().find(|r| r.action == "backup.checkout").unwrap();
    assert_eq!(
        checkout.justification.as_deref(),
        Some("signing in for the campaign")
    );
    let trail = serde_json::to_string(
        &rows
            .iter()
            .map(|r| (&r.details, &r.target, &r.justification))
            .collect::<Vec<_>>(),
    )
    .unwrap()
    .to_uppercase();
    for code in CODES {
        let canonical: String = code
            .chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .collect::<String>()
            .to_uppercase();
        assert!(
            !trail.contains(&canonical) && !trail.contains(&code.to_uppercase()),
            "a code is in the audit trail"
        );
    }
    let account = expect_json(
        app.get(&format!("/api/v1/accounts/{id}"), &operator).await,
        200,
    )
    .await;
    assert_eq!(
        account["backup_codes"],
        json!({"generation": 1, "issued_on": "2025-12-16", "total": 10, "remaining": 7})
    );
}

#[tokio::test]
async fn a_new_generation_supersedes_the_old_one_at_once() {
    let app = spawn_app().await;
    let (manager, id) = manager_and_account(&app).await;
    import(&app, &manager, &id, &CODES[..5], "2025-01-10").await;
    let old = check_out(&app, &manager, &id).await;
    assert_eq!(
        (old["generation"].as_i64(), old["position"].as_i64()),
        (Some(1), Some(1))
    );

    let fresh = ["11112222", "33334444", "55556666", "77778888", "99990000"];
    let second = import(&app, &manager, &id, &fresh, "2025-06-01").await;
    assert_eq!(
        (second["generation"].as_i64(), second["superseded"].as_i64()),
        (Some(2), Some(1))
    );
    let next = check_out(&app, &manager, &id).await;
    assert_eq!(
        (
            next["generation"].as_i64(),
            next["position"].as_i64(),
            next["code"].as_str()
        ),
        (Some(2), Some(1), Some("11112222"))
    );
    // The old generation's unused codes are superseded, not unused.
    let stale = verify(&app, &manager, &id, CODES[3]).await;
    assert_eq!(
        (
            stale["status"].as_str(),
            stale["generation"].as_i64(),
            stale["position"].as_i64()
        ),
        (Some("superseded"), Some(1), Some(4))
    );
    // A code checked out before the switch still takes its outcome, naming its generation.
    let late = app
        .post(
            &format!("/api/v1/accounts/{id}/backup-codes/1/result"),
            &manager,
            json!({"outcome": "worked", "generation": 1}),
        )
        .await;
    assert_eq!(expect_json(late, 200).await["generation"], 1);
    let status = expect_json(
        app.get(&format!("/api/v1/accounts/{id}/backup-codes"), &manager)
            .await,
        200,
    )
    .await;
    assert_eq!(
        (status["generation"].as_i64(), status["remaining"].as_i64()),
        (Some(2), Some(4))
    );
}

#[tokio::test]
async fn bad_imports_and_reports_are_refused_clearly_and_store_nothing() {
    let app = spawn_app().await;
    let (manager, id) = manager_and_account(&app).await;
    let path = format!("/api/v1/accounts/{id}/backup-codes");
    let dup = app
        .post(
            &path,
            &manager,
            json!({"codes": ["abcd-efgh", "1234-5678", "ABCDEFGH"], "issued_on": "2025-12-16"}),
        )
        .await;
    let body = expect_error(dup, 422, "duplicate_backup_code").await;
    assert!(
        body.to_string().contains("1 and 3") && !body.to_string().to_uppercase().contains("ABCD")
    );
    let date = "2025-12-16";
    // (path suffix, body, status, error code); the first ones come before any import.
    let before_import = [
        (
            "",
            json!({"codes": ["abcd_efgh"], "issued_on": date}),
            422,
            "invalid_backup_code",
        ),
        (
            "",
            json!({"codes": ["abcdefgh"], "issued_on": "16/12/2025"}),
            422,
            "invalid_issued_on",
        ),
        (
            "",
            json!({"codes": ["abcdefgh"], "issued_on": "2099-01-01"}),
            422,
            "invalid_issued_on",
        ),
        ("", json!({"issued_on": date}), 400, "missing_field"),
        (
            "",
            json!({"codes": "abcdefgh", "issued_on": date}),
            400,
            "invalid_json",
        ),
        (
            "/checkout",
            json!({"justification": "need one"}),
            404,
            "backup_codes_not_set",
        ),
    ];
    let after_import = [
        ("/checkout", json!({}), 400, "justification_required"),
        (
            "/1/result",
            json!({"outcome": "maybe"}),
            422,
            "invalid_outcome",
        ),
        (
            "/zero/result",
            json!({"outcome": "worked"}),
            422,
            "invalid_position",
        ),
        (
            "/11/result",
            json!({"outcome": "worked"}),
            404,
            "backup_code_not_found",
        ),
        ("/verify", json!({"code": " - "}), 422, "code_required"),
    ];
    for (suffix, body, status, code) in before_import {
        let res = app.post(&format!("{path}{suffix}"), &manager, body).await;
        expect_error(res, status, code).await;
    }
    // Nothing was stored.
    expect_error(app.get(&path, &manager).await, 404, "backup_codes_not_set").await;

    import(&app, &manager, &id, &CODES[..2], date).await;
    for (suffix, body, status, code) in after_import {
        let res = app.post(&format!("{path}{suffix}"), &manager, body).await;
        expect_error(res, status, code).await;
    }
    check_out(&app, &manager, &id).await;
    check_out(&app, &manager, &id).await;
    let gone = app
        .post(
            &format!("{path}/checkout"),
            &manager,
            json!({"justification": "need one"}),
        )
        .await;
    expect_error(gone, 409, "no_backup_codes_left").await;
}

#[tokio::test]
async fn a_pasted_block_imports_in_list_order() {
    let app = spawn_app().await;
    let (manager, id) = manager_and_account(&app).await;
    let block = "1. 1111 2222    4. 4444 5555\n2. 2222 3333    5. 5555 6666\n3. 3333 4444\n";
    let res = app
        .post(
            &format!("/api/v1/accounts/{id}/backup-codes"),
            &manager,
            json!({"block": block, "issued_on": "2025-12-16"}),
        )
        .await;
    assert_eq!(expect_json(res, 201).await["total"], 5);
    for (position, code) in ["1111 2222", "2222 3333", "3333 4444"].iter().enumerate() {
        let out = check_out(&app, &manager, &id).await;
        assert_eq!(
            (out["position"].as_u64(), out["code"].as_str()),
            (Some(position as u64 + 1), Some(*code))
        );
    }
}

#[tokio::test]
async fn running_low_warns_and_opens_one_task_that_the_next_generation_completes() {
    let app = spawn_app().await;
    let (manager, id) = manager_and_account(&app).await;
    import(&app, &manager, &id, &CODES[..5], "2025-12-16").await;
    let account = format!("/api/v1/accounts/{id}");
    assert_eq!(check_out(&app, &manager, &id).await["warnings"], json!([]));
    let low = check_out(&app, &manager, &id).await;
    assert_eq!(
        (low["remaining"].as_i64(), low["warnings"].clone()),
        (Some(3), json!(["low_backup_codes"]))
    );
    check_out(&app, &manager, &id).await;
    let view = expect_json(app.get(&account, &manager).await, 200).await;
    assert_eq!(
        (
            view["open_rotation_tasks"].as_i64(),
            view["warnings"].clone()
        ),
        (Some(1), json!(["low_backup_codes"]))
    );
    let rows = app.audit_rows().await;
    let opened: Vec<bool> = rows
        .iter()
        .filter(|r| r.action == "backup.checkout")
        .map(|r| details(r)["low_codes_task_opened"].as_bool().unwrap())
        .collect();
    assert_eq!(
        opened,
        [false, true, false],
        "one task, opened when the threshold was reached"
    );

    import(&app, &manager, &id, &CODES[5..], "2026-01-05").await;
    let view = expect_json(app.get(&account, &manager).await, 200).await;
    assert_eq!(
        (
            view["open_rotation_tasks"].as_i64(),
            view["warnings"].clone()
        ),
        (Some(0), json!([]))
    );
}

#[tokio::test]
async fn rejected_codes_warn_before_the_platform_locks_out_and_then_check_outs_wait() {
    let app = spawn_app().await;
    let (manager, id) = manager_and_account(&app).await;
    import(&app, &manager, &id, &CODES, "2025-12-16").await;
    for n in 1..=3u64 {
        check_out(&app, &manager, &id).await;
        let out = report(&app, &manager, &id, n, "rejected").await;
        assert_eq!(
            out["failed_attempts"],
            json!({"count": n, "budget": 5, "window_minutes": 15})
        );
        assert_eq!(out["warnings"], json!([]));
    }
    check_out(&app, &manager, &id).await;
    let fourth = report(&app, &manager, &id, 4, "rejected").await;
    assert_eq!(
        fourth["warnings"],
        json!(["failed_attempts"]),
        "the next rejection would be the fifth"
    );
    let risky = check_out(&app, &manager, &id).await;
    assert_eq!(risky["warnings"], json!(["failed_attempts"]));
    let view = expect_json(
        app.get(&format!("/api/v1/accounts/{id}"), &manager).await,
        200,
    )
    .await;
    assert_eq!(view["warnings"], json!(["failed_attempts"]));
    report(&app, &manager, &id, 5, "rejected").await;
    let res = app
        .post(
            &format!("/api/v1/accounts/{id}/backup-codes/checkout"),
            &manager,
            json!({"justification": "again"}),
        )
        .await;
    let retry: u64 = res
        .headers()
        .get("retry-after")
        .unwrap()
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=15 * 60).contains(&retry), "Retry-After {retry}");
    expect_error(res, 429, "failed_attempt_budget").await;
    let refused = app
        .audit_rows()
        .await
        .into_iter()
        .filter(|r| r.action == "backup.checkout" && r.outcome == "denied")
        .count();
    assert_eq!(refused, 1);
    // Nothing was handed out by the refused attempt.
    let status = expect_json(
        app.get(&format!("/api/v1/accounts/{id}/backup-codes"), &manager)
            .await,
        200,
    )
    .await;
    assert_eq!(status["remaining"], 5);
}

#[tokio::test]
async fn passwords_are_versioned_and_revealed_to_managers_with_a_justification() {
    let app = spawn_app().await;
    let (manager, id) = manager_and_account(&app).await;
    let operator = app.token("operator", "marketing").await;
    let path = format!("/api/v1/accounts/{id}/password");
    let reveal = format!("{path}/reveal");
    expect_error(
        app.post(&reveal, &manager, json!({"justification": "posting"}))
            .await,
        404,
        "password_not_set",
    )
    .await;
    assert_eq!(
        expect_json(
            app.put(&path, &manager, json!({"password": " first pass "}))
                .await,
            201
        )
        .await["version"],
        1
    );
    assert_eq!(
        expect_json(
            app.put(&path, &manager, json!({"password": "s3cond-Pass!"}))
                .await,
            201
        )
        .await["version"],
        2
    );
    let shown = expect_json(
        app.post(&reveal, &manager, json!({"justification": "monthly post"}))
            .await,
        200,
    )
    .await;
    assert_eq!(shown, json!({"password": "s3cond-Pass!", "version": 2}));
    expect_error(
        app.post(&reveal, &manager, json!({})).await,
        400,
        "justification_required",
    )
    .await;
    expect_error(
        app.post(&reveal, &operator, json!({"justification": "please"}))
            .await,
        403,
        "forbidden",
    )
    .await;
    expect_error(
        app.put(&path, &operator, json!({"password": "mine"})).await,
        403,
        "forbidden",
    )
    .await;
    expect_error(
        app.put(&path, &manager, json!({"password": "two\nlines"}))
            .await,
        422,
        "invalid_password",
    )
    .await;
    let view = expect_json(
        app.get(&format!("/api/v1/accounts/{id}"), &manager).await,
        200,
    )
    .await;
    assert_eq!(view["has_password"], true);
    let rows = app.audit_rows().await;
    let revealed = rows.iter().find(|r| r.action == "password.reveal").unwrap();
    assert_eq!(
        (
            revealed.justification.as_deref(),
            details(revealed)["version"].as_i64()
        ),
        (Some("monthly post"), Some(2))
    );
    assert_eq!(
        rows.iter().filter(|r| r.action == "password.set").count(),
        2
    );
    let trail = format!("{rows:?}");
    assert!(!trail.contains("s3cond") && !trail.contains("first pass"));
}

#[tokio::test]
async fn reveals_are_limited_per_member_across_replicas_with_retry_after() {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = test_settings(dir.path()).await;
    settings.limits.reveals_per_minute = 0;
    settings.limits.reveals_per_hour = 3;
    // A second replica on the same database and key file.
    let replica_dir = tempfile::tempdir().unwrap();
    let first = spawn_with(dir, settings.clone()).await;
    let second = spawn_with(replica_dir, settings).await;
    // Keep clear of an hour boundary, where the window would restart mid-test.
    let into_hour = chrono::Utc::now().timestamp() % 3600;
    if into_hour > 3590 {
        tokio::time::sleep(std::time::Duration::from_secs((3601 - into_hour) as u64)).await;
    }
    let (manager, id) = manager_and_account(&first).await;
    let other = first.token("operator", "marketing").await;
    first.set_totp(&manager, &id, "JBSWY3DPEHPK3PXP").await;
    let code = format!("/api/v1/accounts/{id}/totp/code");
    expect_json(first.post(&code, &manager, json!({})).await, 200).await;
    expect_json(second.post(&code, &manager, json!({})).await, 200).await;
    expect_json(first.post(&code, &manager, json!({})).await, 200).await;
    let res = second
        .request(Method::POST, &code, Some(&manager), Some(json!({})))
        .await;
    let retry: u64 = res
        .headers()
        .get("retry-after")
        .unwrap()
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=3600).contains(&retry));
    let body = expect_error(res, 429, "rate_limited").await;
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("3 reveals per hour"));
    // Other reveals of the same member count too; another member is not affected.
    expect_error(
        first
            .post(
                &format!("/api/v1/accounts/{id}/password/reveal"),
                &manager,
                json!({"justification": "needed"}),
            )
            .await,
        429,
        "rate_limited",
    )
    .await;
    expect_json(first.post(&code, &other, json!({})).await, 200).await;
    let rows = first.audit_rows().await;
    assert_eq!(rows.iter().filter(|r| r.action == "totp.reveal").count(), 4);
    let limited: Vec<String> = rows
        .iter()
        .filter(|r| r.action == "reveal.rate_limited")
        .map(|r| details(r)["attempted"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(limited, ["totp.reveal", "password.reveal"]);
}

#[tokio::test]
async fn only_the_holder_reports_a_code_and_a_manager_overrides_on_the_record() {
    let app = spawn_app().await;
    let (manager, id) = manager_and_account(&app).await;
    import(&app, &manager, &id, &CODES, "2025-12-16").await;
    let alice = app.token("operator", "marketing").await;
    let bob = app.token("operator", "marketing").await;
    let held = check_out(&app, &alice, &id).await;
    let position = held["position"].as_u64().unwrap();
    let result = format!("/api/v1/accounts/{id}/backup-codes/{position}/result");

    // Bob may not report Alice's code: it would rewrite who held it and burn the budget.
    expect_error(
        app.post(&result, &bob, json!({"outcome": "rejected"}))
            .await,
        403,
        "not_code_holder",
    )
    .await;
    // Nor with an override he has no right to.
    expect_error(
        app.post(
            &result,
            &bob,
            json!({"outcome": "rejected", "override": true}),
        )
        .await,
        403,
        "forbidden",
    )
    .await;
    // A manager must say it is an override.
    expect_error(
        app.post(&result, &manager, json!({"outcome": "worked"}))
            .await,
        403,
        "not_code_holder",
    )
    .await;
    let status = expect_json(
        app.get(&format!("/api/v1/accounts/{id}/backup-codes"), &alice)
            .await,
        200,
    )
    .await;
    assert_eq!(status["failed_attempts"]["count"], 0, "no budget burned");
    assert_eq!(status["codes"][0]["state"], "checked_out");
    let refusals = app
        .audit_rows()
        .await
        .into_iter()
        .filter(|r| r.outcome == "denied" && details(r)["reason"] == "not_code_holder")
        .count();
    assert_eq!(refusals, 2, "each refusal is audited");

    let done = expect_json(
        app.post(
            &result,
            &manager,
            json!({"outcome": "worked", "override": true}),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(done["state"], "used");
    let rows = app.audit_rows().await;
    let overridden = rows
        .iter()
        .rev()
        .find(|r| r.action == "backup.result_override")
        .unwrap();
    assert_eq!(
        details(overridden)["holder"].as_str().unwrap(),
        rows.iter()
            .find(|r| r.action == "backup.checkout")
            .unwrap()
            .actor
    );
    let status = expect_json(
        app.get(&format!("/api/v1/accounts/{id}/backup-codes"), &alice)
            .await,
        200,
    )
    .await;
    assert_eq!(
        status["codes"][0]["by"],
        held_by(&rows),
        "who held the code stays recorded"
    );

    // The holder reports their own code.
    let next = check_out(&app, &bob, &id).await["position"]
        .as_u64()
        .unwrap();
    report(&app, &bob, &id, next, "worked").await;
}

fn held_by(rows: &[keyward::store::audit::AuditRow]) -> Value {
    Value::String(
        rows.iter()
            .find(|r| r.action == "backup.checkout")
            .unwrap()
            .actor
            .clone(),
    )
}

#[tokio::test]
async fn verify_is_no_oracle_look_alike_guesses_spend_the_accounts_budget_then_it_waits() {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = test_settings(dir.path()).await;
    settings.limits.verify_guesses = 100;
    let app = spawn_with(dir, settings).await;
    let (manager, id) = manager_and_account(&app).await;
    import(&app, &manager, &id, &CODES, "2025-12-16").await;
    let operator = app.token("operator", "marketing").await;
    let url = format!("/api/v1/accounts/{id}/backup-codes/verify");

    // A code the operator holds verifies, and spends nothing.
    assert_eq!(
        verify(&app, &operator, &id, "k7p2-x9qd").await["status"],
        "unused"
    );
    // Brute force with codes made of look-alike characters: 30 tries, as in the review.
    let mut answered = 0;
    let mut refused = 0;
    for i in 0..30 {
        let guess = format!("{:04}-S0B1", 1000 + i);
        let res = app.post(&url, &operator, json!({"code": guess})).await;
        match res.status().as_u16() {
            200 => {
                answered += 1;
                let body: Value = res.json().await.unwrap();
                assert_eq!(body["status"], "unknown");
            }
            429 => {
                refused += 1;
                assert!(res.headers().contains_key("retry-after"));
                let body: Value = res.json().await.unwrap();
                assert_eq!(body["error"]["code"], "verify_budget");
            }
            other => panic!("unexpected {other}"),
        }
    }
    let spent: i64 = app
        .audit_rows()
        .await
        .iter()
        .filter(|r| r.action == "backup.verify" && r.outcome == "success")
        .map(|r| details(r)["guesses"].as_i64().unwrap())
        .filter(|g| *g > 1)
        .sum();
    assert!(
        answered >= 1 && refused >= 25,
        "answered {answered}, refused {refused}"
    );
    assert!(
        spent <= 100 + keyward::domain::backup::MAX_VARIANTS as i64,
        "at most one request's variants past the budget: {spent}"
    );
    // Now even a real code waits: the oracle is closed for the window, and says so.
    let res = app
        .post(&url, &operator, json!({"code": "M4TN-8WVR"}))
        .await;
    expect_error(res, 429, "verify_budget").await;
    let refusals = app
        .audit_rows()
        .await
        .into_iter()
        .filter(|r| r.outcome == "denied" && details(r)["reason"] == "verify_budget")
        .count();
    assert_eq!(refusals, refused + 1, "every refusal is audited");
}
