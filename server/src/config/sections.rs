//! The sections of the configuration file: database, keys, log, http, auth, audit (and its
//! forwarding destinations), rotation, incidents, notify webhooks, limits, OIDC, role bindings.

use serde::{Deserialize, Serialize};
use std::path::PathBuf;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSettings {
    /// `sqlite://PATH?mode=rwc` or `postgres://…`.
    pub url: String,
    /// The most connections the pool opens (PostgreSQL; SQLite readers).
    pub max_connections: u32,
    /// PostgreSQL: gather the writes of concurrent requests into one transaction and one
    /// commit (`true`), or give each its own transaction (`false`, the default: PostgreSQL
    /// already flushes concurrent commits together, and a shared transaction runs their
    /// statements one after another; see bench/README.md). SQLite always gathers them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_commit: Option<bool>,
    /// Run each reveal's and check-out's unit of work whole on one writer thread that owns a
    /// write connection, with group commit there (`true`, the default, on SQLite and on
    /// PostgreSQL), or through the connection pool statement by statement (`false`: the path
    /// before issue 29, kept to compare; see bench/README.md).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub writer_thread: Option<bool>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeySettings {
    /// Key file written by `keyward keys init`.
    pub key_file: Option<PathBuf>,
    /// Name of an environment variable holding the key file's JSON instead.
    pub key_env: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogSettings {
    /// `json` (default) or `pretty`.
    pub format: String,
    /// A tracing filter such as `info` or `keyward=debug,info`; `RUST_LOG` wins when set.
    pub level: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpSettings {
    /// Largest accepted request body, in bytes.
    pub body_limit: usize,
    /// Largest body of the requests that carry a QR screenshot or an export (storing a seed,
    /// imports), in bytes.
    #[serde(default = "default_upload_limit")]
    pub upload_limit: usize,
    /// Seconds to let in-flight requests finish on shutdown.
    pub shutdown_timeout: u64,
    /// Seconds after SIGTERM during which `/readyz` answers 503 `draining` while requests are
    /// still served, so load balancers stop sending new ones before the listener closes.
    #[serde(default = "default_drain_seconds")]
    pub drain_seconds: u64,
    /// Worker threads; 0 means one per core.
    pub workers: usize,
    /// Sign-ins started and failed authentications one source address may make per minute
    /// before it gets 429 (0 = no limit). Behind a proxy every client shares its address.
    pub anonymous_per_minute: u32,
    /// Seconds a request has to deliver its whole body, once its headers are in.
    pub body_timeout_seconds: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthSettings {
    /// A browser session ends after this many minutes without a request.
    pub session_idle_minutes: i64,
    /// A browser session ends this many hours after sign-in, whatever happens.
    pub session_max_hours: i64,
    /// Revealing a secret needs an IdP authentication at most this many minutes old.
    pub reauth_minutes: i64,
    /// Tolerated clock difference with the IdP when checking ID tokens, in seconds.
    pub clock_skew_seconds: i64,
}

/// Signed checkpoints of the audit chain head.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditSettings {
    /// A checkpoint after this many new events…
    pub checkpoint_every_events: u32,
    /// …or after this many minutes when any event came since the last one.
    pub checkpoint_every_minutes: u32,
    /// Days events stay in the database; older ones are archived to a verified file in
    /// `archive_dir` and then removed. 0 keeps everything.
    pub retention_days: u32,
    /// Where retention writes its archive files (needed when `retention_days` > 0).
    pub archive_dir: Option<PathBuf>,
    /// SIEM destinations, each fed at least once and in order from its own stored cursor.
    #[serde(default)]
    pub forward: Vec<ForwardSettings>,
    /// The witness file: the signed chain head, outside the database, so `audit verify`
    /// catches removed newest events. Default: `<key file>.witness.json` beside the key file.
    #[serde(default)]
    pub witness_file: Option<PathBuf>,
    /// The server re-signs the witness this many seconds after the chain grew (at most).
    pub witness_seconds: u32,
    /// The server recomputes the whole chain this often, in minutes (0 = never on its own).
    pub verify_every_minutes: u32,
}

/// One SIEM destination: `[[audit.forward]]`.
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ForwardSettings {
    /// Names the stored cursor; renaming a destination starts it afresh.
    pub name: String,
    /// `tcp://host:port` or `udp://host:port` for syslog (RFC 5424), `https://…` for a webhook.
    pub url: String,
    /// The webhook's HMAC-SHA256 key, from a file…
    #[serde(default)]
    pub secret_file: Option<PathBuf>,
    /// …or from this environment variable.
    #[serde(default)]
    pub secret_env: Option<String>,
    /// A PEM CA certificate to trust for the webhook besides the public roots.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// Where a new destination starts: `beginning` (the whole trail) or `now`.
    #[serde(default = "ForwardSettings::default_start")]
    pub start: String,
    /// The most events per delivery.
    #[serde(default = "ForwardSettings::default_batch_size")]
    pub batch_size: u32,
    /// Syslog facility: `auth`, `authpriv`, `daemon` or `local0`…`local7`.
    #[serde(default = "ForwardSettings::default_facility")]
    pub facility: String,
    /// Connect/send/response timeout of one delivery.
    #[serde(default = "ForwardSettings::default_timeout")]
    pub timeout_seconds: u32,
    /// Failed deliveries are retried after 1 s, 2 s, 4 s… up to this.
    #[serde(default = "ForwardSettings::default_max_backoff")]
    pub max_backoff_seconds: u32,
}

impl ForwardSettings {
    fn default_start() -> String {
        "beginning".to_owned()
    }
    fn default_batch_size() -> u32 {
        100
    }
    fn default_facility() -> String {
        "local0".to_owned()
    }
    fn default_timeout() -> u32 {
        10
    }
    fn default_max_backoff() -> u32 {
        60
    }

    /// The syslog facility code, when the name is known.
    pub fn facility_code(&self) -> Option<u8> {
        match self.facility.as_str() {
            "auth" => Some(4),
            "daemon" => Some(3),
            "authpriv" => Some(10),
            "audit" => Some(13),
            other => other
                .strip_prefix("local")
                .and_then(|n| n.parse::<u8>().ok())
                .filter(|n| *n <= 7)
                .map(|n| 16 + n),
        }
    }
}

impl std::fmt::Debug for ForwardSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL may carry credentials in its user-info part; show only scheme, host, port.
        f.debug_struct("ForwardSettings")
            .field("name", &self.name)
            .field("destination", &redacted_url(&self.url))
            .finish_non_exhaustive()
    }
}

