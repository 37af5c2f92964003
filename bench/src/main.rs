//! Load harness for Keyward (see bench/README.md). Starts the real `keyward serve` on a fresh
//! SQLite file and a fresh PostgreSQL database, then measures, in one run per backend and on
//! the same server: `GET /healthz` (the baseline), the TOTP reveal and the backup-code
//! check-out (each with its audit write and rate-limit count in one transaction), at
//! concurrency 1, 16 and 64. Prints throughput, p50 and p99, and each as a ratio to the baseline.
//! Then the reveal's transaction with and without its audit write (`audit_cost.rs`), and the
//! same measures through HAProxy before one and then three replicas on one PostgreSQL. On
//! SQLite, the CPU time of the costliest legal and the hostile imports (`imports.rs`).
//!
//! Usage: keyward-bench [--keyward PATH] [--backends sqlite,postgres] [--scale F]
//!                      [--group-commit on|off] [--replicas 1,3|none]

mod approval;
mod audit_cost;
mod floor;
mod imports;
mod server;

use server::{seed, start, Server};

use anyhow::{bail, Context, Result};
use keyward_proto::backup::CheckedOutOut;
use keyward_proto::otp::{JustificationBody, TotpCodeOut};
use reqwest::Client;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const CONCURRENCY: [usize; 3] = [1, 16, 64];
const CODES_PER_GENERATION: usize = 50;
pub(crate) const SEED: &str = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP";

struct Options {
    keyward: String,
    backends: Vec<String>,
    scale: f64,
    pg_admin: String,
    /// `database.group_commit` for PostgreSQL (SQLite always has it).
    group_commit: Option<bool>,
    /// Replica counts for the HAProxy run on PostgreSQL (empty: no such run).
    replicas: Vec<usize>,
    /// `database.writer_thread` settings to run each backend with, in order (default: on).
    writer_thread: Vec<bool>,
    /// The one in effect for this run.
    writer_thread_now: bool,
}

fn options() -> Result<Options> {
    let mut opts = Options {
        keyward: "target/release/keyward".into(),
        backends: vec!["sqlite".into(), "postgres".into()],
        scale: 1.0,
        pg_admin: std::env::var("KW_TEST_PG_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into()),
        group_commit: None,
        replicas: vec![1, 3],
        writer_thread: vec![true],
        writer_thread_now: true,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().with_context(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--keyward" => opts.keyward = value()?,
            "--backends" => {
                let v = value()?;
                opts.backends = Vec::new();
                for backend in v.split(',').filter(|b| *b != "none") {
                    if !matches!(backend, "sqlite" | "postgres") {
                        bail!("--backends takes sqlite, postgres or none");
                    }
                    opts.backends.push(backend.to_owned());
                }
            }
            "--scale" => opts.scale = value()?.parse().context("--scale takes a number")?,
            "--replicas" => {
                let v = value()?;
                opts.replicas = if v == "none" {
                    Vec::new()
                } else {
                    v.split(',')
                        .map(|n| match n.parse::<usize>() {
                            Ok(n @ 1..=8) => Ok(n),
                            _ => bail!("--replicas takes counts from 1 to 8, or none"),
                        })
                        .collect::<Result<_>>()?
                };
            }
            "--group-commit" => {
                opts.group_commit = Some(match value()?.as_str() {
                    "on" => true,
                    "off" => false,
                    _ => bail!("--group-commit takes on or off"),
                })
            }
            "--writer-thread" => {
                opts.writer_thread = match value()?.as_str() {
                    "on" => vec![true],
                    "off" => vec![false],
                    "both" => vec![true, false],
                    _ => bail!("--writer-thread takes on, off or both"),
                }
            }
            "-h" | "--help" => {
                println!(
                    "keyward-bench [--keyward PATH] [--backends sqlite,postgres|none] [--scale F]\n\
                     \x20             [--group-commit on|off] [--replicas 1,3|none]\n\
                     \x20             [--writer-thread on|off|both]\n\n\
                          Measures /healthz, TOTP reveal and backup-code check-out at concurrency\n\
                          1, 16 and 64 on each backend, with the server's CPU time per request,\n\
                          then the reveal's transaction with and without its audit write.\n\
                          Then, on PostgreSQL, the same at concurrency 16 and 64 through HAProxy\n\
                          (Debian's haproxy) before each number of replicas given (default 1,3;\n\
                          none skips it), with each process's memory.\n\
                          --scale multiplies the request counts; --group-commit sets\n\
                          database.group_commit on PostgreSQL (default: the server's, off);\n\
                          --writer-thread sets database.writer_thread (both: a run with it on,\n\
                          then one with it off, to compare them)."
                );
                std::process::exit(0);
            }
            other => bail!("unknown argument {other} (see --help)"),
        }
    }
    Ok(opts)
}

/// Requests measured per concurrency level (after a warm-up of a tenth as many).
fn requests_at(concurrency: usize, scale: f64) -> usize {
    let base = match concurrency {
        1 => 400,
        16 => 2_000,
        _ => 4_000,
    };
    ((base as f64) * scale).max(50.0) as usize
}

#[derive(Clone, Copy)]
enum Target {
    Healthz,
    Totp,
    Checkout,
    /// The reveal by tokens bound to one member, on an open account: the comparison for…
    TotpBound,
    /// …the same reveal on an account under `approval`, under the member's grant.
    TotpApproval,
}

impl Target {
    fn name(self) -> &'static str {
        match self {
            Target::Healthz => "GET /healthz",
            Target::Totp => "TOTP reveal",
            Target::Checkout => "backup check-out",
            Target::TotpBound => "TOTP reveal, member's token, open account",
            Target::TotpApproval => "TOTP reveal, member's token, under approval",
        }
    }
}

