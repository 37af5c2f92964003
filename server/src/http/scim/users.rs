//! SCIM Users: list and search (`filter=userName eq "…"`, paging), create, read, replace,
//! PATCH and delete. Setting `active` to false or deleting a user offboards the member.

use super::{scim_json, ScimError, LIST_SCHEMA, USER_SCHEMA};
use crate::domain::scim::ScimFilter;
use crate::http::extract::{Json, Query};
use crate::http::{ApiError, Authenticated};
use crate::services::scim::{apply_patch, user_name, Draft, PatchOperation};
use crate::services::{Caller, Core};
use crate::store::members::MemberRow;
use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use serde::Deserialize;
use serde_json::{json, Value};

const SEARCH_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:SearchRequest";
const PATCH_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

/// Which attributes to return (RFC 7644 3.9), comma-separated; `id` and `schemas` always are.
#[derive(Deserialize, utoipa::IntoParams, Default)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase")]
pub struct Projection {
    /// Only these attributes, e.g. `userName,active`.
    pub attributes: Option<String>,
    /// All but these attributes.
    pub excluded_attributes: Option<String>,
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase")]
pub struct ListParams {
    /// `userName eq "…"` (or `externalId eq "…"`, `id eq "…"`): the filters IdPs send.
    pub filter: Option<String>,
    /// The first result, counting from 1.
    pub start_index: Option<i64>,
    /// The most results (default 100, at most 1000).
    pub count: Option<i64>,
    pub attributes: Option<String>,
    pub excluded_attributes: Option<String>,
}

/// The user named in the path.
#[derive(utoipa::IntoParams)]
#[into_params(names("id"), parameter_in = Path)]
#[allow(dead_code)]
pub struct UserId(
    /// The user's (member's) id.
    String,
);

/// The caller, once authenticated and allowed to provision (a refusal is audited).
async fn provisioner(
    core: &Core,
    auth: Result<Authenticated, ApiError>,
    target: Option<&str>,
) -> Result<Caller, ScimError> {
    let caller = auth?.0;
    // An id that cannot be a member's names nothing: no target (nor an overlong one).
    let target = target
        .filter(|id| crate::domain::is_id(id))
        .map(|id| format!("member:{id}"));
    core.scim_allowed(&caller, target.as_deref()).await?;
    Ok(caller)
}

fn names(raw: Option<&str>) -> Vec<String> {
    raw.unwrap_or_default()
        .split(',')
        .map(|n| n.trim())
        .filter(|n| !n.is_empty())
        .map(|n| {
            n.rsplit_once(':')
                .map_or(n, |(_, name)| name)
                .to_ascii_lowercase()
        })
        .collect()
}

/// A member as a SCIM User, narrowed to the attributes asked for.
fn user_json(core: &Core, member: &MemberRow, projection: &Projection) -> Value {
    let location = format!(
        "{}/scim/v2/Users/{}",
        core.settings.public_url.trim_end_matches('/'),
        member.id
    );
    let at =
        |t: chrono::DateTime<chrono::Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let mut user = serde_json::Map::new();
    user.insert("schemas".into(), json!([USER_SCHEMA]));
    user.insert("id".into(), json!(member.id));
    if let Some(external) = &member.external_id {
        user.insert("externalId".into(), json!(external));
    }
    user.insert("userName".into(), json!(user_name(member)));
    if let Some(name) = &member.name {
        user.insert("displayName".into(), json!(name));
    }
    user.insert("active".into(), json!(member.is_active()));
    user.insert(
        "meta".into(),
        json!({
            "resourceType": "User",
            "created": at(member.created_at),
            "lastModified": at(member.updated_at),
            "location": location,
        }),
    );
    let only = names(projection.attributes.as_deref());
    let without = names(projection.excluded_attributes.as_deref());
    user.retain(|key, _| {
        let key = key.to_ascii_lowercase();
        if key == "id" || key == "schemas" {
            return true;
        }
        (only.is_empty() || only.contains(&key)) && !without.contains(&key)
    });
    Value::Object(user)
}

fn invalid(message: &str) -> ScimError {
    ScimError::new(StatusCode::BAD_REQUEST, Some("invalidValue"), message)
}

/// Reads a User body leniently: attributes Keyward does not keep (emails, name…) are ignored.
/// A body without `active` leaves it as `active_now` (true for a new user).
fn draft_of(body: &Value, active_now: bool) -> Result<Draft, ScimError> {
    let Value::Object(map) = body else {
        return Err(ScimError::new(
            StatusCode::BAD_REQUEST,
            Some("invalidSyntax"),
            "the body is a JSON object",
        ));
    };
    let text = |key: &str| -> Result<Option<String>, ScimError> {
        match map
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v)
        {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(invalid(&format!("{key} is a string"))),
        }
    };
    let active = match map
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("active"))
        .map(|(_, v)| v)
    {
        None | Some(Value::Null) => active_now,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(invalid("active is true or false")),
    };
    Ok(Draft {
        user_name: text("userName")?,
        external_id: text("externalId")?,
        display_name: text("displayName")?,
        active,
    })
}

