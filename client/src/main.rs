//! `kw`, Keyward's command-line client for members: sign in with a device code (the browser
//! does the SSO), list accounts, get a one-time code. Errors go to stderr with the server's
//! error code; exit codes: 1 other failures, 2 bad usage, 3 not signed in, 4 not allowed,
//! 5 approval required.

mod credentials;

use clap::{Parser, Subcommand};
use credentials::{Credentials, Unreadable};
use keyward_proto::access::AccessRequestOut;
use keyward_proto::accounts::{AccountList, AccountOut};
use keyward_proto::device::{DeviceCodeOut, DeviceErrorOut, DeviceTokenOut};
use keyward_proto::me::Me;
use keyward_proto::otp::TotpCodeOut;
use keyward_proto::wire::ErrorBody;
use secrecy::ExposeSecret;
use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::Duration;

const CLIENT_ID: &str = "keyward-cli";
const GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:device_code";

#[derive(Parser)]
#[command(
    name = "kw",
    version,
    about = "Keyward from the terminal: sign in with your SSO, get a shared account's code.",
    after_help = "Examples:\n  kw login https://keyward.example.com\n  kw code \"x @brand\"\n  kw accounts --json"
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
    /// The current one-time code of an account: by id, `@handle` or `platform @handle`.
    ///
    /// Example: kw code "x @brand" --reason "weekly post"
    Code {
        /// An account id, `@handle`, or `platform @handle`.
        account: String,
        /// Why (kept in the audit trail).
        #[arg(long)]
        reason: Option<String>,
    },
}

/// A failure with its exit code.
struct Failure {
    code: u8,
    message: String,
}

impl Failure {
    fn new(code: u8, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

impl From<reqwest::Error> for Failure {
    fn from(err: reqwest::Error) -> Self {
        Failure::new(1, format!("cannot reach the server: {err}"))
    }
}

fn not_signed_in(why: &str) -> Failure {
    Failure::new(3, format!("not signed in: {why}; run `kw login URL`"))
}

/// The server's error answer as a failure: its code and message, and the exit code it means.
async fn refusal(res: reqwest::Response) -> Failure {
    let status = res.status().as_u16();
    let body: Option<ErrorBody> = res.json().await.ok();
    let (code, message) = body
        .map(|b| (b.error.code, b.error.message))
        .unwrap_or_else(|| ("http_error".to_owned(), format!("HTTP {status}")));
    let exit = match (status, code.as_str()) {
        (_, "approval_required") => 5,
        (401, _) => 3,
        (403, _) => 4,
        _ => 1,
    };
    Failure::new(exit, format!("{code}: {message}"))
}

struct Api {
    client: reqwest::Client,
    creds: Credentials,
}

impl Api {
    fn signed_in() -> Result<Self, Failure> {
        let creds = match credentials::load() {
            Ok(creds) => creds,
            Err(Unreadable::Missing) => return Err(not_signed_in("no saved sign-in and no KW_TOKEN")),
            Err(Unreadable::TooOpen(path, mode)) => {
                return Err(Failure::new(
                    3,
                    format!(
                        "{} is readable by others (mode {mode:o}); run `chmod 600 {}` or `kw login` again",
                        path.display(),
                        path.display()
                    ),
                ))
            }
            Err(Unreadable::Broken(why)) => return Err(not_signed_in(&why)),
        };
        Ok(Self {
            client: http()?,
            creds,
        })
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.creds.server.trim_end_matches('/'))
    }

    async fn get<T: serde::de::DeserializeOwned>(&self, path: &str) -> Result<T, Failure> {
        let res = self
            .client
            .get(self.url(path))
            .bearer_auth(&self.creds.token)
            .send()
            .await?;
        if !res.status().is_success() {
            return Err(refusal(res).await);
        }
        Ok(res.json().await?)
    }

    async fn post<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        body: &serde_json::Value,
    ) -> Result<T, Failure> {
        let res = self
            .client
            .post(self.url(path))
            .bearer_auth(&self.creds.token)
            .json(body)
            .send()
            .await?;
        if !res.status().is_success() {
            return Err(refusal(res).await);
        }
        Ok(res.json().await?)
    }
}

