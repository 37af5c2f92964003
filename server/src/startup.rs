//! Builds the application from a configuration: the same code path for `serve` and tests.

use crate::authn::oidc::Oidc;
use crate::authz::Authorizer;
use crate::config::Settings;
use crate::crypto::{KeySource, Keyring};
use crate::http;
use crate::services::Core;
use crate::store::Store;
use actix_web::dev::Server;
use actix_web::middleware::{from_fn, DefaultHeaders};
use actix_web::{web, App, HttpServer};
use anyhow::Context;
use std::net::TcpListener;
use std::sync::Arc;

/// Where the keyring comes from, per the configuration.
pub fn key_source(settings: &Settings) -> anyhow::Result<KeySource> {
    match (&settings.keys.key_file, &settings.keys.key_env) {
        (Some(path), _) => Ok(KeySource::File(path.clone())),
        (None, Some(var)) => Ok(KeySource::Env(var.clone())),
        (None, None) => anyhow::bail!(
            "keys.key_file: no key file configured; set KEYWARD_KEY_FILE (create one with `keyward keys init --key-file PATH`)"
        ),
    }
}

fn describe_source(source: &KeySource) -> String {
    match source {
        KeySource::File(path) => format!("key file {}", path.display()),
        KeySource::Env(var) => format!("keyring in ${var}"),
    }
}

/// Connects to the database (migrating if asked), loads the keyring and the policy.
pub async fn build_core(settings: &Settings, migrate: bool) -> anyhow::Result<Core> {
    let keyring = Keyring::load(key_source(settings)?).context("keys")?;
    let store = Store::connect(&settings.database.url, settings.database.max_connections)
        .await
        .context("database.url: cannot connect")?
        .with_group_commit(settings.database.group_commit.unwrap_or(false));
    if migrate {
        store.migrate().await.context("applying migrations")?;
    }
    let mut kek_ids_at_start = Vec::new();
    if store.pending_migrations().await? == 0 {
        // A key file whose keys are not the ones the data was written with stops the start.
        crate::services::keys::prove(&store, &keyring)
            .await
            .with_context(|| format!("keys: {}", describe_source(keyring.source())))?;
        // One count at start, so readiness never scans the secret tables.
        kek_ids_at_start = crate::store::deks::count_by_kek(store.db())
            .await?
            .into_keys()
            .collect();
    }
    crate::services::platforms::check()?;
    let runbooks =
        crate::services::runbooks::Runbooks::load(settings.incidents.runbooks_dir.as_deref())
            .map_err(|e| anyhow::anyhow!("runbooks are not valid:\n{e}"))?;
    let authz = Authorizer::new().await?;
    let oidc = match &settings.oidc {
        Some(oidc) => Some(Oidc::new(
            oidc.clone(),
            settings.oidc_client_secret()?,
            &settings.public_url,
            settings.auth.clock_skew_seconds,
        )?),
        None => None,
    };
    Ok(Core {
        store,
        keyring: Arc::new(keyring),
        authz,
        oidc,
        settings: Arc::new(settings.clone()),
        audit_state: Default::default(),
        kek_ids_at_start,
        runbooks: Arc::new(runbooks),
        notifier: crate::services::notifier::Notifier::new(&settings.notify)
            .map_err(anyhow::Error::msg)?,
        anonymous: crate::services::anonymous_guard::AnonymousGuard::new(
            settings.http.anonymous_per_minute,
        ),
        idp_clock: Default::default(),
        draining: Default::default(),
    })
}

/// The Content-Security-Policy of every response: nothing inline, nothing from elsewhere.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// A bound, not yet running server.
pub struct Application {
    server: Server,
    port: u16,
    core: web::Data<Core>,
}

impl Application {
    pub async fn build(settings: &Settings, migrate: bool) -> anyhow::Result<Self> {
        let core = build_core(settings, migrate).await?;
        let listener = TcpListener::bind(&settings.listen)
            .with_context(|| format!("listen: cannot bind {}", settings.listen))?;
        Self::with_listener(settings, core, listener)
    }