/// A URL without user-info, path or query: what logs and status pages may show.
pub fn redacted_url(raw: &str) -> String {
    match url::Url::parse(raw) {
        Ok(u) => format!(
            "{}://{}{}",
            u.scheme(),
            u.host_str().unwrap_or(""),
            u.port().map(|p| format!(":{p}")).unwrap_or_default()
        ),
        Err(_) => "(invalid url)".to_owned(),
    }
}

/// Rotation tasks: how long each kind is given, and what a departure rotates.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RotationSettings {
    /// Hours to rotate backup codes a departed member saw.
    pub backup_codes_hours: u32,
    /// Hours to change a password a departed member saw.
    pub password_hours: u32,
    /// Hours to re-enroll a TOTP/HOTP seed a departed member saw.
    pub seed_hours: u32,
    /// The exposure policy of departures that do not name one (SCIM, the CLI's default):
    /// `exposed` (what the member saw) or `strict` (also what they could reach).
    pub offboard_policy: String,
    /// Minutes between looks for overdue tasks to escalate (the job runs on every replica;
    /// each task is escalated once).
    pub escalation_every_minutes: u32,
}

/// Incident runbooks: the shipped ones (built in), or a reviewed folder of your own.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IncidentSettings {
    /// A folder of `*.yaml` runbooks read at start instead of the built-in ones, so a
    /// runbook's wording or a platform's limit can be corrected without a new release
    /// (`keyward runbook check --dir` checks it first).
    pub runbooks_dir: Option<PathBuf>,
}

impl Default for RotationSettings {
    fn default() -> Self {
        Self {
            backup_codes_hours: 24,
            password_hours: 24,
            seed_hours: 72,
            offboard_policy: "exposed".to_owned(),
            escalation_every_minutes: 60,
        }
    }
}

/// A webhook told once about each overdue rotation task: `[[notify]]`. The body is JSON,
/// signed like the SIEM webhook (`X-Keyward-Signature: sha256=<hex HMAC of the body>`).
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotifySettings {
    /// `https://…` (or `http://` to a loopback address, for tests and local relays).
    pub url: String,
    /// The HMAC-SHA256 key, from a file…
    #[serde(default)]
    pub secret_file: Option<PathBuf>,
    /// …or from this environment variable.
    #[serde(default)]
    pub secret_env: Option<String>,
    /// A PEM CA certificate to trust besides the public roots.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// Seconds a delivery may take (1–60). A replica that dies while delivering leaves the
    /// notification to another after twice this and a second.
    #[serde(default = "default_notify_timeout")]
    pub timeout_seconds: u32,
}

fn default_notify_timeout() -> u32 {
    10
}

impl std::fmt::Debug for NotifySettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NotifySettings")
            .field("url", &self.url)
            .field("secret_file", &self.secret_file)
            .field("secret_env", &self.secret_env)
            .field("ca_file", &self.ca_file)
            .field("timeout_seconds", &self.timeout_seconds)
            .finish()
    }
}