struct Measure {
    throughput: f64,
    p50: Duration,
    p99: Duration,
}

/// What the workers share: the server, one token per worker, the accounts to hit.
struct Load {
    client: Client,
    base: String,
    tokens: Vec<String>,
    totp: String,
    code_accounts: Arc<Vec<String>>,
    next_code: Arc<AtomicUsize>,
    /// Tokens bound to the member who holds the grant, and the account under `approval`.
    bound: Vec<String>,
    locked: String,
}

/// Runs `n` requests with `concurrency` workers (each its own token) and measures them.
async fn run(load: &Load, target: Target, concurrency: usize, n: usize) -> Result<Measure> {
    let issued = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut workers = Vec::new();
    let tokens = match target {
        Target::TotpBound | Target::TotpApproval => &load.bound,
        _ => &load.tokens,
    };
    for token in tokens.iter().take(concurrency) {
        let (client, base, token) = (load.client.clone(), load.base.clone(), token.clone());
        let (issued, totp, locked) = (issued.clone(), load.totp.clone(), load.locked.clone());
        let (code_accounts, next_code) = (load.code_accounts.clone(), load.next_code.clone());
        workers.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            while issued.fetch_add(1, Ordering::Relaxed) < n {
                let request = match target {
                    Target::Healthz => client.get(format!("{base}/healthz")),
                    Target::Totp | Target::TotpBound => client
                        .post(format!("{base}/api/v1/accounts/{totp}/totp/code"))
                        .bearer_auth(&token)
                        .json(&JustificationBody::default()),
                    Target::TotpApproval => client
                        .post(format!("{base}/api/v1/accounts/{locked}/totp/code"))
                        .bearer_auth(&token)
                        .json(&JustificationBody::default()),
                    Target::Checkout => {
                        // Spread over the accounts: consecutive check-outs hit different ones.
                        let k = next_code.fetch_add(1, Ordering::Relaxed);
                        let account = &code_accounts[k % code_accounts.len()];
                        client
                            .post(format!(
                                "{base}/api/v1/accounts/{account}/backup-codes/checkout"
                            ))
                            .bearer_auth(&token)
                            .json(&JustificationBody {
                                justification: Some("benchmark".into()),
                            })
                    }
                };
                let t0 = Instant::now();
                let res = request.send().await?;
                let status = res.status();
                let body = res.bytes().await?;
                latencies.push(t0.elapsed());
                if !status.is_success() {
                    bail!("{}: HTTP {status}", target.name());
                }
                // Every answer is the documented wire type (read after the clock stopped).
                match target {
                    Target::Healthz => {}
                    Target::Totp | Target::TotpBound | Target::TotpApproval => {
                        drop(serde_json::from_slice::<TotpCodeOut>(&body)?)
                    }
                    Target::Checkout => drop(serde_json::from_slice::<CheckedOutOut>(&body)?),
                }
            }
            Ok::<_, anyhow::Error>(latencies)
        }));
    }
    let mut all = Vec::with_capacity(n);
    for worker in workers {
        all.extend(worker.await??);
    }
    let elapsed = started.elapsed();
    all.sort();
    let pick = |q: f64| {
        all[((all.len() as f64 * q).ceil() as usize)
            .saturating_sub(1)
            .min(all.len() - 1)]
    };
    Ok(Measure {
        throughput: all.len() as f64 / elapsed.as_secs_f64(),
        p50: pick(0.50),
        p99: pick(0.99),
    })
}

