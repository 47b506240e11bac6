//! `POST /resemble/uploads`: purposes land under their retention prefix in the real bucket,
//! non-audio and missing files are 422, oversize bodies 413, and uploads stay private.

use chrono::{DateTime, Utc};
use indox_simulator::audio::{mp3, wav};
use reqwest::multipart::{Form, Part};
use rust_decimal::Decimal;

use crate::helpers::*;

/// One second of a 440 Hz tone as 16-bit mono WAV at 16 kHz.
fn wav_bytes() -> Vec<u8> {
    let rate = 16_000;
    let samples: Vec<f64> = (0..rate)
        .map(|i| (f64::from(i) * 440.0 * std::f64::consts::TAU / f64::from(rate)).sin() * 0.3)
        .collect();
    wav::encode(&samples, rate, wav::Precision::Pcm16, "")
}

fn file_part(bytes: Vec<u8>, name: &str, mime: &str) -> Part {
    Part::bytes(bytes)
        .file_name(name.to_owned())
        .mime_str(mime)
        .unwrap()
}

impl TestApp {
    async fn upload(&self, user: &User, form: Form) -> reqwest::Response {
        self.client
            .post(format!("{}/resemble/uploads", self.base))
            .bearer_auth(&user.key)
            .multipart(form)
            .send()
            .await
            .unwrap()
    }

    async fn get_asset(&self, user: &User, id: &str) -> reqwest::Response {
        self.client
            .get(format!("{}/resemble/assets/{id}", self.base))
            .bearer_auth(&user.key)
            .send()
            .await
            .unwrap()
    }
}

fn time(v: &serde_json::Value) -> DateTime<Utc> {
    v.as_str().unwrap().parse().unwrap()
}

#[tokio::test]
async fn voice_clone_recordings_are_kept_permanently_under_voice_recordings() {
    let app = spawn_app().await;
    let user = app.user("1.00").await;
    let audio = wav_bytes();
    let form = Form::new()
        .text("purpose", "voice_clone")
        .part("file", file_part(audio.clone(), "me.wav", "audio/wav"));
    let resp = app.upload(&user, form).await;
    assert_eq!(resp.status(), 201);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["purpose"], "voice_clone");
    assert_eq!(body["class"], "voice_clone_recording");
    assert_eq!(body["content_type"], "audio/wav");
    assert_eq!(body["size_bytes"], audio.len() as u64);
    assert!((body["duration"].as_f64().unwrap() - 1.0).abs() < 1e-9);
    assert!(body["retention_expires_at"].is_null(), "{body}");
    assert!(body["audio_url"].is_string() && body["expires_at"].is_string());
    let id = body["upload_id"].as_str().unwrap().to_owned();

    // In the real bucket under voice-recordings/<account>/…, with the bytes sent.
    let keys = app.store().list_keys("voice-recordings/").await.unwrap();
    assert_eq!(keys.len(), 1, "{keys:?}");
    let key = &keys[0];
    assert!(
        key.starts_with(&format!("voice-recordings/{}/", user.account)),
        "{key}"
    );
    assert!(key.ends_with(&format!("{id}.wav")), "{key}");
    assert_eq!(app.stored_bytes(key).await, audio);
    let fetched = reqwest::get(body["audio_url"].as_str().unwrap())
        .await
        .unwrap();
    assert_eq!(fetched.bytes().await.unwrap().to_vec(), audio);

    // The record: mirrored, no expiry.
    let stored = app.app.assets.get(id.parse().unwrap()).await.unwrap();
    assert_eq!(stored.account, user.account);
    assert_eq!(stored.object_key, *key);
    assert!(stored.expires_at.is_none() && stored.mirrored_at.is_some());

    // Free: no usage row, the balance untouched.
    assert!(app.usage(user.account).await.is_empty());
    assert_eq!(
        app.account(user.account).await.balance,
        Decimal::new(100, 2)
    );

    // Readable through the assets endpoint.
    let resp = app.get_asset(&user, &id).await;
    assert_eq!(resp.status(), 200);
    let asset: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(asset["class"], "voice_clone_recording");
    assert!(asset["retention_expires_at"].is_null());
}

