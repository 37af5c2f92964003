//! `keyward member` and `keyward token`: role bindings, offboarding, service tokens.
use super::args::{MemberCommand, TokenCommand};
use super::common::{connect_migrated, integrity, parse_role, parse_team};
use crate::authn::Binding;
use crate::config::Settings;
use crate::services;
use crate::startup;
use crate::store::Store;
use keyward_proto::words::count;
use std::process::ExitCode;

pub(super) async fn member(
    settings: &Settings,
    command: MemberCommand,
) -> anyhow::Result<ExitCode> {
    let store = connect_migrated(settings).await?;
    let ig = &integrity(settings)?;
    match command {
        MemberCommand::List => {
            let members = services::admin::members_with_grants(&store, ig).await?;
            if members.is_empty() {
                println!("no members yet: people appear here after their first sign-in");
            }
            for (m, grants) in members {
                let roles: Vec<String> = grants
                    .iter()
                    .map(|g| format!("{}@{} ({})", g.role, g.team, g.source))
                    .collect();
                let roles = if roles.is_empty() {
                    "no roles".to_owned()
                } else {
                    roles.join(", ")
                };
                println!(
                    "{}  {:<28} {:<8} {roles}",
                    m.id,
                    m.email.as_deref().unwrap_or("-"),
                    m.status
                );
            }
        }
        MemberCommand::Grant { who, role, team } => {
            let (role, team, who) = (parse_role(&role)?, parse_team(&team)?, who.resolve());
            let added = services::members::grant(&store, ig, &who, role, &team).await?;
            let verb = if added { "granted" } else { "already had" };
            println!("{who} {verb} {} in {team}", role.as_str());
        }
        MemberCommand::Offboard {
            who,
            reason,
            policy,
        } => return offboard(settings, &store, &who, &reason, policy.as_deref()).await,
        MemberCommand::Revoke { who, role, team } => {
            let (role, team, who) = (parse_role(&role)?, parse_team(&team)?, who.resolve());
            anyhow::ensure!(
                services::members::revoke(&store, ig, &who, role, &team).await?,
                "{who} has no granted {} in {team}",
                role.as_str()
            );
            println!("revoked {} in {team} from {who}", role.as_str());
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub(super) async fn offboard(
    settings: &Settings,
    store: &Store,
    who: &str,
    reason: &str,
    policy: Option<&str>,
) -> anyhow::Result<ExitCode> {
    let reason = crate::domain::DepartureReason::parse(reason)
        .map_err(|e| anyhow::anyhow!("--reason: {e}"))?;
    let policy =
        crate::domain::OffboardPolicy::parse(policy.unwrap_or(&settings.rotation.offboard_policy))
            .map_err(|e| anyhow::anyhow!("--policy: {e}"))?;
    let core = startup::build_core(settings, false).await?;
    let member = services::members::find_one(
        store,
        &core.integrity,
        &services::members::MemberRef::from_arg(who),
    )
    .await?;
    let label = member.email.clone().unwrap_or_else(|| member.id.clone());
    eprintln!("offboarding {label} (policy {}) …", policy.as_str());
    let done = match core
        .depart(&services::Actor::cli(), &member.id, reason, policy)
        .await
    {
        Ok(done) => done,
        Err(services::ServiceError::Conflict { message, .. }) => {
            anyhow::bail!("{label}: {message}")
        }
        Err(err) => return Err(err.into()),
    };
    println!(
        "{label} is departed: {} ended, {} revoked",
        count(done.sessions_revoked, "session", "sessions"),
        count(done.tokens_revoked, "token", "tokens")
    );
    if done.exposure.is_empty() {
        println!("the audit trail shows no secret they still could use: no rotation needed");
    } else {
        println!(
            "exposure ({}):",
            count(done.exposure.len(), "item", "items")
        );
        for item in &done.exposure {
            let seq = item.seq.map(|s| format!("audit #{s}")).unwrap_or_default();
            let position = item.position.map(|p| format!(" #{p}")).unwrap_or_default();
            println!(
                "  {:<10} {:<20} {:<12}{position} {:<12} {seq}",
                item.platform, item.handle, item.kind, item.how
            );
        }
    }
    for view in &done.tasks {
        let due = view
            .task
            .due_at
            .map(|d| d.format("%Y-%m-%d %H:%M UTC").to_string())
            .unwrap_or_default();
        println!(
            "rotation task {}: {} of {} {} by {due}",
            view.task.id, view.task.secret_kind, view.platform, view.handle
        );
    }
    Ok(ExitCode::SUCCESS)
}

pub(super) async fn token(settings: &Settings, command: TokenCommand) -> anyhow::Result<ExitCode> {
    let store = connect_migrated(settings).await?;
    let ig = &integrity(settings)?;
    match command {
        TokenCommand::Create {
            name,
            role,
            team,
            expires_in_days,
            member,
        } => {
            let member_id = match member {
                Some(who) => Some(
                    services::members::find_one(
                        &store,
                        ig,
                        &services::members::MemberRef::from_arg(&who),
                    )
                    .await?
                    .id,
                ),
                None => None,
            };
            let name = name.trim().to_owned();
            anyhow::ensure!(
                !name.is_empty() && name.len() <= 100,
                "--name: 1-100 characters"
            );
            let role_parsed = parse_role(&role)?;
            let team = parse_team(&team)?;
            let expires_at =
                expires_in_days.map(|d| chrono::Utc::now() + chrono::Duration::days(i64::from(d)));
            let bindings = vec![Binding {
                team: team.clone(),
                role: role_parsed,
            }];
            let (row, token) = services::tokens::create_for(
                &store,
                ig,
                &name,
                bindings,
                expires_at,
                member_id.as_deref(),
            )
            .await?;
            println!(
                "created token {:?} (id {}) with role {} in team {team}",
                row.name,
                row.id,
                role_parsed.as_str()
            );
            println!("it is shown once, now; store it in your secret manager:");
            println!("{}", token.as_str());
        }
        TokenCommand::List => {
            let rows = services::admin::tokens(&store, ig).await?;
            if rows.is_empty() {
                println!("no tokens yet; create one with `keyward token create --name NAME --role ROLE --team TEAM`");
            }
            for row in rows {
                let state = match (row.revoked_at, row.expires_at) {
                    (Some(_), _) => "revoked".to_owned(),
                    (None, Some(at)) if at <= chrono::Utc::now() => "expired".to_owned(),
                    (None, Some(at)) => format!("expires {}", at.format("%Y-%m-%d")),
                    (None, None) => "active".to_owned(),
                };
                println!("{}  {:<24} {}  {}", row.id, row.name, row.bindings, state);
            }
        }
        TokenCommand::Revoke { id } => {
            anyhow::ensure!(
                services::tokens::revoke(&store, ig, &id).await?,
                "no token with id {id}"
            );
            println!("revoked token {id}");
        }
    }
    Ok(ExitCode::SUCCESS)
}
