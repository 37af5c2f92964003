//! The servers the bench measures: one `keyward serve` on a fresh database, or replicas
//! behind HAProxy, and the accounts, seeds and backup codes it seeds them with (through the
//! API's wire types).

use crate::{
    cpu_seconds, memory_mib, thread_switches, Options, CODES_PER_GENERATION, CONCURRENCY, SEED,
};
use anyhow::{bail, Context, Result};
use keyward_proto::accounts::{AccountOut, CreateAccount};
use keyward_proto::backup::{ImportCodes, ImportedOut};
use keyward_proto::otp::{SetOtp, VersionOut};
use keyward_proto::Sensitive;
use reqwest::Client;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The server: one `keyward serve` process, or several replicas behind HAProxy.
pub(crate) struct Server {
    pub(crate) replicas: Vec<Child>,
    /// Each replica's metrics address (`metrics_listen`), for its statement count.
    pub(crate) metrics: Vec<String>,
    pub(crate) proxy: Option<Child>,
    pub(crate) base: String,
    pub(crate) env: Vec<(String, String)>,
    pub(crate) keyward: String,
    pub(crate) _dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        for child in self.replicas.iter_mut().chain(self.proxy.as_mut()) {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Server {
    pub(crate) fn pids(&self) -> Vec<u32> {
        self.replicas.iter().map(Child::id).collect()
    }

    /// The replicas' CPU time so far, added up.
    pub(crate) fn cpu_seconds(&self) -> Result<f64> {
        self.pids().into_iter().map(cpu_seconds).sum()
    }

    /// A `KEYWARD_*` setting the servers were started with.
    pub(crate) fn setting(&self, key: &str) -> Result<String> {
        self.env
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
            .with_context(|| format!("{key} is set"))
    }

    /// The replicas' thread switches so far (voluntary and involuntary, summed over every
    /// thread in `/proc/PID/task/*/status`). A thread that has exited takes its count with it,
    /// so a level's difference can only undercount.
    pub(crate) fn thread_switches(&self) -> Result<u64> {
        self.pids().into_iter().map(thread_switches).sum()
    }

    /// Statements the replicas have sent to the database so far (`keyward_db_statements_total`).
    pub(crate) async fn statements(&self, client: &Client) -> Result<f64> {
        let mut total = 0.0;
        for url in &self.metrics {
            let text = client.get(url).send().await?.text().await?;
            total += text
                .lines()
                .find_map(|l| l.strip_prefix("keyward_db_statements_total "))
                .and_then(|v| v.trim().parse::<f64>().ok())
                .context("keyward_db_statements_total in /metrics")?;
        }
        Ok(total)
    }

    /// Each replica's memory figure (`VmRSS`, `VmHWM`), in MiB.
    pub(crate) fn memory_mib(&self, field: &str) -> Result<Vec<f64>> {
        self.pids()
            .into_iter()
            .map(|p| memory_mib(p, field))
            .collect()
    }

    pub(crate) fn cli(&self, args: &[&str]) -> Result<String> {
        let out = Command::new(&self.keyward)
            .args(args)
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .output()
            .with_context(|| format!("running {}", self.keyward))?;
        if !out.status.success() {
            bail!(
                "keyward {args:?} failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    pub(crate) fn token(&self, name: &str) -> Result<String> {
        self.cli_token(name, "manager", "marketing")
    }

    /// A service token with one role binding, made by `keyward token create`.
    pub(crate) fn cli_token(&self, name: &str, role: &str, team: &str) -> Result<String> {
        let out = self.cli(&[
            "token", "create", "--name", name, "--role", role, "--team", team,
        ])?;
        out.lines()
            .last()
            .map(|l| l.trim().to_owned())
            .context("token printed")
    }
}

pub(crate) fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

pub(crate) fn database_url(backend: &str, dir: &std::path::Path, pg_admin: &str) -> Result<String> {
    if backend == "sqlite" {
        return Ok(format!(
            "sqlite://{}?mode=rwc",
            dir.join("bench.db").display()
        ));
    }
    let name = format!(
        "kwbench_{}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)?
            .as_millis()
    );
    let status = Command::new("psql")
        .args([pg_admin, "-qc", &format!("CREATE DATABASE \"{name}\"")])
        .status()
        .context("psql (PostgreSQL client) is needed for the PostgreSQL run")?;
    if !status.success() {
        bail!("could not create database {name} at {pg_admin}");
    }
    let (root, _) = pg_admin
        .rsplit_once('/')
        .context("admin URL has a database part")?;
    Ok(format!("{root}/{name}"))
}

/// Waits for `GET {base}/readyz` to answer 200.
pub(crate) async fn wait_ready(base: &str, what: &str) -> Result<()> {
    let client = Client::new();
    for _ in 0..200 {
        if let Ok(res) = client.get(format!("{base}/readyz")).send().await {
            if res.status().is_success() {
                return Ok(());
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    bail!("{what} did not become ready")
}

/// HAProxy (Debian's) on `port`, round-robin over `backends` (host:port), keeping
/// connections to them alive.
pub(crate) fn start_haproxy(
    dir: &std::path::Path,
    port: u16,
    backends: &[String],
) -> Result<Child> {
    let servers: String = backends
        .iter()
        .enumerate()
        .map(|(i, b)| format!("    server r{i} {b} check\n"))
        .collect();
    let cfg = format!(
        "global\n    maxconn 4096\n\
         defaults\n    mode http\n    timeout connect 1s\n    timeout client 30s\n    timeout server 30s\n\
         frontend keyward\n    bind 127.0.0.1:{port}\n    default_backend replicas\n\
         backend replicas\n    balance roundrobin\n    option httpchk GET /readyz\n\
         \x20   default-server inter 1s\n{servers}"
    );
    let path = dir.join("haproxy.cfg");
    std::fs::write(&path, cfg)?;
    Command::new("haproxy")
        .args(["-db", "-f"])
        .arg(&path)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("haproxy (Debian's package; `make test-deps` installs it) is needed for the replica run; --replicas none skips it")
}

/// Starts Keyward on a fresh database of `backend`: one process, or with `behind_proxy`
/// that many replicas behind HAProxy; returns it with one token per worker.
pub(crate) async fn start(
    opts: &Options,
    backend: &str,
    behind_proxy: Option<usize>,
) -> Result<(Server, Vec<String>)> {
    let dir = tempfile::tempdir()?;
    let key_file = dir.path().join("keys.json");
    let env: Vec<(String, String)> = vec![
        (
            "KEYWARD_DATABASE_URL".into(),
            database_url(backend, dir.path(), &opts.pg_admin)?,
        ),
        ("KEYWARD_KEY_FILE".into(), key_file.display().to_string()),
        ("KEYWARD_LOG__LEVEL".into(), "warn".into()),
        ("KEYWARD_DATABASE__MAX_CONNECTIONS".into(), "16".into()),
        (
            "KEYWARD_DATABASE__WRITER_THREAD".into(),
            opts.writer_thread_now.to_string(),
        ),
        (
            "KEYWARD_DATABASE__GROUP_COMMIT".into(),
            opts.group_commit.unwrap_or(false).to_string(),
        ),
        // Limits stay on (their counter is part of every reveal) but never bite.
        (
            "KEYWARD_LIMITS__REVEALS_PER_MINUTE".into(),
            "1000000000".into(),
        ),
        (
            "KEYWARD_LIMITS__REVEALS_PER_HOUR".into(),
            "1000000000".into(),
        ),
        ("KEYWARD_LIMITS__IMPORTS_PER_HOUR".into(), "0".into()),
        // The hostile imports are large on purpose.
        ("KEYWARD_HTTP__UPLOAD_LIMIT".into(), "33554432".into()),
    ];
    // `serve` gets its listen address and its metrics address.
    let spawn_on = |args: &[&str], ports: Option<(u16, u16)>| -> Result<Child> {
        let mut cmd = Command::new(&opts.keyward);
        for (key, _) in std::env::vars().filter(|(k, _)| k.starts_with("KEYWARD_")) {
            cmd.env_remove(key);
        }
        if let Some((port, metrics_port)) = ports {
            cmd.env("KEYWARD_LISTEN", format!("127.0.0.1:{port}")).env(
                "KEYWARD_METRICS_LISTEN",
                format!("127.0.0.1:{metrics_port}"),
            );
        }
        Ok(cmd
            .args(args)
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdout(Stdio::null())
            .spawn()?)
    };
    let spawn = |args: &[&str]| spawn_on(args, None);
    let status = spawn(&[
        "keys",
        "init",
        "--key-file",
        &key_file.display().to_string(),
    ])?
    .wait()?;
    if !status.success() {
        bail!("keys init failed");
    }
    if !spawn(&["migrate"])?.wait()?.success() {
        bail!("migrate failed");
    }
    let (mut replicas, mut addresses, mut metrics) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..behind_proxy.unwrap_or(1) {
        let (port, metrics_port) = (free_port()?, free_port()?);
        replicas.push(spawn_on(
            &["serve", "--no-migrate"],
            Some((port, metrics_port)),
        )?);
        addresses.push(format!("127.0.0.1:{port}"));
        metrics.push(format!("http://127.0.0.1:{metrics_port}/metrics"));
    }
    let mut server = Server {
        replicas,
        metrics,
        proxy: None,
        base: format!("http://{}", addresses[0]),
        env,
        keyward: opts.keyward.clone(),
        _dir: dir,
    };
    for address in &addresses {
        wait_ready(&format!("http://{address}"), "keyward").await?;
    }
    if behind_proxy.is_some() {
        let port = free_port()?;
        server.proxy = Some(start_haproxy(server._dir.path(), port, &addresses)?);
        server.base = format!("http://127.0.0.1:{port}");
        wait_ready(&server.base, "HAProxy").await?;
    }
    eprintln!("  creating {} tokens…", CONCURRENCY[2]);
    let tokens = (0..CONCURRENCY[2])
        .map(|i| server.token(&format!("bench-{i}")))
        .collect::<Result<Vec<_>>>()?;
    Ok((server, tokens))
}

/// One API call with a typed body (the wire types of `keyward-proto`), its typed answer.
pub(crate) async fn call<B: serde::Serialize, R: serde::de::DeserializeOwned>(
    client: &Client,
    base: &str,
    token: &str,
    method: &str,
    path: &str,
    body: &B,
) -> Result<R> {
    let req = match method {
        "PUT" => client.put(format!("{base}{path}")),
        _ => client.post(format!("{base}{path}")),
    };
    let res = req.bearer_auth(token).json(body).send().await?;
    let status = res.status();
    let text = res.text().await.unwrap_or_default();
    if !status.is_success() {
        bail!("{method} {path}: {status} {text}");
    }
    serde_json::from_str(&text).with_context(|| format!("{method} {path}: the answer"))
}

/// One TOTP account, and enough accounts with a full generation for every check-out.
pub(crate) async fn seed(
    server: &Server,
    token: &str,
    checkouts: usize,
) -> Result<(String, Vec<String>)> {
    let client = Client::new();
    let base = &server.base;
    let account = |handle: String| {
        let client = client.clone();
        async move {
            let body = CreateAccount {
                team: "marketing".into(),
                platform: "x".into(),
                handle,
                login_url: None,
                notes: None,
            };
            let out: AccountOut =
                call(&client, base, token, "POST", "/api/v1/accounts", &body).await?;
            Ok::<_, anyhow::Error>(out.id)
        }
    };
    let totp = account("@bench_totp".into()).await?;
    let seed = SetOtp::seed(SEED);
    let _: VersionOut = call(
        &client,
        base,
        token,
        "PUT",
        &format!("/api/v1/accounts/{totp}/totp"),
        &seed,
    )
    .await?;
    let needed = checkouts.div_ceil(CODES_PER_GENERATION);
    eprintln!("  importing {needed} generations of {CODES_PER_GENERATION} backup codes…");
    let mut with_codes = Vec::with_capacity(needed);
    for i in 0..needed {
        let id = account(format!("@bench_codes_{i}")).await?;
        let codes = ImportCodes {
            codes: Some(
                (0..CODES_PER_GENERATION)
                    .map(|c| Sensitive::new(format!("{i:05}-{c:05}")))
                    .collect(),
            ),
            block: None,
            issued_on: "2025-12-16".into(),
        };
        let _: ImportedOut = call(
            &client,
            base,
            token,
            "POST",
            &format!("/api/v1/accounts/{id}/backup-codes"),
            &codes,
        )
        .await?;
        with_codes.push(id);
    }
    Ok((totp, with_codes))
}
