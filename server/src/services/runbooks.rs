//! Incident runbooks: reviewed data (`policies/runbooks/*.yaml`), one decision tree each, in
//! English and Japanese. Read once at start (the built-in ones, or `incidents.runbooks_dir`)
//! and checked whole: an unreachable step, a choice that goes nowhere, an unknown action or a
//! missing translation stops the start with a message naming the file and the step.
//! `keyward runbook check` runs the same checks.

use crate::domain::{RotationKind, RunbookKey};
use crate::services::backup::CodeOutcome;
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::Path;

/// The runbooks shipped with Keyward, built into the binary.
const BUILT_IN: [(&str, &str); 5] = [
    (
        "lockout.yaml",
        include_str!("../../../policies/runbooks/lockout.yaml"),
    ),
    (
        "leak.yaml",
        include_str!("../../../policies/runbooks/leak.yaml"),
    ),
    (
        "lost-device.yaml",
        include_str!("../../../policies/runbooks/lost-device.yaml"),
    ),
    (
        "sms-not-arriving.yaml",
        include_str!("../../../policies/runbooks/sms-not-arriving.yaml"),
    ),
    (
        "platform-lockout.yaml",
        include_str!("../../../policies/runbooks/platform-lockout.yaml"),
    ),
];

pub use keyward_proto::wire::Text;

/// What a step is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StepKind {
    /// Asks something; each answer leads on.
    Question,
    /// Offers to run something as the caller (check out a code, freeze the account…).
    Action,
    /// Says what to do outside Keyward; its choices go on.
    Info,
    /// The end of the runbook: the incident can be resolved.
    Done,
}

impl StepKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Question => "question",
            Self::Action => "action",
            Self::Info => "info",
            Self::Done => "done",
        }
    }
}

/// What a choice runs, as the person who makes it and with their rights.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunbookAction {
    FreezeAccount,
    UnfreezeAccount,
    /// The next backup code in order, returned once in the answer.
    CheckoutBackupCode,
    /// Whether the code this incident checked out worked.
    ReportBackupCode(CodeOutcome),
    RevealTotp,
    /// Rotation tasks (reason `incident`) for these kinds, where the account has them.
    OpenRotationTasks(Vec<RotationKind>),
    /// A release of the break-glass escrow that covers the account's team.
    OpenBreakGlassRelease,
    /// Ends the Keyward sessions of the members (but the caller) who used the account's
    /// secrets lately, as the audit trail shows.
    RevokeSessions,
    /// Tells the `[[notify]]` webhooks.
    Notify,
    /// Asks for access to an account under `approval` (these actions, for these minutes), so
    /// the steps that use its secrets wait for an approver's yes; nothing on an open account
    /// or when the caller holds such a grant or has asked already.
    RequestAccess {
        actions: Vec<String>,
        minutes: u32,
    },
}

impl RunbookAction {
    pub const NAMES: [&'static str; 10] = [
        "freeze_account",
        "unfreeze_account",
        "checkout_backup_code",
        "report_backup_code",
        "reveal_totp",
        "open_rotation_tasks",
        "open_break_glass_release",
        "revoke_sessions",
        "notify",
        "request_access",
    ];

    pub fn name(&self) -> &'static str {
        match self {
            Self::FreezeAccount => "freeze_account",
            Self::UnfreezeAccount => "unfreeze_account",
            Self::CheckoutBackupCode => "checkout_backup_code",
            Self::ReportBackupCode(_) => "report_backup_code",
            Self::RevealTotp => "reveal_totp",
            Self::OpenRotationTasks(_) => "open_rotation_tasks",
            Self::OpenBreakGlassRelease => "open_break_glass_release",
            Self::RevokeSessions => "revoke_sessions",
            Self::Notify => "notify",
            Self::RequestAccess { .. } => "request_access",
        }
    }
}

/// One answer to a step.
#[derive(Debug, Clone)]
pub struct Choice {
    pub id: String,
    pub text: Text,
    pub next: String,
    pub action: Option<RunbookAction>,
}

#[derive(Debug, Clone)]
pub struct Step {
    pub id: String,
    pub kind: StepKind,
    pub text: Text,
    pub choices: Vec<Choice>,
}

impl Step {
    pub fn choice(&self, id: &str) -> Option<&Choice> {
        self.choices.iter().find(|c| c.id == id)
    }
}

