//! Backup codes as people type and paste them: normalisation, a generation's ordered list,
//! pasted blocks as platforms show them, and the hints a typed code earns.

use super::Invalid;
use zeroize::Zeroizing;

/// Warnings an account or a generation can carry.
pub mod warning {
    /// Unused codes are at or below the configured threshold.
    pub const LOW_CODES: &str = "low_backup_codes";
    /// One more rejected code may make the platform lock sign-in.
    pub const FAILED_ATTEMPTS: &str = "failed_attempts";
}

/// What the caller reports about a code they used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeOutcome {
    Worked,
    Rejected,
}

impl CodeOutcome {
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "worked" => Some(Self::Worked),
            "rejected" => Some(Self::Rejected),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Worked => "worked",
            Self::Rejected => "rejected",
        }
    }
}

/// Shortest and longest code accepted, after normalisation.
pub const CODE_CHARS: std::ops::RangeInclusive<usize> = 6..=32;
/// Most codes one generation may hold (platforms issue 5 to 20).
pub const MAX_CODES: usize = 50;

/// Look-alike groups: a typed character may have been meant as another of its group.
const LOOK_ALIKES: &[&[char]] = &[
    &['O', '0'],
    &['I', '1', 'L'],
    &['S', '5'],
    &['B', '8'],
    &['Z', '2'],
];

/// Most look-alike variants tried for one typed code. Each counts as a guess against the
/// account's verify budget, so a code typed with many ambiguous characters is not turned into
/// thousands of guesses.
pub const MAX_VARIANTS: usize = 64;

/// Folds full-width forms (as typed with a Japanese IME) to ASCII.
fn fold_width(c: char) -> char {
    match c {
        '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
        '\u{2010}'..='\u{2015}' | '\u{2212}' | '\u{30FC}' => '-',
        _ => c,
    }
}

/// The canonical form: no whitespace, no hyphens, upper case, ASCII letters and digits only.
pub fn normalise(raw: &str) -> Option<Zeroizing<String>> {
    let mut out = Zeroizing::new(String::with_capacity(raw.len()));
    for c in raw.chars().map(fold_width) {
        if c.is_whitespace() || c == '-' {
            continue;
        }
        if !c.is_ascii_alphanumeric() {
            return None;
        }
        out.push(c.to_ascii_uppercase());
    }
    Some(out)
}

/// The form a code is kept and handed out in: as the platform shows it, trimmed, runs of
/// whitespace collapsed to one space, full-width forms folded.
fn display_form(raw: &str) -> Zeroizing<String> {
    let folded: Zeroizing<String> = Zeroizing::new(raw.chars().map(fold_width).collect());
    Zeroizing::new(folded.split_whitespace().collect::<Vec<_>>().join(" "))
}

/// One code of a generation: how the platform shows it, and its canonical form.
pub struct BackupCode {
    pub display: Zeroizing<String>,
    pub normalised: Zeroizing<String>,
}

/// A generation's codes in the order given (position 1 first).
pub struct CodeList(Vec<BackupCode>);

impl CodeList {
    /// Validates and normalises codes; refuses bad characters, odd lengths and duplicates.
    /// Messages name positions, never values.
    pub fn parse<S: AsRef<str>>(codes: &[S]) -> Result<Self, Invalid> {
        if codes.is_empty() {
            return Err(Invalid::new("no_codes", "send at least one backup code"));
        }
        if codes.len() > MAX_CODES {
            return Err(Invalid::new(
                "too_many_codes",
                format!("a generation holds at most {MAX_CODES} codes"),
            ));
        }
        let mut out: Vec<BackupCode> = Vec::with_capacity(codes.len());
        for (i, raw) in codes.iter().enumerate() {
            let position = i + 1;
            let normalised = normalise(raw.as_ref()).ok_or_else(|| {
                Invalid::new(
                    "invalid_backup_code",
                    format!("code {position} has characters other than letters, digits, spaces and hyphens"),
                )
            })?;
            if !CODE_CHARS.contains(&normalised.len()) {
                return Err(Invalid::new(
                    "invalid_backup_code",
                    format!(
                        "code {position} has {} letters and digits; backup codes have {} to {}",
                        normalised.len(),
                        CODE_CHARS.start(),
                        CODE_CHARS.end()
                    ),
                ));
            }
            if let Some(first) = out.iter().position(|c| c.normalised == normalised) {
                return Err(Invalid::new(
                    "duplicate_backup_code",
                    format!("codes {} and {position} are the same code", first + 1),
                ));
            }
            out.push(BackupCode {
                display: display_form(raw.as_ref()),
                normalised,
            });
        }
        Ok(Self(out))
    }

