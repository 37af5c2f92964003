//! Plants known secrets through the real binary, then scans its logs and the database for
//! them in every encoding. Also checks graceful shutdown on SIGTERM.

use crate::support::otp::base32;
use crate::support::{backend, cli_for, test_settings};
use reqwest::Client;
use sea_orm::{ConnectionTrait, Database, Statement};
use serde_json::{json, Value};
use std::process::Stdio;
use std::time::Duration;

const TOTP_SEED: &str = "KRUGKIDROVUWG2ZAMJZG653OEBTG66BANJ2W24DT";
const HOTP_SEED: &str = "ONSWG4TFOQQGQ33UOAQHGZLFMQQGM33SEBRG65BA";
/// A seed that arrives in a QR screenshot.
const QR_SEED: &str = "OBQXG43XN5ZGIZDBORQWEYLTMVZWK3TEMFZWS3DM";
/// A seed that arrives in an import (an Aegis vault), not typed.
const IMPORT_SEED: &str = "MJRGEYTCMJRGEYTCMJRGEYTCMJRGEYTCMJRGEYTC";
const BACKUP_CODES: [&str; 3] = ["qzv7-kw3m-p9tx", "HJ4R-N8YB-C2LE", "wt6d-fa5u-g3xk"];
const PASSWORD: &str = "Tr0ub4dor&3-leaky-horse";
const WEBHOOK_KEY: &str = "whk-planted-4f1c9e2a7b3d8e60";
const WEBHOOK_URL_TOKEN: &str = "urltok-planted-93b7";
const WEBHOOK_URL_USER: &str = "urluser-planted-51d2";

fn token_from(out: std::process::Output) -> String {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .last()
        .unwrap()
        .trim()
        .to_owned()
}

