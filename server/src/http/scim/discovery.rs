//! SCIM discovery (RFC 7644 4): what this service provider supports, its one resource type
//! (User) and the User schema with the attributes Keyward keeps. Public, read-only.

use super::{scim_json, ScimError, LIST_SCHEMA, USER_SCHEMA};
use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use serde_json::{json, Value};

const SPC_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig";
const RESOURCE_TYPE_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:ResourceType";
const SCHEMA_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Schema";

fn location(core: &crate::services::Core, path: &str) -> String {
    format!(
        "{}/scim/v2{path}",
        core.settings.public_url.trim_end_matches('/')
    )
}

fn attribute(name: &str, kind: &str, required: bool, description: &str) -> Value {
    let mut attr = json!({
        "name": name,
        "type": kind,
        "multiValued": false,
        "description": description,
        "required": required,
        "mutability": "readWrite",
        "returned": "default",
    });
    if kind == "string" {
        attr["caseExact"] = json!(false);
        attr["uniqueness"] = json!(if name == "userName" { "server" } else { "none" });
    }
    attr
}

fn user_schema(core: &crate::services::Core) -> Value {
    json!({
        "schemas": [SCHEMA_SCHEMA],
        "id": USER_SCHEMA,
        "name": "User",
        "description": "A member of the organisation in Keyward",
        "attributes": [
            attribute("userName", "string", true, "The user's sign-in name, usually the email address"),
            attribute("displayName", "string", false, "The name shown for the user"),
            // Always present: false offboards the member, true re-activates a departed one.
            attribute("active", "boolean", true, "Whether the member may sign in; false offboards them"),
        ],
        "meta": {"resourceType": "Schema", "location": location(core, &format!("/Schemas/{USER_SCHEMA}"))},
    })
}

fn user_resource_type(core: &crate::services::Core) -> Value {
    json!({
        "schemas": [RESOURCE_TYPE_SCHEMA],
        "id": "User",
        "name": "User",
        "endpoint": "/Users",
        "description": "Members of the organisation",
        "schema": USER_SCHEMA,
        "meta": {"resourceType": "ResourceType", "location": location(core, "/ResourceTypes/User")},
    })
}

fn list(resources: Vec<Value>) -> Value {
    json!({
        "schemas": [LIST_SCHEMA],
        "totalResults": resources.len(),
        "itemsPerPage": resources.len(),
        "startIndex": 1,
        "Resources": resources,
    })
}

/// The resource or schema named in the path.
#[derive(utoipa::IntoParams)]
#[into_params(names("id"), parameter_in = Path)]
#[allow(dead_code)]
pub struct DiscoveryId(
    /// `User`, or the User schema's URN.
    String,
);

/// What this SCIM service provider supports (RFC 7643 5).
#[utoipa::path(get, path = "/scim/v2/ServiceProviderConfig", tag = "scim", security(),
    responses((status = 200, description = "the configuration", content_type = "application/scim+json", body = Object)))]
pub async fn service_provider_config(core: web::Data<crate::services::Core>) -> HttpResponse {
    let body = json!({
        "schemas": [SPC_SCHEMA],
        "patch": {"supported": true},
        "bulk": {"supported": false, "maxOperations": 0, "maxPayloadSize": 0},
        "filter": {"supported": true, "maxResults": crate::services::scim::MAX_COUNT},
        "changePassword": {"supported": false},
        "sort": {"supported": false},
        "etag": {"supported": false},
        "authenticationSchemes": [{
            "type": "oauthbearertoken",
            "name": "Bearer token",
            "description": "A Keyward service token of role scim: keyward token create --role scim --team '*'",
            "primary": true,
        }],
        "meta": {"resourceType": "ServiceProviderConfig", "location": location(&core, "/ServiceProviderConfig")},
    });
    scim_json(StatusCode::OK, &body)
}

/// The resource types: User.
#[utoipa::path(get, path = "/scim/v2/ResourceTypes", tag = "scim", security(),
    responses((status = 200, description = "a list response", content_type = "application/scim+json", body = Object)))]
pub async fn resource_types(core: web::Data<crate::services::Core>) -> HttpResponse {
    scim_json(StatusCode::OK, &list(vec![user_resource_type(&core)]))
}

/// One resource type.
#[utoipa::path(get, path = "/scim/v2/ResourceTypes/{id}", tag = "scim", security(), params(DiscoveryId),
    responses((status = 200, description = "the resource type", content_type = "application/scim+json", body = Object),
    (status = 404, description = "no such resource type", content_type = "application/scim+json", body = super::ScimErrorBody)))]
pub async fn resource_type(
    core: web::Data<crate::services::Core>,
    id: web::Path<String>,
) -> Result<HttpResponse, ScimError> {
    if id.as_str() != "User" {
        return Err(ScimError::new(
            StatusCode::NOT_FOUND,
            None,
            "no such resource type",
        ));
    }
    Ok(scim_json(StatusCode::OK, &user_resource_type(&core)))
}

/// The schemas: User.
#[utoipa::path(get, path = "/scim/v2/Schemas", tag = "scim", security(),
    responses((status = 200, description = "a list response", content_type = "application/scim+json", body = Object)))]
pub async fn schema_list(core: web::Data<crate::services::Core>) -> HttpResponse {
    scim_json(StatusCode::OK, &list(vec![user_schema(&core)]))
}

/// One schema, by its URN.
#[utoipa::path(get, path = "/scim/v2/Schemas/{id}", tag = "scim", security(), params(DiscoveryId),
    responses((status = 200, description = "the schema", content_type = "application/scim+json", body = Object),
    (status = 404, description = "no such schema", content_type = "application/scim+json", body = super::ScimErrorBody)))]
pub async fn schema_one(
    core: web::Data<crate::services::Core>,
    id: web::Path<String>,
) -> Result<HttpResponse, ScimError> {
    if id.as_str() != USER_SCHEMA {
        return Err(ScimError::new(
            StatusCode::NOT_FOUND,
            None,
            "no such schema",
        ));
    }
    Ok(scim_json(StatusCode::OK, &user_schema(&core)))
}
