//! `kw`, Keyward's command-line client for members: sign in with a device code (the browser
//! does the SSO), list accounts, get a one-time code. Errors go to stderr with the server's
//! error code; exit codes: 1 other failures, 2 bad usage, 3 not signed in, 4 not allowed,
//! 5 approval required.

mod api;
mod backup;
mod clipboard;
mod credentials;
mod incident;
mod login;
mod out;

use api::{refusal, Api, Failure};
use backup::BackupCommand;
use clap::{Parser, Subcommand};
use incident::IncidentCommand;
use keyward_proto::access::AccessRequestOut;
use keyward_proto::accounts::AccountList;
use keyward_proto::me::Me;
use keyward_proto::otp::TotpCodeOut;
use secrecy::ExposeSecret;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "kw",
    version,
    about = "Keyward from the terminal: sign in with your SSO, get a shared account's code.",
    after_help = "Examples:\n  kw login https://keyward.example.com\n  kw code \"x @brand\"\n  kw backup checkout \"x @brand\" --reason \"locked out\"\n  kw accounts --json\n\nExit codes: 1 failure, 2 bad usage, 3 not signed in, 4 not allowed, 5 approval required.\nNO_COLOR=1 turns colour off; --json output never has any."
)]
struct Cli {
    /// Print JSON (for scripts) instead of text.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Sign in: shows a code to approve in your browser (your usual SSO), then keeps a session
    /// in $XDG_CONFIG_HOME/keyward/credentials.toml (mode 0600).
    ///
    /// Example: kw login https://keyward.example.com
    Login {
        /// The Keyward server (default: KW_SERVER, or the last one you signed in to).
        url: Option<String>,
    },
    /// End this command line's session and forget it.
    ///
    /// Example: kw logout
    Logout,
    /// Who you are signed in as, and your roles.
    ///
    /// Example: kw whoami
    Whoami,
    /// The accounts you may see.
    ///
    /// Example: kw accounts --team marketing
    Accounts {
        /// Only this team's accounts.
        #[arg(long)]
        team: Option<String>,
    },
    /// The current one-time code of an account: by id, `@handle` or `platform @handle`.
    ///
    /// Example: kw code "x @brand" --reason "weekly post" --copy
    Code {
        /// An account id, `@handle`, or `platform @handle`.
        account: String,
        /// Why (kept in the audit trail).
        #[arg(long)]
        reason: Option<String>,
        /// Put the code on the clipboard instead of printing it.
        #[arg(long)]
        copy: bool,
    },
    /// Backup codes: check one out, report whether it worked, see what is left.
    ///
    /// Example: kw backup checkout "x @brand" --reason "locked out"
    #[command(subcommand)]
    Backup(BackupCommand),
    /// Incidents: follow a runbook from the terminal.
    ///
    /// Example: kw incident start "x @brand" --runbook lockout
    #[command(subcommand)]
    Incident(IncidentCommand),
    /// Ask for time-boxed access to an account that needs approval.
    ///
    /// Example: kw request "x @ceo" --minutes 30 --reason "recall notice" --action totp.reveal
    Request {
        /// An account id, `@handle`, or `platform @handle`.
        account: String,
        /// For how long once approved (1-480).
        #[arg(long, default_value_t = 30)]
        minutes: i64,
        /// Why (the approvers read it).
        #[arg(long)]
        reason: String,
        /// What you need (repeat it): totp.reveal (the default), hotp.reveal, backup.checkout,
        /// password.reveal, totp.export, hotp.export.
        #[arg(long = "action")]
        actions: Vec<String>,
    },
    /// Approve someone's access request (a manager of the team or a security admin).
    ///
    /// Example: kw approve 0193… --comment "checked on the call"
    Approve {
        /// The request's id.
        id: String,
        /// A comment kept in the audit trail.
        #[arg(long)]
        comment: Option<String>,
    },
    /// Deny someone's access request.
    ///
    /// Example: kw deny 0193… --comment "use the runbook instead"
    Deny {
        /// The request's id.
        id: String,
        /// A comment kept in the audit trail.
        #[arg(long)]
        comment: Option<String>,
    },
    /// Print shell completions for bash, zsh or fish.
    ///
    /// Example: kw completions bash > ~/.local/share/bash-completion/completions/kw
    Completions {
        /// bash, zsh or fish.
        shell: clap_complete::Shell,
    },
}

/// Which decision `kw approve` or `kw deny` makes.
enum Verb {
    Approve,
    Deny,
}

