//! Truncation of the audit trail, against the real binary: a `keyward serve` writes events
//! and keeps its witness file (the signed chain head beside the key file) current; then the
//! database is tampered with directly and `keyward audit verify` must fail. Each case of the
//! outside review is here, and so is what stays undetectable (events newer than the witness).

use crate::support::{cli_for, expect_json, spawn_process_with, test_settings};
use keyward::audit::witness::Witness;
use keyward::config::Settings;
use reqwest::Client;
use sea_orm::{ConnectionTrait, Database};
use serde_json::json;
use std::time::Duration;

struct Stack {
    _dir: tempfile::TempDir,
    settings: Settings,
}

impl Stack {
    fn verify(&self) -> (i32, String) {
        let out = cli_for(&self.settings)
            .args(["audit", "verify"])
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.code().unwrap_or(-1), text)
    }

    async fn sql(&self, statements: &[&str]) {
        let db = Database::connect(&self.settings.database.url)
            .await
            .unwrap();
        for statement in statements {
            db.execute_unprepared(statement).await.unwrap();
        }
        db.close().await.unwrap();
    }

    fn witness(&self) -> Option<Witness> {
        Witness::read(&self.settings.witness_path().unwrap()).unwrap()
    }

    async fn head_seq(&self) -> i64 {
        let db = Database::connect(&self.settings.database.url)
            .await
            .unwrap();
        let head = keyward::store::audit::head(&db)
            .await
            .unwrap()
            .map_or(0, |h| h.0);
        db.close().await.unwrap();
        head
    }
}

/// A served account with a seed and twelve reveals; with `checkpoint_midway`, a signed
/// database checkpoint after the sixth. Returns once the witness holds the head, with the
/// server stopped.
async fn witnessed(checkpoint_midway: bool) -> Stack {
    let dir = tempfile::tempdir().unwrap();
    let settings = test_settings(dir.path()).await;
    let cli = |args: &[&str]| cli_for(&settings).args(args).output().unwrap();
    assert!(cli(&["migrate"]).status.success());
    let token = crate::support::cli_token(&settings, "manager", "marketing");
    let server = spawn_process_with(
        &settings,
        &[("KEYWARD_AUDIT__WITNESS_SECONDS", "1".to_owned())],
    )
    .await;
    let client = Client::new();
    let post = |path: String, body: serde_json::Value| {
        client
            .post(format!("{}{path}", server.base))
            .bearer_auth(&token)
            .json(&body)
            .send()
    };
    let account = expect_json(
        post(
            "/api/v1/accounts".into(),
            json!({"team": "marketing", "platform": "x", "handle": "@brand"}),
        )
        .await
        .unwrap(),
        201,
    )
    .await;
    let id = account["id"].as_str().unwrap().to_owned();
    let seed = client
        .put(format!("{}/api/v1/accounts/{id}/totp", server.base))
        .bearer_auth(&token)
        .json(&json!({"secret": "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"}))
        .send()
        .await
        .unwrap();
    expect_json(seed, 201).await;
    for i in 0..12 {
        if checkpoint_midway && i == 6 {
            assert!(cli(&["audit", "checkpoint"]).status.success());
        }
        let res = post(
            format!("/api/v1/accounts/{id}/totp/code"),
            json!({"justification": "daily post"}),
        );
        expect_json(res.await.unwrap(), 200).await;
    }
    let stack = Stack {
        _dir: dir,
        settings,
    };
    let head = stack.head_seq().await;
    for _ in 0..100 {
        if stack.witness().is_some_and(|w| w.seq == head) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        stack.witness().map(|w| w.seq),
        Some(head),
        "the server witnessed the head"
    );
    drop(server);
    let (code, out) = stack.verify();
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("the witness") && out.contains("matches"),
        "{out}"
    );
    stack
}

fn assert_truncation_caught(code: i32, out: &str) {
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("truncated") && out.contains("witness file"),
        "the witness names the truncation: {out}"
    );
}

#[tokio::test]
async fn deleting_the_newest_event_is_caught() {
    let stack = witnessed(false).await;
    stack
        .sql(&["DELETE FROM audit_event WHERE seq = (SELECT MAX(seq) FROM audit_event)"])
        .await;
    let (code, out) = stack.verify();
    assert_truncation_caught(code, &out);
    // A restarted server does not move the witness onto the shortened log.
    let before = stack.witness();
    let server = spawn_process_with(
        &stack.settings,
        &[("KEYWARD_AUDIT__WITNESS_SECONDS", "1".to_owned())],
    )
    .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    drop(server);
    assert_eq!(stack.witness(), before);
    let (code, out) = stack.verify();
    assert_truncation_caught(code, &out);
}

