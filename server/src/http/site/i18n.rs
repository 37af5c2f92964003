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
    pub reauth_title: &'static str,
    /// A form that could not be read.
    pub form_unreadable: &'static str,
    /// A link whose query string could not be read.
    pub query_unreadable: &'static str,
    /// A form's result asked for again (a reload): it was shown once.
    pub shown_once: &'static str,
    pub reauth_body: &'static str,
    pub reauth_continue: &'static str,
    pub code_label: &'static str,
    pub valid_for: &'static str,
    pub seconds: &'static str,
    pub next_code_label: &'static str,
    pub copy: &'static str,
    pub copied: &'static str,
    pub skip_to_content: &'static str,
    pub nav_label: &'static str,
    /// Announced to screen readers near the end of a countdown (`{n}`).
    pub seconds_left: &'static str,
    pub expired: &'static str,
    pub audit_note: &'static str,
    pub error_title: &'static str,
    /// The title of a refusal (403).
    pub forbidden_title: &'static str,
    pub back_home: &'static str,
    /// Role names, for the role chips.
    pub role_viewer: &'static str,
    pub role_operator: &'static str,
    pub role_manager: &'static str,
    pub role_security_admin: &'static str,
    pub role_auditor: &'static str,
    pub role_custodian: &'static str,
    pub role_scim: &'static str,
    pub not_found_body: &'static str,
    pub forbidden_body: &'static str,
    /// The IdP answered `access_denied`.
    pub idp_denied: &'static str,
    /// `login_required`, `interaction_required`, `consent_required`, `account_selection_required`.
    pub idp_needs_interaction: &'static str,
    /// `server_error`, `temporarily_unavailable`.
    pub idp_trouble: &'static str,
    /// Any other error; `{code}` is the OAuth error code when it is a known one.
    pub idp_refused: &'static str,
    pub try_again: &'static str,
    pub your_roles: &'static str,
    pub b: BackupTexts,
    pub a: AuditTexts,
    pub r: &'static super::i18n_rotation::RotationTexts,
    pub bg: &'static super::i18n_breakglass::BreakGlassTexts,
    pub inc: &'static super::i18n_incidents::IncidentTexts,
    pub imp: &'static super::i18n_imports::ImportTexts,
    pub life: &'static super::i18n_lifecycle::LifecycleTexts,
    pub acc: &'static super::i18n_access::AccessTexts,
    pub dev: &'static super::i18n_device::DeviceTexts,
    pub w: &'static super::i18n_words::WordTexts,
}

impl Texts {
    /// A role's name in this language.
    pub fn role(&self, role: crate::authz::Role) -> &'static str {
        use crate::authz::Role;
        match role {
            Role::Viewer => self.role_viewer,
            Role::Operator => self.role_operator,
            Role::Manager => self.role_manager,
            Role::SecurityAdmin => self.role_security_admin,
            Role::Auditor => self.role_auditor,
            Role::Custodian => self.role_custodian,
            Role::Scim => self.role_scim,
        }
    }

    /// A role grant as `role @ team`, both in this language where they have words.
    pub fn grant(&self, role: &str, team: &str) -> String {
        let role = crate::authz::Role::parse(role).map_or(role, |r| self.role(r));
        format!("{role} @ {}", self.w.team(team))
    }
}

/// The audit viewer's words.
pub struct AuditTexts {
    pub nav: &'static str,
    pub title: &'static str,
    pub intro: &'static str,
    pub account_history: &'static str,
    pub filter_account: &'static str,
    pub filter_member: &'static str,
    pub filter_action: &'static str,
    pub filter_outcome: &'static str,
    pub filter_since: &'static str,
    pub filter_until: &'static str,
    pub any: &'static str,
    pub apply: &'static str,
    pub clear: &'static str,
    pub col_seq: &'static str,
    pub col_time: &'static str,
    pub col_actor: &'static str,
    pub col_action: &'static str,
    pub col_target: &'static str,
    pub col_outcome: &'static str,
    pub col_justification: &'static str,
    pub col_hash: &'static str,
    pub col_chain: &'static str,
    pub link_ok: &'static str,
    pub link_bad: &'static str,
    /// `{seq}`, `{checked}`, `{checkpoints}`.
    pub chain_ok: &'static str,
    pub chain_broken: &'static str,
    /// `{at}`, `{checked}`: the last recomputation of the whole chain, which verified.
    pub full_ok: &'static str,
    /// `{at}`, `{seq}`: the last recomputation of the whole chain, which failed.
    pub full_broken: &'static str,
    /// `{minutes}`.
    pub full_pending: &'static str,
    /// Why a row on the page is broken.
    pub row_broken: &'static str,
    pub empty: &'static str,
    pub next_page: &'static str,
    pub newest_first: &'static str,
    pub oldest_first: &'static str,
    pub show_oldest: &'static str,
    pub show_newest: &'static str,
    /// `{seq}`: the last archived event.
    pub archived: &'static str,
    pub forwarding: &'static str,
    pub forwarding_none: &'static str,
    /// `{lag}`: events not yet delivered.
    pub behind: &'static str,
}

