//! Forwarding to a SIEM, against real receivers: rsyslogd over TCP and UDP, and an HTTPS
//! webhook receiver that checks HMAC signatures. Outages are staged by stopping a receiver
//! while users keep working, then starting it again on the same port.

use crate::support::idp::{spawn_sso_app_with, Browser};
use crate::support::siem::{
    destination, eventually, free_port, in_order_without_repeats, test_ca, Rsyslog, Webhook,
};
use crate::support::{
    cli_for, expect_json, spawn_process_with, spawn_with, test_settings, TestApp,
};
use keyward::store::audit::AuditRow;
use serde_json::Value;
use std::collections::HashMap;

/// rsyslogd and an app forwarding to it over `transport` (`tcp` or `udp`).
async fn syslog_app(transport: &str, public_url: &str) -> (Rsyslog, TestApp) {
    let dir = tempfile::tempdir().unwrap();
    let rsyslog = Rsyslog::start(dir.path()).await;
    let mut settings = test_settings(dir.path()).await;
    settings.public_url = public_url.to_owned();
    let url = format!("{transport}://127.0.0.1:{}", rsyslog.port);
    settings.audit.forward = vec![destination("siem", &url)];
    (rsyslog, spawn_with(dir, settings).await)
}

/// Records `n` account creations (one audit event each) and returns the chain head.
async fn work(app: &TestApp, token: &str, tag: &str, n: usize) -> i64 {
    for i in 0..n {
        app.account(token, "marketing", &format!("@{tag}{i}")).await;
    }
    app.audit_rows().await.last().map_or(0, |r| r.seq)
}

async fn status(app: &TestApp, token: &str) -> Value {
    let body = expect_json(app.get("/api/v1/audit/forwarders", token).await, 200).await;
    body["forwarders"][0].clone()
}

async fn rows_by_seq(app: &TestApp) -> HashMap<i64, AuditRow> {
    app.audit_rows()
        .await
        .into_iter()
        .map(|r| (r.seq, r))
        .collect()
}

/// Checks what rsyslog parsed against the stored events, and returns the seqs in order.
fn check_syslog(received: &[Value], rows: &HashMap<i64, AuditRow>) -> Vec<i64> {
    let mut seqs = Vec::new();
    for m in received {
        let body: Value = serde_json::from_str(m["msg"].as_str().unwrap().trim()).unwrap();
        let seq = body["seq"].as_i64().unwrap();
        let row = &rows[&seq];
        assert_eq!(m["app"], "keyward", "{m}");
        assert_eq!(m["hostname"], "keyward.test", "{m}");
        assert_eq!(m["msgid"], row.action.as_str(), "{m}");
        assert_eq!(m["facility"], "16", "local0: {m}");
        assert_eq!(
            m["severity"],
            if row.outcome == "success" { "5" } else { "4" },
            "{m}"
        );
        let sd = m["sd"].as_str().unwrap();
        assert!(
            sd.starts_with(&format!(
                "[keyward@32473 seq=\"{seq}\" actor=\"{}\"",
                row.actor
            )),
            "{sd}"
        );
        assert!(sd.contains(&format!("hash=\"{}\"", row.hash)), "{sd}");
        assert_eq!(body["hash"], row.hash.as_str());
        assert_eq!(body["prev_hash"], row.prev_hash.as_str());
        let at = chrono::DateTime::parse_from_rfc3339(m["timestamp"].as_str().unwrap()).unwrap();
        assert_eq!(at, row.at, "the event's own time is the syslog timestamp");
        seqs.push(seq);
    }
    seqs
}

#[tokio::test]
async fn syslog_over_tcp_gets_every_event_in_order_through_an_outage() {
    let (mut rsyslog, app) = syslog_app("tcp", "http://keyward.test:8080").await;
    let manager = app.token("manager", "marketing").await;
    let auditor = app.token("auditor", "*").await;

    let head = work(&app, &manager, "before", 6).await;
    eventually("rsyslog has every event", || async {
        rsyslog.received().len() as i64 >= head
    })
    .await;

    // The receiver goes away; people keep working and nothing they do fails or waits.
    rsyslog.stop();
    let head = work(&app, &manager, "during", 6).await;
    eventually("the forwarder reports the outage", || async {
        status(&app, &auditor).await["failures"]
            .as_i64()
            .unwrap_or(0)
            >= 2
    })
    .await;
    let down = status(&app, &auditor).await;
    assert_eq!(down["state"], "retrying");
    assert_eq!(down["kind"], "syslog");
    assert!(down["lag"].as_i64().unwrap() > 0, "{down}");
    let error = down["last_error"].as_str().unwrap();
    assert!(
        error.contains(&format!("tcp://127.0.0.1:{}", rsyslog.port)) && error.contains("connect"),
        "{error}"
    );

    rsyslog.restart().await;
    eventually("the backlog arrives after the outage", || async {
        status(&app, &auditor).await["lag"] == 0
    })
    .await;
    let received = rsyslog.received();
    let seqs = check_syslog(&received, &rows_by_seq(&app).await);
    assert_eq!(
        in_order_without_repeats(&seqs),
        (1..=head).collect::<Vec<_>>()
    );
    let up = status(&app, &auditor).await;
    assert_eq!(up["state"], "up to date", "{up}");
    assert_eq!(up["failures"], 0);
    assert_eq!(up["delivered_seq"], head);
}

