//! Offboarding: exposure from the audit trail, one rotation task per exposed account and kind,
//! tasks that close only when the secret is stored anew, the report, and the ways in (API,
//! CLI, a signed-in member's session).

use crate::support::idp::{spawn_sso_app, Browser};
use crate::support::{expect_error, expect_json, spawn_app, TestApp};
use keyward::authn::Binding;
use keyward::authz::Role;
use serde_json::{json, Value};

const SEED: &str = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP";
/// The seed a platform gives at re-enrollment: a different one.
const NEW_SEED: &str = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";

async fn member(app: &TestApp, name: &str) -> String {
    app.member(name).await
}

async fn token_for(app: &TestApp, member: &str, role: &str, team: &str) -> String {
    app.token_for(member, &[(role, team)]).await
}

async fn import_codes(app: &TestApp, token: &str, account: &str, prefix: &str) {
    let codes: Vec<String> = (1..=6).map(|i| format!("{prefix}-{i:04}")).collect();
    expect_json(
        app.post(
            &format!("/api/v1/accounts/{account}/backup-codes"),
            token,
            json!({"codes": codes, "issued_on": "2025-12-16"}),
        )
        .await,
        201,
    )
    .await;
}

async fn open_tasks(app: &TestApp, token: &str) -> Vec<Value> {
    let list = expect_json(
        app.get("/api/v1/rotation-tasks?state=open", token).await,
        200,
    )
    .await;
    list["tasks"].as_array().unwrap().clone()
}

fn task_of<'a>(tasks: &'a [Value], account: &str, kind: &str) -> Option<&'a Value> {
    tasks
        .iter()
        .find(|t| t["account"] == account && t["kind"] == kind)
}

/// What the test world holds: a manager, a security admin, and a member who saw things.
struct World {
    manager: String,
    admin: String,
    leaver: String,
    /// Exported seed, revealed password, one code used and one still out.
    exposed: String,
    /// Only TOTP codes revealed: they expire, nothing to rotate.
    codes_only: String,
    /// A password revealed and replaced since.
    replaced: String,
}

async fn world(app: &TestApp) -> World {
    let manager = app.token("manager", "marketing").await;
    let admin = app.token("security_admin", "*").await;
    let leaver = member(app, "leaver").await;
    let as_manager = token_for(app, &leaver, "manager", "marketing").await;
    let as_admin = token_for(app, &leaver, "security_admin", "*").await;

    let exposed = app.account(&manager, "marketing", "@exposed").await;
    app.set_totp(&manager, &exposed, SEED).await;
    app.set_password(&manager, &exposed, "first password").await;
    import_codes(app, &manager, &exposed, "1111").await;
    let codes_only = app.account(&manager, "marketing", "@codes_only").await;
    app.set_totp(&manager, &codes_only, SEED).await;
    let replaced = app.account(&manager, "marketing", "@replaced").await;
    app.set_password(&manager, &replaced, "old password").await;

    let why = json!({"justification": "offboarding test"});
    let post = |path: String, token: String, body: Value| async move {
        expect_json(app.post(&path, &token, body).await, 200).await
    };
    post(
        format!("/api/v1/accounts/{exposed}/totp/export"),
        as_admin.clone(),
        why.clone(),
    )
    .await;
    post(
        format!("/api/v1/accounts/{exposed}/password/reveal"),
        as_manager.clone(),
        why.clone(),
    )
    .await;
    let first = post(
        format!("/api/v1/accounts/{exposed}/backup-codes/checkout"),
        as_manager.clone(),
        why.clone(),
    )
    .await;
    post(
        format!(
            "/api/v1/accounts/{exposed}/backup-codes/{}/result",
            first["position"]
        ),
        as_manager.clone(),
        json!({"outcome": "worked"}),
    )
    .await;
    post(
        format!("/api/v1/accounts/{exposed}/backup-codes/checkout"),
        as_manager.clone(),
        why.clone(),
    )
    .await;
    post(
        format!("/api/v1/accounts/{codes_only}/totp/code"),
        as_manager.clone(),
        why.clone(),
    )
    .await;
    post(
        format!("/api/v1/accounts/{replaced}/password/reveal"),
        as_manager.clone(),
        why.clone(),
    )
    .await;
    app.set_password(&manager, &replaced, "new password").await;
    World {
        manager,
        admin,
        leaver,
        exposed,
        codes_only,
        replaced,
    }
}

