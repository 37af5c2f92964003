//! Keyward's importers, a crate of their own (the image, protobuf and scrypt code stays out of
//! the domain): imports from other authenticators and password managers: the seeds of a Google
//! Authenticator "Transfer accounts" export (`otpauth-migration://` URIs, a protobuf payload),
//! an Aegis vault (plain, or encrypted with a password: scrypt and AES-256-GCM as Aegis
//! documents), a 2FAS backup (plain), a Bitwarden JSON export (`login.totp`), or a list of
//! `otpauth://` URIs. Each becomes an [`Otpauth`]: checked like one typed by hand. Messages
//! never quote the input: it is full of secrets.

pub mod qr;

use keyward_domain::{Base32Secret, HashAlgorithm, Invalid, OtpParams, Otpauth};
use serde::Deserialize;
use zeroize::Zeroizing;

/// Entries in one import at most.
pub const MAX_ENTRIES: usize = 500;

/// Where an import comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImportFormat {
    GoogleAuthenticator,
    Aegis,
    TwoFas,
    Bitwarden,
    Otpauth,
}

impl ImportFormat {
    pub const ALL: [ImportFormat; 5] = [
        Self::GoogleAuthenticator,
        Self::Aegis,
        Self::TwoFas,
        Self::Bitwarden,
        Self::Otpauth,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::GoogleAuthenticator => "google-authenticator",
            Self::Aegis => "aegis",
            Self::TwoFas => "2fas",
            Self::Bitwarden => "bitwarden",
            Self::Otpauth => "otpauth",
        }
    }

    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        Self::ALL
            .into_iter()
            .find(|f| f.as_str() == raw.trim())
            .ok_or_else(|| {
                Invalid::new(
                    "invalid_format",
                    "format is one of google-authenticator, aegis, 2fas, bitwarden, otpauth",
                )
            })
    }
}

/// One seed found in an import, with where it was in the file.
pub struct ImportedSeed {
    /// Its place in the import, from 0.
    pub index: usize,
    pub otp: Otpauth,
}

fn bad(why: impl Into<String>) -> Invalid {
    Invalid::new("invalid_import", why.into())
}

/// Reads an import. `password` opens an encrypted Aegis vault.
pub fn parse_import(
    format: ImportFormat,
    data: &str,
    password: Option<&str>,
) -> Result<Vec<ImportedSeed>, Invalid> {
    let found = match format {
        ImportFormat::Otpauth => otpauth_list(data)?,
        ImportFormat::GoogleAuthenticator => google_authenticator(data)?,
        ImportFormat::Aegis => aegis(data, password)?,
        ImportFormat::TwoFas => two_fas(data)?,
        ImportFormat::Bitwarden => bitwarden(data)?,
    };
    if found.is_empty() {
        return Err(bad("the import holds no TOTP or HOTP seed"));
    }
    if found.len() > MAX_ENTRIES {
        return Err(bad(format!("an import holds at most {MAX_ENTRIES} seeds")));
    }
    Ok(found
        .into_iter()
        .enumerate()
        .map(|(index, otp)| ImportedSeed { index, otp })
        .collect())
}

/// An entry's place for messages: "entry 3".
fn at(i: usize) -> impl Fn(Invalid) -> Invalid {
    move |e| Invalid {
        message: format!("entry {}: {}", i + 1, e.message),
        ..e
    }
}

fn lines(data: &str) -> impl Iterator<Item = &str> {
    data.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
}

fn otpauth_list(data: &str) -> Result<Vec<Otpauth>, Invalid> {
    lines(data)
        .enumerate()
        .map(|(i, line)| Otpauth::parse(line).map_err(at(i)))
        .collect()
}

