//! Anonymous traffic: requests nobody could be authenticated for (unknown tokens, sign-ins
//! that fail, sign-ins started) are limited per source address, and their denials are
//! aggregated, so a flood writes a few chained audit events a minute instead of one each.
//! Kept in memory: each replica limits what reaches it.

use super::anonymous_guard::Denial;
use super::{Core, RequestMeta};
use crate::audit::Event;

impl Core {
    /// Records an anonymous denial: the first of its kind per address and minute at once, the
    /// rest as one aggregate event (see [`Core::flush_anonymous_denials`]).
    pub async fn deny_anonymous(&self, event: Event) {
        if self.anonymous.over_limit(event.ip.as_deref().unwrap_or("")) {
            // Refused with 429: only counted into the aggregate.
            self.anonymous.count(&event);
            return;
        }
        if let Denial::Write(event) = self.anonymous.deny(event) {
            self.record_standalone(*event).await;
        }
    }

    /// Writes the aggregated anonymous denials (the server does this every minute).
    pub async fn flush_anonymous_denials(&self, all: bool) {
        for event in self.anonymous.take_aggregates(all) {
            if event.details["repeated"].as_u64().unwrap_or(0) > 0 {
                self.record_standalone(event).await;
            }
        }
    }

    /// Counts an anonymous attempt from the request's address: `Err(seconds to wait)` when
    /// there were too many this minute.
    pub fn anonymous_attempt(&self, meta: &RequestMeta) -> Result<(), super::ServiceError> {
        self.anonymous
            .attempt(meta.ip.as_deref().unwrap_or(""))
            .map_err(|retry_after| super::ServiceError::RateLimited {
                code: "too_many_attempts",
                message: format!(
                    "too many failed or unauthenticated attempts from your address; try again in {retry_after} s"
                ),
                retry_after,
            })
    }
}