    /// Splits a block pasted from a platform's page into codes, in order (see [`split_block`]).
    pub fn parse_block(block: &str) -> Result<Self, Invalid> {
        let codes = split_block(block);
        Self::parse(&codes)
    }

    pub fn codes(&self) -> &[BackupCode] {
        &self.0
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Strips a list number such as `1.`, `01)`, `#3` or `3:` from the start of a cell.
fn list_number(cell: &str) -> (Option<u32>, &str) {
    let rest = cell.trim_start_matches('#');
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    if digits.is_empty() || digits.len() > 2 {
        return (None, cell);
    }
    let after = &rest[digits.len()..];
    match after.chars().next() {
        Some('.' | ')' | ':') => (digits.parse().ok(), after[1..].trim()),
        _ => (None, cell),
    }
}

/// Splits a pasted block into codes. Lines are split into cells at tabs or runs of two or more
/// spaces (platforms show codes in columns); a single space stays inside a code ("1234 5678").
/// When every cell carries a list number ("1. …  6. …"), the numbers give the order, so a
/// two-column layout comes out 1..N; otherwise the order is reading order.
pub fn split_block(block: &str) -> Vec<Zeroizing<String>> {
    let mut cells: Vec<(Option<u32>, Zeroizing<String>)> = Vec::new();
    for line in block.lines() {
        let line = line.replace(['\t', '\u{3000}'], "  ");
        for cell in line.split("  ").map(str::trim).filter(|c| !c.is_empty()) {
            let (number, code) = list_number(cell);
            if !code.is_empty() {
                cells.push((number, Zeroizing::new(code.to_owned())));
            }
        }
    }
    if !cells.is_empty() && cells.iter().all(|(n, _)| n.is_some()) {
        cells.sort_by_key(|(n, _)| *n);
    }
    cells.into_iter().map(|(_, code)| code).collect()
}

/// What verifying a typed code hints at.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub enum Hint {
    Whitespace,
    Hyphen,
    Lowercase,
    AmbiguousCharacters,
}

impl Hint {
    pub fn as_str(self) -> &'static str {
        match self {
            Hint::Whitespace => "whitespace",
            Hint::Hyphen => "hyphen",
            Hint::Lowercase => "lowercase",
            Hint::AmbiguousCharacters => "ambiguous_characters",
        }
    }
}

/// A code someone typed, to be checked without revealing any other code.
pub struct TypedCode {
    raw: Zeroizing<String>,
    pub normalised: Zeroizing<String>,
}

