//! Request bodies and query strings, read in full but judged later: a handler first decides
//! the caller's right (and audits a refusal), then looks at what was sent. Errors never
//! quote the request: not a value, not even the name of an unknown field (a seed pasted as a
//! key would come back).

use super::error::ApiError;
use actix_web::dev::Payload;
use actix_web::http::StatusCode;
use actix_web::{web, FromRequest, HttpMessage, HttpRequest};
use futures_util::future::LocalBoxFuture;
use serde::de::DeserializeOwned;

/// A JSON body that must be present.
pub struct Json<T>(Result<T, ApiError>);

/// A JSON body that may be absent (no body, or an empty one).
pub struct OptionalJson<T>(Result<Option<T>, ApiError>);

/// The query string.
pub struct Query<T>(Result<T, ApiError>);

impl<T> Json<T> {
    /// The body, or why it was refused.
    pub fn into_inner(self) -> Result<T, ApiError> {
        self.0
    }
}

impl<T> OptionalJson<T> {
    pub fn into_inner(self) -> Result<Option<T>, ApiError> {
        self.0
    }
}

impl<T> Query<T> {
    pub fn into_inner(self) -> Result<T, ApiError> {
        self.0
    }
}

fn unsupported_media_type() -> ApiError {
    ApiError::new(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
        "send JSON in UTF-8 with Content-Type: application/json",
    )
}

/// JSON is UTF-8 (RFC 8259): a body declared in another charset is refused, not misread.
fn check_content_type(req: &HttpRequest) -> Result<(), ApiError> {
    let Ok(Some(mime)) = req.mime_type() else {
        return Err(unsupported_media_type());
    };
    let json = (mime.type_() == mime::APPLICATION && mime.subtype() == mime::JSON)
        || mime.suffix() == Some(mime::JSON);
    let utf8 = mime
        .get_param(mime::CHARSET)
        .is_none_or(|charset| charset.as_str().eq_ignore_ascii_case("utf-8"));
    if json && utf8 {
        Ok(())
    } else {
        Err(unsupported_media_type())
    }
}

fn body_error(err: actix_web::Error) -> ApiError {
    use actix_web::error::PayloadError;
    if let Some(PayloadError::Io(io)) = err.as_error::<PayloadError>() {
        if io.kind() == std::io::ErrorKind::TimedOut {
            return ApiError::new(
                StatusCode::REQUEST_TIMEOUT,
                "request_timeout",
                "the request body did not arrive in time",
            );
        }
    }
    match err.as_response_error().status_code() {
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            "the request body is too large",
        ),
        StatusCode::REQUEST_TIMEOUT => ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            "request_timeout",
            "the request body did not arrive in time",
        ),
        _ => ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_body",
            "the request body could not be read",
        ),
    }
}

/// Reads the whole body (within the configured limit), then parses it: `Ok(None)` for an
/// empty body.
async fn read<T: DeserializeOwned>(
    req: HttpRequest,
    bytes: Result<web::Bytes, actix_web::Error>,
) -> Result<Option<T>, ApiError> {
    let bytes = bytes.map_err(body_error)?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    check_content_type(&req)?;
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "invalid_json", describe_json(&e)))
}

impl<T: DeserializeOwned + 'static> FromRequest for Json<T> {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let bytes = web::Bytes::from_request(req, payload);
        let req = req.clone();
        Box::pin(async move {
            let body = read::<T>(req, bytes.await).await.and_then(|body| {
                body.ok_or_else(|| {
                    ApiError::new(StatusCode::BAD_REQUEST, "missing_body", "send a JSON body")
                })
            });
            Ok(Json(body))
        })
    }
}

/// A JSON body that may carry a screenshot or an export: up to `http.upload_limit` rather
/// than `http.body_limit`.
pub struct UploadJson<T>(Result<T, ApiError>);

impl<T> UploadJson<T> {
    pub fn into_inner(self) -> Result<T, ApiError> {
        self.0
    }
}

/// Reads the whole body up to `http.upload_limit`.
async fn read_upload(limit: usize, mut stream: Payload) -> Result<web::Bytes, ApiError> {
    use futures_util::StreamExt;
    let mut buf = web::BytesMut::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|err| body_error(err.into()))?;
        if buf.len() + chunk.len() > limit {
            return Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                format!("the request body is larger than {limit} bytes (http.upload_limit)"),
            ));
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(buf.freeze())
}

fn upload_limit(req: &HttpRequest) -> usize {
    req.app_data::<web::Data<crate::services::Core>>()
        .map_or(4 * 1024 * 1024, |core| core.settings.http.upload_limit)
}

impl<T: DeserializeOwned + 'static> FromRequest for UploadJson<T> {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let limit = upload_limit(req);
        let stream = payload.take();
        let req = req.clone();
        Box::pin(async move {
            let body = match read_upload(limit, stream).await {
                Ok(bytes) => read::<T>(req, Ok(bytes)).await.and_then(|body| {
                    body.ok_or_else(|| {
                        ApiError::new(StatusCode::BAD_REQUEST, "missing_body", "send a JSON body")
                    })
                }),
                Err(err) => Err(err),
            };
            Ok(UploadJson(body))
        })
    }
}

/// A dashboard form that may carry an export: up to `http.upload_limit`, read as
/// `application/x-www-form-urlencoded`. The handler decides the right first, then looks.
pub struct UploadForm<T>(Result<T, ApiError>);

impl<T> UploadForm<T> {
    pub fn into_inner(self) -> Result<T, ApiError> {
        self.0
    }
}