async fn run(cli: Cli) -> Result<(), Failure> {
    let json = cli.json;
    let cli_verb = match cli.command {
        Command::Deny { .. } => Verb::Deny,
        _ => Verb::Approve,
    };
    match cli.command {
        Command::Login { url } => login::login(url, json).await,
        Command::Backup(command) => backup::run(command, json).await,
        Command::Incident(command) => incident::run(command, json).await,
        Command::Completions { shell } => {
            let mut command = <Cli as clap::CommandFactory>::command();
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut command, "kw", &mut script);
            // A reader that stops early (`| head`) is no failure.
            match std::io::Write::write_all(&mut std::io::stdout(), &script) {
                Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
                    Err(Failure::new(1, format!("cannot write: {e}")))
                }
                _ => Ok(()),
            }
        }
        Command::Logout => {
            if let Ok(api) = Api::signed_in() {
                let res = api
                    .client
                    .post(api.url("/api/v1/me/logout"))
                    .bearer_auth(&api.creds.token)
                    .send()
                    .await?;
                if !res.status().is_success() && res.status().as_u16() != 401 {
                    return Err(refusal(res).await);
                }
            }
            credentials::remove()
                .map_err(|e| Failure::new(1, format!("cannot remove the sign-in: {e}")))?;
            if !json {
                println!("Signed out.");
            }
            Ok(())
        }
        Command::Whoami => {
            let api = Api::signed_in()?;
            let me: Me = api.get("/api/v1/me").await?;
            if json {
                out::json(&me);
            } else {
                let roles: Vec<String> = me
                    .roles
                    .iter()
                    .map(|r| format!("{} @ {}", r.role, r.team))
                    .collect();
                println!(
                    "{} ({}) on {}: {}",
                    out::clean(&me.name),
                    me.email.unwrap_or_default(),
                    api.creds.server,
                    roles.join(", ")
                );
            }
            Ok(())
        }
        Command::Accounts { team } => {
            let api = Api::signed_in()?;
            let path = match team {
                Some(team) => format!("/api/v1/accounts?team={team}"),
                None => "/api/v1/accounts".to_owned(),
            };
            let list: AccountList = api.get(&path).await?;
            if json {
                out::json(&list);
            } else if list.accounts.is_empty() {
                println!("No accounts you may see.");
            } else {
                for a in list.accounts {
                    let lock = if a.access == "approval" {
                        "  (approval needed)"
                    } else {
                        ""
                    };
                    println!(
                        "{}  {:<10} {:<24} {}{lock}",
                        a.id,
                        out::clean(&a.platform),
                        out::clean(&a.handle),
                        out::clean(&a.team)
                    );
                }
            }
            Ok(())
        }
        Command::Request {
            account,
            minutes,
            reason,
            actions,
        } => {
            let api = Api::signed_in()?;
            let account = api.find_account(&account).await?;
            let actions = if actions.is_empty() {
                vec!["totp.reveal".to_owned()]
            } else {
                actions
            };
            let body = serde_json::json!({
                "account": account.id,
                "actions": actions,
                "minutes": minutes,
                "reason": reason,
            });
            let asked: AccessRequestOut = api.post("/api/v1/access-requests", &body).await?;
            if json {
                out::json(&asked);
            } else {
                println!(
                    "Asked: request {} on {} {} is waiting for {}; the approvers have been told.",
                    asked.id,
                    asked.platform,
                    asked.handle,
                    keyward_proto::words::count(asked.approvers_needed, "approval", "approvals")
                );
            }
            Ok(())
        }
        Command::Approve { id, comment } | Command::Deny { id, comment } => {
            let verb = if matches!(cli_verb, Verb::Approve) {
                "approve"
            } else {
                "deny"
            };
            let api = Api::signed_in()?;
            let body = serde_json::json!({ "comment": comment });
            let decided: AccessRequestOut = api
                .post(&format!("/api/v1/access-requests/{id}/{verb}"), &body)
                .await?;
            if json {
                out::json(&decided);
            } else {
                println!("Request {} is now {}.", decided.id, decided.state);
            }
            Ok(())
        }
        Command::Code {
            account,
            reason,
            copy,
        } => {
            let mut api = Api::signed_in()?;
            let account = api.find_account(&account).await?;
            let body = serde_json::json!({ "justification": reason });
            let path = format!("/api/v1/accounts/{}/totp/code", account.id);
            let code: TotpCodeOut = api.post_revealing(&path, &body).await?;
            if copy {
                let tool = clipboard::copy(code.code.expose_secret())?;
                if json {
                    out::json(
                        &serde_json::json!({ "copied": tool, "expires_in": code.expires_in }),
                    );
                } else {
                    println!(
                        "Copied to the clipboard ({tool}); valid {} s more.",
                        code.expires_in
                    );
                }
            } else if json {
                out::json(&code);
            } else if out::to_terminal() {
                println!(
                    "{}  (valid {} s more)",
                    out::bold(code.code.expose_secret()),
                    code.expires_in
                );
            } else {
                println!("{}", code.code.expose_secret());
            }
            Ok(())
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(err) => {
            out::error(&err.to_string());
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            out::error(&failure.message);
            ExitCode::from(failure.code)
        }
    }
}
