//! The exposure ledger: every way a member can be exposed to a secret is recorded with the
//! audit event that proves it, outlives audit retention, and drives offboarding; a rotation
//! must change the value; the ledger fills itself from older audit events once.

use crate::support::{expect_error, expect_json, spawn_with, test_settings, TestApp};
use sea_orm::ConnectionTrait;
use serde_json::{json, Value};
use std::collections::BTreeSet;

const SEED: &str = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP";
const OTHER_SEED: &str = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";
const THIRD_SEED: &str = "MFRGGZDFMZTWQ2LKNNWG23TPOBYXE43U";

async fn archiving_app() -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = test_settings(dir.path()).await;
    settings.audit.archive_dir = Some(dir.path().join("archive"));
    spawn_with(dir, settings).await
}

async fn ok(res: reqwest::Response) -> Value {
    let status = res.status().as_u16();
    let body: Value = res.json().await.unwrap();
    assert!((200..300).contains(&status), "{status} {body}");
    body
}

fn codes(prefix: &str) -> Vec<String> {
    (1..=5).map(|i| format!("{prefix}-{i:04}")).collect()
}

async fn import_codes(
    app: &TestApp,
    token: &str,
    account: &str,
    prefix: &str,
) -> reqwest::Response {
    app.post(
        &format!("/api/v1/accounts/{account}/backup-codes"),
        token,
        json!({"codes": codes(prefix), "issued_on": "2026-12-01"}),
    )
    .await
}

async fn exposure(app: &TestApp, admin: &str, member: &str) -> Vec<Value> {
    let out = expect_json(
        app.get(&format!("/api/v1/members/{member}/exposure"), admin)
            .await,
        200,
    )
    .await;
    out["items"].as_array().unwrap().clone()
}

