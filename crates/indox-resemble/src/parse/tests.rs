//! Fixture tests for every lenient variant the spec documents.

use super::*;
use indox_voice::UpstreamError;
use rust_decimal_macros::dec;

fn up<T: std::fmt::Debug>(r: Result<T, ResembleError>) -> UpstreamError {
    match r {
        Ok(v) => panic!("expected an error, got {v:?}"),
        Err(e) => e.into(),
    }
}

const VOICE: &str = r#"{"uuid":"55592656","name":"Lucy","status":"finished","voice_status":"ready",
  "voice_type":"professional","default_language":"en-US","supported_languages":["en-US","fr-FR"],
  "dataset_url":null,"component_status":{"text_to_speech":{"status":"ready"}},
  "api_support":{"sync":true,"streaming":true},"created_at":"2025-01-15T10:00:00.000Z"}"#;

#[test]
fn voices_shape_a_prime() {
    let body =
        format!(r#"{{"success":true,"page":2,"num_pages":5,"page_size":10,"items":[{VOICE}]}}"#);
    let p = parse_voice_page(200, body.as_bytes(), (1, 50)).unwrap();
    assert_eq!(
        (p.page, p.page_size, p.num_pages, p.total_count),
        (2, 10, Some(5), None)
    );
    let v = &p.items[0];
    assert_eq!(v.uuid, "55592656");
    assert_eq!(v.name, "Lucy");
    assert_eq!(v.status.as_deref(), Some("finished"));
    assert_eq!(v.voice_type.as_deref(), Some("professional"));
    assert_eq!(v.default_language.as_deref(), Some("en-US"));
    assert_eq!(v.supported_languages, vec!["en-US", "fr-FR"]);
    assert_eq!(v.extra["voice_status"], "ready");
    assert_eq!(v.extra["api_support"]["streaming"], true);
    assert!(!v.extra.contains_key("uuid"));
}

#[test]
fn voices_shape_a_with_total_count() {
    let body = format!(
        r#"{{"success":true,"page":1,"num_pages":3,"page_size":10,"total_count":27,"items":[{VOICE},{VOICE}]}}"#
    );
    let p = parse_voice_page(200, body.as_bytes(), (1, 10)).unwrap();
    assert_eq!(
        (p.num_pages, p.total_count, p.items.len()),
        (Some(3), Some(27), 2)
    );
}

#[test]
fn voices_shape_b() {
    let body = format!(
        r#"{{"success":true,"page":1,"total_results":42,"page_count":5,"items":[{VOICE}]}}"#
    );
    let p = parse_voice_page(200, body.as_bytes(), (1, 10)).unwrap();
    assert_eq!(
        (p.page, p.page_size, p.num_pages, p.total_count),
        (1, 10, Some(5), Some(42))
    );
}

#[test]
fn voices_item_instead_of_items_and_numbers_as_strings() {
    let body = format!(
        r#"{{"success":"true","page":"3","page_size":"25","num_pages":"4","total_count":"80","item":[{VOICE}]}}"#
    );
    let p = parse_voice_page(200, body.as_bytes(), (1, 10)).unwrap();
    assert_eq!(
        (
            p.page,
            p.page_size,
            p.num_pages,
            p.total_count,
            p.items.len()
        ),
        (3, 25, Some(4), Some(80), 1)
    );
}

#[test]
fn voices_meta_and_pagination_objects() {
    let c = format!(
        r#"{{"meta":{{"page":2,"per_page":25,"total_pages":3,"total_items":60}},"items":[{VOICE}]}}"#
    );
    let p = parse_voice_page(200, c.as_bytes(), (1, 10)).unwrap();
    assert_eq!(
        (p.page, p.page_size, p.num_pages, p.total_count),
        (2, 25, Some(3), Some(60))
    );
    let d = r#"{"items":[],"pagination":{"page":1,"per_page":10,"total_count":0,"total_pages":0}}"#;
    let p = parse_voice_page(200, d.as_bytes(), (1, 10)).unwrap();
    assert_eq!(
        (p.num_pages, p.total_count, p.items.len()),
        (Some(0), Some(0), 0)
    );
}

#[test]
fn voices_lenient_items() {
    let body = r#"{"success":true,"items":[
        {"uuid":12345,"name":null,"supported_languages":"en-US, de-DE","status":{"odd":1}},
        {"name":"no uuid"},
        "not an object"
    ]}"#;
    let p = parse_voice_page(200, body.as_bytes(), (1, 10)).unwrap();
    assert_eq!(p.items.len(), 1);
    let v = &p.items[0];
    assert_eq!((v.uuid.as_str(), v.name.as_str()), ("12345", ""));
    assert_eq!(v.supported_languages, vec!["en-US", "de-DE"]);
    assert_eq!(v.status, None);
    assert_eq!(v.extra["status"]["odd"], 1);
    // Missing list and paging fields: empty page with the requested paging.
    let p = parse_voice_page(200, br#"{"success":true}"#, (4, 20)).unwrap();
    assert_eq!((p.page, p.page_size, p.items.len()), (4, 20, 0));
}

