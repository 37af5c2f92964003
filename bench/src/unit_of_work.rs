//! Issue 29's first question, measured before choosing: what does a TOTP reveal's database
//! work cost when a whole unit of work is one hand-off to a thread that owns its SQLite
//! connection, against today's data path (sea-orm over sqlx: every statement, savepoint and
//! commit a round trip to the connection's worker thread)?
//!
//! Both variants run the same reveal transaction against the server's own SQLite file, in
//! this process, in alternating rounds: the two rate-limit counters (one upsert that returns
//! the totals), the current seed, its decryption and the codes, the chain head, the audit
//! row with its chain hash, and a durable commit. For each: units per second, latency, and
//! this process's CPU time and thread switches per unit (from `/proc/self`).
//!
//! - **today**: `Store::begin_write` (the group commit of `store::group`: a savepoint per
//!   unit in a shared batch transaction) and the library's own statements.
//! - **one hand-off**: a writer thread owns a `rusqlite` connection with cached prepared
//!   statements. A unit is sent to it once, over a channel, and answered once. The SQL is the
//!   same: sea-query builds it from the same entities (`sea-query-rusqlite` binds the
//!   values). The writer drains what is queued into one transaction with one commit (group
//!   commit on the writer thread), and keeps the chain head in memory, read under the write
//!   lock when each batch begins.

use anyhow::{Context, Result};
use keyward::audit::{canonical_hash, Event};
use keyward::crypto::{secret_aad, KeySource, Keyring};
use keyward::domain::{Base32Secret, OtpParams};
use keyward::store::audit::AuditRow;
use keyward::store::entities::{audit_event, rate_counter, secret};
use keyward::store::{limits, secrets, Store};
use sea_orm::sea_query::{Expr, OnConflict, Query, SqliteQueryBuilder};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, QueryTrait};
use sea_query_rusqlite::{RusqliteBinder, RusqliteValues};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

/// One variant's figures at one concurrency.
pub struct Figures {
    pub per_second: f64,
    pub p50: Duration,
    pub p99: Duration,
    pub cpu_us: f64,
    pub switches: f64,
}

/// This process's CPU time so far (user + system), in seconds.
fn own_cpu() -> Result<f64> {
    crate::cpu_seconds(std::process::id())
}

fn own_switches() -> Result<u64> {
    crate::thread_switches(std::process::id())
}

/// The rate-limit keys of a reveal by `worker` now, as `charge_reveal` counts them.
fn rate_keys(worker: usize, now: i64) -> Vec<(String, i64)> {
    [("m", 60), ("h", 3600)]
        .iter()
        .map(|&(window, seconds)| {
            (
                format!("reveal:{window}:bench:{worker}"),
                now - now.rem_euclid(seconds),
            )
        })
        .collect()
}

/// The reveal's code work and its audit row (hash left to the caller, who knows the head).
fn reveal_row(
    keyring: &Keyring,
    account: &str,
    row: &secret::Model,
    worker: usize,
    now: i64,
) -> Result<AuditRow> {
    let aad = secret_aad(account, &row.id, row.version, &row.kind);
    let bytes = keyring.open(&row.id, &aad, &row.sealed())?;
    let params: OtpParams = serde_json::from_str(&row.params)?;
    let step = now.max(0) as u64 / params.period.unwrap_or(30);
    let seed = Base32Secret::from_bytes(bytes);
    std::hint::black_box(seed.code_at_counter(params.algorithm, params.digits, step));
    std::hint::black_box(seed.code_at_counter(params.algorithm, params.digits, step + 1));
    let event = Event::new(format!("token:bench-{worker}"), "totp.reveal")
        .target(format!("account:{account}"))
        .team("bench")
        .justification(Some("benchmark: daily post"))
        .details(serde_json::json!({ "secret_id": row.id, "version": row.version, "step": step }));
    Ok(crate::floor::audit_row(event))
}

/// Today's path: the reveal's transaction through `Store` and the library's statements.
async fn today(store: &Store, keyring: &Keyring, account: &str, worker: usize) -> Result<()> {
    let tx = store.begin_write().await?;
    let now = chrono::Utc::now().timestamp();
    let keys = rate_keys(worker, now);
    let windows: Vec<(&str, i64)> = keys.iter().map(|(k, s)| (k.as_str(), *s)).collect();
    limits::add_many(&*tx, &windows, 1).await?;
    let row = secrets::current(&*tx, account, "totp")
        .await?
        .context("the account has a TOTP seed")?;
    let audit = reveal_row(keyring, account, &row, worker, now)?;
    let event = Event::new(audit.actor, "totp.reveal")
        .target(audit.target.unwrap_or_default())
        .team("bench")
        .justification(audit.justification.as_deref())
        .details(serde_json::from_str(&audit.details)?);
    keyward::audit::append(&*tx, event).await?;
    tx.commit().await?;
    Ok(())
}

