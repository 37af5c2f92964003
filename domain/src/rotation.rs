//! Offboarding and rotation: the kinds of secret a rotation task asks to replace, why a task
//! was opened, the exposure policy of a departure, and the reason given for one.

use crate::{Invalid, Justification};

/// A secret of an account that can be rotated on the platform and stored anew.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RotationKind {
    Totp,
    Hotp,
    Password,
    BackupCodes,
}

impl RotationKind {
    pub const ALL: [RotationKind; 4] = [
        RotationKind::Totp,
        RotationKind::Hotp,
        RotationKind::Password,
        RotationKind::BackupCodes,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Totp => "totp",
            Self::Hotp => "hotp",
            Self::Password => "password",
            Self::BackupCodes => "backup_codes",
        }
    }

    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        Self::ALL
            .into_iter()
            .find(|k| k.as_str() == raw)
            .ok_or_else(|| {
                Invalid::new(
                    "invalid_kind",
                    "kind is one of totp, hotp, password, backup_codes",
                )
            })
    }

    /// The kind of a stored secret version (`totp`, `hotp`, `password`).
    pub fn of_secret(kind: &str) -> Option<Self> {
        match kind {
            "totp" => Some(Self::Totp),
            "hotp" => Some(Self::Hotp),
            "password" => Some(Self::Password),
            _ => None,
        }
    }
}

/// Why a rotation task was opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RotationReason {
    Departure,
    Leak,
    Incident,
    BreakGlass,
    LowCodes,
    Manual,
}

impl RotationReason {
    pub const ALL: [RotationReason; 6] = [
        RotationReason::Departure,
        RotationReason::Leak,
        RotationReason::Incident,
        RotationReason::BreakGlass,
        RotationReason::LowCodes,
        RotationReason::Manual,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Departure => "departure",
            Self::Leak => "leak",
            Self::Incident => "incident",
            Self::BreakGlass => "break_glass",
            Self::LowCodes => "low_codes",
            Self::Manual => "manual",
        }
    }

    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        Self::ALL
            .into_iter()
            .find(|r| r.as_str() == raw)
            .ok_or_else(|| {
                Invalid::new(
                    "invalid_reason",
                    "reason is one of departure, leak, incident, break_glass, low_codes, manual",
                )
            })
    }
}

/// The state of a rotation task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskState {
    Open,
    Done,
    Dismissed,
}

impl TaskState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Done => "done",
            Self::Dismissed => "dismissed",
        }
    }

    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        match raw {
            "open" => Ok(Self::Open),
            "done" => Ok(Self::Done),
            "dismissed" => Ok(Self::Dismissed),
            _ => Err(Invalid::new(
                "invalid_state",
                "state is one of open, done, dismissed",
            )),
        }
    }
}

/// What a departure rotates: what the member actually saw (`exposed`), or also everything
/// they could have reached (`strict`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OffboardPolicy {
    #[default]
    Exposed,
    Strict,
}

impl OffboardPolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Exposed => "exposed",
            Self::Strict => "strict",
        }
    }

    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        match raw {
            "exposed" => Ok(Self::Exposed),
            "strict" => Ok(Self::Strict),
            _ => Err(Invalid::new(
                "invalid_policy",
                "policy is exposed or strict",
            )),
        }
    }
}

/// Why a member departs, as a security admin (or the IdP) states it: 3 to 500 characters,
/// no control characters other than line breaks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DepartureReason(Justification);

impl DepartureReason {
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        Justification::parse(raw).map(Self).map_err(|e| {
            let message = e.message.replace("justification", "reason");
            if e.required {
                Invalid::required("reason_required", message)
            } else {
                Invalid::new("invalid_reason", message)
            }
        })
    }

    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_names_are_refused() {
        for kind in RotationKind::ALL {
            assert_eq!(RotationKind::parse(kind.as_str()), Ok(kind));
        }
        for reason in RotationReason::ALL {
            assert_eq!(RotationReason::parse(reason.as_str()), Ok(reason));
        }
        assert!(RotationKind::parse("seed").is_err());
        assert!(RotationReason::parse("low-codes").is_err());
        assert_eq!(OffboardPolicy::parse("strict"), Ok(OffboardPolicy::Strict));
        assert!(OffboardPolicy::parse("Strict").is_err());
        assert_eq!(RotationKind::of_secret("hotp"), Some(RotationKind::Hotp));
        assert_eq!(RotationKind::of_secret("backup"), None);
    }

    #[test]
    fn a_departure_reason_is_required_and_bounded() {
        assert_eq!(
            DepartureReason::parse("  ").err().map(|e| e.code),
            Some("reason_required")
        );
        assert_eq!(
            DepartureReason::parse("left\u{0}").err().map(|e| e.code),
            Some("invalid_reason")
        );
        let long = "x".repeat(501);
        assert_eq!(
            DepartureReason::parse(&long).err().map(|e| e.code),
            Some("invalid_reason")
        );
        assert_eq!(
            DepartureReason::parse(" left the agency ").map(|r| r.as_str().to_owned()),
            Ok("left the agency".to_owned())
        );
    }
}
