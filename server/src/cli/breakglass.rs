//! `keyward breakglass`: open an escrow offline from k shares and the database alone.

use super::common::connect_migrated;
use crate::config::Settings;
use crate::services;
use keyward_proto::words::count;
use std::process::ExitCode;
use zeroize::Zeroizing;

#[derive(clap::Subcommand)]
pub enum BreakglassCommand {
    /// Open an escrow with k custodians' shares when the service itself is down: reads the
    /// database (KEYWARD_DATABASE_URL or --database-url) and needs no key file and no IdP.
    /// Prints the escrow's accounts with their seeds (otpauth:// links and current codes),
    /// passwords and unused backup codes as JSON, spends the escrow, opens a rotation task for
    /// every released secret and records it in the audit trail.
    #[command(
        after_help = "Example:\n  keyward breakglass open --escrow 01a2…63 \\\n    --share kwshare1-01a2…-1-… --share kwshare1-01a2…-3-…\n\nShares can also be given one per line on standard input with --shares-from-stdin, so they\nstay out of the shell history. The output holds secrets: print it on a trusted machine only."
    )]
    Open {
        /// The escrow's id.
        #[arg(long, value_name = "ID")]
        escrow: String,
        /// A custodian's `kwshare1-…` share; give it once per share (k of them).
        #[arg(long = "share", value_name = "SHARE")]
        shares: Vec<String>,
        /// Read the shares from standard input, one per line (keeps them out of the shell history).
        #[arg(long)]
        shares_from_stdin: bool,
        /// The database, instead of database.url / KEYWARD_DATABASE_URL.
        #[arg(long, value_name = "URL")]
        database_url: Option<String>,
    },
}

impl BreakglassCommand {
    /// Whether the command names its database itself (`--database-url`): then it needs no
    /// other configuration, as in an emergency on a machine that has none.
    pub fn names_database(&self) -> bool {
        let BreakglassCommand::Open { database_url, .. } = self;
        database_url.is_some()
    }
}

pub async fn run(settings: Settings, command: BreakglassCommand) -> anyhow::Result<ExitCode> {
    let BreakglassCommand::Open {
        escrow,
        shares,
        shares_from_stdin,
        database_url,
    } = command;
    let mut settings = settings;
    if let Some(url) = database_url {
        settings.database.url = url;
    }
    let mut given: Vec<Zeroizing<String>> = shares.into_iter().map(Zeroizing::new).collect();
    if shares_from_stdin {
        for line in std::io::stdin().lines() {
            let line = Zeroizing::new(line?);
            if !line.trim().is_empty() {
                given.push(Zeroizing::new(line.trim().to_owned()));
            }
        }
    }
    anyhow::ensure!(
        !given.is_empty(),
        "--share: give the custodians' shares (k of them)"
    );
    let store = connect_migrated(&settings).await?;
    eprintln!(
        "opening escrow {escrow} with {}, without the key file …",
        count(given.len(), "share", "shares")
    );
    let accounts =
        match services::release::open_offline(&store, &settings, escrow.trim(), &given).await {
            Ok(accounts) => accounts,
            // The service's own words and cause (this command logs nothing, so they are said
            // here): a share that does not fit, a spent escrow, an unreadable stored key.
            Err(err) => return Err(anyhow::Error::new(err)),
        };
    let out: Vec<serde_json::Value> = accounts
        .iter()
        .map(|a| {
            serde_json::json!({
                "account": a.account,
                "platform": a.platform,
                "handle": a.handle,
                "otpauth_uri": a.otpauth_uri,
                "totp_code": a.totp_code().map(|c| c.as_str().to_owned()),
                "password": a.password,
                "backup_codes": a.backup_codes.iter().map(|(p, c)| serde_json::json!({"position": p, "code": c})).collect::<Vec<_>>(),
            })
        })
        .collect();
    let text = Zeroizing::new(serde_json::to_string_pretty(
        &serde_json::json!({ "accounts": out }),
    )?);
    println!("{}", text.as_str());
    eprintln!(
        "released {}; the escrow is spent, rotation tasks are open — rotate every secret above",
        count(accounts.len(), "account", "accounts")
    );
    eprintln!(
        "written without the key file, those records carry no integrity MAC: once the key file \
         is back, list them with `keyward integrity check` and re-sign each with \
         `keyward integrity attest` (until then Keyward does not show them)"
    );
    Ok(ExitCode::SUCCESS)
}
