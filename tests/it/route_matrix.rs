//! Every route of the route table (`keyward::http::routes::ROUTES`), API, dashboard and SCIM,
//! against every role: each route's declared need decides who gets past it. A caller without
//! the right gets 403 before anything the request carries is read (the requests here carry
//! nothing but a CSRF token), and the refusal is audited; a caller with it never gets 401 or
//! 403. The policy's own table (who holds which action) is `authz_matrix.rs`.

use crate::support::idp::{csrf_of, spawn_sso_app, Browser};
use crate::support::{expect_json, TestApp};
use keyward::authz::{Authorizer, Role};
use keyward::http::routes::{Method, Need, Route, ROUTES};
use serde_json::{json, Value};

const SEED: &str = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP";

/// Token subjects (role, team) for the JSON API, SCIM and the health checks.
const TOKENS: [(&str, &str); 8] = [
    ("viewer", "marketing"),
    ("operator", "marketing"),
    ("manager", "marketing"),
    ("security_admin", "*"),
    ("auditor", "*"),
    ("custodian", "*"),
    ("operator", "sales"),
    ("scim", "*"),
];

/// Demo members of the test IdP for the dashboard, with the bindings its groups give them
/// (`support::idp::demo_bindings`).
const MEMBERS: [(&str, &[(&str, &str)]); 6] = [
    ("victor", &[("viewer", "marketing")]),
    ("alice", &[("operator", "marketing")]),
    ("mia", &[("manager", "marketing")]),
    ("sam", &[("security_admin", "*")]),
    ("olga", &[("auditor", "*")]),
    ("nora", &[]),
];

/// Whether bindings `(role, team)` meet `need` for something in team `marketing` (held by a
/// person signed in, or by a service token); `None` for a route no role meets (it takes a
/// proof instead).
fn meets(need: Need, bindings: &[(&str, &str)], person: bool) -> Option<bool> {
    let grants = |action, teams: &[&str]| {
        let roles = Authorizer::roles_for(action);
        bindings.iter().any(|(role, team)| {
            teams.contains(team) && roles.contains(&Role::parse(role).expect("known role"))
        })
    };
    match need {
        Need::Nothing | Need::Caller => Some(true),
        Need::Team(action) => Some(grants(action, &["marketing", "*"])),
        Need::Person(action) => Some(person && grants(action, &["marketing", "*"])),
        Need::SomeTeam(action) => Some(bindings.iter().any(|(role, _)| {
            Authorizer::roles_for(action).contains(&Role::parse(role).expect("known role"))
        })),
        Need::OrgWide(action) => Some(grants(action, &["*"])),
        Need::Proof => None,
    }
}

/// The things the routes' paths name, made once.
struct Fixture {
    account: String,
    member: String,
    task: String,
    escrow: String,
    release: String,
    incident: String,
    /// A pending access request on an account under `approval`, by a member none of the
    /// callers is.
    request: String,
    /// The manager's token, to make a fresh account for a route that archives one.
    owner: String,
}

async fn fixture(app: &TestApp) -> Fixture {
    let owner = app.token("manager", "marketing").await;
    let account = app.account(&owner, "marketing", "@routes").await;
    app.set_totp(&owner, &account, SEED).await;
    let codes: Vec<String> = (1..=40).map(|i| format!("2000-{i:04}")).collect();
    app.backup_codes(&owner, &account, &codes).await;
    app.set_password(&owner, &account, "route-matrix-pass")
        .await;
    let member = app.member("route-matrix").await;
    let task = expect_json(
        app.post(
            "/api/v1/rotation-tasks",
            &owner,
            json!({"account": account, "kind": "password"}),
        )
        .await,
        201,
    )
    .await["id"]
        .as_str()
        .expect("task id")
        .to_owned();
    let admin = app.token("security_admin", "*").await;
    let escrow = app.escrow(&admin, "routes", "marketing").await;
    let release = app.release(&owner, &escrow, "route matrix").await;
    let incident = app.incident(&owner, &account).await;
    let locked = app.account(&owner, "marketing", "@routes-locked").await;
    expect_json(
        app.request(
            reqwest::Method::PATCH,
            &format!("/api/v1/accounts/{locked}"),
            Some(&owner),
            Some(json!({"access": "approval"})),
        )
        .await,
        200,
    )
    .await;
    let requester = app.member("route-matrix-requester").await;
    let requester = app
        .token_for(&requester, &[("operator", "marketing")])
        .await;
    let request = expect_json(
        app.post(
            "/api/v1/access-requests",
            &requester,
            json!({"account": locked, "actions": ["totp.reveal"], "minutes": 30, "reason": "route matrix"}),
        )
        .await,
        201,
    )
    .await["id"]
        .as_str()
        .expect("request id")
        .to_owned();
    Fixture {
        account,
        member,
        task,
        escrow,
        release,
        incident,
        request,
        owner,
    }
}