/// Google Authenticator's export payload (its protobuf definition, as published by the
/// projects that read these exports).
mod migration {
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Payload {
        #[prost(message, repeated, tag = "1")]
        pub otp_parameters: Vec<OtpParameters>,
        #[prost(int32, tag = "2")]
        pub version: i32,
        #[prost(int32, tag = "3")]
        pub batch_size: i32,
        #[prost(int32, tag = "4")]
        pub batch_index: i32,
        #[prost(int32, tag = "5")]
        pub batch_id: i32,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct OtpParameters {
        #[prost(bytes = "vec", tag = "1")]
        pub secret: Vec<u8>,
        #[prost(string, tag = "2")]
        pub name: String,
        #[prost(string, tag = "3")]
        pub issuer: String,
        /// 0 unspecified, 1 SHA1, 2 SHA256, 3 SHA512, 4 MD5.
        #[prost(int32, tag = "4")]
        pub algorithm: i32,
        /// 0 unspecified, 1 six, 2 eight.
        #[prost(int32, tag = "5")]
        pub digits: i32,
        /// 0 unspecified, 1 HOTP, 2 TOTP.
        #[prost(int32, tag = "6")]
        pub r#type: i32,
        #[prost(int64, tag = "7")]
        pub counter: i64,
    }
}

pub use migration::{OtpParameters as MigrationOtp, Payload as MigrationPayload};

fn google_authenticator(data: &str) -> Result<Vec<Otpauth>, Invalid> {
    let mut out = Vec::new();
    for (n, line) in lines(data).enumerate() {
        let url = url::Url::parse(line).map_err(|_| bad(format!("line {}: not a URI", n + 1)))?;
        if url.scheme() != "otpauth-migration" || url.host_str() != Some("offline") {
            return Err(bad(format!(
                "line {}: not an otpauth-migration://offline URI",
                n + 1
            )));
        }
        let encoded = url
            .query_pairs()
            .find(|(k, _)| k == "data")
            .map(|(_, v)| v.into_owned())
            .ok_or_else(|| bad(format!("line {}: the data parameter is missing", n + 1)))?;
        let bytes = Zeroizing::new(
            data_encoding::BASE64
                .decode(encoded.trim().as_bytes())
                .or_else(|_| data_encoding::BASE64_NOPAD.decode(encoded.trim().as_bytes()))
                .map_err(|_| bad(format!("line {}: the data is not base64", n + 1)))?,
        );
        let payload = <MigrationPayload as prost::Message>::decode(bytes.as_slice())
            .map_err(|_| bad(format!("line {}: the data is not an export payload", n + 1)))?;
        for mut p in payload.otp_parameters {
            let i = out.len();
            let secret =
                Base32Secret::from_checked_bytes(Zeroizing::new(std::mem::take(&mut p.secret)))
                    .map_err(at(i))?;
            let algorithm = match p.algorithm {
                0 | 1 => HashAlgorithm::Sha1,
                2 => HashAlgorithm::Sha256,
                3 => HashAlgorithm::Sha512,
                _ => return Err(at(i)(bad("MD5 seeds are not supported"))),
            };
            let digits = if p.digits == 2 { 8 } else { 6 };
            let mut params = if p.r#type == 1 {
                let counter = u64::try_from(p.counter)
                    .map_err(|_| at(i)(bad("the HOTP counter is negative")))?;
                OtpParams::hotp(algorithm, digits, counter)
            } else {
                OtpParams::totp(algorithm, digits, 30)
            }
            .map_err(at(i))?;
            let (issuer, label) = split_label(&p.name, Some(&p.issuer));
            params.issuer = issuer;
            params.label = label;
            out.push(Otpauth { secret, params });
        }
    }
    Ok(out)
}

/// An issuer and a label from a name such as `Instagram:brand` and an issuer field.
fn split_label(name: &str, issuer: Option<&str>) -> (Option<String>, Option<String>) {
    let clean = |s: &str| -> Option<String> {
        let t: String = s.chars().filter(|c| !c.is_control()).take(200).collect();
        Some(t.trim().to_owned()).filter(|t| !t.is_empty())
    };
    let issuer = issuer.and_then(clean);
    let label = clean(name);
    let issuer = issuer.or_else(|| {
        label
            .as_deref()
            .and_then(|l| l.split_once(':'))
            .and_then(|(i, _)| clean(i))
    });
    (issuer.map(|i| i.chars().take(100).collect()), label)
}

