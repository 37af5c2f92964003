//! The Prometheus registry: every metric of the process and the calls that count or set them.
//! Served by `http::metrics` on a listener of its own (`metrics_listen`; off by default).
//!
//! Labels are drawn from fixed sets only: route *patterns* (never a path with an id in it),
//! methods, status codes, secret kinds, outcomes, forwarding destinations' configured names.
//! No label holds an account handle, a member or a secret.

use prometheus::{
    exponential_buckets, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec,
    IntGauge, IntGaugeVec, Opts, Registry, TextEncoder,
};
use std::sync::LazyLock;
use std::time::{Duration, Instant};

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
    integrity: IntCounterVec,
    imports_stopped: IntCounter,
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
            integrity: counters(
                "integrity_violations_total",
                "Rows met whose integrity MAC does not verify (each once per process), by table",
                &["table"],
            )?,
            imports_stopped: register(
                &r,
                IntCounter::new(
                    "import_work_stopped_total",
                    "Import work (a vault's key derivation, decoding screenshots) stopped early because its request had gone",
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

/// Counts a row whose integrity MAC does not verify (`table` is one of the covered tables).
pub fn count_integrity_violation(table: &'static str) {
    if let Some(m) = METRICS.as_ref() {
        m.integrity.with_label_values(&[table]).inc();
    }
}

/// Counts import work stopped early: its request had gone.
pub fn count_import_stopped() {
    if let Some(m) = METRICS.as_ref() {
        m.imports_stopped.inc();
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

/// One answered HTTP request: its route pattern, method and status; `secret_use` is the
/// kind and outcome labels when the route reveals or hands out a secret.
pub fn observe_request(
    route: &str,
    method: &str,
    status: u16,
    secret_use: Option<(&str, &str)>,
    took: Duration,
) {
    let Some(m) = METRICS.as_ref() else { return };
    m.requests
        .with_label_values(&[route, method, &status.to_string()])
        .inc();
    if let Some((kind, outcome)) = secret_use {
        m.uses.with_label_values(&[kind, outcome]).inc();
    }
    m.latency
        .with_label_values(&[route, method])
        .observe(took.as_secs_f64());
}

/// The figures read from the database and the pool at scrape time.
#[derive(Debug, Default)]
pub struct Gauges {
    /// Per forwarding destination: events not yet delivered.
    pub forward_lag: Vec<(String, i64)>,
    pub rotation_open: u64,
    pub rotation_overdue: u64,
    pub notifications_waiting: u64,
    pub notifications_given_up: u64,
    pub pool_in_use: i64,
    pub pool_idle: i64,
    pub pool_max: i64,
    pub writers_waiting: usize,
}

/// Why the registry was not rendered.
#[derive(Debug)]
pub enum RenderError {
    /// The metrics are off: they could not be set up (logged once at start).
    Off,
    /// The text encoder failed (a bug).
    Encode,
}

/// Whether the metrics are on (they could be set up at start).
pub fn enabled() -> bool {
    METRICS.is_some()
}

/// Sets the gauges, then renders the whole registry in the Prometheus text format (0.0.4).
pub fn render(gauges: &Gauges) -> Result<String, RenderError> {
    let m = METRICS.as_ref().ok_or(RenderError::Off)?;
    for (destination, lag) in &gauges.forward_lag {
        m.forward_lag
            .with_label_values(&[destination.as_str()])
            .set(*lag);
    }
    for (state, n) in [
        ("open", gauges.rotation_open),
        ("overdue", gauges.rotation_overdue),
    ] {
        m.rotation_tasks.with_label_values(&[state]).set(n as i64);
    }
    for (state, n) in [
        ("waiting", gauges.notifications_waiting),
        ("given_up", gauges.notifications_given_up),
    ] {
        m.notifications.with_label_values(&[state]).set(n as i64);
    }
    for (state, n) in [
        ("in_use", gauges.pool_in_use),
        ("idle", gauges.pool_idle),
        ("max", gauges.pool_max),
    ] {
        m.pool.with_label_values(&[state]).set(n);
    }
    m.writers_waiting.set(gauges.writers_waiting as i64);
    let mut body = String::new();
    TextEncoder::new()
        .encode_utf8(&m.registry.gather(), &mut body)
        .map_err(|_| RenderError::Encode)?;
    Ok(body)
}

/// The content type of [`render`]'s text.
pub const TEXT_FORMAT: &str = prometheus::TEXT_FORMAT;