#[tokio::test]
async fn default_uploads_land_under_uploads_for_thirty_days() {
    let app = spawn_app().await;
    let user = app.user("0").await;
    let audio = mp3::encode_silent(44_100, 20, "").unwrap();
    let before = Utc::now();
    let form = Form::new().part("file", file_part(audio.clone(), "clip.mp3", "audio/mpeg"));
    let resp = app.upload(&user, form).await;
    assert_eq!(resp.status(), 201);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert!(body["purpose"].is_null());
    assert_eq!(body["class"], "generic_upload");
    assert_eq!(body["content_type"], "audio/mpeg");
    assert!(body["duration"].as_f64().unwrap() > 0.0);
    let retention = time(&body["retention_expires_at"]);
    assert!(retention >= before + chrono::Duration::days(30));
    assert!(retention <= Utc::now() + chrono::Duration::days(30));
    // The URL never outlives the upload (and is clipped to the presign TTL).
    assert!(time(&body["expires_at"]) <= retention);

    let id = body["upload_id"].as_str().unwrap();
    let keys = app.store().list_keys("uploads/").await.unwrap();
    assert_eq!(keys.len(), 1, "{keys:?}");
    assert!(keys[0].starts_with(&format!("uploads/{}/", user.account)));
    assert!(keys[0].ends_with(&format!("{id}.mp3")));
    assert!(app
        .store()
        .list_keys("voice-recordings/")
        .await
        .unwrap()
        .is_empty());

    // The other purposes: stt_input has its own prefix, the job inputs are generic.
    for (purpose, class, prefix) in [
        ("stt_input", "stt_input", "stt-input/"),
        ("watermark_input", "generic_upload", "uploads/"),
        ("audio_job_input", "generic_upload", "uploads/"),
    ] {
        let form = Form::new()
            .text("purpose", purpose)
            .part("file", file_part(wav_bytes(), "a.wav", "audio/wav"));
        let resp = app.upload(&user, form).await;
        assert_eq!(resp.status(), 201, "{purpose}");
        let body: serde_json::Value = resp.json().await.unwrap();
        assert_eq!(body["purpose"], purpose);
        assert_eq!(body["class"], class);
        assert!(body["retention_expires_at"].is_string());
        let id = body["upload_id"].as_str().unwrap();
        let keys = app.store().list_keys(prefix).await.unwrap();
        assert!(
            keys.iter().any(|k| k.ends_with(&format!("{id}.wav"))),
            "{purpose}: {keys:?}"
        );
    }
}

#[tokio::test]
async fn bad_forms_are_refused_with_the_field_named() {
    let app = spawn_app().await;
    let user = app.user("0").await;

    // Not audio at all.
    let form = Form::new().text("purpose", "voice_clone").part(
        "file",
        file_part(b"%PDF-1.7 not audio".to_vec(), "cv.pdf", "audio/wav"),
    );
    let (status, body) = error_code(app.upload(&user, form).await).await;
    assert_eq!(status, 422);
    assert_eq!(body["error"]["field"], "file");
    assert_eq!(body["error"]["code"], "unsupported_audio");

    // A WAV header whose contents do not decode.
    let form = Form::new().part(
        "file",
        file_part(
            b"RIFF\x04\x00\x00\x00WAVEjunk".to_vec(),
            "x.wav",
            "audio/wav",
        ),
    );
    let (status, body) = error_code(app.upload(&user, form).await).await;
    assert_eq!(status, 422);
    assert_eq!(body["error"]["field"], "file");
    assert_eq!(body["error"]["code"], "invalid_audio");

    // No file field.
    let form = Form::new().text("purpose", "voice_clone");
    let (status, body) = error_code(app.upload(&user, form).await).await;
    assert_eq!(status, 422);
    assert_eq!(body["error"]["field"], "file");
    assert_eq!(body["error"]["code"], "missing_field");

    // An unknown purpose.
    let form = Form::new()
        .text("purpose", "forever")
        .part("file", file_part(wav_bytes(), "a.wav", "audio/wav"));
    let (status, body) = error_code(app.upload(&user, form).await).await;
    assert_eq!(status, 422);
    assert_eq!(body["error"]["field"], "purpose");

    // Not multipart.
    let resp = app
        .client
        .post(format!("{}/resemble/uploads", app.base))
        .bearer_auth(&user.key)
        .json(&serde_json::json!({"file": "x"}))
        .send()
        .await
        .unwrap();
    let (status, body) = error_code(resp).await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["code"], "malformed_multipart");

    // Nothing was stored.
    assert!(app.store().list_keys("").await.unwrap().is_empty());
}

