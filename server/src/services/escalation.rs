//! Escalation of overdue rotation tasks: a job (every `rotation.escalation_every_minutes`, on
//! every replica) claims each overdue task once in the database, records `rotation.escalate`,
//! and tells the `[[notify]]` webhooks, signed like the SIEM webhook, retried in the
//! background so nothing waits for them.

use super::rotation::escalation_event;
use super::{Core, ServiceError};
use crate::audit::forward::{webhook_client, webhook_key, webhook_signature};
use crate::config::{redacted_url, NotifySettings};
use crate::store::rotation as repo;
use std::time::Duration;
use zeroize::Zeroizing;

/// Tries per notification, and the wait before each retry.
const BACKOFF: [Duration; 3] = [
    Duration::from_secs(1),
    Duration::from_secs(4),
    Duration::from_secs(16),
];

struct Hook {
    url: String,
    client: reqwest::Client,
    key: Zeroizing<Vec<u8>>,
}

/// The configured webhooks.
#[derive(Default)]
pub struct Notifier {
    hooks: Vec<std::sync::Arc<Hook>>,
}

impl Notifier {
    /// Builds the webhooks; a key or CA that cannot be read stops the start, naming the hook.
    pub fn new(settings: &[NotifySettings]) -> Result<Self, String> {
        let mut hooks = Vec::new();
        for (i, hook) in settings.iter().enumerate() {
            let bad = |msg: String| format!("notify[{i}]: {msg}");
            let client = webhook_client(
                hook.url.starts_with("https://"),
                Duration::from_secs(10),
                hook.ca_file.as_deref(),
            )
            .map_err(bad)?;
            hooks.push(std::sync::Arc::new(Hook {
                url: hook.url.clone(),
                client,
                key: webhook_key(hook.secret_file.as_deref(), hook.secret_env.as_deref())
                    .map_err(bad)?,
            }));
        }
        Ok(Self { hooks })
    }

    /// How many webhooks are configured.
    pub fn hook_count(&self) -> usize {
        self.hooks.len()
    }

    /// Sends `body` to every hook in the background, retrying each a few times.
    pub(crate) fn send(&self, body: Vec<u8>) {
        for hook in &self.hooks {
            let hook = hook.clone();
            let body = body.clone();
            tokio::spawn(async move {
                for (attempt, wait) in BACKOFF.iter().enumerate() {
                    let timestamp = chrono::Utc::now().timestamp().to_string();
                    let signature = webhook_signature(&hook.key, &timestamp, &body);
                    let sent = hook
                        .client
                        .post(&hook.url)
                        .header("Content-Type", "application/json")
                        .header("X-Keyward-Timestamp", &timestamp)
                        .header("X-Keyward-Signature", format!("sha256={signature}"))
                        .body(body.clone())
                        .send()
                        .await;
                    match sent {
                        Ok(res) if res.status().is_success() => return,
                        Ok(res) => tracing::warn!(
                            hook = %redacted_url(&hook.url),
                            status = res.status().as_u16(),
                            attempt,
                            "escalation webhook refused the notification"
                        ),
                        Err(err) => tracing::warn!(
                            hook = %redacted_url(&hook.url),
                            error = %err.without_url(),
                            attempt,
                            "escalation webhook unreachable"
                        ),
                    }
                    tokio::time::sleep(*wait).await;
                }
                tracing::error!(hook = %redacted_url(&hook.url), "escalation notification given up");
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
            let tx = self.store.begin_write().await?;
            if !repo::claim_notification(&*tx, &view.task.id).await? {
                continue;
            }
            crate::audit::append(&*tx, escalation_event(&view)).await?;
            tx.commit().await?;
            claimed += 1;
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
            });
            self.notifier.send(body.to_string().into_bytes());
        }
        Ok(claimed)
    }
}
