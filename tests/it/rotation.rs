//! Rotation tasks beyond offboarding: overdue tasks escalate once to the `[[notify]]`
//! webhooks (signed, retried, once across replicas), and the `low_codes` task of backup codes
//! lives under the same model.

use crate::support::{expect_json, spawn_with, test_settings, TestApp};
use keyward::config::NotifySettings;
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Requests a receiver got: the head (request line and headers) and the body.
pub(crate) type Seen = Arc<Mutex<Vec<(String, Vec<u8>)>>>;

/// A webhook receiver on loopback: keeps each request (headers and body); answers 500 to the
/// first `fail_first` requests, then 200. With `hang_first`, the very first request is kept
/// and never answered (its connection stays open).
pub(crate) struct Receiver {
    pub(crate) url: String,
    pub(crate) seen: Seen,
}

impl Receiver {
    /// Waits up to `tries` × 100 ms until at least `n` requests came; returns what came.
    pub(crate) async fn wait_for(&self, n: usize, tries: usize) -> Vec<(String, Vec<u8>)> {
        for _ in 0..tries {
            if self.seen.lock().unwrap().len() >= n {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        self.seen.lock().unwrap().clone()
    }
}

/// A header's value in a request head (names compared without case).
pub(crate) fn header(head: &str, name: &str) -> String {
    head.lines()
        .find_map(|l| {
            let (key, value) = l.split_once(':')?;
            key.eq_ignore_ascii_case(name)
                .then(|| value.trim().to_owned())
        })
        .unwrap_or_else(|| panic!("no {name} header in {head}"))
}

/// The `rotation.escalate` events in the trail.
async fn escalations(app: &TestApp) -> usize {
    app.audit_rows()
        .await
        .into_iter()
        .filter(|r| r.action == "rotation.escalate")
        .count()
}

pub(crate) async fn receiver(fail_first: usize) -> Receiver {
    receiver_with(fail_first, false).await
}

async fn receiver_with(fail_first: usize, hang_first: bool) -> Receiver {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let seen: Seen = Arc::default();
    let store = seen.clone();
    tokio::spawn(async move {
        let mut served = 0;
        while let Ok((mut socket, _)) = listener.accept().await {
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            // Headers, then as much body as Content-Length says.
            let (head, body) = loop {
                let n = socket.read(&mut chunk).await.unwrap_or(0);
                if n == 0 {
                    break (String::new(), Vec::new());
                }
                buf.extend_from_slice(&chunk[..n]);
                if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                    let head = String::from_utf8_lossy(&buf[..end]).to_string();
                    let length: usize = head
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().parse().unwrap_or(0))
                        })
                        .unwrap_or(0);
                    let mut body = buf[end + 4..].to_vec();
                    while body.len() < length {
                        let n = socket.read(&mut chunk).await.unwrap_or(0);
                        if n == 0 {
                            break;
                        }
                        body.extend_from_slice(&chunk[..n]);
                    }
                    break (head, body);
                }
            };
            served += 1;
            if hang_first && served == 1 {
                store.lock().unwrap().push((head, body));
                tokio::spawn(async move {
                    let _open = socket;
                    std::future::pending::<()>().await;
                });
                continue;
            }
            let status = if served <= fail_first {
                "500 Internal Server Error"
            } else {
                "200 OK"
            };
            store.lock().unwrap().push((head, body));
            let _ = socket
                .write_all(
                    format!("HTTP/1.1 {status}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                        .as_bytes(),
                )
                .await;
        }
    });
    Receiver { url, seen }
}

pub(crate) async fn app_notifying(url: &str) -> TestApp {
    app_notifying_with(url, 10).await
}

async fn app_notifying_with(url: &str, timeout_seconds: u32) -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("notify.key");
    std::fs::write(&key, "a-test-key-of-thirty-two-bytes!!").unwrap();
    let mut settings = test_settings(dir.path()).await;
    settings.notify = vec![NotifySettings {
        url: url.to_owned(),
        secret_file: Some(key),
        secret_env: None,
        ca_file: None,
        timeout_seconds,
    }];
    spawn_with(dir, settings).await
}