#[tokio::test]
async fn deleting_the_newest_five_events_is_caught() {
    let stack = witnessed(false).await;
    stack
        .sql(&["DELETE FROM audit_event WHERE seq > (SELECT MAX(seq) - 5 FROM audit_event)"])
        .await;
    let (code, out) = stack.verify();
    assert_truncation_caught(code, &out);
}

#[tokio::test]
async fn deleting_everything_after_the_latest_checkpoint_is_caught() {
    let stack = witnessed(true).await;
    stack
        .sql(&["DELETE FROM audit_event WHERE seq > (SELECT MAX(seq) FROM audit_checkpoint)"])
        .await;
    let (code, out) = stack.verify();
    assert_truncation_caught(code, &out);
}

#[tokio::test]
async fn deleting_the_latest_checkpoint_together_with_its_events_is_caught() {
    let stack = witnessed(true).await;
    stack
        .sql(&[
            "DELETE FROM audit_event WHERE seq >= (SELECT MAX(seq) FROM audit_checkpoint)",
            "DELETE FROM audit_checkpoint WHERE seq = (SELECT MAX(seq) FROM audit_checkpoint)",
        ])
        .await;
    let (code, out) = stack.verify();
    assert_truncation_caught(code, &out);
}

#[tokio::test]
async fn deleting_every_event_and_every_checkpoint_is_caught() {
    let stack = witnessed(true).await;
    stack
        .sql(&["DELETE FROM audit_event", "DELETE FROM audit_checkpoint"])
        .await;
    let (code, out) = stack.verify();
    assert_truncation_caught(code, &out);
}

#[tokio::test]
async fn an_edited_witness_file_is_refused() {
    let stack = witnessed(false).await;
    let path = stack.settings.witness_path().unwrap();
    let mut witness: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    witness["seq"] = json!(witness["seq"].as_i64().unwrap() - 1);
    std::fs::write(&path, serde_json::to_vec(&witness).unwrap()).unwrap();
    let (code, out) = stack.verify();
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("witness file is not signed"), "{out}");
}

/// The window docs/security.md states: events appended after the last witness update (here, by the
/// CLI while no server runs) can be removed without a trace until the witness covers them.
#[tokio::test]
async fn events_newer_than_the_witness_can_be_removed_unseen_until_it_covers_them() {
    let stack = witnessed(false).await;
    let witnessed_seq = stack.witness().unwrap().seq;
    let out = cli_for(&stack.settings)
        .args([
            "token",
            "create",
            "--name",
            "late",
            "--role",
            "viewer",
            "--team",
            "marketing",
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(stack.head_seq().await, witnessed_seq + 1);
    stack
        .sql(&["DELETE FROM audit_event WHERE seq = (SELECT MAX(seq) FROM audit_event)"])
        .await;
    let (code, out) = stack.verify();
    assert_eq!(code, 0, "not detectable: the witness never saw it: {out}");
}

/// A forger who can write the database recomputes a chain (its hashes have no key), puts an
/// unsigned retention anchor over the witnessed event and waits for the witness to follow:
/// the witness moves only under anchors signed with the keyring, so it stays, and verify
/// fails once the fake anchor is gone again.
#[tokio::test]
async fn a_forged_anchor_does_not_carry_the_witness_onto_a_rewritten_chain() {
    use keyward::audit::canonical_hash;
    use keyward::store::audit as repo;
    let stack = witnessed(false).await;
    let witnessed = stack.witness().unwrap();
    let db = Database::connect(&stack.settings.database.url)
        .await
        .unwrap();
    // Replace the witnessed event and add one after it, correctly chained.
    let mut rows = repo::page(&db, witnessed.seq - 2, 1).await.unwrap();
    let mut prev = rows.remove(0);
    db.execute_unprepared(&format!(
        "DELETE FROM audit_event WHERE seq >= {}",
        witnessed.seq
    ))
    .await
    .unwrap();
    for seq in [witnessed.seq, witnessed.seq + 1] {
        let mut row = prev.clone();
        row.seq = seq;
        row.justification = Some("forged".into());
        row.prev_hash = prev.hash.clone();
        row.hash = canonical_hash(&row);
        repo::insert(&db, row.clone()).await.unwrap();
        prev = row;
    }
    repo::insert_anchor(
        &db,
        repo::AnchorRow {
            seq: witnessed.seq,
            hash: prev.prev_hash.clone(),
            first_seq: 1,
            archive: "nothing.jsonl".into(),
            archive_sha256: "0".repeat(64),
            at: keyward::store::now(),
            key_id: witnessed.key_id.clone(),
            signature: "00".repeat(64),
        },
    )
    .await
    .unwrap();
    let out = cli_for(&stack.settings)
        .args(["audit", "checkpoint"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("NOT moved"), "{text}");
    assert_eq!(stack.witness(), Some(witnessed));
    db.execute_unprepared("DELETE FROM audit_anchor")
        .await
        .unwrap();
    let (code, out) = stack.verify();
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("witness"), "{out}");
}
