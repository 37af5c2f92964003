//! Account identity: the team it belongs to, the platform, the handle and its login URL.

use super::Invalid;
use std::fmt;

/// A team's slug, the Casbin domain: lowercase letters, digits and hyphens.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TeamSlug(String);

impl TeamSlug {
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let slug = raw.trim().to_ascii_lowercase();
        let valid_chars = slug
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
        let starts_well = slug
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric());
        if slug.is_empty() || slug.len() > 63 || !valid_chars || !starts_well {
            return Err(Invalid::new(
                "invalid_team",
                "a team is 1-63 lowercase letters, digits, '-' or '_', starting with a letter or digit",
            ));
        }
        Ok(Self(slug))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TeamSlug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The social platform an account lives on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Platform {
    X,
    Instagram,
    Facebook,
    Tiktok,
    Youtube,
    Linkedin,
    Github,
    Google,
    Other,
}

impl Platform {
    pub const ALL: [Platform; 9] = [
        Platform::X,
        Platform::Instagram,
        Platform::Facebook,
        Platform::Tiktok,
        Platform::Youtube,
        Platform::Linkedin,
        Platform::Github,
        Platform::Google,
        Platform::Other,
    ];

    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let wanted = raw.trim().to_ascii_lowercase();
        let wanted = if wanted == "twitter" {
            "x".to_owned()
        } else {
            wanted
        };
        Self::ALL
            .into_iter()
            .find(|p| p.as_str() == wanted)
            .ok_or_else(|| {
                let names: Vec<&str> = Self::ALL.iter().map(|p| p.as_str()).collect();
                Invalid::new(
                    "invalid_platform",
                    format!("platform must be one of: {}", names.join(", ")),
                )
            })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Platform::X => "x",
            Platform::Instagram => "instagram",
            Platform::Facebook => "facebook",
            Platform::Tiktok => "tiktok",
            Platform::Youtube => "youtube",
            Platform::Linkedin => "linkedin",
            Platform::Github => "github",
            Platform::Google => "google",
            Platform::Other => "other",
        }
    }
}

/// The account's name on its platform, e.g. `@brand`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Handle(String);

impl Handle {
    /// The longest uniqueness key (see [`Handle::key`]).
    pub const MAX_KEY_CHARS: usize = 300;

    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        use unicode_properties::{GeneralCategory, UnicodeGeneralCategory};
        let handle = raw.trim();
        if handle.is_empty() || handle.chars().count() > 100 {
            return Err(Invalid::new(
                "invalid_handle",
                "a handle is 1-100 characters",
            ));
        }
        if handle.chars().any(|c| c.is_control() || c.is_whitespace()) {
            return Err(Invalid::new(
                "invalid_handle",
                "a handle contains no spaces or control characters",
            ));
        }
        // Invisible and bidirectional characters (zero-width joiners, RTL overrides, …) would
        // make two handles that look the same, or one that reads backwards.
        if handle
            .chars()
            .any(|c| c.general_category() == GeneralCategory::Format)
        {
            return Err(Invalid::new(
                "invalid_handle",
                "a handle contains no invisible or text-direction characters",
            ));
        }
        let parsed = Self(handle.to_owned());
        // Compatibility forms can expand (U+FDFA is 18 letters): bound the key too.
        if parsed.key().chars().count() > Self::MAX_KEY_CHARS {
            return Err(Invalid::new(
                "invalid_handle",
                "a handle is 1-100 characters once written out in plain letters",
            ));
        }
        Ok(parsed)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// What makes two handles the same account: compatibility-normalised (NFKC: full-width
    /// `＠ｂｒａｎｄ` is `@brand`) and in lower case (`@Brand` is `@brand`).
    pub fn key(&self) -> String {
        use unicode_normalization::UnicodeNormalization;
        self.0.nfkc().collect::<String>().to_lowercase()
    }

    /// A search for part of a handle, normalised as keys are (NFKC, lower case, at most 100
    /// characters, no control characters); `None` when nothing is left.
    pub fn search_key(raw: &str) -> Option<String> {
        use unicode_normalization::UnicodeNormalization;
        let key: String = raw
            .trim()
            .nfkc()
            .filter(|c| !c.is_control())
            .take(100)
            .collect::<String>()
            .to_lowercase();
        Some(key).filter(|k| !k.is_empty())
    }
}

/// Where people sign in to the account: an http(s) URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginUrl(String);

