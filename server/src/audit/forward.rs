//! Forwarding the trail to a SIEM: syslog (RFC 5424 over TCP or UDP) or an HTTPS webhook
//! with an HMAC-signed body.
//!
//! Each destination has a cursor in the database: the last sequence number it received.
//! A forwarder reads the events after its cursor, delivers them in order as one batch, and
//! moves the cursor only once the batch is confirmed, so an outage delays delivery but never
//! loses or reorders it (at-least-once: after a failure mid-batch the batch is sent again).
//! User actions never wait for a forwarder: they only append to the table the forwarder reads.
//! With several replicas, a lease on the cursor row lets one of them send at a time.
//!
//! Confirmation: a webhook confirms with any 2xx answer. A syslog TCP batch goes over its own
//! connection, which Keyward half-closes after the last frame; the batch counts as received
//! when the receiver has read to the end and closed its side. UDP has no confirmation at all:
//! a datagram is sent once and the cursor moves on (use TCP or the webhook where loss matters).

use super::export::to_json;
use crate::config::{redacted_url, ForwardSettings};
use crate::store::audit::{self as repo, AuditRow};
use crate::store::Store;
use chrono::SecondsFormat;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use zeroize::Zeroizing;

/// The structured-data id of Keyward's syslog parameters (32473 is the private enterprise
/// number reserved for documentation, RFC 5612).
pub const SD_ID: &str = "keyward@32473";
/// UDP datagrams are kept below this size; a longer message body is cut.
const UDP_MAX: usize = 8192;
/// How often an idle forwarder looks for new events.
const POLL: Duration = Duration::from_secs(1);

/// A delivery or set-up failure. The text names the destination's host, never a secret.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ForwardError(pub String);

