//! Group commit: concurrent audited writes share one transaction and one durable commit,
//! without weakening "no audit, no action".

use crate::support::{spawn_process_with, spawn_with, test_settings, TestApp};
use futures_util::future::join_all;
use keyward::audit::Event;
use keyward::store::Store;
use sea_orm::ConnectionTrait;
use serde_json::json;
use std::collections::BTreeSet;
use std::time::Duration;

/// An app with group commit on (PostgreSQL has it off by default; SQLite always on), every
/// write through the connection pool: SQLite's writer thread has tests of its own
/// (`writer.rs`).
async fn spawn_app() -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = test_settings(dir.path()).await;
    settings.database.group_commit = Some(true);
    settings.database.writer_thread = Some(false);
    spawn_with(dir, settings).await
}

/// Batches committed so far.
fn batches(store: &Store) -> usize {
    store
        .group_stats()
        .batches
        .load(std::sync::atomic::Ordering::Relaxed)
}

/// Waits until `n` write transactions are queued for their turn.
async fn until_waiting(store: &Store, n: usize) {
    for _ in 0..400 {
        if store.writers_waiting() >= n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("{n} writers never queued ({} did)", store.writers_waiting());
}

fn event(tag: &str) -> Event {
    Event::new("test:group-commit", "test.unit").details(json!({ "unit": tag }))
}

fn units_in(rows: &[keyward::store::audit::AuditRow]) -> BTreeSet<String> {
    rows.iter()
        .filter(|r| r.action == "test.unit")
        .map(|r| serde_json::from_str::<serde_json::Value>(&r.details).unwrap()["unit"].to_string())
        .collect()
}

#[tokio::test]
async fn a_unit_that_fails_mid_batch_rolls_back_alone_and_the_others_commit_in_one_batch() {
    let app = spawn_app().await;
    let store = app.core.store.clone();
    let before = batches(&store);

    // A holds the turn, so B and C queue behind it and join its batch.
    let a = store.begin_write().await.unwrap();
    keyward::audit::append(&*a, event("a")).await.unwrap();
    let failing = {
        let store = store.clone();
        tokio::spawn(async move {
            let b = store.begin_write().await.unwrap();
            keyward::audit::append(&*b, event("b")).await.unwrap();
            // A statement that fails: on PostgreSQL it aborts everything up to the last
            // savepoint, which must be B's own.
            let err = b.execute_unprepared("SELECT * FROM no_such_table").await;
            assert!(err.is_err());
            drop(b); // no commit: B rolls back
        })
    };
    until_waiting(&store, 1).await;
    let succeeding = {
        let store = store.clone();
        tokio::spawn(async move {
            let c = store.begin_write().await.unwrap();
            keyward::audit::append(&*c, event("c")).await.unwrap();
            c.commit().await
        })
    };
    until_waiting(&store, 2).await;
    a.commit().await.unwrap();
    failing.await.unwrap();
    succeeding.await.unwrap().unwrap();

    let rows = app.audit_rows().await;
    assert_eq!(
        units_in(&rows),
        BTreeSet::from(["\"a\"".to_owned(), "\"c\"".to_owned()])
    );
    let after = batches(&store);
    assert_eq!(after - before, 1, "A and C were committed by one commit");
    let report = keyward::audit::verify(store.db(), |_| {}).await.unwrap();
    assert!(
        report.ok && report.checked == rows.len() as i64,
        "{report:?}"
    );
}

/// Makes the open batch's commit fail: a deferred foreign key is only checked at COMMIT
/// (on SQLite and PostgreSQL alike).
async fn poison_commit(tx: &keyward::store::WriteTx) {
    for sql in [
        "CREATE TABLE gc_parent (id INTEGER PRIMARY KEY)",
        "CREATE TABLE gc_child (p INTEGER REFERENCES gc_parent (id) DEFERRABLE INITIALLY DEFERRED)",
        "INSERT INTO gc_child (p) VALUES (1)",
    ] {
        tx.execute_unprepared(sql).await.unwrap();
    }
}

#[tokio::test]
async fn a_failed_group_commit_fails_every_request_in_the_batch_and_returns_no_code() {
    let app = spawn_app().await;
    let manager = app.token("manager", "marketing").await;
    let id = app.account(&manager, "marketing", "@batch").await;
    app.set_totp(&manager, &id, "JBSWY3DPEHPK3PXP").await;
    let store = app.core.store.clone();
    let events_before = app.audit_rows().await.len();

    let poisoned = store.begin_write().await.unwrap();
    poison_commit(&poisoned).await;
    let reveals: Vec<_> = (0..5)
        .map(|i| {
            let (client, base, token) = (app.client.clone(), app.base.clone(), manager.clone());
            let path = format!("/api/v1/accounts/{id}/totp/code");
            tokio::spawn(async move {
                client
                    .post(format!("{base}{path}"))
                    .bearer_auth(token)
                    .json(&json!({ "justification": format!("batch {i}") }))
                    .send()
                    .await
                    .unwrap()
            })
        })
        .collect();
    until_waiting(&store, 5).await;
    let committed = poisoned.commit().await;
    assert!(committed.is_err(), "the deferred check fails the commit");
    for reveal in join_all(reveals).await {
        let res = reveal.unwrap();
        assert_eq!(res.status(), 503);
        let body: serde_json::Value = res.json().await.unwrap();
        assert_eq!(body["error"]["code"], "storage_unavailable");
        assert!(body.get("code").is_none(), "no code leaves a failed commit");
    }
    let rows = app.audit_rows().await;
    assert_eq!(
        rows.len(),
        events_before,
        "nothing of the batch was written"
    );
    assert_eq!(
        store
            .group_stats()
            .failed_batches
            .load(std::sync::atomic::Ordering::Relaxed),
        1
    );

    // The next batch is a fresh one: a reveal now succeeds.
    let res = app.totp_code(&manager, &id, json!({})).await;
    assert_eq!(res.status(), 200);
    let report = keyward::audit::verify(store.db(), |_| {}).await.unwrap();
    assert!(report.ok, "{report:?}");
}

#[tokio::test]
async fn a_lone_write_does_not_wait_for_company() {
    let app = spawn_app().await;
    let store = app.core.store.clone();
    // One unit at a time, nobody else: each commit returns on its own batch, with no one
    // to wait for (a batch that waited for company would never be committed here).
    let before = batches(&store);
    for i in 0..20 {
        let tx = store.begin_write().await.unwrap();
        keyward::audit::append(&*tx, event(&i.to_string()))
            .await
            .unwrap();
        tx.commit().await.unwrap();
    }
    let after = batches(&store);
    assert_eq!(after - before, 20, "each lone write was its own batch");
    assert_eq!(units_in(&app.audit_rows().await).len(), 20);
}

/// Acknowledged reveals, by the request id the client gave.
async fn reveal_until_killed(
    base: String,
    token: String,
    path: String,
    worker: usize,
) -> Vec<String> {
    let client = reqwest::Client::new();
    let mut acknowledged = Vec::new();
    for n in 0.. {
        let request_id = format!("kill9-{worker}-{n}");
        let res = client
            .post(format!("{base}{path}"))
            .bearer_auth(&token)
            .header("x-request-id", &request_id)
            .json(&json!({}))
            .send()
            .await;
        match res {
            Ok(res) if res.status() == 200 => {
                // Read the whole answer: a code is what the user was given.
                let body: serde_json::Value = res.json().await.unwrap();
                assert!(body["code"].is_string());
                acknowledged.push(request_id);
            }
            _ => return acknowledged,
        }
    }
    unreachable!()
}

#[tokio::test]
async fn kill_9_under_load_loses_no_acknowledged_event_and_leaves_no_gap() {
    let app: TestApp = spawn_app().await;
    let manager = app.token("manager", "marketing").await;
    let id = app.account(&manager, "marketing", "@crash").await;
    app.set_totp(&manager, &id, "JBSWY3DPEHPK3PXP").await;
    let mut server = spawn_process_with(
        &app.settings,
        &[("KEYWARD_DATABASE__GROUP_COMMIT", "true".to_owned())],
    )
    .await;
    let path = format!("/api/v1/accounts/{id}/totp/code");
    let workers: Vec<_> = (0..16)
        .map(|w| {
            tokio::spawn(reveal_until_killed(
                server.base.clone(),
                manager.clone(),
                path.clone(),
                w,
            ))
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    server.kill9();
    let mut acknowledged = BTreeSet::new();
    for worker in join_all(workers).await {
        acknowledged.extend(worker.unwrap());
    }
    assert!(
        acknowledged.len() > 16,
        "load ran before the kill: {}",
        acknowledged.len()
    );

    let rows = app.audit_rows().await;
    let recorded: BTreeSet<String> = rows
        .iter()
        .filter(|r| r.action == "totp.reveal")
        .filter_map(|r| r.request_id.clone())
        .collect();
    let lost: Vec<_> = acknowledged.difference(&recorded).collect();
    assert!(lost.is_empty(), "acknowledged but not recorded: {lost:?}");
    let seqs: Vec<i64> = rows.iter().map(|r| r.seq).collect();
    assert_eq!(seqs, (1..=rows.len() as i64).collect::<Vec<_>>(), "no gap");
    let report = keyward::audit::verify(app.core.store.db(), |_| {})
        .await
        .unwrap();
    assert!(
        report.ok && report.checked == rows.len() as i64,
        "{report:?}"
    );
}

#[tokio::test]
async fn a_batch_whose_only_write_failed_does_not_keep_the_write_lock() {
    let app = spawn_app().await;
    let tx = app.core.store.begin_write().await.unwrap();
    keyward::audit::append(&*tx, event("refused"))
        .await
        .unwrap();
    drop(tx); // a refused request: no commit, nobody queued
              // Another process's store must be able to write at once: an empty batch left open
              // would hold SQLite's write lock (or PostgreSQL's chain lock) until this one wrote again.
    let other = Store::connect(&app.settings.database.url, 2)
        .await
        .unwrap()
        .with_group_commit(true);
    let write = async {
        let tx = other.begin_write().await?;
        keyward::audit::append(&*tx, event("other")).await?;
        tx.commit().await
    };
    tokio::time::timeout(Duration::from_secs(5), write)
        .await
        .expect("the other store writes within 5 s")
        .unwrap();
    assert_eq!(
        units_in(&app.audit_rows().await),
        BTreeSet::from(["\"other\"".to_owned()])
    );
}

#[tokio::test]
async fn writes_cancelled_at_any_point_never_lose_an_acknowledged_one() {
    let app = spawn_app().await;
    let store = app.core.store.clone();
    let acked: std::sync::Arc<std::sync::Mutex<Vec<String>>> = Default::default();
    let mut tasks = Vec::new();
    for i in 0..200u64 {
        let (store, acked) = (store.clone(), acked.clone());
        let task = tokio::spawn(async move {
            let tag = i.to_string();
            let tx = store.begin_write().await.unwrap();
            keyward::audit::append(&*tx, event(&tag)).await.unwrap();
            if tx.commit().await.is_ok() {
                acked.lock().unwrap().push(format!("\"{tag}\""));
            }
        });
        // Every other write is cancelled after a short, varying delay: while queued, while
        // opening its savepoint, appending, releasing, or waiting for the commit.
        if i % 2 == 0 {
            let delay = Duration::from_micros(i * 7919 % 3000);
            tasks.push(tokio::spawn(async move {
                tokio::time::sleep(delay).await;
                task.abort();
            }));
        } else {
            tasks.push(tokio::spawn(async move {
                let _ = task.await;
            }));
        }
    }
    join_all(tasks).await;
    // Let cancelled writes that were already in a batch be committed by it.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let stored = units_in(&app.audit_rows().await);
    let acked: BTreeSet<String> = acked.lock().unwrap().iter().cloned().collect();
    assert!(
        acked.len() >= 100,
        "the uncancelled writes were acknowledged: {}",
        acked.len()
    );
    let lost: Vec<_> = acked.difference(&stored).collect();
    assert!(lost.is_empty(), "acknowledged but not stored: {lost:?}");
    let report = keyward::audit::verify(store.db(), |_| {}).await.unwrap();
    assert!(report.ok, "{report:?}");
}