#[tokio::test]
async fn oversized_bodies_are_413() {
    let app = spawn_app_with(Options {
        max_upload_bytes: 64 * 1024,
        ..Options::default()
    })
    .await;
    let user = app.user("0").await;
    let big = {
        let mut v = wav_bytes(); // 32 KB of samples
        v.extend(wav_bytes());
        v.extend(wav_bytes());
        v
    };
    let form = Form::new().part("file", file_part(big, "big.wav", "audio/wav"));
    let (status, body) = error_code(app.upload(&user, form).await).await;
    assert_eq!(status, 413);
    assert_eq!(body["error"]["code"], "payload_too_large");

    // Without a Content-Length (chunked), the limit holds while reading.
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        (0..8).map(|_| Ok(vec![b'x'; 16 * 1024])).collect();
    let resp = app
        .client
        .post(format!("{}/resemble/uploads", app.base))
        .bearer_auth(&user.key)
        .header("content-type", "multipart/form-data; boundary=XX")
        .body(reqwest::Body::wrap_stream(futures_util::stream::iter(
            chunks,
        )))
        .send()
        .await
        .unwrap();
    let (status, _) = error_code(resp).await;
    assert_eq!(status, 413);

    // Under the limit is fine.
    let form = Form::new().part("file", file_part(wav_bytes(), "a.wav", "audio/wav"));
    assert_eq!(app.upload(&user, form).await.status(), 201);
}

#[tokio::test]
async fn uploads_need_a_key_and_stay_private() {
    let app = spawn_app().await;
    let form = Form::new().part("file", file_part(wav_bytes(), "a.wav", "audio/wav"));
    let resp = app
        .client
        .post(format!("{}/resemble/uploads", app.base))
        .multipart(form)
        .send()
        .await
        .unwrap();
    let (status, body) = error_code(resp).await;
    assert_eq!(status, 401);
    assert_eq!(body["error"]["code"], "missing_api_key");

    let owner = app.user("0").await;
    let other = app.user("0").await;
    let form = Form::new()
        .text("purpose", "voice_clone")
        .part("file", file_part(wav_bytes(), "a.wav", "audio/wav"));
    let resp = app.upload(&owner, form).await;
    assert_eq!(resp.status(), 201);
    let body: serde_json::Value = resp.json().await.unwrap();
    let id = body["upload_id"].as_str().unwrap();

    let (status, body) = error_code(app.get_asset(&other, id).await).await;
    assert_eq!(status, 404);
    assert_eq!(body["error"]["code"], "asset_not_found");
    assert_eq!(app.get_asset(&owner, id).await.status(), 200);
}

#[tokio::test]
async fn with_the_store_down_the_upload_is_kept_and_mirrored_later() {
    let mut app = spawn_app().await;
    let user = app.user("0").await;
    app.s3.stop();
    let audio = wav_bytes();
    let form = Form::new()
        .text("purpose", "voice_clone")
        .part("file", file_part(audio.clone(), "me.wav", "audio/wav"));
    let resp = app.upload(&user, form).await;
    assert_eq!(resp.status(), 201);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert!(body["audio_url"].is_null() && body["expires_at"].is_null());
    let id = body["upload_id"].as_str().unwrap().to_owned();
    let (status, body) = error_code(app.get_asset(&user, &id).await).await;
    assert_eq!(status, 503);
    assert_eq!(body["error"]["code"], "asset_not_stored_yet");

    app.s3.restart().await.unwrap();
    let policy = indox_jobs::RetryPolicy::default();
    let mirrored = eventually(|| async {
        let n = indox_server::app::mirror::run_once(&app.app, &policy).await;
        (n > 0).then_some(n)
    })
    .await;
    assert_eq!(mirrored, Some(1));
    let keys = app.store().list_keys("voice-recordings/").await.unwrap();
    assert_eq!(keys.len(), 1);
    assert!(keys[0].ends_with(&format!("{id}.wav")));
    assert_eq!(app.stored_bytes(&keys[0]).await, audio);
    assert_eq!(app.get_asset(&user, &id).await.status(), 200);
}
