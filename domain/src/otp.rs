//! One-time-password material: Base32 seeds, RFC 6238/4226 parameters and `otpauth://` URIs.
//! Code generation delegates to `totp-rs`; seeds stay in zeroizing buffers.

use super::Invalid;
use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, Zeroizing};

/// HMAC hash of an OTP (RFC 6238 allows SHA1, SHA256, SHA512).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum HashAlgorithm {
    Sha1,
    Sha256,
    Sha512,
}

impl HashAlgorithm {
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        match raw.trim().to_ascii_uppercase().replace('-', "").as_str() {
            "SHA1" => Ok(Self::Sha1),
            "SHA256" => Ok(Self::Sha256),
            "SHA512" => Ok(Self::Sha512),
            _ => Err(Invalid::new(
                "unsupported_algorithm",
                "algorithm must be SHA1, SHA256 or SHA512",
            )),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sha1 => "SHA1",
            Self::Sha256 => "SHA256",
            Self::Sha512 => "SHA512",
        }
    }

    fn to_totp_rs(self) -> totp_rs::Algorithm {
        match self {
            Self::Sha1 => totp_rs::Algorithm::SHA1,
            Self::Sha256 => totp_rs::Algorithm::SHA256,
            Self::Sha512 => totp_rs::Algorithm::SHA512,
        }
    }
}

/// TOTP (time-based) or HOTP (counter-based).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OtpKind {
    Totp,
    Hotp,
}

impl OtpKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Totp => "totp",
            Self::Hotp => "hotp",
        }
    }
}

/// The non-secret parameters of an OTP seed, stored in clear beside its ciphertext.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OtpParams {
    pub algorithm: HashAlgorithm,
    pub digits: u32,
    /// TOTP period in seconds; absent for HOTP.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub period: Option<u64>,
    /// HOTP counter at import; the live counter is a database column.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initial_counter: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
}

impl OtpParams {
    pub fn totp(algorithm: HashAlgorithm, digits: u32, period: u64) -> Result<Self, Invalid> {
        check_digits(digits)?;
        if period != 30 && period != 60 {
            return Err(Invalid::new(
                "invalid_period",
                "period must be 30 or 60 seconds",
            ));
        }
        Ok(Self {
            algorithm,
            digits,
            period: Some(period),
            initial_counter: None,
            issuer: None,
            label: None,
        })
    }

    /// The largest HOTP counter accepted: 2^53 − 1, exact in every JSON client, and far from
    /// the database's limit, so a stored counter can always advance.
    pub const MAX_COUNTER: u64 = (1 << 53) - 1;

    pub fn hotp(algorithm: HashAlgorithm, digits: u32, counter: u64) -> Result<Self, Invalid> {
        check_digits(digits)?;
        if counter > Self::MAX_COUNTER {
            return Err(Invalid::new(
                "invalid_counter",
                format!("counter is at most {}", Self::MAX_COUNTER),
            ));
        }
        Ok(Self {
            algorithm,
            digits,
            period: None,
            initial_counter: Some(counter),
            issuer: None,
            label: None,
        })
    }

    pub fn kind(&self) -> OtpKind {
        if self.period.is_some() {
            OtpKind::Totp
        } else {
            OtpKind::Hotp
        }
    }
}

fn check_digits(digits: u32) -> Result<(), Invalid> {
    if digits == 6 || digits == 8 {
        Ok(())
    } else {
        Err(Invalid::new("invalid_digits", "digits must be 6 or 8"))
    }
}

/// A decoded OTP seed. No Debug or Display: it can only be used, not printed.
pub struct Base32Secret(Zeroizing<Vec<u8>>);