impl TypedCode {
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let raw = Zeroizing::new(raw.to_owned());
        let normalised = normalise(&raw).ok_or_else(|| {
            Invalid::new(
                "invalid_backup_code",
                "a backup code has only letters, digits, spaces and hyphens",
            )
        })?;
        if normalised.is_empty() {
            return Err(Invalid::new("code_required", "type the code to check"));
        }
        if normalised.len() > *CODE_CHARS.end() {
            return Err(Invalid::new(
                "invalid_backup_code",
                format!(
                    "backup codes have at most {} letters and digits",
                    CODE_CHARS.end()
                ),
            ));
        }
        Ok(Self { raw, normalised })
    }

    fn has_look_alikes(&self) -> bool {
        self.normalised
            .chars()
            .any(|c| LOOK_ALIKES.iter().any(|group| group.contains(&c)))
    }

    /// Canonical forms the typed code may have been meant as, swapping look-alike characters
    /// (O/0, I/1/L, S/5, B/8, Z/2); the typed form itself excluded. Bounded in number.
    pub fn look_alike_variants(&self) -> Vec<Zeroizing<String>> {
        let mut variants: Vec<Vec<char>> = vec![Vec::with_capacity(self.normalised.len())];
        for c in self.normalised.chars() {
            let choices: &[char] = LOOK_ALIKES
                .iter()
                .find(|group| group.contains(&c))
                .copied()
                .unwrap_or(std::slice::from_ref(&c));
            if variants.len() * choices.len() > MAX_VARIANTS {
                // Too many combinations: keep the typed character.
                variants.iter_mut().for_each(|v| v.push(c));
                continue;
            }
            variants = variants
                .into_iter()
                .flat_map(|prefix| {
                    choices.iter().map(move |&choice| {
                        let mut next = prefix.clone();
                        next.push(choice);
                        next
                    })
                })
                .collect();
        }
        variants
            .into_iter()
            .map(|chars| Zeroizing::new(chars.into_iter().collect::<String>()))
            .filter(|v| v.as_str() != self.normalised.as_str())
            .collect()
    }

    /// Hints about the typed text. With the matched code's display form, the hints say how the
    /// typed text differs from it; without a match, what was ignored or may be mistyped.
    pub fn hints(&self, matched_display: Option<&str>, via_look_alike: bool) -> Vec<Hint> {
        let typed = self.raw.as_str();
        let typed_ws = typed.chars().any(char::is_whitespace);
        let typed_hyphen = typed.chars().map(fold_width).any(|c| c == '-');
        let typed_lower = typed.chars().any(|c| c.is_ascii_lowercase());
        let mut hints = Vec::new();
        match matched_display {
            Some(shown) => {
                let trimmed = typed.trim() != typed;
                if trimmed || (typed_ws && !shown.contains(' ')) {
                    hints.push(Hint::Whitespace);
                }
                if typed_hyphen != shown.contains('-') {
                    hints.push(Hint::Hyphen);
                }
                let shown_upper = shown.chars().any(|c| c.is_ascii_uppercase())
                    && !shown.chars().any(|c| c.is_ascii_lowercase());
                if typed_lower && shown_upper {
                    hints.push(Hint::Lowercase);
                }
                if via_look_alike {
                    hints.push(Hint::AmbiguousCharacters);
                }
            }
            None => {
                if typed_ws {
                    hints.push(Hint::Whitespace);
                }
                if typed_hyphen {
                    hints.push(Hint::Hyphen);
                }
                if typed_lower {
                    hints.push(Hint::Lowercase);
                }
                // An all-digit code has no letter to mistake for a digit.
                let has_letter = self.normalised.chars().any(|c| c.is_ascii_alphabetic());
                if has_letter && self.has_look_alikes() {
                    hints.push(Hint::AmbiguousCharacters);
                }
            }
        }
        hints
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(list: &CodeList) -> Vec<(String, String)> {
        list.codes()
            .iter()
            .map(|c| (c.display.to_string(), c.normalised.to_string()))
            .collect()
    }

    #[test]
    fn codes_keep_their_order_and_platform_form_and_normalise_for_lookup() {
        let Ok(list) = CodeList::parse(&[
            " 1234 5678 ",
            "abcde-12345",
            "ｑｗｅｒ ｔｙ１２",
            "Ab12Cd34Ef56",
        ]) else {
            unreachable!("valid codes")
        };
        assert_eq!(
            strings(&list),
            vec![
                ("1234 5678".into(), "12345678".into()),
                ("abcde-12345".into(), "ABCDE12345".into()),
                ("qwer ty12".into(), "QWERTY12".into()),
                ("Ab12Cd34Ef56".into(), "AB12CD34EF56".into()),
            ]
        );
    }

    #[test]
    fn duplicates_bad_characters_and_odd_lengths_are_refused_by_position() {
        let dup = CodeList::parse(&["1234 5678", "9999-0000", "12345678"]).err();
        assert_eq!(dup.as_ref().map(|e| e.code), Some("duplicate_backup_code"));
        assert!(dup.is_some_and(|e| e.message.contains("1 and 3") && !e.message.contains("1234")));
        let bad = CodeList::parse(&["12345678", "1234_5678"]).err();
        assert_eq!(bad.as_ref().map(|e| e.code), Some("invalid_backup_code"));
        assert!(bad.is_some_and(|e| e.message.contains("code 2") && !e.message.contains("5678")));
        assert_eq!(
            CodeList::parse(&["12345"]).err().map(|e| e.code),
            Some("invalid_backup_code")
        );
        assert_eq!(
            CodeList::parse::<&str>(&[]).err().map(|e| e.code),
            Some("no_codes")
        );
        let many: Vec<String> = (0..51).map(|i| format!("{i:08}")).collect();
        assert_eq!(
            CodeList::parse(&many).err().map(|e| e.code),
            Some("too_many_codes")
        );
    }

    #[test]
    fn a_pasted_two_column_block_comes_out_in_list_order() {
        let block = "1. 1111 1111    6. 6666 6666\n2. 2222 2222\t7. 7777 7777\n\n3. 3333 3333  8. 8888 8888\n";
        let codes: Vec<String> = split_block(block).iter().map(|c| c.to_string()).collect();
        assert_eq!(
            codes,
            [
                "1111 1111",
                "2222 2222",
                "3333 3333",
                "6666 6666",
                "7777 7777",
                "8888 8888"
            ]
        );
        // Without numbers: reading order; one code per line, hyphenated.
        let plain: Vec<String> = split_block("abcde-12345\n  fghij-67890  \nklmno-13579")
            .iter()
            .map(|c| c.to_string())
            .collect();
        assert_eq!(plain, ["abcde-12345", "fghij-67890", "klmno-13579"]);
    }

    #[test]
    fn look_alike_variants_cover_each_group_and_stay_bounded() {
        let Ok(typed) = TypedCode::parse("0l5b") else {
            unreachable!()
        };
        let variants: Vec<String> = typed
            .look_alike_variants()
            .iter()
            .map(|v| v.to_string())
            .collect();
        // 2 × 3 × 2 × 2 = 24 combinations, less the typed one.
        assert_eq!(variants.len(), 23);
        assert!(variants.contains(&"OI58".to_owned()));
        assert!(!variants.contains(&"0L5B".to_owned()));
        let Ok(long) = TypedCode::parse(&"0".repeat(32)) else {
            unreachable!()
        };
        assert!(long.look_alike_variants().len() < MAX_VARIANTS);
    }

    #[test]
    fn hints_say_how_the_typed_text_differs_from_the_code_as_shown() {
        let Ok(typed) = TypedCode::parse(" abcd-efgh ") else {
            unreachable!()
        };
        assert_eq!(
            typed.hints(Some("ABCDEFGH"), false),
            vec![Hint::Whitespace, Hint::Hyphen, Hint::Lowercase]
        );
        assert_eq!(
            typed.hints(Some("abcd-efgh"), false),
            vec![Hint::Whitespace]
        );
        let Ok(clean) = TypedCode::parse("1234 5678") else {
            unreachable!()
        };
        assert_eq!(clean.hints(Some("1234 5678"), false), vec![]);
        assert_eq!(
            clean.hints(Some("1234 5678"), true),
            vec![Hint::AmbiguousCharacters]
        );
        // Not found, all digits: no letter could have been mistaken for a digit.
        assert_eq!(clean.hints(None, false), vec![Hint::Whitespace]);
        let Ok(lettered) = TypedCode::parse("O234 5678") else {
            unreachable!()
        };
        assert_eq!(
            lettered.hints(None, false),
            vec![Hint::Whitespace, Hint::AmbiguousCharacters]
        );
        assert_eq!(
            TypedCode::parse(" - ").err().map(|e| e.code),
            Some("code_required")
        );
    }
}