impl Fixture {
    /// The route's path with its parameters filled in. A route that archives an account gets
    /// an account of its own, so the others keep a usable one.
    async fn path(&self, app: &TestApp, route: &Route) -> String {
        let archives = route.path.ends_with("/archive")
            || (route.method == Method::Delete && route.path.starts_with("/api/v1/accounts/"));
        let account = if archives {
            app.account(
                &self.owner,
                "marketing",
                &format!("@a{}", uuid::Uuid::now_v7().simple()),
            )
            .await
        } else {
            self.account.clone()
        };
        let id = match route.path {
            p if p.starts_with("/api/v1/accounts/") || p.starts_with("/accounts/") => account,
            p if p.contains("/members/") || p.contains("/Users/") => self.member.clone(),
            p if p.contains("/rotation-tasks/") => self.task.clone(),
            p if p.contains("/escrows/") => self.escrow.clone(),
            p if p.contains("/releases/") => self.release.clone(),
            p if p.contains("/incidents/") => self.incident.clone(),
            p if p.contains("/access-requests/") => self.request.clone(),
            p if p.contains("/ResourceTypes/") => "User".to_owned(),
            p if p.contains("/Schemas/") => "urn:ietf:params:scim:schemas:core:2.0:User".to_owned(),
            _ => String::new(),
        };
        route
            .path
            .replace("{id}", &id)
            .replace("{position}", "1")
            .replace("{name}", "app.css")
            .replace("{lang}", "en")
    }

    /// What a JSON request to the route carries: nothing, but where the route's team comes
    /// from the body, whose account must be read before the team is known (the handler first
    /// refuses a caller with the action in no team at all).
    fn body(&self, route: &Route) -> Option<Value> {
        if route.method == Method::Get || route.method == Method::Delete {
            return None;
        }
        Some(match route.path {
            "/api/v1/incidents" => json!({"account": self.account, "runbook": "lockout"}),
            "/api/v1/rotation-tasks" => json!({"account": self.account, "kind": "password"}),
            "/api/v1/access-requests" => json!({"account": self.account}),
            _ => json!({}),
        })
    }
}

fn reqwest_method(method: Method) -> reqwest::Method {
    match method {
        Method::Get => reqwest::Method::GET,
        Method::Post => reqwest::Method::POST,
        Method::Put => reqwest::Method::PUT,
        Method::Patch => reqwest::Method::PATCH,
        Method::Delete => reqwest::Method::DELETE,
    }
}

fn is_site(route: &Route) -> bool {
    !route.path.starts_with("/api/")
        && !route.path.starts_with("/scim/")
        && !matches!(route.path, "/healthz" | "/readyz")
}

/// Checks one answer against the need; a mismatch is described.
fn judge(who: &str, route: &Route, expected: Option<bool>, status: u16) -> Option<String> {
    let ok = match expected {
        Some(true) => status != 401 && status != 403,
        Some(false) => status == 403,
        // A proof is needed: nobody gets through with a role alone.
        None => !(200..400).contains(&status),
    };
    (!ok).then(|| {
        let want = match expected {
            Some(true) => "neither 401 nor 403",
            Some(false) => "403",
            None => "no success without the proof",
        };
        format!(
            "{who}: {} {}: got {status}, want {want} ({:?})",
            route.method.as_str(),
            route.path,
            route.need
        )
    })
}

fn denials(rows: &[keyward::store::audit::AuditRow]) -> usize {
    rows.iter()
        .filter(|r| r.action == "auth.denied" && r.actor != "anonymous")
        .count()
}