/// The fields apps keep apart.
#[derive(Default)]
struct Fields<'a> {
    secret: &'a str,
    kind: &'a str,
    algorithm: Option<&'a str>,
    digits: Option<u32>,
    period: Option<u64>,
    counter: Option<u64>,
    issuer: Option<&'a str>,
    label: Option<&'a str>,
}

/// Builds a seed from the fields apps keep apart.
fn from_fields(f: Fields<'_>) -> Result<Otpauth, Invalid> {
    let Fields {
        secret,
        kind,
        algorithm,
        digits,
        period,
        counter,
        issuer,
        label,
    } = f;
    let secret = Base32Secret::parse(secret)?;
    let algorithm = match algorithm {
        Some(a) => HashAlgorithm::parse(a)?,
        None => HashAlgorithm::Sha1,
    };
    let digits = digits.unwrap_or(6);
    let mut params = match kind.to_ascii_lowercase().as_str() {
        "totp" => OtpParams::totp(algorithm, digits, period.unwrap_or(30))?,
        "hotp" => OtpParams::hotp(algorithm, digits, counter.unwrap_or(0))?,
        other => {
            return Err(bad(format!(
                "{} seeds are not supported (only TOTP and HOTP)",
                if other.chars().all(|c| c.is_ascii_alphanumeric()) && other.len() < 16 {
                    other
                } else {
                    "these"
                }
            )))
        }
    };
    let (issuer, label) = split_label(label.unwrap_or_default(), issuer);
    params.issuer = issuer;
    params.label = label;
    Ok(Otpauth { secret, params })
}

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