fn ms(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1000.0)
}

/// Seeds the accounts that `levels` need and returns what the workers share.
async fn prepare_load(
    opts: &Options,
    server: &Server,
    tokens: Vec<String>,
    levels: &[usize],
) -> Result<Load> {
    let total_checkouts: usize = levels
        .iter()
        .map(|c| requests_at(*c, opts.scale) + requests_at(*c, opts.scale) / 10)
        .sum();
    let (totp, code_accounts) = seed(server, &tokens[0], total_checkouts).await?;
    let approval = approval::prepare(server, &tokens[0], CONCURRENCY[2]).await?;
    Ok(Load {
        bound: approval.tokens,
        locked: approval.account,
        client: Client::builder()
            .pool_max_idle_per_host(CONCURRENCY[2])
            .build()?,
        base: server.base.clone(),
        tokens,
        totp,
        code_accounts: Arc::new(code_accounts),
        next_code: Arc::new(AtomicUsize::new(0)),
    })
}

/// Measures `/healthz`, the reveal and the check-out at each of `levels` and prints the
/// table; returns the reveal's p50 and server CPU (µs) per level.
async fn measure_levels(
    opts: &Options,
    server: &Server,
    load: &Load,
    levels: &[usize],
) -> Result<Vec<(usize, Duration, f64)>> {
    let mut reveal_p50 = Vec::new();
    println!("| concurrency | endpoint | req/s | p50 ms | p99 ms | req/s ÷ baseline | p50 × baseline | p99 × baseline | server CPU µs/req | thread switches/req | statements/req |");
    println!("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for &concurrency in levels {
        let n = requests_at(concurrency, opts.scale);
        let mut baseline: Option<Measure> = None;
        for target in [
            Target::Healthz,
            Target::Totp,
            Target::Checkout,
            Target::TotpBound,
            Target::TotpApproval,
        ] {
            eprintln!(
                "  {} at concurrency {concurrency}: {n} requests…",
                target.name()
            );
            // Warm-up: connections, caches, the database's pages.
            run(load, target, concurrency, n / 10).await?;
            let statements_before = server.statements(&load.client).await?;
            let cpu_before = server.cpu_seconds()?;
            let switches_before = server.thread_switches()?;
            let m = run(load, target, concurrency, n).await?;
            let cpu_us = (server.cpu_seconds()? - cpu_before) * 1e6 / n as f64;
            let switches =
                server.thread_switches()?.saturating_sub(switches_before) as f64 / n as f64;
            let statements =
                (server.statements(&load.client).await? - statements_before) / n as f64;
            let (tp, p50, p99) = match &baseline {
                Some(b) => (
                    format!("{:.3}", m.throughput / b.throughput),
                    format!("{:.1}", m.p50.as_secs_f64() / b.p50.as_secs_f64()),
                    format!("{:.1}", m.p99.as_secs_f64() / b.p99.as_secs_f64()),
                ),
                None => ("1".into(), "1".into(), "1".into()),
            };
            println!(
                "| {concurrency} | {} | {:.0} | {} | {} | {tp} | {p50} | {p99} | {cpu_us:.0} | {switches:.1} | {statements:.1} |",
                target.name(),
                m.throughput,
                ms(m.p50),
                ms(m.p99)
            );
            if matches!(target, Target::Totp) {
                reveal_p50.push((concurrency, m.p50, cpu_us));
            }
            if baseline.is_none() {
                baseline = Some(m);
            }
        }
    }
    Ok(reveal_p50)
}

