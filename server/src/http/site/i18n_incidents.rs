//! The words of the incident pages, in English and Japanese. The runbooks' own text comes
//! from the runbook files.

/// Words of the incident pages.
pub struct IncidentTexts {
    pub nav: &'static str,
    pub title: &'static str,
    pub intro: &'static str,
    pub open_title: &'static str,
    pub empty_open: &'static str,
    pub recent_title: &'static str,
    pub col_account: &'static str,
    pub col_runbook: &'static str,
    pub col_step: &'static str,
    pub col_state: &'static str,
    pub col_opened: &'static str,
    pub start_title: &'static str,
    pub start_intro: &'static str,
    pub runbook_label: &'static str,
    pub note_label: &'static str,
    pub note_hint: &'static str,
    pub start_button: &'static str,
    pub state_open: &'static str,
    pub state_resolved: &'static str,
    pub state_cancelled: &'static str,
    pub on_account: &'static str,
    pub started_by: &'static str,
    pub step_title: &'static str,
    pub runs_as_you: &'static str,
    pub answer_note_label: &'static str,
    pub done_hint: &'static str,
    /// `{count}`, `{budget}`, `{minutes}`.
    pub failed_warning: &'static str,
    pub code_title: &'static str,
    /// `{position}`, `{generation}`.
    pub code_position: &'static str,
    pub code_once: &'static str,
    pub totp_title: &'static str,
    pub release_title: &'static str,
    pub release_body: &'static str,
    pub release_link: &'static str,
    pub done_notice: &'static str,
    pub timeline_title: &'static str,
    pub ev_start: &'static str,
    pub ev_answer: &'static str,
    pub ev_action: &'static str,
    pub ev_resolve: &'static str,
    pub ev_cancel: &'static str,
    pub ev_refused: &'static str,
    pub resolve_title: &'static str,
    pub summary_label: &'static str,
    pub resolve_button: &'static str,
    pub cancel_title: &'static str,
    pub cancel_reason_label: &'static str,
    pub cancel_button: &'static str,
    pub closed_body: &'static str,
    pub summary_heading: &'static str,
    pub all_incidents: &'static str,
}

/// Per action: what its button does, and what it did (English, Japanese).
const ACTIONS: [(&str, [&str; 2], [&str; 2]); 9] = [
    (
        "freeze_account",
        ["freezes the account", "アカウントを凍結"],
        ["froze the account", "アカウントを凍結しました"],
    ),
    (
        "unfreeze_account",
        ["unfreezes the account", "凍結を解除"],
        ["unfroze the account", "凍結を解除しました"],
    ),
    (
        "checkout_backup_code",
        [
            "hands you the next backup code",
            "次のバックアップコードを受け取る",
        ],
        [
            "checked out a backup code",
            "バックアップコードを受け取りました",
        ],
    ),
    (
        "report_backup_code",
        ["records the code's result", "コードの結果を記録"],
        ["recorded the code's result", "コードの結果を記録しました"],
    ),
    (
        "reveal_totp",
        ["shows the current code", "現在のコードを表示"],
        ["revealed the current code", "現在のコードを表示しました"],
    ),
    (
        "open_rotation_tasks",
        ["opens rotation tasks", "ローテーションタスクを作成"],
        [
            "opened rotation tasks",
            "ローテーションタスクを作成しました",
        ],
    ),
    (
        "open_break_glass_release",
        [
            "asks the custodians for a release",
            "カストディアンに開示を依頼",
        ],
        [
            "asked for a break-glass release",
            "ブレークグラス開示を依頼しました",
        ],
    ),
    (
        "revoke_sessions",
        [
            "ends the Keyward sessions of those who used its secrets",
            "シークレットを使った人の Keyward セッションを終了",
        ],
        ["ended Keyward sessions", "Keyward セッションを終了しました"],
    ),
    (
        "notify",
        ["tells the notification hooks", "通知フックに送信"],
        ["notified the hooks", "通知フックに送信しました"],
    ),
];

fn lang_index(t: &IncidentTexts) -> usize {
    usize::from(!std::ptr::eq(t, &EN))
}

/// What an action's button does, in words.
pub fn action_label(t: &IncidentTexts, action: &str) -> &'static str {
    ACTIONS
        .iter()
        .find(|(name, _, _)| *name == action)
        .map_or("", |(_, label, _)| label[lang_index(t)])
}

/// What an action did, in words.
pub fn action_done(t: &IncidentTexts, action: &str) -> &'static str {
    ACTIONS
        .iter()
        .find(|(name, _, _)| *name == action)
        .map_or("", |(_, _, done)| done[lang_index(t)])
}

