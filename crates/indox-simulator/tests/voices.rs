//! End-to-end tests of custom voices (create, recordings, build/training, callbacks, delete)
//! and voice design, over HTTP on port 0, with a tiny local receiver for the callbacks.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use base64::Engine as _;
use indox_audio::{measure, AudioFormat};
use indox_simulator::{start, SimConfig, SimHandle};
use serde_json::{json, Value};

const KEY: &str = "sim-key";
const SECRET: &str = "sim-callback-secret";

async fn sim() -> SimHandle {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let config = SimConfig {
        voice_training_delay: Duration::from_millis(30),
        ..SimConfig::default()
    };
    start(config, listener).await.unwrap()
}

fn client() -> reqwest::Client {
    reqwest::Client::new()
}

/// Received callbacks: (signature header, raw body).
type Inbox = Arc<Mutex<Vec<(Option<String>, Vec<u8>)>>>;

/// Starts a receiver that records every POST to `/cb`; returns its URL and inbox.
fn receiver() -> (String, Inbox) {
    let inbox: Inbox = Arc::default();
    let data = web::Data::new(Arc::clone(&inbox));
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/cb", listener.local_addr().unwrap());
    let server = HttpServer::new(move || {
        App::new().app_data(data.clone()).route(
            "/cb",
            web::post().to(
                |req: HttpRequest, body: web::Bytes, inbox: web::Data<Inbox>| async move {
                    let sig = req
                        .headers()
                        .get("x-resemble-signature")
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_owned);
                    inbox.lock().unwrap().push((sig, body.to_vec()));
                    HttpResponse::Ok().finish()
                },
            ),
        )
    })
    .workers(1)
    .disable_signals()
    .listen(listener)
    .unwrap()
    .run();
    tokio::spawn(server);
    (url, inbox)
}

