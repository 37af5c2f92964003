//! Retention: old events go to a verified archive file, leave the database, and the chain
//! that stays still verifies from a signed anchor; removal without that anchor is caught.

use crate::support::siem::{destination, free_port};
use crate::support::{expect_json, spawn_with, test_settings, TestApp};
use keyward::store::audit::AnchorRow;
use sea_orm::ConnectionTrait;
use std::path::PathBuf;

async fn archiving_app() -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = test_settings(dir.path()).await;
    settings.audit.archive_dir = Some(dir.path().join("archive"));
    spawn_with(dir, settings).await
}

async fn work(app: &TestApp, token: &str, tag: &str, n: usize) {
    for i in 0..n {
        app.account(token, "marketing", &format!("@{tag}{i}")).await;
    }
}

/// Runs the CLI with the app's archive directory; `(exit code, stdout)`.
fn cli(app: &TestApp, args: &[&str]) -> (i32, String) {
    let mut cmd = app.cli();
    if let Some(dir) = &app.settings.audit.archive_dir {
        cmd.env("KEYWARD_AUDIT__ARCHIVE_DIR", dir);
    }
    let out = cmd.args(args).output().expect("cli runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned() + &*String::from_utf8_lossy(&out.stderr),
    )
}

fn now_plus_a_second() -> String {
    (chrono::Utc::now() + chrono::Duration::seconds(1)).to_rfc3339()
}

fn archive_file(app: &TestApp, first: i64, last: i64) -> PathBuf {
    let dir = app.settings.audit.archive_dir.clone().unwrap();
    dir.join(format!("keyward-audit-{first:010}-{last:010}.jsonl"))
}

