#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Integration tests: the real server over HTTP, the real CLI binary, a real database
//! (SQLite by default; PostgreSQL with KW_TEST_DB=postgres).

mod support;

mod access;
mod accounts;
mod audit;
mod authz_matrix;
mod backchannel;
mod backup;
mod breakglass;
mod cli;
mod concurrency;
mod dashboard;
mod departures;
mod deploy;
mod device;
mod docs;
mod errors;
mod exposure;
mod group_commit;
mod import_limits;
mod imports;
mod incidents;
mod integrity;
mod keys;
mod kw;
mod leaks;
mod metrics;
mod offboarding;
mod operations;
mod otp;
mod replicas;
mod retention;
mod rotation;
mod route_matrix;
mod schemathesis;
mod scim;
mod siem;
mod sso;
mod tamper;
mod wire;
mod writer;
