//! A wrong key file, against the real `keyward` binary: the same key id with other material
//! (a fresh `keys init`, one flipped byte) is refused at start, by `keys status`, by `keys
//! rotate` and by readiness, naming the key; nothing is ever written under it.

use crate::support::{
    cli_for, cli_token, expect_json, spawn_process, test_settings, ServerProcess,
};
use base64::Engine as _;
use keyward::config::Settings;
use reqwest::Client;
use serde_json::{json, Value};
use std::path::Path;
use std::process::Output;

const SEED: &str = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP";

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn run(settings: &Settings, args: &[&str]) -> Output {
    cli_for(settings).args(args).output().expect("keyward runs")
}

/// A migrated database and key file, a manager token, and a served account with a TOTP seed
/// and backup codes written under the right key.
async fn stack() -> (tempfile::TempDir, Settings, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let settings = test_settings(dir.path()).await;
    assert!(run(&settings, &["migrate"]).status.success());
    let token = cli_token(&settings, "manager", "marketing");
    let server = spawn_process(&settings).await;
    let account = call(
        &server,
        "POST",
        "/api/v1/accounts",
        &token,
        json!({"team": "marketing", "platform": "x", "handle": "@brand"}),
        201,
    )
    .await;
    let id = account["id"].as_str().unwrap().to_owned();
    call(
        &server,
        "PUT",
        &format!("/api/v1/accounts/{id}/totp"),
        &token,
        json!({"secret": SEED}),
        201,
    )
    .await;
    call(
        &server,
        "POST",
        &format!("/api/v1/accounts/{id}/backup-codes"),
        &token,
        json!({"codes": ["1111 2222", "3333 4444"], "issued_on": "2025-12-16"}),
        201,
    )
    .await;
    drop(server);
    (dir, settings, token, id)
}

async fn call(
    server: &ServerProcess,
    method: &str,
    path: &str,
    token: &str,
    body: Value,
    status: u16,
) -> Value {
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let res = Client::new()
        .request(method, format!("{}{path}", server.base))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    expect_json(res, status).await
}

/// `keyward serve` that is expected to refuse to start: its exit code and stderr.
async fn refused_start(settings: &Settings) -> (Option<i32>, String) {
    let child = cli_for(settings)
        .args(["serve"])
        .env("KEYWARD_LISTEN", "127.0.0.1:0")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let out = tokio::time::timeout(
        std::time::Duration::from_secs(30),
        tokio::task::spawn_blocking(move || child.wait_with_output()),
    )
    .await
    .expect("serve refuses promptly instead of serving")
    .unwrap()
    .unwrap();
    (out.status.code(), text(&out.stderr))
}

/// Rewrites a key file's JSON with `edit`, keeping mode 0600.
fn edit_key_file(path: &Path, edit: impl FnOnce(&mut Value)) {
    let mut file: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    edit(&mut file);
    std::fs::write(path, serde_json::to_vec_pretty(&file).unwrap()).unwrap();
}

fn flip_one_bit(b64: &Value) -> Value {
    let engine = base64::engine::general_purpose::STANDARD;
    let mut bytes = engine.decode(b64.as_str().unwrap()).unwrap();
    bytes[7] ^= 0x01;
    Value::String(engine.encode(bytes))
}

fn key_file_of(settings: &Settings) -> std::path::PathBuf {
    settings.keys.key_file.clone().unwrap()
}

/// A fresh `keys init` over the key file: the same id kek-0001, other keys.
fn reinit_key_file(settings: &Settings) {
    std::fs::remove_file(key_file_of(settings)).unwrap();
    let path = key_file_of(settings);
    let init = run(
        settings,
        &["keys", "init", "--key-file", path.to_str().unwrap()],
    );
    assert!(init.status.success(), "{}", text(&init.stderr));
}