impl From<sea_orm::DbErr> for ForwardError {
    fn from(err: sea_orm::DbErr) -> Self {
        Self(format!("database: {err}"))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Transport {
    Tcp,
    Udp,
}

enum Sink {
    Syslog {
        transport: Transport,
        address: String,
        facility: u8,
        hostname: String,
    },
    Webhook {
        url: String,
        client: reqwest::Client,
        key: Zeroizing<Vec<u8>>,
    },
}

/// One configured destination, ready to deliver.
pub struct Forwarder {
    pub name: String,
    /// Scheme, host and port: what logs and the status page show.
    pub destination: String,
    sink: Sink,
    batch: u64,
    from_now: bool,
    timeout: Duration,
    max_backoff: Duration,
}

impl Forwarder {
    /// Builds a destination from its settings; `hostname` names this Keyward in syslog.
    pub fn new(settings: &ForwardSettings, hostname: &str) -> Result<Self, ForwardError> {
        let bad = |msg: String| ForwardError(format!("audit.forward {:?}: {msg}", settings.name));
        let url = url::Url::parse(&settings.url).map_err(|_| bad("url is not a URL".into()))?;
        let timeout = Duration::from_secs(u64::from(settings.timeout_seconds));
        let sink = match url.scheme() {
            scheme @ ("tcp" | "udp") => Sink::Syslog {
                transport: if scheme == "tcp" {
                    Transport::Tcp
                } else {
                    Transport::Udp
                },
                address: format!(
                    "{}:{}",
                    url.host_str().unwrap_or_default(),
                    url.port().unwrap_or(514)
                ),
                facility: settings
                    .facility_code()
                    .ok_or_else(|| bad("unknown facility".into()))?,
                hostname: syslog_token(hostname, 255),
            },
            "https" => {
                let client =
                    webhook_client(true, timeout, settings.ca_file.as_deref()).map_err(bad)?;
                Sink::Webhook {
                    url: settings.url.clone(),
                    client,
                    key: webhook_key(
                        settings.secret_file.as_deref(),
                        settings.secret_env.as_deref(),
                    )
                    .map_err(bad)?,
                }
            }
            other => return Err(bad(format!("unsupported scheme {other}"))),
        };
        Ok(Self {
            name: settings.name.clone(),
            destination: redacted_url(&settings.url),
            sink,
            batch: u64::from(settings.batch_size.max(1)),
            from_now: settings.start == "now",
            timeout,
            max_backoff: Duration::from_secs(u64::from(settings.max_backoff_seconds.max(1))),
        })
    }

    /// `syslog` or `webhook`.
    pub fn kind(&self) -> &'static str {
        match self.sink {
            Sink::Syslog { .. } => "syslog",
            Sink::Webhook { .. } => "webhook",
        }
    }

    /// How long a replica's lease on the cursor lasts: four deliveries' time (a delivery is
    /// cut off at `timeout`), at least 10 s, so a slow delivery is never overtaken by another
    /// replica sending the same batch, and a replica that dies hands over within that time.
    fn lease(&self) -> chrono::Duration {
        let secs = (self.timeout.as_secs() * 4).max(10);
        chrono::Duration::seconds(i64::try_from(secs).unwrap_or(i64::MAX))
    }

    /// Sends `rows` (in sequence order) and returns once the destination has confirmed them.
    pub async fn deliver(&self, rows: &[AuditRow]) -> Result<(), ForwardError> {
        match tokio::time::timeout(self.timeout, self.send(rows)).await {
            Ok(result) => result,
            Err(_) => Err(ForwardError(format!(
                "{}: no confirmation within {} s",
                self.destination,
                self.timeout.as_secs()
            ))),
        }
    }

    async fn send(&self, rows: &[AuditRow]) -> Result<(), ForwardError> {
        let fail = |what: &str, err: &dyn std::fmt::Display| {
            ForwardError(format!("{}: {what}: {err}", self.destination))
        };
        match &self.sink {
            Sink::Syslog {
                transport: Transport::Tcp,
                address,
                facility,
                hostname,
            } => {
                let mut frames = Vec::new();
                for row in rows {
                    let msg = syslog_message(row, *facility, hostname);
                    // Octet-counting framing (RFC 6587 3.4.1): the length, a space, the message.
                    frames.extend_from_slice(format!("{} ", msg.len()).as_bytes());
                    frames.extend_from_slice(msg.as_bytes());
                }
                let mut stream = tokio::net::TcpStream::connect(address.as_str())
                    .await
                    .map_err(|e| fail("connect", &e))?;
                stream
                    .write_all(&frames)
                    .await
                    .map_err(|e| fail("send", &e))?;
                stream.shutdown().await.map_err(|e| fail("send", &e))?;
                // The receiver closes once it has read everything: that is the confirmation.
                let mut sink = [0u8; 512];
                loop {
                    match stream.read(&mut sink).await {
                        Ok(0) => return Ok(()),
                        Ok(_) => continue,
                        Err(e) => return Err(fail("waiting for the receiver to confirm", &e)),
                    }
                }
            }
            Sink::Syslog {
                transport: Transport::Udp,
                address,
                facility,
                hostname,
            } => {
                let target = tokio::net::lookup_host(address.as_str())
                    .await
                    .map_err(|e| fail("resolve", &e))?
                    .next()
                    .ok_or_else(|| ForwardError(format!("{}: no address", self.destination)))?;
                let local = if target.is_ipv4() {
                    "0.0.0.0:0"
                } else {
                    "[::]:0"
                };
                let socket = tokio::net::UdpSocket::bind(local)
                    .await
                    .map_err(|e| fail("bind", &e))?;
                socket
                    .connect(target)
                    .await
                    .map_err(|e| fail("connect", &e))?;
                for row in rows {
                    let mut msg = syslog_message(row, *facility, hostname).into_bytes();
                    msg.truncate(UDP_MAX);
                    socket.send(&msg).await.map_err(|e| fail("send", &e))?;
                }
                Ok(())
            }
            Sink::Webhook { url, client, key } => {
                let body = webhook_body(&self.name, rows);
                let timestamp = chrono::Utc::now().timestamp().to_string();
                let signature = webhook_signature(key, &timestamp, &body);
                let (first, last) = match (rows.first(), rows.last()) {
                    (Some(f), Some(l)) => (f.seq, l.seq),
                    _ => return Ok(()),
                };
                let response = client
                    .post(url.as_str())
                    .header("Content-Type", "application/json")
                    .header("X-Keyward-Timestamp", &timestamp)
                    .header("X-Keyward-Signature", format!("sha256={signature}"))
                    .header(
                        "X-Keyward-Delivery",
                        format!("{}:{first}-{last}", self.name),
                    )
                    .body(body)
                    .send()
                    .await
                    .map_err(|e| fail("request", &e.without_url()))?;
                let status = response.status();
                if status.is_success() {
                    Ok(())
                } else {
                    Err(ForwardError(format!(
                        "{}: answered HTTP {}",
                        self.destination,
                        status.as_u16()
                    )))
                }
            }
        }
    }

    /// One round: take the lease, send the next batch, move the cursor.
    pub async fn step(&self, store: &Store, owner: &str) -> Result<Step, ForwardError> {
        // Idle rounds only read: no write (and no SQLite commit) while there is nothing new.
        if let Some(cursor) = repo::cursor(store.db(), &self.name).await? {
            let head = repo::head(store.db()).await?.map_or(0, |(seq, _)| seq);
            if cursor.seq >= head {
                return Ok(Step::Idle);
            }
        }
        let tx = store.begin_write().await?;
        let start = if self.from_now {
            repo::head(&*tx).await?.map_or(0, |(seq, _)| seq)
        } else {
            0
        };
        repo::ensure_cursor(&*tx, &self.name, start).await?;
        let leased =
            repo::take_lease(&*tx, &self.name, owner, crate::store::now() + self.lease()).await?;
        let cursor = repo::cursor(&*tx, &self.name).await?;
        tx.commit().await?;
        let (true, Some(cursor)) = (leased, cursor) else {
            return Ok(Step::Standby);
        };
        let rows = repo::page(store.db(), cursor.seq, self.batch).await?;
        let Some(last) = rows.last().map(|r| r.seq) else {
            return Ok(Step::Idle);
        };
        if let Err(err) = self.deliver(&rows).await {
            let tx = store.begin_write().await?;
            repo::cursor_failed(&*tx, &self.name, owner, &err.0).await?;
            tx.commit().await?;
            return Err(err);
        }
        let tx = store.begin_write().await?;
        let moved = repo::advance_cursor(&*tx, &self.name, owner, cursor.seq, last).await?;
        tx.commit().await?;
        if !moved {
            tracing::warn!(forwarder = %self.name, "another replica took over this audit forwarder");
            return Ok(Step::Standby);
        }
        Ok(Step::Sent {
            events: rows.len(),
            full: rows.len() as u64 == self.batch,
            last,
        })
    }

    /// Forwards for as long as the process runs, backing off after failures.
    pub async fn run(self, store: Store, owner: String) {
        let mut backoff = Duration::from_secs(1);
        let mut failing = false;
        tracing::info!(forwarder = %self.name, kind = self.kind(), destination = %self.destination, "audit forwarder started");
        loop {
            match self.step(&store, &owner).await {
                Ok(Step::Sent { events, full, last }) => {
                    if failing {
                        tracing::info!(forwarder = %self.name, "audit forwarder recovered");
                    }
                    failing = false;
                    backoff = Duration::from_secs(1);
                    tracing::debug!(forwarder = %self.name, events, last_seq = last, "audit events forwarded");
                    if !full {
                        tokio::time::sleep(POLL).await;
                    }
                }
                Ok(Step::Idle) => tokio::time::sleep(POLL).await,
                Ok(Step::Standby) => tokio::time::sleep(POLL * 5).await,
                Err(err) => {
                    failing = true;
                    tracing::warn!(forwarder = %self.name, error = %err, retry_in_ms = backoff.as_millis() as u64, "audit forwarding failed; will retry");
                    tokio::time::sleep(jitter(backoff)).await;
                    backoff = (backoff * 2).min(self.max_backoff);
                }
            }
        }
    }
}

/// What one round did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Events up to `last` were delivered; `full` when more may be waiting.
    Sent {
        events: usize,
        full: bool,
        last: i64,
    },
    /// Nothing new.
    Idle,
    /// Another replica holds the lease.
    Standby,
}

