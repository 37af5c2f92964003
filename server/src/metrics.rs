//! Prometheus metrics, served on a listener of their own (`metrics_listen`; off by default).
//!
//! Labels are drawn from fixed sets only: route *patterns* (never a path with an id in it),
//! methods, status codes, secret kinds, outcomes, forwarding destinations' configured names.
//! No label holds an account handle, a member or a secret.

use crate::services::Core;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{web, HttpResponse};
use prometheus::{
    exponential_buckets, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec,
    IntGauge, IntGaugeVec, Opts, Registry, TextEncoder,
};
use std::sync::LazyLock;
use std::time::Instant;

/// What a reveal or check-out revealed: the `kind` label.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Totp,
    Hotp,
    Password,
    BackupCode,
}

impl Kind {
    fn label(self) -> &'static str {
        match self {
            Kind::Totp => "totp",
            Kind::Hotp => "hotp",
            Kind::Password => "password",
            Kind::BackupCode => "backup_code",
        }
    }
}

/// Every metric of the process, in one registry.
pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    latency: HistogramVec,
    uses: IntCounterVec,
    audit_append: Histogram,
    batch_units: Histogram,
    failed_batches: IntCounter,
    forward_lag: IntGaugeVec,
    rotation_tasks: IntGaugeVec,
    notifications: IntGaugeVec,
    pool: IntGaugeVec,
    writers_waiting: IntGauge,
    statements: IntCounter,
}

/// Seconds from 100 µs to about 6.5 s.
fn seconds_buckets() -> prometheus::Result<Vec<f64>> {
    exponential_buckets(0.0001, 2.0, 17)
}

fn register<T: prometheus::core::Collector + Clone + 'static>(
    registry: &Registry,
    metric: T,
) -> prometheus::Result<T> {
    registry.register(Box::new(metric.clone()))?;
    Ok(metric)
}

impl Metrics {
    fn new() -> prometheus::Result<Self> {
        let r = Registry::new_custom(Some("keyward".to_owned()), None)?;
        let counters = |name: &str, help: &str, labels: &[&str]| {
            register(&r, IntCounterVec::new(Opts::new(name, help), labels)?)
        };
        let gauges = |name: &str, help: &str, labels: &[&str]| {
            register(&r, IntGaugeVec::new(Opts::new(name, help), labels)?)
        };
        let histogram = |name: &str, help: &str, buckets: Vec<f64>| {
            register(
                &r,
                Histogram::with_opts(HistogramOpts::new(name, help).buckets(buckets))?,
            )
        };
        let latency_opts = HistogramOpts::new(
            "http_request_duration_seconds",
            "Time to answer an HTTP request, by route pattern and method",
        )
        .buckets(seconds_buckets()?);
        let metrics = Self {
            requests: counters(
                "http_requests_total",
                "HTTP requests by route pattern, method and status",
                &["route", "method", "status"],
            )?,
            latency: register(&r, HistogramVec::new(latency_opts, &["route", "method"])?)?,
            uses: counters(
                "secret_uses_total",
                "Reveals (totp, hotp, password) and backup-code check-outs by outcome",
                &["kind", "outcome"],
            )?,
            audit_append: histogram(
                "audit_append_duration_seconds",
                "Time to append one event to the audit chain, inside its transaction",
                seconds_buckets()?,
            )?,
            batch_units: histogram(
                "audit_batch_units",
                "Audited writes committed together by one group commit",
                exponential_buckets(1.0, 2.0, 8)?,
            )?,
            failed_batches: register(
                &r,
                IntCounter::new(
                    "audit_batch_failures_total",
                    "Group commits that failed (every write in them failed)",
                )?,
            )?,
            forward_lag: gauges(
                "audit_forward_lag_events",
                "Audit events not yet delivered, per forwarding destination",
                &["destination"],
            )?,
            rotation_tasks: gauges(
                "rotation_tasks",
                "Rotation tasks still open, and those of them past their deadline",
                &["state"],
            )?,
            notifications: gauges(
                "notifications",
                "Escalation notifications in the outbox still waiting for their webhook, and given up",
                &["state"],
            )?,
            pool: gauges(
                "db_pool_connections",
                "Database pool connections: in use, idle and the most allowed",
                &["state"],
            )?,
            writers_waiting: register(
                &r,
                IntGauge::new(
                    "db_writers_waiting",
                    "Audited writes waiting for their turn in the group commit",
                )?,
            )?,
            statements: register(
                &r,
                IntCounter::new(
                    "db_statements_total",
                    "Statements sent to the database (BEGIN, COMMIT and savepoints aside)",
                )?,
            )?,
            registry: r.clone(),
        };
        gauges("build_info", "The running build's version", &["version"])?
            .with_label_values(&[env!("CARGO_PKG_VERSION")])
            .set(1);
        Ok(metrics)
    }
}

