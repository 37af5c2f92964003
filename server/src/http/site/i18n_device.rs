//! The words of the device sign-in page (`/device`), in English and Japanese.

pub struct DeviceTexts {
    pub title: &'static str,
    pub intro: &'static str,
    pub code_label: &'static str,
    pub continue_button: &'static str,
    pub confirm: &'static str,
    pub client: &'static str,
    pub from: &'static str,
    pub when: &'static str,
    pub approve: &'static str,
    pub deny: &'static str,
    pub approved: &'static str,
    pub denied: &'static str,
    pub warning: &'static str,
}

pub static EN: DeviceTexts = DeviceTexts {
    title: "Sign in a command line",
    intro: "`kw login` shows a code like BCDF-GHJK. Type it here to let that command line act as you.",
    code_label: "The code the command line shows",
    continue_button: "Continue",
    confirm: "A command line asks to act as you. Approve only if you started it just now and the code matches your terminal.",
    client: "Client",
    from: "Asked from",
    when: "Asked at",
    approve: "Approve",
    deny: "Deny",
    approved: "Approved. Go back to your terminal: it is signed in as you.",
    denied: "Denied. The command line is not signed in.",
    warning: "Never approve a code someone sent you: it would give them your access.",
};

pub static JA: DeviceTexts = DeviceTexts {
    title: "コマンドラインのサインイン",
    intro: "`kw login` が BCDF-GHJK のようなコードを表示します。ここに入力すると、そのコマンドラインがあなたとして操作できるようになります。",
    code_label: "コマンドラインに表示されたコード",
    continue_button: "次へ",
    confirm: "コマンドラインがあなたとして操作する許可を求めています。今あなたが開始し、コードが端末の表示と一致する場合にのみ承認してください。",
    client: "クライアント",
    from: "要求元",
    when: "要求日時",
    approve: "承認する",
    deny: "拒否する",
    approved: "承認しました。端末に戻ってください。あなたとしてサインインしています。",
    denied: "拒否しました。コマンドラインはサインインしていません。",
    warning: "他人から送られたコードは絶対に承認しないでください。あなたの権限を渡すことになります。",
};