#[test]
fn voices_failures() {
    assert!(matches!(
        up(parse_voice_page(200, b"<html>", (1, 10))),
        UpstreamError::Protocol(_)
    ));
    assert!(matches!(
        up(parse_voice_page(200, b"[]", (1, 10))),
        UpstreamError::Protocol(_)
    ));
    assert!(matches!(
        up(parse_voice_page(200, br#"{"items":"x"}"#, (1, 10))),
        UpstreamError::Protocol(_)
    ));
    assert_eq!(
        up(parse_voice_page(
            200,
            br#"{"success":false,"message":"plan expired"}"#,
            (1, 10)
        )),
        UpstreamError::BadRequest("plan expired".into())
    );
}

#[test]
fn billing_usage_variants() {
    let docs = br#"{"success":true,"items":{"detect":"1200","synth":"8450"}}"#;
    let m = parse_billing_usage(200, docs).unwrap();
    assert_eq!(m["detect"], dec!(1200));
    assert_eq!(m["synth"], dec!(8450));
    let fern = br#"{"success":true,"items":{"detect":1200,"synth":"8450.125"}}"#;
    let m = parse_billing_usage(200, fern).unwrap();
    assert_eq!((m["detect"], m["synth"]), (dec!(1200), dec!(8450.125)));
    let mcp = br#"{"success":true,"item":{"detect":"0.000","synth":12.5,"stt":null}}"#;
    let m = parse_billing_usage(200, mcp).unwrap();
    assert_eq!((m["detect"], m["synth"], m.len()), (dec!(0), dec!(12.5), 2));
    let sci = br#"{"items":{"synth":1e3}}"#;
    assert_eq!(parse_billing_usage(200, sci).unwrap()["synth"], dec!(1000));
    assert!(parse_billing_usage(200, br#"{"success":true}"#)
        .unwrap()
        .is_empty());
}

#[test]
fn billing_usage_failures() {
    assert!(matches!(
        up(parse_billing_usage(200, br#"{"items":{"synth":"lots"}}"#)),
        UpstreamError::Protocol(_)
    ));
    assert!(matches!(
        up(parse_billing_usage(200, br#"{"items":[1,2]}"#)),
        UpstreamError::Protocol(_)
    ));
    assert_eq!(
        up(parse_billing_usage(
            200,
            br#"{"error":"billing disabled","error_code":"no_plan"}"#
        )),
        UpstreamError::BadRequest("billing disabled".into())
    );
}

fn synth_body(extra: &str) -> String {
    let audio = STANDARD.encode(b"RIFF....WAVEfmt ");
    format!(
        r#"{{"success":true,"audio_content":"{audio}","audio_timestamps":{{"graph_chars":["H"],"graph_times":[[0.0,0.12]],"phon_chars":[],"phon_times":[]}},
        "synth_duration":1.64,"seed":962692783,"title":null,"issues":[]{extra}}}"#
    )
}

#[test]
fn synthesis_documented_shape() {
    let body = synth_body(r#","duration":1.68,"output_format":"wav","sample_rate":48000"#);
    let s = parse_synthesis(200, body.as_bytes(), AudioFormat::Wav).unwrap();
    assert_eq!(&s.audio[..], b"RIFF....WAVEfmt ");
    assert_eq!(s.output_format, AudioFormat::Wav);
    assert_eq!(s.claimed_duration, Some(1.68));
    assert_eq!(s.sample_rate, Some(48_000));
    assert_eq!(s.resemble_url, None);
    assert_eq!(s.audio_timestamps.unwrap()["graph_chars"][0], "H");
}

#[test]
fn synthesis_strings_and_urls() {
    let body = synth_body(
        r#","duration":"2.5","output_format":"MP3","sample_rate":"22050","audio_src":"https://cdn/x.mp3""#,
    );
    let s = parse_synthesis(200, body.as_bytes(), AudioFormat::Wav).unwrap();
    assert_eq!(
        (s.claimed_duration, s.sample_rate, s.output_format),
        (Some(2.5), Some(22_050), AudioFormat::Mp3)
    );
    assert_eq!(s.resemble_url.as_deref(), Some("https://cdn/x.mp3"));
    let body = synth_body(r#","url":"https://cdn/y.wav","audio_timestamps":null"#);
    let s = parse_synthesis(200, body.as_bytes(), AudioFormat::Mp3).unwrap();
    assert_eq!(s.resemble_url.as_deref(), Some("https://cdn/y.wav"));
    // Missing output_format: the requested one; missing numbers: None.
    assert_eq!(
        (s.output_format, s.claimed_duration, s.sample_rate),
        (AudioFormat::Mp3, None, None)
    );
}

#[test]
fn synthesis_base64_variants() {
    let raw: Vec<u8> = (0u8..=255).collect();
    for encoded in [
        STANDARD.encode(&raw),
        STANDARD_NO_PAD.encode(&raw),
        URL_SAFE.encode(&raw),
        URL_SAFE_NO_PAD.encode(&raw),
        format!("data:audio/wav;base64,{}", STANDARD.encode(&raw)),
        STANDARD
            .encode(&raw)
            .as_bytes()
            .chunks(76)
            .map(|c| String::from_utf8_lossy(c).into_owned())
            .collect::<Vec<_>>()
            .join("\n"),
    ] {
        assert_eq!(decode_base64(&encoded).unwrap(), raw, "{encoded}");
    }
}

#[test]
fn synthesis_failures() {
    let bad = br#"{"success":true,"audio_content":"%%% not base64 %%%","output_format":"wav"}"#;
    assert!(matches!(
        up(parse_synthesis(200, bad, AudioFormat::Wav)),
        UpstreamError::Protocol(_)
    ));
    let empty = br#"{"success":true,"audio_content":""}"#;
    assert!(matches!(
        up(parse_synthesis(200, empty, AudioFormat::Wav)),
        UpstreamError::Protocol(_)
    ));
    let missing = br#"{"success":true,"duration":1.0}"#;
    assert!(matches!(
        up(parse_synthesis(200, missing, AudioFormat::Wav)),
        UpstreamError::Protocol(_)
    ));
    let node = br#"{"success":false,"issues":["x"],"error_name":"VoiceNotReady","error_params":{},"feedback_uuid":"f","message":"The voice is not ready"}"#;
    assert_eq!(
        up(parse_synthesis(200, node, AudioFormat::Wav)),
        UpstreamError::BadRequest("The voice is not ready".into())
    );
    let nf = br#"{"success":false,"message":"Voice not found"}"#;
    assert_eq!(
        up(parse_synthesis(200, nf, AudioFormat::Wav)),
        UpstreamError::NotFound("Voice not found".into())
    );
    assert!(matches!(
        up(parse_synthesis(200, b"", AudioFormat::Wav)),
        UpstreamError::Protocol(_)
    ));
}

#[test]
fn number_helpers() {
    use serde_json::json;
    assert_eq!(as_u64(&json!(48000)), Some(48_000));
    assert_eq!(as_u64(&json!(48000.0)), Some(48_000));
    assert_eq!(as_u64(&json!(" 48000 ")), Some(48_000));
    assert_eq!(as_u64(&json!("48000.0")), Some(48_000));
    assert_eq!(as_u64(&json!(-1)), None);
    assert_eq!(as_u64(&json!(1.5)), None);
    assert_eq!(as_u64(&json!(true)), None);
    assert_eq!(as_f64(&json!("1.68")), Some(1.68));
    assert_eq!(as_f64(&json!("NaN")), None);
    assert_eq!(as_decimal(&json!("12.345")), Some(dec!(12.345)));
    assert_eq!(as_decimal(&json!(null)), None);
}
