//! Opaque paging cursors: a place in a listing's order, as a URL-safe string.

use crate::domain::Invalid;
use crate::store::accounts::ListPosition;

/// The longest cursor accepted.
const MAX_LEN: usize = 1024;

pub fn encode(position: &ListPosition) -> String {
    let json = serde_json::to_vec(position).unwrap_or_default();
    data_encoding::BASE64URL_NOPAD.encode(&json)
}

pub fn decode(raw: &str) -> Result<ListPosition, Invalid> {
    let bad = || {
        Invalid::new(
            "invalid_cursor",
            "after must be the next of a previous page",
        )
    };
    if raw.len() > MAX_LEN {
        return Err(bad());
    }
    let bytes = data_encoding::BASE64URL_NOPAD
        .decode(raw.trim().as_bytes())
        .map_err(|_| bad())?;
    let position: ListPosition = serde_json::from_slice(&bytes).map_err(|_| bad())?;
    let clean = |s: &str| !s.chars().any(char::is_control) && s.chars().count() <= 200;
    if clean(&position.platform) && clean(&position.handle) && crate::domain::is_id(&position.id) {
        Ok(position)
    } else {
        Err(bad())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_round_trips_and_anything_else_is_refused() {
        let position = ListPosition {
            platform: "x".into(),
            handle: "@brand".into(),
            id: "0190d3a0-0000-7000-8000-000000000000".into(),
        };
        assert_eq!(decode(&encode(&position)), Ok(position));
        for bad in ["", "!!", "e30", &"A".repeat(2000)] {
            assert_eq!(
                decode(bad).map_err(|e| e.code),
                Err("invalid_cursor"),
                "{bad}"
            );
        }
    }
}
