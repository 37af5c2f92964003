//! Who is calling: principals (members or service tokens) and their role bindings.

pub mod logout;
pub mod oidc;
pub mod session;
pub mod tokens;

use crate::authz::Role;
use serde::{Deserialize, Serialize};

/// A role in a team (or `*` for org-wide).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Binding {
    pub team: String,
    pub role: Role,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrincipalKind {
    Member,
    Token,
    /// An administrator at the command line, on the machine with the key file (`keyward
    /// import`): audited as `cli`.
    Cli,
}

impl PrincipalKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Member => "member",
            Self::Token => "token",
            Self::Cli => "cli",
        }
    }
}

/// An authenticated caller.
#[derive(Debug, Clone)]
pub struct Principal {
    pub kind: PrincipalKind,
    pub id: String,
    pub name: String,
    pub email: Option<String>,
    pub bindings: Vec<Binding>,
}

impl Principal {
    /// The subject string used in Casbin and in the audit trail, e.g. `token:0190…`.
    pub fn subject(&self) -> String {
        match self.kind {
            PrincipalKind::Cli => crate::services::tokens::CLI_ACTOR.to_owned(),
            kind => format!("{}:{}", kind.as_str(), self.id),
        }
    }

    /// The command line acting with `bindings`.
    pub fn cli(bindings: Vec<Binding>) -> Self {
        Self {
            kind: PrincipalKind::Cli,
            id: crate::services::tokens::CLI_ACTOR.to_owned(),
            name: "command line".to_owned(),
            email: None,
            bindings,
        }
    }
}
