//! The OpenAPI document as outside clients see it, judged by an outside tool: Schemathesis
//! (pinned in tests/schemathesis/requirements.txt, installed by `make test-deps`) generates
//! requests for every operation from the served document, with real ids, and checks that no
//! answer is a 5xx and every answer matches what the document says (status, content type,
//! body schema). Runs on SQLite and, with KW_TEST_DB=postgres, on PostgreSQL.

use crate::support::{expect_json, spawn_with, test_settings};
use keyward::authn::Binding;
use keyward::authz::Role;
use serde_json::json;

/// Where `make test-deps` installs Schemathesis (or `KW_SCHEMATHESIS`).
fn schemathesis() -> std::path::PathBuf {
    match std::env::var_os("KW_SCHEMATHESIS") {
        Some(path) => path.into(),
        None => std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../target/schemathesis/bin/schemathesis"),
    }
}

#[tokio::test]
async fn schemathesis_finds_no_server_error_and_no_answer_outside_the_document() {
    let tool = schemathesis();
    assert!(
        tool.exists(),
        "{} is missing: run `make test-deps` (it installs the pinned Schemathesis)",
        tool.display()
    );
    let dir = tempfile::tempdir().unwrap();
    let mut settings = test_settings(dir.path()).await;
    // Failed authentications are part of the fuzzing; the per-address limit has its own tests.
    settings.http.anonymous_per_minute = 0;
    let app = spawn_with(dir, settings).await;

    // One token that may do everything, so every operation is reachable.
    let bindings = [Role::Manager, Role::SecurityAdmin, Role::Auditor]
        .into_iter()
        .map(|role| Binding {
            team: "*".into(),
            role,
        })
        .collect();
    let (_, token) = keyward::services::tokens::create(
        &app.core.store,
        &app.core.integrity,
        "fuzz",
        bindings,
        None,
    )
    .await
    .unwrap();
    let token = token.as_str().to_owned();
    let id = app.account(&token, "marketing", "@fuzzed").await;
    app.set_totp(&token, &id, "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP")
        .await;
    for (path, body) in [
        (
            "hotp",
            json!({"secret": "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP", "counter": 5}),
        ),
        (
            "password",
            json!({"password": "correct horse battery staple"}),
        ),
    ] {
        expect_json(
            app.put(&format!("/api/v1/accounts/{id}/{path}"), &token, body)
                .await,
            201,
        )
        .await;
    }
    expect_json(
        app.post(
            &format!("/api/v1/accounts/{id}/backup-codes"),
            &token,
            json!({"codes": (1..=20).map(|i| format!("{i:04}-7777")).collect::<Vec<_>>(), "issued_on": "2025-12-16"}),
        )
        .await,
        201,
    )
    .await;
    expect_json(
        app.post(
            &format!("/api/v1/accounts/{id}/backup-codes/checkout"),
            &token,
            json!({"justification": "fuzzing"}),
        )
        .await,
        200,
    )
    .await;

    let work = tempfile::tempdir().unwrap();
    let config = work.path().join("schemathesis.toml");
    std::fs::write(&config, config_for(&id)).unwrap();
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(tool)
            .current_dir(work.path())
            .env("KW_FUZZ_TOKEN", &token)
            .env("NO_COLOR", "1")
            .args(["--config-file"])
            .arg(&config)
            .args(["run", "--no-color"])
            .arg(format!("{}/api/v1/openapi.json", app.base))
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let report = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "Schemathesis found problems:\n{report}"
    );
    let summary: Vec<&str> = report.lines().rev().take(30).collect();
    println!(
        "{}",
        summary.into_iter().rev().collect::<Vec<_>>().join("\n")
    );
    // It really ran: every operation was tested, none skipped for lack of data.
    assert!(report.contains("passed"), "{report}");
}

/// The run's configuration: real ids for path parameters, a bounded number of examples,
/// deterministic, and the checks that hold the server to its document.
fn config_for(account: &str) -> String {
    format!(
        r#"seed = 9
headers = {{ Authorization = "Bearer ${{KW_FUZZ_TOKEN}}" }}

[generation]
max-examples = 6
database = "none"

[phases]
stateful.enabled = false
coverage.unexpected-methods = []

[checks]
enabled = false
not_a_server_error.enabled = true
status_code_conformance.enabled = true
content_type_conformance.enabled = true
response_schema_conformance.enabled = true

[parameters]
"path.id" = "{account}"
"path.position" = 1
"path.name" = "app.css"
"path.lang" = "ja"
"#
    )
}
