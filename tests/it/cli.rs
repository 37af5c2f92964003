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
    // Every row MAC was renewed under the new key, and every row still verifies.
    let check = app.cli().args(["integrity", "check"]).output().unwrap();
    assert!(check.status.success(), "{}", stdout(&check));
    let macs: Vec<String> = {
        use sea_orm::ConnectionTrait;
        let db = app.core.store.db();
        db.query_all(sea_orm::Statement::from_string(
            db.get_database_backend(),
            "SELECT mac FROM account UNION ALL SELECT mac FROM service_token".to_owned(),
        ))
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.try_get::<String>("", "mac").unwrap())
        .collect()
    };
    assert!(
        !macs.is_empty() && macs.iter().all(|m| m.starts_with("kek-0002:")),
        "{macs:?}"
    );
    assert!(app
        .audit_rows()
        .await
        .iter()
        .any(|r| r.action == "integrity.rekey"));

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

/// The binary with no `KEYWARD_*` variable at all, in `dir`.
fn bare_cli(dir: &std::path::Path) -> std::process::Command {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_keyward"));
    for (key, _) in std::env::vars() {
        if key.starts_with("KEYWARD_") {
            cmd.env_remove(key);
        }
    }
    cmd.current_dir(dir);
    cmd
}

#[tokio::test]
async fn without_a_configuration_the_cli_says_where_it_looks_and_creates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    for args in [&["token", "list"][..], &["migrate"], &["audit", "verify"]] {
        let out = bare_cli(dir.path()).args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = stderr(&out);
        assert!(
            err.contains("no configuration found")
                && err.contains("--config PATH or KEYWARD_CONFIG")
                && err.contains("KEYWARD_DATABASE_URL"),
            "{args:?}: {err}"
        );
        assert!(
            !err.contains("pending migration"),
            "{args:?}: no talk of migrations: {err}"
        );
    }
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "no ./keyward.db was created"
    );
    // What needs no database still works without one.
    let out = bare_cli(dir.path())
        .args(["runbook", "list"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let out = bare_cli(dir.path()).args(["doctor"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stdout(&out).contains("FAIL  configuration"),
        "{}",
        stdout(&out)
    );
}

#[tokio::test]
async fn audit_export_filters_by_action_and_ends_quietly_when_the_reader_goes_away() {
    let app = spawn_app().await;
    let manager = app.token("manager", "*").await;
    let id = app.account(&manager, "marketing", "@brand").await;
    app.set_totp(&manager, &id, SEED).await;
    for _ in 0..3 {
        let res = app
            .totp_code(&manager, &id, json!({"justification": "weekly post"}))
            .await;
        expect_json(res, 200).await;
    }
    let out = cli_for(&app.settings)
        .args(["audit", "export", "--action", "totp.reveal"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let lines: Vec<String> = stdout(&out).lines().map(str::to_owned).collect();
    assert_eq!(lines.len(), 3, "{lines:?}");
    assert!(lines
        .iter()
        .all(|l| l.contains("\"action\":\"totp.reveal\"")));

    // `keyward audit export | head -0`: the pipe is closed before anything is written.
    let mut child = cli_for(&app.settings)
        .args(["audit", "export"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let err = stderr(&out);
    assert!(
        out.status.success() && !err.contains("Broken pipe") && err.is_empty(),
        "{:?}: {err}",
        out.status
    );
}

#[tokio::test]
async fn serve_writes_no_colour_codes_and_no_runtime_chatter_into_a_pipe() {
    let dir = tempfile::tempdir().unwrap();
    let settings = test_settings(dir.path()).await;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    for format in ["pretty", "json"] {
        let log_path = dir.path().join(format!("serve-{format}.log"));
        let log = std::fs::File::create(&log_path).unwrap();
        let mut server = cli_for(&settings)
            .args(["serve"])
            .env("KEYWARD_LISTEN", format!("127.0.0.1:{port}"))
            .env("KEYWARD_LOG__FORMAT", format)
            .env_remove("RUST_LOG")
            .stdout(std::process::Stdio::from(log.try_clone().unwrap()))
            .stderr(std::process::Stdio::from(log))
            .spawn()
            .unwrap();
        let client = reqwest::Client::new();
        let mut up = false;
        for _ in 0..100 {
            if client
                .get(format!("http://127.0.0.1:{port}/healthz"))
                .send()
                .await
                .is_ok()
            {
                up = true;
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        let _ = server.kill();
        let _ = server.wait();
        let text = std::fs::read_to_string(&log_path).unwrap();
        assert!(up, "{text}");
        assert!(text.contains("keyward is serving"), "{format}: {text}");
        assert!(!text.contains('\u{1b}'), "{format}: no ANSI codes: {text}");
        assert!(
            !text.contains("Tokio runtime found"),
            "{format}: no runtime chatter: {text}"
        );
    }
}

#[tokio::test]
async fn doctor_says_what_is_in_order_and_what_is_wrong() {
    // A server has run on this database: its key check values are recorded.
    let app = spawn_app().await;
    let settings = &app.settings;
    let dir = &app.dir;
    let key_file = settings.keys.key_file.clone().unwrap();
    let out = cli_for(settings).args(["doctor"]).output().unwrap();
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("ok    keys          key file"), "{text}");
    assert!(text.contains("(mode 600)"), "{text}");
    assert!(
        text.contains("ok    database      connected; schema up to date"),
        "{text}"
    );
    assert!(text.contains("every key's check value matches"), "{text}");
    assert!(
        text.contains("environment overrides in effect (values not shown): KEYWARD_DATABASE_URL, KEYWARD_KEY_FILE"),
        "{text}"
    );
    assert!(
        text.contains("WARN  sign-in       no [oidc] section"),
        "{text}"
    );

    // A key file others can read (the keyring refuses it), and another key file: failures.
    std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = cli_for(settings).args(["doctor"]).output().unwrap();
    let text = stdout(&out);
    assert!(
        text.contains("FAIL  keys") && text.contains("has mode 644"),
        "{text}"
    );
    assert_eq!(text.matches("FAIL").count(), 1, "said once: {text}");
    assert_eq!(out.status.code(), Some(1), "{text}");
    std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let other = dir.path().join("other-keys.json");
    keyward::crypto::KeyFile::generate().create(&other).unwrap();
    let out = cli_for(settings)
        .args(["doctor"])
        .env("KEYWARD_KEY_FILE", &other)
        .output()
        .unwrap();
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("FAIL  keys") && text.contains("not the key this database was written with"),
        "{text}"
    );

    // An identity provider that does not answer, and a public_url on another port.
    let config = dir.path().join("keyward.toml");
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    std::fs::write(
        &config,
        format!(
            "listen = \"127.0.0.1:8080\"\npublic_url = \"http://127.0.0.1:9999\"\n[oidc]\nissuer = \"http://127.0.0.1:{closed}\"\nclient_id = \"keyward\"\nclient_secret = \"doctor-must-not-print-this\"\n"
        ),
    )
    .unwrap();
    let out = cli_for(settings)
        .arg("--config")
        .arg(&config)
        .args(["doctor", "--timeout", "2"])
        .output()
        .unwrap();
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("FAIL  sign-in") && text.contains("cannot be fetched"),
        "{text}"
    );
    assert!(
        text.contains("WARN  addresses") && text.contains("port 9999"),
        "{text}"
    );
    assert!(!text.contains("doctor-must-not-print-this"), "{text}");
}

#[tokio::test]
async fn doctor_finds_the_identity_provider_and_names_the_redirect_url() {
    let sso = crate::support::idp::spawn_sso_app("").await;
    let issuer = sso.idp.issuer.clone();
    let config = sso.app.dir.path().join("doctor.toml");
    std::fs::write(
        &config,
        format!(
            "public_url = \"{}\"\n[oidc]\nissuer = \"{issuer}\"\nclient_id = \"keyward\"\nclient_secret = \"keyward-dev-secret\"\n",
            sso.app.base
        ),
    )
    .unwrap();
    let out = cli_for(&sso.app.settings)
        .arg("--config")
        .arg(&config)
        .args(["doctor"])
        .output()
        .unwrap();
    let text = stdout(&out);
    assert!(
        text.contains("ok    sign-in       identity provider"),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "must allow the redirect URL {}/auth/callback",
            sso.app.base
        )),
        "{text}"
    );
    assert!(
        text.contains("within a second of the identity provider's Date")
            || text.contains("WARN  clock"),
        "the IdP's clock is compared: {text}"
    );
    // The server measures the IdP's clock at start (then every ten minutes): /readyz says it.
    let mut ready = serde_json::Value::Null;
    for _ in 0..100 {
        ready = sso
            .app
            .client
            .get(format!("{}/readyz", sso.app.base))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if ready["clock"]["idp_skew_ms"].is_i64() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(
        ready["clock"]["idp_skew_ms"]
            .as_i64()
            .is_some_and(|ms| ms.abs() < 3_000),
        "{ready}"
    );
    assert_eq!(ready["warnings"], json!([]), "{ready}");
}
