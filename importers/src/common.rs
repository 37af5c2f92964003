//! What the parsers share: errors that never quote the input, and seeds built from the fields
//! apps keep apart.

use keyward_domain::{Base32Secret, HashAlgorithm, Invalid, OtpParams, Otpauth};

pub(crate) fn bad(why: impl Into<String>) -> Invalid {
    Invalid::new("invalid_import", why.into())
}

/// 422 `cancelled`: the request that asked for the work has gone.
pub fn cancelled() -> Invalid {
    Invalid::new("cancelled", "the request was cancelled")
}

/// An entry's place for messages: "entry 3".
pub(crate) fn at(i: usize) -> impl Fn(Invalid) -> Invalid {
    move |e| Invalid {
        message: format!("entry {}: {}", i + 1, e.message),
        ..e
    }
}

/// An issuer and a label from a name such as `Instagram:brand` and an issuer field.
pub(crate) fn split_label(name: &str, issuer: Option<&str>) -> (Option<String>, Option<String>) {
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
pub(crate) struct Fields<'a> {
    pub(crate) secret: &'a str,
    pub(crate) kind: &'a str,
    pub(crate) algorithm: Option<&'a str>,
    pub(crate) digits: Option<u32>,
    pub(crate) period: Option<u64>,
    pub(crate) counter: Option<u64>,
    pub(crate) issuer: Option<&'a str>,
    pub(crate) label: Option<&'a str>,
}

/// Builds a seed from the fields apps keep apart.
pub(crate) fn from_fields(f: Fields<'_>) -> Result<Otpauth, Invalid> {
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
