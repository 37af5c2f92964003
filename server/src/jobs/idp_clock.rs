//! The identity provider's clock against ours, now and every ten minutes, for `/readyz`.

use crate::services::Core;
use std::sync::Arc;

pub(super) fn spawn(core: &Arc<Core>) {
    let Some(issuer) = core.settings.oidc.as_ref().map(|o| o.issuer.clone()) else {
        return;
    };
    let clocks = core.clone();
    tokio::spawn(async move {
        let mut every = tokio::time::interval(std::time::Duration::from_secs(600));
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            every.tick().await;
            let skew = crate::services::clock::ask_idp(&issuer, std::time::Duration::from_secs(5))
                .await
                .ok()
                .and_then(|answer| answer.skew_ms);
            if let Some(text) =
                skew.and_then(|ms| crate::services::clock::describe("the identity provider", ms))
            {
                tracing::warn!(skew_ms = skew, "{text}");
            }
            clocks.idp_clock.set(skew);
        }
    });
}
