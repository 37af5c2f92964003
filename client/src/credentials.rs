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

/// Whether `url` may carry a token: https, or http to this machine (a local server).
pub fn check_server(url: &str) -> Result<(), String> {
    let url = url.trim();
    if let Some(rest) = url.strip_prefix("https://") {
        return if rest.is_empty() {
            Err(format!("{url} names no host"))
        } else {
            Ok(())
        };
    }
    let local = url
        .strip_prefix("http://")
        .map(|rest| rest.split(['/', '?']).next().unwrap_or(""))
        .is_some_and(|host| {
            let name = host.rsplit_once(':').map_or(host, |(name, _)| name);
            matches!(name, "localhost" | "127.0.0.1" | "[::1]")
        });
    if local {
        Ok(())
    } else {
        Err(format!(
            "{url} is not https: kw sends its token only over https (or to this machine)"
        ))
    }
}

fn same_server(a: &str, b: &str) -> bool {
    a.trim().trim_end_matches('/') == b.trim().trim_end_matches('/')
}

/// The sign-in to use: `KW_TOKEN` with `KW_SERVER`, else the saved file. The saved token goes
/// only to the server it came from: a `KW_SERVER` naming another one is refused (an
/// `.envrc` in a cloned repository must not redirect it).
pub fn load() -> Result<Credentials, Unreadable> {
    let server_env = std::env::var("KW_SERVER").ok().filter(|s| !s.is_empty());
    if let Some(token) = std::env::var("KW_TOKEN").ok().filter(|t| !t.is_empty()) {
        let server = server_env.ok_or_else(|| {
            Unreadable::Broken("KW_TOKEN is set but KW_SERVER is not: give the server's URL".into())
        })?;
        check_server(&server).map_err(Unreadable::Broken)?;
        return Ok(Credentials { server, token });
    }
    let path = path();
    // One open file for the check and the read: nothing can swap it in between.
    let mut file = match std::fs::File::open(&path) {
        Ok(file) => file,
        Err(_) => return Err(Unreadable::Missing),
    };
    let meta = file
        .metadata()
        .map_err(|e| Unreadable::Broken(e.to_string()))?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(Unreadable::TooOpen(path, mode));
    }
    let mut text = String::new();
    std::io::Read::read_to_string(&mut file, &mut text)
        .map_err(|e| Unreadable::Broken(e.to_string()))?;
    let creds: Credentials = toml::from_str(&text)
        .map_err(|e| Unreadable::Broken(format!("{}: {e}", path.display())))?;
    if let Some(server) = server_env {
        if !same_server(&server, &creds.server) {
            return Err(Unreadable::Broken(format!(
                "KW_SERVER names {server} but you signed in to {}; run `kw login {server}` or unset KW_SERVER",
                creds.server
            )));
        }
    }
    check_server(&creds.server).map_err(Unreadable::Broken)?;
    Ok(creds)
}

/// Saves the sign-in, mode 0600 from the start, in a directory only its owner may write
/// (made 0700). The file is written under a new name that must not exist yet (no symlink or
/// planted file is followed), then renamed into place.
pub fn save(creds: &Credentials) -> std::io::Result<PathBuf> {
    let path = path();
    let dir = path
        .parent()
        .ok_or_else(|| std::io::Error::other("no folder for the credentials"))?;
    std::fs::create_dir_all(dir)?;
    let meta = std::fs::symlink_metadata(dir)?;
    if !meta.is_dir() {
        return Err(std::io::Error::other(format!(
            "{} is not a folder (a symlink?)",
            dir.display()
        )));
    }
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    let text = toml::to_string(creds).map_err(std::io::Error::other)?;
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let tmp = dir.join(format!(".credentials.{}.{nanos}.tmp", std::process::id()));
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)?;
    let written = file
        .write_all(text.as_bytes())
        .and_then(|()| file.sync_all())
        .and_then(|()| std::fs::rename(&tmp, &path));
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written.map(|()| path)
}

/// Forgets the saved sign-in (nothing to do when there is none).
pub fn remove() -> std::io::Result<()> {
    match std::fs::remove_file(path()) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::check_server;

    #[test]
    fn a_token_goes_over_https_or_to_this_machine_only() {
        assert!(check_server("https://keyward.example.com").is_ok());
        assert!(check_server("http://127.0.0.1:8080").is_ok());
        assert!(check_server("http://localhost:8080/").is_ok());
        assert!(check_server("http://[::1]:8080").is_ok());
        assert!(check_server("http://keyward.example.com").is_err());
        assert!(check_server("http://127.0.0.1.evil.example").is_err());
        assert!(check_server("http://localhost@evil.example").is_err());
        assert!(check_server("https://").is_err());
        assert!(check_server("ftp://x").is_err());
    }
}
