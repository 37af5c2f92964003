//! Incidents: every shipped runbook walked through every branch to its end over the API, with
//! the real actions behind them; one winner of two answers to one step; refusals that leave
//! the incident where it was and are audited; the failed-attempt budget inside incidents; and
//! no code in the timeline or the audit trail.

use crate::support::{expect_error, expect_json, spawn_app, spawn_with, test_settings, TestApp};
use keyward::authn::Binding;
use keyward::authz::Role;
use keyward::domain::{Base32Secret, HashAlgorithm};
use keyward::services::runbooks::{Runbook, Runbooks, StepKind};
use serde_json::{json, Value};
use std::collections::{BTreeSet, HashMap, VecDeque};

const SEED: &str = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP";

fn codes() -> Vec<String> {
    (1..=10).map(|i| format!("4821-{i:04}")).collect()
}

/// A service token with several role bindings.
async fn token_with(app: &TestApp, roles: &[(&str, &str)]) -> String {
    let bindings = roles
        .iter()
        .map(|(role, team)| Binding {
            team: (*team).to_owned(),
            role: Role::parse(role).unwrap(),
        })
        .collect();
    let (_, token) = keyward::services::tokens::create(
        &app.core.store,
        &app.core.integrity,
        "incidents",
        bindings,
        None,
    )
    .await
    .unwrap();
    token.as_str().to_owned()
}

/// An account on X in `marketing` with a TOTP seed and ten backup codes.
async fn equipped_account(app: &TestApp, manager: &str) -> String {
    let id = app
        .account(
            manager,
            "marketing",
            &format!("@brand{}", uuid::Uuid::now_v7().simple()),
        )
        .await;
    app.set_totp(manager, &id, SEED).await;
    let res = app
        .post(
            &format!("/api/v1/accounts/{id}/backup-codes"),
            manager,
            json!({"codes": codes(), "issued_on": "2026-11-01"}),
        )
        .await;
    expect_json(res, 201).await;
    id
}

async fn escrow_for_marketing(app: &TestApp) {
    let admin = app.token("security_admin", "*").await;
    app.escrow(&admin, "incidents", "marketing").await;
}

async fn start(app: &TestApp, token: &str, account: &str, runbook: &str) -> Value {
    let res = app
        .post(
            "/api/v1/incidents",
            token,
            json!({"account": account, "runbook": runbook, "note": "can't get in"}),
        )
        .await;
    expect_json(res, 201).await
}

async fn answer(
    app: &TestApp,
    token: &str,
    incident: &str,
    step: &str,
    choice: &str,
) -> reqwest::Response {
    app.post(
        &format!("/api/v1/incidents/{incident}/answer"),
        token,
        json!({"step": step, "choice": choice}),
    )
    .await
}

/// The shortest run of (step, choice) from `from` to a step `goal` accepts.
fn shortest(runbook: &Runbook, from: &str, goal: impl Fn(&str) -> bool) -> Vec<(String, String)> {
    let mut came: HashMap<String, (String, String)> = HashMap::new();
    let mut seen = BTreeSet::from([from.to_owned()]);
    let mut queue = VecDeque::from([from.to_owned()]);
    while let Some(at) = queue.pop_front() {
        if goal(&at) {
            let mut path = Vec::new();
            let mut cur = at;
            while let Some((step, choice)) = came.get(&cur) {
                path.push((step.clone(), choice.clone()));
                cur = step.clone();
            }
            path.reverse();
            return path;
        }
        for choice in &runbook.step(&at).unwrap().choices {
            if seen.insert(choice.next.clone()) {
                came.insert(choice.next.clone(), (at.clone(), choice.id.clone()));
                queue.push_back(choice.next.clone());
            }
        }
    }
    panic!("{}: no path from {from}", runbook.id);
}

fn totp_near_now() -> [String; 2] {
    let seed = Base32Secret::parse(SEED).unwrap();
    let t = chrono::Utc::now().timestamp() as u64 / 30;
    [t - 1, t].map(|c| seed.code_at_counter(HashAlgorithm::Sha1, 6, c).to_string())
}