/// Each replica's figures, "12.3, 14.5 MiB".
fn mib_list(values: &[f64]) -> String {
    let list: Vec<String> = values.iter().map(|v| format!("{v:.1}")).collect();
    format!("{} MiB", list.join(", "))
}

async fn bench_backend(opts: &Options, backend: &str) -> Result<()> {
    eprintln!("== {backend}: starting keyward");
    let (server, tokens) = start(opts, backend, None).await?;
    let load = prepare_load(opts, &server, tokens, &CONCURRENCY).await?;
    let idle_rss = server.memory_mib("VmRSS")?;
    let on = if opts.writer_thread_now { "on" } else { "off" };
    println!("\n### {backend}, writer thread {on}\n");
    let reveals = measure_levels(opts, &server, &load, &CONCURRENCY).await?;
    println!(
        "\nServer memory: {} resident at idle (after seeding), {} at its peak under load (VmHWM).",
        mib_list(&idle_rss),
        mib_list(&server.memory_mib("VmHWM")?)
    );
    floor_table(opts, &server, &load.totp, &reveals).await?;
    let reveal_p50: Vec<(usize, Duration)> = reveals.iter().map(|r| (r.0, r.1)).collect();
    audit_cost_table(opts, &server, &load.totp, &reveal_p50).await?;
    if backend == "sqlite" {
        imports::import_costs(&server, &server.token("bench-imports")?).await?;
    }
    drop(server);
    Ok(())
}

/// Replicas on one PostgreSQL database behind HAProxy: the same measures at 16 and 64
/// clients for each replica count, with every process's memory.
async fn bench_replicas(opts: &Options, count: usize) -> Result<()> {
    eprintln!("== postgres: {count} replica(s) behind HAProxy");
    let levels = [CONCURRENCY[1], CONCURRENCY[2]];
    let (server, tokens) = start(opts, "postgres", Some(count)).await?;
    let load = prepare_load(opts, &server, tokens, &levels).await?;
    let idle_rss = server.memory_mib("VmRSS")?;
    println!("\n### postgres, {count} replica(s) behind HAProxy\n");
    measure_levels(opts, &server, &load, &levels).await?;
    println!(
        "\nMemory of each replica: {} resident at idle (after seeding), {} at its peak under load (VmHWM). \
         Server CPU is the replicas' added up.",
        mib_list(&idle_rss),
        mib_list(&server.memory_mib("VmHWM")?)
    );
    Ok(())
}

/// The user and system CPU time a process has used so far, from `/proc/PID/stat` (in clock
/// ticks of 1/100 s, Linux's `USER_HZ`).
fn cpu_seconds(pid: u32) -> Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .with_context(|| format!("reading /proc/{pid}/stat"))?;
    // The command name, in parentheses, may hold spaces: count fields after its end.
    let after = stat.rsplit_once(')').context("a /proc stat line")?.1;
    let fields: Vec<&str> = after.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the line; field 3 is the first after the name.
    let ticks = |i: usize| -> Result<f64> {
        Ok(fields
            .get(i)
            .context("a /proc stat field")?
            .parse::<f64>()?)
    };
    Ok((ticks(11)? + ticks(12)?) / 100.0)
}

/// A process's thread switches so far: `voluntary_ctxt_switches` and
/// `nonvoluntary_ctxt_switches` of each of its threads (`/proc/PID/task/*/status`).
pub(crate) fn thread_switches(pid: u32) -> Result<u64> {
    let mut total = 0;
    for task in std::fs::read_dir(format!("/proc/{pid}/task"))
        .with_context(|| format!("reading /proc/{pid}/task"))?
    {
        // A thread may end between the listing and the read.
        let Ok(status) = std::fs::read_to_string(task?.path().join("status")) else {
            continue;
        };
        total += status
            .lines()
            .filter(|l| l.contains("ctxt_switches:"))
            .filter_map(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
            .sum::<u64>();
    }
    Ok(total)
}

/// A memory figure of `/proc/PID/status` (`VmRSS`, `VmHWM`), in MiB.
fn memory_mib(pid: u32, field: &str) -> Result<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .with_context(|| format!("{field} in /proc/{pid}/status"))?;
    Ok(kib / 1024.0)
}