#[derive(Debug, Clone)]
pub struct Runbook {
    pub id: String,
    pub title: Text,
    pub summary: Text,
    pub start: String,
    pub steps: Vec<Step>,
}

impl Runbook {
    pub fn step(&self, id: &str) -> Option<&Step> {
        self.steps.iter().find(|s| s.id == id)
    }
}

/// Every runbook, by id.
#[derive(Debug, Clone, Default)]
pub struct Runbooks {
    by_id: BTreeMap<String, Runbook>,
}

impl Runbooks {
    /// The built-in runbooks, or those of `dir` when given.
    pub fn load(dir: Option<&Path>) -> Result<Self, RunbookErrors> {
        match dir {
            None => Self::parse_all(
                BUILT_IN
                    .iter()
                    .map(|(name, text)| (format!("policies/runbooks/{name}"), (*text).to_owned())),
            ),
            Some(dir) => Self::parse_all(read_dir(dir)?),
        }
    }

    /// Parses and checks every `(file name, text)`; every problem is reported, not only the
    /// first.
    pub fn parse_all(
        files: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, RunbookErrors> {
        let mut by_id = BTreeMap::new();
        let mut errors = Vec::new();
        for (file, text) in files {
            match parse(&file, &text) {
                Ok(runbook) => {
                    if by_id.contains_key(&runbook.id) {
                        errors.push(format!("{file}: another file has the id `{}`", runbook.id));
                    } else {
                        by_id.insert(runbook.id.clone(), runbook);
                    }
                }
                Err(mut found) => errors.append(&mut found),
            }
        }
        if by_id.is_empty() && errors.is_empty() {
            errors.push("no runbooks: give at least one *.yaml file".to_owned());
        }
        if errors.is_empty() {
            Ok(Self { by_id })
        } else {
            Err(RunbookErrors(errors))
        }
    }

    pub fn get(&self, id: &str) -> Option<&Runbook> {
        self.by_id.get(id)
    }

    pub fn all(&self) -> impl Iterator<Item = &Runbook> {
        self.by_id.values()
    }
}

/// Everything wrong with a set of runbook files, one line each, naming the file and step.
#[derive(Debug, Clone)]
pub struct RunbookErrors(pub Vec<String>);

impl std::fmt::Display for RunbookErrors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0.join("\n"))
    }
}

impl std::error::Error for RunbookErrors {}

