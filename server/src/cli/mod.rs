//! The `keyward` command line: serve, migrate, keys, token, audit, member, access, breakglass.

mod access;
mod args;
mod audit;
mod breakglass;
mod common;
mod doctor;
mod import;
mod integrity;
mod keys;
mod members;

use crate::config::Settings;
use crate::crypto::KeyFile;
use crate::startup::Application;
use anyhow::Context;
use args::{AuditCommand, Cli, Command, KeysCommand, RunbookCommand};
use audit::{
    audit_archive, audit_checkpoint, audit_export, audit_forwarders, audit_verify,
    audit_verify_archive,
};
use clap::Parser;
use common::{connect, NO_CONFIGURATION};
use keys::{key_status, rotate};
use keyward_proto::words::count;
use members::{member, token};
use std::process::ExitCode;

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
                    "{}: {} OK: {}",
                    source,
                    count(all.len(), "runbook", "runbooks"),
                    ids.join(", ")
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(errors) => {
            for line in &errors.0 {
                eprintln!("{line}");
            }
            eprintln!("{source}: {}", count(errors.0.len(), "problem", "problems"));
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
            // With the key file at hand, the rows that exist when row MACs arrive are MAC'ed.
            let ig = common::integrity(&settings).ok();
            let (applied, adoption) =
                crate::services::integrity::migrate(&store, ig.as_ref()).await?;
            println!(
                "applied {}; the database is up to date",
                count(applied, "migration", "migrations")
            );
            use crate::services::integrity::Adoption;
            match adoption {
                Adoption::Nothing => {}
                Adoption::Signed(n) => {
                    println!("row integrity: MAC'ed the {n} rows that carry authority")
                }
                Adoption::Refused(why) => eprintln!(
                    "row integrity: the rows without a MAC were NOT signed ({why}); review \
                     them with `keyward integrity check` and re-sign each with \
                     `keyward integrity attest`"
                ),
                Adoption::NoKeys => eprintln!(
                    "row integrity: the key file is not at hand, so existing rows got no MAC \
                     and Keyward will not believe them; `keyward integrity check` lists them \
                     and `keyward integrity attest` re-signs each after review"
                ),
            }
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
        Command::Access(command) => access::access(&settings()?, command).await,
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
        Command::Integrity(command) => integrity::run(&settings()?, command).await,
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
async fn serve(settings: Settings, migrate: bool) -> anyhow::Result<ExitCode> {
    crate::telemetry::init(&settings.log);
    let app = Application::build(&settings, migrate).await?;
    tracing::info!(listen = %settings.listen, public_url = %settings.public_url, "keyward is serving");
    app.run_until_stopped().await?;
    tracing::info!("keyward stopped");
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