impl<T: DeserializeOwned + 'static> FromRequest for UploadForm<T> {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let limit = upload_limit(req);
        let stream = payload.take();
        let form = req.content_type() == "application/x-www-form-urlencoded";
        Box::pin(async move {
            let bytes = match read_upload(limit, stream).await {
                Ok(bytes) => bytes,
                Err(err) => return Ok(UploadForm(Err(err))),
            };
            if !form {
                return Ok(UploadForm(Err(ApiError::new(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    "unsupported_media_type",
                    "send the form as application/x-www-form-urlencoded",
                ))));
            }
            Ok(UploadForm(
                serde_urlencoded::from_bytes::<T>(&bytes).map_err(|_| {
                    ApiError::new(
                        StatusCode::BAD_REQUEST,
                        "invalid_form",
                        "the form could not be read",
                    )
                }),
            ))
        })
    }
}

impl<T: DeserializeOwned + 'static> FromRequest for OptionalJson<T> {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let bytes = web::Bytes::from_request(req, payload);
        let req = req.clone();
        Box::pin(async move { Ok(OptionalJson(read::<T>(req, bytes.await).await)) })
    }
}

impl<T: DeserializeOwned + 'static> FromRequest for Query<T> {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let parsed = serde_urlencoded::from_str::<T>(req.query_string()).map_err(|e| {
            ApiError::new(StatusCode::BAD_REQUEST, "invalid_query", describe_query(&e))
        });
        std::future::ready(Ok(Query(parsed)))
    }
}

/// What was wrong with a JSON body, in words that quote nothing from it. Only a missing field
/// is named: its name comes from the endpoint's own schema.
pub fn describe_json(err: &serde_json::Error) -> String {
    use serde_json::error::Category;
    let at = format!("line {} column {}", err.line(), err.column());
    match err.classify() {
        Category::Syntax => format!("the body is not valid JSON (at {at})"),
        Category::Eof => "the body ends before its JSON is complete".to_owned(),
        Category::Io => "the request body could not be read".to_owned(),
        Category::Data => {
            let text = err.to_string();
            if let Some(field) = missing_field(&text) {
                format!("the field `{field}` is required")
            } else if text.starts_with("unknown field") {
                format!("the body has a field this endpoint does not take (at {at}); see the OpenAPI document")
            } else {
                match expected(&text) {
                    Some(expected) => {
                        format!("a field has the wrong type or value (expected {expected}) at {at}")
                    }
                    None => format!("a field has the wrong type or value at {at}"),
                }
            }
        }
    }
}

/// The same for a query string.
pub fn describe_query(err: &serde_urlencoded::de::Error) -> String {
    let text = err.to_string();
    match missing_field(&text) {
        Some(field) => format!("the query parameter `{field}` is required"),
        None if text.starts_with("unknown field") => {
            "the query has a parameter this endpoint does not take".to_owned()
        }
        None => "a query parameter has the wrong type or value".to_owned(),
    }
}

/// The field name of serde's "missing field `name`" (a name from our own types).
fn missing_field(text: &str) -> Option<&str> {
    let name = text.strip_prefix("missing field `")?.split('`').next()?;
    name.chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '_')
        .then_some(name)
}

/// The "expected …" part of serde's "invalid type: …, expected …": it describes our schema,
/// never the value sent.
fn expected(text: &str) -> Option<&str> {
    if !(text.starts_with("invalid type")
        || text.starts_with("invalid value")
        || text.starts_with("invalid length"))
    {
        return None;
    }
    // The last ", expected": a value sent could itself contain the words.
    let (_, rest) = text.rsplit_once(", expected ")?;
    rest.split(" at line").next()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Body {
        secret: Option<String>,
        digits: Option<u32>,
        kind: Option<Kind>,
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(rename_all = "lowercase")]
    enum Kind {
        Totp,
    }

    fn message(json: &str) -> String {
        match serde_json::from_str::<Body>(json) {
            Ok(_) => unreachable!("the body is refused"),
            Err(e) => describe_json(&e),
        }
    }

    #[test]
    fn errors_never_quote_a_value_or_an_unknown_field_name() {
        let seed = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP";
        for body in [
            format!(r#"{{"{seed}": 1}}"#),
            format!(r#"{{"digits": "{seed}"}}"#),
            format!(r#"{{"kind": "{seed}"}}"#),
            format!(r#"{{"secret": {seed}}}"#),
            format!(r#"{{"secret": "{seed}""#),
        ] {
            let text = message(&body);
            assert!(!text.contains(seed) && !text.contains("JBSW"), "{text}");
        }
        assert!(message(r#"{"digits": "x"}"#).contains("expected u32"));
        let sneaky = message(r#"{"digits": "a, expected JBSWY3DPEHPK3PXP"}"#);
        assert!(!sneaky.contains("JBSW"), "{sneaky}");
        assert!(message(r#"{"zzz": 1}"#).contains("does not take"));
    }

    #[test]
    fn a_missing_field_is_named_from_the_schema() {
        #[derive(Debug, serde::Deserialize)]
        #[allow(dead_code)]
        struct Needs {
            issued_on: String,
        }
        let err = serde_json::from_str::<Needs>("{}").err();
        assert_eq!(
            err.map(|e| describe_json(&e)),
            Some("the field `issued_on` is required".to_owned())
        );
        let q = serde_urlencoded::from_str::<Needs>("other=JBSWY3DP").err();
        assert_eq!(
            q.map(|e| describe_query(&e)),
            Some("the query parameter `issued_on` is required".to_owned())
        );
    }
}
