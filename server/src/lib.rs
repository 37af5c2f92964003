//! Keyward: team secret custody for shared social accounts. The layers, bottom first: config,
//! telemetry, crypto, store, audit, authz, authn, services, jobs, http, startup, cli
//! (docs/architecture.md).

pub mod audit;
pub mod authn;
pub mod authz;
pub mod cli;
pub mod config;
pub mod crypto;
/// Domain types that validate on construction (the `keyward-domain` crate).
pub use keyward_domain as domain;
pub mod files;
/// Imports from authenticator apps and QR screenshots (the `keyward-importers` crate).
pub use keyward_importers as importers;
pub mod http;
pub mod jobs;
pub mod services;
pub mod startup;
pub mod store;
pub mod telemetry;
