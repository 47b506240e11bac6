//! The OpenAPI 3.1 document of the public API, generated from the code with `utoipa`: every
//! handler carries `#[utoipa::path]`, the response types derive `ToSchema`, and the bodies the
//! application layer still builds as JSON values are described by the documentation types in
//! [`schemas`]. [`document`] assembles it (the async-job routes, registered in a loop, get one
//! path per [`JobKind`]); `GET /api/v1/openapi.json` serves it; `cargo xtask openapi` writes
//! it to `docs/openapi.json`, which CI compares with a fresh one. The tests below check that
//! the document and the actix route table list the same operations, and
//! `tests/api/contract.rs` runs schemathesis against a live gateway with it.
//! [`allowed_methods`] reads it to answer 405 with `Allow` for a known path.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use actix_web::dev::ResourceDef;
use actix_web::HttpResponse;
use indox_jobs::JobKind;
use utoipa::openapi::path::{Operation, PathItem};
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{Content, OpenApi as Document, Ref, RefOr, Required, ResponseBuilder};
use utoipa::{Modify, OpenApi};

use crate::http::routes;

/// The placeholder the two job templates in `routes/jobs.rs` use for a kind's path.
pub(crate) const JOB_KIND_PLACEHOLDER: &str = "/api/v1/resemble/{kind}";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "IndoxHub Voice Gateway",
        description = "One multi-tenant API in front of Resemble AI: text-to-speech, async audio jobs, \
                       uploads, voice cloning and design, usage and billing. Every request is \
                       authenticated with `Authorization: Bearer <API key>` (the admin routes with \
                       the admin key), every error is `{\"error\":{\"code\",\"message\",\"field\"?,\"request_id\"}}`, \
                       and every answer carries `X-Request-Id`. Money amounts are decimal strings.",
        license(name = "MIT OR Apache-2.0"),
    ),
    paths(
        routes::health::healthz,
        routes::health::readyz,
        routes::metrics::metrics,
        routes::console::page,
        routes::console::script,
        routes::console::style,
        serve,
        routes::analytics::get,
        routes::analytics::reconciliation,
        routes::analytics::account,
        routes::analytics::put_resemble_key,
        routes::analytics::delete_resemble_key,
        routes::analytics::jobs,
        routes::voices::list,
        routes::tts::synthesize,
        routes::tts::stream,
        routes::usage::get,
        routes::assets::get,
        routes::uploads::create,
        routes::jobs::submit,
        routes::jobs::get,
        routes::jobs::resemble_webhook,
        routes::jobs::callback_secret,
        routes::jobs::rotate_callback_secret,
        routes::cloning::create,
        routes::cloning::list,
        routes::cloning::build_by_body,
        routes::cloning::get,
        routes::cloning::delete,
        routes::cloning::consent,
        routes::cloning::add_recording,
        routes::cloning::build,
        routes::cloning::design,
        routes::cloning::get_design,
        routes::cloning::design_voice,
        routes::admin::create_account,
        routes::admin::list_accounts,
        routes::admin::get_account,
        routes::admin::create_key,
        routes::admin::revoke_key,
        routes::admin::top_up,
        routes::admin::set_markup,
        routes::admin::rate_limits,
        routes::admin::set_rate_limit,
        routes::admin::remove_rate_limit,
        routes::admin::dead_tasks,
        routes::admin::retry_task,
        routes::corrections::refund,
        routes::corrections::adjust,
    ),
    components(schemas(
        schemas::JobSubmit,
        schemas::DetectJobSubmit,
        schemas::EditJobSubmit,
        schemas::IdentityEnrollSubmit,
    )),
    modifiers(&Security, &JobRoutes, &CommonErrors),
    tags(
        (name = "tts", description = "Text-to-speech: voices, synthesis, streaming"),
        (name = "jobs", description = "Async audio jobs and webhooks"),
        (name = "assets", description = "Stored audio, uploads and usage rows"),
        (name = "cloning", description = "Voice cloning and voice design (Business plan)"),
        (name = "account", description = "The caller's account, analytics and own Resemble key"),
        (name = "admin", description = "The operator's API (admin key)"),
        (name = "operations", description = "Health, readiness, metrics, the console and this document"),
    )
)]
struct ApiDoc;

/// The two bearer schemes: an account's API key and the operator's admin key (same header).
struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut Document) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("ixk_<key id>_<secret>")
                    .description(Some("An account's API key: `Authorization: Bearer ixk_…`"))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "admin",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "The operator's admin key (`INDOX_ADMIN_KEY_SHA256` holds its SHA-256): \
                         `Authorization: Bearer <admin key>`",
                    ))
                    .build(),
            ),
        );
    }
}

/// The job routes are registered in a loop over [`JobKind::ROUTED`]; the handlers carry one
/// template each (path [`JOB_KIND_PLACEHOLDER`]), copied here to one path per kind with the
/// kind's request body.
struct JobRoutes;

