//! Real SIEM receivers for the forwarding tests: Debian's rsyslogd (RFC 5424 over TCP and
//! UDP, written to a file as one JSON object per message) and an HTTPS webhook receiver in
//! Node that checks each delivery's HMAC signature. Both can be stopped and restarted on the
//! same port to stage an outage.

use keyward::config::ForwardSettings;
use serde_json::Value;
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A destination with test-friendly settings: small batches, short timeouts and backoff.
pub fn destination(name: &str, url: &str) -> ForwardSettings {
    ForwardSettings {
        name: name.to_owned(),
        url: url.to_owned(),
        secret_file: None,
        secret_env: None,
        ca_file: None,
        start: "beginning".to_owned(),
        batch_size: 4,
        facility: "local0".to_owned(),
        timeout_seconds: 3,
        max_backoff_seconds: 1,
    }
}

/// A port nobody listens on right now (TCP and UDP).
pub fn free_port() -> u16 {
    loop {
        let tcp = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = tcp.local_addr().expect("addr").port();
        if std::net::UdpSocket::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

fn rsyslogd() -> PathBuf {
    let path = std::env::var_os("KW_RSYSLOGD")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/sbin/rsyslogd"));
    assert!(
        path.exists(),
        "{} not found: install rsyslog (`make test-deps` does)",
        path.display()
    );
    path
}

/// rsyslogd listening on 127.0.0.1:`port` (TCP and UDP).
pub struct Rsyslog {
    pub port: u16,
    dir: PathBuf,
    child: Option<Child>,
}

impl Rsyslog {
    pub async fn start(dir: &Path) -> Self {
        let mut me = Self {
            port: free_port(),
            dir: dir.join("rsyslog"),
            child: None,
        };
        std::fs::create_dir_all(&me.dir).expect("rsyslog dir");
        me.restart().await;
        me
    }

    /// Starts (again) on the same port and output file.
    pub async fn restart(&mut self) {
        assert!(self.child.is_none(), "rsyslogd is already running");
        let conf = self.dir.join("rsyslog.conf");
        let fields = [
            ("facility", "syslogfacility"),
            ("severity", "syslogseverity"),
            ("timestamp", "timereported"),
            ("hostname", "hostname"),
            ("app", "app-name"),
            ("procid", "procid"),
            ("msgid", "msgid"),
            ("sd", "structured-data"),
            ("msg", "msg"),
        ];
        let props: Vec<String> = fields
            .iter()
            .map(|(out, name)| {
                let date = if *name == "timereported" {
                    " dateFormat=\"rfc3339\""
                } else {
                    ""
                };
                format!("  property(outname=\"{out}\" name=\"{name}\" format=\"jsonf\"{date})")
            })
            .collect();
        let config = format!(
            r#"global(workDirectory="{dir}")
module(load="imtcp")
module(load="imudp")
template(name="kw" type="list" option.jsonf="on") {{
{props}
}}
ruleset(name="kw") {{ action(type="omfile" file="{dir}/received.jsonl" template="kw") }}
input(type="imtcp" address="127.0.0.1" port="{port}" ruleset="kw")
input(type="imudp" address="127.0.0.1" port="{port}" ruleset="kw")
"#,
            dir = self.dir.display(),
            props = props.join("\n"),
            port = self.port,
        );
        std::fs::write(&conf, config).expect("rsyslog.conf");
        let child = Command::new(rsyslogd())
            .arg("-n")
            .arg("-f")
            .arg(&conf)
            .arg("-i")
            .arg(self.dir.join("rsyslogd.pid"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("rsyslogd starts");
        self.child = Some(child);
        for _ in 0..200 {
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("rsyslogd did not listen on port {}", self.port);
    }

    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Every message received so far, as rsyslog parsed it.
    pub fn received(&self) -> Vec<Value> {
        let Ok(text) = std::fs::read_to_string(self.dir.join("received.jsonl")) else {
            return Vec::new();
        };
        // A last line without its newline is still being written: not received yet.
        let complete = text.rsplit_once('\n').map_or("", |(done, _)| done);
        complete
            .lines()
            .map(|l| serde_json::from_str(l).expect("rsyslog wrote JSON"))
            .collect()
    }
}

impl Drop for Rsyslog {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A CA and a certificate for 127.0.0.1 signed by it, made with the openssl command line.
pub struct TestCa {
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

pub fn test_ca(dir: &Path) -> TestCa {
    let run = |args: &[&str]| {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("openssl runs");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    run(&[
        &["req", "-x509"][..],
        &ec,
        &[
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "2",
            "-subj",
            "/CN=Keyward test CA",
        ],
    ]
    .concat());
    run(&[
        &["req"][..],
        &ec,
        &[
            "-keyout",
            "leaf.key",
            "-out",
            "leaf.csr",
            "-subj",
            "/CN=127.0.0.1",
        ],
    ]
    .concat());
    std::fs::write(
        dir.join("leaf.ext"),
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .expect("ext file");
    run(&[
        "x509",
        "-req",
        "-in",
        "leaf.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "leaf.pem",
        "-days",
        "2",
        "-extfile",
        "leaf.ext",
    ]);
    TestCa {
        ca: dir.join("ca.pem"),
        cert: dir.join("leaf.pem"),
        key: dir.join("leaf.key"),
    }
}

/// The Node webhook receiver; `lines` collects what it printed, one JSON value per request.
pub struct Webhook {
    pub port: u16,
    pub lines: Arc<Mutex<Vec<Value>>>,
    child: Option<Child>,
}

impl Webhook {
    /// Starts on `port` (0: any) checking signatures with the key in `secret_file`; the
    /// first `fail_first` good deliveries get 503.
    pub async fn start(port: u16, ca: &TestCa, secret_file: &Path, fail_first: u32) -> Self {
        let script =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/siem/webhook-receiver.mjs");
        let mut child = Command::new("node")
            .arg(script)
            .arg(port.to_string())
            .arg(&ca.cert)
            .arg(&ca.key)
            .arg(secret_file)
            .arg(fail_first.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("node starts the webhook receiver");
        let stdout = child.stdout.take().expect("stdout");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let (port_tx, port_rx) = std::sync::mpsc::channel();
        let sink = lines.clone();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
            {
                let value: Value = serde_json::from_str(&line).expect("receiver prints JSON");
                if let Some(port) = value["listening"].as_u64() {
                    let _ = port_tx.send(port as u16);
                } else {
                    sink.lock().expect("lines").push(value);
                }
            }
        });
        let port =
            tokio::task::spawn_blocking(move || port_rx.recv_timeout(Duration::from_secs(10)))
                .await
                .expect("join")
                .expect("the webhook receiver listens");
        Self {
            port,
            lines,
            child: Some(child),
        }
    }

    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub fn lines(&self) -> Vec<Value> {
        self.lines.lock().expect("lines").clone()
    }
}

impl Drop for Webhook {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Waits (up to 30 s) until `done` holds, polling every 100 ms; panics with `what` otherwise.
pub async fn eventually<F, Fut>(what: &str, mut done: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..300 {
        if done().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("timed out waiting until {what}");
}

/// The sequence numbers in delivery order with repeats (at-least-once re-sends) removed,
/// asserting that a repeat only ever goes back to re-send, never skips ahead.
pub fn in_order_without_repeats(seqs: &[i64]) -> Vec<i64> {
    let mut out: Vec<i64> = Vec::new();
    for &seq in seqs {
        match out.last() {
            Some(&last) if seq <= last => {
                assert!(
                    out.contains(&seq),
                    "seq {seq} arrived after {last} but was never sent before"
                );
            }
            Some(&last) => assert_eq!(seq, last + 1, "seq {seq} arrived right after {last}: a gap"),
            None => {}
        }
        if out.last().is_none_or(|&last| seq > last) {
            out.push(seq);
        }
    }
    out
}
