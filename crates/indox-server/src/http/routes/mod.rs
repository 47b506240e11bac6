//! The route table of the public API.

pub mod admin;
pub mod analytics;
pub mod assets;
pub mod cloning;
pub mod console;
pub mod corrections;
pub mod health;
pub mod jobs;
pub mod metrics;
pub mod tts;
pub mod uploads;
pub mod usage;
pub mod voices;

use actix_web::web;

/// Registers every route.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.app_data(web::QueryConfig::default().error_handler(crate::http::query_error))
        .app_data(web::PathConfig::default().error_handler(crate::http::path_error))
        .app_data(web::JsonConfig::default().error_handler(crate::http::json_error))
        .route("/healthz", web::get().to(health::healthz))
        .route("/readyz", web::get().to(health::readyz))
        .route("/metrics", web::get().to(metrics::metrics))
        .configure(console::configure)
        .service(
            web::scope("/api/v1")
                .route("/openapi.json", web::get().to(crate::http::openapi::serve))
                .route("/analytics", web::get().to(analytics::get))
                .route(
                    "/admin/reconciliation",
                    web::get().to(analytics::reconciliation),
                )
                .route("/account", web::get().to(analytics::account))
                .route(
                    "/account/resemble-key",
                    web::put().to(analytics::put_resemble_key),
                )
                .route(
                    "/account/resemble-key",
                    web::delete().to(analytics::delete_resemble_key),
                )
                .route("/resemble/jobs", web::get().to(analytics::jobs))
                .route("/resemble/tts/voices", web::get().to(voices::list))
                .route("/resemble/tts/synthesize", web::post().to(tts::synthesize))
                .route("/resemble/tts/stream", web::post().to(tts::stream))
                .route("/resemble/usage/{usage_id}", web::get().to(usage::get))
                .route("/resemble/assets/{asset_id}", web::get().to(assets::get))
                .route("/resemble/uploads", web::post().to(uploads::create))
                .configure(jobs::configure)
                .configure(admin::configure)
                .configure(corrections::configure)
                .configure(cloning::configure)
                .route(
                    "/resemble/webhooks/resemble",
                    web::post().to(jobs::resemble_webhook),
                )
                .route(
                    "/resemble/webhooks/secret",
                    web::get().to(jobs::callback_secret),
                )
                .route(
                    "/resemble/webhooks/secret/rotate",
                    web::post().to(jobs::rotate_callback_secret),
                ),
        );
}