/// The metrics, or none if they could not be set up (a bug, logged once).
static METRICS: LazyLock<Option<Metrics>> = LazyLock::new(|| {
    Metrics::new()
        .map_err(|e| tracing::error!(error = %e, "metrics are off: they could not be set up"))
        .ok()
});

/// Counts one statement sent to the database (the store's statement callback).
pub fn count_statement() {
    if let Some(m) = METRICS.as_ref() {
        m.statements.inc();
    }
}

/// Records one audit append's duration.
pub fn observe_audit_append(started: Instant) {
    if let Some(m) = METRICS.as_ref() {
        m.audit_append.observe(started.elapsed().as_secs_f64());
    }
}

/// Records one group commit: its units, or its failure.
pub fn observe_batch(units: usize, committed: bool) {
    let Some(m) = METRICS.as_ref() else { return };
    if committed {
        m.batch_units.observe(units as f64);
    } else {
        m.failed_batches.inc();
    }
}

/// The secret a route reveals or hands out, if it is one of those routes.
fn secret_kind(method: &str, route: &str) -> Option<Kind> {
    if method != "POST" {
        return None;
    }
    Some(match route {
        "/api/v1/accounts/{id}/totp/code" | "/accounts/{id}/totp/reveal" => Kind::Totp,
        "/api/v1/accounts/{id}/hotp/code" => Kind::Hotp,
        "/api/v1/accounts/{id}/password/reveal" | "/accounts/{id}/password/reveal" => {
            Kind::Password
        }
        "/api/v1/accounts/{id}/backup-codes/checkout" | "/accounts/{id}/backup/checkout" => {
            Kind::BackupCode
        }
        _ => return None,
    })
}

/// The `outcome` label of a reveal or check-out, from its status: `success` (revealed or
/// handed out), `denied` (no session, no right, a step-up needed), `refused` (allowed but
/// refused: nothing left, rate-limited, frozen, invalid input) or `error` (the server failed).
fn use_outcome(status: u16) -> &'static str {
    match status {
        200..=399 => "success",
        401 | 403 => "denied",
        400..=499 => "refused",
        _ => "error",
    }
}

/// Middleware: counts and times every request by its route pattern.
pub async fn track(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let method: &'static str = match req.method().as_str() {
        "GET" => "GET",
        "HEAD" => "HEAD",
        "POST" => "POST",
        "PUT" => "PUT",
        "PATCH" => "PATCH",
        "DELETE" => "DELETE",
        "OPTIONS" => "OPTIONS",
        _ => "other",
    };
    let res = next.call(req).await?;
    // Unmatched paths share one label, so random paths cannot grow the series.
    let route = res
        .request()
        .match_pattern()
        .unwrap_or_else(|| "unmatched".to_owned());
    let status = res.status().as_u16();
    let Some(m) = METRICS.as_ref() else {
        return Ok(res);
    };
    m.requests
        .with_label_values(&[route.as_str(), method, &status.to_string()])
        .inc();
    if let Some(kind) = secret_kind(method, &route) {
        m.uses
            .with_label_values(&[kind.label(), use_outcome(status)])
            .inc();
    }
    m.latency
        .with_label_values(&[route.as_str(), method])
        .observe(started.elapsed().as_secs_f64());
    Ok(res)
}

