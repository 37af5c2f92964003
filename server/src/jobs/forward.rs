//! SIEM forwarding: one task per `[[audit.forward]]` destination, taking turns with other
//! replicas through the cursor leases.

use crate::services::Core;
use std::sync::Arc;

pub(super) fn spawn(core: &Arc<Core>) -> anyhow::Result<()> {
    let hostname = url::Url::parse(&core.settings.public_url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_owned))
        .unwrap_or_else(|| "keyward".to_owned());
    // Names this process in the cursor leases, so replicas take turns.
    let owner = format!("{}-{}", std::process::id(), crate::store::new_id());
    let mut forwarders = Vec::new();
    for settings in &core.settings.audit.forward {
        forwarders.push(crate::audit::forward::Forwarder::new(settings, &hostname)?);
    }
    for forwarder in forwarders {
        tokio::spawn(forwarder.run(core.store.clone(), owner.clone()));
    }
    Ok(())
}
