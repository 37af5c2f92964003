use crate::support::{expect_json, spawn_app, TestApp};
use sea_orm::ConnectionTrait;
use serde_json::json;

async fn busy_app() -> (TestApp, String) {
    let app = spawn_app().await;
    let manager = app.token("manager", "marketing").await;
    let id = app.account(&manager, "marketing", "@brand").await;
    app.set_totp(&manager, &id, "JBSWY3DPEHPK3PXP").await;
    for _ in 0..3 {
        expect_json(
            app.totp_code(&manager, &id, json!({"justification": "daily post"}))
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

fn cli_checkpoint(app: &TestApp) -> String {
    let out = app
        .cli()
        .args(["audit", "checkpoint"])
        .output()
        .expect("cli runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test]
async fn deleting_the_newest_events_is_caught_by_the_signed_checkpoint() {
    let (app, _) = busy_app().await;
    // Seq 1 records the key check values at the first start; 7 is the last reveal.
    assert!(cli_checkpoint(&app).starts_with("checkpoint at seq 7"));
    assert_eq!(
        cli_checkpoint(&app).lines().next(),
        Some("nothing new since the last checkpoint")
    );
    let (code, out) = cli_verify(&app);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("1 signed checkpoint matches"), "{out}");

    let auditor = app.token("auditor", "*").await;
    sql(&app, "DELETE FROM audit_event WHERE seq >= 6").await;
    // The chain that is left is consistent in itself…
    let chain = keyward::audit::verify(app.core.store.db(), |_| {})
        .await
        .unwrap();
    assert!(chain.ok && chain.checked == 5, "{chain:?}");
    // …but the checkpoint says there was more.
    let (code, out) = cli_verify(&app);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("seq 6") && out.contains("truncated"), "{out}");
    let report = expect_json(app.get("/api/v1/audit/verify", &auditor).await, 200).await;
    assert_eq!(
        (report["ok"].as_bool(), report["first_bad_seq"].as_i64()),
        (Some(false), Some(6))
    );
}

#[tokio::test]
async fn a_chain_rewritten_from_scratch_is_caught_and_a_forged_checkpoint_refused() {
    let (app, _) = busy_app().await;
    cli_checkpoint(&app);
    // A forger who knows the algorithm (but not the key) edits event 4 (totp.set) and re-chains
    // the rest.
    let mut prev = app.audit_rows().await[2].hash.clone();
    for mut row in app.audit_rows().await.into_iter().skip(3) {
        if row.seq == 4 {
            row.justification = Some("nothing happened".into());
        }
        row.prev_hash = prev.clone();
        row.hash = keyward::audit::canonical_hash(&row);
        sql(&app, &format!(
            "UPDATE audit_event SET justification = '{}', prev_hash = '{}', hash = '{}' WHERE seq = {}",
            row.justification.as_deref().unwrap_or_default(), row.prev_hash, row.hash, row.seq
        ))
        .await;
        prev = row.hash;
    }
    let chain = keyward::audit::verify(app.core.store.db(), |_| {})
        .await
        .unwrap();
    assert!(
        chain.ok,
        "the rewritten chain is consistent in itself: {chain:?}"
    );
    let (code, out) = cli_verify(&app);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("rewritten") && out.contains("seq 7"), "{out}");

    // Re-pointing the checkpoint at the forged head breaks its signature.
    sql(
        &app,
        &format!("UPDATE audit_checkpoint SET head_hash = '{prev}'"),
    )
    .await;
    let (code, out) = cli_verify(&app);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("not signed by this keyring's key"), "{out}");
}

#[tokio::test]
async fn the_server_signs_a_checkpoint_when_one_is_due_and_logs_nothing_secret_in_it() {
    let (app, _) = busy_app().await;
    // Defaults: every 1000 events or 10 minutes; the first checkpoint is due at once.
    app.core.checkpoint_audit().await.unwrap();
    app.core.checkpoint_audit().await.unwrap();
    let checkpoints = keyward::store::audit::checkpoints(app.core.store.db())
        .await
        .unwrap();
    assert_eq!(checkpoints.len(), 1, "nothing new, no second checkpoint");
    assert_eq!(checkpoints[0].seq, 7);
    assert_eq!(checkpoints[0].head_hash, app.audit_rows().await[6].hash);
    assert_eq!(checkpoints[0].key_id, app.core.keyring.checkpoint_key_id());
    // Not yet due: one new event, well under 1000 and 10 minutes.
    let manager = app.token("manager", "marketing").await;
    app.account(&manager, "marketing", "@another").await;
    app.core.checkpoint_audit().await.unwrap();
    let count = keyward::store::audit::checkpoints(app.core.store.db())
        .await
        .unwrap()
        .len();
    assert_eq!(count, 1);
}

#[tokio::test]
async fn the_api_streams_a_filtered_export_identical_to_the_cli_and_audits_it() {
    let (app, id) = busy_app().await;
    let manager = app.token("manager", "marketing").await;
    app.account(&manager, "marketing", "@other").await;
    let auditor = app.token("auditor", "*").await;
    // Seq 4 is totp.set (after the key check record, the token and the account).
    let since = app.audit_rows().await[3].at.to_rfc3339();
    let encoded: String = url::form_urlencoded::byte_serialize(since.as_bytes()).collect();

    // JSON lines about one account, from a time on.
    let res = app
        .get(
            &format!("/api/v1/audit/export?account={id}&since={encoded}"),
            &auditor,
        )
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "application/x-ndjson");
    let body = res.text().await.unwrap();
    let events: Vec<serde_json::Value> = body
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let expected: Vec<i64> = app
        .audit_rows()
        .await
        .iter()
        .filter(|r| r.target.as_deref() == Some(&format!("account:{id}")) && r.seq >= 4)
        .map(|r| r.seq)
        .collect();
    let got: Vec<i64> = events.iter().map(|e| e["seq"].as_i64().unwrap()).collect();
    assert_eq!(got, expected);
    assert_eq!(got.len(), 4, "totp.set and three reveals");
    // The CLI with the same filter writes the same bytes.
    let out = app
        .cli()
        .args([
            "audit",
            "export",
            "--format",
            "jsonl",
            "--account",
            &id,
            "--since",
            &since,
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), body);

    // CSV by actor: header first, stable columns; an empty window is just the header.
    let actor = app.audit_rows().await[2].actor.clone();
    let csv = app
        .get(
            &format!("/api/v1/audit/export?format=csv&actor={actor}"),
            &auditor,
        )
        .await
        .text()
        .await
        .unwrap();
    let mut lines = csv.lines();
    assert_eq!(lines.next(), Some(keyward::audit::CSV_HEADER));
    assert_eq!(
        lines.count(),
        5,
        "account.create, totp.set and three reveals"
    );
    let empty = app
        .get("/api/v1/audit/export?format=csv&until=2000-01-01", &auditor)
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(empty.trim_end(), keyward::audit::CSV_HEADER);

    // Refusals, and the export itself in the trail.
    let operator = app.token("operator", "marketing").await;
    let refused = app.get("/api/v1/audit/export", &operator).await;
    assert_eq!(refused.status(), 403);
    let bad = app
        .get("/api/v1/audit/export?since=yesterday", &auditor)
        .await;
    crate::support::expect_error(bad, 422, "invalid_time").await;
    let bad = app.get("/api/v1/audit/export?format=xml", &auditor).await;
    crate::support::expect_error(bad, 422, "invalid_format").await;
    let exports = app
        .audit_rows()
        .await
        .into_iter()
        .filter(|r| r.action == "audit.export")
        .count();
    assert_eq!(exports, 3);
    let cli = app
        .cli()
        .args(["audit", "export", "--since", "yesterday"])
        .output()
        .unwrap();
    assert_eq!(cli.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&cli.stderr).contains("not a time like"));
}

