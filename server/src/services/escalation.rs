//! Escalation of overdue rotation tasks: a job (every `rotation.escalation_every_minutes`, on
//! every replica) claims each overdue task once in the database, records `rotation.escalate`
//! and queues one notification per `[[notify]]` webhook in the same transaction (the outbox).
//! Every replica delivers from the outbox, signed like the SIEM webhook, with retries; a
//! notification is leased to one process while it is sent, first to the one that queued it,
//! so a replica that dies before or during a delivery leaves it to another, not lost.
//! Release and incident notices are sent at once from the request that caused them, with
//! retries in the background ([`Notifier::send`]).

use super::notifier::BACKOFF;
use super::rotation::escalation_event;
use super::{Core, ServiceError};
use crate::config::redacted_url;
use crate::store::notifications as outbox;
use crate::store::rotation as repo;

/// Notifications one round of the outbox takes on.
const ROUND: u64 = 20;

impl Core {
    /// Escalates every overdue task not escalated yet; returns how many this process claimed.
    /// Safe on several replicas at once: the claim is a conditional update, so each task is
    /// escalated (and notified) once.
    pub async fn escalate_overdue(&self) -> Result<usize, ServiceError> {
        let rows = repo::overdue_unnotified(self.store.db(), &self.integrity).await?;
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
                outbox::enqueue(
                    &*tx,
                    &self.integrity,
                    &view.task.id,
                    &hook.id,
                    &body,
                    &notifier.owner,
                    until,
                )
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
        let due = outbox::due(self.store.db(), &self.integrity, owner, &hooks, ROUND).await?;
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
