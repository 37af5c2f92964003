//! Break-glass cryptography judged by outside tools: the shares Keyward makes combine with an
//! independent implementation of the Vault layout (npm `shamir-secret-sharing`, pinned in
//! tests/breakglass) into the escrow's X25519 key, and a share encrypted to a custodian's
//! `age1…` key opens with the reference `age` tool (Debian's, installed by `make test-deps`).

use crate::support::{expect_error, expect_json, spawn_app, TestApp};
use keyward::crypto::escrow::{age_armored, rebuild, EscrowKey};
use keyward::domain::share::ShareText;
use serde_json::{json, Value};
use std::process::Command;

fn judge() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/breakglass")
}

#[test]
fn shares_made_here_rebuild_the_escrow_key_in_an_independent_implementation() {
    assert!(
        judge().join("node_modules/shamir-secret-sharing").exists(),
        "run `make test-deps` (npm ci in tests/breakglass)"
    );
    use base64::Engine;
    for (k, n) in [(2u8, 2u8), (3, 5), (16, 16)] {
        let key = EscrowKey::generate();
        let shares = key.split(k, n).unwrap();
        let expected = base64::engine::general_purpose::STANDARD.encode(key.public());
        // k shares, taken from the end, rebuild it; k − 1 do not.
        for take in [usize::from(k), usize::from(k) - 1] {
            let args: Vec<String> = shares
                .iter()
                .rev()
                .take(take)
                .map(|s| hex::encode(s.as_slice()))
                .collect();
            let out = Command::new("node")
                .arg(judge().join("combine.mjs"))
                .args(&args)
                .output()
                .expect("node runs");
            let printed = String::from_utf8_lossy(&out.stdout).trim().to_owned();
            if take == usize::from(k) {
                assert!(
                    out.status.success(),
                    "{}",
                    String::from_utf8_lossy(&out.stderr)
                );
                assert_eq!(printed, expected, "{k} of {n}");
            } else {
                assert_ne!(
                    printed, expected,
                    "{take} shares of a {k}-of-{n} must not rebuild it"
                );
            }
        }
    }
}

#[test]
fn a_share_encrypted_to_a_custodian_opens_with_the_reference_age_tool() {
    let dir = tempfile::tempdir().unwrap();
    let identity = dir.path().join("custodian.txt");
    let made = Command::new("age-keygen")
        .arg("-o")
        .arg(&identity)
        .output()
        .expect("age-keygen runs (make test-deps installs age)");
    assert!(made.status.success());
    let recipient = std::fs::read_to_string(&identity)
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("# public key: ").map(str::to_owned))
        .expect("age-keygen writes the public key");
    let key = EscrowKey::generate();
    let share = key.split(2, 3).unwrap().remove(0);
    let text = ShareText::encode("01a22e8c-337a-749d-8339-096970b50f63", 1, &share);
    let armored = age_armored(&recipient, text.as_bytes()).unwrap();
    assert!(!armored.contains(text.as_str()));
    let file = dir.path().join("share.age");
    std::fs::write(&file, armored).unwrap();
    let opened = Command::new("age")
        .arg("--decrypt")
        .arg("-i")
        .arg(&identity)
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        opened.status.success(),
        "{}",
        String::from_utf8_lossy(&opened.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&opened.stdout), text.as_str());
    // And the text the custodian reads back is the share.
    let parsed = ShareText::parse(&String::from_utf8_lossy(&opened.stdout)).unwrap();
    assert_eq!((parsed.index, parsed.bytes.to_vec()), (1, share.to_vec()));
}

// The ceremony and sealing, through the API.

/// A custodian with their own age key: (email, recipient, identity).
fn custodian(name: &str) -> (String, String, age::x25519::Identity) {
    let identity = age::x25519::Identity::generate();
    (
        format!("{name}@example.com"),
        identity.to_public().to_string(),
        identity,
    )
}

use crate::support::open_age;

/// A member with a verified email and a token acting for them.
async fn member_token(app: &TestApp, name: &str) -> String {
    let member = app.member(name).await;
    app.token_for(&member, &[("custodian", "*")]).await
}

