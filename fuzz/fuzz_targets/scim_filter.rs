//! A SCIM filter as the IdP (or anyone with its token) sends it: whatever comes in, parsing
//! never panics, and what it accepts writes back as a filter that parses to the same thing.
#![no_main]

use keyward_domain::scim::{FilterAttribute, ScimFilter};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(raw) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(filter) = ScimFilter::parse(raw) else {
        return;
    };
    assert!(!filter.value.chars().any(char::is_control), "{raw:?}");
    let name = match filter.attribute {
        FilterAttribute::UserName => "userName",
        FilterAttribute::ExternalId => "externalId",
        FilterAttribute::Id => "id",
    };
    let value = serde_json::to_string(&filter.value).unwrap_or_else(|_| unreachable!());
    let again = ScimFilter::parse(&format!("{name} eq {value}"));
    assert_eq!(again.as_ref(), Ok(&filter), "{raw:?}");
});