#[tokio::test]
async fn syslog_over_udp_sends_rfc5424_datagrams() {
    let (rsyslog, app) = syslog_app("udp", "https://keyward.test").await;
    let manager = app.token("manager", "marketing").await;
    // A denied attempt is forwarded too, as a warning.
    let viewer = app.token("viewer", "marketing").await;
    let res = app
        .post(
            "/api/v1/accounts",
            &viewer,
            serde_json::json!({"team": "marketing", "platform": "x", "handle": "@no"}),
        )
        .await;
    assert_eq!(res.status().as_u16(), 403);
    let head = work(&app, &manager, "udp", 3).await;

    eventually("rsyslog has every datagram", || async {
        rsyslog.received().len() as i64 >= head
    })
    .await;
    let rows = rows_by_seq(&app).await;
    let seqs = check_syslog(&rsyslog.received(), &rows);
    assert_eq!(
        in_order_without_repeats(&seqs),
        (1..=head).collect::<Vec<_>>()
    );
    assert!(
        rows.values().any(|r| r.outcome == "denied"),
        "a denied event was among them"
    );
}

/// The seqs a webhook receiver accepted, checking each delivery's range and events.
fn webhook_seqs(lines: &[Value], rows: &HashMap<i64, AuditRow>) -> Vec<i64> {
    let mut seqs = Vec::new();
    for line in lines.iter().filter(|l| l.get("delivery").is_some()) {
        let body = &line["body"];
        assert_eq!(line["content_type"], "application/json");
        assert_eq!(body["source"], "keyward");
        assert_eq!(body["forwarder"], "siem-hook");
        let events = body["events"].as_array().unwrap();
        let (first, last) = (
            body["first_seq"].as_i64().unwrap(),
            body["last_seq"].as_i64().unwrap(),
        );
        assert_eq!(line["delivery"], format!("siem-hook:{first}-{last}"));
        assert_eq!(events.first().unwrap()["seq"], first);
        assert_eq!(events.last().unwrap()["seq"], last);
        for e in events {
            let seq = e["seq"].as_i64().unwrap();
            assert_eq!(e["hash"], rows[&seq].hash.as_str());
            assert_eq!(e["action"], rows[&seq].action.as_str());
            seqs.push(seq);
        }
    }
    seqs
}

