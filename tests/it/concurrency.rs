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
    app.set_totp(&manager, &id, "JBSWY3DPEHPK3PXP").await;
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

#[tokio::test]
async fn forty_concurrent_check_outs_of_ten_codes_hand_out_each_code_once_in_order() {
    let app = spawn_app().await;
    let manager = app.token("manager", "marketing").await;
    let id = app.account(&manager, "marketing", "@rush").await;
    let codes: Vec<String> = (0..10)
        .map(|i| format!("{i:04}-{:04}", 7919 * (i + 1)))
        .collect();
    expect_json(
        app.post(
            &format!("/api/v1/accounts/{id}/backup-codes"),
            &manager,
            json!({"codes": codes, "issued_on": "2025-12-16"}),
        )
        .await,
        201,
    )
    .await;
    // Forty operators at once, each with their own token.
    let mut tokens = Vec::new();
    for _ in 0..40 {
        tokens.push(app.token("operator", "marketing").await);
    }
    let path = format!("/api/v1/accounts/{id}/backup-codes/checkout");
    let results = join_all(
        tokens
            .iter()
            .map(|t| app.post(&path, t, json!({"justification": "locked out of the app"}))),
    )
    .await;
    let mut handed = BTreeSet::new();
    let mut positions = BTreeSet::new();
    let mut refused = 0;
    for res in results {
        match res.status().as_u16() {
            200 => {
                let body: serde_json::Value = res.json().await.unwrap();
                let position = body["position"].as_u64().unwrap();
                assert_eq!(
                    body["code"].as_str(),
                    Some(codes[position as usize - 1].as_str())
                );
                assert!(
                    handed.insert(body["code"].as_str().unwrap().to_owned()),
                    "a code was handed out twice"
                );
                positions.insert(position);
            }
            409 => {
                let body: serde_json::Value = res.json().await.unwrap();
                assert_eq!(body["error"]["code"], "no_backup_codes_left");
                refused += 1;
            }
            other => panic!(
                "unexpected status {other}: {}",
                res.text().await.unwrap_or_default()
            ),
        }
    }
    assert_eq!((handed.len(), refused), (10, 30));
    assert_eq!(positions, (1..=10).collect::<BTreeSet<u64>>());
    // In order: the audit chain (commit order) shows positions 1, 2, … 10.
    let rows = app.audit_rows().await;
    let in_commit_order: Vec<u64> = rows
        .iter()
        .filter(|r| r.action == "backup.checkout" && r.outcome == "success")
        .map(|r| {
            serde_json::from_str::<serde_json::Value>(&r.details).unwrap()["position"]
                .as_u64()
                .unwrap()
        })
        .collect();
    assert_eq!(in_commit_order, (1..=10).collect::<Vec<u64>>());
    let failed = rows
        .iter()
        .filter(|r| r.action == "backup.checkout" && r.outcome == "failure")
        .count();
    assert_eq!(failed, 30, "every refused check-out is audited");
    let report = keyward::audit::verify(app.core.store.db(), |_| {})
        .await
        .unwrap();
    assert!(report.ok, "{report:?}");
}