/// Starts `keyward serve` on `settings`, waits for its answer to `/readyz` (which must be
/// 503) and stops it; returns that answer's body.
async fn unready(settings: &Settings) -> Value {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = cli_for(settings)
        .args(["serve", "--no-migrate"])
        .env("KEYWARD_LISTEN", format!("127.0.0.1:{port}"))
        .env("KEYWARD_LOG__LEVEL", "error")
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut body = Value::Null;
    for _ in 0..100 {
        if let Ok(res) = Client::new()
            .get(format!("http://127.0.0.1:{port}/readyz"))
            .send()
            .await
        {
            body = expect_json(res, 503).await;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let _ = child.kill();
    let _ = child.wait();
    body
}

#[tokio::test]
async fn the_same_key_id_with_other_material_is_refused_at_start_naming_the_key_and_the_file() {
    let (dir, settings, _, _) = stack().await;
    let right = std::fs::read(key_file_of(&settings)).unwrap();

    // 1. A fresh `keys init` written over the file: the same id kek-0001, other keys.
    reinit_key_file(&settings);
    let (code, err) = refused_start(&settings).await;
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("kek-0001")
            && err.contains("not the key this database was written with")
            && err.contains(&key_file_of(&settings).display().to_string()),
        "{err}"
    );
    let status = run(&settings, &["keys", "status"]);
    assert_eq!(status.status.code(), Some(1));
    let shown = text(&status.stdout);
    assert!(
        shown
            .lines()
            .any(|l| l.starts_with("kek-0001") && l.contains("MISMATCH")),
        "{shown}"
    );
    // Rotation would re-wrap under a key the data was not written with: refused, nothing moved.
    let impostor = std::fs::read(key_file_of(&settings)).unwrap();
    let rotate = run(&settings, &["keys", "rotate"]);
    assert_eq!(rotate.status.code(), Some(2), "{}", text(&rotate.stderr));
    assert!(text(&rotate.stderr).contains("not the key this database was written with"));
    assert_eq!(
        std::fs::read(key_file_of(&settings)).unwrap(),
        impostor,
        "no key is added to a file that is refused"
    );

    // 2. One flipped bit in the KEK's material.
    std::fs::write(key_file_of(&settings), &right).unwrap();
    edit_key_file(&key_file_of(&settings), |f| {
        f["keys"][0]["material"] = flip_one_bit(&f["keys"][0]["material"])
    });
    let (code, err) = refused_start(&settings).await;
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("kek-0001"), "{err}");

    // 3. One flipped bit in the root key (backup-code lookups, checkpoints, CSRF derive from it).
    std::fs::write(key_file_of(&settings), &right).unwrap();
    edit_key_file(&key_file_of(&settings), |f| {
        f["root"] = flip_one_bit(&f["root"])
    });
    let (code, err) = refused_start(&settings).await;
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("key root"), "{err}");

    // The right file again: the server starts and every stored secret is where it was.
    std::fs::write(key_file_of(&settings), &right).unwrap();
    let status = run(&settings, &["keys", "status"]);
    assert!(status.status.success(), "{}", text(&status.stdout));
    assert!(text(&status.stdout).contains("matches the database"));
    drop(dir);
}

#[tokio::test]
async fn a_database_from_before_key_checks_proves_the_key_against_its_own_data() {
    let (_dir, settings, token, id) = stack().await;
    // As a database written before key check values existed.
    let db = sea_orm::Database::connect(&settings.database.url)
        .await
        .unwrap();
    sea_orm::ConnectionTrait::execute_unprepared(&db, "DELETE FROM key_check")
        .await
        .unwrap();
    let right = std::fs::read(key_file_of(&settings)).unwrap();
    reinit_key_file(&settings);
    // The stored DEKs do not open with the impostor: refused before anything is recorded.
    let (code, err) = refused_start(&settings).await;
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("kek-0001"), "{err}");

    std::fs::write(key_file_of(&settings), &right).unwrap();
    let server = spawn_process(&settings).await;
    let code = call(
        &server,
        "POST",
        &format!("/api/v1/accounts/{id}/totp/code"),
        &token,
        json!({}),
        200,
    )
    .await;
    assert_eq!(code["code"].as_str().map(str::len), Some(6));
    let verify = call(
        &server,
        "POST",
        &format!("/api/v1/accounts/{id}/backup-codes/verify"),
        &token,
        json!({"code": "3333 4444"}),
        200,
    )
    .await;
    assert_eq!(
        verify["status"], "unused",
        "lookups still find stored codes"
    );
    let recorded: Vec<String> = keyward::store::deks::key_checks(&db)
        .await
        .unwrap()
        .into_keys()
        .collect();
    assert_eq!(recorded, ["kek-0001", "root"]);
}