/// Reads the gauges that come from the database at scrape time.
async fn refresh(m: &Metrics, core: &Core) -> Result<(), sea_orm::DbErr> {
    let db = core.store.db();
    let head = crate::store::audit::head(db)
        .await?
        .map_or(0, |(seq, _)| seq);
    for destination in &core.settings.audit.forward {
        let delivered = crate::store::audit::cursor(db, &destination.name)
            .await?
            .map_or(0, |c| c.seq);
        m.forward_lag
            .with_label_values(&[destination.name.as_str()])
            .set((head - delivered).max(0));
    }
    let (open, overdue) = crate::store::rotation::totals(db).await?;
    for (state, n) in [("open", open), ("overdue", overdue)] {
        m.rotation_tasks.with_label_values(&[state]).set(n as i64);
    }
    let (waiting, given_up) = crate::store::notifications::totals(db).await?;
    for (state, n) in [("waiting", waiting), ("given_up", given_up)] {
        m.notifications.with_label_values(&[state]).set(n as i64);
    }
    let (size, idle) = core.store.pool_use();
    let max = i64::from(core.settings.database.max_connections);
    for (state, n) in [("in_use", size - idle), ("idle", idle), ("max", max)] {
        m.pool.with_label_values(&[state]).set(n);
    }
    m.writers_waiting.set(core.store.writers_waiting() as i64);
    Ok(())
}

/// `GET /metrics`: the Prometheus text exposition (format 0.0.4).
async fn scrape(core: web::Data<Core>) -> HttpResponse {
    let Some(m) = METRICS.as_ref() else {
        return HttpResponse::ServiceUnavailable().body("metrics are off: see the log\n");
    };
    if let Err(e) = refresh(m, &core).await {
        tracing::warn!(error = %e, "metrics: the database gauges could not be read");
        return HttpResponse::ServiceUnavailable().body("the database is unavailable\n");
    }
    let mut body = String::new();
    if TextEncoder::new()
        .encode_utf8(&m.registry.gather(), &mut body)
        .is_err()
    {
        return HttpResponse::InternalServerError().finish();
    }
    HttpResponse::Ok()
        .content_type(prometheus::TEXT_FORMAT)
        .body(body)
}

/// The metrics listener: `GET /metrics` only, one worker, no signal handling of its own
/// (it ends with the process).
pub fn server(
    core: web::Data<Core>,
    listener: std::net::TcpListener,
) -> std::io::Result<actix_web::dev::Server> {
    Ok(actix_web::HttpServer::new(move || {
        actix_web::App::new()
            .app_data(core.clone())
            .route("/metrics", web::get().to(scrape))
    })
    .workers(1)
    .disable_signals()
    .listen(listener)?
    .run())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_reveal_and_checkout_routes_count_as_secret_uses() {
        assert_eq!(
            secret_kind("POST", "/api/v1/accounts/{id}/totp/code"),
            Some(Kind::Totp)
        );
        assert_eq!(
            secret_kind("POST", "/accounts/{id}/backup/checkout"),
            Some(Kind::BackupCode)
        );
        assert_eq!(secret_kind("GET", "/api/v1/accounts/{id}/totp/code"), None);
        assert_eq!(secret_kind("POST", "/api/v1/accounts"), None);
    }

    #[test]
    fn statuses_map_to_outcomes() {
        assert_eq!(use_outcome(200), "success");
        assert_eq!(use_outcome(303), "success");
        assert_eq!(use_outcome(403), "denied");
        assert_eq!(use_outcome(409), "refused");
        assert_eq!(use_outcome(429), "refused");
        assert_eq!(use_outcome(503), "error");
    }
}
