//! Aegis vaults (<https://github.com/beemdevelopment/Aegis/blob/master/docs/vault.md>):
//! plain, or encrypted with a password (scrypt and AES-256-GCM), within a cost per vault.

use crate::common::{at, bad, cancelled, from_fields, Fields};
use keyward_domain::{Invalid, Otpauth};
use serde::Deserialize;
use std::sync::atomic::{AtomicBool, Ordering};
use zeroize::Zeroizing;

/// Password slots of an Aegis vault tried at most (each costs a scrypt derivation); a vault
/// with more is refused before any is tried. Aegis itself makes one.
pub const MAX_PASSWORD_SLOTS: usize = 4;

/// Aegis's vault file (<https://github.com/beemdevelopment/Aegis/blob/master/docs/vault.md>).
#[derive(Deserialize)]
struct AegisVault {
    header: AegisHeader,
    db: serde_json::Value,
}

#[derive(Deserialize)]
struct AegisHeader {
    slots: Option<Vec<AegisSlot>>,
    params: Option<AegisParams>,
}

#[derive(Deserialize)]
struct AegisParams {
    nonce: String,
    tag: String,
}

#[derive(Deserialize)]
struct AegisSlot {
    #[serde(rename = "type")]
    kind: u32,
    key: String,
    key_params: AegisParams,
    n: Option<u64>,
    r: Option<u32>,
    p: Option<u32>,
    salt: Option<String>,
}

#[derive(Deserialize)]
struct AegisDb {
    entries: Vec<AegisEntry>,
}

#[derive(Deserialize)]
struct AegisEntry {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    issuer: String,
    info: AegisInfo,
}

#[derive(Deserialize)]
struct AegisInfo {
    secret: Zeroizing<String>,
    #[serde(default)]
    algo: Option<String>,
    #[serde(default)]
    digits: Option<u32>,
    #[serde(default)]
    period: Option<u64>,
    #[serde(default)]
    counter: Option<u64>,
}

/// The largest scrypt work an Aegis slot may ask for (2^16 × r 8: 64 MiB), so a crafted
/// file cannot make the server spend gigabytes.
const MAX_SCRYPT_LOG_N: u8 = 16;

fn hex(raw: &str, what: &str) -> Result<Vec<u8>, Invalid> {
    data_encoding::HEXLOWER_PERMISSIVE
        .decode(raw.as_bytes())
        .map_err(|_| bad(format!("the vault's {what} is not hex")))
}

fn aes_gcm_open(key: &[u8], params: &AegisParams, ciphertext: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
    use aes_gcm::aead::{Aead, KeyInit};
    let cipher = aes_gcm::Aes256Gcm::new_from_slice(key).ok()?;
    let nonce = hex(&params.nonce, "nonce").ok()?;
    let tag = hex(&params.tag, "tag").ok()?;
    if nonce.len() != 12 || tag.len() != 16 {
        return None;
    }
    let mut sealed = ciphertext.to_vec();
    sealed.extend_from_slice(&tag);
    cipher
        .decrypt(aes_gcm::Nonce::from_slice(&nonce), sealed.as_slice())
        .ok()
        .map(Zeroizing::new)
}

