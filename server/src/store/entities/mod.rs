//! sea-orm entities, one per table (see the migrations crate for the schema).

pub mod account;
pub mod audit_anchor;
pub mod audit_checkpoint;
pub mod audit_event;
pub mod audit_forward_cursor;
pub mod backup_code;
pub mod backup_code_generation;
pub mod escrow;
pub mod escrow_custodian;
pub mod escrow_seal;
pub mod incident;
pub mod key_check;
pub mod login_flow;
pub mod member;
pub mod notification;
pub mod page_result;
pub mod rate_counter;
pub mod release_request;
pub mod release_share;
pub mod role_grant;
pub mod rotation_task;
pub mod secret;
pub mod service_token;
pub mod session;
pub mod team;
