//! What the commands share: connecting to the database and reading roles and teams.
use crate::authz::{Role, ORG_WIDE};
use crate::config::Settings;
use crate::domain::TeamSlug;
use crate::store::Store;
use anyhow::Context;

pub(super) const NO_CONFIGURATION: &str =
    "no configuration found: Keyward reads a TOML file given with \
--config PATH or KEYWARD_CONFIG, and KEYWARD_* environment variables (at least \
KEYWARD_DATABASE_URL and KEYWARD_KEY_FILE). Neither is set here, so nothing was opened or \
created. `make dev` writes one to .dev/keyward.toml; `keyward doctor --config PATH` checks one.";

pub(super) async fn connect(settings: &Settings) -> anyhow::Result<Store> {
    crate::services::admin::connect(settings, 2)
        .await
        .context("database.url: cannot connect")
}

/// Connects and refuses to work on a database whose schema is behind the binary.
pub(super) async fn connect_migrated(settings: &Settings) -> anyhow::Result<Store> {
    let store = connect(settings).await?;
    let pending = store.pending_migrations().await?;
    anyhow::ensure!(
        pending == 0,
        "the database has {} pending; run `keyward migrate` first",
        keyward_proto::words::count(pending, "migration", "migrations")
    );
    Ok(store)
}

pub(super) fn parse_role(role: &str) -> anyhow::Result<Role> {
    Role::parse(role).with_context(|| {
        let roles: Vec<&str> = Role::ALL.iter().map(|r| r.as_str()).collect();
        format!("--role: {role:?} is not one of {}", roles.join(", "))
    })
}

pub(super) fn parse_team(team: &str) -> anyhow::Result<String> {
    if team.trim() == ORG_WIDE {
        Ok(ORG_WIDE.to_owned())
    } else {
        Ok(TeamSlug::parse(team)
            .map_err(|e| anyhow::anyhow!("--team: {e}"))?
            .as_str()
            .to_owned())
    }
}

/// Signs and checks rows that carry authority with the configured keyring (the key file is
/// needed: without it nothing such a command writes would be believed).
pub(super) fn integrity(settings: &Settings) -> anyhow::Result<crate::store::Integrity> {
    let keyring = crate::crypto::Keyring::load(crate::startup::key_source(settings)?)
        .context("keys: this command needs the key file (keys.key_file or KEYWARD_KEY_FILE)")?;
    Ok(crate::services::integrity::signer(std::sync::Arc::new(
        keyring,
    )))
}
