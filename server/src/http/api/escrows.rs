//! Break-glass escrows: the ceremony (security admin), reading them, and a custodian's
//! one-time share pickup.

use super::accounts::rfc3339;
use crate::http::extract::Json;
use crate::http::{ApiError, Authenticated};
use crate::services::escrow::{EscrowInput, EscrowView};
use crate::services::Core;
use actix_web::{web, HttpResponse};
use keyward_proto::escrows::{
    CreateEscrow, CustodianOut, EscrowId, EscrowList, EscrowOut, PickedUp, ShareOut,
};
use keyward_proto::Sensitive;

impl From<EscrowView> for EscrowOut {
    fn from(view: EscrowView) -> Self {
        let e = view.escrow;
        EscrowOut {
            id: e.id,
            name: e.name,
            teams: view.teams,
            threshold: e.threshold,
            custodians: view
                .custodians
                .into_iter()
                .map(|c| CustodianOut {
                    picked_up: c.picked_up_at.is_some(),
                    email: c.email,
                    index: c.share_index,
                    fingerprint: c.fingerprint,
                    delivered: c.delivery,
                })
                .collect(),
            public_key: e.public_key,
            state: e.state,
            waiting_period_minutes: e.waiting_period_minutes,
            release_ttl_minutes: e.release_ttl_minutes,
            created_at: rfc3339(e.created_at),
            shares: Vec::new(),
        }
    }
}

/// Sets up an escrow: the key ceremony (security admin). Shares for custodians with an age key
/// are in this answer, once.
#[utoipa::path(post, path = "/api/v1/escrows", tag = "break-glass", request_body = CreateEscrow,
    responses((status = 201, body = EscrowOut)))]
pub async fn create(
    core: web::Data<Core>,
    auth: Authenticated,
    body: Json<CreateEscrow>,
) -> Result<HttpResponse, ApiError> {
    core.may_manage_escrows(&auth.0).await?;
    let body = body.into_inner()?;
    let input = EscrowInput::parse(
        &body.name,
        &body.teams,
        body.threshold,
        body.custodians
            .into_iter()
            .map(|c| (c.email, c.age_recipient))
            .collect(),
        body.waiting_period_minutes,
        body.release_ttl_minutes,
    )?;
    let created = core.create_escrow(&auth.0, input).await?;
    let mut out = EscrowOut::from(created.view);
    out.shares = created
        .shares
        .into_iter()
        .map(|(email, age_armored)| ShareOut {
            email,
            age_armored: Sensitive::new(age_armored),
        })
        .collect();
    Ok(HttpResponse::Created().json(out))
}

/// Escrows: all for security admins and auditors, theirs for custodians.
#[utoipa::path(get, path = "/api/v1/escrows", tag = "break-glass",
    responses((status = 200, body = EscrowList)))]
pub async fn list(core: web::Data<Core>, auth: Authenticated) -> Result<HttpResponse, ApiError> {
    let escrows = core.escrows(&auth.0).await?;
    Ok(HttpResponse::Ok().json(EscrowList {
        escrows: escrows.into_iter().map(EscrowOut::from).collect(),
    }))
}

/// One escrow (security admins, auditors, its custodians).
#[utoipa::path(get, path = "/api/v1/escrows/{id}", tag = "break-glass", params(EscrowId),
    responses((status = 200, body = EscrowOut), (status = 404, description = "no such escrow", body = keyward_proto::wire::ErrorBody)))]
pub async fn get(
    core: web::Data<Core>,
    auth: Authenticated,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let view = core.escrow(&auth.0, &id).await?;
    Ok(HttpResponse::Ok().json(EscrowOut::from(view)))
}

/// A custodian picks up their share, once, after a recent sign-in.
#[utoipa::path(post, path = "/api/v1/escrows/{id}/share", tag = "break-glass", params(EscrowId),
    responses((status = 200, body = PickedUp),
    (status = 404, description = "no such escrow", body = keyward_proto::wire::ErrorBody),
    (status = 409, description = "`share_already_issued`", body = keyward_proto::wire::ErrorBody)))]
pub async fn share(
    core: web::Data<Core>,
    auth: Authenticated,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let (share, index) = core.pick_up_share(&auth.0, &id).await?;
    Ok(HttpResponse::Ok().json(PickedUp {
        share: Sensitive::new(share.as_str()),
        index,
    }))
}