#[tokio::test]
async fn the_ceremony_names_members_hands_each_their_own_share_once_and_activates_on_all_confirms()
{
    let app = spawn_app().await;
    let admin = app.token("security_admin", "*").await;
    let manager = app.token("manager", "marketing").await;
    let (_, ada_key, ada_identity) = custodian("ada");
    let ada_member = app.member("ada").await;
    let ada = app.token_for(&ada_member, &[("custodian", "*")]).await;
    let bob = member_token(&app, "bob").await;
    let cy_member = app.member("cy").await;
    let cy = app.token_for(&cy_member, &[("custodian", "*")]).await;
    // Ada enrols her own key; nobody can enrol one for her, and a token of no member cannot.
    let enrolled = expect_json(
        app.put(
            "/api/v1/me/age-recipient",
            &ada,
            json!({"age_recipient": ada_key}),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(enrolled["member"], ada_member.as_str());
    expect_error(
        app.put(
            "/api/v1/me/age-recipient",
            &admin,
            json!({"age_recipient": ada_key}),
        )
        .await,
        403,
        "not_a_member",
    )
    .await;
    expect_error(
        app.put(
            "/api/v1/me/age-recipient",
            &bob,
            json!({"age_recipient": "age1nope"}),
        )
        .await,
        422,
        "invalid_age_recipient",
    )
    .await;
    // The operator cannot name a custodian's key.
    let (_, mallory_key, _) = custodian("mallory");
    expect_error(
        app.post("/api/v1/escrows", &admin, json!({"name": "e", "teams": ["marketing"], "threshold": 2,
            "custodians": [{"member": ada_member, "age_recipient": mallory_key}, "bob@example.com"]}))
        .await,
        422,
        "recipient_from_operator",
    )
    .await;
    let body = json!({
        "name": "marketing break-glass",
        "teams": ["marketing"],
        "threshold": 2,
        "custodians": [ada_member, "bob@example.com", {"member": cy_member}],
        "release_ttl_minutes": 30,
    });
    let res = app.post("/api/v1/escrows", &admin, body).await;
    assert_eq!(res.status(), 201);
    let text = res.text().await.unwrap();
    assert!(
        !text.contains("kwshare1-") && !text.contains("AGE ENCRYPTED"),
        "no share in the answer: {text}"
    );
    let escrow: Value = serde_json::from_str(&text).unwrap();
    let id = escrow["id"].as_str().unwrap().to_owned();
    assert_eq!(escrow["state"], "pending");
    assert_eq!(
        escrow["waiting_period_minutes"], 15,
        "the default waiting period"
    );
    let custodians = escrow["custodians"].as_array().unwrap();
    assert_eq!(custodians[0]["member"], ada_member.as_str());
    assert_eq!(custodians[0]["delivered"], "age");
    assert_eq!(custodians[1]["delivered"], "pickup");
    // The trail names each custodian's recipient (by fingerprint).
    let created = app
        .audit_rows()
        .await
        .into_iter()
        .find(|r| r.action == "escrow.create")
        .unwrap();
    let details: Value = serde_json::from_str(&created.details).unwrap();
    assert_eq!(
        details["custodians"][0]["recipient"],
        keyward::services::escrow::recipient_fingerprint(&ada_key)
    );
    assert_eq!(
        details["custodians"][0]["member"],
        format!("member:{ada_member}")
    );
    // A pending escrow takes no release.
    expect_error(
        app.post(
            &format!("/api/v1/escrows/{id}/releases"),
            &manager,
            json!({"reason": "too early"}),
        )
        .await,
        409,
        "escrow_pending",
    )
    .await;

    // Nobody but the custodian fetches a share: not a stranger, not the security admin.
    let stranger = member_token(&app, "eve").await;
    for (token, code) in [(&stranger, "forbidden"), (&admin, "not_a_custodian")] {
        expect_error(
            app.post(&format!("/api/v1/escrows/{id}/share"), token, json!({}))
                .await,
            403,
            code,
        )
        .await;
    }
    let fetch = |token: String| {
        let (app, id) = (&app, id.clone());
        async move {
            expect_json(
                app.post(&format!("/api/v1/escrows/{id}/share"), &token, json!({}))
                    .await,
                200,
            )
            .await
        }
    };
    let ada_fetched = fetch(ada.clone()).await;
    assert!(
        ada_fetched.get("share").is_none(),
        "encrypted to her key, not plain"
    );
    let ada_share = open_age(&ada_identity, ada_fetched["age_armored"].as_str().unwrap());
    expect_error(
        app.post(&format!("/api/v1/escrows/{id}/share"), &ada, json!({}))
            .await,
        409,
        "share_already_issued",
    )
    .await;
    let bob_share = fetch(bob.clone()).await["share"]
        .as_str()
        .unwrap()
        .to_owned();
    let cy_share = fetch(cy.clone()).await["share"]
        .as_str()
        .unwrap()
        .to_owned();
    let parsed = ShareText::parse(&ada_share).unwrap();
    assert_eq!((parsed.escrow.as_str(), parsed.index), (id.as_str(), 1));
    use sha2::Digest;
    assert_eq!(
        custodians[0]["fingerprint"],
        hex::encode(sha2::Sha256::digest(parsed.bytes.as_slice()))
    );

    // Each confirms their own share; another's is refused.
    let confirm = |token: String, share: String| {
        let (app, path) = (&app, format!("/api/v1/escrows/{id}/confirm"));
        async move { app.post(&path, &token, json!({"share": share})).await }
    };
    expect_error(
        confirm(bob.clone(), ada_share.clone()).await,
        422,
        "invalid_share",
    )
    .await;
    let after = expect_json(confirm(ada.clone(), ada_share.clone()).await, 200).await;
    assert_eq!(after["state"], "pending");
    expect_error(
        confirm(ada.clone(), ada_share.clone()).await,
        409,
        "already_confirmed",
    )
    .await;
    expect_json(confirm(bob.clone(), bob_share.clone()).await, 200).await;
    let after = expect_json(confirm(cy.clone(), cy_share.clone()).await, 200).await;
    assert_eq!(
        after["state"], "active",
        "active once every custodian confirmed"
    );
    let rows = app.audit_rows().await;
    assert_eq!(
        rows.iter().filter(|r| r.action == "escrow.confirm").count(),
        3
    );
    assert_eq!(
        rows.iter()
            .filter(|r| r.action == "escrow.activate")
            .count(),
        1
    );
    assert_eq!(
        rows.iter()
            .filter(|r| r.action == "member.age_recipient_set")
            .count(),
        1
    );

    // Any two shares rebuild the escrow's key; one does not.
    use base64::Engine;
    let public: [u8; 32] = base64::engine::general_purpose::STANDARD
        .decode(escrow["public_key"].as_str().unwrap())
        .unwrap()
        .try_into()
        .unwrap();
    let bob_parsed = ShareText::parse(&bob_share).unwrap();
    assert!(rebuild(
        &[parsed.bytes.as_slice(), bob_parsed.bytes.as_slice()],
        &public
    )
    .is_ok());
    assert!(rebuild(&[parsed.bytes.as_slice()], &public).is_err());

    // Nothing of a share is in the audit trail.
    let trail: String = rows.iter().map(|r| r.details.clone()).collect();
    for share in [&ada_share, &bob_share, &cy_share] {
        assert!(!trail.contains(&share[40..80]));
    }
    assert_eq!(
        rows.iter()
            .filter(|r| r.action == "escrow.share_issued")
            .count(),
        3
    );
}

#[tokio::test]
async fn retiring_an_escrow_deletes_its_seals_and_ends_its_releases_and_a_departure_calls_for_a_new_ceremony(
) {
    let app = spawn_app().await;
    let admin = app.token("security_admin", "*").await;
    let manager = app.token("manager", "marketing").await;
    let account = app.account(&manager, "marketing", "@lifecycle").await;
    app.set_password(&manager, &account, "sealed").await;
    let made = app.ceremony(&admin, "life", &["marketing"], 2, 3, 30).await;
    let id = made.id.clone();
    let seals = |id: String| {
        let app = &app;
        async move {
            keyward::store::escrow::seals(app.core.store.db(), &app.core.integrity, &id)
                .await
                .unwrap()
                .len()
        }
    };
    assert_eq!(
        seals(id.clone()).await,
        1,
        "the password's DEK was sealed at activation"
    );
    // A viewer or an auditor may see the escrow but not ask for a release; a custodian may.
    for (role, team) in [("viewer", "marketing"), ("auditor", "*")] {
        let token = app.token(role, team).await;
        expect_error(
            app.post(
                &format!("/api/v1/escrows/{id}/releases"),
                &token,
                json!({"reason": "nope"}),
            )
            .await,
            403,
            "forbidden",
        )
        .await;
    }
    let (custodian, custodian_token) = made.custodians[0].clone();
    expect_json(
        app.post(
            &format!("/api/v1/escrows/{id}/releases"),
            &custodian_token,
            json!({"reason": "a custodian asks"}),
        )
        .await,
        201,
    )
    .await;
    // A custodian departs: the escrow needs a new ceremony and their share is refused.
    expect_json(
        app.post(
            &format!("/api/v1/members/{custodian}/offboard"),
            &admin,
            json!({"reason": "left the company"}),
        )
        .await,
        200,
    )
    .await;
    let escrow = expect_json(app.get(&format!("/api/v1/escrows/{id}"), &admin).await, 200).await;
    assert_eq!(escrow["needs_ceremony"], true);
    let requester_member = app.member("requester").await;
    let requester = app
        .token_for(&requester_member, &[("manager", "marketing")])
        .await;
    let release = expect_json(
        app.post(
            &format!("/api/v1/escrows/{id}/releases"),
            &requester,
            json!({"reason": "lifecycle"}),
        )
        .await,
        201,
    )
    .await;
    let release_id = release["id"].as_str().unwrap().to_owned();
    expect_error(
        app.request(
            reqwest::Method::POST,
            &format!("/api/v1/releases/{release_id}/shares"),
            None,
            Some(json!({"share": made.shares[0]})),
        )
        .await,
        422,
        "custodian_departed",
    )
    .await;
    // The requester departs: their open release is cancelled.
    expect_json(
        app.post(
            &format!("/api/v1/members/{requester_member}/offboard"),
            &admin,
            json!({"reason": "left the company"}),
        )
        .await,
        200,
    )
    .await;
    let ended = expect_json(
        app.get(&format!("/api/v1/releases/{release_id}"), &admin)
            .await,
        200,
    )
    .await;
    assert_eq!(ended["state"], "cancelled");
    // Another release, then the escrow is retired: seals gone, the release ends.
    let other = app.release(&manager, &id, "before retiring").await;
    expect_error(
        app.post(
            &format!("/api/v1/escrows/{id}/retire"),
            &manager,
            json!({"justification": "not mine"}),
        )
        .await,
        403,
        "forbidden",
    )
    .await;
    let retired = expect_json(
        app.post(
            &format!("/api/v1/escrows/{id}/retire"),
            &admin,
            json!({"justification": "custodian left"}),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(retired["state"], "retired");
    assert_eq!(seals(id.clone()).await, 0);
    let other = expect_json(
        app.get(&format!("/api/v1/releases/{other}"), &admin).await,
        200,
    )
    .await;
    assert_eq!(other["state"], "cancelled");
    // Nothing new is sealed to a retired escrow.
    app.set_password(&manager, &account, "after retiring").await;
    assert_eq!(seals(id.clone()).await, 0);
    expect_error(
        app.post(
            &format!("/api/v1/escrows/{id}/retire"),
            &admin,
            json!({"justification": "twice"}),
        )
        .await,
        409,
        "escrow_retired",
    )
    .await;
    let rows = app.audit_rows().await;
    assert!(rows.iter().any(|r| r.action == "escrow.retire"));
    assert!(rows.iter().any(|r| r.action == "escrow.needs_ceremony"));
    // The departed custodian's own release, the departed requester's, and the one the retirement ended.
    assert_eq!(
        rows.iter().filter(|r| r.action == "release.cancel").count(),
        3
    );
}

#[tokio::test]
async fn every_secret_in_scope_opens_with_the_escrow_key_alone_even_when_the_kek_cannot() {
    let app = spawn_app().await;
    let admin = app.token("security_admin", "*").await;
    let manager = app.token("manager", "*").await;
    let inside = app.account(&manager, "marketing", "@inside").await;
    let outside = app.account(&manager, "sales", "@outside").await;
    app.set_totp(&manager, &inside, "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP")
        .await;
    app.set_totp(&manager, &outside, "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP")
        .await;
    expect_json(
        app.post(
            &format!("/api/v1/accounts/{inside}/backup-codes"),
            &manager,
            json!({"codes": ["1111-2222", "3333-4444"], "issued_on": "2025-12-16"}),
        )
        .await,
        201,
    )
    .await;
    let made = app.ceremony(&admin, "e", &["marketing"], 2, 2, 0).await;
    let escrow_id = made.id.clone();
    let escrow = expect_json(
        app.get(&format!("/api/v1/escrows/{escrow_id}"), &admin)
            .await,
        200,
    )
    .await;
    // A version written after the ceremony is sealed to the escrow as it is written.
    app.set_password(&manager, &inside, "after the ceremony")
        .await;

    let shares: Vec<ShareText> = made
        .shares
        .iter()
        .map(|share| ShareText::parse(share).unwrap())
        .collect();
    use base64::Engine;
    let public: [u8; 32] = base64::engine::general_purpose::STANDARD
        .decode(escrow["public_key"].as_str().unwrap())
        .unwrap()
        .try_into()
        .unwrap();
    let key = rebuild(
        &[shares[0].bytes.as_slice(), shares[1].bytes.as_slice()],
        &public,
    )
    .unwrap();

    // The KEK-wrapped DEKs of the scoped secrets are made unusable: the escrow still opens them.
    use sea_orm::ConnectionTrait;
    let db = app.core.store.db();
    db.execute_unprepared(&format!(
        "UPDATE secret SET wrapped_dek = wrapped_dek || wrapped_dek WHERE account_id = '{inside}'"
    ))
    .await
    .unwrap();
    let seals = keyward::store::escrow::seals(db, &app.core.integrity, &escrow_id)
        .await
        .unwrap();
    assert!(
        seals.iter().all(|s| s.account_id == inside),
        "nothing outside the scope is sealed"
    );
    let current = keyward::store::secrets::current_of(db, std::slice::from_ref(&inside))
        .await
        .unwrap();
    assert_eq!(current.len(), 2);
    for secret in &current {
        let seal = seals
            .iter()
            .find(|s| s.owner_id == secret.id)
            .expect("every current secret is sealed");
        let aad = keyward::services::escrow::seal_aad(&escrow_id, "secret", &secret.id);
        let dek = key.open(&aad, &seal.sealed).unwrap();
        let value_aad =
            keyward::crypto::secret_aad(&inside, &secret.id, secret.version, &secret.kind);
        let value = keyward::crypto::open_with_dek(&dek, &value_aad, &secret.ciphertext).unwrap();
        if secret.kind == "password" {
            assert_eq!(value.as_slice(), b"after the ceremony");
        } else {
            assert_eq!(value.len(), 20, "the TOTP seed's bytes");
        }
        // Moved to another owner, a seal opens nothing.
        assert!(key
            .open(
                &keyward::services::escrow::seal_aad(&escrow_id, "secret", "other"),
                &seal.sealed
            )
            .is_err());
    }
    let generation = seals
        .iter()
        .find(|s| s.owner_kind == "backup")
        .expect("the backup codes are sealed");
    assert!(key
        .open(
            &keyward::services::escrow::seal_aad(&escrow_id, "backup", &generation.owner_id),
            &generation.sealed
        )
        .is_ok());
}

#[tokio::test]
async fn a_bad_ceremony_request_is_refused_clearly_after_the_right_is_decided() {
    let app = spawn_app().await;
    let admin = app.token("security_admin", "*").await;
    let manager = app.token("manager", "*").await;
    expect_error(
        app.request(
            reqwest::Method::POST,
            "/api/v1/escrows",
            Some(&manager),
            None,
        )
        .await,
        403,
        "forbidden",
    )
    .await;
    let custodians =
        |n: usize| -> Value { (0..n).map(|i| json!(format!("c{i}@example.com"))).collect() };
    for (body, code) in [
        (
            json!({"name": "e", "teams": ["marketing"], "threshold": 1, "custodians": custodians(3)}),
            "invalid_threshold",
        ),
        (
            json!({"name": "e", "teams": ["marketing"], "threshold": 4, "custodians": custodians(3)}),
            "invalid_threshold",
        ),
        (
            json!({"name": "e", "teams": ["marketing"], "threshold": 2, "custodians": custodians(17)}),
            "invalid_threshold",
        ),
        (
            json!({"name": "e", "teams": ["marketing"], "threshold": 2, "custodians": ["a@example.com", "A@example.com"]}),
            "duplicate_custodian",
        ),
        (
            json!({"name": "e", "teams": ["marketing"], "threshold": 2, "custodians": [{"email": "a@example.com", "age_recipient": "age1nope"}, "b@example.com"]}),
            "recipient_from_operator",
        ),
        (
            json!({"name": "e", "teams": [], "threshold": 2, "custodians": custodians(2)}),
            "invalid_teams",
        ),
        (
            json!({"name": "e", "teams": ["*", "marketing"], "threshold": 2, "custodians": custodians(2)}),
            "invalid_teams",
        ),
        (
            json!({"name": "e", "teams": ["marketing"], "threshold": 2, "custodians": custodians(2), "release_ttl_minutes": 0}),
            "invalid_release_ttl",
        ),
        (
            json!({"name": "", "teams": ["marketing"], "threshold": 2, "custodians": custodians(2)}),
            "invalid_name",
        ),
        (
            json!({"name": "e", "teams": ["marketing"], "threshold": 2, "custodians": ["not a member", "b@example.com"]}),
            "unknown_custodian",
        ),
    ] {
        expect_error(app.post("/api/v1/escrows", &admin, body).await, 422, code).await;
    }
    expect_error(
        app.get("/api/v1/escrows/nope", &admin).await,
        404,
        "escrow_not_found",
    )
    .await;
    let listed = expect_json(app.get("/api/v1/escrows", &manager).await, 200).await;
    assert!(listed["escrows"].as_array().unwrap().is_empty());
}

// The release, through the API.

/// An escrow over team marketing whose shares (all age-delivered) the test reads back.
async fn escrow_with_shares(
    app: &TestApp,
    admin: &str,
    k: u8,
    n: u8,
    waiting: i64,
) -> (String, Vec<String>) {
    let made = app
        .ceremony(admin, "release test", &["marketing"], k, n, waiting)
        .await;
    (made.id, made.shares)
}

async fn submit(app: &TestApp, release: &str, share: &str) -> reqwest::Response {
    app.request(
        reqwest::Method::POST,
        &format!("/api/v1/releases/{release}/shares"),
        None,
        Some(json!({"share": share})),
    )
    .await
}

/// `requester` asks for a release of `escrow`: (release id, release key).
async fn ask_release(
    app: &TestApp,
    requester: &str,
    escrow: &str,
    reason: &str,
) -> (String, String) {
    let release = expect_json(
        app.post(
            &format!("/api/v1/escrows/{escrow}/releases"),
            requester,
            json!({"reason": reason}),
        )
        .await,
        201,
    )
    .await;
    (
        release["id"].as_str().unwrap().to_owned(),
        release["release_key"].as_str().unwrap().to_owned(),
    )
}

/// Every share in `shares` is accepted by release `id`.
async fn submit_all(app: &TestApp, id: &str, shares: &[String]) {
    for share in shares {
        expect_json(submit(app, id, share).await, 200).await;
    }
}

async fn read_secrets(app: &TestApp, token: &str, release: &str, key: &str) -> reqwest::Response {
    app.client
        .get(format!("{}/api/v1/releases/{release}/secrets", app.base))
        .bearer_auth(token)
        .header("x-release-key", key)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn k_shares_release_the_teams_secrets_to_the_requester_alone_and_spend_the_escrow() {
    let app = spawn_app().await;
    let admin = app.token("security_admin", "*").await;
    let manager = app.token("manager", "marketing").await;
    let account = app.account(&manager, "marketing", "@released").await;
    app.set_totp(&manager, &account, "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP")
        .await;
    app.set_password(&manager, &account, "released password")
        .await;
    expect_json(
        app.post(
            &format!("/api/v1/accounts/{account}/backup-codes"),
            &manager,
            json!({"codes": ["1111-2222", "3333-4444", "5555-6666"], "issued_on": "2025-12-16"}),
        )
        .await,
        201,
    )
    .await;
    expect_json(
        app.post(
            &format!("/api/v1/accounts/{account}/backup-codes/checkout"),
            &manager,
            json!({"justification": "used one"}),
        )
        .await,
        200,
    )
    .await;
    let (escrow, shares) = escrow_with_shares(&app, &admin, 2, 3, 0).await;

    let requester = app.token("operator", "marketing").await;
    let outsider = app.token("operator", "sales").await;
    expect_error(
        app.post(
            &format!("/api/v1/escrows/{escrow}/releases"),
            &outsider,
            json!({"reason": "not mine"}),
        )
        .await,
        403,
        "forbidden",
    )
    .await;
    let release = expect_json(
        app.post(
            &format!("/api/v1/escrows/{escrow}/releases"),
            &requester,
            json!({"reason": "phone lost, IdP down"}),
        )
        .await,
        201,
    )
    .await;
    let id = release["id"].as_str().unwrap().to_owned();
    let key = release["release_key"].as_str().unwrap().to_owned();
    assert_eq!(
        (release["state"].as_str(), release["threshold"].as_i64()),
        (Some("collecting"), Some(2))
    );

    // One share opens nothing; the same share twice counts once.
    let first = expect_json(submit(&app, &id, &shares[0]).await, 200).await;
    assert_eq!(first["shares_received"], 1);
    expect_error(
        submit(&app, &id, &shares[0]).await,
        409,
        "share_already_submitted",
    )
    .await;
    expect_error(
        read_secrets(&app, &requester, &id, &key).await,
        409,
        "release_not_ready",
    )
    .await;
    // A share with one character changed, and a share of another escrow, are refused.
    let mut typo: Vec<char> = shares[1].chars().collect();
    let at = typo.len() - 12;
    typo[at] = if typo[at] == 'a' { 'b' } else { 'a' };
    expect_error(
        submit(&app, &id, &typo.into_iter().collect::<String>()).await,
        422,
        "invalid_share",
    )
    .await;
    let (_, foreign) = escrow_with_shares(&app, &admin, 2, 2, 0).await;
    expect_error(submit(&app, &id, &foreign[0]).await, 422, "invalid_share").await;

    let second = expect_json(submit(&app, &id, &shares[1]).await, 200).await;
    assert_eq!(second["state"], "released");
    // Only the requester, with the release key, reads them.
    expect_error(
        read_secrets(&app, &admin, &id, &key).await,
        403,
        "not_the_requester",
    )
    .await;
    expect_error(
        read_secrets(&app, &requester, &id, "bm90IHRoZSBrZXk=").await,
        403,
        "wrong_release_key",
    )
    .await;
    let released = expect_json(read_secrets(&app, &requester, &id, &key).await, 200).await;
    let accounts = released["accounts"].as_array().unwrap();
    assert_eq!(accounts.len(), 1);
    let a = &accounts[0];
    assert_eq!(a["password"], "released password");
    assert!(a["otpauth_uri"]
        .as_str()
        .unwrap()
        .contains("secret=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"));
    assert_eq!(a["totp_code"].as_str().unwrap().len(), 6);
    let codes: Vec<&str> = a["backup_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["code"].as_str().unwrap())
        .collect();
    // The code checked out (not reported) may still work on the platform: it is released too.
    assert_eq!(codes, ["1111-2222", "3333-4444", "5555-6666"]);
    // A second read serves the same secrets (every replica can: they are kept sealed).
    let again = expect_json(read_secrets(&app, &requester, &id, &key).await, 200).await;
    assert_eq!(again["accounts"][0]["password"], "released password");

    // The escrow is spent: a new ceremony is due; every released secret gets a task.
    let spent = expect_json(
        app.get(&format!("/api/v1/escrows/{escrow}"), &admin).await,
        200,
    )
    .await;
    assert_eq!(spent["state"], "spent");
    expect_error(
        app.post(
            &format!("/api/v1/escrows/{escrow}/releases"),
            &requester,
            json!({"reason": "again"}),
        )
        .await,
        409,
        "escrow_spent",
    )
    .await;
    let tasks = expect_json(
        app.get("/api/v1/rotation-tasks?reason=break_glass", &manager)
            .await,
        200,
    )
    .await;
    let mut kinds: Vec<&str> = tasks["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["kind"].as_str().unwrap())
        .collect();
    kinds.sort();
    assert_eq!(kinds, ["backup_codes", "password", "totp"]);
    let actions: Vec<String> = app
        .audit_rows()
        .await
        .into_iter()
        .map(|r| r.action)
        .collect();
    for action in [
        "release.request",
        "release.share",
        "release.open",
        "escrow.spent",
    ] {
        assert!(actions.iter().any(|a| a == action), "{action}");
    }
    assert!(app
        .audit_rows()
        .await
        .iter()
        .all(|r| !r.details.contains("released password") && !r.details.contains("5555-6666")));
}

/// Moves an opened release's window into the past, as time would.
async fn end_window(app: &TestApp, id: &str) {
    let db = app.core.store.db();
    let mut row = keyward::store::escrow::find_release(db, &app.core.integrity, id)
        .await
        .unwrap()
        .unwrap();
    row.expires_at = Some(chrono::Utc::now() - chrono::Duration::seconds(1));
    keyward::store::escrow::update_release(db, &app.core.integrity, row)
        .await
        .unwrap();
}

/// A marketing account holding `password`, a 2-of-2 escrow over the team, and a release asked
/// for by `requester` with both shares in: (release id, release key).
async fn ready_release(
    app: &TestApp,
    admin: &str,
    requester: &str,
    handle: &str,
    password: &str,
) -> (String, String) {
    let account = app.account(requester, "marketing", handle).await;
    app.set_password(requester, &account, password).await;
    let (escrow, shares) = escrow_with_shares(app, admin, 2, 2, 0).await;
    let (id, key) = ask_release(app, requester, &escrow, "ready release").await;
    submit_all(app, &id, &shares).await;
    (id, key)
}

#[tokio::test]
async fn a_release_opens_with_the_escrow_key_alone_when_every_kek_wrap_is_broken() {
    let app = spawn_app().await;
    let admin = app.token("security_admin", "*").await;
    let manager = app.token("manager", "marketing").await;
    let (id, key) = ready_release(&app, &admin, &manager, "@nokek", "still here").await;
    let (id, key) = (id.as_str(), key.as_str());
    use sea_orm::ConnectionTrait;
    app.core
        .store
        .db()
        .execute_unprepared("UPDATE secret SET wrapped_dek = wrapped_dek || wrapped_dek")
        .await
        .unwrap();
    let released = expect_json(read_secrets(&app, &manager, id, key).await, 200).await;
    assert_eq!(released["accounts"][0]["password"], "still here");
}

#[tokio::test]
async fn a_veto_stops_a_waiting_release_and_an_ended_window_is_gone() {
    let app = spawn_app().await;
    let admin = app.token("security_admin", "*").await;
    let manager = app.token("manager", "marketing").await;
    let account = app.account(&manager, "marketing", "@vetoed").await;
    app.set_password(&manager, &account, "pw").await;
    let (escrow, shares) = escrow_with_shares(&app, &admin, 2, 2, 60).await;
    let (id, key) = ask_release(&app, &manager, &escrow, "waiting test").await;
    submit_all(&app, &id, &shares).await;
    let waiting = expect_json(
        app.get(&format!("/api/v1/releases/{id}"), &manager).await,
        200,
    )
    .await;
    assert_eq!(waiting["state"], "waiting");
    let res = read_secrets(&app, &manager, &id, &key).await;
    assert!(res.headers().contains_key("retry-after"));
    expect_error(res, 429, "release_waiting").await;
    expect_error(
        app.post(
            &format!("/api/v1/releases/{id}/veto"),
            &manager,
            json!({"justification": "not me"}),
        )
        .await,
        403,
        "forbidden",
    )
    .await;
    let vetoed = expect_json(
        app.post(
            &format!("/api/v1/releases/{id}/veto"),
            &admin,
            json!({"justification": "nobody is locked out"}),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(vetoed["state"], "vetoed");
    expect_error(
        read_secrets(&app, &manager, &id, &key).await,
        409,
        "release_vetoed",
    )
    .await;
    let escrow_now = expect_json(
        app.get(&format!("/api/v1/escrows/{escrow}"), &admin).await,
        200,
    )
    .await;
    assert_eq!(
        escrow_now["state"], "active",
        "a vetoed release spends nothing"
    );

    // A second release opens, then its window ends: 410, and the secrets are unreadable.
    let (escrow, shares) = escrow_with_shares(&app, &admin, 2, 2, 0).await;
    let (id, key) = ask_release(&app, &manager, &escrow, "window test").await;
    submit_all(&app, &id, &shares).await;
    expect_json(read_secrets(&app, &manager, &id, &key).await, 200).await;
    end_window(&app, &id).await;
    let db = app.core.store.db();
    expect_error(
        read_secrets(&app, &manager, &id, &key).await,
        410,
        "release_expired",
    )
    .await;
    let row = keyward::store::escrow::find_release(db, &app.core.integrity, &id)
        .await
        .unwrap()
        .unwrap();
    assert!(row.opened.is_none() && row.state == "expired");
}

#[tokio::test]
async fn two_shares_submitted_at_once_at_the_threshold_release_exactly_once() {
    let app = spawn_app().await;
    let admin = app.token("security_admin", "*").await;
    let manager = app.token("manager", "marketing").await;
    let (escrow, shares) = escrow_with_shares(&app, &admin, 2, 3, 0).await;
    let release = expect_json(
        app.post(
            &format!("/api/v1/escrows/{escrow}/releases"),
            &manager,
            json!({"reason": "race"}),
        )
        .await,
        201,
    )
    .await;
    let id = release["id"].as_str().unwrap().to_owned();
    expect_json(submit(&app, &id, &shares[0]).await, 200).await;
    let (a, b) = tokio::join!(submit(&app, &id, &shares[1]), submit(&app, &id, &shares[2]));
    let mut statuses = vec![a.status().as_u16(), b.status().as_u16()];
    statuses.sort();
    assert_eq!(statuses, vec![200, 409]);
    let crossings = app
        .audit_rows()
        .await
        .into_iter()
        .filter(|r| {
            r.action == "release.share"
                && r.outcome == "success"
                && r.details.contains("\"state\":\"released\"")
        })
        .count();
    assert_eq!(crossings, 1);
}

/// `keyward breakglass open` with nothing but the database: no KEYWARD_* variables at all.
fn run_cmd(escrow: &str, database: &str) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_keyward"));
    for (key, _) in std::env::vars() {
        if key.starts_with("KEYWARD_") {
            cmd.env_remove(key);
        }
    }
    cmd.args([
        "breakglass",
        "open",
        "--escrow",
        escrow,
        "--database-url",
        database,
    ]);
    cmd
}

#[tokio::test]
async fn the_offline_cli_opens_an_escrow_from_the_database_and_shares_without_the_key_file() {
    let app = spawn_app().await;
    let admin = app.token("security_admin", "*").await;
    let manager = app.token("manager", "marketing").await;
    let account = app.account(&manager, "marketing", "@offline").await;
    app.set_totp(&manager, &account, "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP")
        .await;
    app.set_password(&manager, &account, "offline password")
        .await;
    let (escrow, shares) = escrow_with_shares(&app, &admin, 2, 3, 0).await;
    // The key file is gone; the CLI gets the database and two shares, nothing else.
    let key_file = std::fs::read(app.key_file()).unwrap();
    std::fs::remove_file(app.key_file()).unwrap();
    let run = |shares: Vec<String>| {
        let mut cmd = run_cmd(&escrow, &app.settings.database.url);
        for share in shares {
            cmd.arg("--share").arg(share);
        }
        cmd.output().unwrap()
    };
    let too_few = run(vec![shares[2].clone()]);
    assert!(!too_few.status.success());
    // From standard input, one share a line (they stay out of the shell history).
    let out = {
        use std::io::Write;
        let mut cmd = run_cmd(&escrow, &app.settings.database.url);
        cmd.arg("--shares-from-stdin")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        let mut stdin = child.stdin.take().unwrap();
        writeln!(stdin, "{}\n\n{}", shares[0], shares[2]).unwrap();
        drop(stdin);
        child.wait_with_output().unwrap()
    };
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let printed: Value = serde_json::from_slice(&out.stdout).unwrap();
    let a = &printed["accounts"][0];
    assert_eq!(a["password"], "offline password");
    assert_eq!(a["totp_code"].as_str().unwrap().len(), 6);
    assert!(String::from_utf8_lossy(&out.stderr).contains("rotate every secret"));
    // Spent, recorded, and a rotation task per released secret.
    let again = run(vec![shares[0].clone(), shares[1].clone()]);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("used already"));
    let rows = app.audit_rows().await;
    let opened = rows.iter().find(|r| r.action == "release.open").unwrap();
    assert_eq!(opened.actor, "cli");
    assert!(opened.details.contains("\"offline\":true"));
    let tasks = || async {
        keyward::store::rotation::list(
            app.core.store.db(),
            &app.core.integrity,
            &keyward::store::rotation::TaskFilter {
                reason: Some("break_glass".into()),
                ..Default::default()
            },
            100,
        )
        .await
        .unwrap()
    };
    // Written without the key file, the tasks and the spent escrow carry no MAC: they are
    // not believed until the key file is back and a security admin attests them.
    assert!(tasks().await.is_empty());
    assert!(String::from_utf8_lossy(&out.stderr).contains("keyward integrity attest"));
    std::fs::write(app.key_file(), key_file).unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(app.key_file(), std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let check = app.cli().args(["integrity", "check"]).output().unwrap();
    assert!(!check.status.success());
    assert!(String::from_utf8_lossy(&check.stderr).contains("do not verify"));
    let listed = String::from_utf8_lossy(&check.stdout).into_owned();
    let bad: Vec<(String, String)> = listed
        .lines()
        .filter_map(|l| l.strip_prefix("bad  "))
        .map(|l| {
            let mut parts = l.split_whitespace();
            (
                parts.next().unwrap().to_owned(),
                parts.next().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        bad.iter().filter(|(t, _)| t == "rotation_task").count(),
        2,
        "{listed}"
    );
    assert!(
        bad.contains(&("escrow".to_owned(), escrow.clone())),
        "{listed}"
    );
    for (table, id) in &bad {
        let out = app
            .cli()
            .args(["integrity", "attest", "--table", table, "--id", id])
            .args(["--justification", "written by the offline open"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert_eq!(tasks().await.len(), 2);
}

#[tokio::test]
async fn what_a_release_handed_out_counts_as_its_requesters_exposure() {
    let app = spawn_app().await;
    let admin = app.token("security_admin", "*").await;
    let manager = app.token("manager", "marketing").await;
    let account = app
        .account(&manager, "marketing", "@exposed_by_release")
        .await;
    app.set_password(&manager, &account, "seen in a release")
        .await;
    expect_json(
        app.post(
            &format!("/api/v1/accounts/{account}/backup-codes"),
            &manager,
            json!({"codes": ["7777-8888"], "issued_on": "2025-12-16"}),
        )
        .await,
        201,
    )
    .await;
    let (escrow, shares) = escrow_with_shares(&app, &admin, 2, 2, 0).await;
    let member = app.member("requester").await;
    let requester = app.token_for(&member, &[("operator", "marketing")]).await;
    let (id, key) = ask_release(&app, &requester, &escrow, "everyone is away").await;
    submit_all(&app, &id, &shares).await;
    expect_json(read_secrets(&app, &requester, &id, &key).await, 200).await;
    let exposure = expect_json(
        app.get(&format!("/api/v1/members/{member}/exposure"), &admin)
            .await,
        200,
    )
    .await;
    let mut items: Vec<(String, String)> = exposure["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["kind"].as_str().unwrap().to_owned(),
                i["how"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    items.sort();
    assert_eq!(
        items,
        [
            ("backup_code".to_owned(), "break_glass".to_owned()),
            ("password".to_owned(), "break_glass".to_owned())
        ]
    );
    // Rotated since: no longer counted.
    app.set_password(&manager, &account, "rotated").await;
    let exposure = expect_json(
        app.get(&format!("/api/v1/members/{member}/exposure"), &admin)
            .await,
        200,
    )
    .await;
    assert_eq!(exposure["items"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn two_releases_of_one_escrow_release_it_once_and_the_other_ends() {
    let app = spawn_app().await;
    let admin = app.token("security_admin", "*").await;
    let manager = app.token("manager", "marketing").await;
    let account = app.account(&manager, "marketing", "@twice").await;
    app.set_password(&manager, &account, "once").await;
    let (escrow, shares) = escrow_with_shares(&app, &admin, 2, 4, 0).await;
    let (a, a_key) = ask_release(&app, &manager, &escrow, "first").await;
    let (b, _) = ask_release(&app, &manager, &escrow, "second").await;
    let (a, a_key, b) = (a.as_str(), a_key.as_str(), b.as_str());
    expect_json(submit(&app, b, &shares[2]).await, 200).await;
    for share in &shares[..2] {
        expect_json(submit(&app, a, share).await, 200).await;
    }
    expect_json(read_secrets(&app, &manager, a, a_key).await, 200).await;
    // The escrow is spent: the other release ended with it and takes no more shares.
    let other = expect_json(app.get(&format!("/api/v1/releases/{b}"), &admin).await, 200).await;
    assert_eq!(other["state"], "expired");
    let refused = submit(&app, b, &shares[3]).await;
    assert!(refused.status() == 409, "{}", refused.status());
    assert!(keyward::store::escrow::shares_of(app.core.store.db(), b)
        .await
        .unwrap()
        .is_empty());
    let opened = app
        .audit_rows()
        .await
        .iter()
        .filter(|r| r.action == "release.open")
        .count();
    assert_eq!(opened, 1);
}

#[tokio::test]
async fn an_ended_window_is_forgotten_by_housekeeping_even_if_nobody_reads_again() {
    let app = spawn_app().await;
    let admin = app.token("security_admin", "*").await;
    let manager = app.token("manager", "marketing").await;
    let (id, key) = ready_release(&app, &admin, &manager, "@swept", "swept").await;
    let (id, key) = (id.as_str(), key.as_str());
    expect_json(read_secrets(&app, &manager, id, key).await, 200).await;
    end_window(&app, id).await;
    let db = app.core.store.db();
    assert_eq!(app.core.expire_releases().await.unwrap(), 1);
    let row = keyward::store::escrow::find_release(db, &app.core.integrity, id)
        .await
        .unwrap()
        .unwrap();
    assert!(row.opened.is_none() && row.state == "expired");
    // The read and the expiry are both on the record.
    let rows = app.audit_rows().await;
    let of = |action: &str| -> Vec<_> {
        rows.iter()
            .filter(|r| r.action == action && r.target.as_deref() == Some(&format!("release:{id}")))
            .collect()
    };
    assert_eq!(of("release.read").len(), 1);
    let expired = of("release.expire");
    assert_eq!(expired.len(), 1);
    assert_eq!(expired[0].actor, "system");
    assert!(
        expired[0].details.contains("window_over"),
        "{}",
        expired[0].details
    );
    // Only a security admin or a custodian vetoes; anyone else is refused before the body.
    let requester_view = expect_json(
        app.get(&format!("/api/v1/releases/{id}"), &manager).await,
        200,
    )
    .await;
    assert_eq!(requester_view["state"], "expired");
    expect_error(
        app.request(
            reqwest::Method::POST,
            &format!("/api/v1/releases/{id}/veto"),
            Some(&manager),
            None,
        )
        .await,
        403,
        "forbidden",
    )
    .await;
}

#[tokio::test]
async fn a_picked_up_share_is_shown_even_when_its_one_time_page_cannot_be_kept() {
    use crate::support::idp::{spawn_sso_app, Browser};
    let app = spawn_sso_app("").await;
    let admin = app.token("security_admin", "*").await;
    // Custodians are members: alice signs in first; mia is another member.
    let browser = Browser::new();
    assert!(browser
        .sign_in(&app.base, "alice")
        .await
        .status()
        .is_redirection());
    let mia = app.member("mia").await;
    let escrow = expect_json(
        app.post(
            "/api/v1/escrows",
            &admin,
            json!({"name": "pickup", "teams": ["marketing"], "threshold": 2,
                "custodians": ["alice@example.com", mia]}),
        )
        .await,
        201,
    )
    .await;
    let id = escrow["id"].as_str().unwrap();
    let page = browser.page(&format!("{}/escrows/{id}", app.base)).await;
    // The one-time page results cannot be written any more.
    use sea_orm::ConnectionTrait;
    app.core
        .store
        .db()
        .execute_unprepared("DROP TABLE page_result")
        .await
        .unwrap();
    let res = browser
        .submit(&app.base, &format!("/escrows/{id}/share"), &page, &[])
        .await;
    assert_eq!(
        res.status(),
        200,
        "the share is shown here, not lost behind a redirect"
    );
    let body = res.text().await.unwrap();
    let share = body
        .split("data-testid=\"share-text\">")
        .nth(1)
        .and_then(|rest| rest.split('<').next())
        .expect("the share is on the page");
    assert!(ShareText::parse(share).is_ok());
}

#[tokio::test]
async fn every_read_of_released_secrets_and_an_expiry_on_reading_are_audited_without_a_secret() {
    let app = spawn_app().await;
    let admin = app.token("security_admin", "*").await;
    let manager = app.token("manager", "marketing").await;
    let (id, key) = ready_release(&app, &admin, &manager, "@readtwice", "read twice").await;
    let (id, key) = (id.as_str(), key.as_str());
    for _ in 0..3 {
        expect_json(read_secrets(&app, &manager, id, key).await, 200).await;
    }
    let target = format!("release:{id}");
    let reads: Vec<_> = app
        .audit_rows()
        .await
        .into_iter()
        .filter(|r| r.action == "release.read" && r.target.as_deref() == Some(target.as_str()))
        .collect();
    assert_eq!(reads.len(), 3, "the opening read and two more");
    assert!(reads.iter().all(|r| r.actor.starts_with("token:")
        && r.details.contains("\"accounts\":1")
        && !r.details.contains("read twice")));
    // Read after the window: 410, and the expiry is recorded in that read's transaction.
    end_window(&app, id).await;
    assert_eq!(read_secrets(&app, &manager, id, key).await.status(), 410);
    let rows = app.audit_rows().await;
    let expired: Vec<_> = rows
        .iter()
        .filter(|r| r.action == "release.expire" && r.target.as_deref() == Some(target.as_str()))
        .collect();
    assert_eq!(expired.len(), 1);
    assert_eq!(
        rows.iter().filter(|r| r.action == "release.read").count(),
        3,
        "a refused read is no read"
    );
    assert_eq!(app.core.expire_releases().await.unwrap(), 0, "ended once");
}

#[tokio::test]
async fn a_requester_who_reads_the_database_cannot_open_the_submitted_shares_while_a_release_waits()
{
    let app = spawn_app().await;
    let admin = app.token("security_admin", "*").await;
    let manager = app.token("manager", "marketing").await;
    app.account(&manager, "marketing", "@waiting_reader").await;
    let (escrow, shares) = escrow_with_shares(&app, &admin, 2, 2, 60).await;
    let (id, release_key) = ask_release(&app, &manager, &escrow, "waiting").await;
    submit_all(&app, &id, &shares).await;
    // What the database holds for the submitted shares does not open with the release key
    // alone: it is also sealed under the server's keys.
    let rows = keyward::store::escrow::shares_of(app.core.store.db(), &id)
        .await
        .unwrap();
    assert_eq!(rows.len(), 2);
    use base64::Engine;
    let key = keyward::crypto::escrow::EscrowKey::from_private(
        &base64::engine::general_purpose::STANDARD
            .decode(&release_key)
            .unwrap(),
    )
    .unwrap();
    for row in &rows {
        let aad = format!("keyward/v1/release/{id}/share/{}", row.share_index);
        assert!(key.open(&aad, &row.sealed).is_err());
        // With the server's key first (what only the service does, when the release opens).
        let inner = app
            .core
            .keyring
            .open_derived("keyward/v1/release-share", &aad, &row.sealed)
            .unwrap();
        assert!(key.open(&aad, &inner).is_ok());
    }
    // The waiting period is the service's to enforce.
    expect_error(
        read_secrets(&app, &manager, &id, &release_key).await,
        429,
        "release_waiting",
    )
    .await;
}

#[tokio::test]
async fn after_a_custodian_leaves_the_dashboard_starts_a_new_ceremony_with_the_same_scope() {
    use crate::support::idp::{spawn_sso_app, Browser};
    let app = spawn_sso_app("").await;
    let admin = app.token("security_admin", "*").await;
    let made = app
        .ceremony(&admin, "brand break-glass", &["marketing"], 2, 3, 0)
        .await;
    let (leaver, _) = made.custodians[0].clone();
    expect_json(
        app.post(
            &format!("/api/v1/members/{leaver}/offboard"),
            &admin,
            json!({"reason": "left the company"}),
        )
        .await,
        200,
    )
    .await;
    let browser = Browser::new();
    assert!(browser
        .sign_in(&app.base, "sam")
        .await
        .status()
        .is_redirection());
    let page = browser
        .page(&format!("{}/escrows/{}", app.base, made.id))
        .await;
    assert!(page.contains("data-testid=\"needs-ceremony\""), "{page}");
    assert!(page.contains(&format!("href=\"/escrows?like={}#new-escrow\"", made.id)));
    let form = browser
        .page(&format!("{}/escrows?like={}", app.base, made.id))
        .await;
    assert!(form.contains("value=\"brand break-glass\""));
    assert!(form.contains("value=\"marketing\""));
    let textarea = form
        .split("data-testid=\"escrow-custodians\">")
        .nth(1)
        .and_then(|rest| rest.split("</textarea>").next())
        .unwrap()
        .to_owned();
    assert_eq!(textarea.lines().count(), 2, "the two who stay: {textarea}");
    assert!(textarea.lines().all(|l| l.ends_with("@example.com")));
}
