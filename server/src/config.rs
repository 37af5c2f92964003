//! Configuration: one typed struct, loaded once at start from a TOML file (`--config` or
//! `KEYWARD_CONFIG`) and `KEYWARD_<SECTION>__<KEY>` variables, validated with the key's name.

use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Address to listen on, e.g. `127.0.0.1:8080`.
    pub listen: String,
    /// External base URL, for redirects and cookies.
    pub public_url: String,
    /// Address of the Prometheus metrics listener (`GET /metrics`), e.g. `127.0.0.1:9464`;
    /// off when unset. Keep it off the public network.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics_listen: Option<String>,
    pub database: DatabaseSettings,
    pub keys: KeySettings,
    pub log: LogSettings,
    pub http: HttpSettings,
    pub auth: AuthSettings,
    pub limits: LimitSettings,
    pub audit: AuditSettings,
    /// Deadlines of rotation tasks and the policy of departures.
    #[serde(default)]
    pub rotation: RotationSettings,
    /// Webhooks told about overdue rotation tasks: `[[notify]]`.
    #[serde(default)]
    pub notify: Vec<NotifySettings>,
    /// Incident runbooks.
    #[serde(default)]
    pub incidents: IncidentSettings,
    /// OpenID Connect sign-in (used by the web sign-in).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oidc: Option<OidcSettings>,
    /// IdP group -> team role bindings.
    #[serde(default)]
    pub role_bindings: Vec<RoleBindingSettings>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSettings {
    /// `sqlite://PATH?mode=rwc` or `postgres://…`.
    pub url: String,
    pub max_connections: u32,
    /// PostgreSQL: gather the writes of concurrent requests into one transaction and one
    /// commit (`true`), or give each its own transaction (`false`, the default: PostgreSQL
    /// already flushes concurrent commits together, and a shared transaction runs their
    /// statements one after another; see bench/README.md). SQLite always gathers them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_commit: Option<bool>,
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
    pub failed_attempt_window_minutes: u32,
    /// Guesses a backup-code verify may spend per account in that window when it finds
    /// nothing: each typed code counts one, plus one per look-alike variant tried.
    pub verify_guesses: u32,
}

#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OidcSettings {
    pub issuer: String,
    pub client_id: String,
    pub client_secret: Option<String>,
    pub client_secret_file: Option<PathBuf>,
    #[serde(default = "default_groups_claim")]
    pub groups_claim: String,
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

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleBindingSettings {
    pub group: String,
    pub team: String,
    pub role: String,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".to_owned(),
            public_url: "http://127.0.0.1:8080".to_owned(),
            metrics_listen: None,
            database: DatabaseSettings {
                url: "sqlite://keyward.db?mode=rwc".to_owned(),
                max_connections: 10,
                group_commit: None,
            },
            keys: KeySettings::default(),
            log: LogSettings {
                format: "json".to_owned(),
                level: "info".to_owned(),
            },
            http: HttpSettings {
                body_limit: 64 * 1024,
                shutdown_timeout: 30,
                drain_seconds: default_drain_seconds(),
                workers: 0,
                anonymous_per_minute: 60,
                body_timeout_seconds: 10,
                upload_limit: default_upload_limit(),
            },
            auth: AuthSettings {
                session_idle_minutes: 30,
                session_max_hours: 12,
                reauth_minutes: 10,
                clock_skew_seconds: 60,
            },
            limits: LimitSettings {
                reveals_per_minute: 20,
                reveals_per_hour: 200,
                low_backup_codes: 3,
                failed_attempt_budget: 5,
                failed_attempt_window_minutes: 15,
                verify_guesses: 100,
            },
            audit: AuditSettings {
                checkpoint_every_events: 1000,
                checkpoint_every_minutes: 10,
                retention_days: 0,
                archive_dir: None,
                forward: Vec::new(),
                witness_file: None,
                witness_seconds: 2,
                verify_every_minutes: 60,
            },
            rotation: RotationSettings::default(),
            notify: Vec::new(),
            incidents: IncidentSettings::default(),
            oidc: None,
            role_bindings: Vec::new(),
        }
    }
}

fn default_drain_seconds() -> u64 {
    5
}

fn default_upload_limit() -> usize {
    4 * 1024 * 1024
}