fn auditor_caller() -> keyward::services::Caller {
    use keyward::authn::{Binding, Principal, PrincipalKind};
    keyward::services::Caller {
        principal: Principal {
            kind: PrincipalKind::Token,
            id: "auditor".into(),
            name: "auditor".into(),
            email: None,
            bindings: vec![Binding {
                team: "*".into(),
                role: keyward::authz::Role::Auditor,
            }],
        },
        meta: Default::default(),
        session: None,
    }
}

#[tokio::test]
async fn the_audit_page_recomputes_only_new_events_and_the_full_check_finds_older_edits() {
    let (app, id) = busy_app().await;
    let caller = auditor_caller();
    let first = app.core.audit_chain_status(&caller).await.unwrap();
    let head = app.audit_rows().await.last().unwrap().seq;
    assert!(
        first.report.ok && first.report.head_seq == head,
        "{:?}",
        first.report
    );
    assert_eq!(
        first.report.checked, head,
        "the first look recomputes everything"
    );
    assert!(first.last_full.is_none());

    let again = app.core.audit_chain_status(&caller).await.unwrap();
    assert_eq!(again.report.checked, 0, "nothing new, nothing recomputed");
    let manager = app.token("manager", "marketing").await;
    for _ in 0..3 {
        expect_json(app.totp_code(&manager, &id, json!({})).await, 200).await;
    }
    let later = app.core.audit_chain_status(&caller).await.unwrap();
    // The token's creation and three reveals.
    assert_eq!((later.report.ok, later.report.checked), (true, 4));

    // An edit behind the verified head is left to the full recomputation (the background
    // job, the API's verify and the CLI), which finds it and is remembered for the page.
    sql(
        &app,
        "UPDATE audit_event SET justification = 'edited' WHERE seq = 5",
    )
    .await;
    assert!(
        app.core
            .audit_chain_status(&caller)
            .await
            .unwrap()
            .report
            .ok
    );
    let full = app.core.verify_audit_fully().await.unwrap();
    assert_eq!((full.ok, full.first_bad_seq), (false, Some(5)));
    let shown = app.core.audit_chain_status(&caller).await.unwrap();
    assert_eq!(
        shown.last_full.map(|(_, r)| (r.ok, r.first_bad_seq)),
        Some((false, Some(5)))
    );
}
