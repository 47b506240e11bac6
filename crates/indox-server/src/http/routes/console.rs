//! The usage console: one static page with its script and styles, compiled into the binary.
//! It reads the public API with the key the user signs in with; the page itself is public.

use actix_web::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use actix_web::{web, HttpResponse};

const INDEX: &str = include_str!("../console/index.html");
const SCRIPT: &str = include_str!("../console/app.js");
const STYLE: &str = include_str!("../console/app.css");

/// Scripts and styles from this origin only; no inline code, no framing.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'";

fn asset(content_type: &str, body: &'static str) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((CONTENT_TYPE, content_type))
        .insert_header(("Content-Security-Policy", CSP))
        .insert_header(("X-Content-Type-Options", "nosniff"))
        .insert_header((CACHE_CONTROL, "no-cache"))
        .body(body)
}

/// `GET /console`.
#[utoipa::path(
    get,
    path = "/console",
    tag = "operations",
    operation_id = "console",
    responses((status = 200, description = "The usage console (it signs in with your API key)", content_type = "text/html", body = String)),
    security(())
)]
pub async fn page() -> HttpResponse {
    asset("text/html; charset=utf-8", INDEX)
}

/// `GET /console/app.js`.
#[utoipa::path(
    get,
    path = "/console/app.js",
    tag = "operations",
    operation_id = "console_script",
    responses((status = 200, description = "The console's script", content_type = "text/javascript", body = String)),
    security(())
)]
pub async fn script() -> HttpResponse {
    asset("text/javascript; charset=utf-8", SCRIPT)
}

/// `GET /console/app.css`.
#[utoipa::path(
    get,
    path = "/console/app.css",
    tag = "operations",
    operation_id = "console_style",
    responses((status = 200, description = "The console's stylesheet", content_type = "text/css", body = String)),
    security(())
)]
pub async fn style() -> HttpResponse {
    asset("text/css; charset=utf-8", STYLE)
}

/// Registers the console's three routes.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/console", web::get().to(page))
        .route("/console/app.js", web::get().to(script))
        .route("/console/app.css", web::get().to(style));
}
