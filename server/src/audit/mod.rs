//! The hash-chained audit log: every event's hash covers its predecessor's, so an edit,
//! a deletion or a reordering breaks the chain. Appends happen inside the action's transaction.

pub mod anchor;
mod chain;
pub mod checkpoint;
mod export;
pub mod forward;
pub mod retention;
pub mod witness;

pub use chain::{
    append, append_stamped, canonical_hash, verify, verify_after, ChainPoint, Event, Outcome,
    VerifyReport, GENESIS_HASH,
};
pub use export::{
    parse_time_bound, to_json, write_csv, write_jsonl, write_rows, ExportFormat, CSV_HEADER,
};
