//! Concurrency is tested, not assumed.

use crate::support::otp::{base32, hotp_sha1};
use crate::support::{expect_json, spawn_app};
use futures_util::future::join_all;
use serde_json::json;
use std::collections::BTreeSet;

#[tokio::test]
async fn concurrent_hotp_reveals_never_share_a_counter() {
    let app = spawn_app().await;
    let manager = app.token("manager", "marketing").await;
    let id = app.account(&manager, "marketing", "@bot").await;
    let seed = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";
    expect_json(
        app.put(
            &format!("/api/v1/accounts/{id}/hotp"),
            &manager,
            json!({"secret": seed}),
        )
        .await,
        201,
    )
    .await;
    let path = format!("/api/v1/accounts/{id}/hotp/code");
    let results = join_all((0..24).map(|_| app.post(&path, &manager, json!({})))).await;
    let mut counters = BTreeSet::new();
    for res in results {
        let body = expect_json(res, 200).await;
        let counter = body["counter"].as_u64().unwrap();
        assert_eq!(body["code"], hotp_sha1(&base32(seed), counter, 6).as_str());
        assert!(
            counters.insert(counter),
            "counter {counter} handed out twice"
        );
    }
    assert_eq!(counters, (0..24).collect::<BTreeSet<u64>>());
}

#[tokio::test]
async fn concurrent_writers_keep_one_linear_audit_chain() {
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
    let reveal = format!("/api/v1/accounts/{id}/totp/code");
    let reveals = (0..30).map(|_| app.post(&reveal, &manager, json!({})));
    let creates = (0..10).map(|i| {
        app.post(
            "/api/v1/accounts",
            &manager,
            json!({"team": "marketing", "platform": "x", "handle": format!("@c{i}")}),
        )
    });
    let (revealed, created) = tokio::join!(join_all(reveals), join_all(creates));
    assert!(revealed.iter().all(|r| r.status() == 200));
    assert!(created.iter().all(|r| r.status() == 201));

    let rows = app.audit_rows().await;
    assert_eq!(
        rows.iter().filter(|r| r.action == "totp.reveal").count(),
        30
    );
    assert_eq!(
        rows.iter().filter(|r| r.action == "account.create").count(),
        11
    );
    let report = keyward::audit::verify(app.core.store.db(), |_| {})
        .await
        .unwrap();
    assert!(report.ok, "{report:?}");
    assert_eq!(report.checked, rows.len() as i64);
}
