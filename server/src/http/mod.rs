//! HTTP: thin actix handlers that parse, authenticate and call the services.
//! `api/` serves JSON; the error mapping lives in `error.rs`, once.

pub mod api;
mod auth;
pub(crate) mod cursor;
mod error;
pub(crate) mod extract;
pub mod hangup;
pub mod metrics;
pub mod openapi;
mod request;
pub mod routes;
pub mod scim;
pub mod site;

pub use auth::{origin_guard, Authenticated, MaybeSession};
pub use error::ApiError;
pub use request::{body_deadline, request_context, RequestId};

use actix_web::web;

/// Registers every route and the extractor limits.
pub fn configure(cfg: &mut web::ServiceConfig, body_limit: usize) {
    cfg.app_data(web::PayloadConfig::new(body_limit))
        .app_data(
            web::PathConfig::default().error_handler(|_, _| ApiError::not_found("resource").into()),
        )
        .configure(site::configure)
        .configure(routes::configure)
        .default_service(web::to(|| async {
            Err::<actix_web::HttpResponse, _>(ApiError::not_found("route"))
        }));
}
