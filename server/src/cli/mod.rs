//! The `keyward` command line: serve, migrate, keys, token, audit, member, breakglass.

mod breakglass;
mod doctor;
mod import;

use crate::audit::ExportFormat;
use crate::authn::Binding;
use crate::authz::{Role, ORG_WIDE};
use crate::config::Settings;
use crate::crypto::{KeyFile, KeySource, Keyring};
use crate::domain::TeamSlug;
use crate::services;
use crate::startup::{self, Application};
use crate::store::Store;
use anyhow::Context;
use clap::{Parser, Subcommand};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "keyward",
    version,
    about = "Team secret custody for shared social accounts",
    long_about = "Keyward keeps the 2FA seeds, backup codes and passwords of an organisation's shared \
social accounts encrypted, hands out one-time codes to the right people through SSO and API tokens, \
and records every step in a tamper-evident audit trail.\n\n\
Configuration comes from --config/KEYWARD_CONFIG (TOML) and KEYWARD_* variables, e.g. \
KEYWARD_DATABASE_URL, KEYWARD_KEY_FILE, KEYWARD_LISTEN, KEYWARD_PUBLIC_URL."
)]
struct Cli {
    /// TOML configuration file.
    #[arg(long, global = true, env = "KEYWARD_CONFIG", value_name = "PATH")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the API until SIGTERM/SIGINT (applies migrations first).
    Serve {
        /// Do not apply pending migrations on start.
        #[arg(long)]
        no_migrate: bool,
    },
    /// Apply pending database migrations.
    Migrate,
    /// Manage the keyring (key-encryption keys).
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Manage service tokens for automation.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Verify, export, forward (status) and archive the audit trail.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// List members, manage the grants stored in Keyward (beside the IdP's groups) and
    /// offboard members who leave.
    #[command(subcommand)]
    Member(MemberCommand),
    /// Break-glass: open an escrow offline with k custodians' shares.
    #[command(subcommand)]
    Breakglass(breakglass::BreakglassCommand),
    /// Import seeds from Google Authenticator, Aegis, 2FAS, Bitwarden or a list of
    /// otpauth:// URIs: shows what it would do (attach to an account, create one, skip);
    /// `--yes` imports it, in one transaction.
    Import(import::ImportArgs),
    /// Incident runbooks: check a folder of them before the server reads it.
    #[command(subcommand)]
    Runbook(RunbookCommand),
    /// Check this deployment and say what is wrong in plain words: the configuration and the
    /// environment overrides in effect (names, never values), the key file's mode and its key
    /// check values against the database, database connectivity and pending migrations,
    /// OIDC discovery and the redirect URL the IdP must allow, public_url against listen,
    /// and this host's clock against the database server's and the IdP's. Reads only.
    /// Exit 0 when nothing stops Keyward (warnings may remain), 1 otherwise.
    Doctor(doctor::DoctorArgs),
    /// Ask a running server whether it is ready (`GET /readyz` on the `listen` address, or
    /// `--url`): exit 0 when it answers 200, 1 otherwise. For container health checks; it
    /// opens neither the database nor the key file.
    Health {
        /// The readiness URL to ask instead of the one `listen` gives.
        #[arg(long)]
        url: Option<String>,
    },
}

