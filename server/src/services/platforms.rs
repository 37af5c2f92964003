//! The platforms' own rotation steps (`policies/platforms.toml`), shown beside each rotation
//! task in English and Japanese. Reviewed data, embedded at build time and checked at start.

use crate::domain::{Platform, RotationKind};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::sync::OnceLock;

const SOURCE: &str = include_str!("../../../policies/platforms.toml");

/// Steps in both languages (the same number of each).
#[derive(Debug, Clone, Deserialize, serde::Serialize, utoipa::ToSchema)]
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

/// One platform's name, settings page and steps per kind.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlatformGuide {
    pub name: String,
    #[serde(default)]
    pub settings_url: Option<String>,
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
