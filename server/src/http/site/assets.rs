//! Static assets, embedded in the binary.

use actix_web::http::header;
use actix_web::{web, HttpResponse};

const APP_CSS: &str = include_str!("../../../../web/static/app.css");
const APP_JS: &str = include_str!("../../../../web/static/app.js");
const FAVICON: &str = include_str!("../../../../web/static/favicon.svg");

/// A static asset of the dashboard (app.css, app.js, favicon.svg).
#[utoipa::path(get, path = "/static/{name}", tag = "dashboard", security(),
    params(("name" = String, Path, description = "app.css, app.js or favicon.svg")),
    responses((status = 200, description = "the asset", content_type = "text/css"), (status = 404, description = "no such asset")))]
pub async fn asset(name: web::Path<String>) -> HttpResponse {
    let (body, content_type) = match name.as_str() {
        "app.css" => (APP_CSS, "text/css; charset=utf-8"),
        "app.js" => (APP_JS, "text/javascript; charset=utf-8"),
        "favicon.svg" => (FAVICON, "image/svg+xml"),
        _ => return HttpResponse::NotFound().finish(),
    };
    HttpResponse::Ok()
        .content_type(content_type)
        .insert_header((header::CACHE_CONTROL, "public, max-age=300"))
        .body(body)
}
