//! The command tree: every command, flag and argument, with its help text and examples.
use super::{breakglass, doctor, import};
use crate::audit::ExportFormat;
use crate::services;
use clap::{Parser, Subcommand};
use std::path::PathBuf;

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
pub(super) struct Cli {
    /// TOML configuration file.
    #[arg(long, global = true, env = "KEYWARD_CONFIG", value_name = "PATH")]
    pub(super) config: Option<PathBuf>,
    #[command(subcommand)]
    pub(super) command: Command,
}

#[derive(Subcommand)]
pub(super) enum Command {
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
    /// Access requests: list them, approve, deny or revoke (as `cli`, with the key file).
    #[command(subcommand)]
    Access(super::access::AccessCommand),
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
    /// Row integrity: find rows of the database that were changed or planted without the key
    /// file (their MAC does not verify), and re-sign one a security admin has reviewed.
    #[command(subcommand)]
    Integrity(IntegrityCommand),
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
pub(super) enum IntegrityCommand {
    /// Scan every row that carries authority (tokens, sessions, members, grants, teams,
    /// accounts, escrows, custodians, seals, releases, rotation tasks, notifications) and list
    /// those whose MAC does not verify. Exit 0 when all verify, 1 otherwise. Reads only.
    ///
    /// Example: keyward integrity check
    Check,
    /// Re-sign one row you have reviewed (it is believed again); audited as integrity.attest.
    ///
    /// Example: keyward integrity attest --table account --id 0193… --justification "moved
    /// back to marketing by hand, ticket OPS-12"
    Attest {
        /// The table, as `integrity check` names it.
        #[arg(long)]
        table: String,
        /// The row id, as `integrity check` prints it.
        #[arg(long)]
        id: String,
        /// Why the row is right (kept in the audit trail).
        #[arg(long)]
        justification: String,
    },
}

#[derive(Subcommand)]
pub(super) enum RunbookCommand {
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
pub(super) enum MemberCommand {
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
pub(super) struct WhoArgs {
    /// The member's id, as `keyward member list` shows it (always unique).
    #[arg(long, value_name = "ID")]
    member: Option<String>,
    /// The member's email, as their IdP verified it (refused if several members share it).
    #[arg(long)]
    email: Option<String>,
}

impl WhoArgs {
    pub(super) fn resolve(self) -> services::members::MemberRef {
        match (self.member, self.email) {
            (Some(id), _) => services::members::MemberRef::Id(id.trim().to_owned()),
            (None, email) => {
                services::members::MemberRef::Email(email.unwrap_or_default().trim().to_owned())
            }
        }
    }
}

#[derive(Subcommand)]
pub(super) enum KeysCommand {
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
pub(super) enum TokenCommand {
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
pub(super) enum AuditCommand {
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

pub(super) fn time_bound(raw: &str) -> Result<chrono::DateTime<chrono::Utc>, String> {
    crate::audit::parse_time_bound(raw).ok_or_else(|| {
        format!("{raw:?} is not a time like 2026-11-23T10:00:00Z or a date like 2026-11-23")
    })
}