/// The backup-code section's words.
pub struct BackupTexts {
    pub title: &'static str,
    pub none: &'static str,
    pub generation: &'static str,
    pub issued: &'static str,
    pub left: &'static str,
    pub position: &'static str,
    pub state_unused: &'static str,
    pub state_checked_out: &'static str,
    pub state_used: &'static str,
    pub state_rejected: &'static str,
    pub low_warning: &'static str,
    pub failed_warning: &'static str,
    pub not_allowed: &'static str,
    pub checkout_label: &'static str,
    pub checkout_hint: &'static str,
    pub checkout_button: &'static str,
    pub checked_out_label: &'static str,
    pub checked_out_note: &'static str,
    pub worked_button: &'static str,
    pub rejected_button: &'static str,
    pub pending_title: &'static str,
    /// Codes other people hold, which a manager may report for them.
    pub others_title: &'static str,
    /// `{holder}`.
    pub report_for: &'static str,
    pub reported_worked: &'static str,
    pub reported_rejected: &'static str,
    pub verify_title: &'static str,
    pub verify_label: &'static str,
    pub verify_hint: &'static str,
    pub verify_button: &'static str,
    pub status_unused: &'static str,
    pub status_checked_out: &'static str,
    pub status_used: &'static str,
    pub status_rejected: &'static str,
    pub status_superseded: &'static str,
    pub status_unknown: &'static str,
    pub hint_whitespace: &'static str,
    pub hint_hyphen: &'static str,
    pub hint_lowercase: &'static str,
    pub hint_ambiguous: &'static str,
    pub import_title: &'static str,
    pub import_label: &'static str,
    pub import_hint: &'static str,
    /// The import form was sent without codes.
    pub import_empty: &'static str,
    pub issued_label: &'static str,
    pub import_button: &'static str,
    pub imported_notice: &'static str,
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
    empty_no_accounts_body: "Your teams have no shared accounts registered. A manager adds one with “Add an account” above, or brings many in at once with Import.",
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
    reauth_title: "Sign in again",
    form_unreadable: "The form could not be read. Reload the page and try again.",
    query_unreadable: "This link has a parameter that could not be read. Go back and try again.",
    shown_once: "That result was shown once and is not shown again (a reload repeats nothing). Reveal or check out again if you need to.",
    reauth_body: "Revealing secrets needs a recent sign-in. You are on your way to the identity provider; afterwards you come back to the page you were on.",
    reauth_continue: "Continue to sign in",
    code_label: "Current code",
    valid_for: "Valid for",
    seconds: "s",
    next_code_label: "Next code",
    copy: "Copy",
    copied: "Copied",
    skip_to_content: "Skip to content",
    nav_label: "Main",
    seconds_left: "{n} {n|second|seconds} left",
    expired: "This code has expired. Reveal a new one.",
    audit_note: "This reveal was recorded in the audit trail.",
    error_title: "Something went wrong",
    forbidden_title: "Not allowed",
    back_home: "Back to the accounts",
    role_viewer: "viewer",
    role_operator: "operator",
    role_manager: "manager",
    role_security_admin: "security admin",
    role_auditor: "auditor",
    role_custodian: "custodian",
    role_scim: "SCIM provisioning",
    not_found_body: "There is nothing here. The account may have been removed, or the link is wrong.",
    forbidden_body: "Your roles do not allow this. Roles are given per team: operators get codes, managers edit accounts and secrets, security admins offboard and export. Ask a manager of the account's team, or your security admin, for the role you need.",
    idp_denied: "The sign-in was declined at the identity provider. Start again if that was a mistake.",
    idp_needs_interaction: "The identity provider needs you to sign in (or to choose an account) there first. Start again.",
    idp_trouble: "The identity provider had a problem with this sign-in. Try again in a minute.",
    idp_refused: "The identity provider refused the sign-in request ({code}). Ask an admin to check Keyward's OIDC settings.",
    try_again: "Try again",
    your_roles: "Your roles",
    b: BackupTexts {
        title: "Backup codes",
        none: "No backup codes are stored for this account yet.",
        generation: "Generation",
        issued: "issued",
        left: "left",
        position: "Position",
        state_unused: "unused",
        state_checked_out: "checked out",
        state_used: "used",
        state_rejected: "rejected",
        low_warning: "Only a few backup codes are left. Generate new codes on the platform and import them here; a rotation task is open until you do.",
        failed_warning: "Several codes were rejected recently: one more may lock sign-in on the platform. Check the code below before using another.",
        not_allowed: "Your role lets you see which codes are used, but not use them.",
        checkout_label: "Why do you need a backup code?",
        checkout_hint: "Required. Saved in the audit trail. You get the next unused code, and nobody else will.",
        checkout_button: "Check out the next code",
        checked_out_label: "Your backup code — shown once",
        checked_out_note: "Type it on the platform, then tell Keyward whether it worked.",
        worked_button: "It worked",
        rejected_button: "It was rejected",
        pending_title: "Checked out, waiting for the outcome",
        others_title: "Checked out by others: as a manager you may report for them (recorded as an override)",
        report_for: "held by {holder}",
        reported_worked: "Marked as used.",
        reported_rejected: "Marked as rejected. The next check-out moves on to the following code.",
        verify_title: "Check a code",
        verify_label: "The code as you have it",
        verify_hint: "Says whether it is a current, unused code without showing any other code.",
        verify_button: "Check",
        status_unused: "Unused code of the current generation: safe to use.",
        status_checked_out: "Checked out and not yet reported: someone may be using it right now.",
        status_used: "Already used: the platform will not take it again.",
        status_rejected: "Reported as rejected by the platform.",
        status_superseded: "From an older generation: the platform no longer accepts it.",
        status_unknown: "Not a code Keyward knows for this account.",
        hint_whitespace: "Spaces were ignored.",
        hint_hyphen: "The hyphens differ from how the platform shows the code.",
        hint_lowercase: "The platform shows this code in capitals.",
        hint_ambiguous: "Look-alike characters (O/0, I/1/l, S/5, B/8, Z/2) — check each one.",
        import_title: "Import a new generation",
        import_label: "Codes, as the platform shows them",
        import_hint: "Paste the whole block; numbered columns are read in list order. The current generation stops being usable at once.",
        import_empty: "Paste the backup codes the platform shows (the whole block) before importing.",
        issued_label: "Issued on",
        import_button: "Import codes",
        imported_notice: "Generation {generation} imported: {total} codes.",
    },
    a: AuditTexts {
        nav: "Audit trail",
        title: "Audit trail",
        intro: "Every change, reveal and refusal, each hash-chained to the one before.",
        account_history: "History of this account",
        filter_account: "Account (handle or id)",
        filter_member: "Member or token",
        filter_action: "Action",
        filter_outcome: "Outcome",
        filter_since: "From",
        filter_until: "Before",
        any: "any",
        apply: "Filter",
        clear: "Clear",
        col_seq: "#",
        col_time: "Time (UTC)",
        col_actor: "Actor",
        col_action: "Action",
        col_target: "Target",
        col_outcome: "Outcome",
        col_justification: "Justification",
        col_hash: "Hash",
        col_chain: "Chain",
        link_ok: "ok",
        link_bad: "BROKEN",
        chain_ok: "The chain verifies through event #{seq}: {checked} new {checked|event|events} recomputed now, {checkpoints} new signed {checkpoints|checkpoint|checkpoints} and the witness match.",
        full_ok: "The whole chain was last recomputed at {at} UTC: intact ({checked} events).",
        full_broken: "The whole chain was last recomputed at {at} UTC: BROKEN at event {seq}.",
        full_pending: "The whole chain is recomputed every {minutes} minutes; `keyward audit verify` does it now.",
        row_broken: "its hash does not match its content or the event before it",
        chain_broken: "The chain is broken at event {seq}: {reason}",
        empty: "No events match these filters.",
        next_page: "Next page",
        newest_first: "Newest first.",
        oldest_first: "Oldest first.",
        show_oldest: "Show the oldest first",
        show_newest: "Show the newest first",
        archived: "Events up to #{seq} were archived by retention; the chain here continues from their signed anchor (`keyward audit verify-archive` checks the files).",
        forwarding: "SIEM forwarding",
        forwarding_none: "No SIEM destination is configured ([[audit.forward]] in the configuration).",
        behind: "{lag} events behind",
    },
    r: &super::i18n_rotation::EN,
    bg: &super::i18n_breakglass::EN,
    inc: &super::i18n_incidents::EN,
    imp: &super::i18n_imports::EN,
    life: &super::i18n_lifecycle::EN,
    acc: &super::i18n_access::EN,
    dev: &super::i18n_device::EN,
    w: &super::i18n_words::EN,
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
    empty_no_accounts_body: "所属チームに共有アカウントが登録されていません。マネージャーが上の「アカウントを追加」から登録するか、「インポート」でまとめて取り込めます。",
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
    reauth_title: "もう一度ログイン",
    form_unreadable: "フォームを読み取れませんでした。ページを再読み込みしてやり直してください。",
    query_unreadable: "このリンクのパラメーターを読み取れませんでした。戻ってやり直してください。",
    shown_once: "その結果は一度だけ表示されました。再読み込みしても何も繰り返されません。必要ならもう一度表示・貸出してください。",
    reauth_body: "秘密情報の表示には最近のログインが必要です。ID プロバイダーへ移動します。ログイン後は元のページに戻ります。",
    reauth_continue: "ログインへ進む",
    code_label: "現在のコード",
    valid_for: "残り",
    seconds: "秒",
    next_code_label: "次のコード",
    copy: "コピー",
    copied: "コピーしました",
    skip_to_content: "本文へ移動",
    nav_label: "メイン",
    seconds_left: "残り{n}秒",
    expired: "このコードは期限切れです。もう一度表示してください。",
    audit_note: "この表示は監査ログに記録されました。",
    error_title: "問題が発生しました",
    forbidden_title: "許可されていません",
    back_home: "アカウント一覧へ戻る",
    role_viewer: "閲覧者",
    role_operator: "オペレーター",
    role_manager: "マネージャー",
    role_security_admin: "セキュリティ管理者",
    role_auditor: "監査担当",
    role_custodian: "カストディアン",
    role_scim: "SCIM プロビジョニング",
    not_found_body: "ページが見つかりません。アカウントが削除されたか、リンクが間違っています。",
    forbidden_body: "この操作はあなたのロールでは許可されていません。ロールはチームごとに付与されます（オペレーターはコードの取得、マネージャーはアカウントとシークレットの編集、セキュリティ管理者はオフボーディングとエクスポート）。必要なロールを、アカウントのチームのマネージャーかセキュリティ管理者に依頼してください。",
    idp_denied: "ID プロバイダーでログインが拒否されました。間違いであれば、もう一度やり直してください。",
    idp_needs_interaction: "ID プロバイダーで先にログイン（またはアカウントの選択）が必要です。もう一度やり直してください。",
    idp_trouble: "ID プロバイダーでこのログインの処理に問題が起きました。少し待ってからやり直してください。",
    idp_refused: "ID プロバイダーがログイン要求を拒否しました（{code}）。Keyward の OIDC 設定を管理者に確認してもらってください。",
    try_again: "もう一度試す",
    your_roles: "あなたのロール",
    b: BackupTexts {
        title: "バックアップコード",
        none: "このアカウントにはバックアップコードがまだ登録されていません。",
        generation: "世代",
        issued: "発行日",
        left: "残り",
        position: "番号",
        state_unused: "未使用",
        state_checked_out: "貸出中",
        state_used: "使用済み",
        state_rejected: "拒否",
        low_warning: "バックアップコードの残りが少なくなっています。プラットフォームで新しいコードを発行し、ここにインポートしてください。それまでローテーションタスクが開いたままになります。",
        failed_warning: "最近いくつかのコードが拒否されました。あと 1 回でプラットフォームのログインがロックされる可能性があります。次のコードを使う前に下で確認してください。",
        not_allowed: "あなたのロールではコードの使用状況は見られますが、コードは使えません。",
        checkout_label: "バックアップコードが必要な理由",
        checkout_hint: "必須。監査ログに記録されます。次の未使用コードがあなただけに渡されます。",
        checkout_button: "次のコードを受け取る",
        checked_out_label: "あなたのバックアップコード（一度だけ表示）",
        checked_out_note: "プラットフォームで入力し、使えたかどうかを Keyward に知らせてください。",
        worked_button: "使えた",
        rejected_button: "拒否された",
        pending_title: "貸出中（結果の報告待ち）",
        others_title: "他のメンバーが貸出中：マネージャーは代わりに報告できます（代理報告として記録されます）",
        report_for: "{holder} が保持",
        reported_worked: "使用済みにしました。",
        reported_rejected: "拒否として記録しました。次の受け取りでは次のコードが渡されます。",
        verify_title: "コードを確認",
        verify_label: "手元のコード",
        verify_hint: "他のコードを表示せずに、現在の未使用コードかどうかを確認します。",
        verify_button: "確認",
        status_unused: "現在の世代の未使用コードです。使えます。",
        status_checked_out: "貸出中で未報告です。誰かが今使っているかもしれません。",
        status_used: "使用済みです。プラットフォームは再度受け付けません。",
        status_rejected: "プラットフォームに拒否されたと報告されています。",
        status_superseded: "古い世代のコードです。プラットフォームはもう受け付けません。",
        status_unknown: "このアカウントのコードとして登録されていません。",
        hint_whitespace: "空白は無視しました。",
        hint_hyphen: "ハイフンの位置がプラットフォームの表示と異なります。",
        hint_lowercase: "プラットフォームではこのコードは大文字で表示されます。",
        hint_ambiguous: "見間違えやすい文字（O/0、I/1/l、S/5、B/8、Z/2）があります。1 文字ずつ確認してください。",
        import_title: "新しい世代をインポート",
        import_label: "プラットフォームに表示されたコード",
        import_hint: "ブロックごと貼り付けてください。番号付きの列は番号順に読み取ります。現在の世代はすぐに使えなくなります。",
        import_empty: "インポートする前に、プラットフォームに表示されたバックアップコード（ブロック全体）を貼り付けてください。",
        issued_label: "発行日",
        import_button: "インポート",
        imported_notice: "世代 {generation} をインポートしました（{total} 件）。",
    },
    a: AuditTexts {
        nav: "監査ログ",
        title: "監査ログ",
        intro: "すべての変更・表示・拒否の記録です。各イベントは前のイベントとハッシュで連結されています。",
        account_history: "このアカウントの履歴",
        filter_account: "アカウント（ハンドルまたは ID）",
        filter_member: "メンバーまたはトークン",
        filter_action: "操作",
        filter_outcome: "結果",
        filter_since: "開始",
        filter_until: "終了（この時刻より前）",
        any: "すべて",
        apply: "絞り込む",
        clear: "クリア",
        col_seq: "#",
        col_time: "時刻（UTC）",
        col_actor: "実行者",
        col_action: "操作",
        col_target: "対象",
        col_outcome: "結果",
        col_justification: "理由",
        col_hash: "ハッシュ",
        col_chain: "連結",
        link_ok: "正常",
        link_bad: "破損",
        chain_ok: "イベント #{seq} までチェーンを検証しました：新しいイベント {checked} 件を再計算し、新しい署名付きチェックポイント {checkpoints} 件とウィットネスが一致しました。",
        full_ok: "チェーン全体の最終再計算：{at} UTC、改ざんなし（{checked} 件）。",
        full_broken: "チェーン全体の最終再計算：{at} UTC、イベント {seq} で壊れています。",
        full_pending: "チェーン全体は {minutes} 分ごとに再計算されます。今すぐ行うには `keyward audit verify` を実行してください。",
        row_broken: "ハッシュが内容または直前のイベントと一致しません",
        chain_broken: "イベント {seq} でチェーンが壊れています：{reason}",
        empty: "条件に一致するイベントはありません。",
        next_page: "次のページ",
        newest_first: "新しい順に表示しています。",
        oldest_first: "古い順に表示しています。",
        show_oldest: "古い順に表示",
        show_newest: "新しい順に表示",
        archived: "#{seq} までのイベントは保存期間によりアーカイブされました。ここからのチェーンは署名付きアンカーから続きます（ファイルは `keyward audit verify-archive` で検証できます）。",
        forwarding: "SIEM への転送",
        forwarding_none: "SIEM の転送先は設定されていません（設定ファイルの [[audit.forward]]）。",
        behind: "未送信 {lag} 件",
    },
    r: &super::i18n_rotation::JA,
    bg: &super::i18n_breakglass::JA,
    inc: &super::i18n_incidents::JA,
    imp: &super::i18n_imports::JA,
    life: &super::i18n_lifecycle::JA,
    acc: &super::i18n_access::JA,
    dev: &super::i18n_device::JA,
    w: &super::i18n_words::JA,
};