impl Modify for JobRoutes {
    fn modify(&self, openapi: &mut Document) {
        let paths = &mut openapi.paths.paths;
        let submit = paths.remove(JOB_KIND_PLACEHOLDER);
        let read = paths.remove(&format!("{JOB_KIND_PLACEHOLDER}/{{job_id}}"));
        let (Some(submit), Some(read)) = (submit, read) else {
            return;
        };
        for kind in JobKind::ROUTED {
            let path = format!("/api/v1/resemble/{}", kind.path());
            let mut post = submit.post.clone().unwrap_or_default();
            post.operation_id = Some(format!("submit_{}", kind.as_str()));
            post.summary = Some(format!("Submits a `{}` job", kind.as_str()));
            let body = match kind {
                JobKind::Detect => "DetectJobSubmit",
                JobKind::Edit => "EditJobSubmit",
                JobKind::IdentityEnroll => "IdentityEnrollSubmit",
                _ => "JobSubmit",
            };
            if let Some(rb) = post.request_body.as_mut() {
                rb.content = BTreeMap::from([(
                    "application/json".to_owned(),
                    Content::new(Some(Ref::from_schema_name(body))),
                )]);
                rb.required = Some(Required::True);
            }
            let mut get = read.get.clone().unwrap_or_default();
            // `wait` is any whole number of seconds (more than 60 waits 60): no int64 bound.
            for p in get.parameters.iter_mut().flatten() {
                if p.name == "wait" {
                    p.schema = Some(RefOr::T(Schema::Object(
                        ObjectBuilder::new()
                            .schema_type(Type::Integer)
                            .minimum(Some(0))
                            .build(),
                    )));
                }
            }
            get.operation_id = Some(format!("get_{}", kind.as_str()));
            get.summary = Some(format!(
                "Reads a `{}` job (long-polls with `wait`)",
                kind.as_str()
            ));
            paths.insert(path.clone(), path_item(|p| p.post = Some(post)));
            paths.insert(
                format!("{path}/{{job_id}}"),
                path_item(|p| p.get = Some(get)),
            );
        }
    }
}

/// The answers every authenticated operation can give, added where a route does not list
/// them itself: 401 (the `Caller`/`AdminCaller` extractors run first) and 503 (the key store,
/// or any store the handler reads, is unavailable).
struct CommonErrors;

impl Modify for CommonErrors {
    fn modify(&self, openapi: &mut Document) {
        let error = |description: &str| {
            RefOr::T(
                ResponseBuilder::new()
                    .description(description)
                    .content(
                        "application/json",
                        Content::new(Some(Ref::from_schema_name("ErrorBody"))),
                    )
                    .build(),
            )
        };
        for item in openapi.paths.paths.values_mut() {
            let ops = [
                &mut item.get,
                &mut item.post,
                &mut item.put,
                &mut item.delete,
                &mut item.patch,
            ];
            for op in ops.into_iter().flatten() {
                // `request_body(content = Option<T>)` marks an optional body (absent or empty:
                // `{}`); a JSON `null` is not one of its values.
                if let Some(rb) = op.request_body.as_mut() {
                    for content in rb.content.values_mut() {
                        content.schema = content.schema.take().map(not_null);
                    }
                }
                let secured = op.security.as_ref().is_some_and(|reqs| {
                    serde_json::to_value(reqs)
                        .ok()
                        .and_then(|v| v.as_array().cloned())
                        .is_some_and(|a| {
                            a.iter()
                                .any(|r| r.as_object().is_some_and(|o| !o.is_empty()))
                        })
                });
                if !secured {
                    continue;
                }
                let responses = &mut op.responses.responses;
                responses.entry("401".to_owned()).or_insert_with(|| {
                    error(
                        "The key is missing, malformed, unknown or revoked (or not the admin key)",
                    )
                });
                responses.entry("503".to_owned()).or_insert_with(|| {
                    error("A store of the gateway is unavailable; retry shortly")
                });
            }
        }
    }
}

/// `oneOf: [null, X]` → `X`.
fn not_null(schema: RefOr<Schema>) -> RefOr<Schema> {
    let Ok(serde_json::Value::Object(o)) = serde_json::to_value(&schema) else {
        return schema;
    };
    let Some(serde_json::Value::Array(one_of)) = o.get("oneOf") else {
        return schema;
    };
    let null = serde_json::json!({"type": "null"});
    match one_of.as_slice() {
        [a, b] if *a == null => serde_json::from_value(b.clone()).unwrap_or(schema),
        [a, b] if *b == null => serde_json::from_value(a.clone()).unwrap_or(schema),
        _ => schema,
    }
}

fn path_item(set: impl FnOnce(&mut PathItem)) -> PathItem {
    let mut item = PathItem::default();
    set(&mut item);
    item
}

/// The whole document.
pub fn document() -> Document {
    ApiDoc::openapi()
}