/// Walks one incident along `path`, checking each answer's next step and action result.
async fn walk(app: &TestApp, token: &str, runbook: &Runbook, path: &[(String, String)]) {
    let account = equipped_account(app, token).await;
    let incident = start(app, token, &account, &runbook.id).await;
    let id = incident["id"].as_str().unwrap().to_owned();
    assert_eq!(incident["step"]["id"], runbook.start.as_str());
    let route: Vec<String> = path.iter().map(|(s, c)| format!("{s}:{c}")).collect();
    for (step, choice) in path {
        let res = answer(app, token, &id, step, choice).await;
        assert_eq!(
            res.status(),
            200,
            "{} {route:?} at {step}:{choice}: {}",
            runbook.id,
            res.text().await.unwrap()
        );
        let body: Value = res.json().await.unwrap();
        let spec = runbook.step(step).unwrap().choice(choice).unwrap();
        assert_eq!(body["step"]["id"], spec.next.as_str(), "{route:?}");
        match &spec.action {
            None => assert!(body.get("result").is_none(), "{route:?}"),
            Some(action) => {
                let result = &body["result"];
                assert_eq!(result["action"], action.name(), "{route:?}");
                match action.name() {
                    "checkout_backup_code" => {
                        let position = result["position"].as_u64().unwrap() as usize;
                        assert_eq!(result["code"], codes()[position - 1].as_str());
                    }
                    "reveal_totp" => {
                        let code = result["code"].as_str().unwrap().to_owned();
                        assert!(totp_near_now().contains(&code), "{code}");
                    }
                    "freeze_account" => assert_eq!(result["status"], "frozen"),
                    "unfreeze_account" => assert_eq!(result["status"], "active"),
                    "report_backup_code" => {
                        assert!(["used", "rejected"].contains(&result["outcome"].as_str().unwrap()))
                    }
                    "open_rotation_tasks" => {
                        assert!(!result["opened"].as_array().unwrap().is_empty(), "{result}")
                    }
                    "open_break_glass_release" => {
                        assert!(result["release_key"]
                            .as_str()
                            .is_some_and(|k| !k.is_empty()))
                    }
                    "revoke_sessions" => assert!(result["sessions"].is_u64()),
                    "notify" => assert_eq!(result["hooks"], 0),
                    // The walked accounts are open: nothing to ask for.
                    "request_access" => {
                        assert_eq!(result["why"], "approval_not_required", "{result}")
                    }
                    other => panic!("unexpected action {other}"),
                }
            }
        }
    }
    let done = expect_json(
        app.get(&format!("/api/v1/incidents/{id}"), token).await,
        200,
    )
    .await;
    assert_eq!(done["step"]["kind"], "done", "{route:?}");
    let resolved = app
        .post(
            &format!("/api/v1/incidents/{id}/resolve"),
            token,
            json!({"summary": "walked to the end"}),
        )
        .await;
    let resolved = expect_json(resolved, 200).await;
    assert_eq!(resolved["state"], "resolved");
    let timeline = resolved["timeline"].as_array().unwrap();
    let events: Vec<&str> = timeline
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    assert_eq!(events.first(), Some(&"incident.start"));
    assert_eq!(events.last(), Some(&"incident.resolve"));
    assert_eq!(
        events.iter().filter(|e| **e == "incident.answer").count(),
        path.len(),
        "{route:?}"
    );
    let actions = path
        .iter()
        .filter(|(s, c)| runbook.step(s).unwrap().choice(c).unwrap().action.is_some())
        .count();
    assert_eq!(
        events.iter().filter(|e| **e == "incident.action").count(),
        actions
    );
}

#[tokio::test]
async fn every_branch_of_every_shipped_runbook_is_walked_to_its_end() {
    let app = spawn_app().await;
    escrow_for_marketing(&app).await;
    let token = token_with(&app, &[("manager", "marketing"), ("security_admin", "*")]).await;
    let listed = expect_json(app.get("/api/v1/runbooks", &token).await, 200).await;
    let ids: Vec<&str> = listed["runbooks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [
            "leak",
            "lockout",
            "lost-device",
            "platform-lockout",
            "sms-not-arriving"
        ]
    );
    let runbooks = Runbooks::load(None).unwrap();
    let mut walks = 0;
    for runbook in runbooks.all() {
        for step in &runbook.steps {
            for choice in &step.choices {
                // There, this branch, then the shortest way to an end.
                let mut path = shortest(runbook, &runbook.start, |s| s == step.id);
                path.push((step.id.clone(), choice.id.clone()));
                path.extend(shortest(runbook, &choice.next, |s| {
                    runbook.step(s).unwrap().kind == StepKind::Done
                }));
                walk(&app, &token, runbook, &path).await;
                walks += 1;
            }
        }
    }
    assert!(walks > 50, "{walks} branches walked");
}

/// An incident of `runbook` on a fresh account (made by a manager), started and answered
/// along `path` as `token`; its id and account.
async fn incident_at(
    app: &TestApp,
    token: &str,
    runbook: &str,
    path: &[(&str, &str)],
) -> (String, String) {
    let manager = app.token("manager", "marketing").await;
    let account = equipped_account(app, &manager).await;
    let id = start(app, token, &account, runbook).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    for (step, choice) in path {
        expect_json(answer(app, token, &id, step, choice).await, 200).await;
    }
    (id, account)
}