/// A configuration problem, naming the key.
#[derive(Debug, thiserror::Error)]
#[error("configuration error: {0}")]
pub struct ConfigError(pub String);

impl Settings {
    /// Defaults, then the file (if any), then the environment.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(Settings::default()));
        if let Some(path) = file {
            if !path.exists() {
                return Err(ConfigError(format!(
                    "config file {} does not exist",
                    path.display()
                )));
            }
            figment = figment.merge(Toml::file(path));
        }
        Self::from_figment(figment.merge(env_provider()))
    }

    fn from_figment(figment: Figment) -> Result<Self, ConfigError> {
        let settings: Settings = figment.extract().map_err(|e| {
            let key = if e.path.is_empty() {
                String::new()
            } else {
                format!("{}: ", e.path.join("."))
            };
            ConfigError(format!("{key}{}", e.kind))
        })?;
        settings.validate()?;
        Ok(settings)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        self.listen.parse::<SocketAddr>().map_err(|_| {
            ConfigError(format!(
                "listen: {:?} is not an address like 127.0.0.1:8080",
                self.listen
            ))
        })?;
        if let Some(metrics) = &self.metrics_listen {
            metrics.parse::<SocketAddr>().map_err(|_| {
                ConfigError(format!(
                    "metrics_listen: {metrics:?} is not an address like 127.0.0.1:9464"
                ))
            })?;
        }
        let public = url::Url::parse(&self.public_url)
            .map_err(|_| ConfigError(format!("public_url: {:?} is not a URL", self.public_url)))?;
        if !matches!(public.scheme(), "http" | "https") {
            return Err(ConfigError("public_url: must be http or https".to_owned()));
        }
        let db = &self.database.url;
        if !(db.starts_with("sqlite:")
            || db.starts_with("postgres://")
            || db.starts_with("postgresql://"))
        {
            return Err(ConfigError(
                "database.url: must start with sqlite:// or postgres://".to_owned(),
            ));
        }
        if self.database.max_connections == 0 {
            return Err(ConfigError(
                "database.max_connections: must be at least 1".to_owned(),
            ));
        }
        if !matches!(self.log.format.as_str(), "json" | "pretty") {
            return Err(ConfigError("log.format: must be json or pretty".to_owned()));
        }
        if self.http.body_timeout_seconds == 0 || self.http.body_timeout_seconds > 300 {
            return Err(ConfigError(
                "http.body_timeout_seconds: between 1 and 300".to_owned(),
            ));
        }
        if self.http.body_limit < 1024 {
            return Err(ConfigError(
                "http.body_limit: must be at least 1024 bytes".to_owned(),
            ));
        }
        if self.limits.failed_attempt_budget < 2 {
            return Err(ConfigError(
                "limits.failed_attempt_budget: must be at least 2 (one warning before the lock-out)"
                    .to_owned(),
            ));
        }
        if self.limits.verify_guesses == 0 {
            return Err(ConfigError(
                "limits.verify_guesses: must be at least 1 (it keeps backup-code verify from being an oracle)"
                    .to_owned(),
            ));
        }
        if self.limits.failed_attempt_window_minutes > 120 {
            return Err(ConfigError(
                "limits.failed_attempt_window_minutes: at most 120 (rate windows are kept two hours)"
                    .to_owned(),
            ));
        }
        if self.limits.failed_attempt_window_minutes == 0 {
            return Err(ConfigError(
                "limits.failed_attempt_window_minutes: must be at least 1".to_owned(),
            ));
        }
        if self.audit.retention_days > 36_500 {
            return Err(ConfigError(
                "audit.retention_days: at most 36500 (100 years); 0 keeps everything".to_owned(),
            ));
        }
        if self.audit.retention_days > 0 && self.audit.archive_dir.is_none() {
            return Err(ConfigError(
                "audit.archive_dir: needed when audit.retention_days is set (events are archived there before removal)"
                    .to_owned(),
            ));
        }
        if self.audit.witness_seconds == 0 || self.audit.witness_seconds > 3600 {
            return Err(ConfigError(
                "audit.witness_seconds: between 1 and 3600 (it bounds how many of the newest events could be removed unseen)"
                    .to_owned(),
            ));
        }
        self.validate_rotation()?;
        let mut names = std::collections::HashSet::new();
        for (i, fwd) in self.audit.forward.iter().enumerate() {
            let bad = |msg: &str| Err(ConfigError(format!("audit.forward[{i}].{msg}")));
            let name_ok = !fwd.name.is_empty()
                && fwd.name.len() <= 64
                && fwd
                    .name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
            if !name_ok || !names.insert(fwd.name.as_str()) {
                return bad(
                    "name: give each destination a unique name of 1 to 64 letters, digits, '.', '_' or '-'",
                );
            }
            let Ok(url) = url::Url::parse(&fwd.url) else {
                return bad(
                    "url: not a URL like tcp://siem:514, udp://siem:514 or https://siem/hook",
                );
            };
            match url.scheme() {
                "tcp" | "udp" if url.host_str().is_some() && url.port().is_some() => {}
                "tcp" | "udp" => {
                    return bad("url: syslog needs a host and a port, e.g. tcp://siem:514")
                }
                "https" => {
                    if fwd.secret_file.is_none() && fwd.secret_env.is_none() {
                        return bad(
                            "secret_file: a webhook needs an HMAC key (secret_file or secret_env)",
                        );
                    }
                }
                _ => return bad("url: the scheme must be tcp or udp (syslog) or https (webhook)"),
            }
            if !matches!(fwd.start.as_str(), "beginning" | "now") {
                return bad("start: must be beginning or now");
            }
            if fwd.batch_size == 0 || fwd.batch_size > 10_000 {
                return bad("batch_size: must be between 1 and 10000");
            }
            if fwd.facility_code().is_none() {
                return bad("facility: must be auth, authpriv, daemon, audit or local0 to local7");
            }
            if fwd.timeout_seconds == 0 || fwd.max_backoff_seconds == 0 {
                return bad("timeout_seconds and max_backoff_seconds: must be at least 1");
            }
        }
        for (i, binding) in self.role_bindings.iter().enumerate() {
            if crate::domain::identity::Role::parse(&binding.role).is_none() {
                return Err(ConfigError(format!(
                    "role_bindings[{i}].role: unknown role {:?}",
                    binding.role
                )));
            }
        }
        Ok(())
    }

    /// Where the audit witness lives: `audit.witness_file`, or beside the key file
    /// (`keys.json` → `keys.witness.json`); none for a keyring from the environment.
    pub fn witness_path(&self) -> Option<PathBuf> {
        if let Some(path) = &self.audit.witness_file {
            return Some(path.clone());
        }
        let key_file = self.keys.key_file.as_ref()?;
        let stem = key_file.file_stem()?.to_string_lossy().into_owned();
        Some(key_file.with_file_name(format!("{stem}.witness.json")))
    }

    fn validate_rotation(&self) -> Result<(), ConfigError> {
        let r = &self.rotation;
        for (name, hours) in [
            ("backup_codes_hours", r.backup_codes_hours),
            ("password_hours", r.password_hours),
            ("seed_hours", r.seed_hours),
        ] {
            if hours == 0 || hours > 24 * 365 {
                return Err(ConfigError(format!(
                    "rotation.{name}: between 1 and 8760 hours"
                )));
            }
        }
        if crate::domain::OffboardPolicy::parse(&r.offboard_policy).is_err() {
            return Err(ConfigError(
                "rotation.offboard_policy: must be exposed or strict".to_owned(),
            ));
        }
        if r.escalation_every_minutes == 0 || r.escalation_every_minutes > 24 * 60 {
            return Err(ConfigError(
                "rotation.escalation_every_minutes: between 1 and 1440".to_owned(),
            ));
        }
        for (i, hook) in self.notify.iter().enumerate() {
            let bad = |msg: &str| Err(ConfigError(format!("notify[{i}].{msg}")));
            let Ok(url) = url::Url::parse(&hook.url) else {
                return bad("url: not a URL like https://chat.example/hook");
            };
            let loopback = url.host_str().is_some_and(|h| {
                h == "localhost"
                    || h.parse::<std::net::IpAddr>()
                        .is_ok_and(|ip| ip.is_loopback())
                    || h == "[::1]"
            });
            match url.scheme() {
                "https" => {}
                "http" if loopback => {}
                _ => return bad("url: must be https (plain http only to a loopback address)"),
            }
            if hook.secret_file.is_none() && hook.secret_env.is_none() {
                return bad("secret_file: a webhook needs an HMAC key (secret_file or secret_env)");
            }
            if !(1..=60).contains(&hook.timeout_seconds) {
                return bad("timeout_seconds: between 1 and 60");
            }
            // The outbox names a webhook by its URL: one URL is one webhook.
            if self.notify[..i].iter().any(|other| other.url == hook.url) {
                return bad("url: the same webhook is configured twice");
            }
        }
        Ok(())
    }

    /// Whether cookies must be `Secure`.
    pub fn is_https(&self) -> bool {
        self.public_url.starts_with("https://")
    }

    /// A redirect target on this service for a `return_to` parameter (see `ReturnTo`).
    pub fn return_to(&self, raw: Option<&str>) -> crate::domain::ReturnTo {
        // `public_url` was checked when the settings were loaded.
        match url::Url::parse(&self.public_url) {
            Ok(base) => crate::domain::ReturnTo::parse(raw, &base),
            Err(_) => crate::domain::ReturnTo::fallback(),
        }
    }

    /// The scheme, host and port of `public_url`, as browsers send it in `Origin`.
    pub fn public_origin(&self) -> String {
        url::Url::parse(&self.public_url)
            .map(|u| u.origin().ascii_serialization())
            .unwrap_or_default()
    }

    /// The OIDC client secret, from the file when one is configured.
    pub fn oidc_client_secret(&self) -> Result<Option<secrecy::SecretString>, ConfigError> {
        let Some(oidc) = &self.oidc else {
            return Ok(None);
        };
        match (&oidc.client_secret, &oidc.client_secret_file) {
            (Some(secret), _) => Ok(Some(secrecy::SecretString::from(secret.clone()))),
            (None, Some(path)) => std::fs::read_to_string(path)
                .map(|s| Some(secrecy::SecretString::from(s.trim().to_owned())))
                .map_err(|e| {
                    ConfigError(format!(
                        "oidc.client_secret_file: cannot read {}: {}",
                        path.display(),
                        e.kind()
                    ))
                }),
            (None, None) => Ok(None),
        }
    }
}