fn list_response(
    core: &Core,
    total: usize,
    start: usize,
    members: &[MemberRow],
    projection: &Projection,
) -> Value {
    let resources: Vec<Value> = members
        .iter()
        .map(|m| user_json(core, m, projection))
        .collect();
    json!({
        "schemas": [LIST_SCHEMA],
        "totalResults": total,
        "itemsPerPage": resources.len(),
        "startIndex": start,
        "Resources": resources,
    })
}

async fn answer_list(
    core: &Core,
    filter: Option<&str>,
    start_index: Option<i64>,
    count: Option<i64>,
    projection: &Projection,
) -> Result<HttpResponse, ScimError> {
    let filter = filter
        .map(str::trim)
        .filter(|f| !f.is_empty())
        .map(ScimFilter::parse)
        .transpose()?;
    let start = usize::try_from(start_index.unwrap_or(1).max(1)).unwrap_or(1);
    let count = usize::try_from(count.unwrap_or(100).clamp(0, 1000)).unwrap_or(100);
    let (total, members) = core.scim_users(filter.as_ref(), start, count).await?;
    Ok(scim_json(
        StatusCode::OK,
        &list_response(core, total, start, &members, projection),
    ))
}

/// Users, filtered and in pages.
#[utoipa::path(get, path = "/scim/v2/Users", tag = "scim", params(ListParams),
    responses((status = 200, description = "a list response", content_type = "application/scim+json", body = Object)))]
pub async fn list(
    core: web::Data<Core>,
    auth: Result<Authenticated, ApiError>,
    query: Query<ListParams>,
) -> Result<HttpResponse, ScimError> {
    provisioner(&core, auth, None).await?;
    let q = query.into_inner()?;
    let projection = Projection {
        attributes: q.attributes,
        excluded_attributes: q.excluded_attributes,
    };
    answer_list(
        &core,
        q.filter.as_deref(),
        q.start_index,
        q.count,
        &projection,
    )
    .await
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SearchRequest {
    pub schemas: Option<Vec<String>>,
    pub filter: Option<String>,
    pub start_index: Option<i64>,
    pub count: Option<i64>,
    pub attributes: Option<Vec<String>>,
    pub excluded_attributes: Option<Vec<String>>,
}

/// Users, searched with a body (RFC 7644 3.4.3).
#[utoipa::path(post, path = "/scim/v2/Users/.search", tag = "scim", request_body(content = SearchRequest, content_type = "application/scim+json"),
    responses((status = 200, description = "a list response", content_type = "application/scim+json", body = Object)))]
pub async fn search(
    core: web::Data<Core>,
    auth: Result<Authenticated, ApiError>,
    body: Json<SearchRequest>,
) -> Result<HttpResponse, ScimError> {
    provisioner(&core, auth, None).await?;
    let body = body.into_inner()?;
    if body
        .schemas
        .as_ref()
        .is_some_and(|s| !s.iter().any(|s| s == SEARCH_SCHEMA))
    {
        return Err(invalid("schemas names the SearchRequest message"));
    }
    let projection = Projection {
        attributes: body.attributes.map(|a| a.join(",")),
        excluded_attributes: body.excluded_attributes.map(|a| a.join(",")),
    };
    answer_list(
        &core,
        body.filter.as_deref(),
        body.start_index,
        body.count,
        &projection,
    )
    .await
}

/// Searching every resource type at once is not offered: search `/Users/.search`.
#[utoipa::path(post, path = "/scim/v2/.search", tag = "scim",
    responses((status = 501, description = "not offered", content_type = "application/scim+json", body = super::ScimErrorBody)))]
pub async fn search_root(
    core: web::Data<Core>,
    auth: Result<Authenticated, ApiError>,
) -> Result<HttpResponse, ScimError> {
    provisioner(&core, auth, None).await?;
    Err(ScimError::new(
        StatusCode::NOT_IMPLEMENTED,
        None,
        "search /Users/.search instead",
    ))
}

/// Provisions a member before their first sign-in (linked at that sign-in by externalId =
/// the IdP's subject, or userName = their verified email).
#[utoipa::path(post, path = "/scim/v2/Users", tag = "scim", request_body(content = Object, content_type = "application/scim+json"),
    responses((status = 201, description = "the user", content_type = "application/scim+json", body = Object),
    (status = 409, description = "the userName is taken", content_type = "application/scim+json", body = super::ScimErrorBody)))]