const TO_BACKUP: [(&str, &str); 3] = [
    ("device_left", "no"),
    ("old_device", "no"),
    ("try_totp", "no_seed"),
];

#[tokio::test]
async fn of_two_people_answering_the_same_step_one_wins_and_one_code_is_handed_out() {
    let app = spawn_app().await;
    let manager = app.token("manager", "marketing").await;
    let operators = [
        app.token("operator", "marketing").await,
        app.token("operator", "marketing").await,
        app.token("operator", "marketing").await,
        app.token("operator", "marketing").await,
    ];
    for _ in 0..3 {
        let (id, account) = incident_at(&app, &manager, "lockout", &TO_BACKUP).await;
        let answers = operators.iter().map(|t| {
            let app = &app;
            let id = id.clone();
            async move { answer(app, t, &id, "try_backup_code", "check_out").await }
        });
        let results = futures_util::future::join_all(answers).await;
        let mut won = 0;
        for res in results {
            match res.status().as_u16() {
                200 => won += 1,
                409 => {
                    let body: Value = res.json().await.unwrap();
                    assert_eq!(body["error"]["code"], "step_changed", "{body}");
                }
                other => panic!("unexpected {other}: {}", res.text().await.unwrap()),
            }
        }
        assert_eq!(won, 1);
        let status = expect_json(
            app.get(
                &format!("/api/v1/accounts/{account}/backup-codes"),
                &manager,
            )
            .await,
            200,
        )
        .await;
        let out = status["codes"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["state"] == "checked_out")
            .count();
        assert_eq!(out, 1, "exactly one code handed out");
        let incident = expect_json(
            app.get(&format!("/api/v1/incidents/{id}"), &manager).await,
            200,
        )
        .await;
        assert_eq!(incident["step"]["id"], "backup_result");
    }
}

#[tokio::test]
async fn an_action_the_role_does_not_allow_is_refused_audited_and_the_incident_stays() {
    let app = spawn_app().await;
    let manager = app.token("manager", "marketing").await;
    let operator = app.token("operator", "marketing").await;
    let (id, account) = incident_at(&app, &manager, "leak", &[]).await;
    let res = answer(&app, &operator, &id, "freeze", "freeze").await;
    let body = expect_error(res, 403, "action_not_allowed").await;
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("freeze_account"));
    let incident = expect_json(
        app.get(&format!("/api/v1/incidents/{id}"), &operator).await,
        200,
    )
    .await;
    assert_eq!(
        incident["step"]["id"], "freeze",
        "the incident stays at that step"
    );
    let refusal = incident["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["event"] == "incident.action")
        .cloned()
        .expect("the refusal is on the timeline");
    assert_eq!(refusal["outcome"], "denied");
    assert_eq!(refusal["result"]["error"], "action_not_allowed");
    let acc = expect_json(
        app.get(&format!("/api/v1/accounts/{account}"), &manager)
            .await,
        200,
    )
    .await;
    assert_eq!(acc["status"], "active", "nothing was frozen");
    // The operator's own rights still take the other answer; the manager's take the action.
    expect_json(
        answer(&app, &operator, &id, "freeze", "already_frozen").await,
        200,
    )
    .await;
    let (id2, account2) = incident_at(&app, &manager, "leak", &[]).await;
    let done = expect_json(answer(&app, &manager, &id2, "freeze", "freeze").await, 200).await;
    assert_eq!(done["result"]["status"], "frozen");
    let acc = expect_json(
        app.get(&format!("/api/v1/accounts/{account2}"), &manager)
            .await,
        200,
    )
    .await;
    assert_eq!(acc["status"], "frozen");
    // The account's own trail names the incident behind the change.
    let rows = app.audit_rows().await;
    let update = rows
        .iter()
        .rev()
        .find(|r| {
            r.action == "account.update"
                && r.target.as_deref() == Some(&format!("account:{account2}"))
        })
        .expect("account.update");
    assert!(update.details.contains(&id2), "{}", update.details);
    // Revoking sessions is a security admin's: a manager is refused, and audited.
    let (id3, _) = incident_at(
        &app,
        &manager,
        "leak",
        &[
            ("freeze", "already_frozen"),
            ("rotate", "open_tasks"),
            ("platform_sessions", "reviewed"),
        ],
    )
    .await;
    expect_error(
        answer(&app, &manager, &id3, "keyward_sessions", "revoke").await,
        403,
        "action_not_allowed",
    )
    .await;
    let denied = app
        .audit_rows()
        .await
        .iter()
        .filter(|r| r.action == "incident.action" && r.outcome == "denied")
        .count();
    assert_eq!(denied, 2);
}