async fn call(
    client: &Client,
    base: &str,
    method: reqwest::Method,
    path: &str,
    token: &str,
    body: Value,
) -> (u16, Value) {
    let res = client
        .request(method, format!("{base}{path}"))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

/// Every row of every table as text (PostgreSQL: JSON with bytea as hex; SQLite: JSON
/// objects with blobs as hex), so values are searchable whatever the backend.
async fn database_dump(url: &str) -> Vec<u8> {
    let db = Database::connect(url).await.unwrap();
    let mut dump = Vec::new();
    for table in [
        "team",
        "member",
        "role_grant",
        "service_token",
        "account",
        "secret",
        "backup_code_generation",
        "backup_code",
        "rotation_task",
        "rate_counter",
        "session",
        "login_flow",
        "audit_event",
        "audit_checkpoint",
        "audit_forward_cursor",
        "audit_anchor",
    ] {
        let sql = match backend() {
            "postgres" => format!("SELECT row_to_json(t)::text AS row FROM \"{table}\" t"),
            _ => {
                let columns = db
                    .query_all(Statement::from_string(db.get_database_backend(), format!("SELECT name FROM pragma_table_info('{table}')")))
                    .await
                    .unwrap()
                    .into_iter()
                    .map(|r| r.try_get::<String>("", "name").unwrap())
                    .map(|c| format!("'{c}', CASE WHEN typeof(\"{c}\") = 'blob' THEN hex(\"{c}\") ELSE \"{c}\" END"))
                    .collect::<Vec<_>>()
                    .join(", ");
                format!("SELECT json_object({columns}) AS row FROM \"{table}\"")
            }
        };
        let rows = db
            .query_all(Statement::from_string(db.get_database_backend(), sql))
            .await
            .unwrap();
        for row in rows {
            dump.extend_from_slice(row.try_get::<String>("", "row").unwrap().as_bytes());
            dump.push(b'\n');
        }
    }
    dump
}

fn find(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

#[tokio::test]
async fn no_seed_code_token_or_key_reaches_the_logs_or_the_database() {
    let dir = tempfile::tempdir().unwrap();
    let settings = test_settings(dir.path()).await;
    let migrate = cli_for(&settings).arg("migrate").output().unwrap();
    assert!(migrate.status.success());
    let manager = token_from(
        cli_for(&settings)
            .args([
                "token",
                "create",
                "--name",
                "m",
                "--role",
                "manager",
                "--team",
                "marketing",
            ])
            .output()
            .unwrap(),
    );
    let admin = token_from(
        cli_for(&settings)
            .args([
                "token",
                "create",
                "--name",
                "a",
                "--role",
                "security_admin",
                "--team",
                "*",
            ])
            .output()
            .unwrap(),
    );

    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let log_path = dir.path().join("server.log");
    let log = std::fs::File::create(&log_path).unwrap();
    // A SIEM webhook that is down, with a credential in its URL and an HMAC key: the failing
    // forwarder logs and stores its errors, and neither may show them.
    let config = dir.path().join("keyward.toml");
    let siem_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    std::fs::write(
        &config,
        format!(
            "[[audit.forward]]\nname = \"siem\"\nurl = \"https://{WEBHOOK_URL_USER}@127.0.0.1:{siem_port}/hook?token={WEBHOOK_URL_TOKEN}\"\nsecret_env = \"KW_LEAK_WEBHOOK_KEY\"\ntimeout_seconds = 1\nmax_backoff_seconds = 1\n"
        ),
    )
    .unwrap();
    let mut server = cli_for(&settings)
        .arg("--config")
        .arg(&config)
        .env("KW_LEAK_WEBHOOK_KEY", WEBHOOK_KEY)
        .arg("serve")
        .env("KEYWARD_LISTEN", format!("127.0.0.1:{port}"))
        .env("KEYWARD_LOG__LEVEL", "debug")
        .env("KEYWARD_HTTP__SHUTDOWN_TIMEOUT", "2")
        .stdout(Stdio::from(log.try_clone().unwrap()))
        .stderr(Stdio::from(log))
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let client = Client::new();
    let mut up = false;
    for _ in 0..100 {
        if client.get(format!("{base}/healthz")).send().await.is_ok() {
            up = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        up,
        "server starts: {}",
        std::fs::read_to_string(&log_path).unwrap_or_default()
    );

    use reqwest::Method;
    let (s, account) = call(
        &client,
        &base,
        Method::POST,
        "/api/v1/accounts",
        &manager,
        json!({"team": "marketing", "platform": "x", "handle": "@leaky"}),
    )
    .await;
    assert_eq!(s, 201);
    let id = account["id"].as_str().unwrap();
    let totp_uri = format!("otpauth://totp/Leaky?secret={TOTP_SEED}&digits=8");
    let hotp_uri = format!("otpauth://hotp/Leaky?secret={HOTP_SEED}&counter=7");
    assert_eq!(
        call(
            &client,
            &base,
            Method::PUT,
            &format!("/api/v1/accounts/{id}/totp"),
            &manager,
            json!({"otpauth_uri": totp_uri})
        )
        .await
        .0,
        201
    );
    assert_eq!(
        call(
            &client,
            &base,
            Method::PUT,
            &format!("/api/v1/accounts/{id}/hotp"),
            &manager,
            json!({"otpauth_uri": hotp_uri})
        )
        .await
        .0,
        201
    );

    // A seed stored from a screenshot of its QR code.
    let (s, qr_account) = call(
        &client,
        &base,
        Method::POST,
        "/api/v1/accounts",
        &manager,
        json!({"team": "marketing", "platform": "instagram", "handle": "@qr-leaky"}),
    )
    .await;
    assert_eq!(s, 201);
    let picture = qrcode::QrCode::new(format!(
        "otpauth://totp/Instagram:qr?secret={QR_SEED}&issuer=Instagram"
    ))
    .unwrap()
    .render::<image::Luma<u8>>()
    .min_dimensions(300, 300)
    .build();
    let mut png = std::io::Cursor::new(Vec::new());
    image::DynamicImage::ImageLuma8(picture)
        .write_to(&mut png, image::ImageFormat::Png)
        .unwrap();
    let shot = data_encoding::BASE64.encode(png.get_ref());
    let (s, stored) = call(
        &client,
        &base,
        Method::PUT,
        &format!(
            "/api/v1/accounts/{}/totp",
            qr_account["id"].as_str().unwrap()
        ),
        &manager,
        json!({"qr_image": shot}),
    )
    .await;
    assert_eq!(s, 201, "{stored}");

    // An import: the preview, the import, and a broken one that must not echo the seed.
    let vault =
        json!({"version": 1, "header": {"slots": null, "params": null}, "db": {"version": 2,
        "entries": [{"type": "totp", "name": "imported", "issuer": "Instagram",
                     "info": {"secret": IMPORT_SEED, "algo": "SHA1", "digits": 6, "period": 30}}]}})
        .to_string();
    let (s, preview) = call(
        &client,
        &base,
        Method::POST,
        "/api/v1/imports/preview",
        &manager,
        json!({"format": "aegis", "data": vault}),
    )
    .await;
    assert_eq!(s, 200, "{preview}");
    let (s, imported) = call(
        &client,
        &base,
        Method::POST,
        "/api/v1/imports",
        &manager,
        json!({"format": "aegis", "data": vault, "team": "marketing", "entries": [
            {"index": 0, "action": "create", "platform": "instagram", "handle": "imported"}]}),
    )
    .await;
    assert_eq!(s, 200, "{imported}");
    let broken = vault
        .replace("\"digits\": 6", "\"digits\": 7")
        .replace("\"digits\":6", "\"digits\":7");
    let (s, _) = call(
        &client,
        &base,
        Method::POST,
        "/api/v1/imports/preview",
        &manager,
        json!({"format": "aegis", "data": broken}),
    )
    .await;
    assert_eq!(s, 422);

    let mut revealed = Vec::new();
    for _ in 0..3 {
        let (s, totp) = call(
            &client,
            &base,
            Method::POST,
            &format!("/api/v1/accounts/{id}/totp/code"),
            &manager,
            json!({}),
        )
        .await;
        assert_eq!(s, 200);
        revealed.push(totp["code"].as_str().unwrap().to_owned());
        let (s, hotp) = call(
            &client,
            &base,
            Method::POST,
            &format!("/api/v1/accounts/{id}/hotp/code"),
            &manager,
            json!({}),
        )
        .await;
        assert_eq!(s, 200);
        revealed.push(hotp["code"].as_str().unwrap().to_owned());
    }
    let mut exported = Vec::new();
    for kind in ["totp", "hotp"] {
        let (s, body) = call(
            &client,
            &base,
            Method::POST,
            &format!("/api/v1/accounts/{id}/{kind}/export"),
            &admin,
            json!({"justification": "leak test"}),
        )
        .await;
        assert_eq!(s, 200);
        exported.push(body["otpauth_uri"].as_str().unwrap().to_owned());
    }
    // Backup codes: imported, checked out, typed for verification; a password set and shown.
    let backup = format!("/api/v1/accounts/{id}/backup-codes");
    let password = format!("/api/v1/accounts/{id}/password");
    let why = json!({"justification": "leak test"});
    // (method, path, body, expected status, expected value under "code"/"password")
    let steps = [
        (
            Method::POST,
            backup.clone(),
            json!({"codes": BACKUP_CODES, "issued_on": "2025-12-16"}),
            201,
            None,
        ),
        (
            Method::POST,
            format!("{backup}/checkout"),
            why.clone(),
            200,
            Some(BACKUP_CODES[0]),
        ),
        (
            Method::POST,
            format!("{backup}/verify"),
            json!({"code": BACKUP_CODES[1]}),
            200,
            None,
        ),
        (
            Method::POST,
            backup.clone(),
            json!({"codes": [BACKUP_CODES[2], BACKUP_CODES[2]], "issued_on": "2025-12-16"}),
            422,
            None,
        ),
        (
            Method::POST,
            backup.clone(),
            json!({"codes": BACKUP_CODES[2], "issued_on": "2025-12-16"}),
            400,
            None,
        ),
        (
            Method::PUT,
            password.clone(),
            json!({"password": PASSWORD}),
            201,
            None,
        ),
        (
            Method::POST,
            format!("{password}/reveal"),
            why.clone(),
            200,
            Some(PASSWORD),
        ),
        (
            Method::PUT,
            password.clone(),
            json!({"password": 42, "note": PASSWORD}),
            400,
            None,
        ),
    ];
    for (method, path, body, status, value) in steps {
        let (got, out) = call(&client, &base, method, &path, &manager, body).await;
        assert_eq!(got, status, "{path}: {out}");
        if let Some(value) = value {
            let shown = out.get("code").or_else(|| out.get("password"));
            assert_eq!(shown.and_then(Value::as_str), Some(value));
        }
    }

    // A member provisioned by SCIM saw the password through a token bound to them, then is
    // offboarded: the exposure, the report and the CSV name ids and sequence numbers only.
    let scim = token_from(
        cli_for(&settings)
            .args([
                "token", "create", "--name", "idp", "--role", "scim", "--team", "*",
            ])
            .output()
            .unwrap(),
    );
    let (s, user) = call(
        &client,
        &base,
        Method::POST,
        "/scim/v2/Users",
        &scim,
        json!({"userName": "leaver@example.com"}),
    )
    .await;
    assert_eq!(s, 201, "{user}");
    let member = user["id"].as_str().unwrap().to_owned();
    let as_leaver = token_from(
        cli_for(&settings)
            .args([
                "token",
                "create",
                "--name",
                "l",
                "--role",
                "manager",
                "--team",
                "marketing",
                "--member",
                "leaver@example.com",
            ])
            .output()
            .unwrap(),
    );
    let (s, shown) = call(
        &client,
        &base,
        Method::POST,
        &format!("{password}/reveal"),
        &as_leaver,
        why.clone(),
    )
    .await;
    assert_eq!((s, shown["password"].as_str()), (200, Some(PASSWORD)));
    let (s, done) = call(
        &client,
        &base,
        Method::POST,
        &format!("/api/v1/members/{member}/offboard"),
        &admin,
        json!({"reason": "left the agency"}),
    )
    .await;
    assert_eq!(s, 200, "{done}");
    assert_eq!(done["exposure"][0]["kind"], "password");
    let report = client
        .get(format!(
            "{base}/api/v1/members/{member}/offboarding-report?format=csv"
        ))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for text in [done.to_string(), report] {
        assert!(!text.contains(PASSWORD), "{text}");
    }

    // A break-glass ceremony: custodians are members; one enrolled an age key (their share
    // comes encrypted to it), the other picks theirs up plainly; both confirm.
    let keeper = age::x25519::Identity::generate();
    let mut keepers = Vec::new();
    for email in ["keeper1@example.com", "keeper2@example.com"] {
        let (s, _) = call(
            &client,
            &base,
            Method::POST,
            "/scim/v2/Users",
            &scim,
            json!({"userName": email}),
        )
        .await;
        assert_eq!(s, 201);
        keepers.push(token_from(
            cli_for(&settings)
                .args(["token", "create", "--name", "k", "--role", "custodian"])
                .args(["--team", "*", "--member", email])
                .output()
                .unwrap(),
        ));
    }
    let (s, enrolled) = call(
        &client,
        &base,
        Method::PUT,
        "/api/v1/me/age-recipient",
        &keepers[0],
        json!({"age_recipient": keeper.to_public().to_string()}),
    )
    .await;
    assert_eq!(s, 200, "{enrolled}");
    let (s, escrow) = call(
        &client,
        &base,
        Method::POST,
        "/api/v1/escrows",
        &admin,
        json!({"name": "leak", "teams": ["marketing"], "threshold": 2,
            "custodians": ["keeper1@example.com", "keeper2@example.com"]}),
    )
    .await;
    assert_eq!(s, 201, "{escrow}");
    let escrow_id = escrow["id"].as_str().unwrap().to_owned();
    let mut shares = Vec::new();
    for (i, as_keeper) in keepers.iter().enumerate() {
        let (s, fetched) = call(
            &client,
            &base,
            Method::POST,
            &format!("/api/v1/escrows/{escrow_id}/share"),
            as_keeper,
            json!({}),
        )
        .await;
        assert_eq!(s, 200, "{fetched}");
        let share = if i == 0 {
            crate::support::open_age(&keeper, fetched["age_armored"].as_str().unwrap())
        } else {
            fetched["share"].as_str().unwrap().to_owned()
        };
        let (s, confirmed) = call(
            &client,
            &base,
            Method::POST,
            &format!("/api/v1/escrows/{escrow_id}/confirm"),
            as_keeper,
            json!({"share": share}),
        )
        .await;
        assert_eq!(s, 200, "{confirmed}");
        shares.push(share);
    }

    // Secrets in the wrong places of bad requests.
    let bad_uri = format!("otpauth://totp/x?secret={TOTP_SEED}&digits=7");
    assert_eq!(
        call(
            &client,
            &base,
            Method::PUT,
            &format!("/api/v1/accounts/{id}/totp"),
            &manager,
            json!({"otpauth_uri": bad_uri})
        )
        .await
        .0,
        422
    );
    assert_eq!(
        call(
            &client,
            &base,
            Method::PUT,
            &format!("/api/v1/accounts/{id}/totp"),
            &manager,
            json!({"digits": TOTP_SEED})
        )
        .await
        .0,
        400
    );
    assert_eq!(
        call(
            &client,
            &base,
            Method::GET,
            &format!("/api/v1/accounts?platform={TOTP_SEED}"),
            &manager,
            json!({})
        )
        .await
        .0,
        422
    );
    assert_eq!(
        call(
            &client,
            &base,
            Method::GET,
            "/api/v1/me",
            HOTP_SEED,
            json!({})
        )
        .await
        .0,
        401
    );

    // Graceful stop on SIGTERM.
    let pid = server.id() as i32;
    // SAFETY: sending a signal to our own child process.
    unsafe { libc::kill(pid, libc::SIGTERM) };
    let status = tokio::task::spawn_blocking(move || server.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(
        status.success(),
        "serve exits cleanly on SIGTERM: {status:?}"
    );

    let logs = std::fs::read(&log_path).unwrap();
    let log_text = String::from_utf8_lossy(&logs);
    assert!(
        log_text.lines().count() >= 10
            && log_text.contains("\"request_id\"")
            && log_text.contains(id)
            && log_text.contains("audit forwarding failed"),
        "logs were captured, the failing forwarder's too:\n{log_text}"
    );

    let rows = database_dump(&settings.database.url).await;
    let rows_text = String::from_utf8_lossy(&rows);
    assert!(
        rows_text.contains("@leaky") && rows_text.contains("totp.reveal"),
        "the dump holds real rows:\n{rows_text}"
    );
    let mut stores = vec![("database rows", rows)];
    if backend() == "sqlite" {
        for suffix in ["", "-wal", "-shm"] {
            let path = format!("{}{suffix}", dir.path().join("keyward.db").display());
            if let Ok(bytes) = std::fs::read(&path) {
                stores.push(("sqlite file", bytes));
            }
        }
    }
    stores.push(("logs", logs));

    let key_file: Value = serde_json::from_str(
        &std::fs::read_to_string(settings.keys.key_file.as_ref().unwrap()).unwrap(),
    )
    .unwrap();
    let mut planted: Vec<(String, Vec<u8>)> = Vec::new();
    for seed in [TOTP_SEED, HOTP_SEED, IMPORT_SEED, QR_SEED] {
        planted.push((format!("seed {seed}"), seed.as_bytes().to_vec()));
        planted.push(("seed lowercase".into(), seed.to_lowercase().into_bytes()));
        planted.push(("seed raw bytes".into(), base32(seed)));
        planted.push((
            "seed hex".into(),
            data_encoding::HEXLOWER.encode(&base32(seed)).into_bytes(),
        ));
        planted.push((
            "seed HEX".into(),
            data_encoding::HEXUPPER.encode(&base32(seed)).into_bytes(),
        ));
    }
    for code in &revealed {
        planted.push((format!("code {code}"), format!("\"{code}\"").into_bytes()));
    }
    for share in &shares {
        let parsed = keyward::domain::share::ShareText::parse(share).unwrap();
        planted.push(("break-glass share".into(), share.as_bytes().to_vec()));
        planted.push(("share bytes".into(), parsed.bytes.to_vec()));
        planted.push((
            "share bytes hex".into(),
            hex::encode(parsed.bytes.as_slice()).into_bytes(),
        ));
    }
    for uri in &exported {
        planted.push(("exported uri".into(), uri.as_bytes().to_vec()));
    }
    for code in BACKUP_CODES {
        let canonical: String = code.chars().filter(|c| *c != '-').collect();
        planted.push((format!("backup code {code}"), code.as_bytes().to_vec()));
        planted.push((
            "backup code, upper case".into(),
            code.to_uppercase().into_bytes(),
        ));
        planted.push((
            "backup code, canonical".into(),
            canonical.to_uppercase().into_bytes(),
        ));
        planted.push((
            "backup code, lower case".into(),
            canonical.to_lowercase().into_bytes(),
        ));
    }
    planted.push(("password".into(), PASSWORD.as_bytes().to_vec()));
    planted.push(("webhook HMAC key".into(), WEBHOOK_KEY.as_bytes().to_vec()));
    planted.push((
        "webhook URL token".into(),
        WEBHOOK_URL_TOKEN.as_bytes().to_vec(),
    ));
    planted.push((
        "webhook URL user".into(),
        WEBHOOK_URL_USER.as_bytes().to_vec(),
    ));
    planted.push((
        "password hex".into(),
        data_encoding::HEXLOWER
            .encode(PASSWORD.as_bytes())
            .into_bytes(),
    ));
    planted.push((
        "password HEX".into(),
        data_encoding::HEXUPPER
            .encode(PASSWORD.as_bytes())
            .into_bytes(),
    ));
    for token in [&manager, &admin] {
        planted.push(("service token".into(), token.as_bytes().to_vec()));
    }
    planted.push((
        "root key".into(),
        key_file["root"].as_str().unwrap().as_bytes().to_vec(),
    ));
    planted.push((
        "kek".into(),
        key_file["keys"][0]["material"]
            .as_str()
            .unwrap()
            .as_bytes()
            .to_vec(),
    ));

    let mut leaks = Vec::new();
    for (place, bytes) in &stores {
        for (what, needle) in &planted {
            if find(bytes, needle) {
                leaks.push(format!("{what} found in {place}"));
            }
        }
    }
    assert!(leaks.is_empty(), "secrets leaked:\n{}", leaks.join("\n"));
}