/// `backoff` ± 20 %, so replicas and destinations do not retry in lockstep.
fn jitter(backoff: Duration) -> Duration {
    use rand::Rng;
    backoff.mul_f64(rand::thread_rng().gen_range(0.8..1.2))
}

/// An HTTP client for a webhook: no redirects, bounded time, the given CA trusted besides the
/// public roots.
pub(crate) fn webhook_client(
    https_only: bool,
    timeout: Duration,
    ca_file: Option<&std::path::Path>,
) -> Result<reqwest::Client, String> {
    let mut client = reqwest::Client::builder()
        .https_only(https_only)
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(timeout)
        .timeout(timeout)
        .user_agent(concat!("keyward/", env!("CARGO_PKG_VERSION")));
    if let Some(path) = ca_file {
        let pem = std::fs::read(path).map_err(|e| format!("ca_file {}: {e}", path.display()))?;
        let cert = reqwest::Certificate::from_pem(&pem)
            .map_err(|_| format!("ca_file {}: not a PEM certificate", path.display()))?;
        client = client.add_root_certificate(cert);
    }
    client
        .build()
        .map_err(|e| format!("cannot build the HTTP client: {e}"))
}

/// A webhook's HMAC key, from a file or an environment variable (at least 16 bytes).
pub(crate) fn webhook_key(
    file: Option<&std::path::Path>,
    env: Option<&str>,
) -> Result<Zeroizing<Vec<u8>>, String> {
    let raw = match (file, env) {
        (Some(path), _) => Zeroizing::new(
            std::fs::read(path).map_err(|e| format!("secret_file {}: {e}", path.display()))?,
        ),
        (None, Some(var)) => Zeroizing::new(
            std::env::var(var)
                .map_err(|_| format!("secret_env: {var} is not set"))?
                .into_bytes(),
        ),
        (None, None) => return Err("a webhook needs secret_file or secret_env".to_owned()),
    };
    let key = Zeroizing::new(raw.trim_ascii().to_vec());
    if key.len() < 16 {
        return Err(
            "the webhook key must be at least 16 bytes (e.g. `openssl rand -hex 32`)".into(),
        );
    }
    Ok(key)
}

