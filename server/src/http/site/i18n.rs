//! The dashboard's words in English and Japanese. Chosen by the `kw_lang` cookie, else by
//! `Accept-Language`.

/// Every text a page shows.
pub struct Texts {
    pub lang: &'static str,
    pub other_lang: &'static str,
    pub other_lang_name: &'static str,
    pub tagline: &'static str,
    pub nav_accounts: &'static str,
    pub signed_in_as: &'static str,
    pub sign_out: &'static str,
    pub sign_in_title: &'static str,
    pub sign_in_intro: &'static str,
    pub sign_in_button: &'static str,
    pub signed_out_notice: &'static str,
    pub session_ended_notice: &'static str,
    pub accounts_title: &'static str,
    pub accounts_intro: &'static str,
    pub empty_no_team_title: &'static str,
    pub empty_no_team_body: &'static str,
    pub empty_no_accounts_title: &'static str,
    pub empty_no_accounts_body: &'static str,
    pub col_account: &'static str,
    pub col_team: &'static str,
    pub col_status: &'static str,
    pub col_second_factor: &'static str,
    pub status_active: &'static str,
    pub status_frozen: &'static str,
    pub status_archived: &'static str,
    pub has_totp: &'static str,
    pub has_hotp: &'static str,
    pub no_second_factor: &'static str,
    pub back_to_accounts: &'static str,
    pub login_page: &'static str,
    pub notes: &'static str,
    pub totp_title: &'static str,
    pub totp_missing: &'static str,
    pub totp_not_allowed: &'static str,
    pub frozen_body: &'static str,
    pub justification_label: &'static str,
    pub justification_hint: &'static str,
    pub reveal_button: &'static str,
    pub reauth_hint: &'static str,
    pub code_label: &'static str,
    pub valid_for: &'static str,
    pub seconds: &'static str,
    pub next_code_label: &'static str,
    pub copy: &'static str,
    pub copied: &'static str,
    pub expired: &'static str,
    pub audit_note: &'static str,
    pub error_title: &'static str,
    pub not_found_body: &'static str,
    pub forbidden_body: &'static str,
    pub try_again: &'static str,
    pub your_roles: &'static str,
}

pub static EN: Texts = Texts {
    lang: "en",
    other_lang: "ja",
    other_lang_name: "日本語",
    tagline: "Shared-account custody",
    nav_accounts: "Accounts",
    signed_in_as: "Signed in as",
    sign_out: "Sign out",
    sign_in_title: "Sign in to Keyward",
    sign_in_intro: "Keyward keeps the 2FA codes of your team's shared social accounts. Sign in with your organisation's single sign-on.",
    sign_in_button: "Sign in with SSO",
    signed_out_notice: "You have signed out.",
    session_ended_notice: "Your session has ended. Sign in again to continue.",
    accounts_title: "Accounts",
    accounts_intro: "Shared accounts of the teams you belong to.",
    empty_no_team_title: "You have no team yet",
    empty_no_team_body: "Your identity provider groups do not grant you a role in any team. Ask an admin to bind your IdP group to a Keyward team.",
    empty_no_accounts_title: "No accounts yet",
    empty_no_accounts_body: "Your teams have no shared accounts registered. A manager can register one (see the README's first steps).",
    col_account: "Account",
    col_team: "Team",
    col_status: "Status",
    col_second_factor: "Second factor",
    status_active: "Active",
    status_frozen: "Frozen",
    status_archived: "Archived",
    has_totp: "TOTP",
    has_hotp: "HOTP",
    no_second_factor: "None stored",
    back_to_accounts: "All accounts",
    login_page: "Login page",
    notes: "Notes",
    totp_title: "One-time code",
    totp_missing: "No TOTP seed is stored for this account yet.",
    totp_not_allowed: "Your role lets you see this account but not reveal its codes.",
    frozen_body: "This account is frozen: codes cannot be revealed until a manager unfreezes it.",
    justification_label: "Why do you need the code?",
    justification_hint: "Optional. Saved in the audit trail, e.g. “posting the launch video”.",
    reveal_button: "Reveal code",
    reauth_hint: "Revealing a code needs a recent sign-in: you will be asked to sign in again.",
    code_label: "Current code",
    valid_for: "Valid for",
    seconds: "s",
    next_code_label: "Next code",
    copy: "Copy",
    copied: "Copied",
    expired: "This code has expired. Reveal a new one.",
    audit_note: "This reveal was recorded in the audit trail.",
    error_title: "Something went wrong",
    not_found_body: "There is nothing here. The account may have been removed, or the link is wrong.",
    forbidden_body: "Your roles do not allow this. Ask an admin if you need access.",
    try_again: "Try again",
    your_roles: "Your roles",
};

