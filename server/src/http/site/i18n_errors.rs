//! The dashboard's error messages in Japanese, keyed by the API's stable error codes: a page
//! in Japanese shows these instead of the services' English sentences. A code not listed
//! here keeps its English message (a code of its own stays in the API either way).

/// `(code, Japanese message)`. Messages with a figure of their own (a limit, a wait) say it
/// in general words: the English message keeps the figure.
const JA: &[(&str, &str)] = &[
    ("rate_limited", "操作が多すぎます。しばらく待ってからもう一度お試しください。"),
    ("import_rate_limited", "インポートが多すぎます。しばらく待ってからもう一度お試しください。"),
    ("imports_busy", "ほかのインポートを処理中です。少し待ってからもう一度お試しください。"),
    ("account_frozen", "このアカウントは凍結されています。マネージャーが解除するまでコードは表示できません。"),
    ("account_archived", "このアカウントはアーカイブされています。"),
    ("account_exists", "このチームには同じプラットフォームとハンドルのアカウントがすでにあります。"),
    ("approval_required", "このアカウントは承認制です。承認された時間枠の中でのみ利用できます。"),
    ("approval_not_required", "このアカウントは承認なしで利用できます。申請は不要です。"),
    ("request_pending", "このアカウントへの申請がすでに承認待ちです。"),
    ("self_approval", "自分の申請は承認できません。"),
    ("access_ended", "このアクセスはすでに終了しています。"),
    ("no_backup_codes_left", "未使用のバックアップコードが残っていません。新しい世代をインポートしてください。"),
    ("failed_attempt_budget", "拒否されたコードが多すぎます。プラットフォームがロックしないよう、時間をおいてから次のコードを受け取ってください。"),
    ("too_many_attempts", "試行回数が多すぎます。時間をおいてからもう一度お試しください。"),
    ("verify_budget", "このアカウントで確認できる回数を超えました。時間をおいてからもう一度お試しください。"),
    ("backup_codes_changing", "バックアップコードの世代が変わったところです。ページを読み込み直してください。"),
    ("backup_code_not_checked_out", "このコードは受け取られていません。"),
    ("no_code_checked_out", "受け取ったコードはありません。"),
    ("not_code_holder", "このコードを受け取った人だけが結果を報告できます。"),
    ("concurrent_change", "ほかの人が同時に変更しました。ページを読み込み直してください。"),
    ("hotp_counter_exhausted", "HOTP のカウンターが上限に達しました。シードを登録し直してください。"),
    ("same_secret", "すでに保存されている値と同じです。ローテーションにはプラットフォームで発行された新しい値が必要です。"),
    ("invalid_secret", "シークレットが正しい Base32 ではありません。"),
    ("not_an_image", "画像を読み取れませんでした。"),
    ("invalid_image", "画像を読み取れませんでした。もう一度選択してください。"),
    ("no_qr_code", "画像に QR コードが見つかりませんでした。"),
    ("not_otpauth", "QR コードは otpauth:// のリンクではありません。"),
    ("justification_required", "理由を入力してください。"),
    ("justification_too_short", "理由を 3 文字以上で入力してください。"),
    ("justification_too_long", "理由は 500 文字までです。"),
    ("invalid_justification", "この理由は使えません（制御文字、または Keyward 用の「kw:」で始まる文字列）。"),
    ("password_required", "パスワードが空です。"),
    ("code_required", "確認するコードを入力してください。"),
    ("incident_closed", "このインシデントはすでに終了しています。"),
    ("step_changed", "ほかの人がこの手順を先に進めました。ページを読み込み直してください。"),
    ("task_not_open", "このタスクはすでに完了しているか、取り下げられています。"),
    ("member_departed", "このメンバーは退職済みです。"),
    ("already_departed", "このメンバーはすでにオフボード済みです。"),
];

/// The message for an error `code` in the reader's language (`lang` of the page's texts).
pub fn localized(lang: &str, code: &str, english: String) -> String {
    if lang != "ja" {
        return english;
    }
    JA.iter()
        .find(|(c, _)| *c == code)
        .map_or(english, |(_, text)| (*text).to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn japanese_pages_get_japanese_messages_and_english_ones_keep_theirs() {
        let english = || "the account is frozen".to_owned();
        assert_eq!(localized("en", "account_frozen", english()), english());
        assert!(localized("ja", "account_frozen", english()).contains("凍結"));
        assert_eq!(localized("ja", "a_code_nobody_wrote", english()), english());
    }

    #[test]
    fn every_code_listed_is_one_the_server_answers_with() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut sources = String::new();
        for dir in [
            root.join("src/services"),
            root.join("src/http/api"),
            root.join("../domain/src"),
            root.join("../importers/src"),
        ] {
            let mut stack = vec![dir];
            while let Some(dir) = stack.pop() {
                for entry in std::fs::read_dir(&dir).unwrap().flatten() {
                    let path = entry.path();
                    if path.is_dir() {
                        stack.push(path);
                    } else if path.extension().is_some_and(|e| e == "rs") {
                        sources.push_str(&std::fs::read_to_string(&path).unwrap());
                    }
                }
            }
        }
        for (code, _) in JA {
            assert!(
                sources.contains(&format!("\"{code}\"")),
                "{code} is no error code of the server"
            );
        }
    }
}