#[tokio::test]
async fn the_failed_attempt_budget_holds_inside_incidents_and_warns_before_it_is_spent() {
    let app = spawn_app().await;
    let operator = app.token("operator", "marketing").await;
    let manager = app.token("manager", "marketing").await;
    let account = equipped_account(&app, &manager).await;
    let id = start(&app, &operator, &account, "lockout").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    for (step, choice) in TO_BACKUP {
        expect_json(answer(&app, &operator, &id, step, choice).await, 200).await;
    }
    let budget = app.settings.limits.failed_attempt_budget as usize;
    for n in 1..=budget {
        let out = expect_json(
            answer(&app, &operator, &id, "try_backup_code", "check_out").await,
            200,
        )
        .await;
        assert_eq!(
            out["result"]["position"], n,
            "codes are handed out in order"
        );
        assert_eq!(out["result"]["code"], codes()[n - 1].as_str());
        let back = expect_json(
            answer(&app, &operator, &id, "backup_result", "rejected").await,
            200,
        )
        .await;
        assert_eq!(back["result"]["rejected_in_window"], n);
        let warned = back["warnings"]
            .as_array()
            .unwrap()
            .contains(&json!("failed_attempts"));
        assert_eq!(
            warned,
            n + 1 >= budget,
            "warned before the limit (after {n})"
        );
    }
    let res = answer(&app, &operator, &id, "try_backup_code", "check_out").await;
    expect_error(res, 429, "failed_attempt_budget").await;
    let incident = expect_json(
        app.get(&format!("/api/v1/incidents/{id}"), &operator).await,
        200,
    )
    .await;
    assert_eq!(incident["step"]["id"], "try_backup_code");
    let last = incident["timeline"]
        .as_array()
        .unwrap()
        .last()
        .cloned()
        .unwrap();
    assert_eq!(last["event"], "incident.action");
    assert_eq!(last["result"]["error"], "failed_attempt_budget");
}

#[tokio::test]
async fn no_code_reaches_the_timeline_or_the_audit_trail() {
    let app = spawn_app().await;
    escrow_for_marketing(&app).await;
    let manager = app.token("manager", "marketing").await;
    let (id, _) = incident_at(
        &app,
        &manager,
        "lockout",
        &[("device_left", "no"), ("old_device", "no")],
    )
    .await;
    let revealed = expect_json(answer(&app, &manager, &id, "try_totp", "reveal").await, 200).await;
    let totp = revealed["result"]["code"].as_str().unwrap().to_owned();
    expect_json(
        answer(&app, &manager, &id, "totp_result", "rejected").await,
        200,
    )
    .await;
    let out = expect_json(
        answer(&app, &manager, &id, "try_backup_code", "check_out").await,
        200,
    )
    .await;
    let code = out["result"]["code"].as_str().unwrap().to_owned();
    expect_json(
        answer(&app, &manager, &id, "backup_result", "rejected").await,
        200,
    )
    .await;
    expect_json(
        answer(&app, &manager, &id, "try_backup_code", "none_left").await,
        200,
    )
    .await;
    let release = expect_json(
        answer(&app, &manager, &id, "break_glass", "open_release").await,
        200,
    )
    .await;
    let key = release["result"]["release_key"]
        .as_str()
        .unwrap()
        .to_owned();
    // Read again: the values were in their answers only.
    let incident = app
        .get(&format!("/api/v1/incidents/{id}"), &manager)
        .await
        .text()
        .await
        .unwrap();
    let rows = app.audit_rows().await;
    let trail: String = rows
        .iter()
        .map(|r| {
            format!(
                "{} {}\n",
                r.details,
                r.justification.clone().unwrap_or_default()
            )
        })
        .collect();
    for secret in [&totp, &code, &key, &codes()[0]] {
        assert!(
            !incident.contains(secret.as_str()),
            "the incident shows a secret"
        );
        assert!(
            !trail.contains(secret.as_str()),
            "the audit trail holds a secret"
        );
    }
    let listed = app
        .get("/api/v1/incidents?state=open", &manager)
        .await
        .text()
        .await
        .unwrap();
    assert!(!listed.contains(&code));
}