#[tokio::test]
async fn the_webhook_gets_signed_batches_and_retries_until_they_are_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let ca = test_ca(dir.path());
    let key = dir.path().join("webhook.key");
    std::fs::write(&key, "3f9a6c0e2b7d41a8b5c9e0f1d2a3b4c5\n").unwrap();
    let other_key = dir.path().join("other.key");
    std::fs::write(&other_key, "a different key, so signatures fail").unwrap();

    // First the receiver holds another key: every delivery is refused as badly signed.
    let mut receiver = Webhook::start(0, &ca, &other_key, 0).await;
    let port = receiver.port;
    let mut settings = test_settings(dir.path()).await;
    let mut hook = destination("siem-hook", &format!("https://127.0.0.1:{port}/keyward"));
    hook.secret_file = Some(key.clone());
    hook.ca_file = Some(ca.ca.clone());
    settings.audit.forward = vec![hook];
    let app = spawn_with(dir, settings).await;
    let manager = app.token("manager", "marketing").await;
    let auditor = app.token("auditor", "*").await;
    work(&app, &manager, "signed", 5).await;

    eventually("the receiver refuses a bad signature", || async {
        status(&app, &auditor).await["failures"]
            .as_i64()
            .unwrap_or(0)
            >= 2
    })
    .await;
    let refused = status(&app, &auditor).await;
    assert_eq!(
        refused["last_error"],
        format!("https://127.0.0.1:{port}: answered HTTP 401")
    );
    assert!(receiver
        .lines()
        .iter()
        .all(|l| l["rejected"] == "signature"));
    receiver.stop();

    // With the right key, and two 503s before it accepts anything.
    let mut accepted = Vec::new();
    let mut receiver = Webhook::start(port, &ca, &key, 2).await;
    let head = work(&app, &manager, "retried", 5).await;
    eventually("every event is accepted", || async {
        status(&app, &auditor).await["lag"] == 0
    })
    .await;
    let lines = receiver.lines();
    assert_eq!(
        lines
            .iter()
            .filter(|l| l["rejected"] == "fail_first")
            .count(),
        2,
        "{lines:?}"
    );
    assert!(
        lines.iter().all(|l| l["rejected"] != "signature"),
        "every signature checked out"
    );
    accepted.extend(lines);
    receiver.stop();

    // An outage in the middle of work: actions succeed, the backlog follows in order.
    let head_during = work(&app, &manager, "outage", 5).await;
    assert!(head_during > head);
    eventually("the outage shows", || async {
        status(&app, &auditor).await["state"] == "retrying"
    })
    .await;
    let receiver = Webhook::start(port, &ca, &key, 0).await;
    eventually("the backlog is accepted", || async {
        status(&app, &auditor).await["lag"] == 0
    })
    .await;
    accepted.extend(receiver.lines());
    let seqs = webhook_seqs(&accepted, &rows_by_seq(&app).await);
    assert_eq!(
        in_order_without_repeats(&seqs),
        (1..=head_during).collect::<Vec<_>>()
    );
    let batches = accepted
        .iter()
        .filter(|l| l.get("delivery").is_some())
        .count();
    assert!(
        batches >= (head_during as usize).div_ceil(4),
        "batches of at most 4 events"
    );
}

#[tokio::test]
async fn two_replicas_share_one_cursor_and_send_each_event_once() {
    let dir = tempfile::tempdir().unwrap();
    let ca = test_ca(dir.path());
    let key = dir.path().join("webhook.key");
    std::fs::write(&key, "0123456789abcdef0123456789abcdef").unwrap();
    let receiver = Webhook::start(0, &ca, &key, 0).await;
    let mut settings = test_settings(dir.path()).await;
    let mut hook = destination(
        "siem-hook",
        &format!("https://127.0.0.1:{}/keyward", receiver.port),
    );
    hook.secret_file = Some(key.clone());
    hook.ca_file = Some(ca.ca.clone());
    settings.audit.forward = vec![hook];
    let second_dir = tempfile::tempdir().unwrap();
    let a = spawn_with(dir, settings.clone()).await;
    let b = spawn_with(second_dir, settings).await;
    let manager = a.token("manager", "marketing").await;
    let auditor = a.token("auditor", "*").await;
    for i in 0..4 {
        work(&a, &manager, &format!("a{i}-"), 3).await;
        work(&b, &manager, &format!("b{i}-"), 3).await;
    }
    let head = a.audit_rows().await.last().unwrap().seq;
    eventually("both replicas' events are delivered", || async {
        status(&a, &auditor).await["delivered_seq"] == head
    })
    .await;
    let seqs = webhook_seqs(&receiver.lines(), &rows_by_seq(&a).await);
    assert_eq!(
        seqs,
        (1..=head).collect::<Vec<_>>(),
        "each event once, in order"
    );
}

#[tokio::test]
async fn a_destination_that_cannot_be_set_up_stops_start_up_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = test_settings(dir.path()).await;
    let mut hook = destination("siem-hook", &format!("https://127.0.0.1:{}/x", free_port()));
    hook.secret_file = Some(dir.path().join("missing.key"));
    settings.audit.forward = vec![hook];
    let core = keyward::startup::build_core(&settings, true).await.unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let err = keyward::startup::Application::with_listener(&settings, core, listener)
        .err()
        .expect("start-up fails")
        .to_string();
    assert!(
        err.contains("audit.forward \"siem-hook\": secret_file") && err.contains("missing.key"),
        "{err}"
    );
}