/// An open task on a new account, due `hours` from now (negative: overdue).
async fn task_due(app: &TestApp, manager: &str, handle: &str, hours: i64) -> String {
    let account = app.account(manager, "marketing", handle).await;
    keyward::store::rotation::insert(
        app.core.store.db(),
        &app.core.integrity,
        keyward::store::rotation::NewTask {
            account_id: &account,
            kind: "password",
            reason: "departure",
            secret_id: None,
            generation_id: None,
            member_id: None,
            due_at: chrono::Utc::now() + chrono::Duration::hours(hours),
            opened_by: "test",
        },
    )
    .await
    .unwrap()
    .id
}

#[tokio::test]
async fn an_overdue_task_is_escalated_once_across_replicas_signed_and_retried() {
    let hook = receiver(1).await;
    let app = app_notifying(&hook.url).await;
    let manager = app.token("manager", "marketing").await;
    let overdue = task_due(&app, &manager, "@late", -1).await;
    task_due(&app, &manager, "@ontime", 5).await;

    let listed = expect_json(
        app.get("/api/v1/rotation-tasks?overdue=true", &manager)
            .await,
        200,
    )
    .await;
    let tasks = listed["tasks"].as_array().unwrap();
    assert_eq!(tasks.len(), 1);
    assert_eq!(
        (tasks[0]["id"].as_str(), &tasks[0]["overdue"]),
        (Some(overdue.as_str()), &json!(true))
    );

    // Two replicas run the job at the same moment: one escalation.
    let (a, b) = tokio::join!(app.core.escalate_overdue(), app.core.escalate_overdue());
    assert_eq!(a.unwrap() + b.unwrap(), 1);
    assert_eq!(app.core.escalate_overdue().await.unwrap(), 0, "never twice");
    assert_eq!(escalations(&app).await, 1);

    // The first delivery fails, the retry a second later gets through.
    let seen = hook.wait_for(2, 100).await;
    assert_eq!(seen.len(), 2, "one failed try and one retry");
    let (head, body) = &seen[1];
    let payload: Value = serde_json::from_slice(body).unwrap();
    assert_eq!(payload["event"], "rotation.overdue");
    assert_eq!(payload["task"]["id"], overdue.as_str());
    assert_eq!(payload["task"]["handle"], "@late");
    // Signed as the SIEM webhook is: HMAC-SHA256 over "timestamp.body".
    let timestamp = header(head, "x-keyward-timestamp");
    let expected = keyward::audit::forward::webhook_signature(
        b"a-test-key-of-thirty-two-bytes!!",
        &timestamp,
        body,
    );
    assert_eq!(
        header(head, "x-keyward-signature"),
        format!("sha256={expected}")
    );
}