#[tokio::test]
async fn answers_are_checked_after_the_right_and_bad_ones_get_clear_errors() {
    let app = spawn_app().await;
    let manager = app.token("manager", "marketing").await;
    let viewer = app.token("viewer", "marketing").await;
    let (id, account) = incident_at(&app, &manager, "lockout", &[]).await;
    // No right: refused before the body is read, even a broken one.
    let res = app
        .post(
            &format!("/api/v1/incidents/{id}/answer"),
            &viewer,
            json!({"step": "\u{0}"}),
        )
        .await;
    assert_eq!(res.status(), 403);
    let bad = [
        (
            json!({"step": "device\u{0}left", "choice": "no"}),
            422,
            "invalid_key",
        ),
        (
            json!({"step": "x".repeat(70), "choice": "no"}),
            422,
            "invalid_key",
        ),
        (
            json!({"step": "device_left", "choice": "maybe"}),
            422,
            "unknown_choice",
        ),
        (
            json!({"step": "old_device", "choice": "no"}),
            409,
            "step_changed",
        ),
        (
            json!({"step": "device_left", "choice": "no", "note": "n".repeat(501)}),
            422,
            "justification_too_long",
        ),
        (
            json!({"step": "device_left", "choice": "no", "extra": 1}),
            400,
            "invalid_json",
        ),
    ];
    for (body, status, code) in bad {
        let res = app
            .post(
                &format!("/api/v1/incidents/{id}/answer"),
                &manager,
                body.clone(),
            )
            .await;
        let err = expect_error(res, status, code).await;
        assert!(
            !err.to_string().contains("device\u{0}left"),
            "no echo: {err}"
        );
    }
    let incident = expect_json(
        app.get(&format!("/api/v1/incidents/{id}"), &manager).await,
        200,
    )
    .await;
    assert_eq!(incident["step"]["id"], "device_left", "nothing moved");
    for (body, status, code) in [
        (
            json!({"account": account, "runbook": "flood"}),
            404,
            "runbook_not_found",
        ),
        (
            json!({"account": account, "runbook": "Lockout!"}),
            422,
            "invalid_key",
        ),
        (
            json!({"account": "nope", "runbook": "lockout"}),
            404,
            "account_not_found",
        ),
    ] {
        expect_error(
            app.post("/api/v1/incidents", &manager, body).await,
            status,
            code,
        )
        .await;
    }
    expect_error(
        app.get("/api/v1/incidents?state=closed", &manager).await,
        422,
        "invalid_state",
    )
    .await;
    expect_error(
        app.get("/api/v1/incidents/not-an-id", &manager).await,
        404,
        "incident_not_found",
    )
    .await;
    expect_error(
        app.post(
            &format!("/api/v1/incidents/{id}/resolve"),
            &manager,
            json!({"summary": ""}),
        )
        .await,
        400,
        "justification_required",
    )
    .await;
    let cancelled = app
        .post(
            &format!("/api/v1/incidents/{id}/cancel"),
            &manager,
            json!({"reason": "started by mistake"}),
        )
        .await;
    assert_eq!(expect_json(cancelled, 200).await["state"], "cancelled");
    expect_error(
        answer(&app, &manager, &id, "device_left", "no").await,
        409,
        "incident_closed",
    )
    .await;
    expect_error(
        app.post(
            &format!("/api/v1/incidents/{id}/resolve"),
            &manager,
            json!({"summary": "too late"}),
        )
        .await,
        409,
        "incident_closed",
    )
    .await;
    // An archived account takes no new incident.
    let res = app
        .request(
            reqwest::Method::DELETE,
            &format!("/api/v1/accounts/{account}"),
            Some(&manager),
            None,
        )
        .await;
    assert_eq!(res.status(), 200);
    expect_error(
        app.post(
            "/api/v1/incidents",
            &manager,
            json!({"account": account, "runbook": "lockout"}),
        )
        .await,
        423,
        "account_archived",
    )
    .await;
}

#[tokio::test]
async fn incidents_are_listed_by_state_and_account_for_those_who_may_read_them() {
    let app = spawn_app().await;
    let manager = app.token("manager", "marketing").await;
    let (open, account) = incident_at(&app, &manager, "lockout", &[]).await;
    let (closed, _) = incident_at(&app, &manager, "leak", &[]).await;
    expect_json(
        app.post(
            &format!("/api/v1/incidents/{closed}/resolve"),
            &manager,
            json!({"summary": "false alarm"}),
        )
        .await,
        200,
    )
    .await;
    let ids = |v: Value| -> Vec<String> {
        v["incidents"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["id"].as_str().unwrap().to_owned())
            .collect()
    };
    let listed = expect_json(app.get("/api/v1/incidents?state=open", &manager).await, 200).await;
    assert_eq!(ids(listed.clone()), vec![open.clone()]);
    assert_eq!(
        listed["incidents"][0]["handle"]
            .as_str()
            .map(|h| h.starts_with("@brand")),
        Some(true)
    );
    assert!(listed["incidents"][0].get("timeline").is_none());
    let by_account = expect_json(
        app.get(&format!("/api/v1/incidents?account={account}"), &manager)
            .await,
        200,
    )
    .await;
    assert_eq!(ids(by_account), vec![open]);
    let all = expect_json(
        app.get("/api/v1/incidents", &app.token("auditor", "*").await)
            .await,
        200,
    )
    .await;
    assert_eq!(ids(all).len(), 2);
    let elsewhere = expect_json(
        app.get("/api/v1/incidents", &app.token("operator", "sales").await)
            .await,
        200,
    )
    .await;
    assert!(ids(elsewhere).is_empty());
}