/// A printable-ASCII token for a syslog header field, `-` when empty.
fn syslog_token(raw: &str, max: usize) -> String {
    let token: String = raw
        .chars()
        .filter(|c| c.is_ascii_graphic())
        .take(max)
        .collect();
    if token.is_empty() {
        "-".to_owned()
    } else {
        token
    }
}

/// An SD-PARAM value with `"`, `\` and `]` escaped (RFC 5424 6.3.3).
fn sd_value(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    for c in raw.chars() {
        if matches!(c, '"' | '\\' | ']') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// One event as an RFC 5424 message: severity from the outcome, the action as MSGID, the key
/// fields as structured data and the whole event (as exported) as JSON in the body.
pub fn syslog_message(row: &AuditRow, facility: u8, hostname: &str) -> String {
    let severity = match row.outcome.as_str() {
        "success" => 5, // notice
        "denied" => 4,  // warning
        _ => 3,         // error
    };
    let mut sd = format!(
        "[{SD_ID} seq=\"{}\" actor=\"{}\" action=\"{}\" outcome=\"{}\"",
        row.seq,
        sd_value(&row.actor),
        sd_value(&row.action),
        sd_value(&row.outcome)
    );
    for (name, value) in [("target", &row.target), ("team", &row.team)] {
        if let Some(value) = value {
            sd.push_str(&format!(" {name}=\"{}\"", sd_value(value)));
        }
    }
    sd.push_str(&format!(" hash=\"{}\"]", row.hash));
    format!(
        "<{}>1 {} {} keyward - {} {} {}",
        u16::from(facility) * 8 + severity,
        row.at.to_rfc3339_opts(SecondsFormat::Micros, true),
        hostname,
        syslog_token(&row.action, 32),
        sd,
        to_json(row)
    )
}

/// The webhook's JSON body: the batch with its range, events as exported.
pub fn webhook_body(name: &str, rows: &[AuditRow]) -> Vec<u8> {
    let events: Vec<_> = rows.iter().map(to_json).collect();
    serde_json::json!({
        "source": "keyward",
        "forwarder": name,
        "first_seq": rows.first().map(|r| r.seq),
        "last_seq": rows.last().map(|r| r.seq),
        "events": events,
    })
    .to_string()
    .into_bytes()
}

/// `hex(HMAC-SHA256(key, timestamp + "." + body))`, sent as `X-Keyward-Signature: sha256=…`.
pub fn webhook_signature(key: &[u8], timestamp: &str, body: &[u8]) -> String {
    // HMAC takes keys of any length.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row() -> AuditRow {
        AuditRow {
            seq: 7,
            at: chrono::DateTime::parse_from_rfc3339("2026-11-23T10:00:00.123456Z")
                .unwrap()
                .with_timezone(&chrono::Utc),
            actor: "member:a\"b]c\\d".into(),
            action: "totp.reveal".into(),
            target: Some("account:1".into()),
            team: None,
            outcome: "denied".into(),
            justification: None,
            ip: None,
            user_agent: None,
            request_id: None,
            details: "{}".into(),
            prev_hash: "p".into(),
            hash: "h".into(),
        }
    }

    #[test]
    fn syslog_messages_follow_rfc5424_and_escape_structured_data() {
        let msg = syslog_message(&row(), 16, "kw.example");
        assert!(msg.starts_with(
            "<132>1 2026-11-23T10:00:00.123456Z kw.example keyward - totp.reveal [keyward@32473 seq=\"7\" actor=\"member:a\\\"b\\]c\\\\d\""
        ), "{msg}");
        assert!(msg.contains(" target=\"account:1\" hash=\"h\"] {"), "{msg}");
        assert!(!msg.contains("team="), "absent fields are left out: {msg}");
    }

    #[test]
    fn webhook_signatures_cover_the_timestamp_and_the_body() {
        // Known answer from `printf '1700000000.{"a":1}' | openssl dgst -sha256 -hmac Jefe`.
        let sig = webhook_signature(b"Jefe", "1700000000", br#"{"a":1}"#);
        assert_eq!(
            sig,
            "fa5f6481efc59da48b19c9dc10196c9953e5651f8304b3a318b6b87d70272e0a"
        );
        assert_ne!(sig, webhook_signature(b"Jefe", "1700000001", br#"{"a":1}"#));
    }
}