#[derive(Subcommand)]
enum RunbookCommand {
    /// Check runbooks as the server does at start: YAML that reads, every step reachable,
    /// every choice going to a step, known actions, English and Japanese text everywhere.
    /// Prints each problem with its file and step; exits 1 if there is any.
    Check {
        /// The folder of `*.yaml` runbooks (default: `incidents.runbooks_dir` from the
        /// configuration, else the runbooks built into this binary).
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
    /// List the runbooks with their titles and number of steps.
    List {
        /// The folder of `*.yaml` runbooks (default as for `check`).
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum MemberCommand {
    /// Members who have signed in, with their roles and where each comes from.
    List,
    /// Grant a role to a member, kept across sign-ins (IdP roles are recomputed at each one).
    Grant {
        #[command(flatten)]
        who: WhoArgs,
        /// viewer, operator, manager, security_admin, auditor, custodian or scim.
        #[arg(long)]
        role: String,
        /// Team slug, or * for every team.
        #[arg(long)]
        team: String,
    },
    /// Offboard a member who leaves: their sessions and bound tokens end at once, their next
    /// sign-in is refused, and a rotation task opens for every secret the audit trail shows
    /// they saw (seed exports, password reveals, backup codes checked out and not used).
    #[command(
        after_help = "Example:\n  keyward member offboard alice@example.com --reason \"left the agency\"\n\n\
Then `keyward member list` shows them departed; the API's /api/v1/rotation-tasks and the \
dashboard's Rotation tasks page list what must be rotated, and \
GET /api/v1/members/ID/offboarding-report is the evidence."
    )]
    Offboard {
        /// The member's email (as the IdP verified it) or id.
        #[arg(value_name = "EMAIL|ID")]
        who: String,
        /// Why they leave, for the audit trail and the report (3 to 500 characters).
        #[arg(long)]
        reason: String,
        /// `exposed`: rotate what they saw; `strict`: also everything they could reach.
        /// Default: rotation.offboard_policy (exposed).
        #[arg(long, value_name = "exposed|strict")]
        policy: Option<String>,
    },
    /// Remove a role given with `member grant`.
    Revoke {
        #[command(flatten)]
        who: WhoArgs,
        /// The role to remove.
        #[arg(long)]
        role: String,
        /// The team it was granted in, or *.
        #[arg(long)]
        team: String,
    },
}

/// Which member: exactly one of --member and --email.
#[derive(clap::Args)]
#[group(required = true, multiple = false)]
struct WhoArgs {
    /// The member's id, as `keyward member list` shows it (always unique).
    #[arg(long, value_name = "ID")]
    member: Option<String>,
    /// The member's email, as their IdP verified it (refused if several members share it).
    #[arg(long)]
    email: Option<String>,
}

impl WhoArgs {
    fn resolve(self) -> services::members::MemberRef {
        match (self.member, self.email) {
            (Some(id), _) => services::members::MemberRef::Id(id.trim().to_owned()),
            (None, email) => {
                services::members::MemberRef::Email(email.unwrap_or_default().trim().to_owned())
            }
        }
    }
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Write a new key file (mode 0600). Refuses to overwrite an existing file.
    Init {
        /// Where to write it (default: keys.key_file from the configuration).
        #[arg(long, value_name = "PATH")]
        key_file: Option<PathBuf>,
    },
    /// Add a new KEK, make it active and re-wrap every DEK under it (values are not re-encrypted).
    /// Safe while the server runs; if interrupted, run again with --resume.
    Rotate {
        /// Only finish re-wrapping under the current active KEK; add no new key.
        #[arg(long)]
        resume: bool,
        /// DEKs re-wrapped per transaction.
        #[arg(long, default_value_t = 200)]
        batch: u64,
    },
    /// Show the KEKs, the active one and how many DEKs each wraps.
    Status,
}

#[derive(Subcommand)]
enum TokenCommand {
    /// Create a token; it is printed once, alone on the last line of stdout.
    Create {
        /// A name saying what uses the token, e.g. chatops-bot.
        #[arg(long)]
        name: String,
        /// viewer, operator, manager, security_admin, auditor, custodian or scim.
        #[arg(long)]
        role: String,
        /// Team slug, or * for every team.
        #[arg(long)]
        team: String,
        /// Expire after this many days (default: never).
        #[arg(long, value_name = "DAYS")]
        expires_in_days: Option<u32>,
        /// Bind the token to a member (email or id): what it reveals counts as theirs, and
        /// offboarding them revokes it.
        #[arg(long, value_name = "EMAIL|ID")]
        member: Option<String>,
    },
    /// List tokens (never their values).
    List,
    /// Revoke a token at once.
    Revoke {
        /// The token id shown by `token list`.
        #[arg(value_name = "ID")]
        id: String,
    },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Recompute the hash chain (from the newest retention anchor) and check the signed
    /// checkpoints and anchors (needs the key file for those). Exit 0 when intact, 1 when
    /// broken, edited, truncated or rewritten.
    Verify,
    /// Sign a checkpoint of the chain head now (the server also does this on its own).
    Checkpoint,
    /// Write the events as JSON lines or CSV, oldest first: all of them, or those the
    /// filters below select (every filter given must match).
    Export {
        /// jsonl: one JSON object per event; csv: a header row, then one row per event.
        #[arg(long, value_enum, default_value = "jsonl")]
        format: ExportFormat,
        /// Write to this file instead of stdout.
        #[arg(long, value_name = "PATH")]
        output: Option<PathBuf>,
        /// Only events at or after this time (RFC 3339, or a date meaning its start in UTC).
        #[arg(long, value_parser = time_bound)]
        since: Option<chrono::DateTime<chrono::Utc>>,
        /// Only events before this time (RFC 3339, or a date).
        #[arg(long, value_parser = time_bound)]
        until: Option<chrono::DateTime<chrono::Utc>>,
        /// Only events about this account (its id).
        #[arg(long)]
        account: Option<String>,
        /// Only events by this actor, e.g. `member:…` or `token:…`.
        #[arg(long)]
        actor: Option<String>,
        /// Only events of this action, e.g. `totp.reveal` or `backup.checkout`.
        #[arg(long)]
        action: Option<String>,
    },
    /// Show each SIEM destination (`[[audit.forward]]`): how far it has got and its last error.
    Forwarders,
    /// Archive events older than `audit.retention_days` to a verified file in
    /// `audit.archive_dir`, then remove them from the database, keeping a signed anchor so the
    /// rest of the chain still verifies. Events a forwarder has not delivered, and the newest
    /// event, always stay. The server does this hourly on its own when retention is set.
    Archive {
        /// Archive events before this time instead (RFC 3339, or a date).
        #[arg(long, value_parser = time_bound)]
        before: Option<chrono::DateTime<chrono::Utc>>,
        /// Only show which events would be archived.
        #[arg(long)]
        dry_run: bool,
    },
    /// Recompute the chain inside archive files written by retention, and match each with
    /// the signed anchor for its range in the database (needs the key file). Exit 0 when
    /// every file is intact and anchored, 1 otherwise.
    VerifyArchive {
        /// Archive files written by `audit archive` (or the server's retention).
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
    },
}

fn time_bound(raw: &str) -> Result<chrono::DateTime<chrono::Utc>, String> {
    crate::audit::parse_time_bound(raw).ok_or_else(|| {
        format!("{raw:?} is not a time like 2026-11-23T10:00:00Z or a date like 2026-11-23")
    })
}

/// `keyward runbook check|list`.
fn runbook_check(dir: Option<&std::path::Path>, list: bool) -> anyhow::Result<ExitCode> {
    use crate::services::runbooks::Runbooks;
    let source = dir.map_or_else(
        || "the built-in runbooks".to_owned(),
        |d| d.display().to_string(),
    );
    match Runbooks::load(dir) {
        Ok(runbooks) => {
            let all: Vec<_> = runbooks.all().collect();
            if list {
                for r in &all {
                    println!(
                        "{:<20} {:>3} steps  {} / {}",
                        r.id,
                        r.steps.len(),
                        r.title.en,
                        r.title.ja
                    );
                }
            } else {
                let ids: Vec<&str> = all.iter().map(|r| r.id.as_str()).collect();
                println!(
                    "{}: {} runbook(s) OK: {}",
                    source,
                    all.len(),
                    ids.join(", ")
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(errors) => {
            for line in &errors.0 {
                eprintln!("{line}");
            }
            eprintln!("{source}: {} problem(s)", errors.0.len());
            Ok(ExitCode::from(1))
        }
    }
}

/// Runs the command line; the process exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(err) => {
            eprintln!("error: cannot start the runtime: {err}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        // The reader went away (`keyward audit export | head`): nothing more to say.
        Err(err) if is_broken_pipe(&err) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(2)
        }
    }
}

fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// Whether anything configures this run: `--config`/`KEYWARD_CONFIG`, or a `KEYWARD_*`
/// variable. Without either, a command that needs the database says so rather than
/// quietly creating `./keyward.db`.
fn configured(config: Option<&std::path::Path>) -> bool {
    config.is_some()
        || std::env::vars_os().any(|(key, _)| {
            key.to_str()
                .is_some_and(|k| k.starts_with("KEYWARD_") && k != "KEYWARD_CONFIG")
        })
}

/// The readiness URL of a server listening on `listen` (a wildcard address is asked on
/// loopback).
fn readyz_url(listen: &str) -> String {
    let local = match listen.parse::<std::net::SocketAddr>() {
        Ok(addr) if addr.ip().is_unspecified() => {
            let ip: std::net::IpAddr = if addr.is_ipv4() {
                std::net::Ipv4Addr::LOCALHOST.into()
            } else {
                std::net::Ipv6Addr::LOCALHOST.into()
            };
            std::net::SocketAddr::new(ip, addr.port()).to_string()
        }
        _ => listen.to_owned(),
    };
    format!("http://{local}/readyz")
}

async fn health(url: &str) -> anyhow::Result<ExitCode> {
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(5))
        .build()?;
    match client.get(url).send().await {
        Ok(res) if res.status().is_success() => {
            println!("ready: {url}");
            Ok(ExitCode::SUCCESS)
        }
        Ok(res) => {
            println!("not ready: {url} answered {}", res.status());
            Ok(ExitCode::FAILURE)
        }
        Err(e) => {
            println!("not ready: {url} did not answer ({e})");
            Ok(ExitCode::FAILURE)
        }
    }
}

const NO_CONFIGURATION: &str = "no configuration found: Keyward reads a TOML file given with \
--config PATH or KEYWARD_CONFIG, and KEYWARD_* environment variables (at least \
KEYWARD_DATABASE_URL and KEYWARD_KEY_FILE). Neither is set here, so nothing was opened or \
created. `make dev` writes one to .dev/keyward.toml; `keyward doctor --config PATH` checks one.";

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let settings = || -> anyhow::Result<Settings> {
        anyhow::ensure!(configured(cli.config.as_deref()), NO_CONFIGURATION);
        Ok(Settings::load(cli.config.as_deref())?)
    };
    match cli.command {
        Command::Serve { no_migrate } => serve(settings()?, !no_migrate).await,
        Command::Migrate => {
            let settings = settings()?;
            let store = connect(&settings).await?;
            let pending = store.pending_migrations().await?;
            store.migrate().await?;
            println!("applied {pending} migration(s); the database is up to date");
            Ok(ExitCode::SUCCESS)
        }
        Command::Keys(KeysCommand::Init { key_file }) => {
            let path = match key_file {
                Some(path) => path,
                None => settings()?
                    .keys
                    .key_file
                    .context("keys init: give --key-file PATH")?,
            };
            KeyFile::generate().create(&path)?;
            println!("wrote {} (mode 0600) with key kek-0001", path.display());
            println!(
                "keep a backup of it somewhere safe: without it, stored secrets cannot be opened"
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Keys(KeysCommand::Rotate { resume, batch }) => {
            rotate(&settings()?, resume, batch).await
        }
        Command::Keys(KeysCommand::Status) => key_status(&settings()?).await,
        Command::Token(command) => token(&settings()?, command).await,
        Command::Member(command) => member(&settings()?, command).await,
        Command::Breakglass(command) => {
            let settings = if command.names_database() && !configured(cli.config.as_deref()) {
                Settings::load(None)?
            } else {
                settings()?
            };
            breakglass::run(settings, command).await
        }
        Command::Import(args) => import::run(settings()?, args).await,
        Command::Health { url } => {
            let url = match url {
                Some(url) => url,
                None => readyz_url(&Settings::load(cli.config.as_deref())?.listen),
            };
            health(&url).await
        }
        Command::Doctor(args) => Ok(doctor::run(
            cli.config.as_deref(),
            configured(cli.config.as_deref()),
            args,
        )
        .await),
        Command::Runbook(command) => {
            let (dir, list) = match command {
                RunbookCommand::Check { dir } => (dir, false),
                RunbookCommand::List { dir } => (dir, true),
            };
            // Checking a folder needs no database; without one, the configured folder (a
            // configuration that cannot be read is an error, not the built-in runbooks).
            let dir = match dir {
                Some(dir) => Some(dir),
                None if configured(cli.config.as_deref()) => settings()?.incidents.runbooks_dir,
                None => None,
            };
            runbook_check(dir.as_deref(), list)
        }
        Command::Audit(AuditCommand::Verify) => audit_verify(&settings()?).await,
        Command::Audit(AuditCommand::Checkpoint) => audit_checkpoint(&settings()?).await,
        Command::Audit(AuditCommand::Forwarders) => audit_forwarders(&settings()?).await,
        Command::Audit(AuditCommand::Archive { before, dry_run }) => {
            audit_archive(&settings()?, before, dry_run).await
        }
        Command::Audit(AuditCommand::VerifyArchive { files }) => {
            audit_verify_archive(&settings()?, &files).await
        }
        Command::Audit(AuditCommand::Export {
            format,
            output,
            since,
            until,
            account,
            actor,
            action,
        }) => {
            let filter = crate::store::audit::AuditFilter {
                after: 0,
                actor,
                target: account.map(|a| format!("account:{a}")),
                action,
                outcome: None,
                since,
                until,
            };
            audit_export(&settings()?, format, output, filter).await
        }
    }
}

async fn connect(settings: &Settings) -> anyhow::Result<Store> {
    Store::connect(&settings.database.url, 2)
        .await
        .context("database.url: cannot connect")
}

/// Connects and refuses to work on a database whose schema is behind the binary.
async fn connect_migrated(settings: &Settings) -> anyhow::Result<Store> {
    let store = connect(settings).await?;
    let pending = store.pending_migrations().await?;
    anyhow::ensure!(
        pending == 0,
        "the database has {pending} pending migration(s); run `keyward migrate` first"
    );
    Ok(store)
}

async fn serve(settings: Settings, migrate: bool) -> anyhow::Result<ExitCode> {
    crate::telemetry::init(&settings.log);
    let app = Application::build(&settings, migrate).await?;
    tracing::info!(listen = %settings.listen, public_url = %settings.public_url, "keyward is serving");
    app.run_until_stopped().await?;
    tracing::info!("keyward stopped");
    Ok(ExitCode::SUCCESS)
}

async fn rotate(settings: &Settings, resume: bool, batch: u64) -> anyhow::Result<ExitCode> {
    let KeySource::File(path) = startup::key_source(settings)? else {
        anyhow::bail!("keys rotate works on a key file (keys.key_file); rotate an environment keyring by hand");
    };
    let store = connect_migrated(settings).await?;
    // A key file that is not the database's is refused before anything is added to it.
    services::keys::prove(&store, &Keyring::load(KeySource::File(path.clone()))?).await?;
    if !resume {
        let mut file = KeyFile::read(&path)?;
        let new_id = file.add_key();
        file.replace(&path)?;
        services::keys::record_rotation(&store, &new_id).await?;
        eprintln!("added {new_id} to {} and made it active", path.display());
    }
    let keyring = Keyring::load(KeySource::File(path))?;
    eprintln!("re-wrapping data keys under {}…", keyring.active_id());
    let report = services::keys::rewrap_all(&store, &keyring, batch, |done, total| {
        eprintln!("  {done}/{total} data keys re-wrapped");
    })
    .await?;
    if report.remaining > 0 {
        eprintln!(
            "{} data keys still use an older key; run `keyward keys rotate --resume`",
            report.remaining
        );
        return Ok(ExitCode::from(1));
    }
    println!(
        "done: {} data keys re-wrapped; every secret now uses {}",
        report.rewrapped,
        keyring.active_id()
    );
    Ok(ExitCode::SUCCESS)
}

async fn key_status(settings: &Settings) -> anyhow::Result<ExitCode> {
    let keyring = Keyring::load(startup::key_source(settings)?)?;
    let store = connect_migrated(settings).await?;
    let counts = crate::store::deks::count_by_kek(store.db()).await?;
    let recorded = crate::store::deks::key_checks(store.db()).await?;
    let in_use: Vec<String> = counts.keys().cloned().collect();
    let problems = services::keys::health(&store, &keyring, &in_use).await?;
    let problem = |id: &str| problems.iter().find(|(p, _)| p == id).map(|(_, k)| *k);
    let active = keyring.active_id();
    println!("{:<12} {:>8}  {:<18} check value", "key", "DEKs", "state");
    let mut ids = keyring.key_ids();
    ids.push(crate::crypto::ROOT_KEY_ID.to_owned());
    for id in ids {
        let n = counts.get(&id).copied().unwrap_or(0);
        let state = if id == crate::crypto::ROOT_KEY_ID {
            "derived keys"
        } else if id == active {
            "active"
        } else if n == 0 {
            "retired (unused)"
        } else {
            "in use"
        };
        let check = match (problem(&id), recorded.contains_key(&id)) {
            (Some(services::keys::KeyProblem::Mismatch), _) => {
                "MISMATCH: not the key this database was written with"
            }
            (_, true) => "matches the database",
            (_, false) => "not recorded yet (recorded at the next start or write)",
        };
        let shown = if id == crate::crypto::ROOT_KEY_ID {
            "root"
        } else {
            id.as_str()
        };
        println!(
            "{shown:<12} {:>8}  {state:<18} {check}",
            if shown == "root" {
                "-".to_owned()
            } else {
                n.to_string()
            }
        );
    }
    let held = keyring.key_ids();
    let missing: Vec<(&String, &i64)> =
        counts.iter().filter(|(id, _)| !held.contains(id)).collect();
    for (id, n) in &missing {
        println!("{id:<12} {n:>8}  MISSING from the keyring: these secrets cannot be opened");
    }
    let problems = problems.len() + missing.len();
    Ok(if problems == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn parse_role(role: &str) -> anyhow::Result<Role> {
    Role::parse(role).with_context(|| {
        let roles: Vec<&str> = Role::ALL.iter().map(|r| r.as_str()).collect();
        format!("--role: {role:?} is not one of {}", roles.join(", "))
    })
}

fn parse_team(team: &str) -> anyhow::Result<String> {
    if team.trim() == ORG_WIDE {
        Ok(ORG_WIDE.to_owned())
    } else {
        Ok(TeamSlug::parse(team)
            .map_err(|e| anyhow::anyhow!("--team: {e}"))?
            .as_str()
            .to_owned())
    }
}

async fn member(settings: &Settings, command: MemberCommand) -> anyhow::Result<ExitCode> {
    let store = connect_migrated(settings).await?;
    match command {
        MemberCommand::List => {
            let members = crate::store::members::list(store.db()).await?;
            if members.is_empty() {
                println!("no members yet: people appear here after their first sign-in");
            }
            for m in members {
                let grants = crate::store::members::grants(store.db(), &m.id).await?;
                let roles: Vec<String> = grants
                    .iter()
                    .map(|g| format!("{}@{} ({})", g.role, g.team, g.source))
                    .collect();
                let roles = if roles.is_empty() {
                    "no roles".to_owned()
                } else {
                    roles.join(", ")
                };
                println!(
                    "{}  {:<28} {:<8} {roles}",
                    m.id,
                    m.email.as_deref().unwrap_or("-"),
                    m.status
                );
            }
        }
        MemberCommand::Grant { who, role, team } => {
            let (role, team, who) = (parse_role(&role)?, parse_team(&team)?, who.resolve());
            let added = services::members::grant(&store, &who, role, &team).await?;
            let verb = if added { "granted" } else { "already had" };
            println!("{who} {verb} {} in {team}", role.as_str());
        }
        MemberCommand::Offboard {
            who,
            reason,
            policy,
        } => return offboard(settings, &store, &who, &reason, policy.as_deref()).await,
        MemberCommand::Revoke { who, role, team } => {
            let (role, team, who) = (parse_role(&role)?, parse_team(&team)?, who.resolve());
            anyhow::ensure!(
                services::members::revoke(&store, &who, role, &team).await?,
                "{who} has no granted {} in {team}",
                role.as_str()
            );
            println!("revoked {} in {team} from {who}", role.as_str());
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn offboard(
    settings: &Settings,
    store: &Store,
    who: &str,
    reason: &str,
    policy: Option<&str>,
) -> anyhow::Result<ExitCode> {
    let reason = crate::domain::DepartureReason::parse(reason)
        .map_err(|e| anyhow::anyhow!("--reason: {e}"))?;
    let policy =
        crate::domain::OffboardPolicy::parse(policy.unwrap_or(&settings.rotation.offboard_policy))
            .map_err(|e| anyhow::anyhow!("--policy: {e}"))?;
    let member =
        services::members::find_one(store, &services::members::MemberRef::from_arg(who)).await?;
    let label = member.email.clone().unwrap_or_else(|| member.id.clone());
    eprintln!("offboarding {label} (policy {}) …", policy.as_str());
    let core = startup::build_core(settings, false).await?;
    let done = match core
        .depart(&services::Actor::cli(), &member.id, reason, policy)
        .await
    {
        Ok(done) => done,
        Err(services::ServiceError::Conflict { message, .. }) => {
            anyhow::bail!("{label}: {message}")
        }
        Err(err) => return Err(err.into()),
    };
    println!(
        "{label} is departed: {} session(s) ended, {} token(s) revoked",
        done.sessions_revoked, done.tokens_revoked
    );
    if done.exposure.is_empty() {
        println!("the audit trail shows no secret they still could use: no rotation needed");
    } else {
        println!("exposure ({} item(s)):", done.exposure.len());
        for item in &done.exposure {
            let seq = item.seq.map(|s| format!("audit #{s}")).unwrap_or_default();
            let position = item.position.map(|p| format!(" #{p}")).unwrap_or_default();
            println!(
                "  {:<10} {:<20} {:<12}{position} {:<12} {seq}",
                item.platform, item.handle, item.kind, item.how
            );
        }
    }
    for view in &done.tasks {
        let due = view
            .task
            .due_at
            .map(|d| d.format("%Y-%m-%d %H:%M UTC").to_string())
            .unwrap_or_default();
        println!(
            "rotation task {}: {} of {} {} by {due}",
            view.task.id, view.task.secret_kind, view.platform, view.handle
        );
    }
    Ok(ExitCode::SUCCESS)
}

async fn token(settings: &Settings, command: TokenCommand) -> anyhow::Result<ExitCode> {
    let store = connect_migrated(settings).await?;
    match command {
        TokenCommand::Create {
            name,
            role,
            team,
            expires_in_days,
            member,
        } => {
            let member_id = match member {
                Some(who) => Some(
                    services::members::find_one(
                        &store,
                        &services::members::MemberRef::from_arg(&who),
                    )
                    .await?
                    .id,
                ),
                None => None,
            };
            let name = name.trim().to_owned();
            anyhow::ensure!(
                !name.is_empty() && name.len() <= 100,
                "--name: 1-100 characters"
            );
            let role_parsed = parse_role(&role)?;
            let team = parse_team(&team)?;
            let expires_at =
                expires_in_days.map(|d| chrono::Utc::now() + chrono::Duration::days(i64::from(d)));
            let bindings = vec![Binding {
                team: team.clone(),
                role: role_parsed,
            }];
            let (row, token) = services::tokens::create_for(
                &store,
                &name,
                bindings,
                expires_at,
                member_id.as_deref(),
            )
            .await?;
            println!(
                "created token {:?} (id {}) with role {} in team {team}",
                row.name,
                row.id,
                role_parsed.as_str()
            );
            println!("it is shown once, now; store it in your secret manager:");
            println!("{}", token.as_str());
        }
        TokenCommand::List => {
            let rows = crate::store::tokens::list(store.db()).await?;
            if rows.is_empty() {
                println!("no tokens yet; create one with `keyward token create --name NAME --role ROLE --team TEAM`");
            }
            for row in rows {
                let state = match (row.revoked_at, row.expires_at) {
                    (Some(_), _) => "revoked".to_owned(),
                    (None, Some(at)) if at <= chrono::Utc::now() => "expired".to_owned(),
                    (None, Some(at)) => format!("expires {}", at.format("%Y-%m-%d")),
                    (None, None) => "active".to_owned(),
                };
                println!("{}  {:<24} {}  {}", row.id, row.name, row.bindings, state);
            }
        }
        TokenCommand::Revoke { id } => {
            anyhow::ensure!(
                services::tokens::revoke(&store, &id).await?,
                "no token with id {id}"
            );
            println!("revoked token {id}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn audit_checkpoint(settings: &Settings) -> anyhow::Result<ExitCode> {
    let keyring = Keyring::load(startup::key_source(settings)?)?;
    let store = connect_migrated(settings).await?;
    services::keys::prove(&store, &keyring).await?;
    let due = crate::audit::checkpoint::Due::NOW;
    match crate::audit::checkpoint::write(&store, &keyring, due).await? {
        Some(c) => println!(
            "checkpoint at seq {}: head {}, signed by {}",
            c.seq, c.head_hash, c.key_id
        ),
        None => println!("nothing new since the last checkpoint"),
    }
    if let Some(path) = settings.witness_path() {
        use crate::audit::witness::{advance, Advance};
        match advance(store.db(), &keyring, &path, None).await? {
            Advance::Written(w) => println!("witness {} now holds seq {}", path.display(), w.seq),
            Advance::Unchanged(w) => {
                println!("witness {} already holds seq {}", path.display(), w.seq)
            }
            Advance::Refused(why) => {
                println!(
                    "witness {} NOT moved: {why}; run `keyward audit verify`",
                    path.display()
                );
                return Ok(ExitCode::from(1));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn audit_forwarders(settings: &Settings) -> anyhow::Result<ExitCode> {
    let store = connect_migrated(settings).await?;
    let forwarders = services::audit::forwarder_status(&store, settings).await?;
    if forwarders.is_empty() {
        println!("no SIEM destinations configured (add [[audit.forward]] to the configuration)");
    }
    for f in forwarders {
        let delivered = f
            .delivered_seq
            .map_or("nothing yet".to_owned(), |s| format!("up to seq {s}"));
        println!(
            "{:<16} {:<8} {:<32} {:<12} delivered {delivered}, {} behind",
            f.name, f.kind, f.destination, f.state, f.lag
        );
        if let Some(err) = f.last_error {
            println!("{:<16} last error ({} in a row): {err}", "", f.failures);
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn audit_archive(
    settings: &Settings,
    before: Option<chrono::DateTime<chrono::Utc>>,
    dry_run: bool,
) -> anyhow::Result<ExitCode> {
    let cutoff = match before {
        Some(at) => at,
        None => {
            let days = settings.audit.retention_days;
            anyhow::ensure!(
                days > 0,
                "audit.retention_days is 0 (keep everything); set it, or give --before TIME"
            );
            crate::audit::retention::cutoff(days)
        }
    };
    let core = startup::build_core(settings, false).await?;
    anyhow::ensure!(
        core.store.pending_migrations().await? == 0,
        "the database has pending migrations; run `keyward migrate` first"
    );
    let forwarders: Vec<String> = settings
        .audit
        .forward
        .iter()
        .map(|f| f.name.clone())
        .collect();
    let plan = crate::audit::retention::plan(&core.store, cutoff, &forwarders).await?;
    let Some((first, last)) = plan else {
        println!("nothing to archive before {}", cutoff.to_rfc3339());
        return Ok(ExitCode::SUCCESS);
    };
    if dry_run {
        println!(
            "would archive events {first} to {last} ({} events) before {}",
            last - first + 1,
            cutoff.to_rfc3339()
        );
        return Ok(ExitCode::SUCCESS);
    }
    anyhow::ensure!(
        settings.audit.archive_dir.is_some(),
        "audit.archive_dir: set where archive files go"
    );
    eprintln!(
        "verifying the chain, then archiving (at most {} events per file)…",
        crate::audit::retention::MAX_EVENTS_PER_FILE
    );
    let archived = core
        .archive_audit(services::tokens::CLI_ACTOR, cutoff, |a| {
            println!(
                "archived events {} to {} ({} events) to {}\nsha256 {}",
                a.first_seq,
                a.last_seq,
                a.events,
                a.path.display(),
                a.sha256
            )
        })
        .await?;
    if archived.is_empty() {
        println!("nothing archived: another process archived these events first");
    }
    Ok(ExitCode::SUCCESS)
}

/// Each archive's own chain, and its match with a signed anchor in the database: the file's
/// SHA-256 and last hash must be what the anchor (signed with the keyring's key) says.
async fn audit_verify_archive(settings: &Settings, files: &[PathBuf]) -> anyhow::Result<ExitCode> {
    let keyring = Keyring::load(startup::key_source(settings)?)
        .context("verify-archive checks the anchors' signatures and needs the key file")?;
    let key_id = keyring.checkpoint_key_id();
    let store = connect_migrated(settings).await?;
    let anchors = crate::store::audit::anchors(store.db()).await?;
    let mut ok = true;
    for file in files {
        let verdict = crate::audit::retention::verify_archive(file).and_then(|summary| {
            let anchor = anchors
                .iter()
                .find(|a| a.first_seq == summary.first_seq && a.seq == summary.last_seq)
                .ok_or_else(|| {
                    format!(
                        "no retention anchor in the database covers events {} to {}",
                        summary.first_seq, summary.last_seq
                    )
                })?;
            let signed = anchor.key_id == key_id
                && crate::crypto::checkpoint_signature_valid(
                    &anchor.key_id,
                    &crate::audit::anchor::anchor_row_message(anchor),
                    &anchor.signature,
                );
            if !signed {
                return Err("its anchor is not signed by this keyring's key".to_owned());
            }
            if anchor.hash != summary.last_hash || anchor.archive_sha256 != summary.sha256 {
                return Err(format!(
                    "does not match its signed anchor (sha256 {}, anchor says {})",
                    summary.sha256, anchor.archive_sha256
                ));
            }
            Ok(summary)
        });
        match verdict {
            Ok(summary) => println!(
                "ok {}: events {} to {}, chain intact, last hash {}, sha256 {}; matches its signed anchor",
                file.display(),
                summary.first_seq,
                summary.last_seq,
                summary.last_hash,
                summary.sha256
            ),
            Err(reason) => {
                ok = false;
                println!("BROKEN {}: {reason}", file.display());
            }
        }
    }
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

async fn audit_verify(settings: &Settings) -> anyhow::Result<ExitCode> {
    let store = connect_migrated(settings).await?;
    let keyring = startup::key_source(settings).and_then(|source| Ok(Keyring::load(source)?));
    let key_id = match keyring {
        Ok(keyring) => Some(keyring.checkpoint_key_id()),
        Err(err) => {
            eprintln!("warning: signed checkpoints, anchors and the witness not checked (no keyring: {err:#}); truncation would not show");
            None
        }
    };
    let witness_path = settings.witness_path();
    let witness = match &witness_path {
        Some(path) => match crate::audit::witness::Witness::read(path) {
            Ok(Some(witness)) => Some(witness),
            Ok(None) => {
                eprintln!(
                    "warning: no witness file at {}: removing the newest events together with their checkpoints would not show (the server writes it within audit.witness_seconds of each new event)",
                    path.display()
                );
                None
            }
            Err(err) => {
                println!("BROKEN: {err}");
                return Ok(ExitCode::from(1));
            }
        },
        None => {
            eprintln!("warning: no witness file configured (audit.witness_file): removing the newest events together with their checkpoints would not show");
            None
        }
    };
    let trust = key_id
        .as_deref()
        .map(|key_id| crate::audit::checkpoint::Trust {
            key_id,
            witness: witness.as_ref(),
        });
    let report = crate::audit::checkpoint::verify_all(store.db(), trust, |checked| {
        if checked % 10_000 == 0 {
            eprintln!("  {checked} events checked…");
        }
    })
    .await?;
    if report.ok {
        let archived = report
            .archived_through
            .map(|seq| {
                format!(
                    " (events up to {seq} archived; the chain resumes from their signed anchor)"
                )
            })
            .unwrap_or_default();
        let witnessed = match (&witness, &witness_path) {
            (Some(w), Some(path)) if trust.is_some() => format!(
                "; the witness {} (seq {}, signed {}) matches",
                path.display(),
                w.seq,
                w.at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            ),
            _ => String::new(),
        };
        println!(
            "ok: {} events, chain intact, head {}, {} signed checkpoints match{witnessed}{archived}",
            report.checked, report.head, report.checkpoints
        );
        Ok(ExitCode::SUCCESS)
    } else {
        println!(
            "BROKEN at seq {}: {} ({} events verified before it)",
            report.first_bad_seq.unwrap_or(0),
            report.reason.as_deref().unwrap_or("unknown"),
            report.checked
        );
        Ok(ExitCode::from(1))
    }
}

async fn audit_export(
    settings: &Settings,
    format: ExportFormat,
    output: Option<PathBuf>,
    mut filter: crate::store::audit::AuditFilter,
) -> anyhow::Result<ExitCode> {
    let store = connect_migrated(settings).await?;
    let mut out: Box<dyn Write> = match &output {
        Some(path) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(path)
                .with_context(|| format!("cannot create {}", path.display()))?,
        )),
        None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
    };
    if format == ExportFormat::Csv {
        writeln!(out, "{}", crate::audit::CSV_HEADER)?;
    }
    let mut written = 0;
    loop {
        let rows = crate::store::audit::search(store.db(), &filter, 1000).await?;
        let Some(last) = rows.last() else { break };
        filter.after = last.seq;
        crate::audit::write_rows(&mut out, format, &rows)?;
        written += rows.len();
        if output.is_some() {
            eprintln!("  {written} events written…");
        }
    }
    out.flush()?;
    if let Some(path) = output {
        eprintln!("exported {written} events to {}", path.display());
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::{readyz_url, Cli};
    use clap::CommandFactory;

    #[test]
    fn health_asks_a_wildcard_listener_on_loopback() {
        assert_eq!(readyz_url("0.0.0.0:8080"), "http://127.0.0.1:8080/readyz");
        assert_eq!(readyz_url("[::]:8080"), "http://[::1]:8080/readyz");
        assert_eq!(readyz_url("10.0.0.5:9000"), "http://10.0.0.5:9000/readyz");
    }

    /// Every subcommand and every flag or argument, with the path that leads to it.
    fn undocumented(command: &clap::Command, path: &str, out: &mut Vec<String>) {
        if command.get_about().is_none() && !path.is_empty() {
            out.push(format!("{path} (the command)"));
        }
        for arg in command.get_arguments() {
            let id = arg.get_id().as_str();
            if id == "help" || id == "version" {
                continue;
            }
            if arg.get_help().is_none() && arg.get_long_help().is_none() {
                out.push(format!("{path} --{id}"));
            }
        }
        for sub in command.get_subcommands() {
            if sub.get_name() == "help" {
                continue;
            }
            undocumented(sub, &format!("{path} {}", sub.get_name()), out);
        }
    }

    #[test]
    fn every_command_flag_and_argument_has_a_help_text() {
        let cli = Cli::command();
        cli.clone().debug_assert();
        let mut missing = Vec::new();
        undocumented(&cli, "", &mut missing);
        assert!(missing.is_empty(), "without help: {missing:?}");
    }

    #[test]
    fn the_audit_export_help_names_its_filters_including_action() {
        let mut cli = Cli::command();
        let export = cli
            .find_subcommand_mut("audit")
            .and_then(|a| a.find_subcommand_mut("export"))
            .map(|e| e.render_long_help().to_string())
            .unwrap_or_default();
        assert!(
            export.contains("--action") && !export.contains("every event"),
            "{export}"
        );
    }
}