pub(super) fn aegis(
    data: &str,
    password: Option<&str>,
    cancel: &AtomicBool,
) -> Result<Vec<Otpauth>, Invalid> {
    let vault: AegisVault = serde_json::from_str(data.trim())
        .map_err(|_| bad("this is not an Aegis vault (JSON with header and db)"))?;
    let db: AegisDb = match (&vault.header.slots, &vault.db) {
        (None, db @ serde_json::Value::Object(_)) => serde_json::from_value(db.clone())
            .map_err(|_| bad("the vault's entries cannot be read"))?,
        (Some(slots), serde_json::Value::String(encrypted)) => {
            let password = password.filter(|p| !p.is_empty()).ok_or_else(|| {
                Invalid::new(
                    "password_required",
                    "this Aegis vault is encrypted: give its password",
                )
            })?;
            let params = vault
                .header
                .params
                .as_ref()
                .ok_or_else(|| bad("the vault's header has no params"))?;
            let password_slots: Vec<&AegisSlot> = slots.iter().filter(|s| s.kind == 1).collect();
            if password_slots.len() > MAX_PASSWORD_SLOTS {
                return Err(Invalid::new(
                    "too_many_slots",
                    format!(
                        "this Aegis vault has {} password slots; Keyward tries at most {MAX_PASSWORD_SLOTS}",
                        password_slots.len()
                    ),
                ));
            }
            let mut master = None;
            for slot in password_slots {
                if cancel.load(Ordering::Relaxed) {
                    return Err(cancelled());
                }
                // The first slot that opens ends the search: one successful derivation.
                if let Some(key) = open_slot(slot, password)? {
                    master = Some(key);
                    break;
                }
            }
            let master = master.ok_or_else(|| {
                Invalid::new(
                    "wrong_password",
                    "the password does not open this Aegis vault",
                )
            })?;
            let ciphertext = data_encoding::BASE64
                .decode(encrypted.trim().as_bytes())
                .map_err(|_| bad("the vault's db is not base64"))?;
            let plain = aes_gcm_open(&master, params, &ciphertext)
                .ok_or_else(|| bad("the vault's db does not open with its key"))?;
            serde_json::from_slice(&plain).map_err(|_| bad("the vault's entries cannot be read"))?
        }
        _ => {
            return Err(bad(
                "this Aegis vault is neither plain nor password-encrypted",
            ))
        }
    };
    db.entries
        .iter()
        .enumerate()
        .map(|(i, e)| {
            from_fields(Fields {
                secret: &e.info.secret,
                kind: &e.kind,
                algorithm: e.info.algo.as_deref(),
                digits: e.info.digits,
                period: e.info.period,
                counter: e.info.counter,
                issuer: Some(&e.issuer),
                label: Some(&e.name),
            })
            .map_err(at(i))
        })
        .collect()
}

/// The master key from a password slot, `None` when the password is not this slot's.
fn open_slot(slot: &AegisSlot, password: &str) -> Result<Option<Zeroizing<Vec<u8>>>, Invalid> {
    let (Some(n), Some(r), Some(p), Some(salt)) = (slot.n, slot.r, slot.p, &slot.salt) else {
        return Err(bad("a password slot lacks its scrypt parameters"));
    };
    if !n.is_power_of_two() || n < 2 {
        return Err(bad("a password slot's scrypt n is not a power of two"));
    }
    let log_n = n.trailing_zeros() as u8;
    if log_n > MAX_SCRYPT_LOG_N || r > 8 || p > 1 {
        return Err(bad(
            "a password slot asks for more scrypt work than Keyward allows",
        ));
    }
    let params = scrypt::Params::new(log_n, r, p)
        .map_err(|_| bad("a password slot's scrypt parameters are not valid"))?;
    let mut key = Zeroizing::new([0u8; 32]);
    scrypt::scrypt(
        password.as_bytes(),
        &hex(salt, "salt")?,
        &params,
        key.as_mut(),
    )
    .map_err(|_| bad("a password slot's scrypt parameters are not valid"))?;
    let sealed = hex(&slot.key, "slot key")?;
    Ok(aes_gcm_open(key.as_ref(), &slot.key_params, &sealed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_aegis_slot_asking_for_too_much_work_is_refused_before_any_is_done() {
        let slot = AegisSlot {
            kind: 1,
            key: "00".into(),
            key_params: AegisParams {
                nonce: "00".into(),
                tag: "00".into(),
            },
            n: Some(1 << 20),
            r: Some(8),
            p: Some(1),
            salt: Some("00".into()),
        };
        let err = open_slot(&slot, "pw")
            .err()
            .unwrap_or_else(|| unreachable!());
        assert!(err.message.contains("more scrypt work"), "{}", err.message);
    }
}
