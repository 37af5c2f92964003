//! Prometheus metrics on their own listener, checked by `promtool` (Debian's `prometheus`).

use crate::support::{expect_json, spawn_app, spawn_process_with};
use serde_json::json;
use std::io::Write;
use std::net::TcpListener;
use std::process::{Command, Stdio};

/// The value of the sample `series` (name and labels, exactly as exposed).
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|value| value.split_whitespace().next()?.parse().ok())
}

#[tokio::test]
async fn metrics_count_requests_and_reveals_by_route_and_outcome_without_identities_and_pass_promtool(
) {
    let app = spawn_app().await;
    let manager = app.token("manager", "marketing").await;
    let viewer = app.token("viewer", "marketing").await;
    let handle = "@metrics-handle-7f3a";
    let id = app.account(&manager, "marketing", handle).await;
    let seed = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP";
    app.set_totp(&manager, &id, seed).await;
    expect_json(
        app.post(
            &format!("/api/v1/accounts/{id}/backup-codes"),
            &manager,
            json!({"codes": ["1111-2222", "3333-4444"], "issued_on": "2025-12-16"}),
        )
        .await,
        201,
    )
    .await;
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let metrics_url = format!("http://127.0.0.1:{port}/metrics");
    let server = spawn_process_with(
        &app.settings,
        &[
            ("KEYWARD_METRICS_LISTEN", format!("127.0.0.1:{port}")),
            // On PostgreSQL group commit is off by default; the batch series need it.
            ("KEYWARD_DATABASE__GROUP_COMMIT", "true".to_owned()),
        ],
    )
    .await;
    let client = reqwest::Client::new();
    let post = |token: &str, path: String| {
        client
            .post(format!("{}{path}", server.base))
            .bearer_auth(token)
            .json(&json!({"justification": "metrics test"}))
            .send()
    };
    for _ in 0..3 {
        let res = post(&manager, format!("/api/v1/accounts/{id}/totp/code"))
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
    }
    let res = post(&viewer, format!("/api/v1/accounts/{id}/totp/code"))
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    let res = post(
        &manager,
        format!("/api/v1/accounts/{id}/backup-codes/checkout"),
    )
    .await
    .unwrap();
    assert_eq!(res.status(), 200);
    // The application listener does not serve metrics.
    let res = client
        .get(format!("{}/metrics", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);

    // An escalation waiting in the outbox (for a webhook this process does not have).
    keyward::store::notifications::enqueue(
        app.core.store.db(),
        &app.core.integrity,
        "task-of-the-metrics-test",
        "a-hook",
        "{}",
        "another-replica",
        chrono::Utc::now(),
    )
    .await
    .unwrap();
    let res = client.get(&metrics_url).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain; version=0.0.4"));
    let text = res.text().await.unwrap();

    let reveals = r#"keyward_http_requests_total{method="POST",route="/api/v1/accounts/{id}/totp/code",status="200"}"#;
    assert_eq!(sample(&text, reveals), Some(3.0), "{text}");
    let uses = |kind: &str, outcome: &str| {
        sample(
            &text,
            &format!(r#"keyward_secret_uses_total{{kind="{kind}",outcome="{outcome}"}}"#),
        )
    };
    assert_eq!(uses("totp", "success"), Some(3.0));
    assert_eq!(uses("totp", "denied"), Some(1.0));
    assert_eq!(uses("backup_code", "success"), Some(1.0));
    // Four successful audited writes (three reveals and a check-out) went through group
    // commits; the refused reveal's audit event too.
    let units = sample(&text, "keyward_audit_batch_units_sum").unwrap();
    assert!(units >= 4.0, "{units}");
    assert!(sample(&text, "keyward_audit_append_duration_seconds_count").unwrap() >= 4.0);
    assert!(
        sample(
            &text,
            r#"keyward_http_request_duration_seconds_count{method="POST",route="/api/v1/accounts/{id}/totp/code"}"#
        ) == Some(4.0),
        "{text}"
    );
    // The check-out opened a rotation task; the gauges say what the database holds.
    let (open, overdue) = keyward::store::rotation::totals(app.core.store.db())
        .await
        .unwrap();
    assert!(open >= 1);
    assert_eq!(
        sample(&text, r#"keyward_rotation_tasks{state="open"}"#),
        Some(open as f64)
    );
    assert_eq!(
        sample(&text, r#"keyward_rotation_tasks{state="overdue"}"#),
        Some(overdue as f64)
    );
    assert!(sample(&text, r#"keyward_db_pool_connections{state="max"}"#).unwrap() >= 1.0);
    assert_eq!(
        sample(&text, r#"keyward_notifications{state="waiting"}"#),
        Some(1.0)
    );
    assert_eq!(
        sample(&text, r#"keyward_notifications{state="given_up"}"#),
        Some(0.0)
    );
    // Statements per reveal, over ten more: the token, the account with its team, the
    // caller's row lock, both rate windows in one upsert, the seed, the chain head (and its
    // lock on PostgreSQL through the pool) and the event: 6 on SQLite and 7 on PostgreSQL. They
    // run on the writer threads (issue 29), which count each statement as the pool does: the
    // same repository code sends the same statements on either path. Before the windows
    // shared one upsert (each was an upsert and a read), the account and its team one join,
    // and SQLite's inserts stopped reading their row back, it was 9 on PostgreSQL and more
    // than 7 on SQLite.
    let scrape = || async {
        let text = client
            .get(&metrics_url)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        sample(&text, "keyward_db_statements_total").unwrap()
    };
    // A scrape's own reads (the gauges), measured by two scrapes in a row, are taken off.
    let first = scrape().await;
    assert!(first > 0.0);
    let before = scrape().await;
    let own = before - first;
    for _ in 0..10 {
        let res = post(&manager, format!("/api/v1/accounts/{id}/totp/code"))
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
    }
    let per_reveal = (scrape().await - before - own) / 10.0;
    // On PostgreSQL the writer thread's batch takes the chain lock when it opens, with its
    // own savepoint, so the reveal no longer asks for it: 7 (8 before).
    let most = if app.core.store.backend() == sea_orm::DatabaseBackend::Sqlite {
        6.5
    } else {
        7.5
    };
    assert!(
        per_reveal <= most,
        "{per_reveal} statements per reveal (at most {most})"
    );
    // And per backup-code check-out, over ten of a generation of twenty (so no low-codes
    // task opens): the reveal's statements (the code's instead of the seed) plus the
    // failed-attempt budget (one read), the generation (one update that locks and returns
    // it), the code (one update that picks the lowest unused and returns it) and the count
    // left: 9 on SQLite and 11 on PostgreSQL; 12 and 14 when the budget read the generations
    // first, the generation was read and then locked, and the code read and then updated.
    let codes: Vec<String> = (0..20)
        .map(|i| format!("{:04}-{:04}", 7000 + i, 8000 + i))
        .collect();
    let many = app.account(&manager, "marketing", "@metrics-many").await;
    expect_json(
        app.post(
            &format!("/api/v1/accounts/{many}/backup-codes"),
            &manager,
            json!({"codes": codes, "issued_on": "2025-12-16"}),
        )
        .await,
        201,
    )
    .await;
    let before = scrape().await;
    for _ in 0..10 {
        let res = post(
            &manager,
            format!("/api/v1/accounts/{many}/backup-codes/checkout"),
        )
        .await
        .unwrap();
        assert_eq!(res.status(), 200);
    }
    let per_checkout = (scrape().await - before - own) / 10.0;
    // One more than before the exposure ledger: its row, written with the audit event. On
    // PostgreSQL one fewer since the writer thread's batch holds the chain lock (12 before).
    let most = if app.core.store.backend() == sea_orm::DatabaseBackend::Sqlite {
        10.5
    } else {
        11.5
    };
    assert!(
        per_checkout <= most,
        "{per_checkout} statements per check-out (at most {most})"
    );
    assert!(text.contains(&format!(
        r#"keyward_build_info{{version="{}"}} 1"#,
        env!("CARGO_PKG_VERSION")
    )));
    // No label holds an account, a handle, a member or a secret.
    for secret in [
        id.as_str(),
        handle,
        "metrics-handle",
        seed,
        &manager,
        &viewer,
        // The backup codes whole: "1111" alone can be part of a counter's value.
        "1111-2222",
        "3333-4444",
        "1111 2222",
    ] {
        assert!(!text.contains(secret), "the metrics name {secret:?}");
    }

    // promtool is the judge of the exposition format.
    let mut promtool = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool (Debian's prometheus package) is installed by make test-deps");
    promtool
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = promtool.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool: {}{}\n{text}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
async fn a_bad_metrics_listen_address_stops_start_up_with_its_key_named() {
    let app = spawn_app().await;
    let out = crate::support::cli_for(&app.settings)
        .args(["serve", "--no-migrate"])
        .env("KEYWARD_METRICS_LISTEN", "not-an-address")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("metrics_listen"), "{stderr}");
}
