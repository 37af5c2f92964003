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

fn open_age(identity: &age::x25519::Identity, armored: &str) -> String {
    use std::io::Read;
    let reader = age::armor::ArmoredReader::new(armored.as_bytes());
    let decryptor = age::Decryptor::new(reader).unwrap();
    let mut out = String::new();
    decryptor
        .decrypt(std::iter::once(identity as &dyn age::Identity))
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    out
}

/// A member with a verified email and a token acting for them.
async fn member_token(app: &TestApp, name: &str) -> String {
    let member = app.member(name).await;
    app.token_for(&member, &[("custodian", "*")]).await
}

#[tokio::test]
async fn the_ceremony_hands_each_share_out_once_and_keeps_only_fingerprints() {
    let app = spawn_app().await;
    let admin = app.token("security_admin", "*").await;
    let (ada, ada_key, ada_identity) = custodian("ada");
    let body = json!({
        "name": "marketing break-glass",
        "teams": ["marketing"],
        "threshold": 2,
        "custodians": [
            {"email": ada, "age_recipient": ada_key},
            {"email": "bob@example.com"},
            {"email": "cy@example.com"},
        ],
        "waiting_period_minutes": 0,
        "release_ttl_minutes": 30,
    });
    let escrow = expect_json(app.post("/api/v1/escrows", &admin, body).await, 201).await;
    let id = escrow["id"].as_str().unwrap().to_owned();
    assert_eq!(escrow["state"], "active");
    assert_eq!(
        escrow["shares"].as_array().unwrap().len(),
        1,
        "only the age share is returned"
    );
    let ada_share = open_age(
        &ada_identity,
        escrow["shares"][0]["age_armored"].as_str().unwrap(),
    );
    let parsed = ShareText::parse(&ada_share).unwrap();
    assert_eq!(parsed.escrow, id);
    use sha2::Digest;
    let custodians = escrow["custodians"].as_array().unwrap();
    assert_eq!(
        custodians[0]["fingerprint"],
        hex::encode(sha2::Sha256::digest(parsed.bytes.as_slice()))
    );
    assert_eq!(custodians[1]["delivered"], "pickup");

    // Bob picks his up once; a non-custodian cannot.
    let bob = member_token(&app, "bob").await;
    let stranger = member_token(&app, "eve").await;
    expect_error(
        app.post(&format!("/api/v1/escrows/{id}/share"), &stranger, json!({}))
            .await,
        403,
        "forbidden",
    )
    .await;
    let picked = expect_json(
        app.post(&format!("/api/v1/escrows/{id}/share"), &bob, json!({}))
            .await,
        200,
    )
    .await;
    expect_error(
        app.post(&format!("/api/v1/escrows/{id}/share"), &bob, json!({}))
            .await,
        409,
        "share_already_issued",
    )
    .await;
    let bob_share = ShareText::parse(picked["share"].as_str().unwrap()).unwrap();
    let mine = expect_json(app.get(&format!("/api/v1/escrows/{id}"), &bob).await, 200).await;
    assert_eq!(mine["custodians"][1]["picked_up"], true);

    // Any two shares rebuild the escrow's key; one does not.
    use base64::Engine;
    let public: [u8; 32] = base64::engine::general_purpose::STANDARD
        .decode(escrow["public_key"].as_str().unwrap())
        .unwrap()
        .try_into()
        .unwrap();
    assert!(rebuild(
        &[parsed.bytes.as_slice(), bob_share.bytes.as_slice()],
        &public
    )
    .is_ok());
    assert!(rebuild(&[parsed.bytes.as_slice()], &public).is_err());

    // Nothing of a share is in the database or the audit trail.
    let rows = app.audit_rows().await;
    let trail: String = rows.iter().map(|r| r.details.clone()).collect();
    for share in [&ada_share, picked["share"].as_str().unwrap()] {
        assert!(!trail.contains(&share[40..80]));
    }
    assert_eq!(
        rows.iter()
            .filter(|r| r.action == "escrow.share_issued")
            .count(),
        2
    );
    assert!(rows.iter().any(|r| r.action == "escrow.create"));
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
    let (a, a_key, a_id) = custodian("a");
    let (b, b_key, b_id) = custodian("b");
    let escrow = expect_json(
        app.post("/api/v1/escrows", &admin, json!({"name": "e", "teams": ["marketing"], "threshold": 2,
            "custodians": [{"email": a, "age_recipient": a_key}, {"email": b, "age_recipient": b_key}]})).await,
        201,
    )
    .await;
    let escrow_id = escrow["id"].as_str().unwrap().to_owned();
    // A version written after the ceremony is sealed to the escrow as it is written.
    expect_json(
        app.put(
            &format!("/api/v1/accounts/{inside}/password"),
            &manager,
            json!({"password": "after the ceremony"}),
        )
        .await,
        201,
    )
    .await;

    let shares: Vec<ShareText> = [(&a_id, 0), (&b_id, 1)]
        .iter()
        .map(|(identity, i)| {
            ShareText::parse(&open_age(
                identity,
                escrow["shares"][*i]["age_armored"].as_str().unwrap(),
            ))
            .unwrap()
        })
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
    let seals = keyward::store::escrow::seals(db, &escrow_id).await.unwrap();
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
    let custodians = |n: usize| -> Value {
        (0..n)
            .map(|i| json!({"email": format!("c{i}@example.com")}))
            .collect()
    };
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
            json!({"name": "e", "teams": ["marketing"], "threshold": 2, "custodians": [{"email": "a@example.com"}, {"email": "A@example.com"}]}),
            "duplicate_custodian",
        ),
        (
            json!({"name": "e", "teams": ["marketing"], "threshold": 2, "custodians": [{"email": "a@example.com", "age_recipient": "age1nope"}, {"email": "b@example.com"}]}),
            "invalid_age_recipient",
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
            json!({"name": "e", "teams": ["marketing"], "threshold": 2, "custodians": [{"email": "not an email"}, {"email": "b@example.com"}]}),
            "invalid_email",
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
