//! Free-text values with limits: justifications for privileged actions, account passwords.

use super::Invalid;
use secrecy::{ExposeSecret, SecretString};

/// Why someone reveals or exports a secret; kept in the audit trail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Justification(String);

impl Justification {
    pub const MAX_CHARS: usize = 500;
    /// Keyward's own justifications are codes under this prefix (`kw:enrollment`), shown in
    /// the reader's language. A person's may not start with it, so none passes for Keyward's.
    pub const OWN_PREFIX: &'static str = "kw:";

    /// One of Keyward's own justifications: `kw:<code>`.
    pub fn own(code: &str) -> Self {
        Self(format!("{}{code}", Self::OWN_PREFIX))
    }

    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let text = raw.trim();
        if text.is_empty() {
            return Err(Invalid::required(
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
        let prefix = Self::OWN_PREFIX.len();
        if text
            .get(..prefix)
            .is_some_and(|p| p.eq_ignore_ascii_case(Self::OWN_PREFIX))
        {
            return Err(Invalid::new(
                "invalid_justification",
                "a justification may not start with \"kw:\": Keyward keeps that for its own",
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

/// A value to filter the audit trail on (an actor, an account id, an action): trimmed, at
/// most [`Self::MAX_CHARS`] characters, no control characters, so every database answers
/// it the same way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilterText(String);

impl FilterText {
    pub const MAX_CHARS: usize = 200;

    /// Absent or blank means no filter.
    pub fn parse_optional(raw: Option<&str>, name: &'static str) -> Result<Option<Self>, Invalid> {
        let Some(text) = raw.map(str::trim).filter(|t| !t.is_empty()) else {
            return Ok(None);
        };
        if text.chars().count() > Self::MAX_CHARS || text.chars().any(char::is_control) {
            return Err(Invalid::new(
                "invalid_filter",
                format!(
                    "{name} is at most {} characters, without control characters",
                    Self::MAX_CHARS
                ),
            ));
        }
        Ok(Some(Self(text.to_owned())))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An account's password. Held as a secret; never printed, logged or compared in clear.
pub struct Password(SecretString);

impl Password {
    pub const MAX_CHARS: usize = 1024;

    /// Any printable text up to [`Self::MAX_CHARS`] characters, kept exactly as given (no
    /// trimming: leading or trailing spaces may be part of a password).
    pub fn parse(raw: SecretString) -> Result<Self, Invalid> {
        let text = raw.expose_secret();
        if text.is_empty() {
            return Err(Invalid::new("password_required", "the password is empty"));
        }
        if text.chars().count() > Self::MAX_CHARS {
            return Err(Invalid::new(
                "password_too_long",
                format!("passwords are limited to {} characters", Self::MAX_CHARS),
            ));
        }
        if text.chars().any(char::is_control) {
            return Err(Invalid::new(
                "invalid_password",
                "the password contains control characters (line breaks, tabs…)",
            ));
        }
        Ok(Self(raw))
    }

    pub fn expose_bytes(&self) -> &[u8] {
        self.0.expose_secret().as_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keywards_own_prefix_is_refused_to_people() {
        for typed in ["kw:enrollment", "KW:enrollment", "  kw:anything"] {
            let refused = Justification::parse(typed).unwrap_err();
            assert_eq!(refused.code, "invalid_justification", "{typed}");
        }
        assert_eq!(Justification::own("enrollment").as_str(), "kw:enrollment");
        assert!(Justification::parse("kw enrollment").is_ok());
        assert!(Justification::parse("posting for kw:launch").is_ok());
    }

    #[test]
    fn a_password_is_kept_as_given_and_errors_never_quote_it() {
        let kept =
            Password::parse(SecretString::from(" pa ss ")).map(|p| p.expose_bytes().to_vec());
        assert_eq!(kept.ok(), Some(b" pa ss ".to_vec()));
        let err = Password::parse(SecretString::from("hunter2\n")).err();
        assert!(err.is_some_and(|e| e.code == "invalid_password" && !e.message.contains("hunter2")));
        let empty = Password::parse(SecretString::from(""))
            .err()
            .map(|e| e.code);
        assert_eq!(empty, Some("password_required"));
    }

    #[test]
    fn filters_refuse_control_characters_and_overlong_values() {
        assert_eq!(FilterText::parse_optional(Some("  "), "actor"), Ok(None));
        assert_eq!(
            FilterText::parse_optional(Some(" totp.reveal "), "action").map(|f| f.map(|f| f.0)),
            Ok(Some("totp.reveal".to_owned()))
        );
        for bad in ["a\0b", "a\nb", &"x".repeat(201)] {
            assert_eq!(
                FilterText::parse_optional(Some(bad), "actor").map_err(|e| e.code),
                Err("invalid_filter")
            );
        }
    }

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
