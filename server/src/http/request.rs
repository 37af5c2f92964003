//! Per-request context: the request id (echoed or made), a tracing span, one access-log line.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{web, HttpMessage};
use std::time::Instant;
use tracing::Instrument;

/// The request's id, also written into its audit events.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

const HEADER: &str = "x-request-id";

fn acceptable(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 128
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.:".contains(c))
}

/// Middleware: assigns the id, runs the request in a span, logs status and latency.
pub async fn request_context(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let id = req
        .headers()
        .get(HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| acceptable(v))
        .map(str::to_owned)
        .unwrap_or_else(|| uuid::Uuid::now_v7().to_string());
    req.extensions_mut().insert(RequestId(id.clone()));
    let span = tracing::info_span!("request", request_id = %id, method = %req.method(), path = %req.path());
    let started = Instant::now();
    let result = next.call(req).instrument(span.clone()).await;
    let _entered = span.enter();
    match result {
        Ok(mut response) => {
            if let Ok(value) = HeaderValue::from_str(&id) {
                response
                    .headers_mut()
                    .insert(HeaderName::from_static(HEADER), value);
            }
            let status = response.status().as_u16();
            let micros = started.elapsed().as_micros() as u64;
            if status >= 500 {
                tracing::error!(status, micros, "request failed");
            } else {
                tracing::info!(status, micros, "request");
            }
            Ok(response)
        }
        Err(err) => {
            tracing::error!(error = %err, "request error");
            Err(err)
        }
    }
}

/// Middleware: once its headers are in, a request has `http.body_timeout_seconds` to deliver
/// its whole body; a body still arriving then ends with a timeout error (408 from the
/// extractors), and the connection is closed. A client that sends 10 of its 100 declared
/// bytes no longer holds a connection for minutes.
pub async fn body_deadline(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    use futures_util::StreamExt;
    let limit = req
        .app_data::<web::Data<crate::services::Core>>()
        .map(|c| std::time::Duration::from_secs(c.settings.http.body_timeout_seconds));
    if let Some(limit) = limit {
        let payload = req.take_payload();
        let sleep = Box::pin(tokio::time::sleep(limit));
        let timed = futures_util::stream::unfold(Some((payload, sleep)), |state| async move {
            let (mut payload, mut sleep) = state?;
            tokio::select! {
                item = payload.next() => item.map(|item| (item, Some((payload, sleep)))),
                () = &mut sleep => {
                    let late = std::io::Error::new(std::io::ErrorKind::TimedOut, "request body timed out");
                    Some((Err(actix_web::error::PayloadError::Io(late)), None))
                }
            }
        });
        req.set_payload(actix_web::dev::Payload::Stream {
            payload: Box::pin(timed),
        });
    }
    next.call(req).await
}