#[tokio::test]
async fn sixty_four_writers_across_two_server_processes_keep_one_linear_chain() {
    let app = spawn_app().await; // migrates the database and holds the key file
    let manager = app.token("manager", "marketing").await;
    let id = app.account(&manager, "marketing", "@shared").await;
    app.set_totp(&manager, &id, "JBSWY3DPEHPK3PXP").await;
    let first = crate::support::spawn_process(&app.settings).await;
    let second = crate::support::spawn_process(&app.settings).await;
    let client = reqwest::Client::new();
    let path = format!("/api/v1/accounts/{id}/totp/code");
    // 64 concurrent writers, half on each process, each revealing twice.
    let writers = (0..64).map(|w| {
        let base = if w % 2 == 0 {
            first.base.clone()
        } else {
            second.base.clone()
        };
        let (client, path, token) = (client.clone(), path.clone(), manager.clone());
        async move {
            for _ in 0..2 {
                let res = client
                    .post(format!("{base}{path}"))
                    .bearer_auth(&token)
                    .json(&json!({"justification": "two replicas"}))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(
                    res.status(),
                    200,
                    "{}",
                    res.text().await.unwrap_or_default()
                );
            }
        }
    });
    join_all(writers).await;
    let rows = app.audit_rows().await;
    assert_eq!(
        rows.iter().filter(|r| r.action == "totp.reveal").count(),
        128
    );
    let seqs: Vec<i64> = rows.iter().map(|r| r.seq).collect();
    assert_eq!(
        seqs,
        (1..=rows.len() as i64).collect::<Vec<_>>(),
        "no gap, no duplicate"
    );
    let report = keyward::audit::verify(app.core.store.db(), |_| {})
        .await
        .unwrap();
    assert!(
        report.ok && report.checked == rows.len() as i64,
        "{report:?}"
    );
}

#[tokio::test]
async fn check_outs_racing_imports_hand_out_each_code_once_from_a_current_generation() {
    let app = spawn_app().await;
    let manager = app.token("manager", "marketing").await;
    let id = app.account(&manager, "marketing", "@racing").await;
    let path = format!("/api/v1/accounts/{id}/backup-codes");
    let generation = |g: usize| -> Vec<String> {
        (0..4)
            .map(|i| format!("{:04}-{:04}", 3000 + g, 4000 + i))
            .collect()
    };
    let first = app
        .post(
            &path,
            &manager,
            json!({"codes": generation(0), "issued_on": "2025-12-16"}),
        )
        .await;
    assert_eq!(first.status(), 201);
    // Eight imports and twenty-four check-outs at once: each check-out locks the generation
    // that is current when it gets the lock, or finds it superseded and looks again.
    let imports = (1..=8).map(|g| {
        app.post(
            &path,
            &manager,
            json!({"codes": generation(g), "issued_on": "2025-12-16"}),
        )
    });
    let checkout = format!("{path}/checkout");
    let check_outs =
        (0..24).map(|_| app.post(&checkout, &manager, json!({"justification": "race test"})));
    let (imports, check_outs) = tokio::join!(
        futures_util::future::join_all(imports),
        futures_util::future::join_all(check_outs)
    );
    for res in imports {
        assert!(
            matches!(res.status().as_u16(), 201 | 409),
            "{}",
            res.status()
        );
    }
    let mut handed = Vec::new();
    for res in check_outs {
        let status = res.status().as_u16();
        let body: serde_json::Value = res.json().await.unwrap();
        match status {
            200 => handed.push((
                body["generation"].as_i64().unwrap(),
                body["position"].as_i64().unwrap(),
                body["code"].as_str().unwrap().replace(' ', "-"),
            )),
            409 => assert!(
                matches!(
                    body["error"]["code"].as_str(),
                    Some("no_backup_codes_left" | "backup_codes_changing")
                ),
                "{body}"
            ),
            _ => panic!("{status} {body}"),
        }
    }
    assert!(!handed.is_empty());
    let mut codes: Vec<&String> = handed.iter().map(|(_, _, c)| c).collect();
    codes.sort();
    codes.dedup();
    assert_eq!(
        codes.len(),
        handed.len(),
        "no code handed out twice: {handed:?}"
    );
    // Each code sits at its position in the list it was imported with (generation numbers
    // follow the imports' commit order, so the list is found by the code).
    let plain = |c: &str| c.replace([' ', '-'], "");
    for (g, position, code) in &handed {
        let list = (0..=8)
            .map(generation)
            .find(|list| list.iter().any(|c| plain(c) == plain(code)))
            .unwrap_or_else(|| panic!("{code} was never imported"));
        let at = list.iter().position(|c| plain(c) == plain(code)).unwrap();
        assert_eq!(i64::try_from(at + 1).unwrap(), *position, "generation {g}");
    }
    let report = app.core.verify_audit_fully().await.unwrap();
    assert!(report.ok, "{report:?}");
}
