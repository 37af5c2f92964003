use crate::support::{expect_json, spawn_app};
use serde_json::json;

#[tokio::test]
async fn health_and_readiness_answer_without_a_token() {
    let app = spawn_app().await;
    let health = app
        .client
        .get(format!("{}/healthz", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(expect_json(health, 200).await, json!({"status": "ok"}));
    let ready = app
        .client
        .get(format!("{}/readyz", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(expect_json(ready, 200).await["status"], "ready");
}

#[tokio::test]
async fn the_openapi_document_describes_the_contract() {
    let app = spawn_app().await;
    let res = app
        .client
        .get(format!("{}/api/v1/openapi.json", app.base))
        .send()
        .await
        .unwrap();
    let doc = expect_json(res, 200).await;
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let paths = doc["paths"].as_object().unwrap();
    for path in [
        "/healthz",
        "/readyz",
        "/api/v1/me",
        "/api/v1/accounts",
        "/api/v1/accounts/{id}",
        "/api/v1/accounts/{id}/totp",
        "/api/v1/accounts/{id}/totp/code",
        "/api/v1/accounts/{id}/totp/export",
        "/api/v1/accounts/{id}/hotp",
        "/api/v1/accounts/{id}/hotp/code",
        "/api/v1/audit",
        "/api/v1/audit/verify",
    ] {
        assert!(paths.contains_key(path), "{path} documented");
    }
    assert!(doc["components"]["schemas"]["TotpCodeOut"]["properties"]["next_code"].is_object());
}

#[tokio::test]
async fn a_body_that_stalls_is_cut_off_with_408_and_its_connection_closed() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let dir = tempfile::tempdir().unwrap();
    let mut settings = crate::support::test_settings(dir.path()).await;
    settings.http.body_timeout_seconds = 1;
    let app = crate::support::spawn_with(dir, settings).await;
    let token = app.token("manager", "marketing").await;
    let addr = app.base.trim_start_matches("http://").to_owned();
    // Twenty clients each declare 100 bytes and send 10.
    let mut clients = Vec::new();
    for _ in 0..20 {
        let mut stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
        let head = format!(
            "POST /api/v1/accounts HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\n\
             Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"team\":"
        );
        stream.write_all(head.as_bytes()).await.unwrap();
        clients.push(stream);
    }
    let started = std::time::Instant::now();
    for mut stream in clients {
        let mut answer = Vec::new();
        // The server answers and closes: read to the end, within the deadline plus slack.
        tokio::time::timeout(
            std::time::Duration::from_secs(10),
            stream.read_to_end(&mut answer),
        )
        .await
        .expect("the connection is closed, not held")
        .unwrap();
        let text = String::from_utf8_lossy(&answer);
        assert!(text.starts_with("HTTP/1.1 408"), "{text}");
        assert!(text.contains("request_timeout"), "{text}");
    }
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
}

#[tokio::test]
async fn the_sqlite_database_and_its_wal_are_private_to_their_owner() {
    use std::os::unix::fs::PermissionsExt;
    if crate::support::backend() != "sqlite" {
        return;
    }
    let mode =
        |path: &std::path::Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
    let app = crate::support::spawn_app().await;
    let manager = app.token("manager", "marketing").await;
    app.account(&manager, "marketing", "@brand").await;
    let db = app.dir.path().join("keyward.db");
    for file in [
        db.clone(),
        app.dir.path().join("keyward.db-wal"),
        app.dir.path().join("keyward.db-shm"),
    ] {
        assert!(file.exists(), "{}", file.display());
        assert_eq!(mode(&file), 0o600, "{}", file.display());
    }
    // A database made elsewhere, readable by everyone, is narrowed at the next start.
    drop(app);
    let dir = tempfile::tempdir().unwrap();
    let settings = crate::support::test_settings(dir.path()).await;
    let path = dir.path().join("keyward.db");
    std::fs::write(&path, b"").unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let _app = crate::support::spawn_with(dir, settings).await;
    assert_eq!(mode(&path), 0o600);
}
