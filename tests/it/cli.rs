//! The `keyward` binary as operators use it.

use crate::support::{cli_for, expect_error, expect_json, spawn_app, test_settings};
use serde_json::json;
use std::os::unix::fs::PermissionsExt;

const SEED: &str = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP";

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[tokio::test]
async fn keys_init_writes_a_private_key_file_and_never_overwrites_one() {
    let app = spawn_app().await;
    let path = app.dir.path().join("new-keys.json");
    let out = app
        .cli()
        .args(["keys", "init", "--key-file"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let before = std::fs::read(&path).unwrap();
    let again = app
        .cli()
        .args(["keys", "init", "--key-file"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(again.status.code(), Some(2));
    assert!(
        stderr(&again).contains("refusing to overwrite"),
        "{}",
        stderr(&again)
    );
    assert_eq!(std::fs::read(&path).unwrap(), before);
}

#[tokio::test]
async fn a_created_token_is_printed_once_on_the_last_line_and_works_until_revoked() {
    let app = spawn_app().await;
    let out = app
        .cli()
        .args([
            "token",
            "create",
            "--name",
            "chatops",
            "--role",
            "viewer",
            "--team",
            "marketing",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let token = text.lines().last().unwrap().trim().to_owned();
    assert!(token.starts_with("kw_"), "{text}");
    let me = expect_json(app.get("/api/v1/me", &token).await, 200).await;
    assert_eq!(
        me["roles"],
        json!([{"team": "marketing", "role": "viewer"}])
    );

    let list = stdout(&app.cli().args(["token", "list"]).output().unwrap());
    assert!(list.contains("chatops") && !list.contains(&token), "{list}");
    let id = me["id"].as_str().unwrap();
    let revoke = app.cli().args(["token", "revoke", id]).output().unwrap();
    assert!(revoke.status.success(), "{}", stderr(&revoke));
    let err = expect_error(app.get("/api/v1/me", &token).await, 401, "unauthenticated").await;
    assert!(err["error"]["message"]
        .as_str()
        .unwrap()
        .contains("revoked"));

    let bad_role = app
        .cli()
        .args([
            "token",
            "create",
            "--name",
            "x",
            "--role",
            "king",
            "--team",
            "marketing",
        ])
        .output()
        .unwrap();
    assert_eq!(bad_role.status.code(), Some(2));
    assert!(
        stderr(&bad_role).contains("--role"),
        "{}",
        stderr(&bad_role)
    );

    let expired = app
        .cli()
        .args([
            "token",
            "create",
            "--name",
            "old",
            "--role",
            "viewer",
            "--team",
            "*",
            "--expires-in-days",
            "0",
        ])
        .output()
        .unwrap();
    let expired = stdout(&expired).lines().last().unwrap().trim().to_owned();
    let err = expect_error(
        app.get("/api/v1/me", &expired).await,
        401,
        "unauthenticated",
    )
    .await;
    assert!(err["error"]["message"]
        .as_str()
        .unwrap()
        .contains("expired"));
}

#[tokio::test]
async fn key_rotation_rewraps_every_dek_while_the_server_keeps_serving() {
    let app = spawn_app().await;
    let manager = app.token("manager", "marketing").await;
    let mut accounts = Vec::new();
    for handle in ["@one", "@two", "@three"] {
        let id = app.account(&manager, "marketing", handle).await;
        app.set_totp(&manager, &id, SEED).await;
        accounts.push(id);
    }
    // A backup-code generation has a DEK of its own.
    let codes = format!("/api/v1/accounts/{}/backup-codes", accounts[0]);
    expect_json(
        app.post(
            &codes,
            &manager,
            json!({"codes": ["1111-2222", "3333-4444"], "issued_on": "2025-12-16"}),
        )
        .await,
        201,
    )
    .await;
    let out = app
        .cli()
        .args(["keys", "rotate", "--batch", "2"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("4/4 data keys re-wrapped"),
        "progress is shown: {}",
        stderr(&out)
    );
    assert!(
        stdout(&out).contains("every secret now uses kek-0002"),
        "{}",
        stdout(&out)
    );

    // The running server never restarted, yet opens the re-wrapped secrets...
    for id in &accounts {
        expect_json(app.totp_code(&manager, id, json!({})).await, 200).await;
    }
    let code = expect_json(
        app.post(
            &format!("{codes}/checkout"),
            &manager,
            json!({"justification": "after rotation"}),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(code["code"], "1111-2222");
    // ...and seals new ones under the new key.
    let fresh = app.account(&manager, "marketing", "@four").await;
    app.set_totp(&manager, &fresh, SEED).await;
    let status = app.cli().args(["keys", "status"]).output().unwrap();
    let status = stdout(&status);
    assert!(
        status
            .lines()
            .any(|l| l.starts_with("kek-0002") && l.contains(" 5 ") && l.contains("active")),
        "{status}"
    );
    assert!(
        status
            .lines()
            .any(|l| l.starts_with("kek-0001") && l.contains(" 0 ")),
        "{status}"
    );
    let rewraps = app
        .audit_rows()
        .await
        .into_iter()
        .filter(|r| r.action == "keys.rewrap")
        .count();
    assert_eq!(
        rewraps, 3,
        "one audit event per committed batch (2 of secrets, 1 of generations)"
    );

    // Nothing left: a resume is a no-op that succeeds.
    let resume = app
        .cli()
        .args(["keys", "rotate", "--resume"])
        .output()
        .unwrap();
    assert!(
        resume.status.success() && stdout(&resume).contains("0 data keys re-wrapped"),
        "{}",
        stdout(&resume)
    );
}

#[tokio::test]
async fn serve_refuses_to_start_without_its_key_file_and_says_how_to_make_one() {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = test_settings(dir.path()).await;
    let missing = dir.path().join("missing.json");
    settings.keys.key_file = Some(missing.clone());
    let out = cli_for(&settings)
        .args(["serve"])
        .env("KEYWARD_LISTEN", "127.0.0.1:0")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains(&missing.display().to_string()) && err.contains("keys init"),
        "{err}"
    );
}

#[tokio::test]
async fn invalid_configuration_names_the_key_and_help_explains_the_commands() {
    let dir = tempfile::tempdir().unwrap();
    let settings = test_settings(dir.path()).await;
    let out = cli_for(&settings)
        .args(["migrate"])
        .env("KEYWARD_DATABASE__MAX_CONNECTIONS", "lots")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("database.max_connections"),
        "{}",
        stderr(&out)
    );

    let config = dir.path().join("keyward.toml");
    std::fs::write(
        &config,
        "listen = \"127.0.0.1:1\"\n[databse]\nurl = \"x\"\n",
    )
    .unwrap();
    let out = cli_for(&settings)
        .args(["--config"])
        .arg(&config)
        .args(["migrate"])
        .output()
        .unwrap();
    assert!(stderr(&out).contains("databse"), "{}", stderr(&out));

    let help = cli_for(&settings).args(["--help"]).output().unwrap();
    let help = stdout(&help);
    for command in ["serve", "migrate", "keys", "token", "audit"] {
        assert!(help.contains(command), "{help}");
    }
    let migrate = cli_for(&settings).args(["migrate"]).output().unwrap();
    assert!(migrate.status.success(), "{}", stderr(&migrate));
    assert!(stdout(&migrate).contains("up to date"));
}
