//! Checks of the loaded settings, each refusal naming its key: addresses, URLs, bounds,
//! and settings that only make sense together.

use super::{ConfigError, Settings};
use std::net::SocketAddr;

impl Settings {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
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
        self.validate_access()?;
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

    fn validate_access(&self) -> Result<(), ConfigError> {
        let a = &self.access;
        if a.max_minutes == 0 || a.max_minutes > crate::domain::access::AccessMinutes::MAX {
            return Err(ConfigError(
                "access.max_minutes: between 1 and 480".to_owned(),
            ));
        }
        if a.pending_hours == 0 || a.pending_hours > 168 {
            return Err(ConfigError(
                "access.pending_hours: between 1 and 168".to_owned(),
            ));
        }
        if a.expire_every_seconds == 0 || a.expire_every_seconds > 3600 {
            return Err(ConfigError(
                "access.expire_every_seconds: between 1 and 3600".to_owned(),
            ));
        }
        if self.session.cli_hours == 0 || self.session.cli_hours > 720 {
            return Err(ConfigError(
                "session.cli_hours: between 1 and 720".to_owned(),
            ));
        }
        let mut seen = std::collections::HashSet::new();
        for (i, team) in self.teams.iter().enumerate() {
            let bad = |msg: &str| Err(ConfigError(format!("teams[{i}].{msg}")));
            let Ok(slug) = crate::domain::TeamSlug::parse(&team.slug) else {
                return bad("slug: not a team slug like brand or marketing");
            };
            if !seen.insert(slug.as_str().to_owned()) {
                return bad("slug: this team is listed twice");
            }
            if crate::domain::access::AccessPolicy::parse(&team.default_access).is_err() {
                return bad("default_access: must be open or approval");
            }
            if !matches!(team.approvers_needed, 1 | 2) {
                return bad("approvers_needed: must be 1 or 2");
            }
        }
        Ok(())
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
        if !matches!(
            self.offboarding.on_groups_lost.as_str(),
            "offboard" | "review"
        ) {
            return Err(ConfigError(
                "offboarding.on_groups_lost: must be offboard or review".to_owned(),
            ));
        }
        if self.offboarding.idle_departure_days > 3650 {
            return Err(ConfigError(
                "offboarding.idle_departure_days: at most 3650 (0 = off)".to_owned(),
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
}