#[tokio::test]
async fn old_events_are_archived_to_a_verified_file_and_the_rest_still_verifies() {
    let app = archiving_app().await;
    let manager = app.token("manager", "marketing").await;
    let auditor = app.token("auditor", "*").await;
    work(&app, &manager, "early", 3).await;
    // A signed checkpoint inside the range that will be archived, and one at the head.
    assert_eq!(cli(&app, &["audit", "checkpoint"]).0, 0);
    work(&app, &manager, "later", 3).await;
    assert_eq!(cli(&app, &["audit", "checkpoint"]).0, 0);
    let before = app.audit_rows().await;
    let head = before.last().unwrap().seq;

    let cutoff = now_plus_a_second();
    let (code, out) = cli(
        &app,
        &["audit", "archive", "--dry-run", "--before", &cutoff],
    );
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains(&format!("would archive events 1 to {} ", head - 1)),
        "{out}"
    );
    assert_eq!(
        app.audit_rows().await.len(),
        before.len(),
        "a dry run removes nothing"
    );

    let (code, out) = cli(&app, &["audit", "archive", "--before", &cutoff]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains(&format!(
            "archived events 1 to {} ({} events)",
            head - 1,
            head - 1
        )),
        "{out}"
    );

    // The newest event stays; the run itself is recorded after it.
    let after = app.audit_rows().await;
    assert_eq!(after[0].seq, head);
    assert_eq!(after[0].hash, before.last().unwrap().hash);
    let recorded = after.last().unwrap();
    assert_eq!(recorded.action, "audit.retention");
    assert_eq!(recorded.actor, "cli");
    let details: serde_json::Value = serde_json::from_str(&recorded.details).unwrap();
    assert_eq!(details["first_seq"], 1);
    assert_eq!(details["last_seq"], head - 1);
    assert_eq!(details["events"], head - 1);

    // The file holds exactly the removed events, as exported, with a sha256sum beside it.
    let file = archive_file(&app, 1, head - 1);
    let text = std::fs::read_to_string(&file).unwrap();
    let hashes: Vec<String> = text
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["hash"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    let expected: Vec<String> = before[..before.len() - 1]
        .iter()
        .map(|r| r.hash.clone())
        .collect();
    assert_eq!(hashes, expected);
    let sum = std::fs::read_to_string(file.with_extension("jsonl.sha256")).unwrap();
    assert_eq!(
        sum.split_whitespace().next().unwrap(),
        details["archive_sha256"].as_str().unwrap()
    );

    let (code, out) = cli(&app, &["audit", "verify"]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains(&format!("events up to {} archived", head - 1)),
        "{out}"
    );
    let report = expect_json(app.get("/api/v1/audit/verify", &auditor).await, 200).await;
    assert_eq!(report["ok"], true, "{report}");
    assert_eq!(report["archived_through"], head - 1);
    assert_eq!(report["checked"], 2);
    let (code, out) = cli(&app, &["audit", "verify-archive", file.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("chain intact") && out.contains("matches its signed anchor"),
        "{out}"
    );

    // A second round picks up where the first ended.
    work(&app, &manager, "third", 3).await;
    let head2 = app.audit_rows().await.last().unwrap().seq;
    let (code, out) = cli(
        &app,
        &["audit", "archive", "--before", &now_plus_a_second()],
    );
    assert_eq!(code, 0, "{out}");
    let second = archive_file(&app, head, head2 - 1);
    let first_line: serde_json::Value = serde_json::from_str(
        std::fs::read_to_string(&second)
            .unwrap()
            .lines()
            .next()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        first_line["prev_hash"],
        before.last().unwrap().prev_hash.as_str()
    );
    assert_eq!(first_line["seq"], head);
    assert_eq!(cli(&app, &["audit", "verify"]).0, 0);
    let (code, out) = cli(
        &app,
        &[
            "audit",
            "verify-archive",
            file.to_str().unwrap(),
            second.to_str().unwrap(),
        ],
    );
    assert_eq!(code, 0, "{out}");

    // An edited archive no longer verifies.
    let edited = text.replacen("\"outcome\":\"success\"", "\"outcome\":\"denied\"", 1);
    assert_ne!(edited, text);
    std::fs::write(&file, edited).unwrap();
    let (code, out) = cli(&app, &["audit", "verify-archive", file.to_str().unwrap()]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("BROKEN") && out.contains("hash does not match"),
        "{out}"
    );
}

#[tokio::test]
async fn removing_old_events_without_a_signed_anchor_is_caught() {
    let app = archiving_app().await;
    let manager = app.token("manager", "marketing").await;
    work(&app, &manager, "x", 5).await;
    let rows = app.audit_rows().await;
    let cut = rows[2].clone();
    let db = app.core.store.db();
    db.execute_unprepared(&format!("DELETE FROM audit_event WHERE seq <= {}", cut.seq))
        .await
        .unwrap();
    let (code, out) = cli(&app, &["audit", "verify"]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("BROKEN at seq 1") && out.contains("sequence gap"),
        "{out}"
    );

    // An anchor the forger signs without the keyring's key is refused.
    let keyring = &app.core.keyring;
    let forged = AnchorRow {
        seq: cut.seq,
        hash: cut.hash.clone(),
        first_seq: 1,
        archive: "forged.jsonl".to_owned(),
        archive_sha256: "0".repeat(64),
        at: chrono::Utc::now(),
        key_id: keyring.checkpoint_key_id(),
        signature: keyring.sign_checkpoint("some other message"),
    };
    keyward::store::audit::insert_anchor(db, forged)
        .await
        .unwrap();
    let (code, out) = cli(&app, &["audit", "verify"]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("retention anchor at seq 3 is not signed"),
        "{out}"
    );
}

#[tokio::test]
async fn events_a_forwarder_has_not_delivered_are_never_removed() {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = test_settings(dir.path()).await;
    settings.audit.archive_dir = Some(dir.path().join("archive"));
    // A SIEM that is down: nothing gets delivered.
    let mut siem = destination("siem", &format!("tcp://127.0.0.1:{}", free_port()));
    siem.batch_size = 100;
    settings.audit.forward = vec![siem];
    let app = spawn_with(dir, settings).await;
    let manager = app.token("manager", "marketing").await;
    work(&app, &manager, "held", 4).await;
    let before = app.audit_rows().await;
    let cutoff = chrono::Utc::now() + chrono::Duration::seconds(1);
    let archived = app
        .core
        .archive_audit("system", cutoff, |_| {})
        .await
        .unwrap();
    assert!(
        archived.is_empty(),
        "nothing is archived before the SIEM has it"
    );
    assert_eq!(app.audit_rows().await, before);
    // Once the SIEM has the first three events, those (and only those) may go. The cursor row
    // is made here if the forwarder's job has not made it yet (a busy machine): an UPDATE of
    // no row would leave the SIEM at nothing delivered.
    keyward::store::audit::ensure_cursor(app.core.store.db(), "siem", 0)
        .await
        .unwrap();
    app.core
        .store
        .db()
        .execute_unprepared("UPDATE audit_forward_cursor SET seq = 3 WHERE name = 'siem'")
        .await
        .unwrap();
    let archived = app
        .core
        .archive_audit("system", cutoff, |_| {})
        .await
        .unwrap();
    assert_eq!(
        archived
            .iter()
            .map(|a| (a.first_seq, a.last_seq))
            .collect::<Vec<_>>(),
        [(1, 3)]
    );
    assert_eq!(app.audit_rows().await[0].seq, 4);
}

#[tokio::test]
async fn two_retention_runs_at_once_archive_each_event_once() {
    let app = archiving_app().await;
    let manager = app.token("manager", "marketing").await;
    work(&app, &manager, "race", 8).await;
    let head = app.audit_rows().await.last().unwrap().seq;
    let cutoff = chrono::Utc::now() + chrono::Duration::seconds(1);
    let (a, b) = tokio::join!(
        app.core.archive_audit("system", cutoff, |_| {}),
        app.core.archive_audit("system", cutoff, |_| {})
    );
    let mut ranges: Vec<(i64, i64)> = a
        .unwrap()
        .iter()
        .chain(b.unwrap().iter())
        .map(|x| (x.first_seq, x.last_seq))
        .collect();
    ranges.sort();
    assert_eq!(
        ranges,
        [(1, head - 1)],
        "one run archived, the other found nothing left"
    );
    let dir = app.settings.audit.archive_dir.clone().unwrap();
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    let name = format!("keyward-audit-{:010}-{:010}.jsonl", 1, head - 1);
    assert_eq!(
        files,
        [name.clone(), format!("{name}.sha256")],
        "no stray or partial files"
    );
    assert_eq!(cli(&app, &["audit", "verify"]).0, 0);
    let (code, out) = cli(
        &app,
        &["audit", "verify-archive", dir.join(&name).to_str().unwrap()],
    );
    assert_eq!(code, 0, "{out}");
}

#[tokio::test]
async fn an_archive_without_its_signed_anchor_does_not_verify() {
    let app = archiving_app().await;
    let manager = app.token("manager", "marketing").await;
    work(&app, &manager, "anchor", 4).await;
    let (code, out) = cli(
        &app,
        &["audit", "archive", "--before", &now_plus_a_second()],
    );
    assert_eq!(code, 0, "{out}");
    let rows = app.audit_rows().await;
    let file = archive_file(&app, 1, rows[0].seq - 1);
    // The same file under another name still matches its anchor (found by its range).
    let copy = file.with_file_name("copy.jsonl");
    std::fs::copy(&file, &copy).unwrap();
    let (code, out) = cli(&app, &["audit", "verify-archive", copy.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}");
    // A self-consistent file for a range no anchor covers proves nothing.
    let text = std::fs::read_to_string(&file).unwrap();
    let shorter: String = text.lines().take(2).map(|l| format!("{l}\n")).collect();
    let part = file.with_file_name("part.jsonl");
    std::fs::write(&part, shorter).unwrap();
    let (code, out) = cli(&app, &["audit", "verify-archive", part.to_str().unwrap()]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("no retention anchor in the database covers events 1 to 2"),
        "{out}"
    );
}

#[tokio::test]
async fn a_run_cut_off_by_a_crash_holds_retention_until_its_lease_ends_then_the_next_run_archives()
{
    let app = archiving_app().await;
    let manager = app.token("manager", "marketing").await;
    work(&app, &manager, "crash", 4).await;
    let head = app.audit_rows().await.last().unwrap().seq;
    let cutoff = chrono::Utc::now() + chrono::Duration::seconds(1);
    // A replica died in the middle of a run: the retention lease it took is still held.
    let db = app.core.store.db();
    let lease = |until: chrono::DateTime<chrono::Utc>| async move {
        keyward::store::audit::take_lease(db, "#retention", "dead-replica", until)
            .await
            .unwrap()
    };
    keyward::store::audit::ensure_cursor(db, "#retention", 0)
        .await
        .unwrap();
    assert!(lease(chrono::Utc::now() + chrono::Duration::minutes(30)).await);
    let blocked = app
        .core
        .archive_audit("system", cutoff, |_| {})
        .await
        .unwrap();
    assert!(
        blocked.is_empty(),
        "no run while the dead one's lease holds"
    );
    assert_eq!(
        app.audit_rows().await.first().unwrap().seq,
        1,
        "nothing removed"
    );
    // Thirty minutes on, its lease has ended (set in the past here): the next run goes on.
    assert!(lease(chrono::Utc::now() - chrono::Duration::seconds(1)).await);
    let archived = app
        .core
        .archive_audit("system", cutoff, |_| {})
        .await
        .unwrap();
    let ranges: Vec<(i64, i64)> = archived.iter().map(|x| (x.first_seq, x.last_seq)).collect();
    assert_eq!(ranges, [(1, head - 1)]);
    assert_eq!(cli(&app, &["audit", "verify"]).0, 0);
}
