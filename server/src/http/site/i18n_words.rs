//! Stored values as the reader's language names them: platforms, role grants, audit outcomes,
//! forwarder states and the justifications Keyward writes itself. The database keeps the
//! stable value (`instagram`, `denied`, `kw:enrollment`); only the page translates it.

use crate::domain::identity::ORG_WIDE;
use crate::domain::Platform;

/// The justification Keyward records for the reveal that shows a newly stored seed's code.
/// A code, not a sentence: each reader sees it in their own language.
pub const WHY_ENROLLMENT: &str = "kw:enrollment";
/// Its code, for `Justification::own` (which refuses the `kw:` prefix to people).
pub const WHY_ENROLLMENT_CODE: &str = "enrollment";
/// What `WHY_ENROLLMENT` was before it became a code (events written until issue 30).
const WHY_ENROLLMENT_BEFORE: &str = "enrollment of a new seed";

/// The words of this module.
pub struct WordTexts {
    pub platform_other: &'static str,
    /// A grant on every team (`*`).
    pub every_team: &'static str,
    pub outcome_success: &'static str,
    pub outcome_denied: &'static str,
    pub outcome_failure: &'static str,
    pub forward_not_started: &'static str,
    pub forward_retrying: &'static str,
    pub forward_up_to_date: &'static str,
    pub forward_delivering: &'static str,
    pub why_enrollment: &'static str,
    /// `{id}`: an incident's number; `{runbook}` its runbook's id.
    pub why_incident: &'static str,
    /// The expired code's button, which reveals the current one with the same reason.
    pub reveal_again: &'static str,
    /// The store card of an account with no secret yet: an enrollment, not a rotation.
    pub enroll_title: &'static str,
    pub enroll_intro: &'static str,
}

pub static EN: WordTexts = WordTexts {
    platform_other: "Other",
    every_team: "every team",
    outcome_success: "success",
    outcome_denied: "denied",
    outcome_failure: "failure",
    forward_not_started: "not started",
    forward_retrying: "retrying",
    forward_up_to_date: "up to date",
    forward_delivering: "delivering",
    why_enrollment: "enrollment of a new seed",
    why_incident: "incident {id}",
    reveal_again: "Reveal again",
    enroll_title: "Set up two-factor authentication",
    enroll_intro: "Turn on two-factor authentication (an authenticator app) on the platform, then store its setup key or QR code here. Keyward shows the first code to type back into the platform.",
};

pub static JA: WordTexts = WordTexts {
    platform_other: "その他",
    every_team: "全チーム",
    outcome_success: "成功",
    outcome_denied: "拒否",
    outcome_failure: "失敗",
    forward_not_started: "未開始",
    forward_retrying: "再試行中",
    forward_up_to_date: "最新",
    forward_delivering: "送信中",
    why_enrollment: "新しいシードの登録",
    why_incident: "インシデント {id}",
    reveal_again: "もう一度表示",
    enroll_title: "二要素認証を設定",
    enroll_intro: "プラットフォームで二要素認証（認証アプリ）をオンにし、表示されたセットアップキーまたは QR コードをここに保存します。Keyward がプラットフォームに入力する最初のコードを表示します。",
};

/// A platform's name as the platform writes it (`TikTok`, `GitHub`), for a stored value.
pub fn platform_name(platform: Platform) -> Option<&'static str> {
    Some(match platform {
        Platform::X => "X",
        Platform::Instagram => "Instagram",
        Platform::Facebook => "Facebook",
        Platform::Tiktok => "TikTok",
        Platform::Youtube => "YouTube",
        Platform::Linkedin => "LinkedIn",
        Platform::Github => "GitHub",
        Platform::Google => "Google",
        Platform::Other => return None,
    })
}

impl WordTexts {
    /// A stored platform value's name (`tiktok` → `TikTok`; `other` in the reader's language).
    pub fn platform(&self, raw: &str) -> String {
        match Platform::parse(raw) {
            Ok(p) => platform_name(p).unwrap_or(self.platform_other).to_owned(),
            Err(_) => raw.to_owned(),
        }
    }

