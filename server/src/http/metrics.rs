//! The metrics listener (`GET /metrics`) and the middleware that counts and times every
//! request by its route pattern; the registry itself is `telemetry::metrics`.

use crate::services::Core;
use crate::telemetry::metrics;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{web, HttpResponse};
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
    let secret_use = secret_kind(method, &route).map(|kind| (kind.label(), use_outcome(status)));
    metrics::observe_request(&route, method, status, secret_use, started.elapsed());
    Ok(res)
}

/// `GET /metrics`: the Prometheus text exposition (format 0.0.4).
async fn scrape(core: web::Data<Core>) -> HttpResponse {
    if !metrics::enabled() {
        return HttpResponse::ServiceUnavailable().body("metrics are off: see the log\n");
    }
    let gauges = match core.gauges().await {
        Ok(gauges) => gauges,
        Err(e) => {
            tracing::warn!(error = %e, "metrics: the database gauges could not be read");
            return HttpResponse::ServiceUnavailable().body("the database is unavailable\n");
        }
    };
    match metrics::render(&gauges) {
        Ok(body) => HttpResponse::Ok()
            .content_type(metrics::TEXT_FORMAT)
            .body(body),
        Err(metrics::RenderError::Off) => {
            HttpResponse::ServiceUnavailable().body("metrics are off: see the log\n")
        }
        Err(metrics::RenderError::Encode) => HttpResponse::InternalServerError().finish(),
    }
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