/// A unit for the writer thread: which worker asks, and where to answer.
struct Job {
    worker: usize,
    done: oneshot::Sender<Result<(), String>>,
}

/// The writer thread: owns the connection, runs each batch of queued units in one
/// transaction, answers each unit after the batch's durable commit.
fn writer(
    path: String,
    keyring: Arc<Keyring>,
    account: String,
    jobs: std::sync::mpsc::Receiver<Job>,
) -> Result<()> {
    let conn = rusqlite::Connection::open(&path)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.busy_timeout(Duration::from_secs(10))?;
    // The statements, built once by sea-query from the entities; values bound per unit.
    let current = secret::Entity::find()
        .filter(secret::Column::AccountId.eq(account.as_str()))
        .filter(secret::Column::Kind.eq("totp"))
        .filter(secret::Column::SupersededAt.is_null())
        .order_by_desc(secret::Column::Version)
        .limit(1)
        .into_query()
        .build_rusqlite(SqliteQueryBuilder);
    while let Ok(first) = jobs.recv() {
        let mut batch = vec![first];
        while batch.len() < 64 {
            match jobs.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let result = run_batch(&conn, &keyring, &account, &current, &batch);
        for job in batch {
            let _ = job.done.send(result.clone().map_err(|e| e.to_string()));
        }
    }
    Ok(())
}

fn run_batch(
    conn: &rusqlite::Connection,
    keyring: &Keyring,
    account: &str,
    current: &(String, RusqliteValues),
    batch: &[Job],
) -> Result<(), Arc<str>> {
    let run = || -> Result<()> {
        conn.execute_batch("BEGIN IMMEDIATE")?;
        // The head, read under the write lock: nobody else appends until the commit.
        let (mut seq, mut prev): (i64, String) = conn
            .prepare_cached("SELECT seq, hash FROM audit_event ORDER BY seq DESC LIMIT 1")?
            .query_row([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        for job in batch {
            let now = chrono::Utc::now().timestamp();
            let mut upsert = Query::insert();
            upsert
                .into_table(rate_counter::Entity)
                .columns([
                    rate_counter::Column::Key,
                    rate_counter::Column::WindowStart,
                    rate_counter::Column::Hits,
                ])
                .on_conflict(
                    OnConflict::columns([
                        rate_counter::Column::Key,
                        rate_counter::Column::WindowStart,
                    ])
                    .value(
                        rate_counter::Column::Hits,
                        Expr::col((rate_counter::Entity, rate_counter::Column::Hits)).add(1),
                    )
                    .to_owned(),
                )
                .returning(Query::returning().columns([rate_counter::Column::Hits]));
            for (key, start) in rate_keys(job.worker, now) {
                upsert
                    .values([key.into(), start.into(), 1.into()])
                    .map_err(|e| anyhow::anyhow!(e.to_string()))?;
            }
            let (sql, values) = upsert.build_rusqlite(SqliteQueryBuilder);
            let mut counted = conn.prepare_cached(&sql)?;
            let hits: Vec<i64> = counted
                .query_map(&*values.as_params(), |r| r.get(0))?
                .collect::<Result<_, _>>()?;
            anyhow::ensure!(hits.len() == 2, "both windows counted");
            let row = conn
                .prepare_cached(&current.0)?
                .query_row(&*current.1.as_params(), |r| {
                    Ok(secret::Model {
                        id: r.get("id")?,
                        account_id: r.get("account_id")?,
                        kind: r.get("kind")?,
                        version: r.get("version")?,
                        params: r.get("params")?,
                        hotp_counter: r.get("hotp_counter")?,
                        ciphertext: r.get("ciphertext")?,
                        wrapped_dek: r.get("wrapped_dek")?,
                        kek_id: r.get("kek_id")?,
                        created_by: r.get("created_by")?,
                        // Not needed to open the seed (and stored in sqlx's text form).
                        created_at: chrono::Utc::now(),
                        superseded_at: None,
                        fingerprint: r.get("fingerprint")?,
                    })
                })?;
            let mut audit = reveal_row(keyring, account, &row, job.worker, now)?;
            seq += 1;
            audit.seq = seq;
            audit.prev_hash = prev;
            audit.hash = canonical_hash(&audit);
            prev = audit.hash.clone();
            let (sql, values) = audit_event::Entity::insert(audit_event::ActiveModel::from(audit))
                .into_query()
                .build_rusqlite(SqliteQueryBuilder);
            conn.prepare_cached(&sql)?.execute(&*values.as_params())?;
        }
        conn.execute_batch("COMMIT")?;
        Ok(())
    };
    run().map_err(|e| {
        let _ = conn.execute_batch("ROLLBACK");
        Arc::from(e.to_string())
    })
}

/// Runs `n` units at `concurrency` with `unit` and measures them.
async fn drive<F, Fut>(concurrency: usize, n: usize, unit: F) -> Result<Figures>
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = Result<()>> + Send,
{
    let unit = Arc::new(unit);
    let issued = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let (cpu0, sw0, t0) = (own_cpu()?, own_switches()?, Instant::now());
    let mut tasks = Vec::new();
    for worker in 0..concurrency {
        let (unit, issued) = (unit.clone(), issued.clone());
        tasks.push(tokio::spawn(async move {
            let mut times = Vec::new();
            while issued.fetch_add(1, std::sync::atomic::Ordering::Relaxed) < n {
                let started = Instant::now();
                unit(worker).await?;
                times.push(started.elapsed());
            }
            Ok::<_, anyhow::Error>(times)
        }));
    }
    let mut times = Vec::new();
    for task in tasks {
        times.extend(task.await??);
    }
    let wall = t0.elapsed();
    let (cpu, switches) = (own_cpu()? - cpu0, own_switches()?.saturating_sub(sw0));
    times.sort();
    let at = |q: f64| times[((times.len() as f64 * q) as usize).min(times.len() - 1)];
    Ok(Figures {
        per_second: times.len() as f64 / wall.as_secs_f64(),
        p50: at(0.50),
        p99: at(0.99),
        cpu_us: cpu * 1e6 / times.len() as f64,
        switches: switches as f64 / times.len() as f64,
    })
}

/// `(today, one hand-off)` at `concurrency`, `n` units each, in alternating rounds.
pub async fn measure(
    sqlite_path: &str,
    database_url: &str,
    key_file: &str,
    account: &str,
    concurrency: usize,
    n: usize,
) -> Result<(Figures, Figures)> {
    let store = Arc::new(Store::connect(database_url, concurrency as u32 + 2).await?);
    let keyring = Arc::new(Keyring::load(KeySource::File(key_file.into()))?);
    let (send, receive) = std::sync::mpsc::channel::<Job>();
    let writer_thread = {
        let (path, keyring, account) =
            (sqlite_path.to_owned(), keyring.clone(), account.to_owned());
        std::thread::Builder::new()
            .name("bench-writer".into())
            .spawn(move || writer(path, keyring, account, receive))?
    };
    let send = Arc::new(std::sync::Mutex::new(send));
    let mut results: [Vec<Figures>; 2] = [Vec::new(), Vec::new()];
    const ROUNDS: usize = 4;
    for round in 0..=ROUNDS {
        let order = if round % 2 == 0 { [0, 1] } else { [1, 0] };
        // Round 0 is the warm-up of both.
        let count = if round == 0 { n / 10 } else { n / ROUNDS };
        for variant in order {
            let figures = if variant == 0 {
                let (store, keyring, account) =
                    (store.clone(), keyring.clone(), account.to_owned());
                drive(concurrency, count, move |worker| {
                    let (store, keyring, account) =
                        (store.clone(), keyring.clone(), account.clone());
                    async move { today(&store, &keyring, &account, worker).await }
                })
                .await?
            } else {
                let send = send.clone();
                drive(concurrency, count, move |worker| {
                    let send = send.clone();
                    async move {
                        let (done, answer) = oneshot::channel();
                        send.lock()
                            .map_err(|_| anyhow::anyhow!("the writer's queue"))?
                            .send(Job { worker, done })
                            .map_err(|_| anyhow::anyhow!("the writer stopped"))?;
                        answer.await?.map_err(|e| anyhow::anyhow!(e))
                    }
                })
                .await?
            };
            if round > 0 {
                results[variant].push(figures);
            }
        }
    }
    drop(send);
    let _ = writer_thread.join();
    let [a, b] = results;
    Ok((mean(a), mean(b)))
}

fn mean(all: Vec<Figures>) -> Figures {
    let k = all.len().max(1) as f64;
    let sum = |f: &dyn Fn(&Figures) -> f64| all.iter().map(f).sum::<f64>() / k;
    Figures {
        per_second: sum(&|f| f.per_second),
        p50: Duration::from_secs_f64(sum(&|f| f.p50.as_secs_f64())),
        p99: Duration::from_secs_f64(sum(&|f| f.p99.as_secs_f64())),
        cpu_us: sum(&|f| f.cpu_us),
        switches: sum(&|f| f.switches),
    }
}
