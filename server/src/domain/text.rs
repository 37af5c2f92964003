//! Free-text values with limits: justifications for privileged actions.

use super::Invalid;

/// Why someone reveals or exports a secret; kept in the audit trail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Justification(String);

impl Justification {
    pub const MAX_CHARS: usize = 500;

    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let text = raw.trim();
        if text.is_empty() {
            return Err(Invalid::new(
                "justification_required",
                "a justification is required",
            ));
        }
        if text.chars().count() < 3 {
            return Err(Invalid::new(
                "justification_too_short",
                "say in at least 3 characters why you need this",
            ));
        }
        if text.chars().count() > Self::MAX_CHARS {
            return Err(Invalid::new(
                "justification_too_long",
                format!(
                    "the justification is limited to {} characters",
                    Self::MAX_CHARS
                ),
            ));
        }
        if text.chars().any(|c| c.is_control() && c != '\n') {
            return Err(Invalid::new(
                "invalid_justification",
                "the justification contains control characters",
            ));
        }
        Ok(Self(text.to_owned()))
    }

    /// Parses an optional justification: absent or blank means none.
    pub fn parse_optional(raw: Option<&str>) -> Result<Option<Self>, Invalid> {
        match raw.map(str::trim) {
            None | Some("") => Ok(None),
            Some(text) => Self::parse(text).map(Some),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_justification_is_trimmed_and_needs_three_characters() {
        assert_eq!(
            Justification::parse("  login for campaign ").map(|j| j.0),
            Ok("login for campaign".into())
        );
        assert_eq!(
            Justification::parse(" ok ").map_err(|e| e.code),
            Err("justification_too_short")
        );
        assert_eq!(
            Justification::parse("  ").map_err(|e| e.code),
            Err("justification_required")
        );
        assert_eq!(Justification::parse_optional(Some("   ")), Ok(None));
        let long = "x".repeat(501);
        assert_eq!(
            Justification::parse(&long).map_err(|e| e.code),
            Err("justification_too_long")
        );
    }
}