fn aegis(data: &str, password: Option<&str>) -> Result<Vec<Otpauth>, Invalid> {
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
            let master = slots
                .iter()
                .filter(|s| s.kind == 1)
                .find_map(|slot| open_slot(slot, password).transpose())
                .transpose()?
                .ok_or_else(|| {
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
    if log_n > MAX_SCRYPT_LOG_N || r > 8 || p > 4 {
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

/// A 2FAS backup (plain).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TwoFasBackup {
    #[serde(default)]
    services: Vec<TwoFasService>,
    #[serde(default)]
    services_encrypted: Option<String>,
}

#[derive(Deserialize)]
struct TwoFasService {
    #[serde(default)]
    name: String,
    secret: Zeroizing<String>,
    otp: TwoFasOtp,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TwoFasOtp {
    #[serde(default)]
    label: Option<String>,
    #[serde(default)]
    account: Option<String>,
    #[serde(default)]
    issuer: Option<String>,
    #[serde(default)]
    digits: Option<u32>,
    #[serde(default)]
    period: Option<u64>,
    #[serde(default)]
    algorithm: Option<String>,
    #[serde(default)]
    token_type: Option<String>,
    #[serde(default)]
    counter: Option<u64>,
}

fn two_fas(data: &str) -> Result<Vec<Otpauth>, Invalid> {
    let backup: TwoFasBackup = serde_json::from_str(data.trim())
        .map_err(|_| bad("this is not a 2FAS backup (JSON with services)"))?;
    if backup.services_encrypted.is_some() && backup.services.is_empty() {
        return Err(bad(
            "this 2FAS backup is encrypted: export it again from 2FAS without a password",
        ));
    }
    backup
        .services
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let issuer = s.otp.issuer.as_deref().or(Some(s.name.as_str()));
            let label = s.otp.account.as_deref().or(s.otp.label.as_deref());
            from_fields(Fields {
                secret: &s.secret,
                kind: s.otp.token_type.as_deref().unwrap_or("TOTP"),
                algorithm: s.otp.algorithm.as_deref(),
                digits: s.otp.digits,
                period: s.otp.period,
                counter: s.otp.counter,
                issuer,
                label,
            })
            .map_err(at(i))
        })
        .collect()
}

/// A Bitwarden JSON export (unencrypted).
#[derive(Deserialize)]
struct BitwardenExport {
    #[serde(default)]
    encrypted: bool,
    #[serde(default)]
    items: Vec<BitwardenItem>,
}

#[derive(Deserialize)]
struct BitwardenItem {
    #[serde(default)]
    name: String,
    #[serde(default)]
    login: Option<BitwardenLogin>,
}

#[derive(Deserialize)]
struct BitwardenLogin {
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    totp: Option<Zeroizing<String>>,
}

fn bitwarden(data: &str) -> Result<Vec<Otpauth>, Invalid> {
    let export: BitwardenExport = serde_json::from_str(data.trim())
        .map_err(|_| bad("this is not a Bitwarden JSON export (with items)"))?;
    if export.encrypted {
        return Err(bad(
            "this Bitwarden export is encrypted: export it again as plain JSON",
        ));
    }
    let mut out = Vec::new();
    for item in &export.items {
        let Some(login) = &item.login else { continue };
        let Some(totp) = login.totp.as_ref().filter(|t| !t.trim().is_empty()) else {
            continue;
        };
        let i = out.len();
        let otp = if totp.trim_start().starts_with("otpauth://") {
            let mut otp = Otpauth::parse(totp).map_err(at(i))?;
            if otp.params.issuer.is_none() {
                otp.params.issuer = split_label("", Some(&item.name)).0;
            }
            otp
        } else if totp.trim_start().starts_with("steam://") {
            return Err(at(i)(bad("Steam Guard codes are not supported")));
        } else {
            from_fields(Fields {
                secret: totp,
                kind: "totp",
                issuer: Some(&item.name),
                label: login.username.as_deref(),
                ..Fields::default()
            })
            .map_err(at(i))?
        };
        out.push(otp);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEED: &str = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP";

    #[test]
    fn a_list_of_otpauth_uris_reads_each_line_and_names_a_bad_one() {
        let text = format!(
            "# exported\notpauth://totp/Instagram:brand?secret={SEED}&issuer=Instagram\n\n otpauth://hotp/GitHub:bot?secret={SEED}&counter=7 \n"
        );
        let seeds = parse_import(ImportFormat::Otpauth, &text, None).unwrap();
        assert_eq!(seeds.len(), 2);
        assert_eq!(seeds[1].otp.params.initial_counter, Some(7));
        let err = parse_import(ImportFormat::Otpauth, "otpauth://totp/x?secret=JBSW", None)
            .err()
            .unwrap();
        assert!(err.message.starts_with("entry 1: "), "{}", err.message);
        assert!(!err.message.contains("JBSW"));
    }

    #[test]
    fn formats_name_themselves_and_empty_imports_are_refused() {
        for f in ImportFormat::ALL {
            assert_eq!(ImportFormat::parse(f.as_str()), Ok(f));
        }
        assert!(ImportFormat::parse("lastpass").is_err());
        let err = parse_import(ImportFormat::Otpauth, "# nothing\n", None)
            .err()
            .unwrap();
        assert_eq!(err.code, "invalid_import");
    }

    #[test]
    fn labels_give_issuers_when_the_field_is_empty() {
        assert_eq!(
            split_label("Instagram:brand", Some("")),
            (
                Some("Instagram".to_owned()),
                Some("Instagram:brand".to_owned())
            )
        );
        assert_eq!(split_label("brand", None), (None, Some("brand".to_owned())));
    }

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
        let err = open_slot(&slot, "pw").err().unwrap();
        assert!(err.message.contains("more scrypt work"), "{}", err.message);
    }
}
