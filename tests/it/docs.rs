//! The API reference in the repository (`docs/api.md`) against the OpenAPI document the
//! server serves: an operation missing from either fails here.

use crate::support::spawn_app;
use std::collections::BTreeSet;

const METHODS: [&str; 5] = ["GET", "POST", "PUT", "PATCH", "DELETE"];

/// Every `METHOD /path` in backticks, without its query (`?…`) or optional part (`[…]`).
fn documented(markdown: &str) -> BTreeSet<String> {
    markdown
        .split('`')
        .skip(1)
        .step_by(2)
        .filter_map(|span| {
            let (method, rest) = span.split_once(' ')?;
            if !METHODS.contains(&method) || !rest.starts_with('/') {
                return None;
            }
            let path = rest
                .split(|c: char| c == '?' || c == '[' || c.is_whitespace())
                .next()?;
            Some(format!("{method} {path}"))
        })
        .collect()
}

fn served(openapi: &serde_json::Value) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for (path, item) in openapi["paths"].as_object().expect("paths") {
        for method in item.as_object().expect("a path item").keys() {
            let upper = method.to_ascii_uppercase();
            if METHODS.contains(&upper.as_str()) {
                out.insert(format!("{upper} {path}"));
            }
        }
    }
    out
}

#[tokio::test]
async fn every_served_operation_is_in_docs_api_md_and_every_documented_one_is_served() {
    let app = spawn_app().await;
    let openapi: serde_json::Value = app
        .client
        .get(format!("{}/api/v1/openapi.json", app.base))
        .send()
        .await
        .expect("the document")
        .json()
        .await
        .expect("JSON");
    let served = served(&openapi);
    let markdown = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/api.md"))
        .expect("docs/api.md");
    let documented = documented(&markdown);
    assert!(served.len() > 100, "{} operations served", served.len());
    let undocumented: Vec<_> = served.difference(&documented).collect();
    let unserved: Vec<_> = documented.difference(&served).collect();
    assert!(
        undocumented.is_empty() && unserved.is_empty(),
        "served but not in docs/api.md: {undocumented:?}\nin docs/api.md but not served: {unserved:?}"
    );
}

#[test]
fn the_reader_finds_operations_in_backticks_only_and_drops_queries() {
    let found = documented(
        "- `GET /api/v1/audit?after=SEQ` and `PATCH /api/v1/accounts/{id}`, \
         `GET /api/v1/accounts[?team=]`, not GET /bare, not `keyward audit verify`",
    );
    let want: BTreeSet<String> = [
        "GET /api/v1/audit",
        "PATCH /api/v1/accounts/{id}",
        "GET /api/v1/accounts",
    ]
    .into_iter()
    .map(str::to_owned)
    .collect();
    assert_eq!(found, want);
}
