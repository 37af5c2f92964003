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
    let ready = expect_json(ready, 200).await;
    assert_eq!(ready["status"], "ready");
    // The database server's clock against this host's: none on SQLite (the same clock),
    // a few milliseconds on a local PostgreSQL.
    let skew = &ready["clock"]["database_skew_ms"];
    if app.settings.database.url.starts_with("sqlite:") {
        assert!(skew.is_null(), "{ready}");
    } else {
        assert!(skew.as_i64().is_some_and(|ms| ms.abs() < 3_000), "{ready}");
    }
    assert!(
        ready["clock"]["idp_skew_ms"].is_null(),
        "no IdP configured: {ready}"
    );
    assert_eq!(ready["warnings"], json!([]));
}

/// Every route the server serves, as (method, path): the route table it is built from.
fn routes_in_table() -> Vec<(String, String)> {
    let mut routes: Vec<(String, String)> = keyward::http::routes::ROUTES
        .iter()
        .map(|r| (r.method.as_str().to_owned(), r.path.to_owned()))
        .collect();
    routes.sort();
    let before = routes.len();
    routes.dedup();
    assert_eq!(routes.len(), before, "a route is in the table twice");
    routes
}

#[tokio::test]
async fn every_route_is_in_the_openapi_document_with_its_parameters() {
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
    let routes = routes_in_table();
    assert!(routes.len() > 40, "{routes:?}");
    let mut missing = Vec::new();
    for (method, path) in &routes {
        match paths.get(path).and_then(|p| p.get(method)) {
            None => missing.push(format!("{method} {path}")),
            Some(op) => {
                let params = op["parameters"].as_array().cloned().unwrap_or_default();
                // Each {name} in the path is declared as a path parameter.
                for name in path
                    .split('{')
                    .skip(1)
                    .map(|p| p.split('}').next().unwrap())
                {
                    assert!(
                        params.iter().any(|p| p["name"] == name
                            && p["in"] == "path"
                            && p["required"] == true),
                        "{method} {path}: path parameter {name} is not declared: {params:?}"
                    );
                }
                // Nothing is declared in the path that is not in it.
                for p in params.iter().filter(|p| p["in"] == "path") {
                    let name = p["name"].as_str().unwrap();
                    assert!(
                        path.contains(&format!("{{{name}}}")),
                        "{method} {path}: {name} is not in the path"
                    );
                }
                let responses = op["responses"].as_object().unwrap();
                if path.starts_with("/api/v1/")
                    && op.get("security") != Some(&serde_json::json!([]))
                {
                    for status in ["401", "403", "429", "503"] {
                        assert!(
                            responses.contains_key(status),
                            "{method} {path}: {status} undocumented"
                        );
                    }
                }
                if path.starts_with("/api/v1/") && op.get("requestBody").is_some() {
                    for status in ["400", "413", "415", "422"] {
                        assert!(
                            responses.contains_key(status),
                            "{method} {path}: {status} undocumented"
                        );
                    }
                }
            }
        }
    }
    assert!(
        missing.is_empty(),
        "routes missing from the OpenAPI document: {missing:?}"
    );
    // And the document describes nothing the server does not serve.
    let documented: usize = paths
        .values()
        .map(|item| {
            ["get", "post", "put", "patch", "delete"]
                .iter()
                .filter(|m| item.get(**m).is_some())
                .count()
        })
        .sum();
    assert_eq!(documented, routes.len());
    // Query parameters are query parameters.
    let list = &paths["/api/v1/accounts"]["get"]["parameters"];
    assert!(
        list.as_array().unwrap().iter().all(|p| p["in"] == "query"),
        "{list}"
    );
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