async fn wait_inbox(inbox: &Inbox, n: usize) -> Vec<(Option<String>, Vec<u8>)> {
    for _ in 0..500 {
        let got = inbox.lock().unwrap().clone();
        if got.len() >= n {
            return got;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!(
        "expected {n} callbacks, got {}",
        inbox.lock().unwrap().len()
    );
}

async fn send(rb: reqwest::RequestBuilder) -> (u16, Value) {
    let r = rb.send().await.unwrap();
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

async fn post(h: &SimHandle, path: &str, body: Value) -> (u16, Value) {
    send(
        client()
            .post(format!("{}{path}", h.app_url()))
            .bearer_auth(KEY)
            .json(&body),
    )
    .await
}

async fn get(h: &SimHandle, path: &str) -> (u16, Value) {
    send(
        client()
            .get(format!("{}{path}", h.app_url()))
            .bearer_auth(KEY),
    )
    .await
}

async fn delete(h: &SimHandle, path: &str) -> (u16, Value) {
    send(
        client()
            .delete(format!("{}{path}", h.app_url()))
            .bearer_auth(KEY),
    )
    .await
}

async fn synthesize(h: &SimHandle, voice: &str, text: &str) -> (u16, Value) {
    send(
        client()
            .post(format!("{}/synthesize", h.synth_url()))
            .bearer_auth(KEY)
            .json(&json!({"voice_uuid": voice, "data": text, "sample_rate": 16000})),
    )
    .await
}

/// A short WAV made by the simulator's own `/synthesize` (stock voice).
async fn sample_wav(h: &SimHandle, text: &str) -> Vec<u8> {
    let (status, body) = synthesize(h, "55592656", text).await;
    assert_eq!(status, 200);
    base64::engine::general_purpose::STANDARD
        .decode(body["audio_content"].as_str().unwrap())
        .unwrap()
}

async fn create_voice(h: &SimHandle, body: Value) -> String {
    let (status, v) = post(h, "/voices", body).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["success"], true);
    assert_eq!(v["item"]["status"], "pending");
    v["item"]["uuid"].as_str().unwrap().to_owned()
}

async fn upload(h: &SimHandle, voice: &str, name: &str, file: Vec<u8>) -> (u16, Value) {
    let form = reqwest::multipart::Form::new()
        .part(
            "file",
            reqwest::multipart::Part::bytes(file)
                .file_name("take.wav")
                .mime_str("audio/wav")
                .unwrap(),
        )
        .text("name", name.to_owned())
        .text("text", format!("the text of {name}"))
        .text("emotion", "neutral")
        .text("is_active", "true");
    send(
        client()
            .post(format!("{}/voices/{voice}/recordings", h.app_url()))
            .bearer_auth(KEY)
            .multipart(form),
    )
    .await
}

async fn add_recordings(h: &SimHandle, voice: &str, n: usize) {
    for i in 0..n {
        let wav = sample_wav(h, &format!("take {i}")).await;
        let (status, body) = upload(h, voice, &format!("take-{i}"), wav).await;
        assert_eq!(status, 200, "{body}");
    }
}

/// Polls `GET /voices/{uuid}` (bounded) until the status leaves `pending`.
async fn wait_trained(h: &SimHandle, voice: &str) -> Value {
    for _ in 0..500 {
        let (status, body) = get(h, &format!("/voices/{voice}")).await;
        assert_eq!(status, 200);
        if body["item"]["status"] != "pending" {
            return body["item"].clone();
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("voice {voice} never finished training");
}

fn verify(sig: &Option<String>, body: &[u8]) {
    let header = sig.as_deref().expect("signed callback");
    indox_webhooks::verify_provider(
        &[SECRET.as_bytes()],
        header,
        body,
        chrono::Utc::now().timestamp(),
        300,
    )
    .expect("valid signature");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn professional_voice_trains_and_synthesizes() {
    let h = sim().await;
    let (cb, inbox) = receiver();
    let voice = create_voice(
        &h,
        json!({"name": "Narrator", "language": "en-GB", "callback_uri": cb}),
    )
    .await;
    assert_eq!(voice.len(), 8);
    let (_, item) = get(&h, &format!("/voices/{voice}")).await;
    assert_eq!(item["item"]["voice_type"], "professional");
    assert_eq!(item["item"]["default_language"], "en-GB");

    add_recordings(&h, &voice, 3).await;
    let (status, list) = get(&h, &format!("/voices/{voice}/recordings")).await;
    assert_eq!(status, 200);
    assert_eq!(list["items"].as_array().unwrap().len(), 3);
    assert_eq!(
        (list["page"].clone(), list["num_pages"].clone()),
        (json!(1), json!(1))
    );
    let rec = &list["items"][0];
    for key in [
        "uuid",
        "name",
        "text",
        "emotion",
        "is_active",
        "audio_src",
        "created_at",
    ] {
        assert!(!rec[key].is_null(), "{key} in {rec}");
    }
    let audio = client()
        .get(rec["audio_src"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert!(measure(&audio, AudioFormat::Wav).is_ok());

    let (status, body) = synthesize(&h, &voice, "too early").await;
    assert_eq!(status, 400);
    assert_eq!(
        body,
        json!({"success": false, "message": "Voice is not ready"})
    );

    let (status, body) = post(&h, &format!("/voices/{voice}/build"), json!({})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        json!({"success": true, "message": "Voice build started"})
    );
    let item = wait_trained(&h, &voice).await;
    assert_eq!(item["status"], "finished");

    let (status, body) = synthesize(&h, &voice, "hello from my clone").await;
    assert_eq!(status, 200, "{body}");
    assert!(body["duration"].as_f64().unwrap() > 0.0);
    let (status, _) = send(
        client()
            .post(format!("{}/stream", h.synth_url()))
            .bearer_auth(KEY)
            .json(&json!({"voice_uuid": voice, "data": "streamed", "sample_rate": 8000})),
    )
    .await;
    assert_eq!(status, 200);

    let (_, all) = get(&h, "/voices?page_size=100").await;
    assert!(all["items"]
        .as_array()
        .unwrap()
        .iter()
        .any(|v| v["uuid"] == voice.as_str() && v["status"] == "finished"));

    let got = wait_inbox(&inbox, 1).await;
    verify(&got[0].0, &got[0].1);
    let payload: Value = serde_json::from_slice(&got[0].1).unwrap();
    assert_eq!(
        payload,
        json!({"ok": true, "id": voice, "status": "finished"})
    );

    let (status, body) = post(&h, &format!("/voices/{voice}/build"), json!({})).await;
    assert_eq!(status, 400, "already built: {body}");

    let today = chrono::Utc::now().format("%Y-%m-%d").to_string();
    let (_, usage) = get(
        &h,
        &format!("/account/billing_usage?start_date={today}&end_date={today}"),
    )
    .await;
    assert_eq!(usage["items"]["voice_subscriptions"], "1.000");

    let stats = h.stats();
    for route in [
        "POST /api/v2/voices",
        "POST /api/v2/voices/{uuid}/recordings",
        "GET /api/v2/voices/{uuid}/recordings",
        "POST /api/v2/voices/{uuid}/build",
    ] {
        assert!(stats.route(route) > 0, "{route} counted");
    }
    assert_eq!(stats.route("POST /api/v2/voices/{uuid}/build"), 2);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rapid_voice_needs_one_recording_professional_three() {
    let h = sim().await;
    let rapid = create_voice(&h, json!({"name": "Quick", "voice_type": "rapid"})).await;
    let (status, body) = post(&h, &format!("/voices/{rapid}/build"), json!({})).await;
    assert_eq!(status, 400);
    assert!(
        body["message"].as_str().unwrap().contains("at least 1"),
        "{body}"
    );
    add_recordings(&h, &rapid, 1).await;
    let (status, _) = post(
        &h,
        &format!("/voices/{rapid}/build"),
        json!({"fill": false}),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(wait_trained(&h, &rapid).await["status"], "finished");
    assert_eq!(synthesize(&h, &rapid, "quick one").await.0, 200);

    let pro = create_voice(&h, json!({"name": "Slow"})).await;
    add_recordings(&h, &pro, 2).await;
    let (status, body) = post(&h, &format!("/voices/{pro}/build"), json!({})).await;
    assert_eq!(status, 400);
    assert_eq!(body["success"], false);
    assert!(
        body["message"].as_str().unwrap().contains("at least 3"),
        "{body}"
    );
    let (_, item) = get(&h, &format!("/voices/{pro}")).await;
    assert_eq!(item["item"]["status"], "pending");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fail_voice_ends_failed_with_a_signed_callback() {
    let h = sim().await;
    let (cb, inbox) = receiver();
    let voice = create_voice(
        &h,
        json!({"name": "my fail-voice", "voice_type": "rapid", "callback_uri": cb}),
    )
    .await;
    add_recordings(&h, &voice, 1).await;
    assert_eq!(
        post(&h, &format!("/voices/{voice}/build"), json!({}))
            .await
            .0,
        200
    );
    assert_eq!(wait_trained(&h, &voice).await["status"], "failed");
    let got = wait_inbox(&inbox, 1).await;
    verify(&got[0].0, &got[0].1);
    let payload: Value = serde_json::from_slice(&got[0].1).unwrap();
    assert_eq!(
        payload,
        json!({"ok": false, "id": voice, "status": "failed"})
    );
    let (status, body) = synthesize(&h, &voice, "nope").await;
    assert_eq!(
        (status, body["message"].as_str()),
        (400, Some("Voice is not ready"))
    );
    let today = chrono::Utc::now().format("%Y-%m-%d").to_string();
    let (_, usage) = get(
        &h,
        &format!("/account/billing_usage?start_date={today}&end_date={today}"),
    )
    .await;
    assert!(
        usage["items"].get("voice_subscriptions").is_none(),
        "{usage}"
    );
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recordings_are_validated() {
    let h = sim().await;
    let voice = create_voice(&h, json!({"name": "Checked"})).await;
    let (status, body) = upload(&h, &voice, "junk", b"RIFF\0\0\0\0WAVEjunk".to_vec()).await;
    assert_eq!(status, 400, "{body}");
    assert!(body["errors"]["file"].is_array(), "{body}");
    let wav = sample_wav(&h, "once").await;
    assert_eq!(upload(&h, &voice, "dup", wav.clone()).await.0, 200);
    let (status, body) = upload(&h, &voice, "dup", wav.clone()).await;
    assert_eq!(status, 400);
    assert!(body["errors"]["name"].is_array(), "{body}");
    assert_eq!(upload(&h, "00000000", "x", wav).await.0, 404);
    let (status, body) = post(&h, "/voices", json!({"name": "x".repeat(257)})).await;
    assert_eq!(status, 400, "{body}");
    let (status, _) = post(&h, "/voices", json!({"voice_type": "rapid"})).await;
    assert_eq!(status, 400);
    let (status, _) = post(&h, "/voices", json!({"name": "a", "voice_type": "turbo"})).await;
    assert_eq!(status, 400);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleted_voice_is_gone() {
    let h = sim().await;
    let voice = create_voice(&h, json!({"name": "Temp", "voice_type": "rapid"})).await;
    add_recordings(&h, &voice, 1).await;
    post(&h, &format!("/voices/{voice}/build"), json!({})).await;
    wait_trained(&h, &voice).await;
    let (status, body) = delete(&h, &format!("/voices/{voice}")).await;
    assert_eq!(status, 200);
    assert_eq!(
        body,
        json!({"success": true, "message": "Voice was deleted."})
    );
    assert_eq!(get(&h, &format!("/voices/{voice}")).await.0, 404);
    let (status, body) = synthesize(&h, &voice, "gone").await;
    assert_eq!(status, 404);
    assert_eq!(body["message"], "Voice not found");
    assert_eq!(delete(&h, &format!("/voices/{voice}")).await.0, 404);
    assert_eq!(
        delete(&h, "/voices/55592656").await.0,
        404,
        "stock voices are not the team's"
    );
    assert_eq!(h.stats().route("DELETE /api/v2/voices/{uuid}"), 3);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn voice_design_to_rapid_voice() {
    let h = sim().await;
    // A long training delay: the designed voice must be usable before it finishes.
    let r = client()
        .post(format!("{}/_sim/faults", h.base_url))
        .json(&json!({"voice_training_delay_ms": 60_000}))
        .send()
        .await
        .unwrap();
    let knobs: Value = r.json().await.unwrap();
    assert_eq!(knobs["voice_training_delay_ms"], 60_000);

    let (status, body) = post(
        &h,
        "/voice-design",
        json!({"user_prompt": "A warm elderly storyteller with a slight rasp"}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let candidates = body["voice_candidates"].as_array().unwrap();
    assert_eq!(candidates.len(), 3);
    let design = candidates[0]["uuid"].as_str().unwrap().to_owned();
    let mut audios = Vec::new();
    for (i, c) in candidates.iter().enumerate() {
        assert_eq!(c["uuid"], design.as_str());
        assert_eq!(c["voice_sample_index"], i);
        let bytes = client()
            .get(c["audio_url"].as_str().unwrap())
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        let info = measure(&bytes, AudioFormat::Wav).unwrap();
        assert!(info.duration_seconds_f64() > 0.5);
        audios.push(bytes);
    }
    assert!(audios[0] != audios[1] && audios[1] != audios[2]);

    let (status, body) = post(
        &h,
        &format!("/voice-design/{design}/1/create_rapid_voice"),
        json!({"voice_name": "Storyteller"}),
    )
    .await;
    assert_eq!(status, 202, "{body}");
    let voice = body["voice_uuid"].as_str().unwrap().to_owned();
    let (_, item) = get(&h, &format!("/voices/{voice}")).await;
    assert_eq!(item["item"]["voice_type"], "rapid");
    assert_eq!(item["item"]["status"], "pending");
    assert_eq!(synthesize(&h, &voice, "usable at once").await.0, 200);

    let (status, body) = post(
        &h,
        &format!("/voice-design/{design}/2/create"),
        json!({"voice_name": "Alias"}),
    )
    .await;
    assert_eq!(status, 202, "{body}");
    let (status, _) = post(
        &h,
        &format!("/voice-design/{design}/7/create"),
        json!({"voice_name": "Bad index"}),
    )
    .await;
    assert_eq!(status, 400);
    let (status, _) = post(
        &h,
        "/voice-design/not-a-design/0/create_rapid_voice",
        json!({"voice_name": "x"}),
    )
    .await;
    assert_eq!(status, 404);
    let (status, _) = post(&h, "/voice-design", json!({})).await;
    assert_eq!(status, 400);
    let (status, list) = get(&h, "/voice-design").await;
    assert_eq!(status, 200);
    assert_eq!(list["voice_designs"][0]["uuid"], design.as_str());
    let stats = h.stats();
    assert_eq!(stats.route("POST /api/v2/voice-design"), 2);
    assert_eq!(
        stats.route("POST /api/v2/voice-design/{design_uuid}/{sample_index}/create_rapid_voice"),
        2
    );
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unauthenticated_calls_are_401_and_counted() {
    let h = sim().await;
    let voice = create_voice(&h, json!({"name": "Locked"})).await;
    let app = h.app_url();
    let calls = [
        client()
            .post(format!("{app}/voices"))
            .json(&json!({"name": "x"})),
        client().delete(format!("{app}/voices/{voice}")),
        client().post(format!("{app}/voices/{voice}/build")),
        client().get(format!("{app}/voices/{voice}/recordings")),
        client().post(format!("{app}/voices/{voice}/recordings")),
        client()
            .post(format!("{app}/voice-design"))
            .json(&json!({"user_prompt": "x"})),
        client()
            .post(format!("{app}/voice-design/d/0/create_rapid_voice"))
            .json(&json!({"voice_name": "x"})),
    ];
    for call in calls {
        let (status, body) = send(call.bearer_auth("wrong")).await;
        assert_eq!(status, 401, "{body}");
        assert_eq!(body["success"], false);
    }
    let stats = h.stats();
    assert_eq!(stats.status(401), 7);
    assert_eq!(stats.route("POST /api/v2/voices"), 2);
    // The voice survived the unauthenticated DELETE.
    assert_eq!(get(&h, &format!("/voices/{voice}")).await.0, 200);
    h.stop().await;
}
