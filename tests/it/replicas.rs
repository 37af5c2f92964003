//! Three `keyward serve` replicas on one database behind a real HAProxy (Debian's): mixed
//! load, one replica killed with SIGKILL mid-run, another stopped with SIGTERM.

use crate::support::idp::{start_idp, Browser};
use crate::support::siem::{destination, free_port, Rsyslog};
use crate::support::{spawn_process_with, spawn_with, test_settings, ServerProcess};
use futures_util::future::join_all;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

struct Haproxy(Child);

impl Drop for Haproxy {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// HAProxy on `port` before the replicas: /readyz checks every 300 ms, a response header
/// naming the replica that served it, retries on another replica only when the connection
/// failed, and no server-side keep-alive (so a stopping replica is never sent a request on
/// a connection it is closing).
async fn start_haproxy(dir: &Path, port: u16, replicas: &[&ServerProcess]) -> Haproxy {
    let servers: String = replicas
        .iter()
        .enumerate()
        .map(|(i, r)| {
            format!(
                "    server r{i} {} check\n",
                r.base.trim_start_matches("http://")
            )
        })
        .collect();
    let cfg = format!(
        "defaults\n    mode http\n    timeout connect 1s\n    timeout client 30s\n    timeout server 30s\n\
         \x20   retries 3\n    retry-on conn-failure\n    option redispatch\n    option http-server-close\n\
         frontend keyward\n    bind 127.0.0.1:{port}\n    default_backend replicas\n\
         backend replicas\n    balance roundrobin\n    option httpchk GET /readyz\n\
         \x20   http-check expect status 200\n    default-server inter 300ms fall 1 rise 1\n\
         \x20   http-response set-header X-Served-By %s\n{servers}"
    );
    let path = dir.join("haproxy.cfg");
    std::fs::write(&path, cfg).unwrap();
    let child = Command::new("haproxy")
        .args(["-db", "-f"])
        .arg(&path)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("HAProxy (Debian's haproxy) is installed by make test-deps");
    let proxy = Haproxy(child);
    let client = reqwest::Client::new();
    for _ in 0..100 {
        if client
            .get(format!("http://127.0.0.1:{port}/readyz"))
            .send()
            .await
            .is_ok_and(|r| r.status() == 200)
        {
            return proxy;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("HAProxy never answered on {port}");
}

/// One request's result: when it was sent, its status (None: no answer) and who served it.
#[derive(Debug, Clone)]
struct Outcome {
    sent: Instant,
    status: Option<u16>,
    served_by: Option<String>,
    /// Why there was no answer (read through Debug, in failure messages).
    #[allow(dead_code)]
    error: Option<String>,
}

#[derive(Default)]
struct Log(Mutex<Vec<Outcome>>);

impl Log {
    fn record(&self, sent: Instant, res: &Result<reqwest::Response, reqwest::Error>) {
        let (status, served_by, error) = match res {
            Ok(r) => (
                Some(r.status().as_u16()),
                r.headers()
                    .get("x-served-by")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned),
                None,
            ),
            Err(e) => (None, None, Some(format!("{e:?}"))),
        };
        self.0.lock().unwrap().push(Outcome {
            sent,
            status,
            served_by,
            error,
        });
    }
}

/// The settings file the replicas read: the test's settings with OIDC, public_url pointing
/// at HAProxy, and forwarding.
fn write_config(settings: &keyward::config::Settings, dir: &Path) -> std::path::PathBuf {
    let path = dir.join("replicas.toml");
    std::fs::write(&path, toml::to_string(settings).unwrap()).unwrap();
    path
}

#[tokio::test]
async fn three_replicas_behind_haproxy_survive_a_kill_and_a_drain_with_one_chain_and_each_code_once(
) {
    let dir = tempfile::tempdir().unwrap();
    let proxy_port = free_port();
    let public = format!("http://127.0.0.1:{proxy_port}");
    let idp = start_idp(&format!("{public}/auth/callback"), "");
    let rsyslog = Rsyslog::start(dir.path()).await;
    let mut settings = test_settings(dir.path()).await;
    settings.public_url = public.clone();
    crate::support::idp::sign_in_through(&mut settings, &idp);
    // Group commit across replicas is the mode with the most to get wrong (see the
    // PostgreSQL chain lock in store/group.rs); the default mode is covered by the
    // two-process chain test.
    settings.database.group_commit = Some(true);
    let state = tempfile::tempdir().unwrap();
    // The in-process app sets things up and forwards nothing: only the replicas do.
    let app = spawn_with(state, settings).await;
    let manager = app.token("manager", "marketing").await;
    let id = app.account(&manager, "marketing", "@replicated").await;
    app.set_totp(&manager, &id, "JBSWY3DPEHPK3PXP").await;
    // Two accounts with a generation of 50 codes each; two check-out workers per account,
    // on whichever replicas HAProxy picks.
    let mut pools = Vec::new();
    for n in 0..2 {
        let pool = app
            .account(&manager, "marketing", &format!("@codes{n}"))
            .await;
        let codes: Vec<String> = (0..50)
            .map(|i| format!("{n}{i:03}-{:04}", (9973 * (i + 50 * n)) % 10000))
            .collect();
        let res = app
            .post(
                &format!("/api/v1/accounts/{pool}/backup-codes"),
                &manager,
                json!({"codes": codes, "issued_on": "2026-12-01"}),
            )
            .await;
        assert_eq!(res.status(), 201);
        pools.push(pool);
    }
    let mut replica_settings = app.settings.clone();
    let mut syslog = destination("siem-syslog", &format!("tcp://127.0.0.1:{}", rsyslog.port));
    syslog.timeout_seconds = 1; // a short lease, so a survivor takes over soon
    replica_settings.audit.forward = vec![syslog];
    // A drain gets the production default's time (the tests' 1 s can cut off a request
    // queued behind others on a busy machine).
    replica_settings.http.shutdown_timeout = 30;
    let config = write_config(&replica_settings, dir.path());
    let env = [
        ("KEYWARD_CONFIG", config.display().to_string()),
        // On SIGTERM /readyz fails for a second before the listener closes: HAProxy (checks
        // every 300 ms) stops sending new requests first.
        ("KEYWARD_HTTP__DRAIN_SECONDS", "1".to_owned()),
    ];
    let mut replicas = vec![
        spawn_process_with(&app.settings, &env).await,
        spawn_process_with(&app.settings, &env).await,
        spawn_process_with(&app.settings, &env).await,
    ];
    let names: Vec<String> = (0..3).map(|i| format!("r{i}")).collect();
    let _proxy = start_haproxy(dir.path(), proxy_port, &replicas.iter().collect::<Vec<_>>()).await;

    // A member signs in through HAProxy (the IdP's redirect comes back to any replica).
    let browser = Browser::new();
    let signed_in = browser.sign_in(&public, "alice").await;
    assert!(
        signed_in.status().is_redirection(),
        "{}",
        signed_in.status()
    );

    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let log = Arc::new(Log::default());
    let handed: Arc<Mutex<Vec<String>>> = Arc::default();
    let client = reqwest::Client::new();
    let mut workers = Vec::new();
    for w in 0..12 {
        let token = app.token("operator", "marketing").await;
        let (stop, log, handed, client) =
            (stop.clone(), log.clone(), handed.clone(), client.clone());
        // Workers 0, 3, 6 and 9 check out codes; the others reveal the TOTP code.
        let (path, account) = if w % 3 == 0 {
            ("backup-codes/checkout", pools[w / 3 % 2].clone())
        } else {
            ("totp/code", id.clone())
        };
        let public = public.clone();
        workers.push(tokio::spawn(async move {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let sent = Instant::now();
                let res = client
                    .post(format!("{public}/api/v1/accounts/{account}/{path}"))
                    .bearer_auth(&token)
                    .json(&json!({"justification": "replicas test"}))
                    .send()
                    .await;
                log.record(sent, &res);
                if let Ok(res) = res {
                    if res.status() == 200 && path.starts_with("backup") {
                        let body: Value = res.json().await.unwrap();
                        handed
                            .lock()
                            .unwrap()
                            .push(body["code"].as_str().unwrap().to_owned());
                    }
                }
            }
        }));
    }
    // The signed-in member browses meanwhile: the session works on every replica.
    let pages = {
        let (stop, log, public) = (stop.clone(), log.clone(), public.clone());
        let client = browser.client.clone();
        tokio::spawn(async move {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let sent = Instant::now();
                let res = client.get(format!("{public}/accounts")).send().await;
                log.record(sent, &res);
            }
        })
    };

