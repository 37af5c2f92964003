//! Configuration: one typed struct, loaded once at start from a TOML file (`--config` or
//! `KEYWARD_CONFIG`) and `KEYWARD_<SECTION>__<KEY>` variables, validated with the key's name.

#[cfg(test)]
mod reference;
mod sections;
mod validate;

pub use sections::*;

use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use serde::{Deserialize, Serialize};
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
    /// The database: SQLite (the default) or PostgreSQL.
    pub database: DatabaseSettings,
    /// Where the key file comes from (`keyward keys init` writes it).
    pub keys: KeySettings,
    /// Logs on standard error.
    pub log: LogSettings,
    /// The HTTP server: body sizes, timeouts, workers, anonymous rate limit.
    pub http: HttpSettings,
    /// Browser sessions and step-up sign-in.
    pub auth: AuthSettings,
    /// Reveal rate limits and backup-code guard rails.
    pub limits: LimitSettings,
    /// The audit chain: checkpoints, witness, verification, retention, SIEM forwarding.
    pub audit: AuditSettings,
    /// Deadlines of rotation tasks and the policy of departures.
    #[serde(default)]
    pub rotation: RotationSettings,
    /// Departures the IdP implies (groups lost) and long absences.
    #[serde(default)]
    pub offboarding: OffboardingSettings,
    /// Webhooks told about overdue rotation tasks: `[[notify]]`.
    #[serde(default)]
    pub notify: Vec<NotifySettings>,
    /// Incident runbooks.
    #[serde(default)]
    pub incidents: IncidentSettings,
    /// Access requests (time-boxed, approved access).
    #[serde(default)]
    pub access: AccessSettings,
    /// The command-line client's sessions.
    #[serde(default)]
    pub session: SessionSettings,
    /// Per-team defaults for new accounts: `[[teams]]`.
    #[serde(default)]
    pub teams: Vec<TeamSettings>,
    /// OpenID Connect sign-in (used by the web sign-in).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oidc: Option<OidcSettings>,
    /// IdP group -> team role bindings.
    #[serde(default)]
    pub role_bindings: Vec<RoleBindingSettings>,
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
                writer_thread: None,
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
                imports_per_hour: 30,
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
            offboarding: OffboardingSettings::default(),
            notify: Vec::new(),
            incidents: IncidentSettings::default(),
            access: AccessSettings::default(),
            session: SessionSettings::default(),
            teams: Vec::new(),
            oidc: None,
            role_bindings: Vec::new(),
        }
    }
}

/// A configuration problem, naming the key.
#[derive(Debug, thiserror::Error)]
#[error("configuration error: {0}")]
pub struct ConfigError(pub String);

impl Settings {
    /// The access policy new accounts of `team` start with (`[[teams]]`; `open`, one
    /// approver, for a team not listed).
    pub fn team_access(&self, team: &str) -> (&'static str, i32) {
        use crate::domain::access::AccessPolicy;
        self.teams
            .iter()
            .find(|t| t.slug.trim().eq_ignore_ascii_case(team))
            .map_or(("open", 1), |t| {
                // Checked at start; a value that is not `open` holds the accounts back.
                let access =
                    AccessPolicy::parse(&t.default_access).unwrap_or(AccessPolicy::Approval);
                (access.as_str(), t.approvers_needed.clamp(1, 2) as i32)
            })
    }

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
        let example = include_str!("../../../deploy/keyward.example.toml");
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
        let example = include_str!("../../../deploy/keyward.example.toml");
        assert!(example.contains("# key_env = \"KW_KEYRING_JSON\""));
        let chart = include_str!("../../../deploy/helm/keyward/templates/_helpers.tpl");
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
    fn team_defaults_are_checked_and_read_case_blind() {
        let team = |body: &str| {
            load_with(
                &format!("[[teams]]\n{body}"),
                &[("KEYWARD_KEY_FILE", "/tmp/k.json")],
            )
        };
        let Ok(settings) =
            team("slug = \"Brand\"\ndefault_access = \"Approval\"\napprovers_needed = 2")
        else {
            unreachable!("a valid team")
        };
        assert_eq!(settings.team_access("brand"), ("approval", 2));
        assert_eq!(settings.team_access("sales"), ("open", 1));
        for (body, key) in [
            ("slug = \"-x\"", "teams[0].slug"),
            (
                "slug = \"brand\"\ndefault_access = \"closed\"",
                "teams[0].default_access",
            ),
            (
                "slug = \"brand\"\napprovers_needed = 3",
                "teams[0].approvers_needed",
            ),
        ] {
            let err = team(body).err().unwrap_or_default();
            assert!(err.contains(key), "{body}: {err}");
        }
        let twice = load_with("[[teams]]\nslug = \"a\"\n[[teams]]\nslug = \"A\"\n", &[])
            .err()
            .unwrap_or_default();
        assert!(twice.contains("listed twice"), "{twice}");
        let err = load_with("[access]\nmax_minutes = 481\n", &[])
            .err()
            .unwrap_or_default();
        assert!(err.contains("access.max_minutes"), "{err}");
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
        let example = include_str!("../../../deploy/keyward.example.toml");
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
