//! `POST /api/v1/resemble/uploads`: stores a WAV or MP3 file sent as `multipart/form-data`
//! (fields `file` and optional `purpose`); free of charge.

use actix_web::http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use actix_web::{web, HttpRequest, HttpResponse};

use crate::app::{uploads, AppState};
use crate::http::auth::Caller;
use crate::http::multipart::{self, MultipartError};
use crate::http::{read_body_limited, ApiError, ErrorKind, ReqId};

const TOO_LARGE_ADVICE: &str = "upload a shorter or more compressed recording";

/// Reads the form and hands the file to [`uploads::upload`]; answers 201.
#[utoipa::path(
    post,
    path = "/api/v1/resemble/uploads",
    tag = "assets",
    operation_id = "upload",
    request_body(content = crate::http::openapi::schemas::UploadForm, content_type = "multipart/form-data"),
    responses(
        (status = 201, description = "Stored (free of charge)", body = uploads::Uploaded),
        (status = 400, description = "Not a multipart/form-data body", body = crate::http::error::ErrorBody),
        (status = 413, description = "Larger than `INDOX_MAX_UPLOAD_BYTES`", body = crate::http::error::ErrorBody),
        (status = 422, description = "No file, not WAV or MP3 audio, an unknown purpose, or a field twice", body = crate::http::error::ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn create(
    state: web::Data<AppState>,
    caller: Caller,
    rid: ReqId,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let run = async {
        let limit = usize::try_from(state.max_upload_bytes).unwrap_or(usize::MAX);
        let declared = req
            .headers()
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        // Refuse a declared oversize body before reading any of it.
        if declared.is_some_and(|n| n > state.max_upload_bytes) {
            return Err(ApiError::new(
                ErrorKind::PayloadTooLarge,
                format!("the request body is larger than {limit} bytes; {TOO_LARGE_ADVICE}"),
            ));
        }
        let content_type = req
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        let boundary = multipart::boundary(content_type).map_err(bad_form)?;
        let body = read_body_limited(payload, limit, TOO_LARGE_ADVICE).await?;
        let parts = multipart::parse(&boundary, &body).map_err(bad_form)?;

        let mut file = None;
        let mut purpose = None;
        for part in parts {
            match part.name.as_str() {
                "file" if file.is_some() => return Err(duplicate("file")),
                "file" => file = Some(part.body),
                "purpose" if purpose.is_some() => return Err(duplicate("purpose")),
                "purpose" => {
                    let text = String::from_utf8(part.body.to_vec()).map_err(|_| {
                        ApiError::new(
                            ErrorKind::Unprocessable {
                                code: "invalid_field",
                                field: Some("purpose"),
                            },
                            "purpose is not UTF-8 text",
                        )
                    })?;
                    purpose = Some(text);
                }
                // Other fields are ignored, as form clients add their own.
                _ => {}
            }
        }
        let uploaded = uploads::upload(&state, &caller.0, file, purpose.as_deref()).await?;
        Ok(HttpResponse::Created().json(uploaded))
    };
    run.await.map_err(|e: ApiError| e.with_request_id(rid.0))
}

fn bad_form(e: MultipartError) -> ApiError {
    ApiError::new(
        ErrorKind::BadRequest {
            code: "malformed_multipart",
        },
        format!("{e}: send the audio as multipart/form-data with a `file` part and an optional `purpose` field"),
    )
}

fn duplicate(field: &'static str) -> ApiError {
    ApiError::new(
        ErrorKind::Unprocessable {
            code: "duplicate_field",
            field: Some(field),
        },
        format!("the form has more than one `{field}` field; send exactly one"),
    )
}