    pub fn with_listener(
        settings: &Settings,
        core: Core,
        listener: TcpListener,
    ) -> anyhow::Result<Self> {
        let port = listener.local_addr()?.port();
        let core = web::Data::new(core);
        let app_core = core.clone();
        let body_limit = settings.http.body_limit;
        let https = settings.is_https();
        let mut server = HttpServer::new(move || {
            let mut headers = DefaultHeaders::new()
                .add(("X-Content-Type-Options", "nosniff"))
                .add(("X-Frame-Options", "DENY"))
                .add(("Referrer-Policy", "same-origin"))
                .add(("Cache-Control", "no-store"))
                .add(("Content-Security-Policy", CONTENT_SECURITY_POLICY));
            if https {
                // Served over https: browsers must never come back over plain http.
                headers = headers.add(("Strict-Transport-Security", "max-age=31536000"));
            }
            App::new()
                .app_data(app_core.clone())
                .wrap(headers)
                .wrap(from_fn(http::body_deadline))
                .wrap(from_fn(http::origin_guard))
                .wrap(from_fn(http::request_context))
                .wrap(from_fn(crate::http::metrics::track))
                .configure(|cfg| http::configure(cfg, body_limit))
        })
        // Headers must be in within 5 s; a closing client gets 1 s.
        .client_request_timeout(std::time::Duration::from_secs(5))
        .client_disconnect_timeout(std::time::Duration::from_secs(1))
        .listen(listener)?
        // Signals are handled by `run_until_stopped`, which drains first.
        .disable_signals()
        .shutdown_timeout(settings.http.shutdown_timeout);
        if settings.http.workers > 0 {
            server = server.workers(settings.http.workers);
        }
        let server = server.run();
        if let Some(address) = &settings.metrics_listen {
            let listener = TcpListener::bind(address)
                .with_context(|| format!("metrics_listen: cannot bind {address}"))?;
            tokio::spawn(crate::http::metrics::server(core.clone(), listener)?);
            tracing::info!(address = %address, "metrics at /metrics");
        }
        spawn_forwarders(&core)?;
        spawn_housekeeping(core.clone());
        Ok(Self { server, port, core })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn core(&self) -> web::Data<Core> {
        self.core.clone()
    }

    /// Serves until SIGTERM/SIGINT; then `/readyz` answers 503 for `http.drain_seconds`
    /// while requests are still served (load balancers take the replica out), then the
    /// listener closes and in-flight requests get `http.shutdown_timeout` to finish.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let handle = self.server.handle();
        let core = self.core.clone();
        tokio::spawn(async move {
            stop_signal().await;
            core.draining
                .store(true, std::sync::atomic::Ordering::Relaxed);
            let drain = core.settings.http.drain_seconds;
            tracing::info!(
                drain_seconds = drain,
                "stopping: draining first (/readyz answers 503)"
            );
            tokio::time::sleep(std::time::Duration::from_secs(drain)).await;
            handle.stop(true).await;
        });
        self.server.await
    }

    pub fn handle(&self) -> actix_web::dev::ServerHandle {
        self.server.handle()
    }

    pub fn into_server(self) -> Server {
        self.server
    }
}

