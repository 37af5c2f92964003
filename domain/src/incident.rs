//! Incidents: the names a runbook gives its steps and choices (and itself), and an incident's
//! state.

use crate::Invalid;

/// A runbook's, step's or choice's id: 1 to 64 of `a-z`, `0-9`, `_` and `-`. Anything else
/// names nothing and is refused before it is compared.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RunbookKey(String);

impl RunbookKey {
    pub const MAX_LEN: usize = 64;

    /// `what` names the field in the message (`runbook`, `step`, `choice`).
    pub fn parse(raw: &str, what: &'static str) -> Result<Self, Invalid> {
        let key = raw.trim();
        let fine = !key.is_empty()
            && key.len() <= Self::MAX_LEN
            && key
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
        if fine {
            Ok(Self(key.to_owned()))
        } else {
            Err(Invalid::new(
                "invalid_key",
                format!(
                    "{what} is an id of 1 to {} characters: a-z, 0-9, _ and -",
                    Self::MAX_LEN
                ),
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Where an incident stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IncidentState {
    Open,
    Resolved,
    Cancelled,
}

impl IncidentState {
    pub const ALL: [IncidentState; 3] = [Self::Open, Self::Resolved, Self::Cancelled];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Resolved => "resolved",
            Self::Cancelled => "cancelled",
        }
    }

    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        Self::ALL
            .into_iter()
            .find(|s| s.as_str() == raw)
            .ok_or_else(|| Invalid::new("invalid_state", "state is open, resolved or cancelled"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_short_lowercase_names() {
        assert_eq!(
            RunbookKey::parse(" try_backup-2 ", "step").map(|k| k.0),
            Ok("try_backup-2".to_owned())
        );
        for bad in ["", "Try", "a b", "a\0b", "ü", &"a".repeat(65)] {
            let err = RunbookKey::parse(bad, "step").err();
            assert_eq!(err.map(|e| e.code), Some("invalid_key"), "{bad:?}");
        }
        assert!(RunbookKey::parse(&"a".repeat(64), "step").is_ok());
    }

    #[test]
    fn states_parse_and_name_themselves() {
        for state in IncidentState::ALL {
            assert_eq!(IncidentState::parse(state.as_str()), Ok(state));
        }
        assert!(IncidentState::parse("closed").is_err());
    }
}
