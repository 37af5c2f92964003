//! `kw`, the members' command-line client, as a subprocess against the real server and the
//! real test IdP: `kw login` prints the code, a browser (HTTP, through SSO) approves it, and
//! the saved session reveals a code an independent RFC 6238 implementation (Python's hmac)
//! agrees with. Exit codes, the credentials file's mode, logout and offboarding.

use crate::support::expect_json;
use crate::support::idp::{spawn_sso_app_with, Browser, SsoApp};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const SEED: &str = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP";

fn kw_bin() -> PathBuf {
    std::env::var_os("KW_CLIENT_BIN").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/debug/kw"),
        PathBuf::from,
    )
}

/// `kw` with its own configuration folder and nothing from the environment of the tests.
fn kw(config: &Path) -> Command {
    let mut cmd = Command::new(kw_bin());
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("XDG_CONFIG_HOME", config);
    cmd
}

/// Runs `kw` off the runtime (the server, and PostgreSQL's connections, run on it too).
async fn run(config: &Path, args: &[&str]) -> (i32, String, String) {
    run_with(config, args, &[]).await
}

/// `run` with more environment.
async fn run_with(
    config: &Path,
    args: &[&str],
    env: &[(&str, &std::ffi::OsStr)],
) -> (i32, String, String) {
    let mut cmd = kw(config);
    cmd.args(args).envs(env.iter().copied());
    let out = tokio::task::spawn_blocking(move || cmd.output())
        .await
        .expect("joined")
        .expect("kw runs (built by cargo build --bins)");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Runs `kw` on a terminal (util-linux `script` gives it one) with `env`; what it printed.
async fn run_on_terminal(config: &Path, args: &str, env: &[(&str, &str)]) -> String {
    let mut script = Command::new("script");
    script
        .args([
            "-qfec",
            &format!("{} {args}", kw_bin().display()),
            "/dev/null",
        ])
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("XDG_CONFIG_HOME", config)
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let out = tokio::task::spawn_blocking(move || script.output())
        .await
        .expect("joined")
        .expect("script runs");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The TOTP codes of the periods around now, by Python's standard library.
fn reference_codes() -> Vec<String> {
    let script = "import base64,hmac,hashlib,struct,time,sys\n\
        k=base64.b32decode(sys.argv[1])\n\
        t=int(time.time())//30\n\
        for c in (t-1,t,t+1):\n\
        \x20 h=hmac.new(k,struct.pack('>Q',c),hashlib.sha1).digest()\n\
        \x20 o=h[-1]&15\n\
        \x20 print('%06d'%((struct.unpack('>I',h[o:o+4])[0]&0x7fffffff)%1000000))\n";
    let out = Command::new("python3")
        .args(["-c", script, SEED])
        .output()
        .expect("python3");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect()
}

/// Runs `kw login` and approves (or denies) its code as `user` in a browser signed in
/// through the IdP; the exit code and what it printed.
async fn login(app: &SsoApp, config: &Path, user: &str, decision: &str) -> (i32, String) {
    let mut child = kw(config)
        .args(["login", &app.base])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("kw login starts");
    let stderr = child.stderr.take().expect("stderr");
    // Read off the runtime: the server runs on it too.
    let (first, _rest) = tokio::task::spawn_blocking(move || {
        let mut lines = BufReader::new(stderr).lines();
        let first = lines.next().expect("a line").expect("text");
        (first, lines)
    })
    .await
    .expect("joined");
    let code = first.rsplit(' ').next().expect("the code").to_owned();
    assert_eq!(code.len(), 9, "{first}");
    let browser = Browser::new();
    browser.sign_in(&app.base, user).await;
    let page = browser
        .page(&format!("{}/device?user_code={code}", app.base))
        .await;
    let res = browser
        .submit(
            &app.base,
            "/device",
            &page,
            &[("user_code", &code), ("decision", decision)],
        )
        .await;
    assert_eq!(res.status(), 303);
    let out = tokio::task::spawn_blocking(move || child.wait_with_output().expect("kw login ends"))
        .await
        .expect("joined");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[tokio::test]
async fn kw_logs_in_with_a_device_code_and_gets_a_code_the_reference_agrees_with() {
    let app = spawn_sso_app_with("", |_, _| {}).await;
    let manager = app.token("manager", "marketing").await;
    let account = app.account(&manager, "marketing", "@terminal").await;
    app.set_totp(&manager, &account, SEED).await;
    let config = tempfile::tempdir().unwrap();

    // Not signed in: exit 3.
    let (code, _, err) = run(config.path(), &["whoami"]).await;
    assert_eq!(code, 3, "{err}");
    // Bad usage: exit 2.
    assert_eq!(run(config.path(), &["code"]).await.0, 2);

    let (code, out) = login(&app, config.path(), "alice", "approve").await;
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("Alice Operator"), "{out}");
    let file = config.path().join("keyward/credentials.toml");
    assert_eq!(
        std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
        0o600
    );

    let (code, out, _) = run(config.path(), &["whoami", "--json"]).await;
    assert_eq!(code, 0);
    let me: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(me["kind"], "member");
    let (code, out, err) = run(config.path(), &["code", "x @terminal"]).await;
    assert_eq!(code, 0, "{err}");
    let shown = out.trim().to_owned();
    assert!(
        reference_codes().contains(&shown),
        "{shown} against {:?}",
        reference_codes()
    );
    let (_, listed, _) = run(config.path(), &["accounts"]).await;
    assert!(listed.contains("@terminal"), "{listed}");
    // --copy hands the code to the clipboard tool on its stdin and prints no code. (The
    // clipboard here is a stand-in `xclip` that keeps what it is given: no display server.)
    let tools = tempfile::tempdir().unwrap();
    let clip = tools.path().join("clipboard");
    let xclip = tools.path().join("xclip");
    std::fs::write(&xclip, "#!/bin/sh\ncat > \"$(dirname \"$0\")/clipboard\"\n").unwrap();
    std::fs::set_permissions(&xclip, std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = std::env::join_paths(std::iter::once(tools.path().to_owned()).chain(
        std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()),
    ))
    .unwrap();
    let (code, out, err) = run_with(
        config.path(),
        &["code", "@terminal", "--copy"],
        &[("PATH", path.as_os_str()), ("DISPLAY", ":0".as_ref())],
    )
    .await;
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("Copied to the clipboard (xclip)"), "{out}");
    let copied = std::fs::read_to_string(&clip).unwrap();
    assert!(reference_codes().contains(&copied), "{copied}");
    assert!(!out.contains(&copied), "the code is not printed: {out}");
    let (code, _, err) = run(config.path(), &["code", "@terminal", "--copy"]).await;
    assert_eq!(code, 1);
    assert!(err.contains("no clipboard here"), "{err}");
    // On a colour terminal the code is bold and its validity is said; NO_COLOR turns colour
    // off; a pipe gets the bare code (above).
    let coloured = run_on_terminal(config.path(), "code @terminal", &[("TERM", "xterm")]).await;
    assert!(coloured.contains("\x1b[1m"), "{coloured:?}");
    assert!(coloured.contains("s more)"), "{coloured:?}");
    let plain = run_on_terminal(
        config.path(),
        "code @terminal",
        &[("TERM", "xterm"), ("NO_COLOR", "1")],
    )
    .await;
    assert!(
        !plain.contains('\x1b') && plain.contains("s more)"),
        "{plain:?}"
    );

    // Under approval: exit 5, with the server's code.
    let locked = expect_json(
        app.request(
            reqwest::Method::PATCH,
            &format!("/api/v1/accounts/{account}"),
            Some(&manager),
            Some(json!({"access": "approval"})),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(locked["access"], "approval");
    let (code, _, err) = run(config.path(), &["code", "@terminal"]).await;
    assert_eq!(code, 5, "{err}");
    assert!(err.contains("approval_required"), "{err}");
    // Not allowed: an operator's role has no password reveal; an unknown account: exit 1.
    assert_eq!(run(config.path(), &["code", "@nobody"]).await.0, 1);

    // A group-readable credentials file is refused.
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o640)).unwrap();
    let (code, _, err) = run(config.path(), &["whoami"]).await;
    assert_eq!(code, 3);
    assert!(err.contains("readable by others"), "{err}");
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();

    // Offboarding ends the command line's session: exit 3.
    let admin = app.token("security_admin", "*").await;
    expect_json(
        app.post(
            &format!("/api/v1/members/{}/offboard", me["id"].as_str().unwrap()),
            &admin,
            json!({"reason": "left the agency"}),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(run(config.path(), &["whoami"]).await.0, 3);
}

#[tokio::test]
async fn kw_logout_ends_the_session_and_a_denied_login_exits_4() {
    let app = spawn_sso_app_with("", |_, _| {}).await;
    let config = tempfile::tempdir().unwrap();
    let (code, _) = login(&app, config.path(), "mia", "deny").await;
    assert_eq!(code, 4);
    let (code, out) = login(&app, config.path(), "mia", "approve").await;
    assert_eq!(code, 0, "{out}");
    let token: Value = toml::from_str::<toml::Value>(
        &std::fs::read_to_string(config.path().join("keyward/credentials.toml")).unwrap(),
    )
    .map(|t| json!({"token": t["token"].as_str()}))
    .unwrap();
    let token = token["token"].as_str().unwrap().to_owned();
    // The saved token goes to its own server only: a KW_SERVER naming another is refused.
    let (code, _, err) = run_with(
        config.path(),
        &["whoami"],
        &[("KW_SERVER", "https://elsewhere.example".as_ref())],
    )
    .await;
    assert_eq!(code, 3);
    assert!(
        err.contains("KW_SERVER names https://elsewhere.example"),
        "{err}"
    );
    // A token travels over https only (or to this machine).
    let (code, _, err) = run(config.path(), &["login", "http://keyward.example.com"]).await;
    assert_eq!(code, 2);
    assert!(err.contains("not https"), "{err}");
    let (code, _, err) = run_with(
        config.path(),
        &["whoami"],
        &[
            ("KW_TOKEN", "kwcli_x".as_ref()),
            ("KW_SERVER", "http://keyward.example.com".as_ref()),
        ],
    )
    .await;
    assert_eq!(code, 3);
    assert!(err.contains("not https"), "{err}");
    assert_eq!(run(config.path(), &["logout"]).await.0, 0);
    assert!(!config.path().join("keyward/credentials.toml").exists());
    // The session is gone on the server too, not just forgotten here.
    assert_eq!(app.get("/api/v1/me", &token).await.status(), 401);
    assert_eq!(
        app.audit_rows()
            .await
            .iter()
            .filter(|r| r.action == "auth.logout")
            .count(),
        1
    );
    // KW_TOKEN without KW_SERVER is a usage problem said plainly.
    let mut cmd = kw(config.path());
    cmd.env("KW_TOKEN", "kwcli_x").arg("whoami");
    let out = tokio::task::spawn_blocking(move || cmd.output())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
}

#[tokio::test]
async fn kw_saves_no_sign_in_through_a_symlinked_folder() {
    let app = spawn_sso_app_with("", |_, _| {}).await;
    let (config, elsewhere) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    std::os::unix::fs::symlink(elsewhere.path(), config.path().join("keyward")).unwrap();
    let (code, _) = login(&app, config.path(), "alice", "approve").await;
    assert_eq!(code, 1);
    assert_eq!(
        std::fs::read_dir(elsewhere.path()).unwrap().count(),
        0,
        "nothing written where the symlink points"
    );
}

#[tokio::test]
async fn kw_asks_for_access_and_a_manager_approves_it_from_the_terminal() {
    let app = spawn_sso_app_with("", |_, _| {}).await;
    let manager = app.token("manager", "marketing").await;
    let account = app.account(&manager, "marketing", "@locked").await;
    app.set_totp(&manager, &account, SEED).await;
    expect_json(
        app.request(
            reqwest::Method::PATCH,
            &format!("/api/v1/accounts/{account}"),
            Some(&manager),
            Some(json!({"access": "approval"})),
        )
        .await,
        200,
    )
    .await;
    let (alice, mia) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    assert_eq!(login(&app, alice.path(), "alice", "approve").await.0, 0);
    assert_eq!(login(&app, mia.path(), "mia", "approve").await.0, 0);

    assert_eq!(run(alice.path(), &["code", "@locked"]).await.0, 5);
    let (code, out, err) = run(
        alice.path(),
        &[
            "request",
            "x @locked",
            "--minutes",
            "30",
            "--reason",
            "recall notice",
            "--json",
        ],
    )
    .await;
    assert_eq!(code, 0, "{err}");
    let asked: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(asked["state"], "pending");
    let id = asked["id"].as_str().unwrap().to_owned();
    // Nobody approves their own request, from the terminal either.
    let (code, _, err) = run(alice.path(), &["approve", &id]).await;
    assert_eq!(code, 4, "{err}");
    let (code, out, err) = run(mia.path(), &["approve", &id, "--comment", "on the call"]).await;
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("approved"), "{out}");
    let (code, out, _) = run(alice.path(), &["code", "@locked"]).await;
    assert_eq!(code, 0);
    assert!(reference_codes().contains(&out.trim().to_owned()));
    let approvals: Vec<_> = app
        .audit_rows()
        .await
        .into_iter()
        .filter(|r| r.action == "access.approve")
        .collect();
    assert_eq!(approvals.len(), 1);
    assert!(
        approvals[0].actor.starts_with("member:"),
        "a person, not a token"
    );
}

#[tokio::test]
async fn kw_prints_completions_and_help_with_examples() {
    let config = tempfile::tempdir().unwrap();
    for shell in ["bash", "zsh", "fish"] {
        let (code, out, _) = run(config.path(), &["completions", shell]).await;
        assert_eq!(code, 0);
        for command in ["login", "code", "request", "approve"] {
            assert!(out.contains(command), "{shell} completes {command}");
        }
    }
    assert_eq!(run(config.path(), &["completions", "tcsh"]).await.0, 2);
    let (code, help, _) = run(config.path(), &["--help"]).await;
    assert_eq!(code, 0);
    assert!(
        help.contains("kw login https://keyward.example.com"),
        "{help}"
    );
    let (_, help, _) = run(config.path(), &["code", "--help"]).await;
    assert!(help.contains("Example: kw code"), "{help}");
}

/// Imports ten backup codes (`1000 0001` … `1000 0010`) on `account`.
async fn backup_codes(app: &SsoApp, manager: &str, account: &str) {
    let codes: Vec<String> = (1..=10).map(|i| format!("1000 {i:04}")).collect();
    expect_json(
        app.post(
            &format!("/api/v1/accounts/{account}/backup-codes"),
            manager,
            json!({"codes": codes, "issued_on": "2026-12-01"}),
        )
        .await,
        201,
    )
    .await;
}

#[tokio::test]
async fn kw_checks_out_backup_codes_in_order_and_follows_a_runbook_to_the_next_one() {
    let app = spawn_sso_app_with("", |_, _| {}).await;
    let manager = app.token("manager", "marketing").await;
    let account = app.account(&manager, "marketing", "@bk").await;
    backup_codes(&app, &manager, &account).await;
    let config = tempfile::tempdir().unwrap();
    assert_eq!(login(&app, config.path(), "alice", "approve").await.0, 0);

    // A reason is required; the first code, then the second, each once.
    assert_eq!(
        run(config.path(), &["backup", "checkout", "@bk"]).await.0,
        2
    );
    let (code, out, err) = run(
        config.path(),
        &["backup", "checkout", "x @bk", "--reason", "locked out"],
    )
    .await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.trim().replace(' ', ""), "10000001");
    let (code, out, _) = run(
        config.path(),
        &[
            "backup",
            "checkout",
            "@bk",
            "--reason",
            "locked out",
            "--json",
        ],
    )
    .await;
    assert_eq!(code, 0);
    let second: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(second["position"], 2);
    assert_eq!(second["remaining"], 8);
    let (code, out, err) = run(config.path(), &["backup", "report", "@bk", "1", "worked"]).await;
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("Code 1 of generation 1 is now used"), "{out}");
    assert_eq!(
        run(config.path(), &["backup", "report", "@bk", "1", "maybe"])
            .await
            .0,
        2
    );
    let (_, status, _) = run(config.path(), &["backup", "status", "@bk"]).await;
    assert!(status.contains("8 of 10 left"), "{status}");
    assert!(
        !status.contains("1000"),
        "states only, never values: {status}"
    );

    // The lockout runbook, answered from the terminal, hands out the third code once.
    let (code, out, err) = run(
        config.path(),
        &[
            "incident",
            "start",
            "@bk",
            "--runbook",
            "lockout",
            "--note",
            "phone lost",
            "--json",
        ],
    )
    .await;
    assert_eq!(code, 0, "{err}");
    let incident: Value = serde_json::from_str(&out).unwrap();
    let id = incident["id"].as_str().unwrap().to_owned();
    assert_eq!(incident["step"]["id"], "device_left");
    for choice in ["no", "no", "no_seed"] {
        let (code, _, err) = run(config.path(), &["incident", "answer", &id, choice]).await;
        assert_eq!(code, 0, "{choice}: {err}");
    }
    let (code, _, err) = run(config.path(), &["incident", "answer", &id, "nonsense"]).await;
    assert_eq!(code, 2);
    assert!(err.contains("check_out"), "the choices are named: {err}");
    let (code, out, err) = run(config.path(), &["incident", "answer", &id, "check_out"]).await;
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("1000 0003") || out.contains("10000003"),
        "{out}"
    );
    assert!(out.contains("shown once"), "{out}");
    assert!(out.contains("Step backup_result"), "{out}");
    let (_, shown, _) = run(config.path(), &["incident", "show", &id]).await;
    assert!(shown.contains("incident.answer"), "{shown}");
    assert!(
        !shown.contains("10000003") && !shown.contains("1000 0003"),
        "{shown}"
    );
    let (_, open, _) = run(config.path(), &["incident", "show"]).await;
    assert!(open.contains(&id), "{open}");
    let (_, runbooks, _) = run(config.path(), &["incident", "runbooks"]).await;
    assert!(runbooks.contains("lockout"), "{runbooks}");
}

