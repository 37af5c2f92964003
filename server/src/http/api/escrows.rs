//! Break-glass escrows: a member's own age key, the ceremony (security admin, naming members),
//! reading them, a custodian fetching and confirming their share, retiring an escrow.

use super::accounts::rfc3339;
use crate::domain::Justification;
use crate::http::extract::Json;
use crate::http::{ApiError, Authenticated};
use crate::services::escrow::{recipient_fingerprint, EscrowInput, EscrowView, Handed};
use crate::services::Core;
use actix_web::{web, HttpResponse};
use keyward_proto::escrows::{
    AgeRecipientOut, ConfirmShare, CreateEscrow, CustodianOut, EscrowId, EscrowList, EscrowOut,
    FetchedShare, RetireEscrow, SetAgeRecipient,
};
use keyward_proto::Sensitive;
use secrecy::ExposeSecret;

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
                    confirmed: c.confirmed_at.is_some(),
                    member: c.member_id,
                    email: c.email,
                    index: c.share_index,
                    fingerprint: c.fingerprint,
                    delivered: c.delivery,
                })
                .collect(),
            public_key: e.public_key,
            state: e.state,
            needs_ceremony: e.needs_ceremony,
            waiting_period_minutes: e.waiting_period_minutes,
            release_ttl_minutes: e.release_ttl_minutes,
            created_at: rfc3339(e.created_at),
        }
    }
}

/// Sets up an escrow: the key ceremony (security admin). Custodians are members, named by id
/// or email; the answer holds no share, and the escrow is `pending` until each custodian has
/// fetched and confirmed theirs.
#[utoipa::path(post, path = "/api/v1/escrows", tag = "break-glass", request_body = CreateEscrow,
    responses((status = 201, body = EscrowOut),
    (status = 422, description = "`recipient_from_operator`, `unknown_custodian`, `duplicate_custodian`, `invalid_threshold`…", body = keyward_proto::wire::ErrorBody)))]
pub async fn create(
    core: web::Data<Core>,
    auth: Authenticated,
    body: Json<CreateEscrow>,
) -> Result<HttpResponse, ApiError> {
    core.may_manage_escrows(&auth.0).await?;
    let body = body.into_inner()?;
    let named: Vec<(String, bool)> = body.custodians.iter().map(|c| c.named()).collect();
    let input = EscrowInput::parse(
        &body.name,
        &body.teams,
        body.threshold,
        named.iter().map(|(who, _)| who.clone()).collect(),
        named.iter().any(|(_, recipient)| *recipient),
        body.waiting_period_minutes,
        body.release_ttl_minutes,
    )?;
    let view = core.create_escrow(&auth.0, input).await?;
    Ok(HttpResponse::Created().json(EscrowOut::from(view)))
}

/// A member enrols their own age public key: their break-glass shares are encrypted to it.
/// Nobody can set another member's.
#[utoipa::path(put, path = "/api/v1/me/age-recipient", tag = "break-glass", request_body = SetAgeRecipient,
    responses((status = 200, body = AgeRecipientOut),
    (status = 403, description = "`not_a_member`: a token not bound to a member", body = keyward_proto::wire::ErrorBody),
    (status = 422, description = "`invalid_age_recipient`", body = keyward_proto::wire::ErrorBody)))]
pub async fn set_age_recipient(
    core: web::Data<Core>,
    auth: Authenticated,
    body: Json<SetAgeRecipient>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner()?;
    let member = core
        .set_own_age_recipient(&auth.0, &body.age_recipient)
        .await?;
    let recipient = member.age_recipient.unwrap_or_default();
    Ok(HttpResponse::Ok().json(AgeRecipientOut {
        member: member.id,
        fingerprint: recipient_fingerprint(&recipient),
        age_recipient: recipient,
    }))
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

/// A custodian fetches their own share, once: age-encrypted to the key they enrolled, or
/// plain after their own fresh sign-in. Nobody else gets it (403), a security admin included.
#[utoipa::path(post, path = "/api/v1/escrows/{id}/share", tag = "break-glass", params(EscrowId),
    responses((status = 200, body = FetchedShare),
    (status = 403, description = "`not_a_custodian`", body = keyward_proto::wire::ErrorBody),
    (status = 404, description = "no such escrow", body = keyward_proto::wire::ErrorBody),
    (status = 409, description = "`share_already_issued`", body = keyward_proto::wire::ErrorBody)))]
pub async fn share(
    core: web::Data<Core>,
    auth: Authenticated,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let (handed, index) = core.fetch_share(&auth.0, &id).await?;
    let (age_armored, share) = match handed {
        Handed::Age(armored) => (Some(Sensitive::new(armored)), None),
        Handed::Plain(text) => (None, Some(Sensitive::new(text.as_str()))),
    };
    Ok(HttpResponse::Ok().json(FetchedShare {
        index,
        age_armored,
        share,
    }))
}

/// A custodian proves they hold their share (checked against its fingerprint, then
/// forgotten). The escrow becomes `active` when every custodian has.
#[utoipa::path(post, path = "/api/v1/escrows/{id}/confirm", tag = "break-glass", params(EscrowId),
    request_body = ConfirmShare,
    responses((status = 200, body = EscrowOut),
    (status = 403, description = "`not_a_custodian`", body = keyward_proto::wire::ErrorBody),
    (status = 404, description = "no such escrow", body = keyward_proto::wire::ErrorBody),
    (status = 409, description = "`already_confirmed`", body = keyward_proto::wire::ErrorBody),
    (status = 422, description = "`invalid_share`", body = keyward_proto::wire::ErrorBody)))]
pub async fn confirm(
    core: web::Data<Core>,
    auth: Authenticated,
    id: web::Path<String>,
    body: Json<ConfirmShare>,
) -> Result<HttpResponse, ApiError> {
    let view = core.escrow(&auth.0, &id).await?;
    let body = body.into_inner()?;
    let view = core
        .confirm_share(&auth.0, &view.escrow.id, body.share.expose_secret())
        .await?;
    Ok(HttpResponse::Ok().json(EscrowOut::from(view)))
}

/// Retires an escrow (security admin): no new seals, its seals deleted, its open releases end.
#[utoipa::path(post, path = "/api/v1/escrows/{id}/retire", tag = "break-glass", params(EscrowId),
    request_body = RetireEscrow,
    responses((status = 200, body = EscrowOut),
    (status = 404, description = "no such escrow", body = keyward_proto::wire::ErrorBody),
    (status = 409, description = "`escrow_retired`", body = keyward_proto::wire::ErrorBody)))]
pub async fn retire(
    core: web::Data<Core>,
    auth: Authenticated,
    id: web::Path<String>,
    body: Json<RetireEscrow>,
) -> Result<HttpResponse, ApiError> {
    core.may_manage_escrows(&auth.0).await?;
    let body = body.into_inner()?;
    let justification = Justification::parse(&body.justification)?;
    let view = core.retire_escrow(&auth.0, &id, &justification).await?;
    Ok(HttpResponse::Ok().json(EscrowOut::from(view)))
}
