//! Break-glass share text: `kwshare1-<escrow id>-<index>-<base32 of the share bytes>-<check>`.
//! The share bytes are the Vault / `shamir-secret-sharing` layout (the y-bytes, then the
//! x-byte). The check is the CRC-32 of everything before it, in Base32: a CRC-32 catches every
//! burst of up to 32 flipped bits, so any one mistyped character (and any two swapped
//! neighbours) is always caught. Reading is forgiving of case, spaces and line breaks.

use crate::Invalid;
use zeroize::Zeroizing;

const PREFIX: &str = "kwshare1-";
const CRC: crc::Crc<u32> = crc::Crc::<u32>::new(&crc::CRC_32_ISO_HDLC);

/// The most custodians an escrow has.
pub const MAX_SHARES: u8 = 16;

/// One custodian's share of an escrow key. Never printed, logged or compared in clear.
pub struct ShareText {
    pub escrow: String,
    pub index: u8,
    /// The share bytes: y-bytes, then the x-byte.
    pub bytes: Zeroizing<Vec<u8>>,
}

/// The check of a share's lower-case text.
fn check(text: &str) -> String {
    data_encoding::BASE32_NOPAD
        .encode(&CRC.checksum(text.as_bytes()).to_be_bytes())
        .to_lowercase()
}

fn invalid(message: &str) -> Invalid {
    Invalid::new("invalid_share", message.to_owned())
}

impl ShareText {
    /// The text a custodian keeps.
    pub fn encode(escrow: &str, index: u8, bytes: &[u8]) -> Zeroizing<String> {
        let body = Zeroizing::new(format!(
            "{PREFIX}{}-{index}-{}",
            escrow.to_lowercase(),
            data_encoding::BASE32_NOPAD.encode(bytes).to_lowercase()
        ));
        let sum = check(&body);
        Zeroizing::new(format!("{}-{sum}", body.as_str()))
    }

    /// Reads a share as a custodian typed or pasted it. Errors never quote it.
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        if raw.len() > 1024 {
            return Err(invalid(
                "a share is about 100 characters; this is far longer",
            ));
        }
        let text: Zeroizing<String> = Zeroizing::new(
            raw.chars()
                .filter(|c| !c.is_whitespace())
                .collect::<String>()
                .to_lowercase(),
        );
        let rest = text
            .strip_prefix(PREFIX)
            .ok_or_else(|| invalid("a share starts with kwshare1-"))?;
        let (body, sum) = text
            .rsplit_once('-')
            .ok_or_else(|| invalid("the share is incomplete"))?;
        if check(body) != sum {
            return Err(invalid(
                "the share's check does not match: a character is mistyped or missing",
            ));
        }
        let escrow = rest
            .get(..36)
            .filter(|id| crate::is_id(id))
            .ok_or_else(|| invalid("the share does not name an escrow"))?;
        let after = rest
            .get(36..)
            .and_then(|r| r.strip_prefix('-'))
            .ok_or_else(|| invalid("the share is incomplete"))?;
        let (index, data) = after
            .split_once('-')
            .ok_or_else(|| invalid("the share is incomplete"))?;
        let index: u8 = index
            .parse()
            .ok()
            .filter(|i| (1..=MAX_SHARES).contains(i))
            .ok_or_else(|| invalid("the share's number is not 1 to 16"))?;
        let data = data
            .strip_suffix(&format!("-{sum}"))
            .ok_or_else(|| invalid("the share is incomplete"))?;
        let bytes = Zeroizing::new(
            data_encoding::BASE32_NOPAD
                .decode(data.to_uppercase().as_bytes())
                .map_err(|_| invalid("the share is not readable"))?,
        );
        if bytes.len() != 33 {
            return Err(invalid("the share has the wrong length"));
        }
        Ok(Self {
            escrow: escrow.to_owned(),
            index,
            bytes,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ESCROW: &str = "01a22e8c-337a-749d-8339-096970b50f63";

    fn share() -> Zeroizing<String> {
        let bytes: Vec<u8> = (0..33).collect();
        ShareText::encode(ESCROW, 3, &bytes)
    }

    #[test]
    fn a_share_reads_back_whatever_its_case_and_line_breaks() {
        let text = share();
        assert!(text.starts_with("kwshare1-01a22e8c-337a-749d-8339-096970b50f63-3-"));
        let messy = format!(" {}\n", text.to_uppercase().replace('-', "-\n"));
        let parsed = ShareText::parse(&messy).map(|s| (s.escrow, s.index, s.bytes.to_vec()));
        assert_eq!(parsed.ok(), Some((ESCROW.to_owned(), 3, (0..33).collect())));
    }

    #[test]
    fn every_single_mistyped_character_and_swap_is_caught() {
        let text = share();
        let chars: Vec<char> = text.chars().collect();
        let alphabet = "abcdefghijklmnopqrstuvwxyz234567-0189";
        for i in 0..chars.len() {
            for replacement in alphabet.chars() {
                if replacement == chars[i]
                    || (chars[i].is_ascii_alphabetic()
                        && replacement == chars[i].to_ascii_lowercase())
                {
                    continue;
                }
                let mut typo = chars.clone();
                typo[i] = replacement;
                let typo: String = typo.into_iter().collect();
                assert!(ShareText::parse(&typo).is_err(), "{i} {replacement}");
            }
            if i + 1 < chars.len() && chars[i] != chars[i + 1] {
                let mut swapped = chars.clone();
                swapped.swap(i, i + 1);
                let swapped: String = swapped.into_iter().collect();
                assert!(ShareText::parse(&swapped).is_err(), "swap at {i}");
            }
        }
    }

    #[test]
    fn errors_never_quote_the_share() {
        let text = share();
        let broken = format!("{}x", text.as_str());
        let err = ShareText::parse(&broken)
            .err()
            .map(|e| e.message)
            .unwrap_or_default();
        assert!(!err.contains(&text[20..40]), "{err}");
        assert_eq!(
            ShareText::parse("kwshare2-x").err().map(|e| e.code),
            Some("invalid_share")
        );
    }
}
