//! What every wing shares on the wire: the error envelope, the platforms, the account path
//! parameter, and text in both languages (runbooks, platform steps).

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// A social platform.
#[derive(Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
#[schema(rename_all = "lowercase")]
pub enum PlatformName {
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

/// The account named in the path.
#[derive(IntoParams)]
#[into_params(names("id"), parameter_in = Path)]
pub struct AccountId(
    /// The account's id (a UUID, as returned when it was created).
    pub String,
);

/// The error envelope every failure uses.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable snake_case code, e.g. `account_not_found`.
    pub code: String,
    pub message: String,
}

/// Text in both languages.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Text {
    pub en: String,
    pub ja: String,
}

impl Text {
    /// The text in `lang` (`ja`, else English).
    pub fn in_lang(&self, lang: &str) -> &str {
        if lang == "ja" {
            &self.ja
        } else {
            &self.en
        }
    }

    /// The language left blank, if one is.
    pub fn missing(&self) -> Option<&'static str> {
        if self.en.trim().is_empty() {
            Some("en")
        } else if self.ja.trim().is_empty() {
            Some("ja")
        } else {
            None
        }
    }
}

/// Steps in both languages (the same number of each).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Steps {
    pub en: Vec<String>,
    pub ja: Vec<String>,
}

impl Steps {
    /// The steps in `lang` (`ja`, else English).
    pub fn in_lang(&self, lang: &str) -> &[String] {
        if lang == "ja" {
            &self.ja
        } else {
            &self.en
        }
    }
}
