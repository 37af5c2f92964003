//! The cost of the audit write in a reveal, measured in-process against the same database as
//! the HTTP run: the TOTP reveal's transaction (rate-limit counts, seed read, decryption, code)
//! is run with and without its audit append, interleaved in the same run, so the only
//! difference between the two is the append (chain lock, hash, insert, the larger commit).
//!
//! Keyward itself has no way to skip the audit write; this rebuilds the reveal's transaction
//! from the same library calls the service makes (`services::otp::reveal_totp`).

use anyhow::{Context, Result};
use keyward::audit::{append, Event};
use keyward::crypto::{secret_aad, KeySource, Keyring};
use keyward::domain::{Base32Secret, OtpParams};
use keyward::store::{limits, secrets, Store};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Latencies of one variant at one concurrency.
pub struct Variant {
    pub throughput: f64,
    pub mean: Duration,
    pub p50: Duration,
    pub p99: Duration,
}

/// One reveal transaction as `reveal_totp` runs it; with `audit`, its append too.
async fn reveal_tx(
    store: &Store,
    keyring: &Keyring,
    account: &str,
    worker: usize,
    audit: bool,
) -> Result<()> {
    let tx = store.begin_write().await?;
    let now = chrono::Utc::now().timestamp();
    let keys: Vec<(String, i64)> = [("m", 60), ("h", 3600)]
        .iter()
        .map(|&(window, seconds)| {
            let start = now - now.rem_euclid(seconds);
            (format!("reveal:{window}:bench:{worker}"), start)
        })
        .collect();
    let windows: Vec<(&str, i64)> = keys.iter().map(|(k, s)| (k.as_str(), *s)).collect();
    limits::add_many(&*tx, &windows, 1).await?;
    let row = secrets::current(&*tx, account, "totp")
        .await?
        .context("the account has a TOTP seed")?;
    let aad = secret_aad(account, &row.id, row.version, &row.kind);
    let bytes = keyring.open(&row.id, &aad, &row.sealed())?;
    let params: OtpParams = serde_json::from_str(&row.params)?;
    let step = now.max(0) as u64 / params.period.unwrap_or(30);
    let code =
        Base32Secret::from_bytes(bytes).code_at_counter(params.algorithm, params.digits, step);
    std::hint::black_box(&code);
    if audit {
        let mut event = Event::new(format!("token:bench-{worker}"), "totp.reveal")
            .target(format!("account:{account}"))
            .team("bench")
            .justification(Some("benchmark: daily post"))
            .details(
                serde_json::json!({ "secret_id": row.id, "version": row.version, "step": step }),
            );
        // What an HTTP request adds to its event.
        event.ip = Some("127.0.0.1".into());
        event.user_agent = Some("keyward-bench".into());
        event.request_id = Some(format!("bench-{worker}-{now}"));
        append(&*tx, event).await?;
    }
    tx.commit().await?;
    Ok(())
}

async fn run(
    store: &Store,
    keyring: &Arc<Keyring>,
    account: &Arc<String>,
    concurrency: usize,
    n: usize,
    audit: bool,
) -> Result<Vec<Duration>> {
    let mut tasks = Vec::new();
    for worker in 0..concurrency {
        let (store, keyring, account) = (store.clone(), keyring.clone(), account.clone());
        let count = n / concurrency + usize::from(worker < n % concurrency);
        tasks.push(tokio::spawn(async move {
            let mut times = Vec::with_capacity(count);
            for _ in 0..count {
                let started = Instant::now();
                reveal_tx(&store, &keyring, &account, worker, audit).await?;
                times.push(started.elapsed());
            }
            anyhow::Ok(times)
        }));
    }
    let mut all = Vec::with_capacity(n);
    for task in tasks {
        all.extend(task.await??);
    }
    Ok(all)
}

fn summarise(mut times: Vec<Duration>, wall: Duration) -> Variant {
    times.sort();
    let at = |q: f64| times[((times.len() as f64 * q) as usize).min(times.len() - 1)];
    let total: Duration = times.iter().sum();
    Variant {
        throughput: times.len() as f64 / wall.as_secs_f64(),
        mean: total / times.len().max(1) as u32,
        p50: at(0.50),
        p99: at(0.99),
    }
}

/// `(without, with)` the audit write at `concurrency`, `n` transactions each, in ten
/// alternating rounds so drift (WAL growth, caches, the other core) hits both alike.
pub async fn measure(
    database_url: &str,
    key_file: &str,
    account: &str,
    concurrency: usize,
    n: usize,
) -> Result<(Variant, Variant)> {
    let store = Store::connect(database_url, concurrency as u32 + 2).await?;
    let keyring = Arc::new(Keyring::load(KeySource::File(key_file.into()))?);
    let account = Arc::new(account.to_owned());
    // Warm-up of both variants.
    for audit in [false, true] {
        run(&store, &keyring, &account, concurrency, n / 10, audit).await?;
    }
    const ROUNDS: usize = 10;
    let (mut without, mut with) = (Vec::new(), Vec::new());
    let (mut wall_without, mut wall_with) = (Duration::ZERO, Duration::ZERO);
    for round in 0..ROUNDS {
        let order = if round % 2 == 0 {
            [false, true]
        } else {
            [true, false]
        };
        for audit in order {
            let started = Instant::now();
            let times = run(&store, &keyring, &account, concurrency, n / ROUNDS, audit).await?;
            if audit {
                wall_with += started.elapsed();
                with.extend(times);
            } else {
                wall_without += started.elapsed();
                without.extend(times);
            }
        }
    }
    Ok((summarise(without, wall_without), summarise(with, wall_with)))
}
