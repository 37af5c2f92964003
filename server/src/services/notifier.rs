//! The `[[notify]]` webhooks: built once at start, signed like the SIEM webhook; the outbox's
//! deliveries and the escalation job are in `escalation.rs`.

use crate::audit::forward::{webhook_client, webhook_key, webhook_signature};
use crate::config::{redacted_url, NotifySettings};
use sha2::{Digest, Sha256};
use std::time::Duration;
use zeroize::Zeroizing;

/// The wait after each failed try; a notification is given up after one try more than this
/// holds (four).
pub(crate) const BACKOFF: [Duration; 3] = [
    Duration::from_secs(1),
    Duration::from_secs(4),
    Duration::from_secs(16),
];

/// How often an idle replica looks at the outbox (a queued notification wakes it sooner).
pub(crate) const POLL: Duration = Duration::from_secs(1);

pub(crate) struct Hook {
    /// A digest of the URL: names the hook in the outbox without storing its URL.
    pub(crate) id: String,
    pub(crate) url: String,
    pub(crate) client: reqwest::Client,
    pub(crate) key: Zeroizing<Vec<u8>>,
    pub(crate) timeout: Duration,
}

impl Hook {
    /// How long a process may deliver one notification before another may take it over: two
    /// of its tries' time and a second, so a live sender is never overtaken.
    pub(crate) fn lease(&self) -> chrono::Duration {
        let millis = self.timeout.as_millis() * 2 + 1000;
        chrono::Duration::milliseconds(i64::try_from(millis).unwrap_or(i64::MAX))
    }

    /// Posts `body`, signed; `delivery` names it so a receiver can drop a repeat.
    pub(crate) async fn post(&self, delivery: &str, body: &[u8]) -> Result<(), String> {
        let timestamp = chrono::Utc::now().timestamp().to_string();
        let signature = webhook_signature(&self.key, &timestamp, body);
        let sent = self
            .client
            .post(&self.url)
            .header("Content-Type", "application/json")
            .header("X-Keyward-Timestamp", &timestamp)
            .header("X-Keyward-Signature", format!("sha256={signature}"))
            .header("X-Keyward-Delivery", delivery)
            .body(body.to_vec())
            .timeout(self.timeout)
            .send()
            .await;
        match sent {
            Ok(res) if res.status().is_success() => Ok(()),
            Ok(res) => Err(format!("answered HTTP {}", res.status().as_u16())),
            Err(err) => Err(format!("unreachable: {}", err.without_url())),
        }
    }
}

/// The configured webhooks, and this process's name in the outbox's leases.
#[derive(Default)]
pub struct Notifier {
    pub(crate) hooks: Vec<std::sync::Arc<Hook>>,
    pub(crate) owner: String,
    pub(crate) wake: tokio::sync::Notify,
}

impl Notifier {
    /// Builds the webhooks; a key or CA that cannot be read stops the start, naming the hook.
    pub fn new(settings: &[NotifySettings]) -> Result<Self, String> {
        let mut hooks = Vec::new();
        for (i, hook) in settings.iter().enumerate() {
            let bad = |msg: String| format!("notify[{i}]: {msg}");
            let client = webhook_client(
                hook.url.starts_with("https://"),
                Duration::from_secs(u64::from(hook.timeout_seconds)),
                hook.ca_file.as_deref(),
            )
            .map_err(bad)?;
            hooks.push(std::sync::Arc::new(Hook {
                id: hex::encode(&Sha256::digest(hook.url.as_bytes())[..16]),
                url: hook.url.clone(),
                client,
                key: webhook_key(hook.secret_file.as_deref(), hook.secret_env.as_deref())
                    .map_err(bad)?,
                timeout: Duration::from_secs(u64::from(hook.timeout_seconds)),
            }));
        }
        Ok(Self {
            hooks,
            owner: format!("{}-{}", std::process::id(), crate::store::new_id()),
            wake: tokio::sync::Notify::new(),
        })
    }

    /// Waits until a notification is queued here or `POLL` has passed.
    pub async fn idle(&self) {
        let _ = tokio::time::timeout(POLL, self.wake.notified()).await;
    }

    pub(crate) fn hook_ids(&self) -> Vec<String> {
        self.hooks.iter().map(|h| h.id.clone()).collect()
    }

    /// How many webhooks are configured.
    pub fn hook_count(&self) -> usize {
        self.hooks.len()
    }

    /// Sends `body` to every hook in the background, retrying each a few times (release and
    /// incident notices; escalations go through the outbox).
    pub(crate) fn send(&self, body: Vec<u8>) {
        let delivery = format!("notice:{}", crate::store::new_id());
        for hook in &self.hooks {
            let (hook, body, delivery) = (hook.clone(), body.clone(), delivery.clone());
            tokio::spawn(async move {
                for (attempt, wait) in BACKOFF.iter().enumerate() {
                    match hook.post(&delivery, &body).await {
                        Ok(()) => return,
                        Err(error) => tracing::warn!(
                            hook = %redacted_url(&hook.url),
                            error,
                            attempt,
                            "notify webhook failed"
                        ),
                    }
                    tokio::time::sleep(*wait).await;
                }
                tracing::error!(hook = %redacted_url(&hook.url), "notification given up");
            });
        }
    }
}