    /// A team of a role grant: `*` is every team.
    pub fn team<'a>(&self, team: &'a str) -> &'a str {
        if team == ORG_WIDE {
            self.every_team
        } else {
            team
        }
    }

    /// An audit event's outcome.
    pub fn outcome(&self, raw: &str) -> String {
        match raw {
            "success" => self.outcome_success,
            "denied" => self.outcome_denied,
            "failure" => self.outcome_failure,
            other => other,
        }
        .to_owned()
    }

    /// A SIEM forwarder's state (`services::audit`'s words).
    pub fn forward_state(&self, raw: &str) -> &'static str {
        match raw {
            "not started" => self.forward_not_started,
            "retrying" => self.forward_retrying,
            "up to date" => self.forward_up_to_date,
            _ => self.forward_delivering,
        }
    }

    /// A stored justification: the ones Keyward writes itself in the reader's language, any
    /// other as its author typed it.
    pub fn justification(&self, raw: &str) -> String {
        if raw == WHY_ENROLLMENT || raw == WHY_ENROLLMENT_BEFORE {
            return self.why_enrollment.to_owned();
        }
        // `incident <id>` and `incident <id> (<runbook>)` (services::incidents, ::access).
        if let Some(rest) = raw.strip_prefix("incident ") {
            let (id, tail) = rest.split_once(' ').unwrap_or((rest, ""));
            let runbook = tail
                .strip_prefix('(')
                .and_then(|t| t.strip_suffix(')'))
                .is_some_and(|r| {
                    r.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
                });
            if id.bytes().any(|b| b.is_ascii_digit())
                && id.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-')
                && (tail.is_empty() || runbook)
            {
                let text = self.why_incident.replace("{id}", id);
                return if tail.is_empty() {
                    text
                } else {
                    format!("{text} {tail}")
                };
            }
        }
        raw.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::{EN, JA};

    #[test]
    fn stored_values_read_in_each_language() {
        assert_eq!(EN.platform("tiktok"), "TikTok");
        assert_eq!(EN.platform("x"), "X");
        assert_eq!(JA.platform("github"), "GitHub");
        assert_eq!(EN.platform("other"), "Other");
        assert_eq!(JA.platform("other"), "その他");
        assert_eq!(JA.team("*"), "全チーム");
        assert_eq!(JA.team("marketing"), "marketing");
        assert_eq!(JA.outcome("denied"), "拒否");
        assert_eq!(EN.outcome("denied"), "denied");
        assert_eq!(JA.forward_state("up to date"), "最新");
    }

    #[test]
    fn keywards_own_justifications_are_translated_and_others_kept() {
        assert_eq!(
            JA.justification(super::WHY_ENROLLMENT),
            "新しいシードの登録"
        );
        assert_eq!(
            JA.justification("enrollment of a new seed"),
            "新しいシードの登録"
        );
        assert_eq!(
            EN.justification(super::WHY_ENROLLMENT),
            "enrollment of a new seed"
        );
        assert_eq!(
            JA.justification("incident 12 (account_takeover)"),
            "インシデント 12 (account_takeover)"
        );
        assert_eq!(JA.justification("incident 7"), "インシデント 7");
        assert_eq!(
            JA.justification("incident 7 was mine"),
            "incident 7 was mine"
        );
        assert_eq!(
            crate::domain::Justification::own(super::WHY_ENROLLMENT_CODE).as_str(),
            super::WHY_ENROLLMENT
        );
        assert_eq!(JA.justification("incident 01a2-3f"), "インシデント 01a2-3f");
        assert_eq!(
            JA.justification("incident report for the team"),
            "incident report for the team"
        );
        assert_eq!(
            JA.justification("posting the launch video"),
            "posting the launch video"
        );
    }
}
