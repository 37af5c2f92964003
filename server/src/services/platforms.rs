//! The platform catalog (`policies/platforms.toml`): each platform's sign-in page, its usual
//! backup codes, where its settings turn on an authenticator app and give new backup codes, and
//! its own rotation steps, shown while enrolling an account, importing its backup codes and
//! beside each rotation task, in English and Japanese. Reviewed data, embedded at build time and
//! checked at start.

use crate::domain::{Platform, RotationKind};
/// A line in both languages, as the runbooks have it.
pub use crate::services::runbooks::Text;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::sync::OnceLock;

const SOURCE: &str = include_str!("../../../policies/platforms.toml");

pub use keyward_proto::wire::Steps;

/// One platform's name, pages, usual backup codes, settings paths and steps per kind.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlatformGuide {
    pub name: String,
    #[serde(default)]
    pub settings_url: Option<String>,
    /// The platform's sign-in page, for accounts that have no login URL of their own.
    #[serde(default)]
    pub login_url: Option<String>,
    /// How many backup codes the platform usually issues at once, where it is fixed.
    #[serde(default)]
    pub backup_code_count: Option<u16>,
    /// What one backup code looks like.
    pub backup_code_format: Text,
    /// Where in the platform's settings an authenticator app is turned on.
    pub authenticator_setting: Text,
    /// Where in the platform's settings new backup codes are issued.
    pub backup_code_setting: Text,
    pub totp: Steps,
    pub password: Steps,
    pub backup_codes: Steps,
}

impl PlatformGuide {
    /// The steps for a kind; HOTP seeds are re-enrolled like TOTP seeds.
    pub fn steps(&self, kind: RotationKind) -> &Steps {
        match kind {
            RotationKind::Totp | RotationKind::Hotp => &self.totp,
            RotationKind::Password => &self.password,
            RotationKind::BackupCodes => &self.backup_codes,
        }
    }
}

/// What is wrong with the data file, naming the platform and kind.
#[derive(Debug, thiserror::Error)]
#[error("policies/platforms.toml: {0}")]
pub struct GuideError(String);

fn parse(source: &str) -> Result<BTreeMap<String, PlatformGuide>, GuideError> {
    let guides: BTreeMap<String, PlatformGuide> =
        toml::from_str(source).map_err(|e| GuideError(e.message().to_owned()))?;
    for platform in Platform::ALL {
        let Some(guide) = guides.get(platform.as_str()) else {
            return Err(GuideError(format!("no steps for {}", platform.as_str())));
        };
        for kind in [
            RotationKind::Totp,
            RotationKind::Password,
            RotationKind::BackupCodes,
        ] {
            let steps = guide.steps(kind);
            let blank = |list: &[String]| list.iter().any(|s| s.trim().is_empty());
            if steps.en.is_empty() || blank(&steps.en) || blank(&steps.ja) {
                return Err(GuideError(format!(
                    "{}.{}: give at least one step, none blank",
                    platform.as_str(),
                    kind.as_str()
                )));
            }
            if steps.en.len() != steps.ja.len() {
                return Err(GuideError(format!(
                    "{}.{}: {} English steps but {} Japanese ones",
                    platform.as_str(),
                    kind.as_str(),
                    steps.en.len(),
                    steps.ja.len()
                )));
            }
        }
    }
    for (key, guide) in &guides {
        let texts = [
            ("backup_code_format", &guide.backup_code_format),
            ("authenticator_setting", &guide.authenticator_setting),
            ("backup_code_setting", &guide.backup_code_setting),
        ];
        if let Some((field, _)) = texts.iter().find(|(_, t)| t.missing().is_some()) {
            return Err(GuideError(format!(
                "{key}.{field}: give it in both languages"
            )));
        }
        let https = |url: &Option<String>| url.as_deref().is_none_or(|u| u.starts_with("https://"));
        if !https(&guide.login_url) || !https(&guide.settings_url) {
            return Err(GuideError(format!(
                "{key}: links must be https:// addresses"
            )));
        }
        if guide.backup_code_count == Some(0) {
            return Err(GuideError(format!(
                "{key}.backup_code_count: leave it out rather than 0"
            )));
        }
    }
    if let Some(unknown) = guides
        .keys()
        .find(|k| Platform::ALL.iter().all(|p| p.as_str() != k.as_str()))
    {
        return Err(GuideError(format!(
            "{unknown} is not a platform Keyward knows"
        )));
    }
    Ok(guides)
}

static GUIDES: OnceLock<Result<BTreeMap<String, PlatformGuide>, String>> = OnceLock::new();

fn guides() -> &'static Result<BTreeMap<String, PlatformGuide>, String> {
    GUIDES.get_or_init(|| parse(SOURCE).map_err(|e| e.to_string()))
}

/// Checks the embedded file (at start-up).
pub fn check() -> Result<(), GuideError> {
    guides()
        .as_ref()
        .map(|_| ())
        .map_err(|e| GuideError(e.clone()))
}

/// The guide for a platform, if the data has one.
pub fn guide(platform: &str) -> Option<&'static PlatformGuide> {
    guides().as_ref().ok()?.get(platform)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_file_covers_every_platform_and_kind_in_both_languages() {
        assert!(check().is_ok(), "{:?}", check().err());
        let x = guide("x").map(|g| g.steps(RotationKind::Hotp).ja.len());
        assert_eq!(x, guide("x").map(|g| g.totp.en.len()));
    }

    #[test]
    fn the_catalog_gives_every_named_platform_a_sign_in_page_and_a_backup_code_count() {
        for platform in Platform::ALL.iter().filter(|p| p.as_str() != "other") {
            let g = guide(platform.as_str());
            let login = g.and_then(|g| g.login_url.as_deref()).unwrap_or_default();
            assert!(login.starts_with("https://"), "{}", platform.as_str());
            assert!(g.and_then(|g| g.backup_code_count).is_some());
        }
        let github = guide("github").map(|g| g.backup_code_setting.in_lang("ja"));
        assert!(github.is_some_and(|s| s.contains("Recovery codes")));
    }

    #[test]
    fn a_catalog_line_without_japanese_or_a_plain_http_link_is_refused() {
        let no_ja = SOURCE.replacen("ja = \"英小文字と数字12文字\"", "ja = \" \"", 1);
        assert_ne!(no_ja, SOURCE);
        let text = parse(&no_ja)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(text.contains("x.backup_code_format"), "{text}");
        let http = SOURCE.replacen(
            "login_url = \"https://x.com",
            "login_url = \"http://x.com",
            1,
        );
        assert_ne!(http, SOURCE);
        let text = parse(&http)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(text.contains("x: links"), "{text}");
        let zero = SOURCE.replacen("backup_code_count = 1\n", "backup_code_count = 0\n", 1);
        let text = parse(&zero)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(text.contains("x.backup_code_count"), "{text}");
    }

    #[test]
    fn a_missing_translation_or_platform_is_named() {
        let broken = SOURCE.replacen("ja = [", "jx = [", 1);
        let text = parse(&broken)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(!text.is_empty());
        let short = SOURCE.replace("[github.password]\nen = [\n  \"Open Settings → Password and authentication → Change password.\",\n", "[github.password]\nen = [\n");
        let text = parse(&short)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(text.contains("github.password"), "{text}");
        let without = SOURCE
            .replace("[tiktok]", "[tiktok_old]")
            .replace("[tiktok.", "[tiktok_old.");
        let text = parse(&without)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(text.contains("tiktok"), "{text}");
    }
}
