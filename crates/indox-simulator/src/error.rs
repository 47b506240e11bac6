//! The simulator's error enum; each variant renders as the Resemble JSON error envelope.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde_json::json;

/// Everything a simulated endpoint can answer with instead of success.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// Missing or wrong API key: 401 `{"success":false,"message":..}`.
    #[error("Invalid or missing API token")]
    Unauthorized,
    /// Validation failure: 400 with the Error shape
    /// `{success:false,message,error_name,error_params,errors:{field:[message]}}`.
    #[error("{message}")]
    BadRequest {
        /// Human-readable reason.
        message: String,
        /// The offending request field, if any.
        field: Option<&'static str>,
    },
    /// Resource lookup by uuid failed: 404 `{"success":false,"item":null,"message":"Not found"}`.
    #[error("Not found")]
    ItemNotFound,
    /// Synthesis with an unknown voice: 404 `{"success":false,"message":"Voice not found"}`.
    #[error("Voice not found")]
    VoiceNotFound,
    /// Synthesis with a custom voice that is not (yet) trained: 400
    /// `{"success":false,"message":"Voice is not ready"}`.
    #[error("Voice is not ready")]
    VoiceNotReady,
    /// A job lookup failed: 404 `{"success":false,<key>:<message>}` (the key differs per
    /// endpoint: `error` for speech-to-text and watermark, `message` elsewhere).
    #[error("{message}")]
    JobNotFound {
        /// `"error"` or `"message"`.
        key: &'static str,
        /// E.g. `"Transcript not found"`.
        message: &'static str,
    },
    /// Unknown route: 404 `{"success":false,"message":..}`.
    #[error("No route for {0}")]
    NoRoute(String),
    /// Internal failure (e.g. the encoder rejected its input): 500.
    #[error("{0}")]
    Internal(String),
}

impl SimError {
    /// A 400 about one request field.
    pub fn field(field: &'static str, message: impl Into<String>) -> Self {
        Self::BadRequest {
            message: message.into(),
            field: Some(field),
        }
    }

    /// A 400 not tied to a field.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::BadRequest {
            message: message.into(),
            field: None,
        }
    }
}

impl ResponseError for SimError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::BadRequest { .. } | Self::VoiceNotReady => StatusCode::BAD_REQUEST,
            Self::ItemNotFound
            | Self::VoiceNotFound
            | Self::NoRoute(_)
            | Self::JobNotFound { .. } => StatusCode::NOT_FOUND,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let message = self.to_string();
        let body = match self {
            Self::BadRequest { field, .. } => {
                let mut errors = serde_json::Map::new();
                let mut params = serde_json::Map::new();
                if let Some(f) = field {
                    errors.insert((*f).to_owned(), json!([message]));
                    params.insert("field".to_owned(), json!(f));
                }
                json!({
                    "success": false,
                    "message": message,
                    "error": message,
                    "error_name": "ValidationError",
                    "error_params": params,
                    "errors": errors,
                })
            }
            Self::ItemNotFound => json!({"success": false, "item": null, "message": message}),
            Self::JobNotFound { key, .. } => {
                let mut body = serde_json::Map::new();
                body.insert("success".to_owned(), json!(false));
                body.insert((*key).to_owned(), json!(message));
                serde_json::Value::Object(body)
            }
            _ => json!({"success": false, "message": message}),
        };
        HttpResponse::build(self.status_code()).json(body)
    }
}