/// The document as pretty JSON, built once.
pub fn json() -> &'static str {
    static JSON: OnceLock<String> = OnceLock::new();
    JSON.get_or_init(|| {
        // Serialising the document (plain data with string keys) cannot fail.
        let mut s = document().to_pretty_json().unwrap_or_default();
        s.push('\n');
        s
    })
}

/// This document.
#[utoipa::path(
    get,
    path = "/api/v1/openapi.json",
    tag = "operations",
    operation_id = "openapi",
    responses((status = 200, description = "The OpenAPI 3.1 document of this API", content_type = "application/json", body = Object)),
    security(())
)]
pub async fn serve() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(json())
}

/// Every (method, path template) the document lists, upper-case methods.
pub fn operations(doc: &Document) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    for (path, item) in &doc.paths.paths {
        let ops: [(&'static str, &Option<Operation>); 5] = [
            ("GET", &item.get),
            ("POST", &item.post),
            ("PUT", &item.put),
            ("DELETE", &item.delete),
            ("PATCH", &item.patch),
        ];
        for (method, op) in ops {
            if op.is_some() {
                out.push((method, path.clone()));
            }
        }
    }
    out
}

/// The methods the document lists for the path template that matches `path` (the one with
/// the fewest parameters when several do, as the route table registers literal paths such as
/// `/voices/build` before `/voices/{uuid}`); `None` for a path the API does not have.
pub fn allowed_methods(path: &str) -> Option<&'static [&'static str]> {
    type Table = Vec<(ResourceDef, usize, Vec<&'static str>)>;
    static TABLE: OnceLock<Table> = OnceLock::new();
    let table = TABLE.get_or_init(|| {
        let mut by_path: BTreeMap<String, Vec<&'static str>> = BTreeMap::new();
        for (method, template) in operations(&document()) {
            by_path.entry(template).or_default().push(method);
        }
        by_path
            .into_iter()
            .map(|(template, methods)| {
                let params = template.matches('{').count();
                (ResourceDef::new(template), params, methods)
            })
            .collect()
    });
    table
        .iter()
        .filter(|(def, _, _)| def.is_match(path))
        .min_by_key(|(_, params, _)| *params)
        .map(|(_, _, methods)| methods.as_slice())
}

/// Documentation types for the bodies the application layer builds as JSON values (and the
/// request bodies handlers parse by hand). They are never constructed: they exist so that the
/// document describes what the handlers really send and accept, which the contract test
/// (schemathesis against a live gateway) checks.
#[allow(dead_code)]
pub mod schemas {
    use std::collections::BTreeMap;

    use chrono::{DateTime, NaiveDate, Utc};
    use rust_decimal::Decimal;
    use serde::Deserialize;
    use serde_json::Value;
    use utoipa::ToSchema;
    use uuid::Uuid;

    use crate::app::tts::BillingBlock;

    /// `GET /readyz`.
    #[derive(ToSchema)]
    pub struct Readiness {
        /// `ready`, or `not_ready` (with 503) when a dependency does not answer within a second.
        #[schema(pattern = "^(ready|not_ready)$")]
        pub status: String,
        /// One entry per dependency (`postgres`, `redis`, `object_store`): `"ok"` or
        /// `{"error": "…"}`.
        pub checks: BTreeMap<String, Value>,
    }

    /// `POST /resemble/tts/synthesize` and `/tts/stream` bodies.
    #[derive(ToSchema)]
    #[schema(example = json!({"voice_uuid": "55592656", "text": "Hello from the gateway.", "output_format": "mp3"}))]
    pub struct SynthesisRequest {
        /// A voice from `GET /resemble/tts/voices` (or one of your cloned voices).
        #[schema(pattern = r"^\s*[A-Za-z0-9_-]{1,64}\s*$")]
        pub voice_uuid: String,
        /// The text to speak (at most 3,000 characters; 2,000 when streaming); not blank.
        #[schema(min_length = 1, max_length = 3000)]
        pub text: String,
        /// `mp3` or `wav` (default; streaming is WAV only), any letter case.
        #[schema(pattern = "^([Mm][Pp]3|[Ww][Aa][Vv])$")]
        pub output_format: Option<String>,
        /// Hz: 8000, 16000, 22050, 32000, 44100 or 48000 (a number or a numeric string).
        pub sample_rate: Option<Value>,
        /// WAV only: `MULAW`, `PCM_16`, `PCM_24` or `PCM_32` (streaming: `PCM_16`).
        pub precision: Option<String>,
    }

    /// The `POST /resemble/tts/synthesize` answer.
    #[derive(ToSchema)]
    pub struct SynthesisResponse {
        pub request_id: String,
        /// The audio, base64.
        pub audio_content: String,
        /// Seconds of audio, measured by the gateway.
        pub duration: f64,
        /// `mp3` or `wav`.
        pub output_format: String,
        pub sample_rate: u32,
        /// A presigned URL of the stored copy (`null` while it is still being stored).
        pub audio_url: Option<String>,
        /// When `audio_url` stops working.
        pub expires_at: Option<DateTime<Utc>>,
        pub asset_id: Uuid,
        /// When retention deletes the stored copy.
        pub retention_expires_at: Option<DateTime<Utc>>,
        /// Resemble's own URL, when it gave one.
        pub resemble_url: Option<String>,
        /// Character timings from Resemble, passed through.
        pub audio_timestamps: Option<Value>,
        pub billing: BillingBlock,
    }

    /// One voice of `GET /resemble/tts/voices` (Resemble's other fields are passed through).
    #[derive(ToSchema)]
    pub struct Voice {
        pub uuid: String,
        pub name: String,
        pub status: Option<String>,
        pub voice_type: Option<String>,
        pub default_language: Option<String>,
        pub supported_languages: Option<Vec<String>>,
    }

    /// One page of voices.
    #[derive(ToSchema)]
    pub struct VoicePage {
        pub items: Vec<Voice>,
        pub page: u32,
        pub page_size: u32,
        pub num_pages: Option<u32>,
        pub total_count: Option<u64>,
    }

    /// An async job's submission (`stt`, `enhance`, `intelligence`, `watermark/*`,
    /// `identity/search`): the input is one of `audio_url`, `url`, `input_audio` (a URL the
    /// gateway fetches through its SSRF guard: public http(s) only) or `upload_id`; other
    /// fields are passed to Resemble.
    #[derive(ToSchema)]
    pub struct JobSubmit {
        pub audio_url: Option<String>,
        pub url: Option<String>,
        pub input_audio: Option<String>,
        /// One of your uploads (`POST /resemble/uploads`).
        pub upload_id: Option<String>,
        /// `audio` (the default).
        #[schema(pattern = "^audio$")]
        pub modality: Option<String>,
        /// Where to post the finished job (Standard Webhooks, signed with your secret).
        pub callback_uri: Option<String>,
    }

    /// A `detect` submission: as [`JobSubmit`], and `modality` may be `image` or `video`.
    #[derive(ToSchema)]
    pub struct DetectJobSubmit {
        pub audio_url: Option<String>,
        pub url: Option<String>,
        pub input_audio: Option<String>,
        pub upload_id: Option<String>,
        /// `audio` (default), `image` (billed per image) or `video` (per second).
        #[schema(pattern = "^(audio|image|video)$")]
        pub modality: Option<String>,
        pub callback_uri: Option<String>,
    }

    /// An `edit` submission: the input audio and the transcript change.
    #[derive(ToSchema)]
    pub struct EditJobSubmit {
        pub input_audio: Option<String>,
        pub audio_url: Option<String>,
        pub url: Option<String>,
        pub upload_id: Option<String>,
        #[schema(pattern = "^audio$")]
        pub modality: Option<String>,
        #[schema(min_length = 1)]
        pub original_transcript: String,
        #[schema(min_length = 1)]
        pub target_transcript: String,
        #[schema(min_length = 1)]
        pub voice_uuid: String,
        pub callback_uri: Option<String>,
    }

    /// An `identity` enrolment: the audio and the speaker's name.
    #[derive(ToSchema)]
    pub struct IdentityEnrollSubmit {
        pub audio_url: Option<String>,
        pub url: Option<String>,
        pub input_audio: Option<String>,
        pub upload_id: Option<String>,
        #[schema(pattern = "^audio$")]
        pub modality: Option<String>,
        #[schema(min_length = 1)]
        pub name: String,
        pub callback_uri: Option<String>,
    }

    /// An async job as users see it. Completed jobs add their kind's result fields
    /// (`transcript`/`words`, `audio_url`/`expires_at`/`asset_id`/`resemble_url` of produced
    /// audio, `verdict`/`score`, `has_watermark`, `description`, `matches`, …).
    #[derive(ToSchema)]
    pub struct Job {
        pub job_id: Uuid,
        /// The job kind (`stt`, `enhance`, `edit`, `detect`, `intelligence`,
        /// `watermark_apply`, `watermark_detect`, `identity_search`, `identity_enroll`,
        /// `voice_build`).
        pub kind: String,
        #[schema(pattern = "^(pending|processing|completed|failed)$")]
        pub status: String,
        pub created_at: DateTime<Utc>,
        pub completed_at: Option<DateTime<Utc>>,
        /// The measured input: seconds of audio (or images, or searches).
        #[schema(value_type = String, example = "3.2")]
        pub input_seconds: Decimal,
        pub error: Option<String>,
        /// The callback's delivery attempts, when the job has a `callback_uri`.
        pub callback: Option<CallbackView>,
        /// Once the job completed and was charged.
        pub billing: Option<BillingBlock>,
    }

    /// The `callback` block of a job.
    #[derive(ToSchema)]
    pub struct CallbackView {
        pub uri: String,
        pub delivered: bool,
        pub attempts: Vec<CallbackAttempt>,
    }

    /// One delivery attempt.
    #[derive(ToSchema)]
    pub struct CallbackAttempt {
        pub event_id: String,
        pub attempt: u32,
        pub status_code: Option<u16>,
        pub error: Option<String>,
        pub delivered: bool,
        pub at: DateTime<Utc>,
    }

    /// `GET /resemble/jobs`.
    #[derive(ToSchema)]
    pub struct JobList {
        pub items: Vec<Job>,
    }

    /// Whether the account uses its own Resemble key.
    #[derive(ToSchema)]
    pub struct ByokStatus {
        pub enabled: bool,
        /// The key's last characters, when enabled.
        pub key_hint: Option<String>,
        pub since: Option<DateTime<Utc>>,
    }

    /// `PUT /account/resemble-key`.
    #[derive(ToSchema)]
    pub struct ResembleKeyRequest {
        /// Your Resemble API key; checked with Resemble before it is stored (sealed).
        pub api_key: String,
    }

    /// `GET /account`.
    #[derive(ToSchema)]
    pub struct AccountOverview {
        pub account_id: Uuid,
        pub name: String,
        /// The key this request used.
        pub key_id: String,
        #[schema(value_type = String, example = "10.00000000")]
        pub balance: Decimal,
        #[schema(value_type = String, example = "0.00000000")]
        pub held: Decimal,
        #[schema(value_type = String, example = "10.00000000")]
        pub available: Decimal,
        /// `null`: the gateway's default markup.
        #[schema(value_type = Option<String>, example = "0.2")]
        pub markup_rate: Option<Decimal>,
        pub created_at: DateTime<Utc>,
        pub byok: ByokStatus,
    }

    /// Sums of usage rows.
    #[derive(ToSchema)]
    pub struct Sums {
        pub requests: i64,
        #[schema(value_type = String)]
        pub provider_cost: Decimal,
        #[schema(value_type = String)]
        pub markup: Decimal,
        #[schema(value_type = String)]
        pub charged: Decimal,
    }

    /// One capability's sums over the range.
    #[derive(ToSchema)]
    pub struct CapabilitySums {
        pub capability: String,
        pub unit: String,
        pub requests: i64,
        #[schema(value_type = String)]
        pub quantity: Decimal,
        #[schema(value_type = String)]
        pub provider_cost: Decimal,
        #[schema(value_type = String)]
        pub markup: Decimal,
        #[schema(value_type = String)]
        pub charged: Decimal,
    }

    /// One capability in one time bucket.
    #[derive(ToSchema)]
    pub struct Bucket {
        pub period: DateTime<Utc>,
        pub capability: String,
        pub unit: String,
        pub requests: i64,
        #[schema(value_type = String)]
        pub quantity: Decimal,
        #[schema(value_type = String)]
        pub provider_cost: Decimal,
        #[schema(value_type = String)]
        pub markup: Decimal,
        #[schema(value_type = String)]
        pub charged: Decimal,
    }

    /// `GET /analytics`.
    #[derive(ToSchema)]
    pub struct Analytics {
        /// The account (`null`: every account, admin only).
        pub account_id: Option<Uuid>,
        pub from: NaiveDate,
        pub to: NaiveDate,
        #[schema(pattern = "^(day|hour)$")]
        pub granularity: String,
        pub currency: String,
        pub totals: Sums,
        pub by_capability: Vec<CapabilitySums>,
        pub series: Vec<Bucket>,
    }

    /// One reconciled unit of the latest day.
    #[derive(ToSchema)]
    pub struct ReconciliationLine {
        pub day: NaiveDate,
        pub upstream_unit: String,
        #[schema(value_type = String)]
        pub ours: Decimal,
        #[schema(value_type = String)]
        pub theirs: Decimal,
        #[schema(value_type = Option<String>)]
        pub drift: Option<Decimal>,
        pub alert: bool,
        pub partial: bool,
    }

    /// An open drift alert.
    #[derive(ToSchema)]
    pub struct ReconciliationAlert {
        pub id: Uuid,
        pub run_id: Uuid,
        pub day: NaiveDate,
        pub upstream_unit: String,
        #[schema(value_type = String)]
        pub ours: Decimal,
        #[schema(value_type = String)]
        pub theirs: Decimal,
        #[schema(value_type = Option<String>)]
        pub drift: Option<Decimal>,
        pub created_at: DateTime<Utc>,
        pub acknowledged_at: Option<DateTime<Utc>>,
    }

    /// `GET /admin/reconciliation`.
    #[derive(ToSchema)]
    pub struct Reconciliation {
        pub day: Option<NaiveDate>,
        pub finished_at: Option<DateTime<Utc>>,
        pub items: Vec<ReconciliationLine>,
        pub open_alerts: Vec<ReconciliationAlert>,
    }

    /// `POST /resemble/voices`.
    #[derive(ToSchema)]
    pub struct CreateVoiceRequest {
        pub name: String,
        /// The consent statement of the person whose voice this is; kept permanently.
        pub consent_text: String,
        /// `rapid` (default) or `professional`.
        pub voice_type: Option<String>,
        pub language: Option<String>,
        pub description: Option<String>,
    }

    /// The fields of a recording.
    #[derive(ToSchema)]
    pub struct RecordingFields {
        pub name: String,
        /// Audio to fetch, or
        pub audio_url: Option<String>,
        /// an upload made with `purpose=voice_clone`.
        pub upload_id: Option<String>,
        /// The transcript (default: the name).
        pub text: Option<String>,
        pub emotion: Option<String>,
    }

    /// `POST /resemble/voices/{uuid}/recordings` (the fields may also be sent flat).
    #[derive(ToSchema)]
    pub struct AddRecordingRequest {
        pub fields: RecordingFields,
    }

    /// `POST /resemble/voices/{uuid}/build`.
    #[derive(ToSchema)]
    pub struct BuildRequest {
        pub callback_uri: Option<String>,
    }

    /// `POST /resemble/voices/build`.
    #[derive(ToSchema)]
    pub struct BuildByBodyRequest {
        pub voice_uuid: String,
        pub callback_uri: Option<String>,
    }

    /// `POST /resemble/voice-design`.
    #[derive(ToSchema)]
    pub struct DesignRequest {
        /// A description of the voice (or `user_prompt`).
        pub prompt: Option<String>,
        pub user_prompt: Option<String>,
    }

    /// `POST /resemble/voice-design/{design_id}/{index}/voice`.
    #[derive(ToSchema)]
    pub struct DesignVoiceRequest {
        /// The voice's name (or `voice_name`).
        pub name: Option<String>,
        pub voice_name: Option<String>,
        pub consent_text: String,
    }

    /// Who gave consent.
    #[derive(ToSchema)]
    pub struct ConsentGiver {
        pub account_id: Uuid,
        pub key_id: String,
    }

    /// A voice's consent record.
    #[derive(ToSchema)]
    pub struct Consent {
        pub text: String,
        pub given_by: ConsentGiver,
        pub given_at: DateTime<Utc>,
        /// The recordings it covers.
        pub recordings: Vec<Uuid>,
    }

    /// `GET /resemble/voices/{uuid}/consent`.
    #[derive(ToSchema)]
    pub struct ConsentRecord {
        pub voice_uuid: String,
        pub text: String,
        pub given_by: ConsentGiver,
        pub given_at: DateTime<Utc>,
        pub recordings: Vec<Uuid>,
    }

    /// A stored recording.
    #[derive(ToSchema)]
    pub struct Recording {
        pub id: Uuid,
        pub name: String,
        pub text: String,
        pub asset_id: Uuid,
        #[schema(value_type = Option<String>)]
        pub duration_seconds: Option<Decimal>,
        pub created_at: DateTime<Utc>,
    }

    /// A voice's latest build job.
    #[derive(ToSchema)]
    pub struct Build {
        pub job_id: Uuid,
        pub status: String,
        pub error: Option<String>,
        pub started_at: DateTime<Utc>,
        pub completed_at: Option<DateTime<Utc>>,
        pub billing: Option<BillingBlock>,
    }

    /// A built voice's monthly subscription.
    #[derive(ToSchema)]
    pub struct VoiceSubscription {
        pub capability: String,
        pub active: bool,
        pub started_at: DateTime<Utc>,
        pub paid_periods: u32,
        pub paid_through: DateTime<Utc>,
        pub next_charge_at: Option<DateTime<Utc>>,
        pub past_due_since: Option<DateTime<Utc>>,
    }

    /// A cloned voice.
    #[derive(ToSchema)]
    pub struct ClonedVoice {
        pub uuid: String,
        pub name: String,
        #[schema(pattern = "^(pending|training|built|failed|deleted)$")]
        pub status: String,
        pub voice_type: String,
        pub language: String,
        pub description: Option<String>,
        pub source: String,
        pub design_id: Option<Uuid>,
        pub created_at: DateTime<Utc>,
        pub deleted_at: Option<DateTime<Utc>>,
        pub consent: Consent,
        pub recordings: Vec<Recording>,
        pub build: Option<Build>,
        pub subscription: Option<VoiceSubscription>,
    }

    /// `GET /resemble/voices`.
    #[derive(ToSchema)]
    pub struct ClonedVoiceList {
        pub items: Vec<ClonedVoice>,
    }

    /// `POST /resemble/voices/{uuid}/recordings`.
    #[derive(ToSchema)]
    pub struct RecordingAdded {
        pub voice_uuid: String,
        pub recording: Option<Recording>,
        pub consent: Consent,
    }

    /// One voice-design candidate.
    #[derive(ToSchema)]
    pub struct DesignCandidate {
        pub index: u32,
        pub audio_url: Option<String>,
        pub expires_at: Option<DateTime<Utc>>,
        pub asset_id: Option<Uuid>,
        pub resemble_url: String,
    }

    /// A voice design.
    #[derive(ToSchema)]
    pub struct VoiceDesign {
        pub design_id: Uuid,
        pub prompt: String,
        pub created_at: DateTime<Utc>,
        pub retention_expires_at: DateTime<Utc>,
        pub expired: bool,
        pub candidates: Vec<DesignCandidate>,
    }

    /// `POST /admin/accounts`.
    #[derive(Deserialize, ToSchema)]
    #[serde(deny_unknown_fields)]
    pub struct CreateAccountRequest {
        pub name: String,
        /// A fraction, e.g. `"0.15"`; absent or `null`: the default.
        pub markup_rate: Option<String>,
    }

    /// `POST /admin/accounts/{id}/keys`.
    #[derive(Deserialize, ToSchema)]
    #[serde(deny_unknown_fields)]
    pub struct CreateKeyRequest {
        pub label: Option<String>,
    }

    /// `POST /admin/accounts/{id}/top-ups`.
    #[derive(Deserialize, ToSchema)]
    #[serde(deny_unknown_fields)]
    pub struct TopUpRequest {
        /// USD as a decimal string, e.g. `"10.00"` (numbers are refused).
        pub amount: String,
        /// Makes the top-up idempotent (an invoice number).
        pub reference: Option<String>,
        pub note: Option<String>,
    }

    /// `PUT /admin/accounts/{id}/markup`.
    #[derive(Deserialize, ToSchema)]
    #[serde(deny_unknown_fields)]
    pub struct MarkupRequest {
        /// A fraction such as `"0.15"`, or `null` for the gateway default.
        #[schema(required = true)]
        pub markup_rate: Option<String>,
    }

    /// `PUT /admin/accounts/{id}/rate-limits`.
    #[derive(Deserialize, ToSchema)]
    #[serde(deny_unknown_fields)]
    pub struct RateLimitRequest {
        /// A capability, or `all` (the default).
        pub capability: Option<String>,
        #[schema(minimum = 0)]
        pub limit: u64,
        #[schema(minimum = 0)]
        pub window_seconds: u64,
    }

    /// `POST /admin/usage/{usage_id}/refunds` and `POST /admin/accounts/{id}/adjustments`.
    #[derive(Deserialize, ToSchema)]
    #[serde(deny_unknown_fields)]
    pub struct CorrectionRequest {
        /// USD as a decimal string (signed for an adjustment), e.g. `"1.50"` or `"-0.25"`.
        pub amount: String,
        /// Why (1 to 500 characters), for the audit trail.
        pub note: String,
    }

    /// A refund.
    #[derive(ToSchema)]
    pub struct Refund {
        pub usage_id: Uuid,
        #[schema(value_type = String)]
        pub refunded: Decimal,
        /// The balance after it.
        #[schema(value_type = String)]
        pub balance: Decimal,
        pub note: String,
    }

    /// An adjustment.
    #[derive(ToSchema)]
    pub struct Adjustment {
        pub account_id: Uuid,
        #[schema(value_type = String)]
        pub amount: Decimal,
        /// The balance after it.
        #[schema(value_type = String)]
        pub balance: Decimal,
        pub note: String,
    }

    /// `multipart/form-data` of `POST /resemble/uploads`.
    #[derive(ToSchema)]
    pub struct UploadForm {
        /// A WAV or MP3 file.
        #[schema(value_type = String, format = Binary)]
        pub file: Vec<u8>,
        /// `voice_clone`, `stt_input`, `watermark_input` or `audio_job_input`.
        pub purpose: Option<String>,
    }

    /// The provider webhook's payload (only the job id is read; the job is re-fetched).
    #[derive(ToSchema)]
    pub struct ProviderWebhook {
        pub item: Option<Value>,
    }
}

#[cfg(test)]
mod tests {
    //! The document and the route table list the same operations. Actix does not expose its
    //! route table, so both directions are checked: every documented operation is answered by
    //! a registered route (a request to it in an `App` built with the real `configure` is not
    //! the default service's `route_not_found` 404 nor a 405), and every `.route(…)` and
    //! `web::resource(…)` registration in `routes/*.rs` (read from the source) is documented.

    use std::collections::BTreeSet;

    use actix_web::http::Method;
    use actix_web::test as web_test;
    use actix_web::{web, App};

    use super::*;

    fn concrete(template: &str) -> String {
        let mut out = String::new();
        let mut rest = template;
        while let Some(start) = rest.find('{') {
            out.push_str(&rest[..start]);
            let end = rest[start..]
                .find('}')
                .map_or(rest.len(), |e| start + e + 1);
            // A value that is a valid id for every parameter that takes one.
            out.push_str("0190a5b4-6f4c-7c3e-9d2a-1b2c3d4e5f60");
            rest = &rest[end..];
        }
        out.push_str(rest);
        out
    }

    #[actix_web::test]
    async fn every_documented_operation_is_routed() {
        let app = web_test::init_service(
            App::new()
                .configure(routes::configure)
                .default_service(web::to(crate::http::not_found)),
        )
        .await;
        let doc = document();
        let ops = operations(&doc);
        assert!(ops.len() > 50, "{} operations", ops.len());
        for (method, template) in ops {
            let req = web_test::TestRequest::default()
                .method(Method::from_bytes(method.as_bytes()).unwrap())
                .uri(&concrete(&template))
                .to_request();
            let resp = web_test::call_service(&app, req).await;
            let status = resp.status();
            let body = web_test::read_body(resp).await;
            let text = String::from_utf8_lossy(&body);
            assert!(
                !text.contains("route_not_found") && status != 405,
                "{method} {template} is documented but not routed: {status} {text}"
            );
        }
    }

    /// (method, path) pairs registered in the route files, by reading them.
    fn registered() -> BTreeSet<(String, String)> {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/http/routes");
        let table = std::fs::read_to_string(dir.join("mod.rs")).unwrap();
        let scope_at = table
            .find("web::scope(\"/api/v1\")")
            .expect("the /api/v1 scope");
        // Files configured before the scope are at the root; the rest inside it.
        let root_files: Vec<String> = table[..scope_at]
            .match_indices(".configure(")
            .map(|(i, _)| {
                let name = &table[i + ".configure(".len()..];
                name[..name.find("::").unwrap()].to_owned()
            })
            .collect();
        let mut out = BTreeSet::new();
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let file = path.file_stem().unwrap().to_string_lossy().into_owned();
            let src = std::fs::read_to_string(&path).unwrap();
            let code = src.split("#[cfg(test)]").next().unwrap();
            let mut resource = None::<String>;
            let mut rest = code;
            loop {
                let next = ["web::resource(\"", ".route(", "web::scope(\""]
                    .iter()
                    .filter_map(|pat| rest.find(pat).map(|i| (i, *pat)))
                    .min();
                let Some((i, pat)) = next else { break };
                let after = &rest[i + pat.len()..];
                let scoped = if file == "mod" {
                    code.len() - rest.len() + i > scope_at
                } else {
                    !root_files.contains(&file)
                };
                let full = |p: &str| {
                    if scoped {
                        format!("/api/v1{p}")
                    } else {
                        p.to_owned()
                    }
                };
                match pat {
                    "web::resource(\"" => {
                        resource = Some(full(&after[..after.find('"').unwrap()]));
                    }
                    ".route(" => {
                        let args = after.trim_start();
                        if let Some(lit) = args.strip_prefix('"') {
                            let p = &lit[..lit.find('"').unwrap()];
                            let m = method_of(&lit[lit.find('"').unwrap()..]);
                            out.insert((m, full(p)));
                        } else if args.starts_with("&format!") {
                            // The job routes: one per kind, checked by `job_routes_are_documented`.
                        } else if args.starts_with("web::") {
                            let m = method_of(args);
                            out.insert((m, resource.clone().expect("a resource before .route")));
                        }
                    }
                    _ => {}
                }
                rest = after;
            }
        }
        out
    }

    fn method_of(args: &str) -> String {
        let at = args.find("web::").expect("web::<method>()") + "web::".len();
        let name = &args[at..];
        name[..name.find('(').unwrap()].to_ascii_uppercase()
    }

    #[test]
    fn every_registered_route_is_documented() {
        let doc = document();
        let documented: BTreeSet<(String, String)> = operations(&doc)
            .into_iter()
            .map(|(m, p)| (m.to_owned(), p))
            .collect();
        let registered = registered();
        assert!(registered.len() > 30, "{registered:?}");
        let missing: Vec<_> = registered.difference(&documented).collect();
        assert!(
            missing.is_empty(),
            "registered but not documented: {missing:?}"
        );
    }

    /// `docs/openapi.json` is committed so that API changes show in review; it must be the
    /// document the code generates.
    #[test]
    fn the_committed_document_is_current() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/openapi.json");
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            committed == json(),
            "docs/openapi.json is not the document the code generates: run `cargo xtask openapi` and commit it"
        );
    }

    #[test]
    fn job_routes_are_documented() {
        let doc = document();
        let ops = operations(&doc);
        for kind in JobKind::ROUTED {
            let path = format!("/api/v1/resemble/{}", kind.path());
            assert!(ops.contains(&("POST", path.clone())), "POST {path}");
            let read = format!("{path}/{{job_id}}");
            assert!(ops.contains(&("GET", read.clone())), "GET {read}");
        }
        assert!(!doc.paths.paths.keys().any(|p| p.contains("{kind}")));
    }

    #[test]
    fn known_paths_get_their_methods() {
        assert_eq!(
            allowed_methods("/api/v1/resemble/tts/synthesize"),
            Some(&["POST"][..])
        );
        assert_eq!(
            allowed_methods("/api/v1/resemble/voices/build"),
            Some(&["POST"][..])
        );
        let mut voice = allowed_methods("/api/v1/resemble/voices/abc")
            .unwrap()
            .to_vec();
        voice.sort_unstable();
        assert_eq!(voice, ["DELETE", "GET"]);
        assert_eq!(allowed_methods("/api/v1/nothing"), None);
    }
}
