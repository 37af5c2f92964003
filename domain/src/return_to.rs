//! Where a browser goes after signing in or switching language: a path on this service, never
//! another origin.

use url::Url;

/// A redirect target on this service's own origin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReturnTo(String);

impl ReturnTo {
    /// Where a missing or refused `return_to` leads.
    pub const FALLBACK: &'static str = "/accounts";
    /// The longest `return_to` considered.
    pub const MAX_LEN: usize = 1024;

    /// Resolves `raw` against `public_url` and keeps it only when it stays on the same origin.
    /// Anything with a control or whitespace character is refused first: browsers drop tabs and
    /// line breaks from URLs, so `/\t/evil.example` would reach them as `//evil.example`, and a
    /// line break cannot go into a `Location` header at all. Backslashes are refused too
    /// (browsers read them as slashes). The result is the resolved path and query.
    pub fn parse(raw: Option<&str>, public_url: &Url) -> Self {
        raw.and_then(|raw| Self::resolve(raw, public_url))
            .unwrap_or_else(Self::fallback)
    }

    /// [`Self::FALLBACK`].
    pub fn fallback() -> Self {
        Self(Self::FALLBACK.to_owned())
    }

    fn resolve(raw: &str, public_url: &Url) -> Option<Self> {
        let plain = !raw.is_empty()
            && raw.len() <= Self::MAX_LEN
            && raw.starts_with('/')
            && !raw.starts_with("//")
            && !raw
                .chars()
                .any(|c| c.is_control() || c.is_whitespace() || c == '\\');
        if !plain {
            return None;
        }
        let resolved = public_url.join(raw).ok()?;
        if resolved.origin() != public_url.origin() {
            return None;
        }
        let path = &resolved[url::Position::BeforePath..url::Position::AfterQuery];
        // What a browser receives must itself be a plain path.
        (path.starts_with('/') && !path.starts_with("//")).then(|| Self(path.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn public() -> Url {
        Url::parse("https://keyward.example.com").unwrap_or_else(|_| unreachable!())
    }

    fn to(raw: &str) -> String {
        ReturnTo::parse(Some(raw), &public()).0
    }

    #[test]
    fn paths_on_this_service_are_kept_with_their_query() {
        assert_eq!(to("/accounts/abc?x=1"), "/accounts/abc?x=1");
        assert_eq!(
            to("/audit?account=a&action=totp.reveal"),
            "/audit?account=a&action=totp.reveal"
        );
        assert_eq!(to("/a/../accounts"), "/accounts");
        assert_eq!(ReturnTo::parse(None, &public()).0, ReturnTo::FALLBACK);
    }

    #[test]
    fn anything_that_could_leave_the_origin_falls_back() {
        for raw in [
            "//evil.example/x",
            "/\t/evil.example/x",
            "/\n/evil.example/x",
            "/\r\n/evil.example",
            "/ /evil.example",
            "/\\evil.example",
            "\\\\evil.example",
            "https://evil.example/",
            "javascript:alert(1)",
            "evil.example",
            "/\u{3000}/evil.example",
            "/\u{0}",
            "",
        ] {
            assert_eq!(to(raw), ReturnTo::FALLBACK, "{raw:?}");
        }
        assert_eq!(to(&format!("/{}", "a".repeat(2000))), ReturnTo::FALLBACK);
    }
}