fn kinds(items: &[Value]) -> BTreeSet<(String, String, String)> {
    items
        .iter()
        .map(|i| {
            (
                i["handle"].as_str().unwrap().to_owned(),
                i["kind"].as_str().unwrap().to_owned(),
                i["how"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn set(items: &[(&str, &str, &str)]) -> BTreeSet<(String, String, String)> {
    items
        .iter()
        .map(|(a, b, c)| ((*a).to_owned(), (*b).to_owned(), (*c).to_owned()))
        .collect()
}

/// A manager and a security admin (tokens), a leaver with their own token of `roles`, and an
/// account named `handle` in marketing.
struct Cast {
    manager: String,
    admin: String,
    leaver: String,
    as_leaver: String,
    account: String,
}

async fn cast(app: &TestApp, roles: &[(&str, &str)], handle: &str) -> Cast {
    let manager = app.token("manager", "marketing").await;
    let admin = app.token("security_admin", "*").await;
    let leaver = app.member("leaver").await;
    let as_leaver = app.token_for(&leaver, roles).await;
    let account = app.account(&manager, "marketing", handle).await;
    Cast {
        manager,
        admin,
        leaver,
        as_leaver,
        account,
    }
}

#[tokio::test]
async fn every_kind_of_exposure_is_counted_and_outlives_audit_retention() {
    let app = archiving_app().await;
    let manager = app.token("manager", "marketing").await;
    let admin = app.token("security_admin", "*").await;
    let writer = app.member("writer").await;
    let as_writer = app
        .token_for(
            &writer,
            &[("manager", "marketing"), ("security_admin", "*")],
        )
        .await;
    let why = json!({"justification": "exposure test"});

    // What the member wrote: a seed, a password, a backup-code generation.
    let wrote = app.account(&manager, "marketing", "@wrote").await;
    app.set_totp(&as_writer, &wrote, SEED).await;
    app.set_password(&as_writer, &wrote, "typed by the writer")
        .await;
    ok(import_codes(&app, &as_writer, &wrote, "1111").await).await;
    // What the member imported from their authenticator (the seed stays on their phone).
    ok(app
        .post(
            "/api/v1/imports",
            &as_writer,
            json!({
                "format": "otpauth",
                "data": format!("otpauth://totp/X:@imported?secret={OTHER_SEED}&issuer=X"),
                "team": "marketing",
                "entries": [{"index": 0, "action": "create", "platform": "x", "handle": "@imported"}],
            }),
        )
        .await)
    .await;
    // What others stored and the member exported, revealed or checked out.
    let saw = app.account(&manager, "marketing", "@saw").await;
    app.set_totp(&manager, &saw, SEED).await;
    app.set_password(&manager, &saw, "set by the manager").await;
    ok(import_codes(&app, &manager, &saw, "2222").await).await;
    for path in ["totp/export", "password/reveal", "backup-codes/checkout"] {
        ok(app
            .post(
                &format!("/api/v1/accounts/{saw}/{path}"),
                &as_writer,
                why.clone(),
            )
            .await)
        .await;
    }
    // An HOTP code revealed and not yet passed, and one a later code has passed.
    let hotp = app.account(&manager, "marketing", "@hotp").await;
    let passed = app.account(&manager, "marketing", "@passed").await;
    for account in [&hotp, &passed] {
        ok(app
            .put(
                &format!("/api/v1/accounts/{account}/hotp"),
                &manager,
                json!({"secret": SEED}),
            )
            .await)
        .await;
        ok(app
            .post(
                &format!("/api/v1/accounts/{account}/hotp/code"),
                &as_writer,
                why.clone(),
            )
            .await)
        .await;
    }
    ok(app
        .post(
            &format!("/api/v1/accounts/{passed}/hotp/code"),
            &manager,
            why.clone(),
        )
        .await)
    .await;
    // Only TOTP codes revealed: they expire, nothing to rotate.
    let codes_only = app.account(&manager, "marketing", "@codes_only").await;
    app.set_totp(&manager, &codes_only, SEED).await;
    ok(app
        .post(
            &format!("/api/v1/accounts/{codes_only}/totp/code"),
            &as_writer,
            why.clone(),
        )
        .await)
    .await;

    let expected = set(&[
        ("@wrote", "totp_seed", "write"),
        ("@wrote", "password", "write"),
        ("@wrote", "backup_code", "import"),
        ("@imported", "totp_seed", "import"),
        ("@saw", "totp_seed", "export"),
        ("@saw", "password", "reveal"),
        ("@saw", "backup_code", "checkout"),
        ("@hotp", "hotp_seed", "reveal"),
    ]);
    let before = exposure(&app, &admin, &writer).await;
    assert_eq!(kinds(&before), expected, "{before:?}");
    assert!(before.iter().all(|i| i["seq"].as_i64().is_some()));

    // Retention archives every event; the ledger keeps what is still current.
    let cutoff = chrono::Utc::now() + chrono::Duration::seconds(1);
    let archived = app
        .core
        .archive_audit("system", cutoff, |_| {})
        .await
        .unwrap();
    assert!(!archived.is_empty());
    let left: Vec<String> = app
        .audit_rows()
        .await
        .into_iter()
        .map(|r| r.action)
        .collect();
    assert!(
        !left.iter().any(|a| a == "totp.export" || a == "totp.set"),
        "{left:?}"
    );
    let after = exposure(&app, &admin, &writer).await;
    assert_eq!(
        kinds(&after),
        expected,
        "the ledger outlives the audit rows"
    );
    assert_eq!(
        before.iter().map(|i| &i["seq"]).collect::<Vec<_>>(),
        after.iter().map(|i| &i["seq"]).collect::<Vec<_>>(),
        "each item still names the event that proved it"
    );

    // Offboarding opens a task for each exposed account and kind.
    let done = expect_json(
        app.post(
            &format!("/api/v1/members/{writer}/offboard"),
            &admin,
            json!({"reason": "left the company"}),
        )
        .await,
        200,
    )
    .await;
    let mut tasks: Vec<(String, String)> = done["rotation_tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["handle"].as_str().unwrap().to_owned(),
                t["kind"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    tasks.sort();
    let mut want: Vec<(String, String)> = [
        ("@hotp", "hotp"),
        ("@imported", "totp"),
        ("@saw", "backup_codes"),
        ("@saw", "password"),
        ("@saw", "totp"),
        ("@wrote", "backup_codes"),
        ("@wrote", "password"),
        ("@wrote", "totp"),
    ]
    .iter()
    .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
    .collect();
    want.sort();
    assert_eq!(tasks, want);
}

#[tokio::test]
async fn retention_drops_ledger_rows_of_replaced_secrets_only() {
    let app = archiving_app().await;
    let manager = app.token("manager", "marketing").await;
    let admin = app.token("security_admin", "*").await;
    let leaver = app.member("leaver").await;
    let as_leaver = app
        .token_for(
            &leaver,
            &[("manager", "marketing"), ("security_admin", "*")],
        )
        .await;
    let replaced = app.account(&manager, "marketing", "@replaced").await;
    let current = app.account(&manager, "marketing", "@current").await;
    app.set_password(&as_leaver, &replaced, "old").await;
    app.set_password(&as_leaver, &current, "kept").await;
    app.set_password(&manager, &replaced, "new").await;
    let count = || async {
        let db = app.core.store.db();
        let rows = db
            .query_all(sea_orm::Statement::from_string(
                db.get_database_backend(),
                "SELECT id FROM exposure",
            ))
            .await
            .unwrap();
        rows.len()
    };
    assert_eq!(
        count().await,
        3,
        "the leaver's two writes and the manager's"
    );
    let cutoff = chrono::Utc::now() + chrono::Duration::seconds(1);
    app.core
        .archive_audit("system", cutoff, |_| {})
        .await
        .unwrap();
    assert_eq!(count().await, 2, "only the replaced password's row went");
    let items = exposure(&app, &admin, &leaver).await;
    assert_eq!(kinds(&items), set(&[("@current", "password", "write")]));
    assert!(app
        .audit_rows()
        .await
        .iter()
        .any(|r| r.action == "exposure.prune" && r.details.contains("\"rows\":1")));
}

#[tokio::test]
async fn a_rotation_to_the_same_value_is_refused_and_the_task_stays_open() {
    let app = spawn_with_defaults().await;
    let c = cast(
        &app,
        &[("manager", "marketing"), ("security_admin", "*")],
        "@brand",
    )
    .await;
    let (manager, admin, leaver, as_leaver, account) =
        (c.manager, c.admin, c.leaver, c.as_leaver, c.account);
    app.set_totp(&manager, &account, SEED).await;
    app.set_password(&manager, &account, "the password").await;
    ok(import_codes(&app, &manager, &account, "3333").await).await;
    ok(app
        .put(
            &format!("/api/v1/accounts/{account}/hotp"),
            &manager,
            json!({"secret": SEED}),
        )
        .await)
    .await;
    let why = json!({"justification": "before leaving"});
    for path in [
        "totp/export",
        "password/reveal",
        "backup-codes/checkout",
        "hotp/export",
    ] {
        ok(app
            .post(
                &format!("/api/v1/accounts/{account}/{path}"),
                &as_leaver,
                why.clone(),
            )
            .await)
        .await;
    }
    let done = expect_json(
        app.post(
            &format!("/api/v1/members/{leaver}/offboard"),
            &admin,
            json!({"reason": "left"}),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(done["rotation_tasks"].as_array().unwrap().len(), 4);
    let open = || async {
        let list = expect_json(
            app.get("/api/v1/rotation-tasks?state=open", &admin).await,
            200,
        )
        .await;
        list["tasks"].as_array().unwrap().len()
    };

    // The value already stored, for every kind: 422 same_secret, nothing closes.
    let totp = format!("/api/v1/accounts/{account}/totp");
    let hotp = format!("/api/v1/accounts/{account}/hotp");
    let password = format!("/api/v1/accounts/{account}/password");
    let backup = format!("/api/v1/accounts/{account}/backup-codes");
    let same = |res| expect_error(res, 422, "same_secret");
    same(app.put(&totp, &manager, json!({"secret": SEED})).await).await;
    // The same seed written another way (lower case, spaced) is still the same seed.
    same(
        app.put(
            &totp,
            &manager,
            json!({"secret": "jbsw y3dp ehpk 3pxp jbsw y3dp ehpk 3pxp"}),
        )
        .await,
    )
    .await;
    same(app.put(&hotp, &manager, json!({"secret": SEED})).await).await;
    same(
        app.put(&password, &manager, json!({"password": "the password"}))
            .await,
    )
    .await;
    let mut reordered = codes("3333");
    reordered.reverse();
    same(
        app.post(
            &backup,
            &manager,
            json!({"codes": reordered, "issued_on": "2026-12-02"}),
        )
        .await,
    )
    .await;
    assert_eq!(open().await, 4, "every task stays open");

    // A different value closes the task; the earlier value coming back is refused too.
    ok(app
        .put(&totp, &manager, json!({"secret": OTHER_SEED}))
        .await)
    .await;
    assert_eq!(open().await, 3);
    let earlier = expect_error(
        app.put(&totp, &manager, json!({"secret": SEED})).await,
        422,
        "same_secret",
    )
    .await;
    assert!(
        earlier["error"]["message"]
            .as_str()
            .unwrap()
            .contains("earlier"),
        "{earlier}"
    );
    ok(app
        .put(&totp, &manager, json!({"secret": THIRD_SEED}))
        .await)
    .await;
    ok(app
        .put(&password, &manager, json!({"password": "a new password"}))
        .await)
    .await;
    same(
        app.put(&password, &manager, json!({"password": "the password"}))
            .await,
    )
    .await;
    ok(import_codes(&app, &manager, &account, "4444").await).await;
    same(import_codes(&app, &manager, &account, "3333").await).await;
    ok(app
        .put(&hotp, &manager, json!({"secret": OTHER_SEED}))
        .await)
    .await;
    assert_eq!(open().await, 0);

    // An import of an earlier seed is proposed as a skip, and skipped if asked for anyway.
    let data = format!("otpauth://totp/X:@brand?secret={SEED}&issuer=X");
    let preview = expect_json(
        app.post(
            "/api/v1/imports/preview",
            &manager,
            json!({"format": "otpauth", "data": data}),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(preview["entries"][0]["proposal"]["action"], "skip");
    assert_eq!(
        preview["entries"][0]["proposal"]["reason"],
        "earlier_version"
    );
    let applied = expect_json(
        app.post(
            "/api/v1/imports",
            &manager,
            json!({"format": "otpauth", "data": data, "team": "marketing",
                   "entries": [{"index": 0, "action": "attach", "account": account}]}),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(applied["stored"], 0);
    assert_eq!(applied["skipped"], 1);
}

async fn spawn_with_defaults() -> TestApp {
    crate::support::spawn_app().await
}

#[tokio::test]
async fn the_ledger_fills_itself_once_from_the_audit_events_older_than_it() {
    let app = spawn_with_defaults().await;
    let c = cast(
        &app,
        &[("manager", "marketing"), ("security_admin", "*")],
        "@brand",
    )
    .await;
    let (manager, admin, leaver, as_leaver, account) =
        (c.manager, c.admin, c.leaver, c.as_leaver, c.account);
    app.set_totp(&manager, &account, SEED).await;
    ok(import_codes(&app, &manager, &account, "5555").await).await;
    let why = json!({"justification": "campaign"});
    for path in ["totp/export", "backup-codes/checkout"] {
        ok(app
            .post(
                &format!("/api/v1/accounts/{account}/{path}"),
                &as_leaver,
                why.clone(),
            )
            .await)
        .await;
    }
    let before = exposure(&app, &admin, &leaver).await;
    assert_eq!(before.len(), 2);
    // A database from before the ledger: the events are there, the ledger is empty, and
    // older check-out events name their generation by number only.
    let db = app.core.store.db();
    db.execute_unprepared("DELETE FROM exposure").await.unwrap();
    // While the audit events are there, they make up for the missing rows, and say so.
    assert_eq!(exposure(&app, &admin, &leaver).await, before);
    // (The background job may have written the report already.)
    app.core.report_integrity_violations().await;
    assert!(app
        .audit_rows()
        .await
        .iter()
        .any(|r| r.action == "integrity.violation" && r.details.contains("exposure")));
    let ig = app.core.integrity.clone();
    let rows = keyward::services::exposure::backfill(&app.core.store, &ig)
        .await
        .unwrap();
    assert!(
        rows >= 4,
        "the manager's writes and the leaver's two exposures: {rows}"
    );
    assert_eq!(exposure(&app, &admin, &leaver).await, before);
    // Once only: the marker event stops a second fill.
    db.execute_unprepared("DELETE FROM exposure").await.unwrap();
    assert_eq!(
        keyward::services::exposure::backfill(&app.core.store, &ig)
            .await
            .unwrap(),
        0
    );
    assert!(app
        .audit_rows()
        .await
        .iter()
        .any(|r| r.action == "exposure.backfill"));
}

#[tokio::test]
async fn a_ledger_row_changed_in_the_database_is_not_believed() {
    let app = spawn_with_defaults().await;
    let manager = app.token("manager", "marketing").await;
    let admin = app.token("security_admin", "*").await;
    let leaver = app.member("leaver").await;
    let stayer = app.member("stayer").await;
    let as_leaver = app
        .token_for(
            &leaver,
            &[("manager", "marketing"), ("security_admin", "*")],
        )
        .await;
    let account = app.account(&manager, "marketing", "@brand").await;
    app.set_password(&as_leaver, &account, "typed").await;
    assert_eq!(exposure(&app, &admin, &leaver).await.len(), 1);
    // Moving the row to another member (to hide the leaver's exposure) breaks its MAC.
    app.core
        .store
        .db()
        .execute_unprepared(&format!(
            "UPDATE exposure SET actor = 'member:{stayer}' WHERE actor LIKE 'token:%'"
        ))
        .await
        .unwrap();
    assert!(exposure(&app, &admin, &stayer).await.is_empty());
    // The leaver's exposure still shows: the audit event proves it.
    assert_eq!(exposure(&app, &admin, &leaver).await.len(), 1);
    let check = keyward::services::integrity::check(&app.core.store, &app.core.integrity)
        .await
        .unwrap();
    assert!(
        check
            .iter()
            .any(|t| t.table == "exposure" && t.bad.len() == 1),
        "keyward integrity check names it"
    );
}

#[tokio::test]
async fn junk_ledger_rows_and_flipped_columns_hide_nothing() {
    let app = spawn_with_defaults().await;
    let c = cast(
        &app,
        &[("manager", "marketing"), ("security_admin", "*")],
        "@brand",
    )
    .await;
    let (manager, admin, leaver, as_leaver, account) =
        (c.manager, c.admin, c.leaver, c.as_leaver, c.account);
    app.set_totp(&manager, &account, SEED).await;
    ok(app
        .post(
            &format!("/api/v1/accounts/{account}/totp/export"),
            &as_leaver,
            json!({"justification": "checking the code"}),
        )
        .await)
    .await;
    let before = exposure(&app, &admin, &leaver).await;
    assert_eq!(before.len(), 1);
    let token_actor: String = app
        .audit_rows()
        .await
        .into_iter()
        .find(|r| r.action == "totp.export")
        .unwrap()
        .actor;
    // A page and more of junk rows before the real one, and the current version marked
    // superseded: neither hides the export.
    let db = app.core.store.db();
    let mut junk = String::from("INSERT INTO exposure (id, actor, account_id, secret_kind, secret_id, version, how, seq, at, mac) VALUES ");
    for i in 0..1100 {
        if i > 0 {
            junk.push(',');
        }
        junk.push_str(&format!(
            "('j{i:05}', '{token_actor}', '{account}', 'totp', 'nothing', 1, 'write', 0, '2026-01-01 00:00:00+00:00', 'kek-0001:00')"
        ));
    }
    db.execute_unprepared(&junk).await.unwrap();
    db.execute_unprepared("UPDATE secret SET superseded_at = '2026-01-01 00:00:00+00:00'")
        .await
        .unwrap();
    assert_eq!(exposure(&app, &admin, &leaver).await, before);
    // Nor does retention prune the real row on the strength of that column.
    assert_eq!(
        keyward::store::exposure::prune(db, chrono::Utc::now() + chrono::Duration::days(1))
            .await
            .unwrap(),
        0
    );
}

#[tokio::test]
async fn an_hotp_code_counts_until_a_later_one_is_handed_out() {
    let app = spawn_with_defaults().await;
    let c = cast(&app, &[("operator", "marketing")], "@hotp").await;
    let (manager, admin, leaver, as_leaver, account) =
        (c.manager, c.admin, c.leaver, c.as_leaver, c.account);
    ok(app
        .put(
            &format!("/api/v1/accounts/{account}/hotp"),
            &manager,
            json!({"secret": SEED}),
        )
        .await)
    .await;
    let code = format!("/api/v1/accounts/{account}/hotp/code");
    ok(app
        .post(
            &code,
            &as_leaver,
            json!({"justification": "checking the code"}),
        )
        .await)
    .await;
    assert_eq!(
        kinds(&exposure(&app, &admin, &leaver).await),
        set(&[("@hotp", "hotp_seed", "reveal")])
    );
    // The counter column moved in the database: not believed.
    app.core
        .store
        .db()
        .execute_unprepared("UPDATE secret SET hotp_counter = 1000")
        .await
        .unwrap();
    assert_eq!(exposure(&app, &admin, &leaver).await.len(), 1);
    // A later code handed out (and recorded) passes it.
    ok(app
        .post(&code, &manager, json!({"justification": "signing in now"}))
        .await)
    .await;
    assert!(exposure(&app, &admin, &leaver).await.is_empty());
}

#[tokio::test]
async fn a_seed_padded_with_zero_bytes_or_codes_partly_reused_are_the_same_secret() {
    let app = spawn_with_defaults().await;
    let manager = app.token("manager", "marketing").await;
    let account = app.account(&manager, "marketing", "@brand").await;
    app.set_totp(&manager, &account, SEED).await;
    // SEED followed by five zero bytes (base32 "AAAAAAAA") gives the very same codes.
    let padded = format!("{SEED}AAAAAAAA");
    expect_error(
        app.put(
            &format!("/api/v1/accounts/{account}/totp"),
            &manager,
            json!({"secret": padded}),
        )
        .await,
        422,
        "same_secret",
    )
    .await;
    ok(import_codes(&app, &manager, &account, "6666").await).await;
    let mut some_old = codes("7777");
    some_old[0] = "6666-0001".to_owned();
    expect_error(
        app.post(
            &format!("/api/v1/accounts/{account}/backup-codes"),
            &manager,
            json!({"codes": some_old, "issued_on": "2026-12-02"}),
        )
        .await,
        422,
        "same_secret",
    )
    .await;
}

#[tokio::test]
async fn a_ledger_row_pruned_with_its_replaced_secret_is_no_violation() {
    let app = spawn_with_defaults().await;
    let c = cast(&app, &[("manager", "marketing")], "@brand").await;
    let (manager, admin, leaver, as_leaver, account) =
        (c.manager, c.admin, c.leaver, c.as_leaver, c.account);
    app.set_password(&as_leaver, &account, "typed by the leaver")
        .await;
    app.set_password(&manager, &account, "rotated since").await;
    // Retention pruned the replaced password's row while its event stays (a SIEM that has
    // not taken it yet holds it back): nothing is exposed, and nothing is reported.
    let db = app.core.store.db();
    let pruned =
        keyward::store::exposure::prune(db, chrono::Utc::now() + chrono::Duration::days(1))
            .await
            .unwrap();
    assert_eq!(pruned, 1);
    assert!(exposure(&app, &admin, &leaver).await.is_empty());
    app.core.report_integrity_violations().await;
    assert!(!app
        .audit_rows()
        .await
        .iter()
        .any(|r| r.action == "integrity.violation"));
}
