//! Who acts: roles, role bindings, principals and the fixed actor names of the audit trail.
//! Below every layer of the server, so configuration, authentication and authorization share it.

use serde::{Deserialize, Serialize};

/// The domain used for org-wide actions and bindings.
pub const ORG_WIDE: &str = "*";
/// Who runs CLI administration, in the audit trail.
pub const CLI_ACTOR: &str = "cli";
/// The server itself (background jobs, start-up checks), in the audit trail.
pub const SYSTEM_ACTOR: &str = "system";

/// Roles a principal can hold in a team.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Viewer,
    Operator,
    Manager,
    SecurityAdmin,
    Auditor,
    Custodian,
    /// The IdP's provisioning token: SCIM and nothing else.
    Scim,
}

impl Role {
    pub const ALL: [Role; 7] = [
        Role::Viewer,
        Role::Operator,
        Role::Manager,
        Role::SecurityAdmin,
        Role::Auditor,
        Role::Custodian,
        Role::Scim,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Operator => "operator",
            Role::Manager => "manager",
            Role::SecurityAdmin => "security_admin",
            Role::Auditor => "auditor",
            Role::Custodian => "custodian",
            Role::Scim => "scim",
        }
    }

    pub fn parse(raw: &str) -> Option<Role> {
        Self::ALL.into_iter().find(|r| r.as_str() == raw.trim())
    }
}

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
            PrincipalKind::Cli => CLI_ACTOR.to_owned(),
            kind => format!("{}:{}", kind.as_str(), self.id),
        }
    }

    /// The command line acting with `bindings`.
    pub fn cli(bindings: Vec<Binding>) -> Self {
        Self {
            kind: PrincipalKind::Cli,
            id: CLI_ACTOR.to_owned(),
            name: "command line".to_owned(),
            email: None,
            bindings,
        }
    }
}
