//! Escalation of overdue rotation tasks: a job (every `rotation.escalation_every_minutes`, on
//! every replica) claims each overdue task once in the database, records `rotation.escalate`
//! and queues one notification per `[[notify]]` webhook in the same transaction (the outbox).
//! Every replica delivers from the outbox, signed like the SIEM webhook, with retries; a
//! notification is leased to one process while it is sent, first to the one that queued it,
//! so a replica that dies before or during a delivery leaves it to another, not lost.
//! Release and incident notices are sent at once from the request that caused them, with
//! retries in the background ([`Notifier::send`]).

use super::rotation::escalation_event;
use super::{Core, ServiceError};
use crate::audit::forward::{webhook_client, webhook_key, webhook_signature};
use crate::config::{redacted_url, NotifySettings};
use crate::store::notifications as outbox;
use crate::store::rotation as repo;
use sha2::{Digest, Sha256};
use std::time::Duration;
use zeroize::Zeroizing;

/// The wait after each failed try; a notification is given up after one try more than this
/// holds (four).
const BACKOFF: [Duration; 3] = [
    Duration::from_secs(1),
    Duration::from_secs(4),
    Duration::from_secs(16),
];

/// How often an idle replica looks at the outbox (a queued notification wakes it sooner).
const POLL: Duration = Duration::from_secs(1);

/// Notifications one round of the outbox takes on.
const ROUND: u64 = 20;

struct Hook {
    /// A digest of the URL: names the hook in the outbox without storing its URL.
    id: String,
    url: String,
    client: reqwest::Client,
    key: Zeroizing<Vec<u8>>,
    timeout: Duration,
}

impl Hook {
    /// How long a process may deliver one notification before another may take it over: two
    /// of its tries' time and a second, so a live sender is never overtaken.
    fn lease(&self) -> chrono::Duration {
        let millis = self.timeout.as_millis() * 2 + 1000;
        chrono::Duration::milliseconds(i64::try_from(millis).unwrap_or(i64::MAX))
    }

    /// Posts `body`, signed; `delivery` names it so a receiver can drop a repeat.
    async fn post(&self, delivery: &str, body: &[u8]) -> Result<(), String> {
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
    hooks: Vec<std::sync::Arc<Hook>>,
    owner: String,
    wake: tokio::sync::Notify,
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

    fn hook_ids(&self) -> Vec<String> {
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

impl Core {
    /// Escalates every overdue task not escalated yet; returns how many this process claimed.
    /// Safe on several replicas at once: the claim is a conditional update, so each task is
    /// escalated (and notified) once.
    pub async fn escalate_overdue(&self) -> Result<usize, ServiceError> {
        let rows = repo::overdue_unnotified(self.store.db()).await?;
        let views = self.task_views(rows).await?;
        let mut claimed = 0;
        for view in views {
            let body = serde_json::json!({
                "event": "rotation.overdue",
                "task": {
                    "id": view.task.id,
                    "account": view.task.account_id,
                    "team": view.team,
                    "platform": view.platform,
                    "handle": view.handle,
                    "kind": view.task.secret_kind,
                    "reason": view.task.reason,
                    "member": view.task.member_id,
                    "assignee": view.task.assignee,
                    "due_at": view.task.due_at,
                },
                "url": format!("{}/rotation-tasks", self.settings.public_url.trim_end_matches('/')),
            })
            .to_string();
            let tx = self.store.begin_write().await?;
            if !repo::claim_notification(&*tx, &view.task.id).await? {
                continue;
            }
            crate::audit::append(&*tx, escalation_event(&view)).await?;
            let notifier = &self.notifier;
            for hook in &notifier.hooks {
                let until = crate::store::now() + hook.lease();
                outbox::enqueue(&*tx, &view.task.id, &hook.id, &body, &notifier.owner, until)
                    .await?;
            }
            tx.commit().await?;
            claimed += 1;
            notifier.wake.notify_one();
        }
        Ok(claimed)
    }

    /// One round of the outbox: delivers what is due and free to take (or leased to this
    /// process), each under a lease; returns how many were delivered.
    pub async fn deliver_notifications(&self) -> Result<usize, ServiceError> {
        let notifier = &self.notifier;
        if notifier.hooks.is_empty() {
            return Ok(0);
        }
        let hooks = notifier.hook_ids();
        let owner = notifier.owner.as_str();
        let due = outbox::due(self.store.db(), owner, &hooks, ROUND).await?;
        let mut delivered = 0;
        for row in due {
            let Some(hook) = notifier.hooks.iter().find(|h| h.id == row.hook) else {
                continue;
            };
            let tx = self.store.begin_write().await?;
            let until = crate::store::now() + hook.lease();
            let leased = outbox::lease(&*tx, &row.id, owner, &hooks, until).await?;
            tx.commit().await?;
            if !leased {
                continue;
            }
            let sent = hook
                .post(&format!("notify:{}", row.id), row.body.as_bytes())
                .await;
            let tx = self.store.begin_write().await?;
            match sent {
                Ok(()) => {
                    outbox::delivered(&*tx, &row.id, owner).await?;
                    delivered += 1;
                }
                Err(error) => {
                    let tries = usize::try_from(row.attempts).unwrap_or(0) + 1;
                    let retry = BACKOFF.get(tries - 1).map(|wait| {
                        crate::store::now() + chrono::Duration::from_std(*wait).unwrap_or_default()
                    });
                    if retry.is_some() {
                        tracing::warn!(hook = %redacted_url(&hook.url), error, tries, "escalation webhook failed; will retry");
                    } else {
                        tracing::error!(hook = %redacted_url(&hook.url), error, tries, "escalation notification given up");
                    }
                    outbox::failed(&*tx, &row.id, owner, retry).await?;
                }
            }
            tx.commit().await?;
        }
        Ok(delivered)
    }
}
