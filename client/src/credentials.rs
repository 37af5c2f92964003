//! Where `kw` keeps its sign-in: `$XDG_CONFIG_HOME/keyward/credentials.toml` (else
//! `~/.config/keyward/credentials.toml`), mode 0600, refused when group- or other-readable;
//! or `KW_TOKEN` (and `KW_SERVER`) for CI.

use serde::{Deserialize, Serialize};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::PathBuf;

#[derive(Serialize, Deserialize, Clone)]
pub struct Credentials {
    pub server: String,
    pub token: String,
}

/// Why the sign-in cannot be read.
pub enum Unreadable {
    /// Nothing saved and no `KW_TOKEN`: run `kw login`.
    Missing,
    /// The file is readable by others: refused.
    TooOpen(PathBuf, u32),
    Broken(String),
}

pub fn path() -> PathBuf {
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))
        .unwrap_or_else(|| PathBuf::from(".config"));
    base.join("keyward").join("credentials.toml")
}

/// The sign-in to use: `KW_TOKEN` (with `KW_SERVER`), else the saved file (its server
/// overridden by `KW_SERVER`).
pub fn load() -> Result<Credentials, Unreadable> {
    let server_env = std::env::var("KW_SERVER").ok().filter(|s| !s.is_empty());
    if let Some(token) = std::env::var("KW_TOKEN").ok().filter(|t| !t.is_empty()) {
        let server = server_env.ok_or_else(|| {
            Unreadable::Broken("KW_TOKEN is set but KW_SERVER is not: give the server's URL".into())
        })?;
        return Ok(Credentials { server, token });
    }
    let path = path();
    let meta = match std::fs::metadata(&path) {
        Ok(meta) => meta,
        Err(_) => return Err(Unreadable::Missing),
    };
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(Unreadable::TooOpen(path, mode));
    }
    let text = std::fs::read_to_string(&path).map_err(|e| Unreadable::Broken(e.to_string()))?;
    let mut creds: Credentials = toml::from_str(&text)
        .map_err(|e| Unreadable::Broken(format!("{}: {e}", path.display())))?;
    if let Some(server) = server_env {
        creds.server = server;
    }
    Ok(creds)
}

/// Saves the sign-in, mode 0600 from the start (the directory 0700).
pub fn save(creds: &Credentials) -> std::io::Result<PathBuf> {
    let path = path();
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    }
    let text = toml::to_string(creds).map_err(std::io::Error::other)?;
    let tmp = path.with_extension("toml.tmp");
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)?;
    file.write_all(text.as_bytes())?;
    file.sync_all()?;
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600))?;
    std::fs::rename(&tmp, &path)?;
    Ok(path)
}

/// Forgets the saved sign-in (nothing to do when there is none).
pub fn remove() -> std::io::Result<()> {
    match std::fs::remove_file(path()) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}