impl Base32Secret {
    /// Accepts Base32 with spaces, hyphens, lowercase and missing padding.
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let mut cleaned: Zeroizing<String> = Zeroizing::new(
            raw.chars()
                .filter(|c| !c.is_whitespace() && *c != '-' && *c != '=')
                .map(|c| c.to_ascii_uppercase())
                .collect(),
        );
        let decoded = data_encoding::BASE32_NOPAD
            .decode(cleaned.as_bytes())
            .map_err(|_| Invalid::new("invalid_secret", "the secret is not valid Base32"));
        cleaned.zeroize();
        let bytes = Zeroizing::new(decoded?);
        // RFC 4226 asks for 128 bits; platforms still issue 80-bit seeds, so 80 is the floor.
        if bytes.len() < 10 {
            return Err(Invalid::new(
                "invalid_secret",
                "the secret is too short (at least 16 Base32 characters)",
            ));
        }
        if bytes.len() > 128 {
            return Err(Invalid::new("invalid_secret", "the secret is too long"));
        }
        Ok(Self(bytes))
    }

    pub fn from_bytes(bytes: Zeroizing<Vec<u8>>) -> Self {
        Self(bytes)
    }

    /// Raw seed bytes from an import, held to the same length limits as typed Base32.
    pub fn from_checked_bytes(bytes: Zeroizing<Vec<u8>>) -> Result<Self, Invalid> {
        if bytes.len() < 10 {
            return Err(Invalid::new(
                "invalid_secret",
                "the secret is too short (at least 80 bits)",
            ));
        }
        if bytes.len() > 128 {
            return Err(Invalid::new("invalid_secret", "the secret is too long"));
        }
        Ok(Self(bytes))
    }

    pub fn expose_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Canonical Base32 (no padding), for export only.
    pub fn to_base32(&self) -> Zeroizing<String> {
        Zeroizing::new(data_encoding::BASE32_NOPAD.encode(&self.0))
    }

    /// The code for a counter value (HOTP) or a time step (TOTP: counter = unix time / period).
    pub fn code_at_counter(
        &self,
        algorithm: HashAlgorithm,
        digits: u32,
        counter: u64,
    ) -> Zeroizing<String> {
        // A TOTP with a one-second step at "time" c is exactly HOTP(c).
        let mut generator = totp_rs::TOTP::new_unchecked(
            algorithm.to_totp_rs(),
            digits as usize,
            0,
            1,
            self.0.to_vec(),
        );
        let code = Zeroizing::new(generator.generate(counter));
        generator.secret.zeroize();
        code
    }
}

/// An `otpauth://` URI: the seed and its parameters, as authenticator apps exchange them.
pub struct Otpauth {
    pub secret: Base32Secret,
    pub params: OtpParams,
}

/// RFC 3986 unreserved characters stay as they are; everything else in a label is encoded.
const LABEL_SET: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b'@');

impl Otpauth {
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let bad =
            |why: &str| Invalid::new("invalid_otpauth_uri", format!("invalid otpauth URI: {why}"));
        let url = url::Url::parse(raw.trim()).map_err(|_| bad("not a URI"))?;
        if url.scheme() != "otpauth" {
            return Err(bad("the scheme must be otpauth"));
        }
        let kind = match url.host_str().map(str::to_ascii_lowercase).as_deref() {
            Some("totp") => OtpKind::Totp,
            Some("hotp") => OtpKind::Hotp,
            _ => return Err(bad("the type must be totp or hotp")),
        };
        let label = percent_decode_str(url.path().trim_start_matches('/'))
            .decode_utf8()
            .map_err(|_| bad("the label is not UTF-8"))?
            .into_owned();
        let mut secret = None;
        let (mut algorithm, mut digits, mut period, mut counter, mut issuer) =
            (HashAlgorithm::Sha1, 6u32, 30u64, None, None);
        for (key, value) in url.query_pairs() {
            match key.to_ascii_lowercase().as_str() {
                "secret" => secret = Some(Base32Secret::parse(&value)?),
                "algorithm" => algorithm = HashAlgorithm::parse(&value)?,
                "digits" => {
                    digits = value
                        .parse()
                        .map_err(|_| Invalid::new("invalid_digits", "digits must be 6 or 8"))?
                }
                "period" => {
                    period = value.parse().map_err(|_| {
                        Invalid::new("invalid_period", "period must be 30 or 60 seconds")
                    })?
                }
                "counter" => {
                    counter = Some(value.parse::<u64>().map_err(|_| {
                        Invalid::new("invalid_counter", "counter must be a whole number")
                    })?)
                }
                "issuer" => issuer = Some(value.into_owned()),
                _ => {}
            }
        }
        let secret = secret.ok_or_else(|| bad("the secret parameter is missing"))?;
        let mut params = match kind {
            OtpKind::Totp => OtpParams::totp(algorithm, digits, period)?,
            OtpKind::Hotp => OtpParams::hotp(
                algorithm,
                digits,
                counter.ok_or_else(|| bad("an hotp URI needs a counter"))?,
            )?,
        };
        // Control characters go first: a label of nothing but them is no label.
        params.issuer = issuer
            .map(|i| truncate(&i, 100))
            .filter(|i| !i.trim().is_empty());
        // "." and ".." are path steps in a URI, not labels: written back, they would vanish.
        params.label =
            Some(truncate(&label, 200)).filter(|l| !l.trim().is_empty() && l != "." && l != "..");
        Ok(Self { secret, params })
    }

    /// Builds the URI; `counter` is the live HOTP counter (ignored for TOTP).
    pub fn to_uri(&self, fallback_label: &str, counter: Option<u64>) -> Zeroizing<String> {
        let label = self.params.label.as_deref().unwrap_or(fallback_label);
        let mut uri = format!(
            "otpauth://{}/{}?secret={}&algorithm={}&digits={}",
            self.params.kind().as_str(),
            utf8_percent_encode(label, LABEL_SET),
            self.secret.to_base32().as_str(),
            self.params.algorithm.as_str(),
            self.params.digits,
        );
        if let Some(period) = self.params.period {
            uri.push_str(&format!("&period={period}"));
        }
        if self.params.kind() == OtpKind::Hotp {
            uri.push_str(&format!(
                "&counter={}",
                counter.or(self.params.initial_counter).unwrap_or(0)
            ));
        }
        if let Some(issuer) = &self.params.issuer {
            uri.push_str(&format!(
                "&issuer={}",
                utf8_percent_encode(issuer, LABEL_SET)
            ));
        }
        Zeroizing::new(uri)
    }
}