pub static JA: Texts = Texts {
    lang: "ja",
    other_lang: "en",
    other_lang_name: "English",
    tagline: "共有アカウントの鍵管理",
    nav_accounts: "アカウント",
    signed_in_as: "ログイン中",
    sign_out: "ログアウト",
    sign_in_title: "Keyward にログイン",
    sign_in_intro: "Keyward はチームの共有 SNS アカウントの二要素認証コードを安全に管理します。組織のシングルサインオンでログインしてください。",
    sign_in_button: "SSO でログイン",
    signed_out_notice: "ログアウトしました。",
    session_ended_notice: "セッションが終了しました。続けるには再度ログインしてください。",
    accounts_title: "アカウント",
    accounts_intro: "所属チームの共有アカウントです。",
    empty_no_team_title: "まだチームに所属していません",
    empty_no_team_body: "IdP のグループにどのチームのロールも割り当てられていません。管理者に IdP グループと Keyward チームの紐付けを依頼してください。",
    empty_no_accounts_title: "アカウントはまだありません",
    empty_no_accounts_body: "所属チームに共有アカウントが登録されていません。マネージャーが登録できます（README の「First steps」を参照）。",
    col_account: "アカウント",
    col_team: "チーム",
    col_status: "状態",
    col_second_factor: "二要素",
    status_active: "有効",
    status_frozen: "凍結中",
    status_archived: "アーカイブ済み",
    has_totp: "TOTP",
    has_hotp: "HOTP",
    no_second_factor: "未登録",
    back_to_accounts: "アカウント一覧",
    login_page: "ログインページ",
    notes: "メモ",
    totp_title: "ワンタイムコード",
    totp_missing: "このアカウントには TOTP シードがまだ登録されていません。",
    totp_not_allowed: "あなたのロールではこのアカウントを閲覧できますが、コードは表示できません。",
    frozen_body: "このアカウントは凍結中です。マネージャーが解除するまでコードは表示できません。",
    justification_label: "コードが必要な理由",
    justification_hint: "任意。監査ログに記録されます（例：「新商品の動画を投稿」）。",
    reveal_button: "コードを表示",
    reauth_hint: "コードの表示には最近のログインが必要です。再ログインを求められます。",
    code_label: "現在のコード",
    valid_for: "残り",
    seconds: "秒",
    next_code_label: "次のコード",
    copy: "コピー",
    copied: "コピーしました",
    expired: "このコードは期限切れです。もう一度表示してください。",
    audit_note: "この表示は監査ログに記録されました。",
    error_title: "問題が発生しました",
    not_found_body: "ページが見つかりません。アカウントが削除されたか、リンクが間違っています。",
    forbidden_body: "この操作はあなたのロールでは許可されていません。必要なら管理者に依頼してください。",
    try_again: "もう一度試す",
    your_roles: "あなたのロール",
};

/// The language for a request: the cookie if set, else the first supported Accept-Language.
pub fn pick(cookie: Option<&str>, accept_language: Option<&str>) -> &'static Texts {
    match cookie {
        Some("ja") => return &JA,
        Some("en") => return &EN,
        _ => {}
    }
    let header = accept_language.unwrap_or("");
    for part in header.split(',') {
        let tag = part
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        if tag.starts_with("ja") {
            return &JA;
        }
        if tag.starts_with("en") {
            return &EN;
        }
    }
    &EN
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cookie_wins_then_the_first_supported_accept_language() {
        assert_eq!(pick(None, Some("ja-JP,ja;q=0.9,en;q=0.8")).lang, "ja");
        assert_eq!(pick(None, Some("fr-FR,en;q=0.5,ja;q=0.4")).lang, "en");
        assert_eq!(pick(Some("en"), Some("ja")).lang, "en");
        assert_eq!(pick(Some("ja"), None).lang, "ja");
        assert_eq!(pick(None, None).lang, "en");
    }
}