/// `KEYWARD_<SECTION>__<KEY>`, plus the short forms every deployment uses.
fn env_provider() -> Env {
    Env::prefixed("KEYWARD_")
        .ignore(&["config"])
        .map(|key| match key.as_str().to_ascii_lowercase().as_str() {
            "database_url" => "database.url".into(),
            "key_file" => "keys.key_file".into(),
            _ => key.as_str().to_ascii_lowercase().into(),
        })
        .split("__")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[allow(clippy::result_large_err)]
    fn load_with(toml: &str, env: &[(&str, &str)]) -> Result<Settings, String> {
        let mut result = Err(String::new());
        figment::Jail::expect_with(|jail| {
            jail.create_file("k.toml", toml)?;
            for (k, v) in env {
                jail.set_env(k, v);
            }
            result = Settings::load(Some(Path::new("k.toml"))).map_err(|e| e.to_string());
            Ok(())
        });
        result
    }

    #[test]
    fn environment_short_forms_and_section_keys_override_the_file() {
        let settings = load_with(
            "listen = \"0.0.0.0:9000\"\n[database]\nmax_connections = 3\n",
            &[
                ("KEYWARD_DATABASE_URL", "postgres://localhost/kw"),
                ("KEYWARD_KEY_FILE", "/etc/keyward/keys.json"),
                ("KEYWARD_LOG__LEVEL", "debug"),
                ("KEYWARD_LISTEN", "127.0.0.1:7000"),
            ],
        );
        let Ok(settings) = settings else {
            unreachable!("{settings:?}")
        };
        assert_eq!(settings.listen, "127.0.0.1:7000");
        assert_eq!(settings.database.url, "postgres://localhost/kw");
        assert_eq!(settings.database.max_connections, 3);
        assert_eq!(
            settings.keys.key_file.as_deref(),
            Some(Path::new("/etc/keyward/keys.json"))
        );
        assert_eq!(settings.log.level, "debug");
    }

    #[test]
    fn the_example_configuration_in_deploy_is_valid() {
        let example = include_str!("../../deploy/keyward.example.toml");
        let settings = load_with(example, &[("KEYWARD_KEY_FILE", "/tmp/k.json")]);
        let Ok(settings) = settings else {
            unreachable!("{settings:?}")
        };
        assert_eq!(settings.limits.failed_attempt_budget, 5);
        assert_eq!(settings.auth.reauth_minutes, 10);
    }

    #[test]
    fn the_key_env_the_example_and_the_helm_chart_name_is_not_read_as_a_configuration_key() {
        // The keyring's JSON in an environment variable (keys.key_env): a KEYWARD_* name
        // would be read as a configuration key and refused as unknown, so the example and
        // the chart name KW_KEYRING_JSON.
        let example = include_str!("../../deploy/keyward.example.toml");
        assert!(example.contains("# key_env = \"KW_KEYRING_JSON\""));
        let chart = include_str!("../../deploy/helm/keyward/templates/_helpers.tpl");
        assert!(chart.contains("value: KW_KEYRING_JSON"));
        let settings = load_with(
            "[keys]\nkey_env = \"KW_KEYRING_JSON\"\n",
            &[("KW_KEYRING_JSON", "{}")],
        );
        let Ok(settings) = settings else {
            unreachable!("{settings:?}")
        };
        assert_eq!(settings.keys.key_env.as_deref(), Some("KW_KEYRING_JSON"));
        let err = load_with(
            "[keys]\nkey_env = \"KEYWARD_KEYRING_JSON\"\n",
            &[("KEYWARD_KEYRING_JSON", "{}")],
        )
        .err()
        .unwrap_or_default();
        assert!(err.contains("keyring_json"), "{err}");
    }

    #[test]
    fn invalid_settings_name_the_key() {
        let err = load_with("", &[("KEYWARD_DATABASE__MAX_CONNECTIONS", "many")])
            .err()
            .unwrap_or_default();
        assert!(err.contains("database.max_connections"), "{err}");
        let err = load_with("listen = \"nowhere\"", &[])
            .err()
            .unwrap_or_default();
        assert!(err.contains("listen"), "{err}");
        let err = load_with("[database]\nurl = \"mysql://x\"", &[])
            .err()
            .unwrap_or_default();
        assert!(err.contains("database.url"), "{err}");
        let err = load_with(
            "[[role_bindings]]\ngroup = \"g\"\nteam = \"t\"\nrole = \"king\"",
            &[],
        )
        .err()
        .unwrap_or_default();
        assert!(err.contains("role_bindings[0].role"), "{err}");
        let err = load_with("[databse]\nurl = \"x\"", &[])
            .err()
            .unwrap_or_default();
        assert!(err.contains("databse"), "{err}");
    }

    #[test]
    fn the_commented_siem_and_retention_examples_are_valid_once_uncommented() {
        let example = include_str!("../../deploy/keyward.example.toml");
        let uncommented: String = example
            .lines()
            .map(|l| match l.strip_prefix("# ") {
                Some(rest)
                    if rest.starts_with("[[audit.forward]]")
                        || rest.starts_with("[[notify]]")
                        || rest.contains(" = ") =>
                {
                    rest.to_owned()
                }
                Some(rest) if rest.starts_with("archive_dir") => rest.to_owned(),
                _ => l.to_owned(),
            })
            .filter(|l| {
                !l.starts_with("# [")
                    && !l.starts_with("# group")
                    && !l.starts_with("# team")
                    && !l.starts_with("# role")
            })
            .collect::<Vec<_>>()
            .join("\n");
        let audit_part = &uncommented[uncommented.find("[audit]").unwrap_or(0)
            ..uncommented.find("# Sign-in").unwrap_or(uncommented.len())];
        let settings = load_with(
            audit_part,
            &[
                ("KEYWARD_KEY_FILE", "/tmp/k.json"),
                ("KEYWARD_AUDIT__RETENTION_DAYS", "400"),
            ],
        );
        let Ok(settings) = settings else {
            unreachable!("{settings:?}")
        };
        let names: Vec<&str> = settings
            .audit
            .forward
            .iter()
            .map(|f| f.name.as_str())
            .collect();
        assert_eq!(names, ["siem-syslog", "siem-webhook"]);
        assert_eq!(settings.audit.forward[0].facility_code(), Some(4));
        assert_eq!(settings.audit.retention_days, 400);
        assert_eq!(settings.rotation.seed_hours, 72);
        assert_eq!(settings.notify.len(), 1);
        assert!(settings.notify[0].url.starts_with("https://"));
    }

    #[test]
    fn rotation_deadlines_policies_and_notify_hooks_are_checked_naming_the_key() {
        let cases = [
            ("[rotation]\nseed_hours = 0", "rotation.seed_hours"),
            (
                "[rotation]\noffboard_policy = \"all\"",
                "rotation.offboard_policy",
            ),
            (
                "[[notify]]\nurl = \"http://chat.example.com/hook\"\nsecret_env = \"K\"",
                "notify[0].url",
            ),
            (
                "[[notify]]\nurl = \"https://chat.example.com/hook\"",
                "notify[0].secret_file",
            ),
            (
                "[[notify]]\nurl = \"https://chat.example.com/hook\"\nsecret_env = \"K\"\ntimeout_seconds = 0",
                "notify[0].timeout_seconds",
            ),
            (
                "[[notify]]\nurl = \"https://chat.example.com/hook\"\nsecret_env = \"K\"\n\
                 [[notify]]\nurl = \"https://chat.example.com/hook\"\nsecret_env = \"L\"",
                "notify[1].url",
            ),
        ];
        for (toml, key) in cases {
            let err = load_with(toml, &[("KEYWARD_KEY_FILE", "/tmp/k.json")]).err();
            assert!(
                err.as_deref().is_some_and(|e| e.contains(key)),
                "{toml}: {err:?}"
            );
        }
        let local = load_with(
            "[[notify]]\nurl = \"http://127.0.0.1:9/hook\"\nsecret_env = \"K\"",
            &[("KEYWARD_KEY_FILE", "/tmp/k.json")],
        );
        assert!(local.is_ok(), "{local:?}");
    }

    #[test]
    fn siem_destinations_and_retention_are_checked() {
        let check = |toml: &str| load_with(toml, &[]).err().unwrap_or_default();
        let err = check("[[audit.forward]]\nname = \"s\"\nurl = \"https://siem/hook\"");
        assert!(err.contains("audit.forward[0].secret_file"), "{err}");
        let err = check(
            "[[audit.forward]]\nname = \"s\"\nurl = \"http://siem/hook\"\nsecret_env = \"K\"",
        );
        assert!(
            err.contains("audit.forward[0].url") && err.contains("https"),
            "{err}"
        );
        let err = check("[[audit.forward]]\nname = \"s\"\nurl = \"tcp://siem\"");
        assert!(err.contains("needs a host and a port"), "{err}");
        let err =
            check("[[audit.forward]]\nname = \"s\"\nurl = \"udp://siem:514\"\nfacility = \"kern\"");
        assert!(err.contains("audit.forward[0].facility"), "{err}");
        let err = check("[[audit.forward]]\nname = \"s\"\nurl = \"udp://a:1\"\n[[audit.forward]]\nname = \"s\"\nurl = \"udp://b:1\"");
        assert!(
            err.contains("audit.forward[1].name") && err.contains("unique"),
            "{err}"
        );
        let err = check("[[audit.forward]]\nname = \"a b\"\nurl = \"udp://siem:514\"");
        assert!(err.contains("audit.forward[0].name"), "{err}");
        let err = check("[audit]\nretention_days = 99999999\narchive_dir = \"/a\"");
        assert!(err.contains("audit.retention_days: at most"), "{err}");
        let err = check("[limits]\nfailed_attempt_window_minutes = 1440");
        assert!(
            err.contains("limits.failed_attempt_window_minutes: at most 120"),
            "{err}"
        );
        let err = check("[audit]\nretention_days = 30");
        assert!(err.contains("audit.archive_dir"), "{err}");
        let ok = load_with(
            "[[audit.forward]]\nname = \"s\"\nurl = \"udp://siem:514\"",
            &[],
        );
        assert!(ok.is_ok(), "{ok:?}");
    }
}
