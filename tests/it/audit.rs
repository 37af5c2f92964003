use crate::support::{expect_json, spawn_app, TestApp};
use sea_orm::ConnectionTrait;
use serde_json::json;

async fn busy_app() -> (TestApp, String) {
    let app = spawn_app().await;
    let manager = app.token("manager", "marketing").await;
    let id = app.account(&manager, "marketing", "@brand").await;
    expect_json(
        app.put(
            &format!("/api/v1/accounts/{id}/totp"),
            &manager,
            json!({"secret": "JBSWY3DPEHPK3PXP"}),
        )
        .await,
        201,
    )
    .await;
    for _ in 0..3 {
        expect_json(
            app.post(
                &format!("/api/v1/accounts/{id}/totp/code"),
                &manager,
                json!({"justification": "daily post"}),
            )
            .await,
            200,
        )
        .await;
    }
    (app, id)
}

async fn sql(app: &TestApp, statement: &str) {
    app.core
        .store
        .db()
        .execute_unprepared(statement)
        .await
        .expect("statement runs");
}

fn cli_verify(app: &TestApp) -> (i32, String) {
    let out = app
        .cli()
        .args(["audit", "verify"])
        .output()
        .expect("cli runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[tokio::test]
async fn the_trail_reads_in_pages_with_filters_and_links_each_event_to_the_last() {
    let (app, id) = busy_app().await;
    let auditor = app.token("auditor", "*").await;
    let all = expect_json(app.get("/api/v1/audit?limit=500", &auditor).await, 200).await;
    let events = all["events"].as_array().unwrap();
    // token.create x2, account.create, totp.set, 3 reveals
    assert!(events.len() >= 7, "{events:?}");
    for pair in events.windows(2) {
        assert_eq!(pair[1]["prev_hash"], pair[0]["hash"]);
        assert_eq!(
            pair[1]["seq"].as_i64().unwrap(),
            pair[0]["seq"].as_i64().unwrap() + 1
        );
    }
    for field in [
        "seq",
        "at",
        "actor",
        "action",
        "target",
        "team",
        "outcome",
        "justification",
        "request_id",
        "hash",
        "prev_hash",
    ] {
        assert!(events[0].get(field).is_some(), "event has {field}");
    }

    let page1 = expect_json(app.get("/api/v1/audit?limit=2", &auditor).await, 200).await;
    assert_eq!(page1["events"].as_array().unwrap().len(), 2);
    let next = page1["next"].as_i64().unwrap();
    let page2 = expect_json(
        app.get(&format!("/api/v1/audit?limit=2&after={next}"), &auditor)
            .await,
        200,
    )
    .await;
    assert_eq!(page2["events"][0]["seq"].as_i64().unwrap(), next + 1);

    let reveals = expect_json(
        app.get(
            &format!("/api/v1/audit?action=totp.reveal&account={id}"),
            &auditor,
        )
        .await,
        200,
    )
    .await;
    let reveals = reveals["events"].as_array().unwrap();
    assert_eq!(reveals.len(), 3);
    assert!(reveals
        .iter()
        .all(|e| e["justification"] == "daily post" && e["team"] == "marketing"));
    assert_eq!(
        expect_json(
            app.get("/api/v1/audit?action=totp.reveal&limit=500", &auditor)
                .await,
            200
        )
        .await["next"],
        json!(null)
    );

    let actor = reveals[0]["actor"].as_str().unwrap();
    let by_actor = expect_json(
        app.get(&format!("/api/v1/audit?actor={actor}"), &auditor)
            .await,
        200,
    )
    .await;
    assert!(by_actor["events"]
        .as_array()
        .unwrap()
        .iter()
        .all(|e| e["actor"] == actor));
}

#[tokio::test]
async fn an_intact_chain_verifies_over_the_api_and_the_cli() {
    let (app, _) = busy_app().await;
    let auditor = app.token("auditor", "*").await;
    let report = expect_json(app.get("/api/v1/audit/verify", &auditor).await, 200).await;
    assert_eq!(report["ok"], true);
    let rows = app.audit_rows().await;
    assert_eq!(report["checked"].as_i64().unwrap(), rows.len() as i64);
    assert_eq!(report["head"], rows.last().unwrap().hash.as_str());
    let (code, out) = cli_verify(&app);
    assert_eq!(code, 0, "{out}");
    assert!(out.starts_with("ok:"), "{out}");
}

#[tokio::test]
async fn an_edited_event_breaks_the_chain_at_its_sequence_number() {
    let (app, _) = busy_app().await;
    sql(
        &app,
        "UPDATE audit_event SET justification = 'nothing to see' WHERE seq = 5",
    )
    .await;
    let auditor = app.token("auditor", "*").await;
    let report = expect_json(app.get("/api/v1/audit/verify", &auditor).await, 200).await;
    assert_eq!(report["ok"], false);
    assert_eq!(report["first_bad_seq"], 5);
    let (code, out) = cli_verify(&app);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("seq 5"), "{out}");
}

#[tokio::test]
async fn a_deleted_event_breaks_the_chain() {
    let (app, _) = busy_app().await;
    sql(&app, "DELETE FROM audit_event WHERE seq = 4").await;
    let (code, out) = cli_verify(&app);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("seq 4"), "{out}");
}

#[tokio::test]
async fn reordered_events_break_the_chain() {
    let (app, _) = busy_app().await;
    sql(&app, "UPDATE audit_event SET seq = -1 WHERE seq = 3").await;
    sql(&app, "UPDATE audit_event SET seq = 3 WHERE seq = 4").await;
    sql(&app, "UPDATE audit_event SET seq = 4 WHERE seq = -1").await;
    let (code, out) = cli_verify(&app);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("seq 3"), "{out}");
}

#[tokio::test]
async fn the_cli_exports_every_event_as_json_lines_and_csv() {
    let (app, _) = busy_app().await;
    let n = app.audit_rows().await.len();
    let out = app
        .cli()
        .args(["audit", "export", "--format", "jsonl"])
        .output()
        .expect("cli runs");
    assert!(out.status.success());
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is JSON"))
        .collect();
    assert_eq!(lines.len(), n);
    assert_eq!(lines[0]["seq"], 1);
    assert!(lines[0]["at"].as_str().unwrap().ends_with('Z'));

    let file = app.dir.path().join("audit.csv");
    let out = app
        .cli()
        .args(["audit", "export", "--format", "csv", "--output"])
        .arg(&file)
        .output()
        .expect("cli runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let csv = std::fs::read_to_string(&file).unwrap();
    let mut rows = csv.lines();
    assert_eq!(rows.next(), Some(keyward::audit::CSV_HEADER));
    assert_eq!(rows.count(), n);
}
