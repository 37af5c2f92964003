//! `keyward doctor`: checks a deployment and says what is wrong in plain words. It reads;
//! it never migrates, records a key or writes anything. No secret value is printed: the
//! environment overrides are named, not shown, and a database URL loses its password.

use crate::config::Settings;
use crate::crypto::{KeySource, Keyring};
use crate::services::clock;
use keyward_proto::words::count;
use std::fmt::Write as _;
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

#[derive(clap::Args)]
pub struct DoctorArgs {
    /// Seconds to wait for the database and for the identity provider.
    #[arg(long, value_name = "SECONDS", default_value_t = 5)]
    timeout: u64,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Level {
    Ok,
    Note,
    Warn,
    Fail,
}

/// What was found, in order, as the report prints it.
#[derive(Default)]
struct Findings {
    lines: Vec<(Level, &'static str, String)>,
}

impl Findings {
    fn add(&mut self, level: Level, topic: &'static str, text: impl Into<String>) {
        self.lines.push((level, topic, text.into()));
    }

    fn count(&self, level: Level) -> usize {
        self.lines.iter().filter(|(l, _, _)| *l == level).count()
    }

    fn print(&self) -> ExitCode {
        let mut out = String::new();
        for (level, topic, text) in &self.lines {
            let mark = match level {
                Level::Ok => "ok  ",
                Level::Note => "    ",
                Level::Warn => "WARN",
                Level::Fail => "FAIL",
            };
            let _ = writeln!(out, "{mark}  {topic:<13} {text}");
        }
        let (fails, warns) = (self.count(Level::Fail), self.count(Level::Warn));
        let _ = writeln!(
            out,
            "\n{}",
            match (fails, warns) {
                (0, 0) => "Everything checked is in order.".to_owned(),
                (0, w) => format!(
                    "No problem that stops Keyward; {} to look at.",
                    count(w, "warning", "warnings")
                ),
                (f, w) => format!(
                    "{} to fix first, and {}.",
                    count(f, "problem", "problems"),
                    count(w, "warning", "warnings")
                ),
            }
        );
        print!("{out}");
        if fails == 0 {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(1)
        }
    }
}

/// A database URL without its password.
fn redacted(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("****"));
            parsed.to_string()
        }
        _ => url.to_owned(),
    }
}