/// The reveal's transaction with and without its audit write (see `audit_cost.rs`), next
/// to the HTTP reveal's p50 from the same run.
/// The floor (`floor.rs`): a reveal's own work in-process, by part, and the HTTP reveal's
/// server CPU of each level over it.
async fn floor_table(
    opts: &Options,
    server: &Server,
    totp: &str,
    reveals: &[(usize, Duration, f64)],
) -> Result<()> {
    let (url, key_file) = (
        server.setting("KEYWARD_DATABASE_URL")?,
        server.setting("KEYWARD_KEY_FILE")?,
    );
    let n = ((20_000.0 * opts.scale) as usize).max(1_000);
    eprintln!("  the floor: {n} reveals' own work in-process…");
    let floor = floor::measure(&url, &key_file, totp, n).await?;
    println!("\nThe floor: a reveal's own work in-process, no HTTP, no database ({n} rounds, one thread):\n");
    println!("| part | µs per reveal |");
    println!("|---|---:|");
    for (name, d) in &floor.parts {
        println!("| {name} | {:.2} |", d.as_secs_f64() * 1e6);
    }
    let floor_us = floor.total.as_secs_f64() * 1e6;
    println!("| **all** | **{floor_us:.2}** |\n");
    for (concurrency, _, cpu_us) in reveals {
        println!(
            "- concurrency {concurrency}: the HTTP reveal's server CPU, {cpu_us:.0} µs, is {:.0} × the floor.",
            cpu_us / floor_us
        );
    }
    Ok(())
}

async fn audit_cost_table(
    opts: &Options,
    server: &Server,
    totp: &str,
    reveal_p50: &[(usize, Duration)],
) -> Result<()> {
    let (url, key_file) = (
        server.setting("KEYWARD_DATABASE_URL")?,
        server.setting("KEYWARD_KEY_FILE")?,
    );
    println!("\nThe reveal's transaction with and without its audit write (in-process, same database, alternating rounds):\n");
    println!("| concurrency | variant | tx/s | mean ms | p50 ms | p99 ms |");
    println!("|---:|---|---:|---:|---:|---:|");
    let mut notes = Vec::new();
    for concurrency in [1, 16] {
        let n = ((2000.0 * opts.scale) as usize).max(100);
        eprintln!("  reveal transaction ± audit write at concurrency {concurrency}: {n} each…");
        let (without, with) = audit_cost::measure(&url, &key_file, totp, concurrency, n).await?;
        for (name, v) in [
            ("without audit write", &without),
            ("with audit write", &with),
        ] {
            println!(
                "| {concurrency} | {name} | {:.0} | {} | {} | {} |",
                v.throughput,
                ms(v.mean),
                ms(v.p50),
                ms(v.p99)
            );
        }
        let added = with.mean.as_secs_f64() - without.mean.as_secs_f64();
        let http = reveal_p50
            .iter()
            .find(|(c, _)| *c == concurrency)
            .map(|(_, p)| p.as_secs_f64());
        notes.push(format!(
            "- concurrency {concurrency}: the audit write adds {:.3} ms per reveal on average ({:+.0} % over the transaction without it){}; throughput {:.0} → {:.0} tx/s.",
            added * 1000.0,
            added / without.mean.as_secs_f64() * 100.0,
            http.map(|h| format!(", {:.0} % of the HTTP reveal's p50 of {:.2} ms", added / h * 100.0, h * 1000.0))
                .unwrap_or_default(),
            without.throughput,
            with.throughput
        ));
    }
    println!();
    for note in notes {
        println!("{note}");
    }
    Ok(())
}

#[tokio::main]
async fn main() -> Result<()> {
    let opts = options()?;
    if !std::path::Path::new(&opts.keyward).exists() {
        bail!(
            "{} not found: build it with `cargo build --release -p keyward` (or `make bench`)",
            opts.keyward
        );
    }
    let mut opts = opts;
    for backend in opts.backends.clone() {
        for writer_thread in opts.writer_thread.clone() {
            opts.writer_thread_now = writer_thread;
            bench_backend(&opts, &backend).await?;
        }
    }
    for count in opts.replicas.clone() {
        bench_replicas(&opts, count).await?;
    }
    Ok(())
}