#[tokio::test]
async fn the_audit_page_shows_each_destination_and_what_retention_archived() {
    let siem_dir = tempfile::tempdir().unwrap();
    let rsyslog = Rsyslog::start(siem_dir.path()).await;
    let port = rsyslog.port;
    let app = spawn_sso_app_with("", |settings, dir| {
        settings.audit.archive_dir = Some(dir.join("archive"));
        settings.audit.forward = vec![destination("siem", &format!("tcp://127.0.0.1:{port}"))];
    })
    .await;
    let manager = app.token("manager", "*").await;
    let auditor = app.token("auditor", "*").await;
    let head = work(&app, &manager, "page", 3).await;
    eventually("the SIEM has everything", || async {
        status(&app, &auditor).await["delivered_seq"] == head
    })
    .await;
    let cutoff = chrono::Utc::now() + chrono::Duration::seconds(1);
    let archived = app
        .core
        .archive_audit("system", cutoff, |_| {})
        .await
        .unwrap();
    assert_eq!(
        archived.iter().map(|a| a.last_seq).collect::<Vec<_>>(),
        [head - 1]
    );

    let browser = Browser::new();
    browser.sign_in(&app.base, "olga").await;
    let page = browser.page(&format!("{}/audit", app.base)).await;
    assert!(page.contains(r#"data-ok="true""#), "{page}");
    assert!(
        page.contains(&format!(
            "Events up to #{} were archived by retention",
            head - 1
        )),
        "{page}"
    );
    assert!(
        page.contains(r#"data-testid="forwarder" data-state="#)
            && page.contains(&format!("syslog → tcp://127.0.0.1:{port}")),
        "{page}"
    );
    assert!(!page.contains("No SIEM destination is configured"));
}

#[tokio::test]
async fn a_replica_that_dies_mid_outage_hands_over_after_its_lease_and_nothing_is_lost() {
    let dir = tempfile::tempdir().unwrap();
    let ca = test_ca(dir.path());
    let key = dir.path().join("webhook.key");
    std::fs::write(&key, "0123456789abcdef0123456789abcdef").unwrap();
    let mut receiver = Webhook::start(0, &ca, &key, 0).await;
    let port = receiver.port;
    let mut settings = test_settings(dir.path()).await;
    let mut hook = destination("siem-hook", &format!("https://127.0.0.1:{port}/keyward"));
    hook.secret_file = Some(key.clone());
    hook.ca_file = Some(ca.ca.clone());
    hook.timeout_seconds = 2; // a lease of 10 s
    settings.audit.forward = vec![hook];
    // Replica A is a real `keyward serve` process, configured from a file.
    let config = dir.path().join("keyward.toml");
    std::fs::write(
        &config,
        format!(
            "[[audit.forward]]\nname = \"siem-hook\"\nurl = \"https://127.0.0.1:{port}/keyward\"\n\
             secret_file = {:?}\nca_file = {:?}\nbatch_size = 4\ntimeout_seconds = 2\nmax_backoff_seconds = 1\n",
            key.display().to_string(),
            ca.ca.display().to_string()
        ),
    )
    .unwrap();
    assert!(cli_for(&settings)
        .arg("migrate")
        .status()
        .unwrap()
        .success());
    let out = cli_for(&settings)
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
        .unwrap();
    let token = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .last()
        .unwrap()
        .to_owned();
    let a = spawn_process_with(
        &settings,
        &[("KEYWARD_CONFIG", config.display().to_string())],
    )
    .await;
    let client = reqwest::Client::new();
    let create = |handle: String| {
        let (client, base, token) = (client.clone(), a.base.clone(), token.clone());
        async move {
            let res = client
                .post(format!("{base}/api/v1/accounts"))
                .bearer_auth(token)
                .json(&serde_json::json!({"team": "marketing", "platform": "x", "handle": handle}))
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), 201);
        }
    };
    for i in 0..3 {
        create(format!("@a{i}")).await;
    }
    eventually("replica A delivers", || async {
        receiver
            .lines()
            .iter()
            .filter(|l| l.get("delivery").is_some())
            .count()
            > 0
    })
    .await;
    let mut accepted = Vec::new();

    // The SIEM goes down; A keeps retrying (and renewing its lease), then dies.
    receiver.stop();
    accepted.extend(receiver.lines());
    for i in 3..6 {
        create(format!("@a{i}")).await;
    }
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    drop(a);

    // Replica B takes over once A's lease has run out, from the stored cursor.
    let receiver = Webhook::start(port, &ca, &key, 0).await;
    let b = spawn_with(tempfile::tempdir().unwrap(), settings).await;
    let auditor = b.token("auditor", "*").await;
    let head = b.audit_rows().await.last().unwrap().seq;
    eventually("replica B delivers the backlog", || async {
        status(&b, &auditor).await["delivered_seq"] == head
    })
    .await;
    accepted.extend(receiver.lines());
    let seqs = webhook_seqs(&accepted, &rows_by_seq(&b).await);
    assert_eq!(
        in_order_without_repeats(&seqs),
        (1..=head).collect::<Vec<_>>()
    );
    assert!(
        receiver.lines().iter().any(|l| l.get("delivery").is_some()),
        "B sent the backlog"
    );
}