    tokio::time::sleep(Duration::from_millis(1500)).await;
    let killed_at = Instant::now();
    replicas[0].kill9();
    tokio::time::sleep(Duration::from_millis(2000)).await;
    // SIGTERM: the replica stops taking connections and finishes what it has.
    let drained_at = Instant::now();
    let drained = replicas.remove(1);
    let status = drained.terminate();
    assert!(
        status.success(),
        "a drained replica exits cleanly: {status:?}"
    );
    tokio::time::sleep(Duration::from_millis(1500)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    join_all(workers).await;
    pages.await.unwrap();

    let outcomes = log.0.lock().unwrap().clone();
    let served: BTreeMap<String, usize> = outcomes.iter().fold(BTreeMap::new(), |mut m, o| {
        if let Some(by) = &o.served_by {
            *m.entry(by.clone()).or_default() += 1;
        }
        m
    });
    assert!(
        names.iter().all(|n| served.contains_key(n)),
        "every replica served requests: {served:?}"
    );
    // Before the kill: everything succeeded. After it, only requests that were already in
    // flight to the killed replica may fail (HAProxy answers 502/503 for them) until its
    // health check takes it out; requests to the survivors all succeed; the drain loses
    // nothing.
    let health_window = Duration::from_millis(1000);
    for o in &outcomes {
        // 409: a generation ran out, a correct answer.
        let ok = matches!(o.status, Some(200 | 409));
        let dead = o.served_by.as_deref() == Some("r0") || o.served_by.is_none();
        // In flight at the kill: sent up to a second before it.
        if o.sent + health_window < killed_at || o.sent > killed_at + health_window {
            assert!(
                ok,
                "a request failed outside the kill's window ({:?} after the kill, {:?} after the drain): {o:?}",
                o.sent.checked_duration_since(killed_at),
                o.sent.checked_duration_since(drained_at)
            );
        } else {
            assert!(ok || dead, "a survivor failed a request: {o:?}");
        }
        if o.sent > killed_at + health_window {
            assert_ne!(
                o.served_by.as_deref(),
                Some("r0"),
                "the killed replica answered: {o:?}"
            );
        }
        if o.sent > drained_at + health_window {
            assert_ne!(
                o.served_by.as_deref(),
                Some("r1"),
                "the drained replica answered: {o:?}"
            );
        }
    }
    let after_kill = outcomes
        .iter()
        .filter(|o| o.sent > killed_at + health_window)
        .count();
    let failed = outcomes.iter().filter(|o| o.status != Some(200)).count();
    eprintln!(
        "served by replica {served:?}; {} requests, {failed} not 200, {after_kill} after the kill",
        outcomes.len()
    );
    assert!(after_kill > 50, "load went on after the kill: {after_kill}");

    // Each backup code was handed out once across replicas, in order, and each hand-out is
    // in the trail.
    let handed = handed.lock().unwrap().clone();
    let distinct: BTreeSet<&String> = handed.iter().collect();
    assert_eq!(distinct.len(), handed.len(), "a code was handed out twice");
    assert!(handed.len() >= 5, "check-outs ran: {}", handed.len());
    let rows = app.audit_rows().await;
    let checkouts = rows
        .iter()
        .filter(|r| r.action == "backup.checkout" && r.outcome == "success")
        .count();
    assert!(
        checkouts >= handed.len(),
        "{checkouts} events for {} codes",
        handed.len()
    );
    let seqs: Vec<i64> = rows.iter().map(|r| r.seq).collect();
    assert_eq!(seqs, (1..=rows.len() as i64).collect::<Vec<_>>(), "no gap");

    // Forwarding ran on one replica at a time and a survivor finished it: rsyslog gets every
    // event, in order of first delivery, after the killed or drained holder's lease ends.
    let head = *seqs.last().unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let delivered = loop {
        let got: BTreeSet<i64> = rsyslog
            .received()
            .iter()
            .map(|m| {
                let body: Value = serde_json::from_str(m["msg"].as_str().unwrap().trim()).unwrap();
                body["seq"].as_i64().unwrap()
            })
            .collect();
        if got.len() as i64 >= head || Instant::now() > deadline {
            break got;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let missing: Vec<i64> = (1..=head).filter(|s| !delivered.contains(s)).collect();
    assert!(missing.is_empty(), "events never forwarded: {missing:?}");

    let out = crate::support::cli_for(&app.settings)
        .args(["audit", "verify"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "audit verify: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