#[tokio::test]
async fn every_route_lets_exactly_the_roles_its_need_names_through() {
    let app = spawn_sso_app("").await;
    let fx = fixture(&app).await;
    let denied_before = denials(&app.audit_rows().await);
    let mut refused = 0;
    let mut failures = Vec::new();
    let client = Browser::new().client;

    // The JSON API, SCIM and the health checks, by token.
    for (role, team) in TOKENS {
        let token = app.token(role, team).await;
        for route in ROUTES.iter().filter(|r| !is_site(r)) {
            let path = fx.path(&app, route).await;
            let mut req = client
                .request(reqwest_method(route.method), format!("{}{path}", app.base))
                .bearer_auth(&token);
            if let Some(body) = fx.body(route) {
                req = req.json(&body);
            }
            let status = req.send().await.expect("request").status().as_u16();
            let expected = meets(route.need, &[(role, team)], false);
            refused += usize::from(status == 403);
            failures.extend(judge(&format!("{role}@{team}"), route, expected, status));
        }
    }

    // The dashboard, by each demo member's browser session, forms with a valid CSRF token.
    // Signing out comes last.
    let mut site: Vec<&Route> = ROUTES.iter().filter(|r| is_site(r)).collect();
    site.sort_by_key(|r| r.path == "/auth/logout");
    for (member, bindings) in MEMBERS {
        let browser = Browser::new();
        browser.sign_in(&app.base, member).await;
        let page = browser.page(&format!("{}/rotation-tasks", app.base)).await;
        let csrf = csrf_of(&page);
        for route in &site {
            let path = fx.path(&app, route).await;
            let url = format!("{}{path}", app.base);
            let res = match route.method {
                Method::Get => browser.get(&url).await,
                _ => browser
                    .client
                    .request(reqwest_method(route.method), &url)
                    .header("origin", &app.base)
                    .form(&[("csrf", csrf.as_str())])
                    .send()
                    .await
                    .expect("form"),
            };
            let status = res.status().as_u16();
            let expected = meets(route.need, bindings, true);
            // A page that needs a proof the browser lacks (the release key) writes nothing:
            // another site could link to it and write refusals in the member's name.
            refused += usize::from(
                status == 403 && !(route.need == Need::Proof && route.method == Method::Get),
            );
            failures.extend(judge(member, route, expected, status));
        }
    }

    // A forged CSRF token: every dashboard form but those that take a proof instead (the
    // IdP's logout token, a custodian's share) is refused with 403, even for the manager who
    // may do nearly everything, before it changes anything.
    let forger = Browser::new();
    forger.sign_in(&app.base, "mia").await;
    let writes_before = app.audit_rows().await.len();
    let mut forged = 0;
    // Routes that need nothing read no session, so a CSRF token means nothing to them (the
    // device sign-in's code and token endpoints, which the command line calls).
    for route in site
        .iter()
        .filter(|r| r.method != Method::Get && !matches!(r.need, Need::Proof | Need::Nothing))
    {
        let path = fx.path(&app, route).await;
        let status = forger
            .client
            .request(reqwest_method(route.method), format!("{}{path}", app.base))
            .header("origin", &app.base)
            .form(&[("csrf", "forged")])
            .send()
            .await
            .expect("form")
            .status()
            .as_u16();
        forged += 1;
        if status != 403 {
            failures.push(format!(
                "forged CSRF: {} {}: got {status}, want 403",
                route.method.as_str(),
                route.path
            ));
        }
    }
    assert!(forged > 20, "the dashboard's forms were tried: {forged}");
    let written: Vec<String> = app.audit_rows().await[writes_before..]
        .iter()
        .map(|r| r.action.clone())
        // The accounts the archiving routes are given are made here through the API.
        .filter(|a| a != "auth.denied" && a != "account.create")
        .collect();
    assert!(
        written.is_empty(),
        "a forged form changed something: {written:?}"
    );

    // Nobody: every route that needs more than nothing is refused before it is served (the
    // dashboard sends the browser to sign in).
    let anonymous = Browser::new();
    for route in ROUTES.iter().filter(|r| r.need != Need::Nothing) {
        let path = fx.path(&app, route).await;
        let mut req = anonymous
            .client
            .request(reqwest_method(route.method), format!("{}{path}", app.base));
        if is_site(route) && route.method != Method::Get {
            req = req.header("origin", &app.base).form(&[("csrf", "")]);
        } else if let Some(body) = fx.body(route) {
            req = req.json(&body);
        }
        let status = req.send().await.expect("request").status().as_u16();
        let ok = match (is_site(route), route.need) {
            (_, Need::Proof) => !(200..300).contains(&status),
            (false, _) => status == 401,
            (true, _) => status == 303 || status == 401,
        };
        if !ok {
            failures.push(format!(
                "anonymous: {} {}: got {status}",
                route.method.as_str(),
                route.path
            ));
        }
    }

    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
    let denied_after = denials(&app.audit_rows().await);
    assert_eq!(
        denied_after - denied_before,
        refused,
        "every refusal is audited"
    );
}

#[test]
fn the_route_table_names_each_route_once_and_every_need_is_met_by_someone() {
    let mut seen = std::collections::BTreeSet::new();
    for route in ROUTES {
        assert!(
            seen.insert((route.method.as_str(), route.path)),
            "{} {} is in the table twice",
            route.method.as_str(),
            route.path
        );
        // A need that no role in the policy meets would lock the route for everyone.
        let bindings: Vec<(&str, &str)> = Role::ALL.iter().map(|r| (r.as_str(), "*")).collect();
        assert_ne!(
            meets(route.need, &bindings, true),
            Some(false),
            "{} {}: no role meets {:?}",
            route.method.as_str(),
            route.path,
            route.need
        );
    }
}