/// Reveal rate limits and backup-code guard rails.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitSettings {
    /// Reveals (codes, check-outs, passwords, exports) one member may make per minute; 0 = no limit.
    pub reveals_per_minute: u32,
    /// The same per hour; 0 = no limit.
    pub reveals_per_hour: u32,
    /// When an account's unused backup codes fall to this many, it shows a warning and a
    /// `low_codes` rotation task opens.
    pub low_backup_codes: u32,
    /// Rejected backup codes within the window after which platforms usually lock sign-in:
    /// one short of it the account warns; at it, check-outs wait until the window has passed.
    pub failed_attempt_budget: u32,
    /// The window of `failed_attempt_budget` and `verify_guesses`, in minutes.
    pub failed_attempt_window_minutes: u32,
    /// Guesses a backup-code verify may spend per account in that window when it finds
    /// nothing: each typed code counts one, plus one per look-alike variant tried.
    pub verify_guesses: u32,
    /// Import previews and imports one member may run per hour (each costs a vault's key
    /// derivation or a screenshot's decoding); 0 = no limit.
    #[serde(default = "default_imports_per_hour")]
    pub imports_per_hour: u32,
}

fn default_imports_per_hour() -> u32 {
    30
}

/// Departures the IdP implies.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OffboardingSettings {
    /// What happens to a member whose IdP groups no longer give them any role, seen at their
    /// next sign-in: `offboard` (a departure with `rotation.offboard_policy`) or `review` (a
    /// security admin decides on the Members page). Either way their sessions and grants end.
    pub on_groups_lost: String,
    /// A member who has not signed in for this many days gets a review; 0 = off.
    pub idle_departure_days: u32,
}

impl Default for OffboardingSettings {
    fn default() -> Self {
        Self {
            on_groups_lost: "offboard".to_owned(),
            idle_departure_days: 0,
        }
    }
}

#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OidcSettings {
    /// The IdP's issuer URL; discovery reads `{issuer}/.well-known/openid-configuration`.
    pub issuer: String,
    /// Keyward's client id at the IdP.
    pub client_id: String,
    /// The client secret…
    pub client_secret: Option<String>,
    /// …or a file that holds it (a mounted secret).
    pub client_secret_file: Option<PathBuf>,
    /// The ID token claim with the member's groups (a string or an array).
    #[serde(default = "default_groups_claim")]
    pub groups_claim: String,
    /// The scopes asked for at sign-in.
    #[serde(default = "default_scopes")]
    pub scopes: Vec<String>,
}

impl std::fmt::Debug for OidcSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OidcSettings")
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .field(
                "client_secret",
                &self.client_secret.as_ref().map(|_| "[redacted]"),
            )
            .field("client_secret_file", &self.client_secret_file)
            .field("groups_claim", &self.groups_claim)
            .field("scopes", &self.scopes)
            .finish()
    }
}

fn default_groups_claim() -> String {
    "groups".to_owned()
}

fn default_scopes() -> Vec<String> {
    ["openid", "email", "profile"].map(String::from).to_vec()
}

/// Sessions of the members' command-line client (`kw login`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SessionSettings {
    /// A command line's session ends this many hours after its device sign-in (1-720).
    pub cli_hours: u32,
}

impl Default for SessionSettings {
    fn default() -> Self {
        Self { cli_hours: 12 }
    }
}

/// Access requests: how long a grant may run, and how long a request may wait.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AccessSettings {
    /// The longest window a request may ask for, in minutes (1–480).
    pub max_minutes: u32,
    /// A request nobody decided on expires after this many hours (1–168).
    pub pending_hours: u32,
    /// Seconds between looks for grants and requests to expire (the job runs on every
    /// replica; each is expired, and audited, once).
    pub expire_every_seconds: u32,
}

impl Default for AccessSettings {
    fn default() -> Self {
        Self {
            max_minutes: 480,
            pending_hours: 24,
            expire_every_seconds: 30,
        }
    }
}

/// A team's defaults for the accounts added to it: `[[teams]]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TeamSettings {
    /// The team's slug, e.g. `brand`.
    pub slug: String,
    /// `open` or `approval`: the access policy new accounts of the team start with.
    #[serde(default = "default_access")]
    pub default_access: String,
    /// Different approvers a request needs on those accounts (1 or 2).
    #[serde(default = "default_approvers_needed")]
    pub approvers_needed: u32,
}

fn default_access() -> String {
    "open".to_owned()
}

fn default_approvers_needed() -> u32 {
    1
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleBindingSettings {
    /// An IdP group (from `oidc.groups_claim`).
    pub group: String,
    /// The team its members get a role in, or `*` for every team.
    pub team: String,
    /// `viewer`, `operator`, `manager`, `security_admin`, `auditor`, `custodian` or `scim`.
    pub role: String,
}

pub(super) fn default_drain_seconds() -> u64 {
    5
}

pub(super) fn default_upload_limit() -> usize {
    4 * 1024 * 1024
}
