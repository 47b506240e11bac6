//! `GET /api/v2/account/billing_usage`: seconds of audio served (`synth`) and processed by
//! async jobs (`stt`, `detect`, `enhance`, `edit`, `watermark`, `identity`), plus the count of
//! custom voices built (`voice_subscriptions`), per inclusive UTC date range, as decimal
//! strings with 3 decimals, scaled by the `report_factor` test knob.
//! `synth` and `detect` are always present; other units only once they have usage.

use actix_web::{web, HttpRequest, HttpResponse};
use chrono::NaiveDate;
use serde_json::json;

use crate::auth;
use crate::error::SimError;
use crate::state::SimState;
use crate::voices::query_param;

fn date_param(req: &HttpRequest, name: &'static str) -> Result<NaiveDate, SimError> {
    let raw = query_param(req, name)
        .ok_or_else(|| SimError::field(name, format!("{name} is required (YYYY-MM-DD)")))?;
    NaiveDate::parse_from_str(raw, "%Y-%m-%d")
        .map_err(|_| SimError::field(name, format!("{name} must be a date in YYYY-MM-DD form")))
}

/// Formats seconds the way the endpoint reports them: `"12.345"`.
pub fn format_seconds(seconds: f64) -> String {
    // `+ 0.0` turns a negative zero into a positive one.
    format!("{:.3}", seconds.max(0.0) + 0.0)
}

/// `GET /api/v2/account/billing_usage?start_date=&end_date=` (both inclusive).
pub async fn usage(req: HttpRequest, state: web::Data<SimState>) -> Result<HttpResponse, SimError> {
    auth::require(&req, &state)?;
    let start = date_param(&req, "start_date")?;
    let end = date_param(&req, "end_date")?;
    if end < start {
        return Err(SimError::field(
            "end_date",
            "end_date must not be before start_date",
        ));
    }
    let factor = state.knobs().report_factor;
    let synth = state.billed_between(start, end) * factor;
    let mut items = serde_json::Map::new();
    items.insert("synth".to_owned(), json!(format_seconds(synth)));
    items.insert("detect".to_owned(), json!(format_seconds(0.0)));
    for (unit, seconds) in state.units_between(start, end) {
        items.insert(unit, json!(format_seconds(seconds * factor)));
    }
    Ok(HttpResponse::Ok().json(json!({"success": true, "items": items})))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_have_three_decimals() {
        assert_eq!(format_seconds(1.23456), "1.235");
        assert_eq!(format_seconds(0.0), "0.000");
        assert_eq!(format_seconds(-1.0), "0.000");
    }
}
