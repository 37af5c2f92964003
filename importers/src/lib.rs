//! Keyward's importers, a crate of their own (the image, protobuf and scrypt code stays out of
//! the domain): imports from other authenticators and password managers: the seeds of a Google
//! Authenticator "Transfer accounts" export (`otpauth-migration://` URIs, a protobuf payload),
//! an Aegis vault (plain, or encrypted with a password: scrypt and AES-256-GCM as Aegis
//! documents), a 2FAS backup (plain), a Bitwarden JSON export (`login.totp`), or a list of
//! `otpauth://` URIs. Each becomes an [`Otpauth`]: checked like one typed by hand. Messages
//! never quote the input: it is full of secrets.

mod aegis;
mod common;
pub mod qr;

pub use aegis::MAX_PASSWORD_SLOTS;
pub use common::cancelled;
use common::{at, bad, from_fields, split_label, Fields};

use keyward_domain::{Base32Secret, HashAlgorithm, Invalid, OtpParams, Otpauth};
use serde::Deserialize;
use std::sync::atomic::AtomicBool;
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

/// Reads an import. `password` opens an encrypted Aegis vault.
pub fn parse_import(
    format: ImportFormat,
    data: &str,
    password: Option<&str>,
) -> Result<Vec<ImportedSeed>, Invalid> {
    parse_import_until(format, data, password, &AtomicBool::new(false))
}

/// [`parse_import`] that stops (with [`cancelled`]) between costly steps once `cancel` is set:
/// the request that asked for it has gone.
pub fn parse_import_until(
    format: ImportFormat,
    data: &str,
    password: Option<&str>,
    cancel: &AtomicBool,
) -> Result<Vec<ImportedSeed>, Invalid> {
    let found = match format {
        ImportFormat::Otpauth => otpauth_list(data)?,
        ImportFormat::GoogleAuthenticator => google_authenticator(data)?,
        ImportFormat::Aegis => aegis::aegis(data, password, cancel)?,
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

    fn locked_vault(slots: usize) -> String {
        let slot = serde_json::json!({
            "type": 1, "key": "00".repeat(32),
            "key_params": {"nonce": "00".repeat(12), "tag": "00".repeat(16)},
            "n": 32768, "r": 8, "p": 1, "salt": "00".repeat(32)
        });
        serde_json::json!({
            "header": {"slots": vec![slot; slots], "params": {"nonce": "00".repeat(12), "tag": "00".repeat(16)}},
            "db": "AAAA"
        })
        .to_string()
    }

    #[test]
    fn a_cancelled_import_stops_before_the_next_password_slot() {
        let vault = locked_vault(2);
        let cancel = AtomicBool::new(true);
        let err = parse_import_until(ImportFormat::Aegis, &vault, Some("pw"), &cancel).err();
        assert_eq!(err.map(|e| e.code), Some("cancelled"));
        // Not cancelled: every slot is tried, and none opens.
        let err = parse_import_until(
            ImportFormat::Aegis,
            &vault,
            Some("pw"),
            &AtomicBool::new(false),
        )
        .err();
        assert_eq!(err.map(|e| e.code), Some("wrong_password"));
    }

    #[test]
    fn more_password_slots_than_allowed_are_refused_whole() {
        let err = parse_import(
            ImportFormat::Aegis,
            &locked_vault(MAX_PASSWORD_SLOTS + 1),
            Some("pw"),
        )
        .err();
        assert_eq!(err.map(|e| e.code), Some("too_many_slots"));
    }

    #[test]
    fn cancelled_screenshots_stop_before_decoding() {
        let mut png = std::io::Cursor::new(Vec::new());
        assert!(image::DynamicImage::ImageLuma8(image::GrayImage::new(8, 8))
            .write_to(&mut png, image::ImageFormat::Png)
            .is_ok());
        let files = vec![png.into_inner()];
        let err = qr::texts_of_images(&files, &AtomicBool::new(true)).err();
        assert_eq!(err.map(|e| e.code), Some("cancelled"));
        let err = qr::texts_of_images(&files, &AtomicBool::new(false)).err();
        assert_eq!(err.map(|e| e.code), Some("no_qr_code"));
        let eleven = vec![files[0].clone(); qr::MAX_IMAGES + 1];
        let err = qr::texts_of_images(&eleven, &AtomicBool::new(false)).err();
        assert_eq!(err.map(|e| e.code), Some("too_many_images"));
    }

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
}
