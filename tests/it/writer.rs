//! The writer threads (`store::lite` on SQLite, `store::pg_writer` on PostgreSQL): a unit of
//! work handed over once, run whole in a savepoint of the writer's batch, answered once after
//! the batch's durable commit. The same tests run on both databases.

use crate::support::{
    backend, expect_json, spawn_app, spawn_process_with, spawn_with, test_settings, TestApp,
};
use futures_util::future::join_all;
use keyward::audit::Event;
use keyward::store::{Store, WriteTx};
use sea_orm::{ConnectionTrait, DbErr, EntityTrait};
use serde_json::json;
use std::collections::BTreeSet;
use std::time::Duration;

fn event(tag: &str) -> Event {
    Event::new("test:writer", "test.unit").details(json!({ "unit": tag }))
}

/// The `unit` tags of the test events in the trail.
async fn units(app: &TestApp) -> BTreeSet<String> {
    app.audit_rows()
        .await
        .iter()
        .filter(|r| r.action == "test.unit")
        .map(|r| serde_json::from_str::<serde_json::Value>(&r.details).unwrap()["unit"].to_string())
        .collect()
}

/// Waits until `n` writes are queued or running.
async fn until_pending(store: &Store, n: usize) {
    for _ in 0..500 {
        if store.writers_waiting() >= n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("{n} writes never queued ({} did)", store.writers_waiting());
}

/// A unit that appends `tag`'s event; `fail` makes it give back an error after writing.
async fn append_unit(store: &Store, tag: &'static str, fail: bool) -> Result<i64, DbErr> {
    store
        .unit(move |tx: WriteTx| async move {
            let seq = keyward::audit::append(&*tx, event(tag)).await?;
            if fail {
                return Err(DbErr::Custom("the unit gives up".to_owned()));
            }
            Ok((tx, seq))
        })
        .await
}

/// A unit that holds the writer until `n` writes are queued or running (itself included):
/// the units queued behind it form the next batch together. Returns once it runs on the
/// writer (so nothing queued after it can join its own batch).
async fn hold_writer_until(store: &Store, n: usize) -> tokio::task::JoinHandle<Result<(), DbErr>> {
    let waiting = store.clone();
    hold_writer(store, async move { until_pending(&waiting, n).await }).await
}

/// A unit that holds the writer until `wait` ends. Returns once it runs on the writer.
async fn hold_writer(
    store: &Store,
    wait: impl std::future::Future<Output = ()> + Send + 'static,
) -> tokio::task::JoinHandle<Result<(), DbErr>> {
    let running = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let handle = {
        let (store, running) = (store.clone(), running.clone());
        tokio::spawn(async move {
            store
                .unit(move |tx: WriteTx| async move {
                    running.store(true, std::sync::atomic::Ordering::SeqCst);
                    wait.await;
                    Ok::<_, DbErr>((tx, ()))
                })
                .await
        })
    };
    for _ in 0..500 {
        if running.load(std::sync::atomic::Ordering::SeqCst) {
            return handle;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("the blocker never ran");
}

/// [`append_unit`] in a task of its own.
fn spawn_append(
    store: &Store,
    tag: &'static str,
    fail: bool,
) -> tokio::task::JoinHandle<Result<i64, DbErr>> {
    let store = store.clone();
    tokio::spawn(async move { append_unit(&store, tag, fail).await })
}

/// POSTs to `path` with `token` and a justification, in a task of its own.
fn spawn_post(
    app: &TestApp,
    token: &str,
    path: String,
) -> tokio::task::JoinHandle<reqwest::Response> {
    let (client, base, token) = (app.client.clone(), app.base.clone(), token.to_owned());
    tokio::spawn(async move {
        client
            .post(format!("{base}{path}"))
            .bearer_auth(token)
            .json(&json!({ "justification": "writer test" }))
            .send()
            .await
            .unwrap()
    })
}

#[tokio::test]
async fn units_run_on_a_writer_thread_on_both_databases_unless_it_is_turned_off() {
    let app = spawn_app().await;
    assert!(app.core.store.has_writer_thread());
    // Off by configuration, units go through the pool as before.
    let dir = tempfile::tempdir().unwrap();
    let mut settings = test_settings(dir.path()).await;
    settings.database.writer_thread = Some(false);
    let pooled = spawn_with(dir, settings).await;
    assert!(!pooled.core.store.has_writer_thread());
}

#[tokio::test]
async fn a_unit_that_fails_or_panics_rolls_back_alone_and_its_batch_commits_the_rest() {
    let app = spawn_app().await;
    let store = app.core.store.clone();
    // A blocker holds the writer until the four units below are queued behind it, so they
    // form the next batch together.
    let blocker = hold_writer_until(&store, 5).await;
    let kept = spawn_append(&store, "kept", false);
    until_pending(&store, 2).await;
    let failed = spawn_append(&store, "failed", true);
    until_pending(&store, 3).await;
    let panicked = tokio::spawn({
        let store = store.clone();
        async move {
            store
                .unit(move |tx: WriteTx| async move {
                    keyward::audit::append(&*tx, event("panicked")).await?;
                    // A bug in a unit: the writer must survive it.
                    let none: Option<()> = None;
                    #[allow(clippy::unnecessary_literal_unwrap)]
                    none.unwrap();
                    Ok::<_, DbErr>((tx, ()))
                })
                .await
        }
    });
    until_pending(&store, 4).await;
    // After the two that rolled back, in the same batch: its event follows "kept" in the
    // chain (the head the batch knows went back with each rollback).
    let kept_after = spawn_append(&store, "kept-after", false);
    blocker.await.unwrap().unwrap();
    let kept_seq = kept.await.unwrap().unwrap();
    assert!(failed.await.unwrap().is_err());
    assert!(
        panicked.await.unwrap().is_err(),
        "a panic is the unit's error"
    );
    assert_eq!(kept_after.await.unwrap().unwrap(), kept_seq + 1);
    let tags = units(&app).await;
    assert!(
        tags.contains("\"kept\"")
            && tags.contains("\"kept-after\"")
            && !tags.contains("\"failed\"")
            && !tags.contains("\"panicked\""),
        "{tags:?}"
    );
    // The writer still serves, and the chain is whole.
    append_unit(&store, "after", false).await.unwrap();
    let report = keyward::audit::verify(store.db(), |_| {}).await.unwrap();
    assert!(report.ok, "{report:?}");
}

/// Makes the batch's commit fail: a deferred foreign key is only checked at COMMIT.
async fn poison_commit(tx: &WriteTx) -> Result<(), DbErr> {
    for sql in [
        "CREATE TABLE IF NOT EXISTS wr_parent (id INTEGER PRIMARY KEY)",
        "CREATE TABLE IF NOT EXISTS wr_child (p INTEGER REFERENCES wr_parent (id) DEFERRABLE INITIALLY DEFERRED)",
        "INSERT INTO wr_child (p) VALUES (1)",
    ] {
        tx.execute_unprepared(sql).await?;
    }
    Ok(())
}

#[tokio::test]
async fn a_failed_batch_commit_on_the_writer_fails_every_reveal_in_it_and_returns_no_code() {
    let app = spawn_app().await;
    let manager = app.token("manager", "marketing").await;
    let id = app.account(&manager, "marketing", "@poisoned").await;
    app.set_totp(&manager, &id, "JBSWY3DPEHPK3PXP").await;
    let store = app.core.store.clone();
    let events_before = app.audit_rows().await.len();
    let failed_before = store
        .group_stats()
        .failed_batches
        .load(std::sync::atomic::Ordering::Relaxed);

    // The blocker holds the writer until the poison and five reveals are queued: they make
    // the next batch, whose commit the poison fails.
    let blocker = hold_writer_until(&store, 7).await;
    let poison = {
        let store = store.clone();
        tokio::spawn(async move {
            store
                .unit(|tx: WriteTx| async move {
                    poison_commit(&tx).await?;
                    Ok::<_, DbErr>((tx, ()))
                })
                .await
        })
    };
    until_pending(&store, 2).await;
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
    blocker.await.unwrap().unwrap();
    assert!(
        poison.await.unwrap().is_err(),
        "the deferred check fails the commit"
    );
    for reveal in join_all(reveals).await {
        let res = reveal.unwrap();
        assert_eq!(res.status(), 503);
        let body: serde_json::Value = res.json().await.unwrap();
        assert_eq!(body["error"]["code"], "storage_unavailable");
        assert!(body.get("code").is_none(), "no code leaves a failed commit");
    }
    assert_eq!(
        app.audit_rows().await.len(),
        events_before,
        "nothing of the batch was written"
    );
    assert_eq!(
        store
            .group_stats()
            .failed_batches
            .load(std::sync::atomic::Ordering::Relaxed),
        failed_before + 1
    );
    let res = app.totp_code(&manager, &id, json!({})).await;
    assert_eq!(res.status(), 200, "the next batch is a fresh one");
    let report = keyward::audit::verify(store.db(), |_| {}).await.unwrap();
    assert!(report.ok, "{report:?}");
}

/// Every stored column of a table as text, in row order: what either path wrote, byte for
/// byte as SQLite holds it.
async fn stored_text(store: &Store, table: &str, order: &str) -> Vec<String> {
    let rows = store
        .db()
        .query_all(sea_orm::Statement::from_string(
            store.backend(),
            format!("SELECT * FROM {table} ORDER BY {order}"),
        ))
        .await
        .unwrap();
    rows.iter()
        .map(|r| format!("{:?}", sea_orm::from_query_result_to_proxy_row(r)))
        .collect()
}

#[tokio::test]
async fn the_writer_and_the_pool_write_the_same_text_and_read_the_same_rows() {
    if backend() != "sqlite" {
        return; // one path on PostgreSQL
    }
    let app = spawn_app().await;
    let manager = app.token("manager", "marketing").await;
    let id = app.account(&manager, "marketing", "@same").await;
    app.set_totp(&manager, &id, "JBSWY3DPEHPK3PXP").await;
    let codes: Vec<String> = (0..6)
        .map(|i| format!("{:04}-{:04}", 1000 + i, 2000 + i))
        .collect();
    app.backup_codes(&manager, &id, &codes).await;
    let writer = app.core.store.clone();
    let pool = Store::connect(&app.settings.database.url, 2)
        .await
        .unwrap()
        .without_writer_thread();
    assert!(writer.has_writer_thread());

    // The same unit through each path: a rate counter, the current seed, an audit event.
    async fn same_unit(
        store: &Store,
        tag: &'static str,
    ) -> (Vec<i64>, keyward::store::entities::secret::Model) {
        let account = {
            let rows = keyward::store::entities::secret::Entity::find()
                .all(store.db())
                .await
                .unwrap();
            rows[0].account_id.clone()
        };
        store
            .unit(move |tx: WriteTx| async move {
                let hits = keyward::store::limits::add_many(
                    &*tx,
                    &[(&format!("same:{tag}"), 60), ("same:shared", 60)],
                    1,
                )
                .await?;
                let row = keyward::store::secrets::current(&*tx, &account, "totp")
                    .await?
                    .unwrap();
                keyward::audit::append(&*tx, event(tag)).await?;
                Ok::<_, DbErr>((tx, (hits, row)))
            })
            .await
            .unwrap()
    }
    let (hits_writer, row_writer) = same_unit(&writer, "writer").await;
    let (hits_pool, row_pool) = same_unit(&pool, "pool").await;
    assert_eq!((hits_writer, hits_pool), (vec![1, 1], vec![1, 2]));
    assert_eq!(row_writer, row_pool, "the same row, read by each path");

    // The events each path wrote: the same columns in the same stored forms (a time is
    // RFC 3339 text either way, so the two sort and compare alike).
    let events = stored_text(&writer, "audit_event", "seq").await;
    let (w, p) = (&events[events.len() - 2], &events[events.len() - 1]);
    let shape = |row: &str| {
        row.split(", ")
            .map(|field| field.split(':').next().unwrap_or_default().to_owned())
            .collect::<Vec<_>>()
    };
    assert_eq!(shape(w), shape(p), "{w}\n{p}");
    let at = |store: &Store, seq: i64| {
        let store = store.clone();
        async move {
            let row = store
                .db()
                .query_one(sea_orm::Statement::from_string(
                    store.backend(),
                    format!("SELECT at, typeof(at) AS t FROM audit_event WHERE seq = {seq}"),
                ))
                .await
                .unwrap()
                .unwrap();
            let at: String = row.try_get("", "at").unwrap();
            let kind: String = row.try_get("", "t").unwrap();
            (at, kind)
        }
    };
    let rows = app.audit_rows().await;
    let n = rows.len() as i64;
    let (at_writer, kind_writer) = at(&writer, n - 1).await;
    let (at_pool, kind_pool) = at(&pool, n).await;
    assert_eq!((kind_writer.as_str(), kind_pool.as_str()), ("text", "text"));
    for at in [&at_writer, &at_pool] {
        assert!(
            chrono::DateTime::parse_from_rfc3339(at).is_ok() && at.ends_with("+00:00"),
            "{at}"
        );
    }
    // Each path reads what the other wrote.
    let read_by_writer = writer.unit(|tx: WriteTx| async move {
        let rows = keyward::store::entities::audit_event::Entity::find()
            .all(&*tx)
            .await?;
        Ok::<_, DbErr>((tx, rows))
    });
    let by_writer = read_by_writer.await.unwrap();
    let by_pool = keyward::store::entities::audit_event::Entity::find()
        .all(pool.db())
        .await
        .unwrap();
    assert_eq!(by_writer, by_pool);
    let report = keyward::audit::verify(pool.db(), |_| {}).await.unwrap();
    assert!(report.ok && report.checked == n, "{report:?}");

    // Check-outs on the writer hand out the next code in order, each once.
    let mut positions = Vec::new();
    for _ in 0..3 {
        let out = expect_json(
            app.post(
                &format!("/api/v1/accounts/{id}/backup-codes/checkout"),
                &manager,
                json!({ "justification": "same" }),
            )
            .await,
            200,
        )
        .await;
        positions.push(out["position"].as_u64().unwrap());
    }
    assert_eq!(positions, vec![1, 2, 3]);
}

/// Acknowledged reveals and check-outs by request id, and the positions handed out.
async fn work_until_killed(
    base: String,
    token: String,
    account: String,
    worker: usize,
) -> (Vec<String>, Vec<(String, u64)>) {
    let client = reqwest::Client::new();
    let (mut reveals, mut checkouts) = (Vec::new(), Vec::new());
    for n in 0.. {
        let request_id = format!("w{worker}-{n}");
        let checkout = worker % 2 == 1;
        let path = if checkout {
            format!("{base}/api/v1/accounts/{account}/backup-codes/checkout")
        } else {
            format!("{base}/api/v1/accounts/{account}/totp/code")
        };
        let res = client
            .post(path)
            .bearer_auth(&token)
            .header("x-request-id", &request_id)
            .json(&json!({ "justification": "kill -9" }))
            .send()
            .await;
        let Ok(res) = res else { break };
        if res.status() != 200 {
            break;
        }
        let Ok(body) = res.json::<serde_json::Value>().await else {
            break;
        };
        if checkout {
            checkouts.push((request_id, body["position"].as_u64().unwrap()));
        } else {
            assert!(body["code"].is_string());
            reveals.push(request_id);
        }
    }
    (reveals, checkouts)
}

#[tokio::test]
async fn kill_9_under_reveals_and_check_outs_loses_nothing_acknowledged_and_hands_no_code_out_twice(
) {
    let app = spawn_app().await;
    let manager = app.token("manager", "marketing").await;
    let id = app.account(&manager, "marketing", "@crash").await;
    app.set_totp(&manager, &id, "JBSWY3DPEHPK3PXP").await;
    let codes: Vec<String> = (0..50)
        .map(|i| format!("{:05}-{:05}", 10000 + i, 20000 + i))
        .collect();
    app.backup_codes(&manager, &id, &codes).await;
    let mut server = spawn_process_with(&app.settings, &[]).await;
    let workers: Vec<_> = (0..12)
        .map(|w| {
            tokio::spawn(work_until_killed(
                server.base.clone(),
                manager.clone(),
                id.clone(),
                w,
            ))
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(1200)).await;
    server.kill9();
    let (mut reveals, mut checkouts) = (BTreeSet::new(), Vec::new());
    for worker in join_all(workers).await {
        let (r, c) = worker.unwrap();
        reveals.extend(r);
        checkouts.extend(c);
    }
    assert!(
        reveals.len() > 6 && checkouts.len() > 6,
        "load ran: {} {}",
        reveals.len(),
        checkouts.len()
    );

    let rows = app.audit_rows().await;
    let recorded = |action: &str| -> BTreeSet<String> {
        rows.iter()
            .filter(|r| r.action == action && r.outcome == "success")
            .filter_map(|r| r.request_id.clone())
            .collect()
    };
    let revealed = recorded("totp.reveal");
    let lost: Vec<_> = reveals.difference(&revealed).collect();
    assert!(
        lost.is_empty(),
        "reveals acknowledged but not recorded: {lost:?}"
    );
    let checked_out = recorded("backup.checkout");
    let lost: Vec<_> = checkouts
        .iter()
        .filter(|(r, _)| !checked_out.contains(r))
        .collect();
    assert!(
        lost.is_empty(),
        "check-outs acknowledged but not recorded: {lost:?}"
    );
    // No position was handed out twice, and the trail names each once.
    let positions: BTreeSet<u64> = checkouts.iter().map(|(_, p)| *p).collect();
    assert_eq!(
        positions.len(),
        checkouts.len(),
        "a code was handed out twice"
    );
    let in_trail: Vec<u64> = rows
        .iter()
        .filter(|r| r.action == "backup.checkout" && r.outcome == "success")
        .map(|r| {
            serde_json::from_str::<serde_json::Value>(&r.details).unwrap()["position"]
                .as_u64()
                .unwrap()
        })
        .collect();
    assert_eq!(
        in_trail.iter().collect::<BTreeSet<_>>().len(),
        in_trail.len()
    );
    assert_eq!(
        in_trail,
        (1..=in_trail.len() as u64).collect::<Vec<_>>(),
        "handed out in order with no gap"
    );
    let seqs: Vec<i64> = rows.iter().map(|r| r.seq).collect();
    assert_eq!(seqs, (1..=rows.len() as i64).collect::<Vec<_>>(), "no gap");
    let report = keyward::audit::verify(app.core.store.db(), |_| {})
        .await
        .unwrap();
    assert!(
        report.ok && report.checked == rows.len() as i64,
        "{report:?}"
    );
    // The server comes back and carries on from where the trail ends.
    let server = spawn_process_with(&app.settings, &[]).await;
    let res = reqwest::Client::new()
        .post(format!(
            "{}/api/v1/accounts/{id}/backup-codes/checkout",
            server.base
        ))
        .bearer_auth(&manager)
        .json(&json!({ "justification": "after" }))
        .send()
        .await
        .unwrap();
    let out: serde_json::Value = res.json().await.unwrap();
    // Read the trail again: on PostgreSQL a commit the killed server had already sent may
    // land after the reads above (with its event: they are one transaction). Every code
    // handed out, before the kill or after, is in the trail once, in order, with no gap.
    let positions: Vec<u64> = app
        .audit_rows()
        .await
        .iter()
        .filter(|r| r.action == "backup.checkout" && r.outcome == "success")
        .map(|r| {
            serde_json::from_str::<serde_json::Value>(&r.details).unwrap()["position"]
                .as_u64()
                .unwrap()
        })
        .collect();
    assert_eq!(positions, (1..=positions.len() as u64).collect::<Vec<_>>());
    assert!(positions.len() >= in_trail.len());
    match out["position"].as_u64() {
        Some(position) => assert_eq!(position, positions.len() as u64, "the next code"),
        None => {
            assert_eq!(out["error"]["code"], "no_backup_codes_left", "{out}");
            assert_eq!(positions.len(), codes.len());
        }
    }
}

#[tokio::test]
async fn a_token_revoked_by_another_process_is_refused_by_the_next_reveal() {
    let app = spawn_app().await;
    let manager = app.token("manager", "marketing").await;
    let id = app.account(&manager, "marketing", "@revoked").await;
    app.set_totp(&manager, &id, "JBSWY3DPEHPK3PXP").await;
    let out = app
        .cli()
        .args([
            "token",
            "create",
            "--name",
            "ops",
            "--role",
            "operator",
            "--team",
            "marketing",
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    let token = String::from_utf8_lossy(&out.stdout)
        .lines()
        .last()
        .unwrap()
        .trim()
        .to_owned();
    // Reader connections kept warm by a burst of reveals from both workers.
    let burst: Vec<_> = (0..16)
        .map(|_| app.totp_code(&token, &id, json!({})))
        .collect();
    for res in join_all(burst).await {
        assert_eq!(res.status(), 200);
    }
    let me = expect_json(app.get("/api/v1/me", &token).await, 200).await;
    let revoke = app
        .cli()
        .args(["token", "revoke", me["id"].as_str().unwrap()])
        .output()
        .unwrap();
    assert!(revoke.status.success());
    // Each of the next requests, on whichever worker and reader, sees the revocation.
    let after: Vec<_> = (0..8)
        .map(|_| app.totp_code(&token, &id, json!({})))
        .collect();
    for res in join_all(after).await {
        crate::support::expect_error(res, 401, "unauthenticated").await;
    }
}

#[tokio::test]
async fn a_unit_that_loses_the_batchs_transaction_fails_the_batch_and_nothing_after_it_is_kept() {
    let app = spawn_app().await;
    let store = app.core.store.clone();
    let blocker = hold_writer_until(&store, 4).await;
    let before = spawn_append(&store, "lost-before", false);
    until_pending(&store, 2).await;
    // A statement that ends the whole transaction under the unit's savepoint (on SQLite a
    // full disk or an I/O error can do this).
    let loser = tokio::spawn({
        let store = store.clone();
        async move {
            store
                .unit(|tx: WriteTx| async move {
                    tx.execute_unprepared("ROLLBACK").await?;
                    Ok::<_, DbErr>((tx, ()))
                })
                .await
        }
    });
    until_pending(&store, 3).await;
    let after = spawn_append(&store, "lost-after", false);
    blocker.await.unwrap().unwrap();
    assert!(
        before.await.unwrap().is_err(),
        "its writes went with the transaction"
    );
    assert!(loser.await.unwrap().is_err());
    assert!(
        after.await.unwrap().is_err(),
        "nothing runs outside the batch's transaction"
    );
    let tags = units(&app).await;
    assert!(
        !tags.contains("\"lost-before\"") && !tags.contains("\"lost-after\""),
        "{tags:?}"
    );
    append_unit(&store, "next", false).await.unwrap();
    assert!(units(&app).await.contains("\"next\""));
    let report = keyward::audit::verify(store.db(), |_| {}).await.unwrap();
    assert!(report.ok, "{report:?}");
}

#[tokio::test]
async fn only_a_plain_sqlite_file_opened_for_writing_gets_the_writer_thread() {
    if backend() != "sqlite" {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("plain.db");
    let plain = Store::connect(&format!("sqlite://{}?mode=rwc", path.display()), 2)
        .await
        .unwrap();
    assert!(plain.has_writer_thread());
    drop(plain);
    // sqlx reads these differently from a file opened for writing: they stay on the pool.
    let read_only = Store::connect(&format!("sqlite://{}?mode=ro", path.display()), 2)
        .await
        .unwrap();
    assert!(!read_only.has_writer_thread());
    let memory = Store::connect("sqlite::memory:", 1).await.unwrap();
    assert!(!memory.has_writer_thread());
}

#[tokio::test]
async fn a_write_of_its_own_holding_a_row_and_a_check_out_on_the_writer_do_not_deadlock() {
    // Every write takes the chain before any row while a writer thread runs: a write of its
    // own that locked the backup generation and then appends its event, and a check-out
    // batch that took the chain and then wants the generation, would otherwise wait for
    // each other (PostgreSQL breaks such a cycle after a second by failing one of them).
    let app = spawn_app().await;
    let manager = app.token("manager", "marketing").await;
    let id = app.account(&manager, "marketing", "@lock-order").await;
    let codes: Vec<String> = (0..4).map(|i| format!("lockorder{i}")).collect();
    app.backup_codes(&manager, &id, &codes).await;
    let store = app.core.store.clone();

    let tx = store.begin_write().await.unwrap();
    keyward::store::backup::lock_current(&*tx, &id)
        .await
        .unwrap()
        .expect("a current generation");
    let checkout = spawn_post(
        &app,
        &manager,
        format!("/api/v1/accounts/{id}/backup-codes/checkout"),
    );
    until_pending(&store, 1).await;
    // Long enough for the check-out's batch to start and wait for what this write holds.
    tokio::time::sleep(Duration::from_millis(300)).await;
    keyward::audit::append(&*tx, event("own-write"))
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let res = checkout.await.unwrap();
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    assert!(units(&app).await.contains("\"own-write\""));
    let report = keyward::audit::verify(store.db(), |_| {}).await.unwrap();
    assert!(report.ok, "{report:?}");
}

#[tokio::test]
async fn a_refusal_recorded_in_a_batch_is_followed_by_the_next_units_event_in_the_chain() {
    // A refused check-out drops its unit's writes and records its refusal in a savepoint of
    // the same batch, which outlives the unit. A reveal after it in the same batch must link
    // its event to that refusal (it failed with a duplicate sequence number when the batch
    // went back to the head it knew before the refused unit).
    let app = spawn_app().await;
    let manager = app.token("manager", "marketing").await;
    let empty = app.account(&manager, "marketing", "@refusal-empty").await;
    app.backup_codes(&manager, &empty, &["refusal0-only".to_owned()])
        .await;
    let checkout = format!("/api/v1/accounts/{empty}/backup-codes/checkout");
    let res = app
        .post(
            &checkout,
            &manager,
            json!({"justification": "the only code"}),
        )
        .await;
    assert_eq!(res.status(), 200);
    let totp = app.account(&manager, "marketing", "@refusal-totp").await;
    app.set_totp(&manager, &totp, "JBSWY3DPEHPK3PXP").await;
    let store = app.core.store.clone();

    // The blocker holds the writer until a unit that appends (so the batch knows its head),
    // the refused check-out and the reveal are queued behind it, in that order.
    let blocker = hold_writer_until(&store, 4).await;
    let before = spawn_append(&store, "before-refusal", false);
    until_pending(&store, 2).await;
    let refused = spawn_post(&app, &manager, checkout.clone());
    until_pending(&store, 3).await;
    let reveal = spawn_post(&app, &manager, format!("/api/v1/accounts/{totp}/totp/code"));
    blocker.await.unwrap().unwrap();
    before.await.unwrap().unwrap();
    assert_eq!(refused.await.unwrap().status(), 409);
    let res = reveal.await.unwrap();
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    let rows = app.audit_rows().await;
    let last: Vec<(&str, &str)> = rows
        .iter()
        .rev()
        .take(3)
        .map(|r| (r.action.as_str(), r.outcome.as_str()))
        .collect();
    assert_eq!(
        last,
        [
            ("totp.reveal", "success"),
            ("backup.checkout", "failure"),
            ("test.unit", "success")
        ]
    );
    let report = keyward::audit::verify(store.db(), |_| {}).await.unwrap();
    assert!(report.ok, "{report:?}");
}

#[tokio::test]
async fn a_unit_whose_caller_has_gone_before_the_writer_reaches_it_is_not_run() {
    // A request dropped while its unit waits in the queue (a server shutting down, a timeout
    // around it) leaves nobody to answer: the unit is not run, so a check-out spends no code
    // and nothing is exposed.
    let app = spawn_app().await;
    let store = app.core.store.clone();
    let (release, released) = tokio::sync::oneshot::channel::<()>();
    let blocker = hold_writer(&store, async move {
        let _ = released.await;
    })
    .await;
    let abandoned = spawn_append(&store, "abandoned", false);
    until_pending(&store, 2).await;
    abandoned.abort();
    assert!(abandoned.await.unwrap_err().is_cancelled());
    let kept = spawn_append(&store, "kept-after-abandoned", false);
    until_pending(&store, 3).await;
    release.send(()).unwrap();
    blocker.await.unwrap().unwrap();
    kept.await.unwrap().unwrap();
    let tags = units(&app).await;
    assert!(
        tags.contains("\"kept-after-abandoned\"") && !tags.contains("\"abandoned\""),
        "{tags:?}"
    );
}

#[tokio::test]
async fn a_writer_unit_that_commits_its_own_transaction_is_told_no() {
    if backend() != "postgres" {
        return; // on SQLite a unit's commit releases its savepoint
    }
    let app = spawn_app().await;
    let result = app
        .core
        .store
        .unit(|tx: WriteTx| async move {
            keyward::audit::append(&*tx, event("early-commit")).await?;
            // Committing here would drop the unit's savepoint, so roll back what it wrote,
            // while saying it was kept.
            let said = tx.commit().await;
            Err::<(WriteTx, ()), _>(DbErr::Custom(format!("refused: {}", said.is_err())))
        })
        .await;
    assert!(
        result.unwrap_err().to_string().contains("refused: true"),
        "the commit must not say the unit's writes were kept"
    );
    assert!(!units(&app).await.contains("\"early-commit\""));
}