fn http() -> Result<reqwest::Client, Failure> {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .user_agent(concat!("kw/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| Failure::new(1, format!("cannot start HTTP: {e}")))
}

async fn login(url: Option<String>, json: bool) -> Result<(), Failure> {
    let server = url
        .or_else(|| std::env::var("KW_SERVER").ok().filter(|s| !s.is_empty()))
        .or_else(|| credentials::load().ok().map(|c| c.server))
        .ok_or_else(|| Failure::new(2, "give the server: kw login https://keyward.example.com"))?;
    let server = server.trim_end_matches('/').to_owned();
    let client = http()?;
    let res = client
        .post(format!("{server}/auth/device/code"))
        .form(&[("client_id", CLIENT_ID)])
        .send()
        .await?;
    if !res.status().is_success() {
        return Err(Failure::new(
            1,
            format!("{server} did not start a sign-in: HTTP {}", res.status()),
        ));
    }
    let start: DeviceCodeOut = res.json().await?;
    eprintln!(
        "Open {} and enter the code {}\n(or open {})",
        start.verification_uri, start.user_code, start.verification_uri_complete
    );
    if !json {
        eprintln!("Waiting for you to approve it in the browser…");
    }
    let mut interval = u64::try_from(start.interval.max(1)).unwrap_or(5);
    let deadline = std::time::Instant::now()
        + Duration::from_secs(u64::try_from(start.expires_in).unwrap_or(600));
    loop {
        tokio::time::sleep(Duration::from_secs(interval)).await;
        if std::time::Instant::now() > deadline {
            return Err(Failure::new(3, "the code expired; run `kw login` again"));
        }
        let res = client
            .post(format!("{server}/auth/device/token"))
            .form(&[
                ("grant_type", GRANT_TYPE),
                ("device_code", start.device_code.as_str()),
                ("client_id", CLIENT_ID),
            ])
            .send()
            .await?;
        if res.status().is_success() {
            let token: DeviceTokenOut = res.json().await?;
            let creds = Credentials {
                server: server.clone(),
                token: token.access_token,
            };
            let path = credentials::save(&creds)
                .map_err(|e| Failure::new(1, format!("cannot save the sign-in: {e}")))?;
            let me: Me = Api { client, creds }.get("/api/v1/me").await?;
            if json {
                println!(
                    "{}",
                    serde_json::json!({ "server": server, "id": me.id, "name": me.name, "credentials": path })
                );
            } else {
                println!(
                    "Signed in to {server} as {} (saved in {}).",
                    me.name,
                    path.display()
                );
            }
            return Ok(());
        }
        let error: DeviceErrorOut = res.json().await?;
        match error.error.as_str() {
            "authorization_pending" => {}
            "slow_down" => interval += 5,
            "access_denied" => {
                return Err(Failure::new(4, "the sign-in was denied in the browser"))
            }
            "expired_token" => {
                return Err(Failure::new(3, "the code expired; run `kw login` again"))
            }
            other => {
                return Err(Failure::new(
                    1,
                    format!("{other}: {}", error.error_description),
                ))
            }
        }
    }
}

/// The account `spec` names: an id, `@handle`, or `platform @handle`.
async fn find_account(api: &Api, spec: &str) -> Result<AccountOut, Failure> {
    let spec = spec.trim();
    let list: AccountList = api.get("/api/v1/accounts").await?;
    let (platform, handle) = match spec.split_once(' ') {
        Some((p, h)) => (Some(p.trim().to_ascii_lowercase()), h.trim()),
        None => (None, spec),
    };
    let wanted = handle.trim_start_matches('@').to_lowercase();
    let found: Vec<AccountOut> = list
        .accounts
        .into_iter()
        .filter(|a| {
            a.id == spec
                || (a.handle.trim_start_matches('@').to_lowercase() == wanted
                    && platform.as_deref().is_none_or(|p| p == a.platform))
        })
        .collect();
    match found.len() {
        1 => found
            .into_iter()
            .next()
            .ok_or_else(|| Failure::new(1, "no account")),
        0 => Err(Failure::new(
            1,
            format!("no account you may see matches {spec:?}; try `kw accounts`"),
        )),
        n => Err(Failure::new(
            2,
            format!("{n} accounts match {spec:?}; say which: \"platform @handle\" or the id"),
        )),
    }
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
        Command::Login { url } => login(url, json).await,
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
                println!("{}", serde_json::to_string(&me).unwrap_or_default());
            } else {
                let roles: Vec<String> = me
                    .roles
                    .iter()
                    .map(|r| format!("{} @ {}", r.role, r.team))
                    .collect();
                println!(
                    "{} ({}) on {}: {}",
                    me.name,
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
                println!("{}", serde_json::to_string(&list).unwrap_or_default());
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
                        a.id, a.platform, a.handle, a.team
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
            let account = find_account(&api, &account).await?;
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
                println!("{}", serde_json::to_string(&asked).unwrap_or_default());
            } else {
                println!(
                    "Asked: request {} on {} {} is waiting for {} approval(s); the approvers have been told.",
                    asked.id, asked.platform, asked.handle, asked.approvers_needed
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
                println!("{}", serde_json::to_string(&decided).unwrap_or_default());
            } else {
                println!("Request {} is now {}.", decided.id, decided.state);
            }
            Ok(())
        }
        Command::Code { account, reason } => {
            let api = Api::signed_in()?;
            let account = find_account(&api, &account).await?;
            let body = serde_json::json!({ "justification": reason });
            let code: TotpCodeOut = api
                .post(&format!("/api/v1/accounts/{}/totp/code", account.id), &body)
                .await?;
            if json {
                println!("{}", serde_json::to_string(&code).unwrap_or_default());
            } else if std::io::stdout().is_terminal() {
                println!(
                    "{}  (valid {} s more)",
                    code.code.expose_secret(),
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
            eprintln!("error: {err}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("error: {}", failure.message);
            ExitCode::from(failure.code)
        }
    }
}