#[tokio::test]
async fn revoking_sessions_signs_out_those_who_used_the_accounts_secrets_but_not_the_caller() {
    let app = spawn_app().await;
    let admin = token_with(&app, &[("manager", "marketing"), ("security_admin", "*")]).await;
    let (id, account) = incident_at(
        &app,
        &admin,
        "leak",
        &[
            ("freeze", "already_frozen"),
            ("rotate", "open_tasks"),
            ("platform_sessions", "reviewed"),
        ],
    )
    .await;
    let (user, bystander) = (app.member("revealer").await, app.member("bystander").await);
    let db = app.core.store.db();
    for member in [&user, &bystander] {
        keyward::store::sessions::insert(
            db,
            &app.core.integrity,
            keyward::store::sessions::NewSession {
                id_hash: &format!("hash-{member}"),
                member_id: member,
                auth_time: chrono::Utc::now(),
                expires_at: chrono::Utc::now() + chrono::Duration::hours(1),
                ip: None,
                user_agent: None,
                idp_sid: None,
                client: "browser",
            },
        )
        .await
        .unwrap();
    }
    let tx = app.core.store.begin_write().await.unwrap();
    keyward::audit::append(
        &*tx,
        keyward::audit::Event::new(format!("member:{user}"), "totp.reveal")
            .target(format!("account:{account}")),
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let done = expect_json(
        answer(&app, &admin, &id, "keyward_sessions", "revoke").await,
        200,
    )
    .await;
    assert_eq!(done["result"]["members"], 1);
    assert_eq!(done["result"]["sessions"], 1);
    let db = app.core.store.db();
    let ig = &app.core.integrity;
    let left = |m: String| async move {
        keyward::store::sessions::find(db, ig, &format!("hash-{m}"))
            .await
            .unwrap()
    };
    assert!(
        left(user.clone()).await.is_none(),
        "the revealer is signed out"
    );
    assert!(
        left(bystander.clone()).await.is_some(),
        "others keep their sessions"
    );
    assert!(app
        .audit_rows()
        .await
        .iter()
        .any(|r| r.action == "session.revoke"
            && r.target.as_deref() == Some(&format!("member:{user}"))));
}

#[tokio::test]
async fn a_malformed_runbook_folder_stops_the_start_naming_the_file_and_step() {
    let dir = tempfile::tempdir().unwrap();
    let books = dir.path().join("runbooks");
    std::fs::create_dir(&books).unwrap();
    let shipped =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../policies/runbooks/lockout.yaml");
    let text = std::fs::read_to_string(shipped).unwrap();
    std::fs::write(
        books.join("lockout.yaml"),
        text.replacen("next: backup_result", "next: nowhere", 1),
    )
    .unwrap();
    let mut settings = test_settings(dir.path()).await;
    settings.incidents.runbooks_dir = Some(books.clone());
    let core = keyward::startup::build_core(&settings, true).await;
    let err = core.err().map(|e| format!("{e:#}")).unwrap_or_default();
    assert!(err.contains("lockout.yaml: step `try_backup_code`: choice `check_out`: next `nowhere` is not a step"), "{err}");
    // The CLI says the same, and exits 1.
    let out = crate::support::cli_for(&settings)
        .args(["runbook", "check", "--dir"])
        .arg(&books)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        said.contains("step `try_backup_code`")
            && said.contains("1 problem")
            && !said.contains("1 problems"),
        "{said}"
    );
    let shipped = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../policies/runbooks");
    let list = crate::support::cli_for(&settings)
        .args(["runbook", "list", "--dir"])
        .arg(&shipped)
        .output()
        .unwrap();
    let listed = String::from_utf8_lossy(&list.stdout);
    assert!(
        listed.contains("lockout") && listed.contains("2段階認証を通過できない"),
        "{listed}"
    );
    // A corrected folder is read instead of the built-in runbooks.
    std::fs::write(
        books.join("lockout.yaml"),
        std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../policies/runbooks/lockout.yaml"),
        )
        .unwrap()
        .replace("Locked out", "Locked out (ours)"),
    )
    .unwrap();
    let app = spawn_with(dir, settings).await;
    let token = app.token("operator", "marketing").await;
    let listed = expect_json(app.get("/api/v1/runbooks", &token).await, 200).await;
    assert_eq!(listed["runbooks"].as_array().unwrap().len(), 1);
    assert_eq!(listed["runbooks"][0]["title"]["en"], "Locked out (ours)");
}