#[tokio::test]
async fn a_key_file_swapped_under_a_running_server_fails_readiness_and_is_never_written_under() {
    let (_dir, settings, token, id) = stack().await;
    let server = spawn_process(&settings).await;
    let right = std::fs::read(key_file_of(&settings)).unwrap();
    reinit_key_file(&settings);

    let ready = Client::new()
        .get(format!("{}/readyz", server.base))
        .send()
        .await
        .unwrap();
    let body = expect_json(ready, 503).await;
    let problems = body["problems"].to_string();
    assert!(
        problems.contains("not the one this database was written with"),
        "{body}"
    );
    assert!(
        !problems.contains("kek-0001"),
        "anonymous callers learn no key ids: {body}"
    );

    // Writes still go under the key the server proved at start, never under the new file.
    call(
        &server,
        "PUT",
        &format!("/api/v1/accounts/{id}/totp"),
        &token,
        json!({"secret": "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"}),
        201,
    )
    .await;
    drop(server);
    std::fs::write(key_file_of(&settings), &right).unwrap();
    let server = spawn_process(&settings).await;
    let code = call(
        &server,
        "POST",
        &format!("/api/v1/accounts/{id}/totp/code"),
        &token,
        json!({}),
        200,
    )
    .await;
    assert_eq!(
        code["code"].as_str().map(str::len),
        Some(6),
        "the new version opens with the right key"
    );
}

#[tokio::test]
async fn readiness_and_keys_status_report_a_key_that_wraps_secrets_but_left_the_key_file() {
    let (_dir, settings, token, id) = stack().await;
    let before_rotation = std::fs::read(key_file_of(&settings)).unwrap();
    let rotate = run(&settings, &["keys", "rotate"]);
    assert!(rotate.status.success(), "{}", text(&rotate.stderr));
    // An old backup of the key file is restored: kek-0002, which now wraps everything, is gone.
    std::fs::write(key_file_of(&settings), &before_rotation).unwrap();
    let status = run(&settings, &["keys", "status"]);
    assert_eq!(status.status.code(), Some(1));
    assert!(
        text(&status.stdout)
            .lines()
            .any(|l| l.starts_with("kek-0002") && l.contains("MISSING")),
        "{}",
        text(&status.stdout)
    );
    // The server starts (the keys it holds are right) but is not ready, and requests fail closed.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = cli_for(&settings)
        .args(["serve", "--no-migrate"])
        .env("KEYWARD_LISTEN", format!("127.0.0.1:{port}"))
        .env("KEYWARD_LOG__LEVEL", "error")
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let mut body = Value::Null;
    for _ in 0..100 {
        if let Ok(res) = Client::new().get(format!("{base}/readyz")).send().await {
            body = expect_json(res, 503).await;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let res = Client::new()
        .post(format!("{base}/api/v1/accounts/{id}/totp/code"))
        .bearer_auth(&token)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        body["problems"]
            .to_string()
            .contains("missing from the key file"),
        "{body}"
    );
    // Fail closed: the rotation renewed the token row's integrity MAC under kek-0002 too, so
    // without that key the token itself is no longer believed.
    assert_eq!(status, 401);
}

#[tokio::test]
async fn a_database_from_before_key_checks_proves_the_root_key_against_a_stored_backup_code() {
    let (_dir, settings, _, _) = stack().await;
    let db = sea_orm::Database::connect(&settings.database.url)
        .await
        .unwrap();
    sea_orm::ConnectionTrait::execute_unprepared(&db, "DELETE FROM key_check")
        .await
        .unwrap();
    // The KEK is right, the root (which keys the backup-code lookups) is not.
    edit_key_file(&key_file_of(&settings), |f| {
        f["root"] = flip_one_bit(&f["root"])
    });
    let (code, err) = refused_start(&settings).await;
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("key root"), "{err}");
}

#[tokio::test]
async fn readiness_reports_a_key_that_wraps_secrets_even_when_it_was_never_recorded() {
    let (_dir, settings, _, _) = stack().await;
    let db = sea_orm::Database::connect(&settings.database.url)
        .await
        .unwrap();
    sea_orm::ConnectionTrait::execute_unprepared(&db, "DELETE FROM key_check")
        .await
        .unwrap();
    // A key file with the same root but only a kek-0002: kek-0001, which wraps everything,
    // is gone, and no check value ever named it.
    edit_key_file(&key_file_of(&settings), |f| {
        f["keys"][0]["id"] = json!("kek-0002");
        f["keys"][0]["material"] = flip_one_bit(&f["keys"][0]["material"]);
        f["active"] = json!("kek-0002");
    });
    let body = unready(&settings).await;
    assert!(
        body["problems"]
            .to_string()
            .contains("missing from the key file"),
        "{body}"
    );
}