impl LoginUrl {
    /// The longest URL kept (as stored, after normalisation).
    pub const MAX_LEN: usize = 2048;

    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let bad = || {
            Invalid::new(
                "invalid_login_url",
                "login_url must be an http or https URL",
            )
        };
        let too_long = || {
            Invalid::new(
                "invalid_login_url",
                format!("login_url is at most {} characters", Self::MAX_LEN),
            )
        };
        if raw.len() > Self::MAX_LEN {
            return Err(too_long());
        }
        let url = url::Url::parse(raw.trim()).map_err(|_| bad())?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            return Err(bad());
        }
        if url.password().is_some() || !url.username().is_empty() {
            return Err(Invalid::new(
                "invalid_login_url",
                "login_url must not carry credentials; store the password as a secret",
            ));
        }
        let normalised = url.to_string();
        if normalised.len() > Self::MAX_LEN {
            return Err(too_long());
        }
        Ok(Self(normalised))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Free notes about an account. Stored in clear: never a place for secrets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notes(String);

impl Notes {
    pub const MAX_CHARS: usize = 2000;

    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        if raw.chars().count() > Self::MAX_CHARS {
            return Err(Invalid::new(
                "notes_too_long",
                format!("notes are limited to {} characters", Self::MAX_CHARS),
            ));
        }
        // Line breaks and tabs belong in notes; NUL and other control characters do not.
        if raw
            .chars()
            .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
        {
            return Err(Invalid::new(
                "invalid_notes",
                "notes contain control characters",
            ));
        }
        Ok(Self(raw.trim().to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Whether an account can be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountStatus {
    Active,
    Frozen,
    Archived,
}

impl AccountStatus {
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        match raw.trim().to_ascii_lowercase().as_str() {
            "active" => Ok(Self::Active),
            "frozen" => Ok(Self::Frozen),
            "archived" => Ok(Self::Archived),
            _ => Err(Invalid::new(
                "invalid_status",
                "status must be active, frozen or archived",
            )),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Frozen => "frozen",
            Self::Archived => "archived",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platforms_parse_case_insensitively_and_twitter_means_x() {
        assert_eq!(Platform::parse(" Instagram "), Ok(Platform::Instagram));
        assert_eq!(Platform::parse("twitter"), Ok(Platform::X));
        assert_eq!(
            Platform::parse("myspace").map_err(|e| e.code),
            Err("invalid_platform")
        );
    }

    #[test]
    fn team_slugs_are_lowercased_and_restricted() {
        assert_eq!(
            TeamSlug::parse("Marketing").map(|t| t.0),
            Ok("marketing".into())
        );
        assert!(TeamSlug::parse("-bad").is_err());
        assert!(TeamSlug::parse("has space").is_err());
        assert!(TeamSlug::parse("*").is_err());
    }

    #[test]
    fn handles_refuse_invisible_characters_and_look_alike_variants_share_one_key() {
        for bad in [
            "@br\u{200B}and",
            "@brand\u{202E}",
            "@\u{2066}brand",
            "@bra\u{00AD}nd",
            "\u{FEFF}@brand",
        ] {
            assert_eq!(
                Handle::parse(bad).map_err(|e| e.code),
                Err("invalid_handle"),
                "{bad:?}"
            );
        }
        let key = |raw: &str| Handle::parse(raw).map(|h| h.key());
        assert_eq!(key("@Brand"), key("@brand"));
        assert_eq!(key("＠ｂｒａｎｄ"), key("@brand"));
        assert_ne!(key("@brand2"), key("@brand"));
        // Twenty U+FDFA are 360 letters written out: refused, not a database error.
        assert_eq!(
            Handle::parse(&"\u{FDFA}".repeat(20)).map_err(|e| e.code),
            Err("invalid_handle")
        );
        assert_eq!(
            Handle::parse("@Brand").map(|h| h.0),
            Ok("@Brand".into()),
            "kept as typed"
        );
    }

    #[test]
    fn handles_refuse_spaces_and_login_urls_refuse_credentials() {
        assert_eq!(Handle::parse(" @brand ").map(|h| h.0), Ok("@brand".into()));
        assert!(Handle::parse("two words").is_err());
        assert!(LoginUrl::parse("https://x.com/login").is_ok());
        assert!(LoginUrl::parse("javascript:alert(1)").is_err());
        assert!(LoginUrl::parse("https://user:pw@x.com/").is_err());
    }
}