/// The TOTP codes the reference gives, found in `text`.
fn has_reference_code(text: &str) -> bool {
    reference_codes().iter().any(|c| text.contains(c.as_str()))
}

#[tokio::test]
async fn a_reveal_that_needs_a_fresher_sign_in_runs_the_device_flow_again_on_a_terminal() {
    let app = spawn_sso_app_with("", |_, _| {}).await;
    let manager = app.token("manager", "marketing").await;
    let account = app.account(&manager, "marketing", "@fresh").await;
    app.set_totp(&manager, &account, SEED).await;
    let config = tempfile::tempdir().unwrap();
    assert_eq!(login(&app, config.path(), "alice", "approve").await.0, 0);
    let stale = || async {
        crate::support::sql_attested(
            &app.core,
            "UPDATE session SET auth_time = '2020-01-01 00:00:00+00:00' WHERE client = 'cli'",
            "session",
        )
        .await;
    };
    stale().await;

    // For a script (no terminal) it fails plainly: exit 3 with the server's code.
    let (code, _, err) = run(config.path(), &["code", "@fresh"]).await;
    assert_eq!(code, 3);
    assert!(err.contains("reauthentication_required"), "{err}");

    // On a terminal (util-linux `script` gives it one) it says so and signs in again.
    let line = format!("{} code @fresh", kw_bin().display());
    let mut script = Command::new("script");
    script
        .args(["-qfec", &line, "/dev/null"])
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("XDG_CONFIG_HOME", config.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let mut child = script.spawn().expect("script runs");
    let stdin = child.stdin.take();
    let stdout = child.stdout.take().expect("stdout");
    let (code_line, rest) = tokio::task::spawn_blocking(move || {
        let mut lines = BufReader::new(stdout).lines();
        let mut seen = Vec::new();
        for line in lines.by_ref() {
            let line = line.expect("text");
            seen.push(line.clone());
            if line.contains("enter the code") {
                return (line, lines);
            }
        }
        panic!("no code asked: {seen:?}");
    })
    .await
    .expect("joined");
    let user_code = code_line.trim().rsplit(' ').next().unwrap().to_owned();
    let browser = Browser::new();
    browser.sign_in(&app.base, "alice").await;
    let page = browser
        .page(&format!("{}/device?user_code={user_code}", app.base))
        .await;
    let res = browser
        .submit(
            &app.base,
            "/device",
            &page,
            &[("user_code", &user_code), ("decision", "approve")],
        )
        .await;
    assert_eq!(res.status(), 303);
    let (status, printed) = tokio::task::spawn_blocking(move || {
        let printed: Vec<String> = rest.map_while(Result::ok).collect();
        let status = child.wait().expect("script ends");
        drop(stdin);
        (status, printed.join("\n"))
    })
    .await
    .expect("joined");
    assert!(status.success(), "{printed}");
    assert!(has_reference_code(&printed), "{printed}");
    // One command line stays signed in: the old session was ended.
    let (code, out, _) = run(config.path(), &["code", "@fresh"]).await;
    assert_eq!(code, 0);
    assert!(has_reference_code(&out));
    let alice = app
        .audit_rows()
        .await
        .into_iter()
        .filter(|r| r.action == "auth.logout")
        .count();
    assert_eq!(alice, 1, "the stale session was ended");
}
