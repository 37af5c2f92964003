//! `keyward access list|approve|deny|revoke`: access requests from the server's command line,
//! for operators with the key file (decided as `cli`, with a security admin's rights; `cli` is
//! never a requester, and counts as one approver).
use crate::authn::{Binding, Principal};
use crate::authz::Action;
use crate::authz::{Role, ORG_WIDE};
use crate::config::Settings;
use crate::domain::access::AccessState;
use crate::domain::Justification;
use crate::services::access::{AccessQuery, AccessView};
use crate::services::{Caller, RequestMeta};
use crate::startup;
use clap::Subcommand;
use std::process::ExitCode;

#[derive(Subcommand)]
pub(super) enum AccessCommand {
    /// List access requests, newest first (all teams).
    ///
    /// Example: keyward access list --state pending
    List {
        /// pending, approved, denied, expired, revoked or cancelled.
        #[arg(long)]
        state: Option<String>,
        /// Only the requests on this account (its id).
        #[arg(long)]
        account: Option<String>,
        /// Print JSON lines instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Approve a pending request (one approval; a request needing two needs a second person).
    ///
    /// Example: keyward access approve 0193… --comment "agreed on the incident call"
    Approve {
        /// The request's id, as `access list` prints it.
        id: String,
        /// Why (3 to 500 characters; kept in the audit trail).
        #[arg(long)]
        comment: Option<String>,
    },
    /// Deny a pending request.
    ///
    /// Example: keyward access deny 0193… --comment "use the runbook instead"
    Deny {
        /// The request's id, as `access list` prints it.
        id: String,
        /// Why (3 to 500 characters; kept in the audit trail).
        #[arg(long)]
        comment: Option<String>,
    },
    /// End a grant (or a pending request) at once.
    ///
    /// Example: keyward access revoke 0193… --comment "incident closed"
    Revoke {
        /// The request's id, as `access list` prints it.
        id: String,
        /// Why (3 to 500 characters; kept in the audit trail).
        #[arg(long)]
        comment: Option<String>,
    },
}

fn line(view: &AccessView) -> String {
    let until = view
        .row
        .expires_at
        .filter(|_| view.state == "approved")
        .map(|at| format!(" until {}", at.format("%Y-%m-%d %H:%M UTC")))
        .unwrap_or_default();
    format!(
        "{}  {:<9} {} {}@{}  {}  {} min  by {}{until}: {}",
        view.row.id,
        view.state,
        view.team,
        view.platform,
        view.handle,
        view.row.action_names().join(","),
        view.row.minutes,
        view.requester_name,
        view.row.reason
    )
}

pub(super) async fn access(
    settings: &Settings,
    command: AccessCommand,
) -> anyhow::Result<ExitCode> {
    let core = startup::build_core(settings, false).await?;
    let caller = Caller {
        principal: Principal::cli(vec![Binding {
            team: ORG_WIDE.to_owned(),
            role: Role::SecurityAdmin,
        }]),
        meta: RequestMeta::default(),
        session: None,
    };
    let comment = |raw: Option<String>| {
        Justification::parse_optional(raw.as_deref()).map_err(|e| anyhow::anyhow!("--comment: {e}"))
    };
    let view = match command {
        AccessCommand::List {
            state,
            account,
            json,
        } => {
            let state = state
                .as_deref()
                .map(AccessState::parse)
                .transpose()
                .map_err(|e| anyhow::anyhow!("--state: {e}"))?;
            let views = core
                .access_requests(
                    &caller,
                    AccessQuery {
                        state,
                        account,
                        mine: false,
                        limit: crate::services::access::MAX_LIST,
                    },
                )
                .await?;
            if views.is_empty() && !json {
                println!("no access requests");
            }
            for view in &views {
                if json {
                    println!(
                        "{}",
                        serde_json::json!({
                            "id": view.row.id,
                            "state": view.state,
                            "account": view.row.account_id,
                            "team": view.team,
                            "requester": view.row.requester,
                            "actions": view.row.action_names(),
                            "minutes": view.row.minutes,
                            "reason": view.row.reason,
                            "expires_at": view.row.expires_at,
                        })
                    );
                } else {
                    println!("{}", line(view));
                }
            }
            return Ok(ExitCode::SUCCESS);
        }
        AccessCommand::Approve { id, comment: raw } => {
            let allowed = core
                .allow_request(&caller, &id, Action::AccessApprove)
                .await?;
            core.approve_access(&caller, &allowed, comment(raw)?)
                .await?
        }
        AccessCommand::Deny { id, comment: raw } => {
            let allowed = core
                .allow_request(&caller, &id, Action::AccessApprove)
                .await?;
            core.deny_access(&caller, &allowed, comment(raw)?).await?
        }
        AccessCommand::Revoke { id, comment: raw } => {
            let allowed = core
                .allow_request(&caller, &id, Action::AccessApprove)
                .await?;
            core.revoke_access(&caller, &allowed, comment(raw)?).await?
        }
    };
    println!("{}", line(&view));
    Ok(ExitCode::SUCCESS)
}