/// SIGTERM or SIGINT (Ctrl-C).
async fn stop_signal() {
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(term) => term,
        Err(e) => {
            tracing::error!(error = %e, "cannot listen for SIGTERM; Ctrl-C only");
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}

/// Starts one task per `[[audit.forward]]` destination. A destination that cannot be set up
/// (a missing key file, an unreadable CA) stops start-up rather than silently not forwarding.
fn spawn_forwarders(core: &web::Data<Core>) -> anyhow::Result<()> {
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

/// Escalates overdue rotation tasks every `rotation.escalation_every_minutes`; writes the
/// minute's aggregated anonymous denials every minute; removes expired sessions and
/// login flows every ten minutes; moves the audit witness to the
/// chain head every `audit.witness_seconds` (signing a database checkpoint when one is due),
/// recomputes the whole chain every `audit.verify_every_minutes`, and every hour (when
/// retention is on) looks for events to archive.
fn spawn_housekeeping(core: web::Data<Core>) {
    let days = core.settings.audit.retention_days;
    if days > 0 {
        let retention = core.clone();
        tokio::spawn(async move {
            let period = std::time::Duration::from_secs(3600);
            let first = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
            let mut every = tokio::time::interval_at(first, period);
            loop {
                every.tick().await;
                let cutoff = crate::audit::retention::cutoff(days);
                if let Err(err) = retention
                    .archive_audit(crate::services::tokens::SYSTEM_ACTOR, cutoff, |_| {})
                    .await
                {
                    tracing::error!(error = %err, "audit retention failed; nothing was removed");
                }
            }
        });
    }
    let witness = core.clone();
    tokio::spawn(async move {
        // The first round runs at once: events appended while no server ran get witnessed.
        let period =
            std::time::Duration::from_secs(u64::from(witness.settings.audit.witness_seconds));
        let mut every = tokio::time::interval(period);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // Whether a database checkpoint is due is looked at every 30 seconds.
        let checkpoints = std::time::Duration::from_secs(30);
        let mut next_checkpoint = tokio::time::Instant::now() + checkpoints;
        loop {
            every.tick().await;
            if let Err(err) = witness.witness_audit().await {
                tracing::warn!(error = %err, "audit witness failed");
            }
            if tokio::time::Instant::now() >= next_checkpoint {
                next_checkpoint += checkpoints;
                if let Err(err) = witness.checkpoint_audit().await {
                    tracing::warn!(error = %err, "audit checkpoint failed");
                }
            }
        }
    });
    let minutes = core.settings.audit.verify_every_minutes;
    if minutes > 0 {
        let verifier = core.clone();
        tokio::spawn(async move {
            let period = std::time::Duration::from_secs(60 * u64::from(minutes));
            let first = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
            let mut every = tokio::time::interval_at(first, period);
            loop {
                every.tick().await;
                match verifier.verify_audit_fully().await {
                    Ok(report) if report.ok => {
                        tracing::info!(head_seq = report.head_seq, "audit chain verified")
                    }
                    Ok(report) => tracing::error!(
                        first_bad_seq = report.first_bad_seq,
                        reason = report.reason.as_deref().unwrap_or(""),
                        "AUDIT CHAIN BROKEN; run `keyward audit verify`"
                    ),
                    Err(err) => tracing::warn!(error = %err, "audit verification failed"),
                }
            }
        });
    }
    if core.notifier.hook_count() > 0 {
        // Every replica delivers from the notification outbox (see services::escalation).
        let outbox = core.clone();
        tokio::spawn(async move {
            loop {
                if let Err(err) = outbox.deliver_notifications().await {
                    tracing::warn!(error = %err, "notification outbox round failed");
                }
                outbox.notifier.idle().await;
            }
        });
    }
    let escalation = core.clone();
    tokio::spawn(async move {
        let period = std::time::Duration::from_secs(
            60 * u64::from(escalation.settings.rotation.escalation_every_minutes),
        );
        // The first look comes a minute after start, then every period.
        let first = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
        let mut every = tokio::time::interval_at(first, period);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            every.tick().await;
            match escalation.escalate_overdue().await {
                Ok(0) => {}
                Ok(n) => tracing::info!(tasks = n, "overdue rotation tasks escalated"),
                Err(err) => tracing::warn!(error = %err, "rotation escalation failed"),
            }
        }
    });
    // The identity provider's clock, now and every ten minutes, for /readyz.
    if let Some(issuer) = core.settings.oidc.as_ref().map(|o| o.issuer.clone()) {
        let clocks = core.clone();
        tokio::spawn(async move {
            let mut every = tokio::time::interval(std::time::Duration::from_secs(600));
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                every.tick().await;
                let skew =
                    crate::services::clock::ask_idp(&issuer, std::time::Duration::from_secs(5))
                        .await
                        .ok()
                        .and_then(|answer| answer.skew_ms);
                if let Some(text) = skew
                    .and_then(|ms| crate::services::clock::describe("the identity provider", ms))
                {
                    tracing::warn!(skew_ms = skew, "{text}");
                }
                clocks.idp_clock.set(skew);
            }
        });
    }
    let aggregates = core.clone();
    tokio::spawn(async move {
        let period = std::time::Duration::from_secs(60);
        let mut every = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
        loop {
            every.tick().await;
            aggregates.flush_anonymous_denials(false).await;
        }
    });
    tokio::spawn(async move {
        let period = std::time::Duration::from_secs(600);
        // The first purge waits a whole period: nothing has expired at start-up.
        let mut every = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
        loop {
            every.tick().await;
            if let Err(err) = core.purge_expired().await {
                tracing::warn!(error = %err, "housekeeping purge failed");
            }
        }
    });
}
