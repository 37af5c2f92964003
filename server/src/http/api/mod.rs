//! JSON API v1 (docs/api.md): its handlers, one file per wing. Its routes are in
//! `http::routes`, its shared path and error types in `http::wire`.

pub(crate) mod access;
pub(crate) mod accounts;
pub(crate) mod audit;
pub(crate) mod backup;
pub(crate) mod device;
pub(crate) mod escrows;
pub(crate) mod health;
pub(crate) mod imports;
pub(crate) mod incidents;
pub(crate) mod me;
pub(crate) mod members;
pub(crate) mod otp;
pub(crate) mod passwords;
pub(crate) mod releases;
pub(crate) mod rotation;
