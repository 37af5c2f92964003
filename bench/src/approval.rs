//! The reveal on an account under `approval`: one member (provisioned over SCIM) with a token
//! per worker bound to them asks for access, the operator's CLI approves, and the workers
//! reveal under the grant. The same reveal on an open account with the same tokens is the
//! comparison: the difference is the grant's lookup (and, for a token, finding its member).

use crate::server::{call, Server};
use anyhow::{Context, Result};
use keyward_proto::access::{AccessRequestBody, AccessRequestOut};
use keyward_proto::accounts::{AccountOut, CreateAccount, PatchAccount};
use keyward_proto::otp::{SetOtp, VersionOut};
use reqwest::Client;

/// What the approval measure needs: tokens bound to the requester, and the locked account.
pub(crate) struct Approval {
    pub tokens: Vec<String>,
    pub account: String,
}

pub(crate) async fn prepare(server: &Server, manager: &str, workers: usize) -> Result<Approval> {
    let client = Client::new();
    let base = &server.base;
    let scim = server.cli_token("bench-scim", "scim", "*")?;
    let email = "bench-requester@example.com";
    let res = client
        .post(format!("{base}/scim/v2/Users"))
        .bearer_auth(&scim)
        .json(&serde_json::json!({ "userName": email }))
        .send()
        .await?;
    anyhow::ensure!(res.status().as_u16() == 201, "SCIM user: {}", res.status());
    eprintln!("  creating {workers} tokens bound to one member…");
    let tokens = (0..workers)
        .map(|i| {
            let out = server.cli(&[
                "token",
                "create",
                "--name",
                &format!("bench-bound-{i}"),
                "--role",
                "operator",
                "--team",
                "marketing",
                "--member",
                email,
            ])?;
            out.lines()
                .last()
                .map(|l| l.trim().to_owned())
                .context("token printed")
        })
        .collect::<Result<Vec<_>>>()?;
    let created: AccountOut = call(
        &client,
        base,
        manager,
        "POST",
        "/api/v1/accounts",
        &CreateAccount {
            team: "marketing".into(),
            platform: "x".into(),
            handle: "@bench_locked".into(),
            login_url: None,
            notes: None,
        },
    )
    .await?;
    let account = created.id;
    let _: VersionOut = call(
        &client,
        base,
        manager,
        "PUT",
        &format!("/api/v1/accounts/{account}/totp"),
        &SetOtp::seed(crate::SEED),
    )
    .await?;
    let res = client
        .patch(format!("{base}/api/v1/accounts/{account}"))
        .bearer_auth(manager)
        .json(&PatchAccount {
            platform: None,
            handle: None,
            login_url: None,
            notes: None,
            status: None,
            access: Some("approval".into()),
            approvers_needed: Some(1),
        })
        .send()
        .await?;
    anyhow::ensure!(res.status().is_success(), "PATCH access: {}", res.status());
    let asked: AccessRequestOut = call(
        &client,
        base,
        &tokens[0],
        "POST",
        "/api/v1/access-requests",
        &AccessRequestBody {
            account: account.clone(),
            actions: vec!["totp.reveal".into()],
            minutes: Some(480),
            reason: Some("benchmark of the reveal under approval".into()),
        },
    )
    .await?;
    server.cli(&["access", "approve", &asked.id])?;
    Ok(Approval { tokens, account })
}