pub static EN: IncidentTexts = IncidentTexts {
    nav: "Incidents",
    title: "Incidents",
    intro: "Guided recovery: one question at a time, the right action at the right moment, every step in the audit trail.",
    open_title: "Open incidents",
    empty_open: "No open incidents. If someone can't get into an account, open it and choose “Start an incident”.",
    recent_title: "Recently closed",
    col_account: "Account",
    col_runbook: "Runbook",
    col_step: "Current step",
    col_state: "State",
    col_opened: "Opened",
    start_title: "Start an incident",
    start_intro: "Can't get in, a secret may have leaked, a phone is lost? Pick what is happening and Keyward leads you through it.",
    runbook_label: "What is happening?",
    note_label: "Note (optional)",
    note_hint: "A few words for the timeline: who noticed, what the platform says.",
    start_button: "Start the incident",
    state_open: "Open",
    state_resolved: "Resolved",
    state_cancelled: "Cancelled",
    on_account: "Account",
    started_by: "Started by",
    step_title: "Now",
    runs_as_you: "runs as you",
    answer_note_label: "Note for the timeline (optional)",
    done_hint: "The runbook is done. Resolve the incident below with what happened.",
    failed_warning: "{count} of {budget} codes were rejected in the last {minutes} minutes. One more may make the platform lock sign-in: stop and wait before trying another code.",
    code_title: "Your backup code",
    code_position: "Code {position} of generation {generation}",
    code_once: "Shown once: type it on the platform now, then say below whether it worked.",
    totp_title: "Current code",
    release_title: "Break-glass release asked for",
    release_body: "The custodians have been told. This browser keeps the release key; follow the release here.",
    release_link: "Open the release",
    done_notice: "Answer recorded:",
    timeline_title: "Timeline",
    ev_start: "started the incident",
    ev_answer: "answered",
    ev_action: "",
    ev_resolve: "resolved the incident",
    ev_cancel: "cancelled the incident",
    ev_refused: "was refused",
    resolve_title: "Resolve",
    summary_label: "What happened, and what worked",
    resolve_button: "Resolve the incident",
    cancel_title: "Cancel",
    cancel_reason_label: "Why cancel (started by mistake, a duplicate…)",
    cancel_button: "Cancel the incident",
    closed_body: "This incident is closed.",
    summary_heading: "Outcome",
    all_incidents: "All incidents",
};

pub static JA: IncidentTexts = IncidentTexts {
    nav: "インシデント",
    title: "インシデント",
    intro: "ガイド付きの復旧：質問は1つずつ、必要な操作を必要なときに。すべての手順が監査ログに残ります。",
    open_title: "対応中のインシデント",
    empty_open: "対応中のインシデントはありません。アカウントにログインできない場合は、アカウントを開いて「インシデントを開始」を選んでください。",
    recent_title: "最近クローズしたもの",
    col_account: "アカウント",
    col_runbook: "ランブック",
    col_step: "現在の手順",
    col_state: "状態",
    col_opened: "開始",
    start_title: "インシデントを開始",
    start_intro: "ログインできない、シークレットが漏れたかもしれない、端末をなくした——状況を選ぶと Keyward が手順を案内します。",
    runbook_label: "何が起きていますか？",
    note_label: "メモ（任意）",
    note_hint: "タイムライン用に一言：誰が気づいたか、プラットフォームの表示内容など。",
    start_button: "インシデントを開始",
    state_open: "対応中",
    state_resolved: "解決済み",
    state_cancelled: "キャンセル",
    on_account: "アカウント",
    started_by: "開始した人",
    step_title: "現在の手順",
    runs_as_you: "あなたの権限で実行",
    answer_note_label: "タイムライン用メモ（任意）",
    done_hint: "ランブックは完了です。下で経緯を書いてインシデントを解決してください。",
    failed_warning: "直近{minutes}分間に{budget}回中{count}回コードが拒否されました。あと1回でプラットフォームがログインをロックする可能性があります。次のコードを試す前に止めて待ってください。",
    code_title: "バックアップコード",
    code_position: "第{generation}世代の{position}番目のコード",
    code_once: "表示は1回限りです。今すぐプラットフォームに入力し、通ったかどうかを下で回答してください。",
    totp_title: "現在のコード",
    release_title: "ブレークグラス開示を依頼しました",
    release_body: "カストディアンに通知しました。開示キーはこのブラウザに保管されます。進捗は開示ページで確認してください。",
    release_link: "開示ページを開く",
    done_notice: "回答を記録しました：",
    timeline_title: "タイムライン",
    ev_start: "がインシデントを開始",
    ev_answer: "が回答",
    ev_action: ":",
    ev_resolve: "がインシデントを解決",
    ev_cancel: "がインシデントをキャンセル",
    ev_refused: "が拒否されました",
    resolve_title: "解決",
    summary_label: "何が起き、何で解決したか",
    resolve_button: "インシデントを解決",
    cancel_title: "キャンセル",
    cancel_reason_label: "キャンセルの理由（誤って開始、重複など）",
    cancel_button: "インシデントをキャンセル",
    closed_body: "このインシデントはクローズされています。",
    summary_heading: "結果",
    all_incidents: "すべてのインシデント",
};
