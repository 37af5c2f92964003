//! Break-glass cryptography judged by outside tools: the shares Keyward makes combine with an
//! independent implementation of the Vault layout (npm `shamir-secret-sharing`, pinned in
//! tests/breakglass) into the escrow's X25519 key, and a share encrypted to a custodian's
//! `age1…` key opens with the reference `age` tool (Debian's, installed by `make test-deps`).

use keyward::crypto::escrow::{age_armored, EscrowKey};
use keyward::domain::share::ShareText;
use std::process::Command;

fn judge() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/breakglass")
}

#[test]
fn shares_made_here_rebuild_the_escrow_key_in_an_independent_implementation() {
    assert!(
        judge().join("node_modules/shamir-secret-sharing").exists(),
        "run `make test-deps` (npm ci in tests/breakglass)"
    );
    use base64::Engine;
    for (k, n) in [(2u8, 2u8), (3, 5), (16, 16)] {
        let key = EscrowKey::generate();
        let shares = key.split(k, n).unwrap();
        let expected = base64::engine::general_purpose::STANDARD.encode(key.public());
        // k shares, taken from the end, rebuild it; k − 1 do not.
        for take in [usize::from(k), usize::from(k) - 1] {
            let args: Vec<String> = shares
                .iter()
                .rev()
                .take(take)
                .map(|s| hex::encode(s.as_slice()))
                .collect();
            let out = Command::new("node")
                .arg(judge().join("combine.mjs"))
                .args(&args)
                .output()
                .expect("node runs");
            let printed = String::from_utf8_lossy(&out.stdout).trim().to_owned();
            if take == usize::from(k) {
                assert!(
                    out.status.success(),
                    "{}",
                    String::from_utf8_lossy(&out.stderr)
                );
                assert_eq!(printed, expected, "{k} of {n}");
            } else {
                assert_ne!(
                    printed, expected,
                    "{take} shares of a {k}-of-{n} must not rebuild it"
                );
            }
        }
    }
}

#[test]
fn a_share_encrypted_to_a_custodian_opens_with_the_reference_age_tool() {
    let dir = tempfile::tempdir().unwrap();
    let identity = dir.path().join("custodian.txt");
    let made = Command::new("age-keygen")
        .arg("-o")
        .arg(&identity)
        .output()
        .expect("age-keygen runs (make test-deps installs age)");
    assert!(made.status.success());
    let recipient = std::fs::read_to_string(&identity)
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("# public key: ").map(str::to_owned))
        .expect("age-keygen writes the public key");
    let key = EscrowKey::generate();
    let share = key.split(2, 3).unwrap().remove(0);
    let text = ShareText::encode("01a22e8c-337a-749d-8339-096970b50f63", 1, &share);
    let armored = age_armored(&recipient, text.as_bytes()).unwrap();
    assert!(!armored.contains(text.as_str()));
    let file = dir.path().join("share.age");
    std::fs::write(&file, armored).unwrap();
    let opened = Command::new("age")
        .arg("--decrypt")
        .arg("-i")
        .arg(&identity)
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        opened.status.success(),
        "{}",
        String::from_utf8_lossy(&opened.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&opened.stdout), text.as_str());
    // And the text the custodian reads back is the share.
    let parsed = ShareText::parse(&String::from_utf8_lossy(&opened.stdout)).unwrap();
    assert_eq!((parsed.index, parsed.bytes.to_vec()), (1, share.to_vec()));
}
