//! Break-glass escrows: the ceremony (security admin), reading them, and a custodian's
//! one-time share pickup.

use super::accounts::rfc3339;
use crate::http::extract::Json;
use crate::http::{ApiError, Authenticated};
use crate::services::escrow::{EscrowInput, EscrowView};
use crate::services::Core;
use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CustodianIn {
    pub email: String,
    /// The custodian's own age key (`age1…`): the share is encrypted to it and returned once.
    /// Without one, the custodian picks the share up once after signing in.
    pub age_recipient: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateEscrow {
    #[schema(min_length = 1, max_length = 100)]
    pub name: String,
    /// Team slugs, or `["*"]` for every team.
    pub teams: Vec<String>,
    /// k: how many shares open the escrow (2 ≤ k ≤ n ≤ 16).
    #[schema(minimum = 2, maximum = 16)]
    pub threshold: i64,
    /// n custodians, one share each.
    pub custodians: Vec<CustodianIn>,
    /// Minutes between the k-th share and the release, during which it can be vetoed (0 to 10080).
    #[schema(minimum = 0, maximum = 10080)]
    pub waiting_period_minutes: Option<i64>,
    /// Minutes the released secrets stay readable (5 to 1440; default 60).
    #[schema(minimum = 5, maximum = 1440)]
    pub release_ttl_minutes: Option<i64>,
}

#[derive(Serialize, ToSchema)]
pub struct CustodianOut {
    pub email: String,
    pub index: i32,
    /// SHA-256 of the share bytes, hex: lets a custodian check they hold the right share.
    pub fingerprint: String,
    /// `age` or `pickup`.
    pub delivered: String,
    pub picked_up: bool,
}

#[derive(Serialize, ToSchema)]
pub struct ShareOut {
    pub email: String,
    /// The share, age-encrypted to the custodian's key. Shown once; Keyward keeps no copy.
    pub age_armored: String,
}

#[derive(Serialize, ToSchema)]
pub struct EscrowOut {
    pub id: String,
    pub name: String,
    pub teams: Vec<String>,
    pub threshold: i32,
    pub custodians: Vec<CustodianOut>,
    /// The 32-byte X25519 public key, base64.
    pub public_key: String,
    /// `active`, `spent` or `retired`.
    pub state: String,
    pub waiting_period_minutes: i32,
    pub release_ttl_minutes: i32,
    pub created_at: String,
    /// Only in the answer to the ceremony: the age-encrypted shares.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub shares: Vec<ShareOut>,
}

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

#[derive(Serialize, ToSchema)]
pub struct EscrowList {
    pub escrows: Vec<EscrowOut>,
}

#[derive(Serialize, ToSchema)]
pub struct PickedUp {
    /// `kwshare1-…`: keep it offline. It is not shown again.
    pub share: String,
    pub index: i32,
}

/// The escrow named in the path.
#[derive(IntoParams)]
#[into_params(names("id"), parameter_in = Path)]
#[allow(dead_code)]
pub struct EscrowId(
    /// The escrow's id.
    String,
);

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
        .map(|(email, age_armored)| ShareOut { email, age_armored })
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
    responses((status = 200, body = EscrowOut), (status = 404, description = "no such escrow", body = crate::http::wire::ErrorBody)))]
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
    (status = 404, description = "no such escrow", body = crate::http::wire::ErrorBody),
    (status = 409, description = "`share_already_issued`", body = crate::http::wire::ErrorBody)))]
pub async fn share(
    core: web::Data<Core>,
    auth: Authenticated,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let (share, index) = core.pick_up_share(&auth.0, &id).await?;
    Ok(HttpResponse::Ok().json(PickedUp {
        share: share.as_str().to_owned(),
        index,
    }))
}
