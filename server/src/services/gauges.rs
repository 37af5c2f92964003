//! The figures the metrics scrape reads from the database and the pool: forwarding lag,
//! open and overdue rotation tasks, the notification outbox, pool use.

use super::Core;
use crate::store;
use crate::telemetry::metrics::Gauges;
use sea_orm::DbErr;

impl Core {
    /// Reads the gauges of one scrape.
    pub async fn gauges(&self) -> Result<Gauges, DbErr> {
        let db = self.store.db();
        let head = store::audit::head(db).await?.map_or(0, |(seq, _)| seq);
        let mut forward_lag = Vec::with_capacity(self.settings.audit.forward.len());
        for destination in &self.settings.audit.forward {
            let delivered = store::audit::cursor(db, &destination.name)
                .await?
                .map_or(0, |c| c.seq);
            forward_lag.push((destination.name.clone(), (head - delivered).max(0)));
        }
        let (rotation_open, rotation_overdue) = store::rotation::totals(db).await?;
        let (notifications_waiting, notifications_given_up) =
            store::notifications::totals(db).await?;
        let (size, idle) = self.store.pool_use();
        Ok(Gauges {
            forward_lag,
            rotation_open,
            rotation_overdue,
            notifications_waiting,
            notifications_given_up,
            pool_in_use: size - idle,
            pool_idle: idle,
            pool_max: i64::from(self.settings.database.max_connections),
            writers_waiting: self.store.writers_waiting(),
        })
    }
}