fn is_loopback(host: &str) -> bool {
    host == "localhost"
        || host
            .trim_matches(['[', ']'])
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

fn check_addresses(settings: &Settings, found: &mut Findings) {
    let (Ok(listen), Ok(public)) = (
        settings.listen.parse::<std::net::SocketAddr>(),
        url::Url::parse(&settings.public_url),
    ) else {
        return;
    };
    let host = public.host_str().unwrap_or_default().to_owned();
    let port = public.port_or_known_default().unwrap_or(0);
    if is_loopback(&host) {
        if port == listen.port() {
            found.add(
                Level::Ok,
                "addresses",
                format!(
                    "public_url {} reaches listen {listen} directly",
                    settings.public_url
                ),
            );
        } else {
            found.add(
                Level::Warn,
                "addresses",
                format!(
                    "public_url {} is on port {port} of this host but Keyward listens on {listen}: \
                     sign-in redirects go to public_url, so they miss Keyward unless a proxy \
                     on port {port} forwards to it",
                    settings.public_url
                ),
            );
        }
    } else {
        found.add(
            Level::Ok,
            "addresses",
            format!(
                "public_url {} (a proxy or load balancer must forward it to {listen})",
                settings.public_url
            ),
        );
        if public.scheme() == "http" {
            found.add(
                Level::Warn,
                "addresses",
                "public_url is http:// on a host other than this one: session cookies are not \
                 marked Secure and travel in clear; serve it over https://",
            );
        }
    }
}

fn check_configuration(config: Option<&Path>, settings: &Settings, found: &mut Findings) {
    match config {
        Some(path) => found.add(
            Level::Ok,
            "configuration",
            format!("file {}", path.display()),
        ),
        None => found.add(
            Level::Ok,
            "configuration",
            "no file (--config / KEYWARD_CONFIG): the environment and defaults only",
        ),
    }
    let mut overrides: Vec<String> = std::env::vars_os()
        .filter_map(|(key, _)| key.into_string().ok())
        .filter(|key| key.starts_with("KEYWARD_") && key != "KEYWARD_CONFIG")
        .collect();
    overrides.sort();
    found.add(
        Level::Note,
        "",
        if overrides.is_empty() {
            "no KEYWARD_* environment overrides".to_owned()
        } else {
            format!(
                "environment overrides in effect (values not shown): {}",
                overrides.join(", ")
            )
        },
    );
    found.add(
        Level::Note,
        "",
        format!(
            "listen {}, public_url {}, database {}",
            settings.listen,
            settings.public_url,
            redacted(&settings.database.url)
        ),
    );
}

/// The key file (or environment keyring): readable, private, and loadable.
fn check_keys(settings: &Settings, found: &mut Findings) -> Option<Keyring> {
    let source = match crate::startup::key_source(settings) {
        Ok(source) => source,
        Err(err) => {
            found.add(Level::Fail, "keys", format!("{err:#}"));
            return None;
        }
    };
    if let KeySource::File(path) = &source {
        match std::fs::metadata(path) {
            Err(_) => {
                found.add(
                    Level::Fail,
                    "keys",
                    format!(
                        "key file {} cannot be read; create one with `keyward keys init --key-file {}`",
                        path.display(),
                        path.display()
                    ),
                );
                return None;
            }
            Ok(meta) => {
                use std::os::unix::fs::PermissionsExt;
                let mode = meta.permissions().mode() & 0o777;
                if mode & 0o077 != 0 {
                    // The keyring refuses it, so the server would not start.
                    found.add(
                        Level::Fail,
                        "keys",
                        format!(
                            "key file {} has mode {mode:03o}: others on this host could read the \
                             keys to every secret, so Keyward refuses it; run `chmod 600 {}`",
                            path.display(),
                            path.display()
                        ),
                    );
                    return None;
                } else {
                    found.add(
                        Level::Ok,
                        "keys",
                        format!("key file {} (mode {mode:03o})", path.display()),
                    );
                }
            }
        }
    }
    match Keyring::load(source) {
        Ok(keyring) => Some(keyring),
        Err(err) => {
            found.add(
                Level::Fail,
                "keys",
                format!("the keyring cannot be loaded: {err}"),
            );
            None
        }
    }
}

async fn check_database(
    settings: &Settings,
    keyring: Option<&Keyring>,
    wait: Duration,
    found: &mut Findings,
) {
    let connected = tokio::time::timeout(wait, crate::services::admin::connect(settings, 1)).await;
    let store = match connected {
        Ok(Ok(store)) => store,
        Ok(Err(err)) => {
            found.add(
                Level::Fail,
                "database",
                format!(
                    "cannot connect to {}: {err}",
                    redacted(&settings.database.url)
                ),
            );
            return;
        }
        Err(_) => {
            found.add(
                Level::Fail,
                "database",
                format!(
                    "no answer from {} within {} s",
                    redacted(&settings.database.url),
                    wait.as_secs()
                ),
            );
            return;
        }
    };
    match store.pending_migrations().await {
        Ok(0) => found.add(Level::Ok, "database", "connected; schema up to date"),
        Ok(n) => found.add(
            Level::Warn,
            "database",
            format!(
                "connected; {} pending: `keyward serve` applies them at start, or run \
                 `keyward migrate`",
                count(n, "migration", "migrations")
            ),
        ),
        Err(err) => found.add(
            Level::Fail,
            "database",
            format!("connected, but the migration table cannot be read: {err}"),
        ),
    }
    if let Some(keyring) = keyring {
        match crate::services::keys::health(&store, keyring, &[]).await {
            Ok(problems) if problems.is_empty() => found.add(
                Level::Ok,
                "keys",
                "every key's check value matches what this database recorded",
            ),
            Ok(problems) => {
                for (id, problem) in problems {
                    found.add(
                        Level::Fail,
                        "keys",
                        match problem {
                            crate::services::keys::KeyProblem::Mismatch => format!(
                                "key {id} is not the key this database was written with: wrong \
                                 key file for this database?"
                            ),
                            crate::services::keys::KeyProblem::Missing => format!(
                                "key {id} wraps stored secrets but is missing from the keyring"
                            ),
                        },
                    );
                }
            }
            // A database that has never been migrated has no key check table yet.
            Err(_) => found.add(
                Level::Note,
                "keys",
                "no key check values to compare yet (a new database)",
            ),
        }
    }
    if keyring.is_some() && matches!(store.pending_migrations().await, Ok(0)) {
        check_integrity(settings, &store, found).await;
    }
    match clock::database_skew_ms(&store).await {
        Ok(Some(ms)) => match clock::describe("the database server", ms) {
            Some(text) => found.add(Level::Warn, "clock", text),
            None => found.add(
                Level::Ok,
                "clock",
                format!("within {ms} ms of the database server"),
            ),
        },
        Ok(None) => found.add(
            Level::Note,
            "clock",
            "SQLite runs on this host's clock (nothing to compare)",
        ),
        Err(err) => found.add(
            Level::Warn,
            "clock",
            format!("the database server's clock cannot be read: {err}"),
        ),
    }
}

/// Every row that carries authority against its MAC (as `keyward integrity check`).
async fn check_integrity(settings: &Settings, store: &crate::store::Store, found: &mut Findings) {
    let Ok(keyring) = crate::startup::key_source(settings).and_then(|s| Ok(Keyring::load(s)?))
    else {
        return;
    };
    let ig = crate::services::integrity::signer(std::sync::Arc::new(keyring));
    match crate::services::integrity::check(store, &ig).await {
        Ok(scans) => {
            let rows: u64 = scans.iter().map(|s| s.rows).sum();
            let bad: Vec<String> = scans
                .iter()
                .flat_map(|s| s.bad.iter().map(move |id| format!("{} {id}", s.table)))
                .collect();
            if bad.is_empty() {
                found.add(
                    Level::Ok,
                    "integrity",
                    format!("all {rows} rows that carry authority verify"),
                );
            } else {
                found.add(
                    Level::Fail,
                    "integrity",
                    format!(
                        "{} not verify (changed or planted without the key file): {}; \
                         see `keyward integrity check`",
                        count(bad.len(), "row does", "rows do"),
                        bad.iter().take(5).cloned().collect::<Vec<_>>().join(", ")
                    ),
                );
            }
        }
        Err(err) => found.add(
            Level::Warn,
            "integrity",
            format!("the rows could not be scanned: {err}"),
        ),
    }
}

async fn check_oidc(settings: &Settings, wait: Duration, found: &mut Findings) {
    let Some(oidc) = &settings.oidc else {
        found.add(
            Level::Warn,
            "sign-in",
            "no [oidc] section: nobody can sign in to the dashboard (API tokens still work)",
        );
        return;
    };
    let issuer = oidc.issuer.trim_end_matches('/');
    let answer = match clock::ask_idp(issuer, wait).await {
        Ok(answer) => answer,
        Err(text) => {
            found.add(
                Level::Fail,
                "sign-in",
                format!("the identity provider's discovery document {text}"),
            );
            return;
        }
    };
    if !(200..300).contains(&answer.status) {
        found.add(
            Level::Fail,
            "sign-in",
            format!(
                "{issuer}/.well-known/openid-configuration answered {}: is oidc.issuer right?",
                answer.status
            ),
        );
    } else if answer.issuer.as_deref() != Some(issuer) {
        found.add(
            Level::Fail,
            "sign-in",
            format!(
                "the discovery document names issuer {:?}, not oidc.issuer {:?}: sign-ins would be refused",
                answer.issuer.unwrap_or_default(),
                oidc.issuer
            ),
        );
    } else {
        found.add(
            Level::Ok,
            "sign-in",
            format!("identity provider {issuer} answers discovery"),
        );
    }
    found.add(
        Level::Note,
        "",
        format!(
            "the identity provider must allow the redirect URL {}/auth/callback for client {}",
            settings.public_url.trim_end_matches('/'),
            oidc.client_id
        ),
    );
    match answer.skew_ms {
        Some(ms) => match clock::describe("the identity provider", ms) {
            Some(text) => found.add(Level::Warn, "clock", text),
            None => found.add(
                Level::Ok,
                "clock",
                "within a second of the identity provider's Date",
            ),
        },
        None => found.add(
            Level::Note,
            "clock",
            "the identity provider sent no Date header to compare with",
        ),
    }
}

/// Runs every check and prints the report; exit 1 when something stops Keyward.
pub async fn run(config: Option<&Path>, configured: bool, args: DoctorArgs) -> ExitCode {
    let mut found = Findings::default();
    if !configured {
        found.add(
            Level::Fail,
            "configuration",
            super::common::NO_CONFIGURATION,
        );
        return found.print();
    }
    let settings = match Settings::load(config) {
        Ok(settings) => settings,
        Err(err) => {
            found.add(Level::Fail, "configuration", err.to_string());
            return found.print();
        }
    };
    let wait = Duration::from_secs(args.timeout.clamp(1, 120));
    check_configuration(config, &settings, &mut found);
    check_addresses(&settings, &mut found);
    let keyring = check_keys(&settings, &mut found);
    check_database(&settings, keyring.as_ref(), wait, &mut found).await;
    check_oidc(&settings, wait, &mut found).await;
    found.print()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_database_password_is_never_shown() {
        assert_eq!(
            redacted("postgres://kw:hunter2@db.example.com/keyward"),
            "postgres://kw:****@db.example.com/keyward"
        );
        assert_eq!(
            redacted("sqlite://keyward.db?mode=rwc"),
            "sqlite://keyward.db?mode=rwc"
        );
    }

    #[test]
    fn public_url_and_listen_are_compared() {
        let mut settings = Settings {
            listen: "127.0.0.1:8080".to_owned(),
            public_url: "http://127.0.0.1:9090".to_owned(),
            ..Settings::default()
        };
        let mut found = Findings::default();
        check_addresses(&settings, &mut found);
        assert!(found.count(Level::Warn) == 1, "another port on this host");
        settings.public_url = "http://localhost:8080".to_owned();
        let mut found = Findings::default();
        check_addresses(&settings, &mut found);
        assert_eq!(found.count(Level::Warn), 0);
        settings.public_url = "http://keyward.example.com".to_owned();
        let mut found = Findings::default();
        check_addresses(&settings, &mut found);
        assert_eq!(found.count(Level::Warn), 1, "plain http beyond this host");
        settings.public_url = "https://keyward.example.com".to_owned();
        let mut found = Findings::default();
        check_addresses(&settings, &mut found);
        assert_eq!(found.count(Level::Warn), 0);
    }
}
