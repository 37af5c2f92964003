//! The device sign-in's user code (RFC 8628, 6.1): 8 characters from a consonant alphabet,
//! shown as `XXXX-XXXX`, typed in any case with or without the dash.

use crate::Invalid;

/// The characters a user code is made of: no vowels (no words), none that look alike.
pub const USER_CODE_ALPHABET: &[u8; 20] = b"BCDFGHJKLMNPQRSTVWXZ";

/// A user code, normalised (8 upper-case letters, no dash).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserCode(String);

impl UserCode {
    pub const LEN: usize = 8;

    /// A code from 8 random values (each reduced to the alphabet without bias by the caller:
    /// values below 240 only).
    pub fn from_indices(indices: [u8; Self::LEN]) -> Self {
        Self(
            indices
                .iter()
                .map(|i| USER_CODE_ALPHABET[usize::from(*i) % USER_CODE_ALPHABET.len()] as char)
                .collect(),
        )
    }

    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let code: String = raw
            .chars()
            .filter(|c| !matches!(c, '-' | ' '))
            .map(|c| c.to_ascii_uppercase())
            .collect();
        if code.is_empty() {
            return Err(Invalid::required(
                "user_code_required",
                "type the code the command line shows",
            ));
        }
        if code.chars().count() != Self::LEN
            || !code.bytes().all(|b| USER_CODE_ALPHABET.contains(&b))
        {
            return Err(Invalid::new(
                "invalid_user_code",
                "the code is 8 letters, as XXXX-XXXX; check what the command line shows",
            ));
        }
        Ok(Self(code))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `XXXX-XXXX`.
    pub fn display(&self) -> String {
        format!("{}-{}", &self.0[..4], &self.0[4..])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_codes_are_typed_loosely_and_shown_with_a_dash() {
        let code = UserCode::parse(" bcdf-ghjk ").expect("valid");
        assert_eq!(code.as_str(), "BCDFGHJK");
        assert_eq!(code.display(), "BCDF-GHJK");
        assert_eq!(
            UserCode::parse("BCDFGHJK").map(|c| c.display()),
            Ok("BCDF-GHJK".into())
        );
        for bad in ["BCDF-GHJ", "BCDF-GHJKL", "ABCD-EFGH", "BCDF-GHJ1"] {
            assert_eq!(
                UserCode::parse(bad).map_err(|e| e.code),
                Err("invalid_user_code"),
                "{bad}"
            );
        }
        assert_eq!(
            UserCode::parse("").map_err(|e| (e.code, e.required)),
            Err(("user_code_required", true))
        );
    }

    #[test]
    fn codes_from_random_values_use_the_alphabet_only() {
        let code = UserCode::from_indices([0, 1, 2, 3, 19, 20, 39, 239]);
        assert!(code
            .as_str()
            .bytes()
            .all(|b| USER_CODE_ALPHABET.contains(&b)));
        assert_eq!(code.as_str().len(), 8);
        assert!(UserCode::parse(code.as_str()).is_ok());
    }
}
