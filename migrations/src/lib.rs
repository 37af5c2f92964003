//! Database migrations for Keyward, run on SQLite and PostgreSQL alike. Append-only:
//! never edit a migration that has landed; add a new one.

pub use sea_orm_migration::prelude::*;

mod m20261123_000001_foundation;
mod m20261123_000002_sessions;
mod m20261123_000003_backup_limits;
mod m20261123_000004_audit_checkpoints;
mod m20261123_000005_audit_forwarding_retention;
mod m20261124_000006_key_checks;
mod m20261124_000007_page_results;
mod m20261124_000008_handle_keys;
mod m20261130_000009_offboarding;
mod m20261130_000010_escrows;
mod m20261201_000011_incidents;
mod m20261202_000012_notification_outbox;
mod m20261207_000013_row_integrity;
mod m20261207_000014_escrow_ceremony;
mod m20261208_000015_exposure_ledger;
mod m20261209_000016_access_requests;
mod m20261210_000017_device_sign_in;

/// The migration that adds row MACs: the server MACs existing rows right after applying it.
pub const ROW_INTEGRITY: &str = "m20261207_000013_row_integrity";

/// The migration that adds the exposure ledger: the server fills it from the audit events
/// still present right after applying it.
pub const EXPOSURE_LEDGER: &str = "m20261208_000015_exposure_ledger";

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261123_000001_foundation::Migration),
            Box::new(m20261123_000002_sessions::Migration),
            Box::new(m20261123_000003_backup_limits::Migration),
            Box::new(m20261123_000004_audit_checkpoints::Migration),
            Box::new(m20261123_000005_audit_forwarding_retention::Migration),
            Box::new(m20261124_000006_key_checks::Migration),
            Box::new(m20261124_000007_page_results::Migration),
            Box::new(m20261124_000008_handle_keys::Migration),
            Box::new(m20261130_000009_offboarding::Migration),
            Box::new(m20261130_000010_escrows::Migration),
            Box::new(m20261201_000011_incidents::Migration),
            Box::new(m20261202_000012_notification_outbox::Migration),
            Box::new(m20261207_000013_row_integrity::Migration),
            Box::new(m20261207_000014_escrow_ceremony::Migration),
            Box::new(m20261208_000015_exposure_ledger::Migration),
            Box::new(m20261209_000016_access_requests::Migration),
            Box::new(m20261210_000017_device_sign_in::Migration),
        ]
    }
}