#[tokio::test]
async fn exposure_counts_what_the_member_saw_and_still_works_and_nothing_else() {
    let app = spawn_app().await;
    let w = world(&app).await;
    let exposure = expect_json(
        app.get(&format!("/api/v1/members/{}/exposure", w.leaver), &w.admin)
            .await,
        200,
    )
    .await;
    let items = exposure["items"].as_array().unwrap();
    let mut seen: Vec<(String, String, String)> = items
        .iter()
        .map(|i| {
            (
                i["account"].as_str().unwrap().to_owned(),
                i["kind"].as_str().unwrap().to_owned(),
                i["how"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    seen.sort();
    let mut expected = vec![
        (
            w.exposed.clone(),
            "totp_seed".to_owned(),
            "export".to_owned(),
        ),
        (
            w.exposed.clone(),
            "password".to_owned(),
            "reveal".to_owned(),
        ),
        (
            w.exposed.clone(),
            "backup_code".to_owned(),
            "checkout".to_owned(),
        ),
    ];
    expected.sort();
    assert_eq!(seen, expected, "{exposure}");
    // The code reported `worked` is spent; the one still out (position 2) counts.
    let code = items.iter().find(|i| i["kind"] == "backup_code").unwrap();
    assert_eq!(code["position"], 2);
    // Each item names the audit event that proves it.
    let rows = app.audit_rows().await;
    for item in items {
        let seq = item["seq"].as_i64().expect("a sequence number");
        let row = rows
            .iter()
            .find(|r| r.seq == seq)
            .expect("the event exists");
        assert_eq!(
            row.target.as_deref(),
            Some(format!("account:{}", item["account"].as_str().unwrap()).as_str())
        );
    }
    assert!(seen
        .iter()
        .all(|(a, _, _)| a != &w.codes_only && a != &w.replaced));
}

#[tokio::test]
async fn offboarding_opens_one_task_per_exposed_kind_and_storing_the_new_secret_closes_it() {
    let app = spawn_app().await;
    let w = world(&app).await;
    let res = app
        .post(
            &format!("/api/v1/members/{}/offboard", w.leaver),
            &w.admin,
            json!({"reason": "left the agency"}),
        )
        .await;
    let done = expect_json(res, 200).await;
    assert_eq!(done["member"]["status"], "departed");
    assert_eq!(done["tokens_revoked"], 2);
    let tasks = done["rotation_tasks"].as_array().unwrap();
    assert_eq!(tasks.len(), 3, "{done}");
    for kind in ["totp", "password", "backup_codes"] {
        let task = task_of(tasks, &w.exposed, kind).unwrap_or_else(|| panic!("a {kind} task"));
        assert_eq!(task["reason"], "departure");
        assert_eq!(task["member"], w.leaver.as_str());
        assert_eq!(task["state"], "open");
        assert!(task["steps"]["en"]
            .as_array()
            .is_some_and(|s| !s.is_empty()));
        assert!(task["steps"]["ja"]
            .as_array()
            .is_some_and(|s| !s.is_empty()));
    }
    // Deadlines by kind: seeds 72 h, passwords and backup codes 24 h.
    let due = |kind: &str| {
        let at = task_of(tasks, &w.exposed, kind).unwrap()["due_at"]
            .as_str()
            .unwrap()
            .to_owned();
        chrono::DateTime::parse_from_rfc3339(&at).unwrap()
    };
    let hours = (due("totp") - due("password")).num_hours();
    assert!((47..=48).contains(&hours), "{hours}");

    // The departed member's tokens stop at once.
    expect_error(
        app.post("/api/v1/members/".to_owned().as_str(), &w.admin, json!({}))
            .await,
        404,
        "not_found",
    )
    .await;
    let again = app
        .post(
            &format!("/api/v1/members/{}/offboard", w.leaver),
            &w.admin,
            json!({"reason": "left the agency"}),
        )
        .await;
    expect_error(again, 409, "already_departed").await;

    // The account shows what is due.
    let account = expect_json(
        app.get(&format!("/api/v1/accounts/{}", w.exposed), &w.manager)
            .await,
        200,
    )
    .await;
    assert_eq!(account["open_rotation_tasks"], 3);
    assert!(account["rotate_by"].is_string());

    // A new password closes the password task, and only it.
    let stored = app
        .set_password(&w.manager, &w.exposed, "rotated password")
        .await;
    let open = open_tasks(&app, &w.manager).await;
    assert!(task_of(&open, &w.exposed, "password").is_none());
    assert!(task_of(&open, &w.exposed, "totp").is_some());
    assert!(task_of(&open, &w.exposed, "backup_codes").is_some());
    let all = expect_json(app.get("/api/v1/rotation-tasks", &w.manager).await, 200).await;
    let closed = task_of(all["tasks"].as_array().unwrap(), &w.exposed, "password")
        .unwrap()
        .clone();
    assert_eq!(closed["state"], "done");
    assert_eq!(closed["resulting_version"], stored["version"]);
    assert!(closed["completed_by"]
        .as_str()
        .unwrap()
        .starts_with("token:"));

    // An HOTP seed is another kind: the TOTP task stays open.
    expect_json(
        app.put(
            &format!("/api/v1/accounts/{}/hotp", w.exposed),
            &w.manager,
            json!({"secret": SEED}),
        )
        .await,
        201,
    )
    .await;
    assert!(task_of(&open_tasks(&app, &w.manager).await, &w.exposed, "totp").is_some());
    // A new generation closes the backup-code task; a new TOTP seed the TOTP one.
    import_codes(&app, &w.manager, &w.exposed, "2222").await;
    app.set_totp(&w.manager, &w.exposed, NEW_SEED).await;
    assert!(open_tasks(&app, &w.manager).await.is_empty());

    let rows = app.audit_rows().await;
    let count = |action: &str| rows.iter().filter(|r| r.action == action).count();
    assert_eq!(count("member.offboard"), 1);
    assert_eq!(count("rotation.open"), 3);
    assert_eq!(count("rotation.done"), 3);
}

#[tokio::test]
async fn a_task_can_be_assigned_and_dismissed_once_with_a_justification() {
    let app = spawn_app().await;
    let w = world(&app).await;
    let mia = member(&app, "mia").await;
    let done = expect_json(
        app.post(
            &format!("/api/v1/members/{}/offboard", w.leaver),
            &w.admin,
            json!({"reason": "contract ended"}),
        )
        .await,
        200,
    )
    .await;
    let task = task_of(
        done["rotation_tasks"].as_array().unwrap(),
        &w.exposed,
        "totp",
    )
    .unwrap();
    let id = task["id"].as_str().unwrap();
    let assigned = expect_json(
        app.post(
            &format!("/api/v1/rotation-tasks/{id}/assign"),
            &w.manager,
            json!({"assignee": mia}),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(assigned["assignee"], mia.as_str());
    let mine = expect_json(
        app.get(
            &format!("/api/v1/rotation-tasks?assignee={mia}"),
            &w.manager,
        )
        .await,
        200,
    )
    .await;
    assert_eq!(mine["tasks"].as_array().unwrap().len(), 1);
    // A departed member cannot be given a task; an unknown one is unknown.
    expect_error(
        app.post(
            &format!("/api/v1/rotation-tasks/{id}/assign"),
            &w.manager,
            json!({"assignee": w.leaver}),
        )
        .await,
        409,
        "member_departed",
    )
    .await;
    expect_error(
        app.post(
            &format!("/api/v1/rotation-tasks/{id}/assign"),
            &w.manager,
            json!({"assignee": "nobody"}),
        )
        .await,
        404,
        "member_not_found",
    )
    .await;
    // Dismissing needs a justification, then works once.
    expect_error(
        app.post(
            &format!("/api/v1/rotation-tasks/{id}/dismiss"),
            &w.admin,
            json!({}),
        )
        .await,
        400,
        "justification_required",
    )
    .await;
    let dismissed = expect_json(
        app.post(
            &format!("/api/v1/rotation-tasks/{id}/dismiss"),
            &w.admin,
            json!({"justification": "platform account deleted"}),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(dismissed["state"], "dismissed");
    expect_error(
        app.post(
            &format!("/api/v1/rotation-tasks/{id}/dismiss"),
            &w.admin,
            json!({"justification": "again"}),
        )
        .await,
        409,
        "task_not_open",
    )
    .await;
    // Storing a seed later does not reopen or complete a dismissed task.
    app.set_totp(&w.manager, &w.exposed, NEW_SEED).await;
    let after = expect_json(
        app.get(&format!("/api/v1/rotation-tasks/{id}"), &w.manager)
            .await,
        200,
    )
    .await;
    assert_eq!(after["state"], "dismissed");
    let event = app
        .audit_rows()
        .await
        .into_iter()
        .find(|r| r.action == "rotation.dismiss")
        .unwrap();
    assert_eq!(
        event.justification.as_deref(),
        Some("platform account deleted")
    );
}

#[tokio::test]
async fn the_report_holds_the_exposure_with_sequence_numbers_the_tasks_and_the_chain_head() {
    let app = spawn_app().await;
    let w = world(&app).await;
    let before = format!("/api/v1/members/{}/offboarding-report", w.leaver);
    expect_error(app.get(&before, &w.admin).await, 409, "not_offboarded").await;
    let done = expect_json(
        app.post(
            &format!("/api/v1/members/{}/offboard", w.leaver),
            &w.admin,
            json!({"reason": "left the agency", "policy": "exposed"}),
        )
        .await,
        200,
    )
    .await;
    app.set_password(&w.manager, &w.exposed, "rotated").await;
    let auditor = app.token("auditor", "*").await;
    let report = expect_json(app.get(&before, &auditor).await, 200).await;
    assert_eq!(report["member"]["id"], w.leaver.as_str());
    assert_eq!(report["reason"], "left the agency");
    assert_eq!(report["policy"], "exposed");
    // The exposure is the one recorded at the departure, even after a rotation.
    assert_eq!(report["exposure"], done["exposure"]);
    assert_eq!(report["done"], 1);
    assert_eq!(report["open"], 2);
    let rows = app.audit_rows().await;
    let offboard = rows.iter().find(|r| r.action == "member.offboard").unwrap();
    assert_eq!(report["offboard_seq"], offboard.seq);
    let head = rows.last().unwrap();
    assert_eq!(report["audit_head"]["seq"], head.seq);
    assert_eq!(report["audit_head"]["hash"], head.hash.as_str());

    let csv = app.get(&format!("{before}?format=csv"), &auditor).await;
    assert_eq!(csv.status(), 200);
    assert!(csv.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/csv"));
    let text = csv.text().await.unwrap();
    assert!(text.contains(&head.hash), "{text}");
    let data: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
    assert!(data[0].starts_with("account,team,platform"));
    assert_eq!(data.len(), 1 + 3, "{text}");
    assert!(data
        .iter()
        .any(|l| l.contains(",password,reveal,") && l.contains(",done,")));
    expect_error(
        app.get(&format!("{before}?format=pdf"), &auditor).await,
        422,
        "invalid_format",
    )
    .await;
}

#[tokio::test]
async fn the_strict_policy_also_counts_every_secret_the_member_could_reach() {
    let app = spawn_app().await;
    let manager = app.token("manager", "marketing").await;
    let admin = app.token("security_admin", "*").await;
    let viewer = member(&app, "viewer").await;
    keyward::store::members::insert_grant(
        app.core.store.db(),
        &app.core.integrity,
        &viewer,
        "marketing",
        "viewer",
        "admin",
    )
    .await
    .unwrap();
    let reachable = app.account(&manager, "marketing", "@reachable").await;
    app.set_totp(&manager, &reachable, SEED).await;
    app.set_password(&manager, &reachable, "pw").await;
    import_codes(&app, &manager, &reachable, "3333").await;
    let elsewhere = app
        .account(&app.token("manager", "sales").await, "sales", "@elsewhere")
        .await;
    app.set_totp(&app.token("manager", "sales").await, &elsewhere, SEED)
        .await;

    let path = format!("/api/v1/members/{viewer}/exposure");
    let exposed = expect_json(app.get(&path, &admin).await, 200).await;
    assert!(exposed["items"].as_array().unwrap().is_empty(), "{exposed}");
    let strict = expect_json(app.get(&format!("{path}?policy=strict"), &admin).await, 200).await;
    let items = strict["items"].as_array().unwrap();
    assert_eq!(items.len(), 3, "{strict}");
    assert!(items.iter().all(|i| i["how"] == "could_reach"
        && i["seq"].is_null()
        && i["account"] == reachable.as_str()));
    expect_error(
        app.get(&format!("{path}?policy=lenient"), &admin).await,
        422,
        "invalid_policy",
    )
    .await;

    let done = expect_json(
        app.post(
            &format!("/api/v1/members/{viewer}/offboard"),
            &admin,
            json!({"reason": "strict test", "policy": "strict"}),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(done["rotation_tasks"].as_array().unwrap().len(), 3);
}

#[tokio::test]
async fn two_offboards_at_the_same_moment_make_one_departure_and_one_set_of_tasks() {
    let app = spawn_app().await;
    let w = world(&app).await;
    let path = format!("/api/v1/members/{}/offboard", w.leaver);
    let body = json!({"reason": "left the agency"});
    let (a, b) = tokio::join!(
        app.post(&path, &w.admin, body.clone()),
        app.post(&path, &w.admin, body.clone())
    );
    let mut statuses = vec![a.status().as_u16(), b.status().as_u16()];
    statuses.sort();
    assert_eq!(statuses, vec![200, 409]);
    let open = open_tasks(&app, &w.manager).await;
    assert_eq!(open.len(), 3);
    let rows = app.audit_rows().await;
    assert_eq!(
        rows.iter()
            .filter(|r| r.action == "member.offboard")
            .count(),
        1
    );
    assert_eq!(
        rows.iter().filter(|r| r.action == "rotation.open").count(),
        3
    );
}

#[tokio::test]
async fn bad_offboarding_requests_get_clear_errors_after_the_right_is_decided() {
    let app = spawn_app().await;
    let admin = app.token("security_admin", "*").await;
    let viewer = app.token("viewer", "marketing").await;
    let someone = member(&app, "someone").await;
    let path = format!("/api/v1/members/{someone}/offboard");
    // A viewer sending nonsense is refused for their role, not for the body; and audited.
    let denied_before = app
        .audit_rows()
        .await
        .iter()
        .filter(|r| r.action == "auth.denied")
        .count();
    let res = app
        .request(reqwest::Method::POST, &path, Some(&viewer), None)
        .await;
    expect_error(res, 403, "forbidden").await;
    let denied_after = app
        .audit_rows()
        .await
        .iter()
        .filter(|r| r.action == "auth.denied")
        .count();
    assert_eq!(denied_after, denied_before + 1);
    expect_error(
        app.post(&path, &admin, json!({})).await,
        400,
        "invalid_json",
    )
    .await;
    expect_error(
        app.post(&path, &admin, json!({"reason": " "})).await,
        400,
        "reason_required",
    )
    .await;
    expect_error(
        app.post(&path, &admin, json!({"reason": "ok then", "policy": "all"}))
            .await,
        422,
        "invalid_policy",
    )
    .await;
    expect_error(
        app.post(&path, &admin, json!({"reason": "bad\u{0}reason"}))
            .await,
        422,
        "invalid_reason",
    )
    .await;
    for unknown in ["0190aaaa-0000-7000-8000-000000000000", "not-an-id"] {
        expect_error(
            app.post(
                &format!("/api/v1/members/{unknown}/offboard"),
                &admin,
                json!({"reason": "nobody"}),
            )
            .await,
            404,
            "member_not_found",
        )
        .await;
    }
    expect_error(
        app.get("/api/v1/members?status=gone", &admin).await,
        422,
        "invalid_status",
    )
    .await;
    expect_error(
        app.get("/api/v1/rotation-tasks?state=finished", &admin)
            .await,
        422,
        "invalid_state",
    )
    .await;
    expect_error(
        app.get("/api/v1/rotation-tasks?reason=low-codes", &admin)
            .await,
        422,
        "invalid_reason",
    )
    .await;
    expect_error(
        app.get("/api/v1/rotation-tasks/nope", &admin).await,
        404,
        "task_not_found",
    )
    .await;
    // Nothing was half-done: the member is still active.
    let members = expect_json(app.get("/api/v1/members?status=active", &admin).await, 200).await;
    assert!(members["members"]
        .as_array()
        .unwrap()
        .iter()
        .any(|m| m["id"] == someone.as_str()));
}

#[tokio::test]
async fn the_cli_offboards_by_email_and_says_what_to_rotate() {
    let app = spawn_app().await;
    let w = world(&app).await;
    let out = app
        .cli()
        .args([
            "member",
            "offboard",
            "leaver@example.com",
            "--reason",
            "left the agency",
        ])
        .output()
        .expect("keyward runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("departed") && stdout.contains("2 tokens revoked"),
        "{stdout}"
    );
    assert_eq!(stdout.matches("rotation task ").count(), 3, "{stdout}");
    assert_eq!(open_tasks(&app, &w.manager).await.len(), 3);
    let event = app
        .audit_rows()
        .await
        .into_iter()
        .find(|r| r.action == "member.offboard")
        .unwrap();
    assert_eq!(event.actor, "cli");
    let again = app
        .cli()
        .args([
            "member",
            "offboard",
            "leaver@example.com",
            "--reason",
            "left the agency",
        ])
        .output()
        .unwrap();
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already been offboarded"));
}

#[tokio::test]
async fn an_offboarded_members_open_session_is_refused_and_so_is_their_next_sign_in() {
    let app = spawn_sso_app("").await;
    let browser = Browser::new();
    let res = browser.sign_in(&app.base, "alice").await;
    assert!(res.status().is_redirection());
    let me = browser.get(&format!("{}/api/v1/me", app.base)).await;
    let me: Value = me.json().await.unwrap();
    let alice = me["id"].as_str().unwrap().to_owned();
    let admin = app.token("security_admin", "*").await;
    let done = expect_json(
        app.post(
            &format!("/api/v1/members/{alice}/offboard"),
            &admin,
            json!({"reason": "left the company"}),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(done["sessions_revoked"], 1);
    let refused = browser.get(&format!("{}/api/v1/me", app.base)).await;
    assert_eq!(refused.status(), 401);
    // The IdP still lets her in; Keyward does not.
    let again = browser.sign_in(&app.base, "alice").await;
    assert!(!again.status().is_redirection() || again.headers().get("set-cookie").is_none());
    let after = browser.get(&format!("{}/api/v1/me", app.base)).await;
    assert_eq!(after.status(), 401);
    let rows = app.audit_rows().await;
    assert!(rows.iter().any(|r| r.action == "session.revoke"));
    assert!(rows
        .iter()
        .any(|r| r.action == "auth.denied" && r.details.contains("member_departed")));
}

#[tokio::test]
async fn a_reveal_authenticated_before_the_departure_but_run_after_it_is_refused() {
    let app = spawn_app().await;
    let manager = app.token("manager", "marketing").await;
    let account = app.account(&manager, "marketing", "@race").await;
    app.set_password(&manager, &account, "pw").await;
    let leaver = member(&app, "racer").await;
    keyward::store::members::insert_grant(
        app.core.store.db(),
        &app.core.integrity,
        &leaver,
        "marketing",
        "manager",
        "admin",
    )
    .await
    .unwrap();
    // The request was authenticated (its principal built) while the member was active…
    let caller = keyward::services::Caller {
        principal: keyward::authn::Principal {
            kind: keyward::authn::PrincipalKind::Member,
            id: leaver.clone(),
            name: "racer".into(),
            email: None,
            bindings: vec![Binding {
                team: "marketing".into(),
                role: Role::Manager,
            }],
        },
        meta: Default::default(),
        session: None,
    };
    let allowed = app
        .core
        .allow(&caller, &account, keyward::authz::Action::PasswordReveal)
        .await
        .unwrap();
    // …and the departure commits before its transaction runs.
    app.core
        .depart(
            &keyward::services::Actor::cli(),
            &leaver,
            keyward::domain::DepartureReason::parse("left mid-request").unwrap(),
            keyward::domain::OffboardPolicy::Exposed,
        )
        .await
        .unwrap();
    let why = keyward::domain::Justification::parse("racing the offboarding").unwrap();
    let refused = app.core.reveal_password(&caller, &allowed, why).await;
    assert!(
        matches!(
            refused,
            Err(keyward::services::ServiceError::Refused {
                code: "access_ended",
                ..
            })
        ),
        "the password is not handed out"
    );
    let rows = app.audit_rows().await;
    assert!(!rows.iter().any(|r| r.action == "password.reveal"));
    assert!(rows
        .iter()
        .any(|r| r.action == "auth.denied" && r.details.contains("access_ended")));
}

#[tokio::test]
async fn a_team_manager_sees_their_tasks_however_many_other_teams_have() {
    let app = spawn_app().await;
    let sales = app.token("manager", "sales").await;
    let marketing = app.token("manager", "marketing").await;
    let busy = app.account(&sales, "sales", "@busy").await;
    let mine = app.account(&marketing, "marketing", "@mine").await;
    let db = app.core.store.db();
    fn task(account: &str, hours: i64) -> keyward::store::rotation::NewTask<'_> {
        keyward::store::rotation::NewTask {
            account_id: account,
            kind: "password",
            reason: "manual",
            secret_id: None,
            generation_id: None,
            member_id: None,
            due_at: chrono::Utc::now() + chrono::Duration::hours(hours),
            opened_by: "test",
        }
    }
    // More tasks elsewhere than one listing holds, all due sooner than ours.
    let tx = app.core.store.begin_write().await.unwrap();
    for _ in 0..=keyward::store::rotation::LIST_LIMIT {
        keyward::store::rotation::insert(&*tx, &app.core.integrity, task(&busy, 1))
            .await
            .unwrap();
    }
    tx.commit().await.unwrap();
    keyward::store::rotation::insert(db, &app.core.integrity, task(&mine, 48))
        .await
        .unwrap();
    let listed = expect_json(
        app.get("/api/v1/rotation-tasks?state=open", &marketing)
            .await,
        200,
    )
    .await;
    let tasks = listed["tasks"].as_array().unwrap();
    assert_eq!(tasks.len(), 1, "{listed}");
    assert_eq!(tasks[0]["account"], mine.as_str());
}
