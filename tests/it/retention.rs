//! Retention: old events go to a verified archive file, leave the database, and the chain
//! that stays still verifies from a signed anchor; removal without that anchor is caught.

use crate::support::siem::free_port;
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
    settings.audit.forward = vec![keyward::config::ForwardSettings {
        name: "siem".to_owned(),
        url: format!("tcp://127.0.0.1:{}", free_port()),
        secret_file: None,
        secret_env: None,
        ca_file: None,
        start: "beginning".to_owned(),
        batch_size: 100,
        facility: "auth".to_owned(),
        timeout_seconds: 2,
        max_backoff_seconds: 1,
    }];
    let app = spawn_with(dir, settings).await;
    let manager = app.token("manager", "marketing").await;
    work(&app, &manager, "held", 4).await;
    let before = app.audit_rows().await;
    let cutoff = chrono::Utc::now() + chrono::Duration::seconds(1);
    let archived = app.core.archive_audit("system", cutoff).await.unwrap();
    assert!(
        archived.is_none(),
        "nothing is archived before the SIEM has it"
    );
    assert_eq!(app.audit_rows().await, before);
    assert!(
        !app.settings.audit.archive_dir.clone().unwrap().exists()
            || std::fs::read_dir(app.settings.audit.archive_dir.clone().unwrap())
                .unwrap()
                .next()
                .is_none()
    );
}
