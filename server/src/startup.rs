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
    let store = if settings.database.writer_thread == Some(false) {
        store.without_writer_thread()
    } else {
        store
    };
    let keyring = Arc::new(keyring);
    let integrity = Arc::new(crate::store::Integrity::new(keyring.clone()));
    if migrate {
        let (_, adoption) = crate::services::integrity::migrate(&store, Some(&integrity))
            .await
            .context("applying migrations")?;
        if let crate::services::integrity::Adoption::Signed(n) = adoption {
            tracing::info!(
                rows = n,
                "row integrity: MAC'ed the rows that existed before"
            );
        }
    }
    let mut kek_ids_at_start = Vec::new();
    if store.pending_migrations().await? == 0 {
        // A key file whose keys are not the ones the data was written with stops the start.
        crate::services::keys::prove(&store, &keyring)
            .await
            .with_context(|| format!("keys: {}", describe_source(keyring.source())))?;
        // The exposure ledger, filled once from the audit events older than it.
        let rows = crate::services::exposure::backfill(&store, &integrity)
            .await
            .context("filling the exposure ledger")?;
        if rows > 0 {
            tracing::info!(
                rows,
                "exposure ledger: recorded what the audit trail showed"
            );
        }
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
    Ok(Core::new(crate::services::Parts {
        store,
        integrity,
        keyring,
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
    }))
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
        // Costly work notices a client that has gone (see `http::hangup`).
        .on_connect(http::hangup::remember_socket)
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
        crate::jobs::spawn_all(&core.clone().into_inner())?;
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
