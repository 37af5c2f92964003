//! `kw backup`: check out the next backup code (handed out in order, exactly once, with a
//! reason), report whether it worked, and see the generation's state.

use crate::api::{Api, Failure};
use crate::out;
use clap::Subcommand;
use keyward_proto::backup::{CheckedOutOut, GenerationOut, ResultOut};
use secrecy::ExposeSecret;

#[derive(Subcommand)]
pub enum BackupCommand {
    /// Take the next unused backup code: it is yours alone, and shown once.
    ///
    /// Example: kw backup checkout "x @brand" --reason "locked out after a phone change"
    Checkout {
        /// An account id, `@handle`, or `platform @handle`.
        account: String,
        /// Why (kept in the audit trail; required).
        #[arg(long)]
        reason: String,
        /// Put the code on the clipboard instead of printing it.
        #[arg(long)]
        copy: bool,
    },
    /// Say whether the code you checked out worked on the platform (a rejected one counts
    /// towards the platform's lock-out budget).
    ///
    /// Example: kw backup report "x @brand" 3 worked
    Report {
        /// An account id, `@handle`, or `platform @handle`.
        account: String,
        /// The code's position, as `kw backup checkout` printed it.
        position: u32,
        /// What the platform said.
        outcome: Outcome,
        /// The generation the code came from (default: the current one).
        #[arg(long)]
        generation: Option<i32>,
    },
    /// The current generation: how many codes are left, and who used which (never values).
    ///
    /// Example: kw backup status "x @brand"
    Status {
        /// An account id, `@handle`, or `platform @handle`.
        account: String,
    },
}

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum Outcome {
    Worked,
    Rejected,
}

impl Outcome {
    fn as_str(self) -> &'static str {
        match self {
            Self::Worked => "worked",
            Self::Rejected => "rejected",
        }
    }
}

fn warnings_line(warnings: &[String]) -> Option<String> {
    let said: Vec<&str> = warnings
        .iter()
        .map(|w| match w.as_str() {
            "low_backup_codes" => {
                "few backup codes are left: a manager should store a new generation"
            }
            "failed_attempts" => {
                "codes were rejected recently: one more may make the platform lock sign-in"
            }
            other => other,
        })
        .collect();
    (!said.is_empty()).then(|| out::warn(&format!("Warning: {}.", said.join("; "))))
}

pub async fn run(command: BackupCommand, json: bool) -> Result<(), Failure> {
    let mut api = Api::signed_in()?;
    match command {
        BackupCommand::Checkout {
            account,
            reason,
            copy,
        } => {
            let account = api.find_account(&account).await?;
            let body = serde_json::json!({ "justification": reason });
            let path = format!("/api/v1/accounts/{}/backup-codes/checkout", account.id);
            let code: CheckedOutOut = api.post_revealing(&path, &body).await?;
            let copied = if copy {
                Some(crate::clipboard::copy(code.code.expose_secret())?)
            } else {
                None
            };
            if json && copied.is_some() {
                out::json(&serde_json::json!({
                    "copied": copied, "position": code.position,
                    "generation": code.generation, "remaining": code.remaining,
                }));
            } else if json {
                out::json(&code);
            } else if out::to_terminal() || copied.is_some() {
                let shown = match copied {
                    Some(tool) => format!("Copied to the clipboard ({tool})"),
                    None => out::bold(code.code.expose_secret()),
                };
                println!(
                    "{shown}  (position {} of generation {}; {} left)",
                    code.position, code.generation, code.remaining
                );
                println!(
                    "Then: kw backup report {:?} {} worked|rejected",
                    format!("{} {}", account.platform, account.handle),
                    code.position
                );
                if let Some(line) = warnings_line(&code.warnings) {
                    println!("{line}");
                }
            } else {
                println!("{}", code.code.expose_secret());
            }
        }
        BackupCommand::Report {
            account,
            position,
            outcome,
            generation,
        } => {
            let account = api.find_account(&account).await?;
            let body = serde_json::json!({ "outcome": outcome.as_str(), "generation": generation });
            let path = format!(
                "/api/v1/accounts/{}/backup-codes/{position}/result",
                account.id
            );
            let reported: ResultOut = api.post(&path, &body).await?;
            if json {
                out::json(&reported);
            } else {
                println!(
                    "Code {} of generation {} is now {}; {} left.",
                    reported.position, reported.generation, reported.state, reported.remaining
                );
                if let Some(line) = warnings_line(&reported.warnings) {
                    println!("{line}");
                }
            }
        }
        BackupCommand::Status { account } => {
            let account = api.find_account(&account).await?;
            let path = format!("/api/v1/accounts/{}/backup-codes", account.id);
            let generation: GenerationOut = api.get(&path).await?;
            if json {
                out::json(&generation);
            } else {
                println!(
                    "Generation {} (issued {}): {} of {} left.",
                    generation.generation,
                    generation.issued_on,
                    generation.remaining,
                    generation.total
                );
                for code in &generation.codes {
                    let by = match (&code.by, &code.at) {
                        (Some(by), Some(at)) => format!("  {by}, {at}"),
                        _ => String::new(),
                    };
                    println!("  {:>2}  {}{by}", code.position, code.state);
                }
                if let Some(line) = warnings_line(&generation.warnings) {
                    println!("{line}");
                }
            }
        }
    }
    Ok(())
}
