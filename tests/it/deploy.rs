//! The packaging in deploy/: checked by the tools that will run it, where they exist here
//! (systemd-analyze, HAProxy), and `keyward health`, the container's health check.

use crate::support::{cli_for, spawn_app, spawn_process};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(path)
}

#[test]
fn the_systemd_unit_verifies_cleanly_and_rates_ok_in_systemd_analyze_security() {
    let dir = tempfile::tempdir().unwrap();
    // verify wants ExecStart to exist: point it at the binary under test.
    let unit = std::fs::read_to_string(repo("deploy/keyward.service"))
        .unwrap()
        .replace("/usr/local/bin/keyward", env!("CARGO_BIN_EXE_keyward"));
    for line in [
        "DynamicUser=yes",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
    ] {
        assert!(unit.contains(line), "the unit has {line}");
    }
    assert!(unit.contains("LoadCredential=keys.json:/etc/keyward/keys.json"));
    let path = dir.path().join("keyward.service");
    std::fs::write(&path, unit).unwrap();
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&path)
        .output()
        .expect("systemd-analyze runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stderr.trim().is_empty(),
        "systemd-analyze verify: {stderr}"
    );
    let out = Command::new("systemd-analyze")
        .args(["security", "--offline=true", "--no-pager"])
        .arg(&path)
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&out.stdout);
    let overall = report
        .lines()
        .find(|l| l.contains("Overall exposure level"))
        .unwrap_or_else(|| panic!("no rating: {report}"));
    let score: f64 = overall
        .split(':')
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{overall}"));
    assert!(score <= 2.0, "{overall}");
}

#[test]
fn the_haproxy_configuration_is_valid_and_balances_the_compose_replicas() {
    let out = Command::new("haproxy")
        .args(["-c", "-f"])
        .arg(repo("deploy/haproxy.cfg"))
        .output()
        .expect("HAProxy (Debian's haproxy) is installed by make test-deps");
    assert!(
        out.status.success(),
        "haproxy -c: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let cfg = std::fs::read_to_string(repo("deploy/haproxy.cfg")).unwrap();
    assert!(cfg.contains("option httpchk GET /readyz"));
    // A request that reached a replica is never re-sent: conn-failure only.
    let retry: Vec<&str> = cfg.lines().filter(|l| l.contains("retry-on")).collect();
    assert_eq!(retry, ["    retry-on conn-failure"]);
    let servers: BTreeSet<String> = cfg
        .lines()
        .filter_map(|l| l.trim().strip_prefix("server "))
        .map(|l| l.split_whitespace().next().unwrap().to_owned())
        .collect();
    let compose: serde_json::Value = serde_saphyr::from_str(
        &std::fs::read_to_string(repo("deploy/compose/compose.yaml")).unwrap(),
    )
    .unwrap();
    let services = compose["services"].as_object().unwrap();
    let replicas: BTreeSet<String> = services
        .iter()
        .filter(|(_, s)| s["command"][0] == "serve")
        .map(|(name, _)| name.clone())
        .collect();
    assert_eq!(
        servers, replicas,
        "HAProxy balances exactly the compose replicas"
    );
    assert!(replicas.len() >= 2);
    for name in &replicas {
        assert_eq!(services[name]["read_only"], true, "{name}");
        assert_eq!(services[name]["command"][1], "--no-migrate", "{name}");
    }
}

/// Every `.Values.a.b` a template reads, as `a.b`.
fn values_read(template: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for (at, _) in template.match_indices(".Values.") {
        let rest = &template[at + ".Values.".len()..];
        let path: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '.' || *c == '_')
            .collect();
        out.insert(path.trim_end_matches('.').to_owned());
    }
    out
}

#[test]
fn every_value_the_helm_templates_read_is_set_in_values_yaml() {
    let values: serde_json::Value = serde_saphyr::from_str(
        &std::fs::read_to_string(repo("deploy/helm/keyward/values.yaml")).unwrap(),
    )
    .unwrap();
    let chart: serde_json::Value = serde_saphyr::from_str(
        &std::fs::read_to_string(repo("deploy/helm/keyward/Chart.yaml")).unwrap(),
    )
    .unwrap();
    assert_eq!(chart["apiVersion"], "v2");
    let mut kinds = BTreeSet::new();
    for entry in std::fs::read_dir(repo("deploy/helm/keyward/templates")).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        for path_read in values_read(&text) {
            let found = path_read.split('.').try_fold(&values, |v, key| v.get(key));
            assert!(
                found.is_some(),
                "{} reads .Values.{path_read}, which values.yaml lacks",
                path.display()
            );
        }
        if let Some(kind) = text.lines().find_map(|l| l.strip_prefix("kind: ")) {
            kinds.insert(kind.trim().to_owned());
        }
    }
    let expected = [
        "ConfigMap",
        "Deployment",
        "Ingress",
        "PodDisruptionBudget",
        "Service",
    ];
    assert_eq!(kinds, expected.iter().map(|k| k.to_string()).collect());
    let helpers =
        std::fs::read_to_string(repo("deploy/helm/keyward/templates/_helpers.tpl")).unwrap();
    for line in [
        "readOnlyRootFilesystem: true",
        "runAsNonRoot: true",
        "allowPrivilegeEscalation: false",
    ] {
        assert!(helpers.contains(line), "the pods run with {line}");
    }
}

#[tokio::test]
async fn keyward_health_exits_0_for_a_ready_server_and_1_for_none() {
    let app = spawn_app().await;
    let server = spawn_process(&app.settings).await;
    let out = cli_for(&app.settings)
        .args(["health", "--url", &format!("{}/readyz", server.base)])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("ready: "));
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let out = cli_for(&app.settings)
        .args(["health", "--url", &format!("http://{closed}/readyz")])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("not ready: "));
}
