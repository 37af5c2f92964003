//! `keyward import`: seeds from another authenticator or password manager, previewed first,
//! imported with `--yes` as proposed, as the administrator at the command line (`cli` in the
//! audit trail).

use crate::authn::{Binding, Principal};
use crate::authz::{Role, ORG_WIDE};
use crate::config::Settings;
use crate::domain::{Handle, Platform, TeamSlug};
use crate::importers::ImportFormat;
use crate::services::imports::{ClientGone, Decision, Export, ImportAction, PreviewEntry};
use crate::services::{Caller, RequestMeta};
use anyhow::Context;
use keyward_proto::words::count;
use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct ImportArgs {
    /// What exported it: google-authenticator (otpauth-migration:// URIs, one per line),
    /// aegis (vault JSON, plain or encrypted), 2fas (plain backup), bitwarden (JSON export),
    /// otpauth (otpauth:// URIs, one per line).
    #[arg(long, value_name = "FORMAT")]
    format: String,
    /// The export file, or `-` for standard input.
    #[arg(long, value_name = "PATH")]
    file: PathBuf,
    /// The team new accounts are created in.
    #[arg(long, value_name = "TEAM")]
    team: String,
    /// A file holding the password of an encrypted Aegis vault (its first line).
    #[arg(long, value_name = "PATH")]
    password_file: Option<PathBuf>,
    /// Import the proposals as shown. Without it, nothing is stored.
    #[arg(long)]
    yes: bool,
}

fn read_input(path: &PathBuf) -> anyhow::Result<String> {
    let mut bytes = Vec::new();
    if path.as_os_str() == "-" {
        std::io::stdin().read_to_end(&mut bytes)?;
    } else {
        bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    }
    String::from_utf8(bytes).map_err(|_| {
        anyhow::anyhow!(
            "{} is not a text export (screenshots are not read here: give the export's text)",
            path.display()
        )
    })
}

fn describe(entry: &PreviewEntry, team: &str) -> String {
    let p = &entry.proposal;
    let show = |v: &Option<String>| v.clone().unwrap_or_default();
    match p.action {
        ImportAction::Attach => format!(
            "attach to {} {} ({})",
            show(&p.platform),
            show(&p.handle),
            show(&p.account)
        ),
        ImportAction::Create => {
            format!("create {} {} in {team}", show(&p.platform), show(&p.handle))
        }
        ImportAction::Skip => format!("skip ({})", p.reason.unwrap_or("not chosen")),
    }
}

pub async fn run(settings: Settings, args: ImportArgs) -> anyhow::Result<ExitCode> {
    let format = ImportFormat::parse(&args.format).map_err(|e| anyhow::anyhow!(e.message))?;
    let team = TeamSlug::parse(&args.team).map_err(|e| anyhow::anyhow!(e.message))?;
    let data = read_input(&args.file)?;
    let password = match &args.password_file {
        Some(path) => Some(
            std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?
                .lines()
                .next()
                .unwrap_or_default()
                .to_owned(),
        ),
        None => None,
    };
    let core = crate::startup::build_core(&settings, false).await?;
    // The administrator with the key file may do this anywhere; the trail says `cli`.
    let caller = Caller {
        principal: Principal::cli(vec![Binding {
            team: ORG_WIDE.to_owned(),
            role: Role::Manager,
        }]),
        meta: RequestMeta::default(),
        session: None,
    };
    eprintln!("reading the {} export…", format.as_str());
    let entries = core
        .preview_import(
            &caller,
            Export::new(format, data.clone(), password.clone()),
            &ClientGone::never(),
        )
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    println!(
        "{:>3}  {:<20} {:<30} {:<5} proposal",
        "#", "issuer", "label", "kind"
    );
    for e in &entries {
        println!(
            "{:>3}  {:<20} {:<30} {:<5} {}",
            e.index,
            e.issuer.as_deref().unwrap_or("-"),
            e.label.as_deref().unwrap_or("-"),
            e.kind.as_str(),
            describe(e, team.as_str())
        );
    }
    if !args.yes {
        println!(
            "{} read; nothing imported. Run again with --yes to import as proposed.",
            count(entries.len(), "seed", "seeds")
        );
        return Ok(ExitCode::SUCCESS);
    }
    let mut decisions = Vec::new();
    for e in &entries {
        let p = &e.proposal;
        decisions.push(Decision {
            index: e.index,
            action: p.action,
            account: p.account.clone(),
            platform: p
                .platform
                .as_deref()
                .map(Platform::parse)
                .transpose()
                .ok()
                .flatten(),
            handle: p
                .handle
                .as_deref()
                .map(Handle::parse)
                .transpose()
                .ok()
                .flatten(),
        });
    }
    eprintln!("importing…");
    let applied = core
        .apply_import(
            &caller,
            &team,
            Export::new(format, data, password),
            decisions,
            &ClientGone::never(),
        )
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    for r in &applied.results {
        println!(
            "{:>3}  {:<6} {} {}",
            r.index,
            r.action,
            r.account.as_deref().unwrap_or("-"),
            r.version
                .map(|v| format!("(version {v})"))
                .unwrap_or_default()
        );
    }
    println!(
        "stored {}, created {}, skipped {}",
        applied.stored,
        count(applied.created, "account", "accounts"),
        applied.skipped
    );
    Ok(ExitCode::SUCCESS)
}
