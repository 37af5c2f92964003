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

/// What a printed line must look like: a JSON object's keys in order, or the text's pieces
/// between `…` with every number made 0.
fn shape(line: &str) -> Vec<String> {
    if let Ok(serde_json::Value::Object(map)) = serde_json::from_str::<serde_json::Value>(line) {
        return map.keys().map(|k| format!("key {k}")).collect();
    }
    let mut digits_as_zero = String::new();
    let mut in_number = false;
    for c in line.chars() {
        if c.is_ascii_digit() {
            if !in_number {
                digits_as_zero.push('0');
            }
            in_number = true;
        } else {
            digits_as_zero.push(c);
            in_number = false;
        }
    }
    digits_as_zero
        .split('…')
        .filter(|piece| !piece.is_empty())
        .map(str::to_owned)
        .collect()
}

fn matches(expected: &str, printed: &str) -> bool {
    let want = shape(expected);
    if want.first().is_some_and(|w| w.starts_with("key ")) {
        return want == shape(printed);
    }
    // Text: each piece in order.
    let printed = shape(printed).concat();
    let mut from = 0;
    want.iter()
        .all(|piece| match printed[from..].find(piece.as_str()) {
            Some(at) => {
                from += at + piece.len();
                true
            }
            None => false,
        })
}

/// The API walkthrough in docs/getting-started.md: its shell blocks, with an `echo` marking
/// where each group of `# →` lines stands, and the lines expected on the first and on a
/// second run.
fn walkthrough() -> (String, Vec<Vec<String>>, Vec<Vec<String>>) {
    let readme = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../docs/getting-started.md"
    ))
    .expect("docs/getting-started.md");
    let start = readme
        .find("## First steps with the API")
        .expect("the walkthrough");
    let section = &readme[start..];
    let section = &section[..section.find("Offboarding and rotation").expect("its end")];
    let mut script = String::from("set -e\n");
    let (mut first, mut second): (Vec<Vec<String>>, Vec<Vec<String>>) = (Vec::new(), Vec::new());
    for block in section.split("```sh\n").skip(1) {
        let block = block.split("```").next().unwrap_or_default();
        let mut in_group = false;
        for line in block.lines() {
            if let Some(out) = line.strip_prefix("# → ") {
                if !in_group {
                    script.push_str("echo '@@@'\n");
                    first.push(Vec::new());
                    second.push(Vec::new());
                    in_group = true;
                }
                first.last_mut().unwrap().push(out.to_owned());
                second.last_mut().unwrap().push(out.to_owned());
            } else if let Some(out) = line.strip_prefix("# ⤷ on a second run: ") {
                *second.last_mut().unwrap().last_mut().unwrap() = out.to_owned();
            } else {
                in_group = false;
                script.push_str(line);
                script.push('\n');
            }
        }
    }
    (script, first, second)
}

#[tokio::test]
async fn the_getting_started_api_walkthrough_runs_twice_and_prints_what_it_shows() {
    let app = spawn_app().await;
    if !app.settings.database.url.starts_with("sqlite:") {
        // It is written for `make dev`, which runs on SQLite.
        return;
    }
    let (script, first, second) = walkthrough();
    assert!(first.len() >= 10, "{first:?}");
    // A folder laid out as the repository after `make dev`: .dev/ with tokens, the database
    // and the key file, and target/debug/keyward.
    let root = tempfile::tempdir().unwrap();
    let dev = root.path().join(".dev");
    std::fs::create_dir(&dev).unwrap();
    for name in ["keyward.db", "keys.json"] {
        std::os::unix::fs::symlink(app.dir.path().join(name), dev.join(name)).unwrap();
    }
    std::fs::write(dev.join("manager.token"), app.token("manager", "*").await).unwrap();
    std::fs::write(
        dev.join("operator.token"),
        app.token("operator", "marketing").await,
    )
    .unwrap();
    std::fs::create_dir_all(root.path().join("target/debug")).unwrap();
    std::os::unix::fs::symlink(
        env!("CARGO_BIN_EXE_keyward"),
        root.path().join("target/debug/keyward"),
    )
    .unwrap();
    let script = script.replace("http://127.0.0.1:8080", &app.base);
    for (run, expected) in [("first", &first), ("second", &second)] {
        let out = std::process::Command::new("bash")
            .arg("-c")
            .arg(&script)
            .current_dir(root.path())
            .env_remove("KEYWARD_CONFIG")
            .output()
            .expect("bash runs");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{run} run: {stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let printed: Vec<Vec<&str>> = stdout
            .split("@@@\n")
            .map(|group| group.lines().filter(|l| !l.trim().is_empty()).collect())
            .collect();
        for (index, want) in expected.iter().enumerate() {
            let got = printed.get(index).cloned().unwrap_or_default();
            assert_eq!(
                got.len(),
                want.len(),
                "{run} run, output {index}: {got:?} for {want:?}"
            );
            for (w, g) in want.iter().zip(&got) {
                assert!(
                    matches(w, g),
                    "{run} run: docs/getting-started.md shows\n  {w}\nbut the server printed\n  {g}"
                );
            }
        }
    }
}

/// The README's quick start: the demo seed it gives is the one `make dev` stores, and its
/// one-line check prints the code Keyward reveals for it.
#[tokio::test]
async fn the_readme_demo_seed_is_make_devs_and_its_one_line_check_prints_keywards_code() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
    let readme = std::fs::read_to_string(format!("{root}/README.md")).expect("README.md");
    let line = readme
        .lines()
        .find(|l| l.starts_with("python3 -c") && l.contains("b32decode"))
        .expect("the one-line check");
    let seed = line
        .split("b32decode(\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("the seed in the one-liner");
    assert!(
        readme.contains(&format!("The demo seed is `{seed}`")),
        "the README names the seed it checks"
    );
    let dev = std::fs::read_to_string(format!("{root}/deploy/dev.sh")).expect("deploy/dev.sh");
    assert!(
        dev.contains(&format!("secret={seed}&")),
        "make dev stores the README's seed"
    );
    let program = line
        .strip_prefix("python3 -c '")
        .and_then(|rest| rest.strip_suffix('\''))
        .expect("one quoted program");

    let app = spawn_app().await;
    let manager = app.token("manager", "marketing").await;
    let id = app.account(&manager, "marketing", "@readme-demo").await;
    app.set_totp(&manager, &id, seed).await;
    // Both within one 30-second step: tried again if a step boundary falls between them.
    for _ in 0..3 {
        let step = chrono::Utc::now().timestamp() / 30;
        let res = app.totp_code(&manager, &id, serde_json::json!({})).await;
        assert_eq!(res.status(), 200);
        let body: serde_json::Value = res.json().await.unwrap();
        let out = std::process::Command::new("python3")
            .args(["-c", program])
            .output()
            .expect("python3 runs");
        assert!(out.status.success(), "{out:?}");
        if chrono::Utc::now().timestamp() / 30 != step {
            continue;
        }
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim(),
            body["code"].as_str().unwrap()
        );
        return;
    }
    panic!("three step boundaries in a row");
}
