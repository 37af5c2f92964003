//! What an account's page shows of its life cycle: a revealed password, once, and the platform
//! catalog's help (where to sign in, turn on an authenticator app, find backup codes).

use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

/// A password just revealed, shown once.
#[derive(Serialize, Deserialize)]
pub struct ShownPassword {
    pub password: Zeroizing<String>,
}

/// The platform catalog's help for one account, in the page's language: where to sign in,
/// where to turn on an authenticator app, and what backup codes to expect and where.
pub struct PlatformHelp {
    pub name: String,
    pub login_url: Option<String>,
    pub settings_url: Option<String>,
    /// "Turn on an authenticator app: …".
    pub authenticator: String,
    /// "… usually gives 5 backup codes: 8 digits each …".
    pub backup_usual: String,
    /// "New codes: …".
    pub backup_where: String,
    /// The usual count, to compare an import with.
    pub count: Option<u16>,
}

impl PlatformHelp {
    /// The help for `platform`, if the catalog has it.
    pub fn of(platform: &str, t: &super::super::i18n::Texts) -> Option<Self> {
        let guide = crate::services::platforms::guide(platform)?;
        let name = guide.name.as_str();
        let format = guide.backup_code_format.in_lang(t.lang);
        let backup_usual = match guide.backup_code_count {
            Some(n) => super::super::i18n::count(t.life.guide_backup_count, "n", n.into())
                .replace("{format}", format),
            None => t.life.guide_backup_format.replace("{format}", format),
        };
        Some(Self {
            name: name.to_owned(),
            login_url: guide.login_url.clone(),
            settings_url: guide.settings_url.clone(),
            authenticator: t
                .life
                .guide_authenticator
                .replace("{path}", guide.authenticator_setting.in_lang(t.lang)),
            backup_usual: backup_usual.replace("{platform}", name),
            backup_where: t
                .life
                .guide_backup_where
                .replace("{path}", guide.backup_code_setting.in_lang(t.lang)),
            count: guide.backup_code_count,
        })
    }

    /// A hint when an import's count is not the platform's usual one.
    pub fn count_hint(&self, t: &super::super::i18n::Texts, imported: usize) -> Option<String> {
        let usual = self.count?;
        (usize::from(usual) != imported).then(|| {
            let text = super::super::i18n::count(t.life.guide_count_differs, "n", usual.into());
            super::super::i18n::count(&text, "m", imported as i64).replace("{platform}", &self.name)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::PlatformHelp;
    use crate::http::site::i18n::{EN, JA};

    #[test]
    fn the_help_names_the_platform_s_menus_and_its_usual_backup_codes_in_both_languages() {
        let en = PlatformHelp::of("instagram", &EN).expect("instagram is in the catalog");
        assert!(
            en.authenticator.contains("Accounts Center"),
            "{}",
            en.authenticator
        );
        assert_eq!(
            en.backup_usual,
            "Instagram usually gives 5 backup codes: 8 digits each, sometimes shown as two groups of four."
        );
        assert!(en
            .login_url
            .is_some_and(|u| u.starts_with("https://www.instagram.com/")));
        let ja = PlatformHelp::of("instagram", &JA).expect("instagram is in the catalog");
        assert!(
            ja.authenticator.contains("アカウントセンター"),
            "{}",
            ja.authenticator
        );
        assert!(ja.backup_usual.contains("通常5個"), "{}", ja.backup_usual);
        let other = PlatformHelp::of("other", &EN).expect("other is in the catalog");
        assert!(other
            .backup_usual
            .starts_with("Other platform's backup codes:"));
        assert!(PlatformHelp::of("myspace", &EN).is_none());
    }

    #[test]
    fn an_import_of_an_unusual_count_gets_a_hint_and_the_usual_count_none() {
        let help = PlatformHelp::of("github", &EN).expect("github is in the catalog");
        assert_eq!(help.count_hint(&EN, 16), None);
        assert_eq!(
            help.count_hint(&EN, 15).as_deref(),
            Some(
                "GitHub usually gives 16 codes, and 15 were imported. Check that none were missed."
            )
        );
        let other = PlatformHelp::of("other", &EN).expect("other is in the catalog");
        assert_eq!(other.count_hint(&EN, 3), None, "no usual count, no hint");
    }
}