pub async fn create(
    core: web::Data<Core>,
    auth: Result<Authenticated, ApiError>,
    body: Json<Value>,
) -> Result<HttpResponse, ScimError> {
    let caller = provisioner(&core, auth, None).await?;
    let input = draft_of(&body.into_inner()?, true)?.validate()?;
    let member = core.scim_create(&caller, input).await?;
    let user = user_json(&core, &member, &Projection::default());
    let location = user["meta"]["location"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let mut response = scim_json(StatusCode::CREATED, &user);
    if let Ok(value) = actix_web::http::header::HeaderValue::from_str(&location) {
        response
            .headers_mut()
            .insert(actix_web::http::header::LOCATION, value);
    }
    Ok(response)
}

/// One user.
#[utoipa::path(get, path = "/scim/v2/Users/{id}", tag = "scim", params(UserId, Projection),
    responses((status = 200, description = "the user", content_type = "application/scim+json", body = Object)))]
pub async fn get(
    core: web::Data<Core>,
    auth: Result<Authenticated, ApiError>,
    id: web::Path<String>,
    query: Query<Projection>,
) -> Result<HttpResponse, ScimError> {
    provisioner(&core, auth, Some(&id)).await?;
    let projection = query.into_inner()?;
    let member = core.scim_user(&id).await?;
    Ok(scim_json(
        StatusCode::OK,
        &user_json(&core, &member, &projection),
    ))
}

/// Replaces a user; `active: false` offboards the member.
#[utoipa::path(put, path = "/scim/v2/Users/{id}", tag = "scim", params(UserId), request_body(content = Object, content_type = "application/scim+json"),
    responses((status = 200, description = "the user", content_type = "application/scim+json", body = Object)))]
pub async fn replace(
    core: web::Data<Core>,
    auth: Result<Authenticated, ApiError>,
    id: web::Path<String>,
    body: Json<Value>,
) -> Result<HttpResponse, ScimError> {
    let caller = provisioner(&core, auth, Some(&id)).await?;
    let member = core.scim_user(&id).await?;
    let input = draft_of(&body.into_inner()?, member.is_active())?.validate()?;
    let member = core
        .scim_replace(&caller, member, input, "scim.replace")
        .await?;
    Ok(scim_json(
        StatusCode::OK,
        &user_json(&core, &member, &Projection::default()),
    ))
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct PatchBody {
    pub schemas: Option<Vec<String>>,
    #[serde(rename = "Operations", alias = "operations")]
    pub operations: Vec<PatchOpBody>,
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct PatchOpBody {
    /// `add`, `replace` or `remove`.
    pub op: String,
    /// `userName`, `externalId`, `displayName` or `active`; absent for a value object.
    pub path: Option<String>,
    #[schema(value_type = Object)]
    pub value: Option<Value>,
}

/// Changes some attributes of a user; `active` to false offboards the member.
#[utoipa::path(patch, path = "/scim/v2/Users/{id}", tag = "scim", params(UserId), request_body(content = PatchBody, content_type = "application/scim+json"),
    responses((status = 200, description = "the user", content_type = "application/scim+json", body = Object)))]
pub async fn patch(
    core: web::Data<Core>,
    auth: Result<Authenticated, ApiError>,
    id: web::Path<String>,
    body: Json<PatchBody>,
) -> Result<HttpResponse, ScimError> {
    let caller = provisioner(&core, auth, Some(&id)).await?;
    let member = core.scim_user(&id).await?;
    let body = body.into_inner()?;
    if body
        .schemas
        .as_ref()
        .is_some_and(|s| !s.iter().any(|s| s == PATCH_SCHEMA))
    {
        return Err(invalid("schemas names the PatchOp message"));
    }
    let operations: Vec<PatchOperation> = body
        .operations
        .into_iter()
        .map(|o| PatchOperation {
            op: o.op,
            path: o.path,
            value: o.value,
        })
        .collect();
    let input = apply_patch(Draft::of(&member), &operations)?.validate()?;
    let member = core
        .scim_replace(&caller, member, input, "scim.patch")
        .await?;
    Ok(scim_json(
        StatusCode::OK,
        &user_json(&core, &member, &Projection::default()),
    ))
}

/// Deletes a user: an active member is offboarded; their record stays for the audit trail.
#[utoipa::path(delete, path = "/scim/v2/Users/{id}", tag = "scim", params(UserId),
    responses((status = 204, description = "deleted")))]
pub async fn delete(
    core: web::Data<Core>,
    auth: Result<Authenticated, ApiError>,
    id: web::Path<String>,
) -> Result<HttpResponse, ScimError> {
    let caller = provisioner(&core, auth, Some(&id)).await?;
    let member = core.scim_user(&id).await?;
    core.scim_delete(&caller, member).await?;
    Ok(HttpResponse::NoContent().finish())
}
