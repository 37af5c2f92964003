//! Access requests: an account's access policy, the actions a grant may cover, its window.

use crate::Invalid;

/// Whether a role is enough on an account, or its reveals also need an approved grant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccessPolicy {
    Open,
    Approval,
}

impl AccessPolicy {
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        match raw.trim().to_ascii_lowercase().as_str() {
            "open" => Ok(Self::Open),
            "approval" => Ok(Self::Approval),
            _ => Err(Invalid::new(
                "invalid_access",
                "access must be open or approval",
            )),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Approval => "approval",
        }
    }
}

/// How many different people must approve a request: 1 or 2.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApproversNeeded(u8);

impl ApproversNeeded {
    pub const ONE: Self = Self(1);

    pub fn parse(raw: i64) -> Result<Self, Invalid> {
        match raw {
            1 | 2 => Ok(Self(raw as u8)),
            _ => Err(Invalid::new(
                "invalid_approvers_needed",
                "approvers_needed must be 1 or 2",
            )),
        }
    }

    pub fn get(self) -> i32 {
        i32::from(self.0)
    }
}

/// An action a grant can cover: the ones an `approval` account holds back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum GrantAction {
    TotpReveal,
    HotpReveal,
    BackupCheckout,
    PasswordReveal,
    TotpExport,
    HotpExport,
}

impl GrantAction {
    pub const ALL: [Self; 6] = [
        Self::TotpReveal,
        Self::HotpReveal,
        Self::BackupCheckout,
        Self::PasswordReveal,
        Self::TotpExport,
        Self::HotpExport,
    ];

    /// The action's name, as the policy and the audit trail write it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::TotpReveal => "totp.reveal",
            Self::HotpReveal => "hotp.reveal",
            Self::BackupCheckout => "backup.checkout",
            Self::PasswordReveal => "password.reveal",
            Self::TotpExport => "totp.export",
            Self::HotpExport => "hotp.export",
        }
    }

    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let raw = raw.trim();
        Self::ALL
            .into_iter()
            .find(|a| a.as_str() == raw)
            .ok_or_else(|| {
                Invalid::new(
                    "invalid_action",
                    "actions are totp.reveal, hotp.reveal, backup.checkout, password.reveal, totp.export and hotp.export",
                )
            })
    }
}

/// The actions of one request: at least one, each once, in a fixed order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrantActions(Vec<GrantAction>);

impl GrantActions {
    pub fn parse<S: AsRef<str>>(raw: &[S]) -> Result<Self, Invalid> {
        if raw.is_empty() {
            return Err(Invalid::required(
                "actions_required",
                "name at least one action to ask for",
            ));
        }
        // More names than actions exist can only repeat some: refused before parsing them.
        if raw.len() > 2 * GrantAction::ALL.len() {
            return Err(Invalid::new("invalid_action", "too many actions"));
        }
        let mut actions = raw
            .iter()
            .map(|a| GrantAction::parse(a.as_ref()))
            .collect::<Result<Vec<_>, _>>()?;
        actions.sort();
        actions.dedup();
        Ok(Self(actions))
    }

    pub fn iter(&self) -> impl Iterator<Item = GrantAction> + '_ {
        self.0.iter().copied()
    }

    pub fn names(&self) -> Vec<&'static str> {
        self.0.iter().map(|a| a.as_str()).collect()
    }
}

/// How long a grant runs, in minutes: 1 to [`AccessMinutes::MAX`] (a deployment may allow
/// less, `access.max_minutes`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccessMinutes(u32);

impl AccessMinutes {
    pub const MAX: u32 = 480;

    /// `max` is the deployment's limit (at most [`AccessMinutes::MAX`]).
    pub fn parse(raw: i64, max: u32) -> Result<Self, Invalid> {
        let max = max.clamp(1, Self::MAX);
        if (1..=i64::from(max)).contains(&raw) {
            Ok(Self(raw as u32))
        } else {
            Err(Invalid::new(
                "invalid_minutes",
                format!("minutes must be between 1 and {max}"),
            ))
        }
    }

    pub fn get(self) -> u32 {
        self.0
    }
}

/// Where a request stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccessState {
    Pending,
    Approved,
    Denied,
    Expired,
    Revoked,
    Cancelled,
}

impl AccessState {
    pub const ALL: [Self; 6] = [
        Self::Pending,
        Self::Approved,
        Self::Denied,
        Self::Expired,
        Self::Revoked,
        Self::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Approved => "approved",
            Self::Denied => "denied",
            Self::Expired => "expired",
            Self::Revoked => "revoked",
            Self::Cancelled => "cancelled",
        }
    }

    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let raw = raw.trim().to_ascii_lowercase();
        Self::ALL
            .into_iter()
            .find(|s| s.as_str() == raw)
            .ok_or_else(|| {
                Invalid::new(
                    "invalid_state",
                    "state must be pending, approved, denied, expired, revoked or cancelled",
                )
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policies_and_approver_counts_parse() {
        assert_eq!(
            AccessPolicy::parse(" Approval "),
            Ok(AccessPolicy::Approval)
        );
        assert_eq!(
            AccessPolicy::parse("closed").map_err(|e| e.code),
            Err("invalid_access")
        );
        assert_eq!(ApproversNeeded::parse(2).map(ApproversNeeded::get), Ok(2));
        for bad in [0, 3, -1] {
            assert_eq!(
                ApproversNeeded::parse(bad).map_err(|e| e.code),
                Err("invalid_approvers_needed")
            );
        }
    }

    #[test]
    fn actions_are_known_sorted_and_once() {
        let actions =
            GrantActions::parse(&["password.reveal", "totp.reveal", "totp.reveal"]).expect("valid");
        assert_eq!(actions.names(), ["totp.reveal", "password.reveal"]);
        assert_eq!(
            GrantActions::parse::<&str>(&[]).map_err(|e| (e.code, e.required)),
            Err(("actions_required", true))
        );
        assert_eq!(
            GrantActions::parse(&["account.update"]).map_err(|e| e.code),
            Err("invalid_action")
        );
        let many = vec!["totp.reveal"; 13];
        assert_eq!(
            GrantActions::parse(&many).map_err(|e| e.code),
            Err("invalid_action")
        );
    }

    #[test]
    fn minutes_are_bounded_by_the_deployment() {
        assert_eq!(
            AccessMinutes::parse(480, 480).map(AccessMinutes::get),
            Ok(480)
        );
        assert_eq!(AccessMinutes::parse(1, 480).map(AccessMinutes::get), Ok(1));
        assert!(AccessMinutes::parse(0, 480).is_err());
        assert!(AccessMinutes::parse(481, 480).is_err());
        assert!(AccessMinutes::parse(61, 60).is_err());
        // A configured maximum above the hard one is held to it.
        assert!(AccessMinutes::parse(481, 10_000).is_err());
    }
}