#[tokio::test]
async fn an_old_answer_is_refused_when_the_runbook_comes_back_to_its_step() {
    let app = spawn_app().await;
    let operator = app.token("operator", "marketing").await;
    let (id, account) = incident_at(&app, &operator, "lockout", &TO_BACKUP).await;
    let seen = expect_json(
        answer(&app, &operator, &id, "try_backup_code", "check_out").await,
        200,
    )
    .await;
    let at = seen["answers"].as_i64().unwrap();
    assert_eq!(at, 4);
    // Someone reports code 1 rejected and takes code 2: the runbook is back at backup_result.
    expect_json(
        answer(&app, &operator, &id, "backup_result", "rejected").await,
        200,
    )
    .await;
    expect_json(
        answer(&app, &operator, &id, "try_backup_code", "check_out").await,
        200,
    )
    .await;
    // An answer given on the page of code 1 is refused; it does not mark code 2.
    let stale = app
        .post(
            &format!("/api/v1/incidents/{id}/answer"),
            &operator,
            json!({"step": "backup_result", "choice": "rejected", "answers": at}),
        )
        .await;
    expect_error(stale, 409, "step_changed").await;
    let status = expect_json(
        app.get(
            &format!("/api/v1/accounts/{account}/backup-codes"),
            &operator,
        )
        .await,
        200,
    )
    .await;
    assert_eq!(
        status["codes"][1]["state"], "checked_out",
        "code 2 is untouched"
    );
    let current = expect_json(
        app.get(&format!("/api/v1/incidents/{id}"), &operator).await,
        200,
    )
    .await;
    let fresh = app
        .post(
            &format!("/api/v1/incidents/{id}/answer"),
            &operator,
            json!({"step": "backup_result", "choice": "worked", "answers": current["answers"]}),
        )
        .await;
    assert_eq!(expect_json(fresh, 200).await["step"]["id"], "recovered");
}

#[tokio::test]
async fn only_the_holder_reports_a_code_in_an_incident_and_refusals_before_the_action_are_on_the_timeline(
) {
    let app = spawn_app().await;
    let operator = app.token("operator", "marketing").await;
    let manager = app.token("manager", "marketing").await;
    let (id, _) = incident_at(&app, &operator, "lockout", &TO_BACKUP).await;
    expect_json(
        answer(&app, &operator, &id, "try_backup_code", "check_out").await,
        200,
    )
    .await;
    // A manager is not the holder, and an incident never overrides silently.
    let res = answer(&app, &manager, &id, "backup_result", "worked").await;
    let err = expect_error(res, 403, "not_code_holder").await;
    assert!(!err.to_string().contains("override"), "{err}");
    // No escrow covers the team: asking for a release is refused with a clear code.
    let (other, _) = incident_at(
        &app,
        &manager,
        "lockout",
        &[
            ("device_left", "no"),
            ("old_device", "no"),
            ("try_totp", "no_seed"),
            ("try_backup_code", "none_left"),
        ],
    )
    .await;
    expect_error(
        answer(&app, &manager, &other, "break_glass", "open_release").await,
        409,
        "no_escrow",
    )
    .await;
    // Someone of another team is refused reading it; that stays in the audit trail only.
    let outsider = app.token("operator", "sales").await;
    assert_eq!(
        app.get(&format!("/api/v1/incidents/{id}"), &outsider)
            .await
            .status(),
        403
    );
    for (incident, error) in [(&id, "not_code_holder"), (&other, "no_escrow")] {
        let view = expect_json(
            app.get(&format!("/api/v1/incidents/{incident}"), &manager)
                .await,
            200,
        )
        .await;
        let timeline = view["timeline"].as_array().unwrap();
        assert!(timeline
            .iter()
            .all(|e| e["event"].as_str().unwrap().starts_with("incident.")));
        let last = timeline.last().unwrap();
        assert_eq!(last["event"], "incident.action");
        assert_eq!(last["result"]["error"], error);
        assert_ne!(last["outcome"], "success");
    }
    let view = expect_json(
        app.get(&format!("/api/v1/incidents/{id}"), &operator).await,
        200,
    )
    .await;
    assert_eq!(view["step"]["id"], "backup_result", "the incident stays");
    let done = expect_json(
        answer(&app, &operator, &id, "backup_result", "worked").await,
        200,
    )
    .await;
    assert_eq!(done["result"]["outcome"], "used");
}

