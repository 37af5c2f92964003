//! The panels of an account's page that each wing fills: what they show, never a form's
//! handling. The account page (`account.rs`) composes them; the wings' forms come back to it.

pub(crate) mod access;
pub(crate) mod backup;
pub(crate) mod lifecycle;
pub(crate) mod rotation;