fn truncate(text: &str, max_chars: usize) -> String {
    text.chars()
        .filter(|c| !c.is_control())
        .take(max_chars)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    // RFC 6238 appendix B seeds: the ASCII "1234567890" repeated to the hash's size.
    const SEED_SHA1: &[u8] = b"12345678901234567890";
    const SEED_SHA256: &[u8] = b"12345678901234567890123456789012";
    const SEED_SHA512: &[u8] = b"1234567890123456789012345678901234567890123456789012345678901234";

    fn seed(bytes: &[u8]) -> Base32Secret {
        Base32Secret::from_bytes(Zeroizing::new(bytes.to_vec()))
    }

    #[test]
    fn a_label_or_issuer_of_control_characters_only_is_no_label() {
        // Found by the otpauth fuzz target: such a label was kept as "", so an export wrote an
        // empty label instead of the account's own.
        let Ok(otp) = Otpauth::parse("otpauth://totp/%00%01%1d?secret=JBSWY3DPEHPK3PXP&issuer=%02")
        else {
            unreachable!("valid URI")
        };
        assert_eq!((otp.params.label, otp.params.issuer), (None, None));
        // Found next: "." once its control characters are gone, which a URI cannot carry.
        let Ok(dot) = Otpauth::parse("otpauth://hotp/.%00%00?secret=JBSWY3DPEHPK3PXP&counter=7")
        else {
            unreachable!("valid URI")
        };
        assert_eq!(dot.params.label, None);
    }

    #[test]
    fn rfc6238_test_vectors_give_the_published_codes() {
        let vectors: [(u64, &str, &str, &str); 6] = [
            (59, "94287082", "46119246", "90693936"),
            (1111111109, "07081804", "68084774", "25091201"),
            (1111111111, "14050471", "67062674", "99943326"),
            (1234567890, "89005924", "91819424", "93441116"),
            (2000000000, "69279037", "90698825", "38618901"),
            (20000000000, "65353130", "77737706", "47863826"),
        ];
        for (time, sha1, sha256, sha512) in vectors {
            let step = time / 30;
            assert_eq!(
                seed(SEED_SHA1)
                    .code_at_counter(HashAlgorithm::Sha1, 8, step)
                    .as_str(),
                sha1
            );
            assert_eq!(
                seed(SEED_SHA256)
                    .code_at_counter(HashAlgorithm::Sha256, 8, step)
                    .as_str(),
                sha256
            );
            assert_eq!(
                seed(SEED_SHA512)
                    .code_at_counter(HashAlgorithm::Sha512, 8, step)
                    .as_str(),
                sha512
            );
        }
    }

    #[test]
    fn rfc4226_test_vectors_give_the_published_codes() {
        let expected = [
            "755224", "287082", "359152", "969429", "338314", "254676", "287922", "162583",
            "399871", "520489",
        ];
        for (counter, code) in expected.iter().enumerate() {
            assert_eq!(
                seed(SEED_SHA1)
                    .code_at_counter(HashAlgorithm::Sha1, 6, counter as u64)
                    .as_str(),
                *code
            );
        }
    }

    #[test]
    fn base32_accepts_spaces_lowercase_and_missing_padding() {
        let canonical = Base32Secret::parse("GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ")
            .map(|s| s.expose_bytes().to_vec());
        assert_eq!(canonical.as_deref().ok(), Some(SEED_SHA1));
        for variant in [
            "gezd gnbv gy3t qojq gezd gnbv gy3t qojq",
            "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ====",
            "gezdgnbv-gy3tqojq-gezdgnbv-gy3tqojq",
        ] {
            let parsed = Base32Secret::parse(variant).map(|s| s.expose_bytes().to_vec());
            assert_eq!(parsed.as_deref().ok(), Some(SEED_SHA1), "{variant}");
        }
        assert_eq!(
            Base32Secret::parse("not base32!").err().map(|e| e.code),
            Some("invalid_secret")
        );
        assert_eq!(
            Base32Secret::parse("GEZDGNBV").err().map(|e| e.code),
            Some("invalid_secret")
        );
    }

    #[test]
    fn otpauth_uris_round_trip_with_their_parameters() {
        let uri = "otpauth://totp/ACME%20Co:%40brand?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=ACME%20Co&algorithm=SHA256&digits=8&period=60";
        let parsed = Otpauth::parse(uri).map_err(|e| e.code);
        let Ok(parsed) = parsed else {
            unreachable!("{:?}", parsed.err())
        };
        assert_eq!(parsed.params.algorithm, HashAlgorithm::Sha256);
        assert_eq!((parsed.params.digits, parsed.params.period), (8, Some(60)));
        assert_eq!(parsed.params.label.as_deref(), Some("ACME Co:@brand"));
        assert_eq!(parsed.params.issuer.as_deref(), Some("ACME Co"));
        let again = Otpauth::parse(&parsed.to_uri("unused", None)).map_err(|e| e.code);
        let Ok(again) = again else {
            unreachable!("{:?}", again.err())
        };
        assert_eq!(again.params, parsed.params);
        assert_eq!(again.secret.expose_bytes(), parsed.secret.expose_bytes());
    }

    #[test]
    fn otpauth_uris_with_bad_parts_are_refused_with_a_precise_code() {
        let cases = [
            ("https://example.com", "invalid_otpauth_uri"),
            ("otpauth://totp/x?issuer=a", "invalid_otpauth_uri"),
            (
                "otpauth://totp/x?secret=GEZDGNBVGY3TQOJQ&digits=7",
                "invalid_digits",
            ),
            (
                "otpauth://totp/x?secret=GEZDGNBVGY3TQOJQ&period=45",
                "invalid_period",
            ),
            (
                "otpauth://totp/x?secret=GEZDGNBVGY3TQOJQ&algorithm=MD5",
                "unsupported_algorithm",
            ),
            (
                "otpauth://hotp/x?secret=GEZDGNBVGY3TQOJQ",
                "invalid_otpauth_uri",
            ),
            (
                "otpauth://hotp/x?secret=GEZDGNBVGY3TQOJQ&counter=-1",
                "invalid_counter",
            ),
            (
                "otpauth://steam/x?secret=GEZDGNBVGY3TQOJQ",
                "invalid_otpauth_uri",
            ),
        ];
        for (uri, code) in cases {
            assert_eq!(
                Otpauth::parse(uri).err().map(|e| e.code),
                Some(code),
                "{uri}"
            );
        }
    }

    #[test]
    fn hotp_uris_carry_the_live_counter_on_export() {
        let parsed = Otpauth::parse("otpauth://hotp/bot?secret=GEZDGNBVGY3TQOJQ&counter=5");
        let Ok(parsed) = parsed else { unreachable!() };
        assert_eq!(parsed.params.initial_counter, Some(5));
        assert!(parsed.to_uri("bot", Some(9)).contains("counter=9"));
    }
}