#[tokio::test]
async fn a_code_checked_out_in_the_dashboard_is_shown_even_when_its_one_time_page_cannot_be_kept() {
    use crate::support::idp::{spawn_sso_app, Browser};
    let app = spawn_sso_app("").await;
    let manager = app.token("manager", "marketing").await;
    let (id, _) = incident_at(&app, &manager, "lockout", &TO_BACKUP).await;
    let browser = Browser::new();
    assert!(browser
        .sign_in(&app.base, "alice")
        .await
        .status()
        .is_redirection());
    let page = browser.page(&format!("{}/incidents/{id}", app.base)).await;
    assert!(
        page.contains("name=\"answers\" value=\"3\""),
        "the form carries the answer count"
    );
    use sea_orm::ConnectionTrait;
    app.core
        .store
        .db()
        .execute_unprepared("DROP TABLE page_result")
        .await
        .unwrap();
    let res = browser
        .submit(
            &app.base,
            &format!("/incidents/{id}/answer"),
            &page,
            &[
                ("step", "try_backup_code"),
                ("choice", "check_out"),
                ("answers", "3"),
            ],
        )
        .await;
    assert_eq!(
        res.status(),
        200,
        "the code is shown here, not lost behind a redirect"
    );
    let body = res.text().await.unwrap();
    assert!(
        body.contains(&format!("data-code=\"{}\"", codes()[0])),
        "the code is on the page"
    );
}

#[tokio::test]
async fn the_dashboard_warns_before_the_lock_out_and_keeps_a_release_key_in_the_browser() {
    use crate::support::idp::{spawn_sso_app, Browser};
    let app = spawn_sso_app("").await;
    escrow_for_marketing(&app).await;
    let operator = app.token("operator", "marketing").await;
    let (id, _) = incident_at(&app, &operator, "lockout", &TO_BACKUP).await;
    let budget = app.settings.limits.failed_attempt_budget;
    for _ in 1..budget {
        expect_json(
            answer(&app, &operator, &id, "try_backup_code", "check_out").await,
            200,
        )
        .await;
        expect_json(
            answer(&app, &operator, &id, "backup_result", "rejected").await,
            200,
        )
        .await;
    }
    let browser = Browser::new();
    assert!(browser
        .sign_in(&app.base, "alice")
        .await
        .status()
        .is_redirection());
    let url = format!("{}/incidents/{id}", app.base);
    let page = browser.page(&url).await;
    assert!(
        page.contains("data-testid=\"failed-attempts-warning\""),
        "the page warns"
    );
    assert!(page.contains(&format!("{} of {budget} codes were rejected", budget - 1)));
    expect_json(
        answer(&app, &operator, &id, "try_backup_code", "none_left").await,
        200,
    )
    .await;
    let page = browser.page(&url).await;
    let answers = (3 + 2 * (budget - 1) + 1).to_string();
    let res = browser
        .submit(
            &app.base,
            &format!("/incidents/{id}/answer"),
            &page,
            &[
                ("step", "break_glass"),
                ("choice", "open_release"),
                ("answers", &answers),
            ],
        )
        .await;
    assert_eq!(res.status(), 303);
    let cookie = res
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("kw_release_"))
        .map(str::to_owned)
        .expect("the browser keeps the release key");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("Path=/releases/"),
        "{cookie}"
    );
    let next = res
        .headers()
        .get("location")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    let shown = browser.page(&format!("{}{next}", app.base)).await;
    assert!(
        shown.contains("data-testid=\"incident-release-link\""),
        "a link to the release"
    );
    assert!(
        !shown.contains(cookie.split(';').next().unwrap().split('=').nth(1).unwrap()),
        "the key is not on the page"
    );
}

#[tokio::test]
async fn rotation_tasks_are_opened_once_per_kind_the_account_holds() {
    let app = spawn_app().await;
    let manager = app.token("manager", "marketing").await;
    let (first, account) = incident_at(&app, &manager, "leak", &[("freeze", "freeze")]).await;
    let opened = expect_json(
        answer(&app, &manager, &first, "rotate", "open_tasks").await,
        200,
    )
    .await;
    let kinds = |v: &Value, key: &str| -> Vec<String> {
        v["result"][key]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["kind"].as_str().unwrap().to_owned())
            .collect()
    };
    // A seed and backup codes are stored; no HOTP seed, no password.
    assert_eq!(kinds(&opened, "opened"), ["totp", "backup_codes"]);
    assert_eq!(kinds(&opened, "skipped"), ["hotp", "password"]);
    let second = start(&app, &manager, &account, "leak").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    expect_json(
        answer(&app, &manager, &second, "freeze", "already_frozen").await,
        200,
    )
    .await;
    let again = expect_json(
        answer(&app, &manager, &second, "rotate", "open_tasks").await,
        200,
    )
    .await;
    assert!(kinds(&again, "opened").is_empty(), "one open task per kind");
    assert_eq!(again["result"]["skipped"][0]["why"], "task_open");
    let tasks = expect_json(
        app.get(
            &format!("/api/v1/rotation-tasks?account={account}&reason=incident"),
            &manager,
        )
        .await,
        200,
    )
    .await;
    assert_eq!(tasks["tasks"].as_array().unwrap().len(), 2);
}
