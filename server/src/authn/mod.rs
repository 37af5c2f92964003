//! Who is calling: sessions, service tokens and OIDC sign-in, which yield a `Principal`
//! (members or service tokens, with their role bindings; the types live in `domain::identity`).

pub mod logout;
pub mod oidc;
pub mod session;
pub mod tokens;

pub use crate::domain::identity::{Binding, Principal, PrincipalKind};
