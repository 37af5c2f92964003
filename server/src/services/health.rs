//! Readiness: whether this replica should get traffic (the database, its migrations, the
//! keys), and the clocks of the database server and the identity provider against ours.

use super::keys::KeyProblem;
use super::Core;

/// What `/readyz` reports.
pub struct Readiness {
    /// Why this replica is not ready; none when it is.
    pub problems: Vec<String>,
    /// What an operator should know while it is ready (clock skew).
    pub warnings: Vec<String>,
    pub database_skew_ms: Option<i64>,
    pub idp_skew_ms: Option<i64>,
}

impl Core {
    /// Checks readiness. Key ids go to the log, never into the answer.
    pub async fn readiness(&self) -> Readiness {
        let mut problems = Vec::new();
        if self.draining.load(std::sync::atomic::Ordering::Relaxed) {
            problems.push("draining: this replica is stopping".to_owned());
        }
        if self.store.ping().await.is_err() {
            problems.push("database: unreachable".to_owned());
        } else {
            match self.store.pending_migrations().await {
                Ok(0) => {
                    match super::keys::health(&self.store, &self.keyring, &self.kek_ids_at_start)
                        .await
                    {
                        Ok(found) => {
                            for (id, problem) in &found {
                                tracing::error!(key_id = %id, ?problem, "keyring is not ready");
                            }
                            if found.iter().any(|(_, p)| *p == KeyProblem::Mismatch) {
                                problems.push(
                            "keyring: a key in the key file is not the one this database was written with; see the server log or `keyward keys status`"
                                .to_owned(),
                        );
                            }
                            if found.iter().any(|(_, p)| *p == KeyProblem::Missing) {
                                problems.push(
                            "keyring: a key that wraps stored secrets is missing from the key file; see `keyward keys status`"
                                .to_owned(),
                        );
                            }
                        }
                        Err(_) => {
                            problems.push("database: cannot read the key check values".to_owned())
                        }
                    }
                }
                Ok(n) => problems.push(format!(
                    "database: {n} migrations not applied; run `keyward migrate`"
                )),
                Err(_) => problems.push("database: cannot read the migration table".to_owned()),
            }
        }
        // The clocks: a skew is a warning, not unreadiness (codes are still served).
        let mut warnings = Vec::new();
        let database_skew = if problems.is_empty() {
            super::clock::database_skew_ms(&self.store)
                .await
                .ok()
                .flatten()
        } else {
            None
        };
        if let Some(text) =
            database_skew.and_then(|ms| super::clock::describe("the database server", ms))
        {
            tracing::warn!(
                skew_ms = database_skew,
                "clock skew against the database server"
            );
            warnings.push(text);
        }
        let idp_skew = self.idp_clock.get();
        if let Some(text) =
            idp_skew.and_then(|ms| super::clock::describe("the identity provider", ms))
        {
            warnings.push(text);
        }
        Readiness {
            problems,
            warnings,
            database_skew_ms: database_skew,
            idp_skew_ms: idp_skew,
        }
    }
}
