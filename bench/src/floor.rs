//! The floor: a TOTP reveal's own work, in-process, with no HTTP and no database. It is what
//! a reveal cannot avoid, so "server CPU per reveal ÷ floor" says how much of the reveal is
//! moving work around rather than doing it (issue 29). Per reveal, on one thread:
//!
//! - the token: hashing the presented bearer token as it is stored (a keyed HMAC-SHA256
//!   under a root-derived key);
//! - the rows believed: the row MACs of the token, the account and its team (HKDF-derived
//!   HMAC-SHA256, as `store::integrity` checks them), over facts of the same size;
//! - the seed: unwrapping its DEK under the KEK and opening it (two AES-256-GCM);
//! - the codes: two HMAC-SHA1 (RFC 6238: this period's and the next one's, as the reveal does);
//! - the audit: the `totp.reveal` event as a row, its details as JSON and its chain hash
//!   (the canonical JSON and SHA-256 the append computes);
//! - the answer: the response body as JSON.
//!
//! The sealed seed is read once from the server's database and the key file is the server's,
//! so the work is the same as the server's; the loop itself touches neither.

use anyhow::{Context, Result};
use keyward::audit::{canonical_hash, Event};
use keyward::crypto::{secret_aad, KeySource, Keyring, RowFacts};
use keyward::domain::{Base32Secret, OtpParams};
use keyward::store::audit::AuditRow;
use keyward::store::{secrets, Store};
use std::hint::black_box;
use std::time::{Duration, Instant};

/// The floor's time per reveal, in all and by part.
pub struct Floor {
    pub total: Duration,
    pub parts: Vec<(&'static str, Duration)>,
}

/// A successful event as the audit append makes its row, at now: sequence number, chain
/// hashes and request facts left for the caller.
pub(crate) fn audit_row(event: Event) -> AuditRow {
    AuditRow {
        seq: 0,
        at: chrono::Utc::now(),
        actor: event.actor,
        action: event.action.to_owned(),
        target: event.target,
        team: event.team,
        outcome: "success".to_owned(),
        justification: event.justification,
        ip: None,
        user_agent: None,
        request_id: None,
        details: event.details.to_string(),
        prev_hash: String::new(),
        hash: String::new(),
    }
}

/// A row's facts of about the size of an account row's.
fn facts(table: &str, id: &str) -> RowFacts {
    RowFacts::new(table, id)
        .text("marketing")
        .text("x")
        .text("@brand-account")
        .text("active")
        .opt_text(Some("Brand account for the spring campaign"))
        .int(1)
        .time(chrono::Utc::now())
}

/// Runs the reveal's work `n` times after a warm-up; the mean per reveal of each part.
pub async fn measure(database_url: &str, key_file: &str, account: &str, n: usize) -> Result<Floor> {
    let store = Store::connect(database_url, 2).await?;
    let keyring = Keyring::load(KeySource::File(key_file.into()))?;
    let row = secrets::current(store.db(), account, "totp")
        .await?
        .context("the account has a TOTP seed")?;
    let params: OtpParams = serde_json::from_str(&row.params)?;
    let aad = secret_aad(account, &row.id, row.version, &row.kind);
    let sealed = row.sealed();
    let rows = [
        facts("service_token", "0193a000-0000-7000-8000-000000000001"),
        facts("account", account),
        facts("team", "0193a000-0000-7000-8000-000000000003"),
    ];
    let macs: Vec<String> = rows
        .iter()
        .map(|f| keyring.row_mac(f))
        .collect::<Result<_, _>>()?;
    let token = "kw_3q2-7wEexampleexampleexampleexampleexample";

    let mut spent = [Duration::ZERO; 6];
    let round = |spent: &mut [Duration; 6]| -> Result<()> {
        let t = Instant::now();
        // As `services::tokens` stores a token: a keyed hash under a root-derived key.
        black_box(keyring.lookup_hash("keyward/v1/service-token", black_box(token)));
        let t1 = Instant::now();
        for (facts, mac) in rows.iter().zip(&macs) {
            anyhow::ensure!(keyring.row_mac_valid(facts, Some(mac)), "the MAC verifies");
        }
        let t2 = Instant::now();
        let bytes = keyring.open(&row.id, &aad, &sealed)?;
        let t3 = Instant::now();
        let now = chrono::Utc::now().timestamp().max(0) as u64;
        let step = now / params.period.unwrap_or(30);
        // The reveal computes this period's code and the next one's (shown near the end).
        let seed = Base32Secret::from_bytes(bytes);
        let code = seed.code_at_counter(params.algorithm, params.digits, step);
        black_box(seed.code_at_counter(params.algorithm, params.digits, step + 1));
        let t4 = Instant::now();
        let event = Event::new("token:0193a000-0000-7000-8000-000000000001", "totp.reveal")
            .target(format!("account:{account}"))
            .team("marketing")
            .justification(Some("benchmark: daily post"))
            .details(
                serde_json::json!({ "secret_id": row.id, "version": row.version, "step": step }),
            );
        let mut audit = audit_row(event);
        audit.seq = 12_345;
        audit.ip = Some("127.0.0.1".to_owned());
        audit.user_agent = Some("kw/0.1.0".to_owned());
        audit.request_id = Some("0193a000-0000-7000-8000-000000000009".to_owned());
        audit.prev_hash = "9f".repeat(32);
        audit.hash = canonical_hash(&audit);
        black_box(&audit);
        let t5 = Instant::now();
        let body = serde_json::json!({
            "code": code.as_str(), "digits": params.digits, "period": params.period.unwrap_or(30),
            "expires_in": 30 - now % 30, "next_code": null,
        });
        black_box(serde_json::to_vec(&body)?);
        let t6 = Instant::now();
        for (i, (a, b)) in [(t, t1), (t1, t2), (t2, t3), (t3, t4), (t4, t5), (t5, t6)]
            .into_iter()
            .enumerate()
        {
            spent[i] += b - a;
        }
        Ok(())
    };
    let mut warm = [Duration::ZERO; 6];
    for _ in 0..(n / 10).max(10) {
        round(&mut warm)?;
    }
    for _ in 0..n {
        round(&mut spent)?;
    }
    let names = [
        "token hash",
        "3 row MACs",
        "seed: DEK unwrap + open (AES-GCM)",
        "codes (2 × HMAC-SHA1)",
        "audit row + chain hash",
        "answer as JSON",
    ];
    let per = |d: Duration| d / n as u32;
    Ok(Floor {
        total: per(spent.iter().sum()),
        parts: names
            .into_iter()
            .zip(spent)
            .map(|(name, d)| (name, per(d)))
            .collect(),
    })
}