/// Fills a count into a text: `{name}` becomes `n`, and `{name|one|other}` the word that
/// agrees with it under English's plural rule (`one` for 1, `other` for 0, 2 and more), so a
/// text reads "1 backup code" and "2 backup codes". Japanese texts name no forms: a counter
/// word (件, 個) does not change with the number.
pub fn count(text: &str, name: &str, n: i64) -> String {
    let plain = format!("{{{name}}}");
    let forms = format!("{{{name}|");
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(&forms) {
        out.push_str(&rest[..at]);
        let after = &rest[at + forms.len()..];
        let Some(end) = after.find('}') else {
            out.push_str(&rest[at..]);
            rest = "";
            break;
        };
        let (one, other) = after[..end].split_once('|').unwrap_or((&after[..end], ""));
        out.push_str(if n == 1 { one } else { other });
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    out.replace(&plain, &n.to_string())
}

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
    fn role_grants_read_in_each_language() {
        assert_eq!(EN.grant("operator", "marketing"), "operator @ marketing");
        assert_eq!(
            JA.grant("security_admin", "*"),
            format!("{} @ 全チーム", JA.role_security_admin)
        );
        assert_eq!(EN.grant("no_such_role", "*"), "no_such_role @ every team");
    }

    #[test]
    fn counts_agree_with_their_words_in_english_and_japanese_has_none_to_change() {
        let en = EN.life.guide_backup_count.replace("{platform}", "X");
        let en = |n| count(&en, "n", n);
        assert_eq!(en(0), "X usually gives 0 backup codes: {format}.");
        assert_eq!(en(1), "X usually gives 1 backup code: {format}.");
        assert_eq!(en(2), "X usually gives 2 backup codes: {format}.");
        let chain = |n| count(&count(EN.a.chain_ok, "checked", 2), "checkpoints", n);
        assert!(chain(0).contains("2 new events recomputed now, 0 new signed checkpoints and"));
        assert!(chain(1).contains(", 1 new signed checkpoint and"));
        assert!(chain(2).contains(", 2 new signed checkpoints and"));
        let tasks = |n| count(EN.r.tasks_closed, "n", n);
        assert_eq!(tasks(1), "1 rotation task closed.");
        assert_eq!(tasks(2), "2 rotation tasks closed.");
        for n in [0, 1, 2] {
            let ja = count(JA.r.tasks_closed, "n", n);
            assert_eq!(ja, format!("ローテーションタスクを {n} 件完了しました。"));
        }
        // No form of any count is left unfilled, in either language.
        for t in [&EN, &JA] {
            for (text, name) in [
                (t.life.guide_backup_count, "n"),
                (t.life.guide_count_differs, "n"),
                (t.life.guide_count_differs, "m"),
                (t.r.tasks_closed, "n"),
                (t.acc.pending_approvals, "m"),
                (t.a.chain_ok, "checked"),
                (t.a.chain_ok, "checkpoints"),
            ] {
                let filled = count(text, name, 1);
                assert!(!filled.contains(&format!("{{{name}")), "{filled}");
            }
        }
    }

    #[test]
    fn the_cookie_wins_then_the_first_supported_accept_language() {
        assert_eq!(pick(None, Some("ja-JP,ja;q=0.9,en;q=0.8")).lang, "ja");
        assert_eq!(pick(None, Some("fr-FR,en;q=0.5,ja;q=0.4")).lang, "en");
        assert_eq!(pick(Some("en"), Some("ja")).lang, "en");
        assert_eq!(pick(Some("ja"), None).lang, "ja");
        assert_eq!(pick(None, None).lang, "en");
    }
}
