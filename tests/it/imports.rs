//! Imports with real artefacts: Google Authenticator export payloads encoded from the protobuf
//! definition (two batches), an Aegis vault encrypted as Aegis documents it (scrypt 2^15, 8, 1
//! and AES-256-GCM), 2FAS and Bitwarden JSON, a list of otpauth:// URIs. Each goes through the
//! preview and the import over the API, and each stored seed is checked by revealing its code
//! and comparing it with an independent TOTP implementation.

use crate::support::otp::{base32, totp_window};
use crate::support::{expect_error, expect_json, spawn_app, TestApp};
use keyward::importers::{MigrationOtp, MigrationPayload};
use serde_json::{json, Value};

/// Seeds of 160 bits (RFC 4226's recommendation), one per platform.
const SEEDS: [(&str, &str, &str); 3] = [
    ("Instagram", "brand", "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"),
    ("X", "brand_jp", "MFRGGZDFMZTWQ2LKNNWG23TPOBYXE43U"),
    ("GitHub", "release-bot", "KRUGKIDROVUWG2ZAMJZG653OEBTG66BA"),
];

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn b64(bytes: &[u8]) -> String {
    data_encoding::BASE64.encode(bytes)
}

/// Google Authenticator's "Transfer accounts" export: one URI per batch (QR code).
fn google_export() -> String {
    let batches: Vec<Vec<(&str, &str, &str)>> = vec![SEEDS[..2].to_vec(), SEEDS[2..].to_vec()];
    let count = batches.len() as i32;
    batches
        .into_iter()
        .enumerate()
        .map(|(i, batch)| {
            let payload = MigrationPayload {
                otp_parameters: batch
                    .iter()
                    .map(|(issuer, name, seed)| MigrationOtp {
                        secret: base32(seed),
                        name: format!("{issuer}:{name}"),
                        issuer: (*issuer).to_owned(),
                        algorithm: 1,
                        digits: 1,
                        r#type: 2,
                        counter: 0,
                    })
                    .collect(),
                version: 1,
                batch_size: count,
                batch_index: i as i32,
                batch_id: 4711,
            };
            let bytes = prost::Message::encode_to_vec(&payload);
            let data: String =
                url::form_urlencoded::byte_serialize(b64(&bytes).as_bytes()).collect();
            format!("otpauth-migration://offline?data={data}")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn aegis_db() -> Value {
    json!({
        "version": 2,
        "entries": SEEDS.iter().map(|(issuer, name, seed)| json!({
            "type": "totp", "uuid": uuid::Uuid::now_v7().to_string(), "name": name, "issuer": issuer,
            "note": "", "favorite": false, "icon": null,
            "info": {"secret": seed, "algo": "SHA1", "digits": 6, "period": 30}
        })).collect::<Vec<_>>()
    })
}

fn seal(key: &[u8], plain: &[u8]) -> (String, String, String) {
    use aes_gcm::aead::{Aead, KeyInit};
    let nonce: [u8; 12] = rand::random();
    let cipher = aes_gcm::Aes256Gcm::new_from_slice(key).unwrap();
    let mut out = cipher
        .encrypt(aes_gcm::Nonce::from_slice(&nonce), plain)
        .unwrap();
    let tag = out.split_off(out.len() - 16);
    (
        data_encoding::HEXLOWER.encode(&out),
        data_encoding::HEXLOWER.encode(&nonce),
        data_encoding::HEXLOWER.encode(&tag),
    )
}

/// An Aegis vault encrypted with `password`: the master key sealed in a password slot
/// (scrypt N = 2^15, r = 8, p = 1, as Aegis writes them), the database sealed with it.
fn aegis_encrypted(password: &str) -> String {
    let master: [u8; 32] = rand::random();
    let salt: [u8; 32] = rand::random();
    let params = scrypt::Params::new(15, 8, 1).unwrap();
    let mut derived = [0u8; 32];
    scrypt::scrypt(password.as_bytes(), &salt, &params, &mut derived).unwrap();
    let (slot_key, slot_nonce, slot_tag) = seal(&derived, &master);
    let (db, nonce, tag) = seal(&master, aegis_db().to_string().as_bytes());
    let db = b64(&data_encoding::HEXLOWER.decode(db.as_bytes()).unwrap());
    json!({
        "version": 1,
        "header": {
            "slots": [{
                "type": 1, "uuid": uuid::Uuid::now_v7().to_string(), "key": slot_key,
                "key_params": {"nonce": slot_nonce, "tag": slot_tag},
                "n": 32768, "r": 8, "p": 1, "salt": data_encoding::HEXLOWER.encode(&salt),
                "repaired": true, "is_backup": false
            }],
            "params": {"nonce": nonce, "tag": tag}
        },
        "db": db
    })
    .to_string()
}

fn aegis_plain() -> String {
    json!({"version": 1, "header": {"slots": null, "params": null}, "db": aegis_db()}).to_string()
}

fn two_fas() -> String {
    json!({
        "services": SEEDS.iter().map(|(issuer, name, seed)| json!({
            "name": issuer, "secret": seed, "updatedAt": 1_700_000_000_000u64,
            "otp": {"label": name, "account": name, "issuer": issuer, "digits": 6, "period": 30,
                    "algorithm": "SHA1", "tokenType": "TOTP", "source": "Link"},
            "order": {"position": 0}, "icon": {"selected": "Label"}
        })).collect::<Vec<_>>(),
        "groups": [], "updatedAt": 1_700_000_000_000u64, "schemaVersion": 4, "appVersionCode": 5_000_000
    })
    .to_string()
}

fn bitwarden() -> String {
    let mut items: Vec<Value> = SEEDS
        .iter()
        .map(|(issuer, name, seed)| {
            json!({
                "id": uuid::Uuid::now_v7().to_string(), "type": 1, "name": issuer, "favorite": false,
                "login": {"username": name, "password": "not-a-seed-but-a-password", "totp": seed, "uris": []}
            })
        })
        .collect();
    // A login without TOTP, and a secure note: not seeds.
    items.push(json!({"type": 1, "name": "Intranet", "login": {"username": "me", "password": "p", "totp": null}}));
    items.push(json!({"type": 2, "name": "Note", "notes": "hello"}));
    json!({"encrypted": false, "folders": [], "items": items}).to_string()
}

fn otpauth_list() -> String {
    SEEDS
        .iter()
        .map(|(issuer, name, seed)| {
            format!("otpauth://totp/{issuer}:{name}?secret={seed}&issuer={issuer}")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

async fn preview(app: &TestApp, token: &str, body: Value) -> Value {
    expect_json(app.post("/api/v1/imports/preview", token, body).await, 200).await
}

/// Imports `data` as proposed, then checks each seed by its revealed code.
async fn import_and_check(
    app: &TestApp,
    manager: &str,
    format: &str,
    data: &str,
    password: Option<&str>,
) {
    let mut body = json!({"format": format, "data": data});
    if let Some(p) = password {
        body["password"] = p.into();
    }
    let asked = body.clone();
    let seen = preview(app, manager, asked.clone()).await;
    let entries = seen["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 3, "{format}: {seen}");
    let text = seen.to_string();
    for (_, _, seed) in SEEDS {
        assert!(
            !text.contains(seed),
            "{format}: the preview shows no secret"
        );
    }
    let decisions: Vec<Value> = entries
        .iter()
        .map(|e| {
            let p = &e["proposal"];
            json!({"index": e["index"], "action": p["action"], "account": p["account"],
                   "platform": p["platform"], "handle": p["handle"]})
        })
        .collect();
    body["team"] = "marketing".into();
    body["entries"] = decisions.into();
    let done = expect_json(
        app.post("/api/v1/imports", manager, body.clone()).await,
        200,
    )
    .await;
    assert_eq!(
        done["stored"].as_u64().unwrap() + done["skipped"].as_u64().unwrap(),
        3,
        "{done}"
    );
    let accounts = expect_json(app.get("/api/v1/accounts", manager).await, 200).await;
    for (issuer, name, seed) in SEEDS {
        let platform = match issuer {
            "Instagram" => "instagram",
            "X" => "x",
            _ => "github",
        };
        let account = accounts["accounts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| {
                a["platform"] == platform
                    && a["handle"].as_str().unwrap().trim_start_matches('@') == name
            })
            .unwrap_or_else(|| panic!("{format}: an account for {issuer}:{name}"));
        let before = unix_now();
        let code = expect_json(
            app.totp_code(
                manager,
                account["id"].as_str().unwrap(),
                json!({"justification": "import check"}),
            )
            .await,
            200,
        )
        .await;
        assert!(
            totp_window(&base32(seed), before, 30, 6)
                .contains(&code["code"].as_str().unwrap().to_owned()),
            "{format}: {issuer}:{name} reveals the code an authenticator would show"
        );
    }
    // The same export again: every seed is recognised and skipped.
    let again = preview(app, manager, asked).await;
    for e in again["entries"].as_array().unwrap() {
        assert_eq!(e["proposal"]["action"], "skip", "{format}: {e}");
        assert_eq!(e["proposal"]["reason"], "already_stored");
    }
    // Even told to attach them, the import stores none of them twice.
    let attach: Vec<Value> = again["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| json!({"index": e["index"], "action": "attach", "account": e["proposal"]["account"]}))
        .collect();
    body["entries"] = attach.into();
    let redo = expect_json(app.post("/api/v1/imports", manager, body).await, 200).await;
    assert_eq!(
        (redo["stored"].as_u64(), redo["skipped"].as_u64()),
        (Some(0), Some(3)),
        "{format}: {redo}"
    );
}

#[tokio::test]
async fn every_format_imports_seeds_that_reveal_the_right_codes() {
    let cases: Vec<(&str, String, Option<&str>)> = vec![
        ("google-authenticator", google_export(), None),
        ("aegis", aegis_plain(), None),
        (
            "aegis",
            aegis_encrypted("correct horse battery staple"),
            Some("correct horse battery staple"),
        ),
        ("2fas", two_fas(), None),
        ("bitwarden", bitwarden(), None),
        ("otpauth", otpauth_list(), None),
    ];
    for (format, data, password) in cases {
        let app = spawn_app().await;
        let manager = app.token("manager", "marketing").await;
        import_and_check(&app, &manager, format, &data, password).await;
    }
}

#[tokio::test]
async fn the_preview_proposes_attach_create_and_skip_and_the_file_may_come_as_base64() {
    let app = spawn_app().await;
    let manager = app.token("manager", "marketing").await;
    let existing = expect_json(
        app.post(
            "/api/v1/accounts",
            &manager,
            json!({"team": "marketing", "platform": "instagram", "handle": "@brand"}),
        )
        .await,
        201,
    )
    .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut data = google_export();
    // An entry without an account part cannot name a handle.
    let odd = MigrationPayload {
        otp_parameters: vec![MigrationOtp {
            secret: base32("ONSWG4TFORZWK3DMN5QWIZLSONSWG4TF"),
            name: "".into(),
            issuer: "Acme VPN".into(),
            algorithm: 1,
            digits: 1,
            r#type: 2,
            counter: 0,
        }],
        version: 1,
        batch_size: 1,
        batch_index: 0,
        batch_id: 1,
    };
    let encoded: String =
        url::form_urlencoded::byte_serialize(b64(&prost::Message::encode_to_vec(&odd)).as_bytes())
            .collect();
    data.push_str(&format!("\notpauth-migration://offline?data={encoded}"));
    let seen = preview(
        &app,
        &manager,
        json!({"format": "google-authenticator", "data": b64(data.as_bytes())}),
    )
    .await;
    let actions: Vec<(&str, &str)> = seen["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["proposal"]["action"].as_str().unwrap(),
                e["proposal"]["handle"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        actions,
        [
            ("attach", "@brand"),
            ("create", "brand_jp"),
            ("create", "release-bot"),
            ("skip", "")
        ]
    );
    let first = &seen["entries"][0];
    assert_eq!(first["proposal"]["account"], existing.as_str());
    assert_eq!(first["issuer"], "Instagram");
    assert_eq!(first["kind"], "totp");
    assert_eq!(first["digits"], 6);
    assert_eq!(seen["entries"][3]["proposal"]["reason"], "no_handle");
    assert_eq!(seen["entries"][3]["proposal"]["platform"], "other");
}

#[tokio::test]
async fn bad_imports_get_clear_errors_and_nothing_is_half_imported() {
    let app = spawn_app().await;
    let manager = app.token("manager", "marketing").await;
    let operator = app.token("operator", "marketing").await;
    // Who may store seeds nowhere is refused before the data is read, and it is audited.
    let res = app
        .post(
            "/api/v1/imports/preview",
            &operator,
            json!({"format": "x", "data": "\u{0}"}),
        )
        .await;
    assert_eq!(res.status(), 403);
    let vault = aegis_encrypted("right");
    for (body, status, code) in [
        (
            json!({"format": "lastpass", "data": "x"}),
            422,
            "invalid_format",
        ),
        (
            json!({"format": "aegis", "data": vault}),
            422,
            "password_required",
        ),
        (
            json!({"format": "aegis", "data": vault, "password": "wrong"}),
            422,
            "wrong_password",
        ),
        (
            json!({"format": "aegis", "data": "{\"header\": 1}"}),
            422,
            "invalid_import",
        ),
        (
            json!({"format": "2fas", "data": "{\"services\": [], \"servicesEncrypted\": \"abc\"}"}),
            422,
            "invalid_import",
        ),
        (
            json!({"format": "bitwarden", "data": "{\"encrypted\": true, \"items\": []}"}),
            422,
            "invalid_import",
        ),
        (
            json!({"format": "google-authenticator", "data": "otpauth-migration://offline?data=%%%"}),
            422,
            "invalid_import",
        ),
        (
            json!({"format": "otpauth", "data": "otpauth://totp/x?secret=GEZDG\u{0}NBVGY3TQOJQ"}),
            422,
            "invalid_secret",
        ),
        (
            json!({"format": "otpauth", "data": b64(b"\x89PNG\r\n\x1a\nrest")}),
            422,
            "invalid_image",
        ),
    ] {
        let res = app.post("/api/v1/imports/preview", &manager, body).await;
        let err = expect_error(res, status, code).await;
        for (_, _, seed) in SEEDS {
            assert!(!err.to_string().contains(seed));
        }
    }
    // One decision that cannot be carried out refuses the whole import.
    let data = otpauth_list();
    let before = expect_json(app.get("/api/v1/accounts", &manager).await, 200).await["accounts"]
        .as_array()
        .unwrap()
        .len();
    let body = json!({"format": "otpauth", "data": data, "team": "marketing", "entries": [
        {"index": 0, "action": "create", "platform": "instagram", "handle": "brand"},
        {"index": 1, "action": "attach", "account": uuid::Uuid::now_v7().to_string()},
    ]});
    expect_error(
        app.post("/api/v1/imports", &manager, body).await,
        404,
        "account_not_found",
    )
    .await;
    let body = json!({"format": "otpauth", "data": data, "team": "marketing", "entries": [
        {"index": 0, "action": "create", "platform": "instagram", "handle": "brand"},
        {"index": 1, "action": "create", "platform": "instagram", "handle": "BRAND"},
    ]});
    expect_error(
        app.post("/api/v1/imports", &manager, body).await,
        409,
        "account_exists",
    )
    .await;
    let body = json!({"format": "otpauth", "data": data, "team": "marketing", "entries": [
        {"index": 7, "action": "skip"}]});
    expect_error(
        app.post("/api/v1/imports", &manager, body).await,
        422,
        "invalid_entry",
    )
    .await;
    let after = expect_json(app.get("/api/v1/accounts", &manager).await, 200).await["accounts"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(before, after, "nothing was created");
    let rows = app.audit_rows().await;
    assert!(rows
        .iter()
        .all(|r| r.action != "import.apply" && r.action != "totp.set"));
    assert!(
        rows.iter().any(|r| r.action == "auth.denied"),
        "the operator's attempt is audited"
    );
}

#[tokio::test]
async fn an_import_is_audited_without_a_secret() {
    let app = spawn_app().await;
    let manager = app.token("manager", "marketing").await;
    import_and_check(&app, &manager, "aegis", &aegis_plain(), None).await;
    let rows = app.audit_rows().await;
    let applied: Vec<_> = rows.iter().filter(|r| r.action == "import.apply").collect();
    assert_eq!(applied.len(), 2, "the import and the repeat");
    assert!(
        applied[0].details.contains("\"stored\":3"),
        "{}",
        applied[0].details
    );
    let set = rows
        .iter()
        .filter(|r| r.action == "totp.set" && r.details.contains("\"import\":\"aegis\""))
        .count();
    assert_eq!(set, 3, "one totp.set per stored seed");
    let trail: String = rows
        .iter()
        .map(|r| format!("{} {:?}\n", r.details, r.justification))
        .collect();
    for (_, _, seed) in SEEDS {
        assert!(!trail.contains(seed));
        let lower = seed.to_lowercase();
        assert!(!trail.contains(&lower));
    }
}

#[tokio::test]
async fn the_cli_previews_then_imports_with_yes() {
    let app = spawn_app().await;
    let manager = app.token("manager", "marketing").await;
    let vault = app.dir.path().join("aegis.json");
    std::fs::write(&vault, aegis_encrypted("s3cret pass")).unwrap();
    let password = app.dir.path().join("pw.txt");
    std::fs::write(&password, "s3cret pass\n").unwrap();
    let run = |yes: bool| {
        let mut cmd = app.cli();
        cmd.args([
            "import",
            "--format",
            "aegis",
            "--team",
            "marketing",
            "--file",
        ])
        .arg(&vault)
        .arg("--password-file")
        .arg(&password);
        if yes {
            cmd.arg("--yes");
        }
        cmd.output().unwrap()
    };
    let shown = run(false);
    assert!(
        shown.status.success(),
        "{}",
        String::from_utf8_lossy(&shown.stderr)
    );
    let out = String::from_utf8_lossy(&shown.stdout).to_string();
    assert!(out.contains("create instagram brand in marketing"), "{out}");
    assert!(out.contains("nothing imported"), "{out}");
    let none = expect_json(app.get("/api/v1/accounts", &manager).await, 200).await;
    assert!(
        none["accounts"].as_array().unwrap().is_empty(),
        "the preview stores nothing"
    );
    let done = run(true);
    assert!(
        done.status.success(),
        "{}",
        String::from_utf8_lossy(&done.stderr)
    );
    let out = String::from_utf8_lossy(&done.stdout).to_string();
    assert!(
        out.contains("stored 3, created 3 accounts, skipped 0"),
        "{out}"
    );
    for (_, _, seed) in SEEDS {
        assert!(!out.contains(seed) && !String::from_utf8_lossy(&done.stderr).contains(seed));
    }
    let accounts = expect_json(app.get("/api/v1/accounts", &manager).await, 200).await;
    let github = accounts["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["platform"] == "github")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let before = unix_now();
    let code = expect_json(app.totp_code(&manager, &github, json!({})).await, 200).await;
    assert!(totp_window(&base32(SEEDS[2].2), before, 30, 6)
        .contains(&code["code"].as_str().unwrap().to_owned()));
    let rows = app.audit_rows().await;
    assert!(rows
        .iter()
        .any(|r| r.action == "import.apply" && r.actor == "cli"));
    let wrong = app.dir.path().join("wrong.txt");
    std::fs::write(&wrong, "nope").unwrap();
    let refused = app
        .cli()
        .args([
            "import",
            "--format",
            "aegis",
            "--team",
            "marketing",
            "--file",
        ])
        .arg(&vault)
        .arg("--password-file")
        .arg(&wrong)
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("password does not open"));
}

/// `text` as a QR code in a screenshot-like image (white margin), encoded as `format`.
fn qr_screenshot(text: &str, format: image::ImageFormat) -> Vec<u8> {
    let code = qrcode::QrCode::new(text.as_bytes()).unwrap();
    let picture = code
        .render::<image::Luma<u8>>()
        .min_dimensions(360, 360)
        .quiet_zone(true)
        .build();
    let mut out = std::io::Cursor::new(Vec::new());
    image::DynamicImage::ImageLuma8(picture)
        .to_rgb8()
        .write_to(&mut out, format)
        .unwrap();
    out.into_inner()
}

#[tokio::test]
async fn a_seed_is_stored_from_a_qr_screenshot_in_png_jpeg_or_webp() {
    let app = spawn_app().await;
    let manager = app.token("manager", "marketing").await;
    for (format, (issuer, name, seed)) in [
        image::ImageFormat::Png,
        image::ImageFormat::Jpeg,
        image::ImageFormat::WebP,
    ]
    .into_iter()
    .zip(SEEDS)
    {
        let id = app
            .account(&manager, "marketing", &format!("@{name}"))
            .await;
        let uri = format!("otpauth://totp/{issuer}:{name}?secret={seed}&issuer={issuer}");
        let shot = b64(&qr_screenshot(&uri, format));
        let res = app
            .put(
                &format!("/api/v1/accounts/{id}/totp"),
                &manager,
                json!({"qr_image": shot}),
            )
            .await;
        assert_eq!(expect_json(res, 201).await["version"], 1, "{format:?}");
        let before = unix_now();
        let code = expect_json(app.totp_code(&manager, &id, json!({})).await, 200).await;
        assert!(
            totp_window(&base32(seed), before, 30, 6)
                .contains(&code["code"].as_str().unwrap().to_owned()),
            "{format:?}: the code of the screenshot's seed"
        );
    }
    let id = app.account(&manager, "marketing", "@qr-errors").await;
    let blank = {
        let mut out = std::io::Cursor::new(Vec::new());
        image::DynamicImage::ImageLuma8(image::GrayImage::from_pixel(200, 200, image::Luma([255])))
            .write_to(&mut out, image::ImageFormat::Png)
            .unwrap();
        out.into_inner()
    };
    let website = qr_screenshot("https://example.com/not-a-seed", image::ImageFormat::Png);
    let hotp = qr_screenshot(
        &format!("otpauth://hotp/X:y?secret={}&counter=1", SEEDS[0].2),
        image::ImageFormat::Png,
    );
    for (body, status, code) in [
        (json!({"qr_image": b64(b"plain text")}), 422, "not_an_image"),
        (json!({"qr_image": "%%%"}), 422, "invalid_image"),
        (
            json!({"qr_image": b64(b"\x89PNG\r\n\x1a\n broken")}),
            422,
            "invalid_image",
        ),
        (json!({"qr_image": b64(&blank)}), 422, "no_qr_code"),
        (json!({"qr_image": b64(&website)}), 422, "not_otpauth"),
        (json!({"qr_image": b64(&hotp)}), 422, "wrong_otp_kind"),
        (
            json!({"qr_image": b64(&website), "secret": SEEDS[0].2}),
            422,
            "one_source",
        ),
    ] {
        let res = app
            .put(&format!("/api/v1/accounts/{id}/totp"), &manager, body)
            .await;
        expect_error(res, status, code).await;
    }
    let huge = "A".repeat(app.settings.http.upload_limit + 10);
    let res = app
        .put(
            &format!("/api/v1/accounts/{id}/totp"),
            &manager,
            json!({"qr_image": huge}),
        )
        .await;
    expect_error(res, 413, "payload_too_large").await;
    // An operator is refused before the image is looked at.
    let operator = app.token("operator", "marketing").await;
    let res = app
        .put(
            &format!("/api/v1/accounts/{id}/totp"),
            &operator,
            json!({"qr_image": "x"}),
        )
        .await;
    assert_eq!(res.status(), 403);
}

#[tokio::test]
async fn google_authenticator_export_screenshots_import_every_batch() {
    let app = spawn_app().await;
    let manager = app.token("manager", "marketing").await;
    let shots: Vec<String> = google_export()
        .lines()
        .map(|uri| b64(&qr_screenshot(uri, image::ImageFormat::Png)))
        .collect();
    assert_eq!(shots.len(), 2, "a multi-batch export");
    import_and_check(
        &app,
        &manager,
        "google-authenticator",
        &shots.join("\n"),
        None,
    )
    .await;
    // A screenshot where a vault file is expected is refused clearly.
    let res = app
        .post(
            "/api/v1/imports/preview",
            &manager,
            json!({"format": "aegis", "data": shots[0]}),
        )
        .await;
    expect_error(res, 422, "unsupported_image").await;
}

#[tokio::test]
async fn the_dashboard_import_is_confirmed_once_and_refused_to_who_may_not_store_seeds() {
    use crate::support::idp::{spawn_sso_app, Browser};
    let app = spawn_sso_app("").await;
    let operator = Browser::new();
    assert!(operator
        .sign_in(&app.base, "alice")
        .await
        .status()
        .is_redirection());
    let page = operator.page(&format!("{}/imports", app.base)).await;
    assert!(
        page.contains("data-testid=\"import-not-allowed\""),
        "an operator is told why"
    );
    let res = operator
        .submit(
            &app.base,
            "/imports/preview",
            &page,
            &[("format", "otpauth"), ("data", "x"), ("team", "marketing")],
        )
        .await;
    assert_eq!(res.status(), 403);
    let refusal = res.text().await.unwrap();
    assert!(
        refusal.contains("Not allowed") && refusal.contains("Ask a manager of the account"),
        "a refusal says so, and whom to ask"
    );
    let manager = Browser::new();
    assert!(manager
        .sign_in(&app.base, "mia")
        .await
        .status()
        .is_redirection());
    let page = manager.page(&format!("{}/imports", app.base)).await;
    let preview = manager
        .submit(
            &app.base,
            "/imports/preview",
            &page,
            &[
                ("format", "otpauth"),
                ("data", &otpauth_list()),
                ("team", "marketing"),
            ],
        )
        .await;
    assert_eq!(preview.status(), 200);
    let html = preview.text().await.unwrap();
    for (_, _, seed) in SEEDS {
        assert!(!html.contains(seed), "the preview shows no seed");
    }
    let token = html
        .split("name=\"token\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("the preview's token")
        .to_owned();
    let fields = [
        ("token", token.as_str()),
        ("action_0", "create"),
        ("platform_0", "instagram"),
        ("handle_0", "brand"),
        ("action_1", "skip"),
        ("action_2", "skip"),
    ];
    let done = manager
        .submit(&app.base, "/imports/apply", &html, &fields)
        .await;
    assert_eq!(done.status(), 303);
    assert!(done
        .headers()
        .get("location")
        .unwrap()
        .to_str()
        .unwrap()
        .starts_with("/imports?done="));
    let again = manager
        .submit(&app.base, "/imports/apply", &html, &fields)
        .await;
    assert_eq!(again.status(), 422, "a preview is imported once");
    let rows = app.audit_rows().await;
    let applied: Vec<_> = rows.iter().filter(|r| r.action == "import.apply").collect();
    assert_eq!(applied.len(), 1);
    assert!(
        applied[0].details.contains("\"stored\":1"),
        "{}",
        applied[0].details
    );
    assert!(rows
        .iter()
        .any(|r| r.action == "auth.denied" && r.details.contains("totp.set")));
}

fn token_of(html: &str) -> String {
    html.split("name=\"token\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("the preview's token")
        .to_owned()
}

#[tokio::test]
async fn the_dashboard_imports_entries_one_at_a_time_and_keeps_the_rest_waiting() {
    use crate::support::idp::{spawn_sso_app, Browser};
    let app = spawn_sso_app("").await;
    let manager = Browser::new();
    manager.sign_in(&app.base, "mia").await;
    let page = manager.page(&format!("{}/imports", app.base)).await;
    let preview = manager
        .submit(
            &app.base,
            "/imports/preview",
            &page,
            &[
                ("format", "otpauth"),
                ("data", &otpauth_list()),
                ("team", "marketing"),
            ],
        )
        .await;
    let html = preview.text().await.unwrap();
    assert!(html.contains("data-testid=\"import-one-1\""), "{html}");
    let token = token_of(&html);
    // Entry 1 alone (X brand_jp); the others' fields are sent too, as a form sends them.
    let fields = [
        ("token", token.as_str()),
        ("action_0", "create"),
        ("platform_0", "instagram"),
        ("handle_0", "brand"),
        ("action_1", "create"),
        ("platform_1", "x"),
        ("handle_1", "brand_jp"),
        ("action_2", "create"),
        ("platform_2", "github"),
        ("handle_2", "release-bot"),
        ("only", "1"),
    ];
    let one = manager
        .submit(&app.base, "/imports/apply", &html, &fields)
        .await;
    assert_eq!(one.status(), 303);
    let location = one.headers()["location"].to_str().unwrap().to_owned();
    assert!(
        location.starts_with("/imports?done=") && location.contains("&pending="),
        "{location}"
    );
    let applied: Vec<_> = app
        .audit_rows()
        .await
        .into_iter()
        .filter(|r| r.action == "import.apply")
        .collect();
    assert_eq!(applied.len(), 1);
    assert!(
        applied[0].details.contains("\"stored\":1"),
        "{}",
        applied[0].details
    );

    // The rest waits: the entry just stored shows as already stored, the others still offer
    // their own button; a reload shows the same preview.
    let rest = manager.page(&format!("{}{location}", app.base)).await;
    assert!(rest.contains("data-testid=\"import-summary\""), "{rest}");
    assert!(!rest.contains("data-testid=\"import-one-1\""), "{rest}");
    assert!(rest.contains("data-testid=\"import-one-2\""), "{rest}");
    let reload = manager.page(&format!("{}{location}", app.base)).await;
    assert!(
        !reload.contains("data-testid=\"import-summary\"")
            && reload.contains("data-testid=\"import-one-2\""),
        "{reload}"
    );
    for (_, _, seed) in SEEDS {
        assert!(!rest.contains(seed), "no seed on the way");
    }

    // Then the remaining entries at once: entry 1 is skipped as already stored.
    let token = token_of(&rest);
    let fields = [
        ("token", token.as_str()),
        ("action_0", "create"),
        ("platform_0", "instagram"),
        ("handle_0", "brand"),
        ("action_1", "skip"),
        ("action_2", "create"),
        ("platform_2", "github"),
        ("handle_2", "release-bot"),
    ];
    let all = manager
        .submit(&app.base, "/imports/apply", &rest, &fields)
        .await;
    assert_eq!(all.status(), 303);
    let location = all.headers()["location"].to_str().unwrap().to_owned();
    assert!(!location.contains("pending="), "{location}");
    let stored: Vec<_> = app
        .audit_rows()
        .await
        .into_iter()
        .filter(|r| r.action == "totp.set")
        .collect();
    assert_eq!(stored.len(), 3, "each seed stored once");

    // A number that is no entry of the preview is refused, and nothing is stored.
    let again = manager.page(&format!("{}/imports", app.base)).await;
    let preview = manager
        .submit(
            &app.base,
            "/imports/preview",
            &again,
            &[
                ("format", "otpauth"),
                ("data", &otpauth_list()),
                ("team", "marketing"),
            ],
        )
        .await
        .text()
        .await
        .unwrap();
    let token = token_of(&preview);
    for only in ["one", "9"] {
        let bad = manager
            .submit(
                &app.base,
                "/imports/apply",
                &preview,
                &[
                    ("token", token.as_str()),
                    ("action_0", "create"),
                    ("only", only),
                ],
            )
            .await;
        assert_eq!(bad.status(), 422, "{only}");
    }
    assert_eq!(
        app.audit_rows()
            .await
            .iter()
            .filter(|r| r.action == "totp.set")
            .count(),
        3
    );
}