#[tokio::test]
async fn an_escalation_whose_replica_dies_mid_delivery_is_delivered_by_another_once() {
    // The first delivery never gets an answer: its sender dies holding the lease.
    let hook = receiver_with(0, true).await;
    let app = app_notifying_with(&hook.url, 1).await;
    let manager = app.token("manager", "marketing").await;
    let task = task_due(&app, &manager, "@orphan", -1).await;

    // Replica A: the same settings and database, none of the background jobs.
    let a = keyward::startup::build_core(&app.settings, false)
        .await
        .unwrap();
    assert_eq!(a.escalate_overdue().await.unwrap(), 1);
    // A's notification is leased to A: the app's own outbox job leaves it alone.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(
        hook.seen.lock().unwrap().is_empty(),
        "nobody but A sends it"
    );
    // A starts the delivery and dies while waiting for the answer.
    let died = tokio::time::timeout(Duration::from_millis(500), a.deliver_notifications()).await;
    assert!(died.is_err(), "A was still waiting for the receiver");
    drop(a);
    assert_eq!(hook.seen.lock().unwrap().len(), 1);

    // The app's outbox job takes over once A's lease (two timeouts and a second) ends. The
    // receiver has the request before the job has its answer and records the delivery: wait
    // for the record, not just the request.
    hook.wait_for(2, 100).await;
    let mut rows = Vec::new();
    for _ in 0..50 {
        rows = keyward::store::notifications::of_task(app.core.store.db(), &task)
            .await
            .unwrap();
        if rows.iter().all(|r| r.delivered_at.is_some()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(rows.len(), 1, "one webhook, one notification");
    assert!(rows[0].delivered_at.is_some(), "{rows:?}");
    assert_eq!(
        rows[0].attempts, 0,
        "A's try never ended, so it never counted as failed"
    );
    // Delivered once: nothing more comes after the confirmed delivery.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let seen = hook.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 2, "A's unanswered try and the takeover");
    assert_eq!(seen[0].1, seen[1].1, "the same notification");
    assert_eq!(
        header(&seen[0].0, "x-keyward-delivery"),
        header(&seen[1].0, "x-keyward-delivery"),
        "a receiver can drop the repeat"
    );
    let payload: Value = serde_json::from_slice(&seen[1].1).unwrap();
    assert_eq!(payload["task"]["id"], task.as_str());
    assert_eq!(escalations(&app).await, 1);
}

#[tokio::test]
async fn running_low_on_backup_codes_opens_one_low_codes_task_that_the_next_generation_closes() {
    let hook = receiver(0).await;
    let app = app_notifying(&hook.url).await;
    let manager = app.token("manager", "marketing").await;
    let account = app.account(&manager, "marketing", "@low").await;
    let codes: Vec<String> = (1..=4).map(|i| format!("5555-{i:04}")).collect();
    let import = |codes: Vec<String>| {
        let (app, manager, account) = (&app, &manager, &account);
        async move {
            expect_json(
                app.post(
                    &format!("/api/v1/accounts/{account}/backup-codes"),
                    manager,
                    json!({"codes": codes, "issued_on": "2025-12-16"}),
                )
                .await,
                201,
            )
            .await
        }
    };
    import(codes).await;
    for _ in 0..2 {
        expect_json(
            app.post(
                &format!("/api/v1/accounts/{account}/backup-codes/checkout"),
                &manager,
                json!({"justification": "low test"}),
            )
            .await,
            200,
        )
        .await;
    }
    let open = expect_json(
        app.get(
            &format!("/api/v1/rotation-tasks?state=open&account={account}"),
            &manager,
        )
        .await,
        200,
    )
    .await;
    let tasks = open["tasks"].as_array().unwrap();
    assert_eq!(tasks.len(), 1, "{open}");
    assert_eq!(
        (tasks[0]["reason"].as_str(), tasks[0]["kind"].as_str()),
        (Some("low_codes"), Some("backup_codes"))
    );
    let by_reason = expect_json(
        app.get("/api/v1/rotation-tasks?reason=low_codes", &manager)
            .await,
        200,
    )
    .await;
    assert_eq!(by_reason["tasks"].as_array().unwrap().len(), 1);
    let fresh: Vec<String> = (1..=6).map(|i| format!("6666-{i:04}")).collect();
    let imported = import(fresh).await;
    let task = expect_json(
        app.get(
            &format!(
                "/api/v1/rotation-tasks/{}",
                tasks[0]["id"].as_str().unwrap()
            ),
            &manager,
        )
        .await,
        200,
    )
    .await;
    assert_eq!(task["state"], "done");
    assert_eq!(task["resulting_version"], imported["generation"]);
}

#[tokio::test]
async fn a_manager_opens_a_manual_task_once_and_storing_the_secret_closes_it() {
    let app = crate::support::spawn_app().await;
    let manager = app.token("manager", "marketing").await;
    let operator = app.token("operator", "marketing").await;
    let account = app.account(&manager, "marketing", "@manual").await;
    let body = json!({"account": account, "kind": "totp", "due_in_hours": 2});
    let opened = expect_json(
        app.post("/api/v1/rotation-tasks", &manager, body.clone())
            .await,
        201,
    )
    .await;
    assert_eq!(
        (opened["reason"].as_str(), opened["state"].as_str()),
        (Some("manual"), Some("open"))
    );
    let due = chrono::DateTime::parse_from_rfc3339(opened["due_at"].as_str().unwrap()).unwrap();
    assert!((due.with_timezone(&chrono::Utc) - chrono::Utc::now()).num_minutes() > 100);
    crate::support::expect_error(
        app.post("/api/v1/rotation-tasks", &manager, body).await,
        409,
        "task_exists",
    )
    .await;
    crate::support::expect_error(
        app.post(
            "/api/v1/rotation-tasks",
            &operator,
            json!({"account": account, "kind": "totp"}),
        )
        .await,
        403,
        "forbidden",
    )
    .await;
    crate::support::expect_error(
        app.post(
            "/api/v1/rotation-tasks",
            &manager,
            json!({"account": account, "kind": "seed"}),
        )
        .await,
        422,
        "invalid_kind",
    )
    .await;
    crate::support::expect_error(
        app.post(
            "/api/v1/rotation-tasks",
            &manager,
            json!({"account": account, "kind": "totp", "due_in_hours": 0}),
        )
        .await,
        422,
        "invalid_due",
    )
    .await;
    app.set_totp(&manager, &account, "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP")
        .await;
    let task = expect_json(
        app.get(
            &format!("/api/v1/rotation-tasks/{}", opened["id"].as_str().unwrap()),
            &manager,
        )
        .await,
        200,
    )
    .await;
    assert_eq!(task["state"], "done");
    assert_eq!(task["resulting_version"], 1);
}

#[tokio::test]
async fn each_release_state_change_is_told_to_the_notify_webhooks_without_a_share() {
    let hook = receiver(0).await;
    let app = app_notifying(&hook.url).await;
    let admin = app.token("security_admin", "*").await;
    let manager = app.token("manager", "marketing").await;
    app.account(&manager, "marketing", "@notified").await;
    let escrow = app.ceremony(&admin, "n", &["marketing"], 2, 2, 30).await.id;
    let release = expect_json(
        app.post(
            &format!("/api/v1/escrows/{escrow}/releases"),
            &manager,
            json!({"reason": "notify test"}),
        )
        .await,
        201,
    )
    .await;
    let id = release["id"].as_str().unwrap();
    expect_json(
        app.post(
            &format!("/api/v1/releases/{id}/veto"),
            &admin,
            json!({"justification": "false alarm"}),
        )
        .await,
        200,
    )
    .await;
    hook.wait_for(2, 50).await;
    let events: Vec<String> = hook
        .seen
        .lock()
        .unwrap()
        .iter()
        .map(|(_, body)| {
            serde_json::from_slice::<Value>(body).unwrap()["event"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert!(
        events.contains(&"release.requested".to_owned())
            && events.contains(&"release.vetoed".to_owned()),
        "{events:?}"
    );
    assert!(hook
        .seen
        .lock()
        .unwrap()
        .iter()
        .all(|(_, body)| !String::from_utf8_lossy(body).contains("kwshare1")));
}

#[tokio::test]
async fn an_incident_step_tells_the_notify_webhooks_with_ids_only() {
    let hook = receiver(0).await;
    let app = app_notifying(&hook.url).await;
    let manager = app.token("manager", "marketing").await;
    let account = app.account(&manager, "marketing", "@leaky").await;
    let incident = expect_json(
        app.post(
            "/api/v1/incidents",
            &manager,
            json!({"account": account, "runbook": "leak"}),
        )
        .await,
        201,
    )
    .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    for (step, choice) in [
        ("freeze", "freeze"),
        ("rotate", "open_tasks"),
        ("platform_sessions", "reviewed"),
        ("keyward_sessions", "not_needed"),
        ("leak_path", "unknown"),
        ("tell_security", "notify"),
    ] {
        let res = app
            .post(
                &format!("/api/v1/incidents/{incident}/answer"),
                &manager,
                json!({"step": step, "choice": choice}),
            )
            .await;
        let body = expect_json(res, 200).await;
        if choice == "notify" {
            assert_eq!(body["result"]["hooks"], 1);
        }
    }
    let seen = hook.wait_for(1, 50).await;
    let told: Vec<Value> = seen
        .iter()
        .map(|(_, body)| serde_json::from_slice(body).unwrap())
        .filter(|v: &Value| v["event"] == "incident.notify")
        .collect();
    assert_eq!(told.len(), 1, "{seen:?}");
    assert_eq!(told[0]["incident"]["id"], incident.as_str());
    assert_eq!(told[0]["incident"]["handle"], "@leaky");
    assert_eq!(told[0]["incident"]["runbook"], "leak");
    let (head, _) = &seen[0];
    assert!(
        head.to_ascii_lowercase()
            .contains("x-keyward-signature: sha256="),
        "{head}"
    );
}