fn read_dir(dir: &Path) -> Result<Vec<(String, String)>, RunbookErrors> {
    let fail = |msg: String| RunbookErrors(vec![msg]);
    let entries = std::fs::read_dir(dir)
        .map_err(|e| fail(format!("{}: cannot read the folder: {e}", dir.display())))?;
    let mut files = Vec::new();
    for entry in entries {
        let path = entry
            .map_err(|e| fail(format!("{}: {e}", dir.display())))?
            .path();
        if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
            let text = std::fs::read_to_string(&path)
                .map_err(|e| fail(format!("{}: cannot read it: {e}", path.display())))?;
            files.push((path.display().to_string(), text));
        }
    }
    files.sort();
    Ok(files)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RunbookFile {
    id: String,
    title: Text,
    summary: Text,
    start: String,
    steps: Vec<StepFile>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StepFile {
    id: String,
    kind: StepKind,
    text: Text,
    #[serde(default)]
    choices: Vec<ChoiceFile>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ChoiceFile {
    id: String,
    text: Text,
    next: String,
    #[serde(default)]
    action: Option<String>,
    /// `report_backup_code`: `worked` or `rejected`.
    #[serde(default)]
    outcome: Option<String>,
    /// `open_rotation_tasks`: which kinds (default: all).
    #[serde(default)]
    kinds: Option<Vec<String>>,
    /// `request_access`: the actions to ask for (default: totp.reveal and backup.checkout).
    #[serde(default)]
    grant: Option<Vec<String>>,
    /// `request_access`: for how many minutes (default 60).
    #[serde(default)]
    minutes: Option<u32>,
}

fn parse(file: &str, text: &str) -> Result<Runbook, Vec<String>> {
    let raw: RunbookFile =
        serde_saphyr::from_str(text).map_err(|e| vec![format!("{file}: {e}")])?;
    let mut errors = Vec::new();
    let stem = Path::new(file)
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or_default();
    if !is_key(&raw.id, "runbook") {
        errors.push(format!(
            "{file}: the id `{}` is not a-z, 0-9, _ and -",
            raw.id
        ));
    } else if raw.id != stem {
        errors.push(format!(
            "{file}: the id `{}` differs from the file name",
            raw.id
        ));
    }
    for (what, text) in [("title", &raw.title), ("summary", &raw.summary)] {
        if let Some(lang) = text.missing() {
            errors.push(format!("{file}: {what}: the `{lang}` text is missing"));
        }
    }
    let ids: BTreeSet<String> = raw.steps.iter().map(|s| s.id.clone()).collect();
    if !ids.contains(&raw.start) {
        errors.push(format!("{file}: start: `{}` is not a step", raw.start));
    }
    let mut steps = Vec::new();
    let mut seen = BTreeSet::new();
    for step in raw.steps {
        let at = format!("{file}: step `{}`", step.id);
        if !is_key(&step.id, "step") {
            errors.push(format!("{at}: the id is not a-z, 0-9, _ and -"));
        }
        if !seen.insert(step.id.clone()) {
            errors.push(format!("{at}: another step has this id"));
        }
        if let Some(lang) = step.text.missing() {
            errors.push(format!("{at}: the `{lang}` text is missing"));
        }
        match (step.kind, step.choices.is_empty()) {
            (StepKind::Done, false) => errors.push(format!("{at}: a done step has no choices")),
            (StepKind::Done, true) => {}
            (_, true) => errors.push(format!("{at}: give at least one choice")),
            _ => {}
        }
        let mut choices = Vec::new();
        let mut choice_ids = BTreeSet::new();
        for choice in step.choices {
            let at = format!("{at}: choice `{}`", choice.id);
            if !is_key(&choice.id, "choice") {
                errors.push(format!("{at}: the id is not a-z, 0-9, _ and -"));
            }
            if !choice_ids.insert(choice.id.clone()) {
                errors.push(format!("{at}: another choice of this step has this id"));
            }
            if let Some(lang) = choice.text.missing() {
                errors.push(format!("{at}: the `{lang}` text is missing"));
            }
            if !ids.contains(&choice.next) {
                errors.push(format!("{at}: next `{}` is not a step", choice.next));
            } else if choice.next == step.id {
                errors.push(format!(
                    "{at}: next is its own step; an answer must move the incident on"
                ));
            }
            let action = match action_of(&choice) {
                Ok(action) => action,
                Err(msg) => {
                    errors.push(format!("{at}: {msg}"));
                    None
                }
            };
            choices.push(Choice {
                id: choice.id,
                text: choice.text,
                next: choice.next,
                action,
            });
        }
        if step.kind == StepKind::Action && choices.iter().all(|c| c.action.is_none()) {
            errors.push(format!(
                "{at}: an action step runs an action in one of its choices"
            ));
        }
        if step.kind == StepKind::Action && choices.iter().all(|c| c.action.is_some()) {
            errors.push(format!(
                "{at}: give a choice without an action too, so someone whose role may not run it can go on"
            ));
        }
        steps.push(Step {
            id: step.id,
            kind: step.kind,
            text: step.text,
            choices,
        });
    }
    let runbook = Runbook {
        id: raw.id,
        title: raw.title,
        summary: raw.summary,
        start: raw.start,
        steps,
    };
    if errors.is_empty() {
        check_paths(file, &runbook, &mut errors);
    }
    if errors.is_empty() {
        Ok(runbook)
    } else {
        Err(errors)
    }
}

/// An id exactly as an answer can name it (no spaces around it either).
fn is_key(raw: &str, what: &'static str) -> bool {
    RunbookKey::parse(raw, what).is_ok_and(|k| k.as_str() == raw)
}

fn action_of(choice: &ChoiceFile) -> Result<Option<RunbookAction>, String> {
    let Some(name) = choice.action.as_deref() else {
        if choice.outcome.is_some()
            || choice.kinds.is_some()
            || choice.grant.is_some()
            || choice.minutes.is_some()
        {
            return Err("`outcome`, `kinds`, `grant` and `minutes` belong to an action".to_owned());
        }
        return Ok(None);
    };
    if (choice.grant.is_some() || choice.minutes.is_some()) && name != "request_access" {
        return Err("`grant` and `minutes` belong to request_access".to_owned());
    }
    if choice.outcome.is_some() && name != "report_backup_code" {
        return Err("`outcome` belongs to report_backup_code".to_owned());
    }
    if choice.kinds.is_some() && name != "open_rotation_tasks" {
        return Err("`kinds` belongs to open_rotation_tasks".to_owned());
    }
    let action = match name {
        "freeze_account" => RunbookAction::FreezeAccount,
        "unfreeze_account" => RunbookAction::UnfreezeAccount,
        "checkout_backup_code" => RunbookAction::CheckoutBackupCode,
        "report_backup_code" => {
            let outcome = choice
                .outcome
                .as_deref()
                .and_then(CodeOutcome::parse)
                .ok_or("report_backup_code needs `outcome: worked` or `outcome: rejected`")?;
            RunbookAction::ReportBackupCode(outcome)
        }
        "reveal_totp" => RunbookAction::RevealTotp,
        "open_rotation_tasks" => {
            let kinds = match &choice.kinds {
                None => RotationKind::ALL.to_vec(),
                Some(kinds) if kinds.is_empty() => return Err("`kinds` is empty".to_owned()),
                Some(kinds) => kinds
                    .iter()
                    .map(|k| RotationKind::parse(k).map_err(|_| format!("`{k}` is not a kind")))
                    .collect::<Result<_, _>>()?,
            };
            RunbookAction::OpenRotationTasks(kinds)
        }
        "open_break_glass_release" => RunbookAction::OpenBreakGlassRelease,
        "revoke_sessions" => RunbookAction::RevokeSessions,
        "notify" => RunbookAction::Notify,
        "request_access" => {
            use crate::domain::access::{AccessMinutes, GrantActions};
            let names = choice
                .grant
                .clone()
                .unwrap_or_else(|| vec!["totp.reveal".to_owned(), "backup.checkout".to_owned()]);
            let actions = GrantActions::parse(&names).map_err(|e| format!("`grant`: {e}"))?;
            let minutes =
                AccessMinutes::parse(i64::from(choice.minutes.unwrap_or(60)), AccessMinutes::MAX)
                    .map_err(|e| format!("`minutes`: {e}"))?;
            RunbookAction::RequestAccess {
                actions: actions.names().into_iter().map(str::to_owned).collect(),
                minutes: minutes.get(),
            }
        }
        other => {
            return Err(format!(
                "unknown action `{other}` (known: {})",
                RunbookAction::NAMES.join(", ")
            ))
        }
    };
    Ok(Some(action))
}

/// Every step is reachable from the start, and from every step an end can be reached.
fn check_paths(file: &str, runbook: &Runbook, errors: &mut Vec<String>) {
    let reachable = reach(&runbook.start, |id| {
        runbook
            .step(id)
            .map(|s| s.choices.iter().map(|c| c.next.clone()).collect())
            .unwrap_or_default()
    });
    for step in &runbook.steps {
        if !reachable.contains(&step.id) {
            errors.push(format!(
                "{file}: step `{}`: unreachable from the start",
                step.id
            ));
        }
    }
    // Walk backwards from the ends.
    let mut ends: BTreeSet<String> = BTreeSet::new();
    let mut queue: VecDeque<String> = runbook
        .steps
        .iter()
        .filter(|s| s.kind == StepKind::Done)
        .map(|s| s.id.clone())
        .collect();
    while let Some(id) = queue.pop_front() {
        if !ends.insert(id.clone()) {
            continue;
        }
        for step in &runbook.steps {
            if step.choices.iter().any(|c| c.next == id) {
                queue.push_back(step.id.clone());
            }
        }
    }
    for step in &runbook.steps {
        if reachable.contains(&step.id) && !ends.contains(&step.id) {
            errors.push(format!(
                "{file}: step `{}`: no done step can be reached from it",
                step.id
            ));
        }
    }
}

fn reach(start: &str, next: impl Fn(&str) -> Vec<String>) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    let mut queue = VecDeque::from([start.to_owned()]);
    while let Some(id) = queue.pop_front() {
        if seen.insert(id.clone()) {
            queue.extend(next(&id));
        }
    }
    seen
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lockout() -> String {
        BUILT_IN[0].1.to_owned()
    }

    fn errors_of(text: &str) -> String {
        Runbooks::parse_all([("rb/lockout.yaml".to_owned(), text.to_owned())])
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default()
    }

    #[test]
    fn the_shipped_runbooks_pass_their_checks() {
        let runbooks = Runbooks::load(None).expect("the built-in runbooks are valid");
        let ids: Vec<&str> = runbooks.all().map(|r| r.id.as_str()).collect();
        assert_eq!(
            ids,
            [
                "leak",
                "lockout",
                "lost-device",
                "platform-lockout",
                "sms-not-arriving"
            ]
        );
    }

    #[test]
    fn the_folder_and_the_built_in_copies_are_the_same() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../policies/runbooks");
        let on_disk = read_dir(&dir).expect("policies/runbooks is readable");
        assert_eq!(on_disk.len(), BUILT_IN.len());
        for (name, text) in BUILT_IN {
            assert!(
                on_disk
                    .iter()
                    .any(|(path, disk)| path.ends_with(name) && disk == text),
                "{name}"
            );
        }
    }

    #[test]
    fn a_dangling_branch_names_the_file_step_and_choice() {
        let broken = lockout().replacen("next: old_device", "next: nowhere", 1);
        let err = errors_of(&broken);
        assert!(err.contains("rb/lockout.yaml: step `device_left`"), "{err}");
        assert!(err.contains("next `nowhere` is not a step"), "{err}");
    }

    #[test]
    fn an_unknown_action_is_named_with_the_known_ones() {
        let broken = lockout().replacen("action: checkout_backup_code", "action: guess_code", 1);
        let err = errors_of(&broken);
        assert!(err.contains("step `try_backup_code`"), "{err}");
        assert!(err.contains("unknown action `guess_code`"), "{err}");
    }

    #[test]
    fn a_missing_translation_is_named() {
        let broken = lockout().replacen("    ja: ", "    ja: ''\n    jx: ", 1);
        assert!(!errors_of(&broken).is_empty());
        let blank = lockout().replacen("ja: 2段階認証を通過できない", "ja: ' '", 1);
        let err = errors_of(&blank);
        assert!(err.contains("title: the `ja` text is missing"), "{err}");
    }

    #[test]
    fn an_unreachable_step_is_named() {
        let extra = format!(
            "{}  - id: orphan\n    kind: done\n    text:\n      en: Never shown\n      ja: 表示されない\n",
            lockout()
        );
        let err = errors_of(&extra);
        assert!(
            err.contains("step `orphan`: unreachable from the start"),
            "{err}"
        );
    }

    #[test]
    fn a_loop_with_no_way_out_is_named() {
        let text = "id: lockout\ntitle: {en: T, ja: T}\nsummary: {en: S, ja: S}\nstart: a\nsteps:\n  - id: a\n    kind: info\n    text: {en: A, ja: A}\n    choices:\n      - {id: go, text: {en: Go, ja: Go}, next: b}\n  - id: b\n    kind: info\n    text: {en: B, ja: B}\n    choices:\n      - {id: back, text: {en: Back, ja: Back}, next: a}\n";
        let err = errors_of(text);
        assert!(
            err.contains("step `a`: no done step can be reached"),
            "{err}"
        );
    }

    #[test]
    fn misplaced_parameters_and_bad_kinds_are_refused() {
        let text = lockout().replacen(
            "action: checkout_backup_code",
            "action: checkout_backup_code\n        outcome: worked",
            1,
        );
        assert!(errors_of(&text).contains("`outcome` belongs to report_backup_code"));
        let text = lockout().replacen("kinds: [totp", "kinds: [seeds", 1);
        assert!(errors_of(&text).contains("`seeds` is not a kind"));
    }

    #[test]
    fn a_choice_that_stays_put_an_id_with_spaces_and_an_action_step_without_a_way_round_are_refused(
    ) {
        let text = lockout().replacen("next: old_device", "next: device_left", 1);
        assert!(errors_of(&text).contains("step `device_left`: choice `no`: next is its own step"));
        let text = lockout().replacen("- id: \"no\"", "- id: \"no \"", 1);
        assert!(
            errors_of(&text).contains("choice `no `: the id is not"),
            "{}",
            errors_of(&text)
        );
        let text = lockout().replacen(
            "      - id: no_seed\n        text:\n          en: Keyward has no seed for this account\n          ja: Keyward にシードが登録されていない\n        next: try_backup_code\n",
            "",
            1,
        );
        assert!(
            errors_of(&text).contains("step `try_totp`: give a choice without an action too"),
            "{}",
            errors_of(&text)
        );
    }

    #[test]
    fn a_file_that_is_not_yaml_names_the_file() {
        let err = errors_of("id: [unclosed");
        assert!(err.starts_with("rb/lockout.yaml: "), "{err}");
    }
}
