//! End-to-end tests of the async-job endpoints (STT, enhance, edit, detect, intelligence,
//! watermark, identity) and their callbacks, over HTTP on port 0. Input media is served by a
//! small actix fixture server that also receives the callbacks.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use base64::Engine as _;
use indox_audio::{embedded_text, measure, AudioFormat};
use indox_simulator::{start, SimConfig, SimHandle};
use serde_json::{json, Value};

const KEY: &str = "sim-key";
const SECRET: &str = "sim-callback-secret";

fn config() -> SimConfig {
    SimConfig {
        job_delay: Duration::from_millis(20),
        ..SimConfig::default()
    }
}

async fn sim(config: SimConfig) -> SimHandle {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    start(config, listener).await.unwrap()
}

fn client() -> reqwest::Client {
    reqwest::Client::new()
}

/// A received callback: request path, `X-Resemble-Signature`, raw body.
type Received = (String, Option<String>, Vec<u8>);

/// Serves `/files/{name}` and records POSTs to `/cb/{name}` (answering 500 while
/// `fail_next` is positive).
#[derive(Default)]
struct Fixture {
    files: Mutex<HashMap<String, Vec<u8>>>,
    callbacks: Mutex<Vec<Received>>,
    fail_next: AtomicU32,
}

struct FixtureServer {
    base: String,
    state: Arc<Fixture>,
}

impl FixtureServer {
    async fn start() -> Self {
        let state = Arc::new(Fixture::default());
        let data = web::Data::from(Arc::clone(&state));
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .route(
                    "/files/{name}",
                    web::get().to(|p: web::Path<String>, f: web::Data<Fixture>| async move {
                        match f.files.lock().unwrap().get(p.as_str()) {
                            Some(b) => HttpResponse::Ok().body(b.clone()),
                            None => HttpResponse::NotFound().finish(),
                        }
                    }),
                )
                .route(
                    "/cb/{name}",
                    web::post().to(
                        |req: HttpRequest, body: web::Bytes, f: web::Data<Fixture>| async move {
                            let failing = f
                                .fail_next
                                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                                    n.checked_sub(1)
                                })
                                .is_ok();
                            if failing {
                                return HttpResponse::InternalServerError().finish();
                            }
                            let sig = req
                                .headers()
                                .get("x-resemble-signature")
                                .and_then(|v| v.to_str().ok())
                                .map(str::to_owned);
                            f.callbacks.lock().unwrap().push((
                                req.path().to_owned(),
                                sig,
                                body.to_vec(),
                            ));
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
        Self { base, state }
    }

    fn serve(&self, name: &str, bytes: Vec<u8>) -> String {
        self.state
            .files
            .lock()
            .unwrap()
            .insert(name.to_owned(), bytes);
        format!("{}/files/{name}", self.base)
    }

    fn callback_url(&self, name: &str) -> String {
        format!("{}/cb/{name}", self.base)
    }

    fn callbacks(&self) -> Vec<Received> {
        self.state.callbacks.lock().unwrap().clone()
    }

    /// Waits (bounded) until `n` callbacks have arrived.
    async fn wait_callbacks(&self, n: usize) -> Vec<Received> {
        for _ in 0..500 {
            let got = self.callbacks();
            if got.len() >= n {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("expected {n} callbacks, got {:?}", self.callbacks().len());
    }
}

async fn synth_audio(h: &SimHandle, text: &str, format: &str) -> Vec<u8> {
    let r = client()
        .post(format!("{}/synthesize", h.synth_url()))
        .bearer_auth(KEY)
        .json(
            &json!({"voice_uuid":"55592656","data":text,"output_format":format,
                      "sample_rate":16000}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    base64::engine::general_purpose::STANDARD
        .decode(body["audio_content"].as_str().unwrap())
        .unwrap()
}

/// A plain PCM16 mono WAV with no metadata (audio the simulator did not make).
fn foreign_wav(samples: usize) -> Vec<u8> {
    let data: Vec<u8> = (0..samples)
        .flat_map(|i| (((i % 50) as i16 - 25) * 300).to_le_bytes())
        .collect();
    let mut out = b"RIFF".to_vec();
    out.extend_from_slice(&(36 + data.len() as u32).to_le_bytes());
    out.extend_from_slice(b"WAVEfmt ");
    out.extend_from_slice(&16u32.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes());
    out.extend_from_slice(&8000u32.to_le_bytes());
    out.extend_from_slice(&16000u32.to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&16u16.to_le_bytes());
    out.extend_from_slice(b"data");
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    out.extend_from_slice(&data);
    out
}

async fn post(h: &SimHandle, path: &str, body: Value) -> (u16, Value) {
    let r = client()
        .post(format!("{}{path}", h.app_url()))
        .bearer_auth(KEY)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap())
}

async fn get(h: &SimHandle, path: &str) -> (u16, Value) {
    let r = client()
        .get(format!("{}{path}", h.app_url()))
        .bearer_auth(KEY)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap())
}

fn status_of(body: &Value) -> &str {
    body["item"]["status"]
        .as_str()
        .or_else(|| body["status"].as_str())
        .unwrap_or("")
}

/// Polls a GET endpoint until the job is terminal (bounded number of polls).
async fn poll(h: &SimHandle, path: &str) -> Value {
    for _ in 0..500 {
        let (code, body) = get(h, path).await;
        assert_eq!(code, 200, "{path}: {body}");
        if matches!(status_of(&body), "completed" | "failed") {
            return body;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("{path} never finished");
}

async fn fetch(url: &str) -> Vec<u8> {
    let r = client().get(url).send().await.unwrap();
    assert_eq!(r.status(), 200, "{url}");
    r.bytes().await.unwrap().to_vec()
}

async fn usage(h: &SimHandle) -> Value {
    let day = chrono::Utc::now().date_naive();
    let (code, body) = get(
        h,
        &format!("/account/billing_usage?start_date={day}&end_date={day}"),
    )
    .await;
    assert_eq!(code, 200);
    body["items"].clone()
}

fn hmac_hex(secret: &str, content: &[u8]) -> String {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret.as_bytes());
    ring::hmac::sign(&key, content)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Checks `t=<secs>,v1=<hex hmac over "{t}.{body}">` independently of the simulator.
fn assert_signed(header: &str, body: &[u8]) {
    let mut t = None;
    let mut v1 = None;
    for part in header.split(',') {
        match part.split_once('=') {
            Some(("t", v)) => t = Some(v.to_owned()),
            Some(("v1", v)) => v1 = Some(v.to_owned()),
            _ => {}
        }
    }
    let (t, v1) = (t.expect("t="), v1.expect("v1="));
    let secs: i64 = t.parse().unwrap();
    assert!((chrono::Utc::now().timestamp() - secs).abs() < 300);
    let mut content = format!("{t}.").into_bytes();
    content.extend_from_slice(body);
    assert_eq!(v1, hmac_hex(SECRET, &content));
}

#[tokio::test]
async fn stt_returns_the_spoken_text_with_word_timings() {
    let h = sim(config()).await;
    let fx = FixtureServer::start().await;
    for format in ["wav", "mp3"] {
        let text = "the quick brown fox";
        let audio = synth_audio(&h, text, format).await;
        let fmt = AudioFormat::from_extension(format).unwrap();
        let duration = measure(&audio, fmt).unwrap().duration_seconds_f64();
        let url = fx.serve(&format!("speech.{format}"), audio);
        let (code, created) = post(&h, "/speech-to-text", json!({"url": url})).await;
        assert_eq!(code, 200, "{created}");
        assert_eq!(created["success"], true);
        assert_eq!(created["item"]["status"], "pending");
        assert_eq!(created["item"]["text"], Value::Null);
        let uuid = created["item"]["uuid"].as_str().unwrap().to_owned();
        let done = poll(&h, &format!("/speech-to-text/{uuid}")).await;
        let item = &done["item"];
        assert_eq!(item["status"], "completed", "{done}");
        assert_eq!(item["text"], text);
        assert_eq!(item["duration_seconds"].as_f64().unwrap(), duration);
        let words = item["words"].as_array().unwrap();
        let spoken: Vec<&str> = words.iter().map(|w| w["word"].as_str().unwrap()).collect();
        assert_eq!(spoken, ["the", "quick", "brown", "fox"]);
        let mut last_end = 0.0;
        for w in words {
            let (s, e) = (w["start"].as_f64().unwrap(), w["end"].as_f64().unwrap());
            assert!(s >= last_end && e > s && e <= duration, "{w}");
            assert!(w["confidence"].as_f64().unwrap() > 0.9);
            last_end = e;
        }
    }
    // Audio the simulator did not make has a fixed transcript.
    let url = fx.serve("foreign.wav", foreign_wav(8000));
    let (_, created) = post(&h, "/speech-to-text", json!({"url": url})).await;
    let uuid = created["item"]["uuid"].as_str().unwrap();
    let done = poll(&h, &format!("/speech-to-text/{uuid}")).await;
    assert_eq!(done["item"]["text"], "[inaudible]");
    assert_eq!(done["item"]["duration_seconds"], 1.0);
    // 404 shape.
    let (code, body) = get(&h, "/speech-to-text/nope").await;
    assert_eq!(code, 404);
    assert_eq!(
        body,
        json!({"success": false, "error": "Transcript not found"})
    );
    // Missing input.
    let (code, _) = post(&h, "/speech-to-text", json!({"query": "x"})).await;
    assert_eq!(code, 400);
    h.stop().await;
}

#[tokio::test]
async fn detect_labels_simulated_audio_fake_and_other_media_real() {
    let h = sim(config()).await;
    let fx = FixtureServer::start().await;
    let fake = fx.serve("fake.wav", synth_audio(&h, "hello there", "wav").await);
    let real = fx.serve("real.wav", foreign_wav(16000));
    let png = fx.serve("pic.png", b"\x89PNG\r\n\x1a\nrest-of-image".to_vec());

    let (code, created) = post(&h, "/detect", json!({"url": fake})).await;
    assert_eq!(code, 200);
    assert_eq!(created["item"]["status"], "processing");
    assert_eq!(created["item"]["media_type"], "audio");
    let uuid = created["item"]["uuid"].as_str().unwrap();
    let done = poll(&h, &format!("/detect/{uuid}")).await;
    let m = &done["item"]["metrics"];
    assert_eq!(done["item"]["status"], "completed");
    assert_eq!(m["label"], "fake");
    assert_eq!(m["aggregated_score"], "0.97");
    assert!(!m["score"].as_array().unwrap().is_empty());

    let (_, created) = post(&h, "/detect", json!({"url": real})).await;
    let uuid = created["item"]["uuid"].as_str().unwrap();
    let done = poll(&h, &format!("/detect/{uuid}")).await;
    assert_eq!(done["item"]["metrics"]["label"], "real");
    assert_eq!(done["item"]["metrics"]["score"], json!(["0.03"]));

    // `Prefer: wait` answers with the finished item.
    let r = client()
        .post(format!("{}/detect", h.app_url()))
        .bearer_auth(KEY)
        .header("Prefer", "wait")
        .json(&json!({"url": png}))
        .send()
        .await
        .unwrap();
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["item"]["status"], "completed");
    assert_eq!(body["item"]["media_type"], "image");
    assert_eq!(body["item"]["image_metrics"]["label"], "Real");

    let (code, body) = get(&h, "/detect/missing").await;
    assert_eq!(code, 404);
    assert_eq!(body["message"], "Detect not found");
    let items = usage(&h).await;
    assert!(items["detect"].as_str().unwrap().parse::<f64>().unwrap() > 1.0);
    h.stop().await;
}

#[tokio::test]
async fn watermark_apply_then_detect_finds_the_mark() {
    let h = sim(config()).await;
    let fx = FixtureServer::start().await;
    for format in ["wav", "mp3"] {
        let audio = synth_audio(&h, "mark me", format).await;
        let fmt = AudioFormat::from_extension(format).unwrap();
        let plain = fx.serve(&format!("plain.{format}"), audio.clone());
        let (code, created) = post(&h, "/watermark/apply", json!({"url": plain})).await;
        assert_eq!(code, 200, "{created}");
        assert_eq!(created["item"]["status"], "pending");
        assert_eq!(created["item"]["operation_type"], "apply");
        let uuid = created["item"]["uuid"].as_str().unwrap();
        let done = poll(&h, &format!("/watermark/apply/{uuid}/result")).await;
        assert_eq!(done["item"]["status"], "completed");
        let marked_url = done["item"]["watermarked_media"]
            .as_str()
            .unwrap()
            .to_owned();
        assert!(marked_url.starts_with(&h.base_url));
        let marked = fetch(&marked_url).await;
        assert_ne!(marked, audio);
        assert_eq!(
            measure(&marked, fmt).unwrap().frames,
            measure(&audio, fmt).unwrap().frames
        );
        assert_eq!(embedded_text(&marked, fmt).as_deref(), Some("mark me"));

        for (url, expected) in [(marked_url.as_str(), true), (plain.as_str(), false)] {
            let (_, created) = post(&h, "/watermark/detect", json!({"url": url})).await;
            assert_eq!(created["item"]["operation_type"], "detect");
            let uuid = created["item"]["uuid"].as_str().unwrap();
            let done = poll(&h, &format!("/watermark/detect/{uuid}/result")).await;
            let metrics = &done["item"]["metrics"];
            assert_eq!(metrics["has_watermark"], expected, "{format} {url}");
            let want = if expected { 0.99 } else { 0.01 };
            assert_eq!(metrics["confidence"], want);
        }
    }
    let (code, body) = get(&h, "/watermark/apply/nope/result").await;
    assert_eq!((code, body["error"].as_str()), (404, Some("Not found")));
    h.stop().await;
}

fn multipart_body(boundary: &str, field: &str, bytes: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"enhancement_engine\"\r\n\r\nv2\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"{field}\"; filename=\"a.wav\"\r\n\
         Content-Type: audio/wav\r\n\r\n"
    )
    .into_bytes();
    out.extend_from_slice(bytes);
    out.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    out
}

#[tokio::test]
async fn enhance_accepts_json_and_multipart_and_serves_the_result() {
    let h = sim(config()).await;
    let fx = FixtureServer::start().await;
    let audio = synth_audio(&h, "enhance me", "wav").await;
    let url = fx.serve("in.wav", audio.clone());
    let (code, created) = post(&h, "/audio_enhancements", json!({"url": url})).await;
    assert_eq!(code, 202);
    assert_eq!(created["success"], true);
    assert_eq!(created["status"], "pending");
    let uuid = created["uuid"].as_str().unwrap();
    let done = poll(&h, &format!("/audio_enhancements/{uuid}")).await;
    assert_eq!(done["status"], "completed");
    assert_eq!(done["error_message"], Value::Null);
    let out = fetch(done["enhanced_audio_url"].as_str().unwrap()).await;
    assert_eq!(out, audio);

    let r = client()
        .post(format!("{}/audio_enhancements", h.app_url()))
        .bearer_auth(KEY)
        .header("content-type", "multipart/form-data; boundary=b0undary")
        .body(multipart_body("b0undary", "audio_file", &audio))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let created: Value = r.json().await.unwrap();
    let uuid = created["uuid"].as_str().unwrap();
    let done = poll(&h, &format!("/audio_enhancements/{uuid}")).await;
    assert_eq!(done["status"], "completed");

    let (code, body) = post(&h, "/audio_enhancements", json!({})).await;
    assert_eq!(code, 400);
    assert_eq!(body["message"], "audio_file parameter is required");
    let (code, body) = get(&h, "/audio_enhancements/none").await;
    assert_eq!(code, 404);
    assert_eq!(
        body["message"],
        "Audio enhancement not found or not accessible"
    );
    let items = usage(&h).await;
    let secs = measure(&audio, AudioFormat::Wav)
        .unwrap()
        .duration_seconds_f64();
    assert_eq!(items["enhance"], format!("{:.3}", secs * 2.0));
    h.stop().await;
}

#[tokio::test]
async fn edit_synthesizes_the_target_transcript() {
    let h = sim(config()).await;
    let fx = FixtureServer::start().await;
    let url = fx.serve("orig.wav", synth_audio(&h, "I like cats", "wav").await);
    let (code, created) = post(
        &h,
        "/edit",
        json!({"original_transcript":"I like cats","target_transcript":"I like dogs",
               "voice_uuid":"55592656","input_audio":url}),
    )
    .await;
    assert_eq!(code, 200, "{created}");
    assert_eq!(created["item"]["result_audio_url"], Value::Null);
    assert_eq!(created["item"]["error"], Value::Null);
    assert_eq!(created["item"]["target_transcript"], "I like dogs");
    let uuid = created["item"]["uuid"].as_str().unwrap();
    let done = poll(&h, &format!("/edit/{uuid}")).await;
    let out = fetch(done["item"]["result_audio_url"].as_str().unwrap()).await;
    assert_eq!(
        embedded_text(&out, AudioFormat::Wav).as_deref(),
        Some("I like dogs")
    );
    let (code, _) = post(
        &h,
        "/edit",
        json!({"original_transcript":"a","target_transcript":"b","voice_uuid":"nope",
               "input_audio":url}),
    )
    .await;
    assert_eq!(code, 404);
    h.stop().await;
}

#[tokio::test]
async fn intelligence_is_sync_without_callback_and_async_with_one() {
    let h = sim(config()).await;
    let fx = FixtureServer::start().await;
    let url = fx.serve("talk.wav", synth_audio(&h, "hi from the sim", "wav").await);
    let (code, body) = post(&h, "/intelligence", json!({"url": url})).await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(
        body["item"]["description"]["transcription"],
        "hi from the sim"
    );
    assert_eq!(body["item"]["media_type"], "audio");

    let cb = fx.callback_url("intel");
    let (code, body) = post(&h, "/intelligence", json!({"url": url, "callback_url": cb})).await;
    assert_eq!(code, 202);
    let item = body["item"].as_object().unwrap();
    let mut keys: Vec<&str> = item.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["created_at", "media_type", "uuid"]);
    let uuid = item["uuid"].as_str().unwrap().to_owned();
    let got = fx.wait_callbacks(1).await;
    let payload: Value = serde_json::from_slice(&got[0].2).unwrap();
    assert_eq!(payload["success"], true);
    assert_eq!(payload["item"]["uuid"], uuid.as_str());
    assert_eq!(
        payload["item"]["description"]["liveness"]["assessment"],
        "synthetic"
    );
    let (code, body) = get(&h, &format!("/intelligences/{uuid}")).await;
    assert_eq!(code, 200);
    assert_eq!(body["item"]["description"], payload["item"]["description"]);
    h.stop().await;
}

#[tokio::test]
async fn identity_enroll_and_search() {
    let h = sim(config()).await;
    let fx = FixtureServer::start().await;
    let alice = fx.serve("alice.wav", synth_audio(&h, "alice speaking", "wav").await);
    let bob = fx.serve("bob.wav", synth_audio(&h, "bob speaking", "wav").await);
    let (code, a) = post(&h, "/identity", json!({"name":"Alice","url":alice})).await;
    assert_eq!(code, 200, "{a}");
    assert_eq!(a["item"]["name"], "Alice");
    let (_, b) = post(&h, "/identity", json!({"name":"Bob","url":bob})).await;
    let (code, found) = post(&h, "/identity/search", json!({"url":bob,"top_k":2})).await;
    assert_eq!(code, 200);
    let items = found["item"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert_eq!(items[0]["uuid"], b["item"]["uuid"]);
    assert_eq!(items[0]["confidence"], 0.99);
    assert!(items[1]["confidence"].as_f64().unwrap() < 0.5);
    let (code, _) = post(&h, "/identity", json!({"url":bob})).await;
    assert_eq!(code, 400);
    let items = usage(&h).await;
    assert!(items["identity"].as_str().unwrap().parse::<f64>().unwrap() > 0.0);
    h.stop().await;
}

#[tokio::test]
async fn callbacks_are_signed_retried_and_counted() {
    let h = sim(config()).await;
    let fx = FixtureServer::start().await;
    fx.state.fail_next.store(1, Ordering::SeqCst);
    let url = fx.serve("cb.wav", synth_audio(&h, "call me back", "wav").await);
    let (code, created) = post(
        &h,
        "/speech-to-text",
        json!({"url": url, "callback_url": fx.callback_url("stt")}),
    )
    .await;
    assert_eq!(code, 200);
    let uuid = created["item"]["uuid"].as_str().unwrap().to_owned();
    // No polling: the background task finishes the job and calls back.
    let got = fx.wait_callbacks(1).await;
    let (path, sig, body) = &got[0];
    assert_eq!(path, "/cb/stt");
    assert_signed(sig.as_deref().expect("signature header"), body);
    let payload: Value = serde_json::from_slice(body).unwrap();
    assert_eq!(payload["success"], true);
    assert_eq!(payload["item"]["uuid"], uuid.as_str());
    assert_eq!(payload["item"]["status"], "completed");
    assert_eq!(payload["item"]["text"], "call me back");
    let (_, polled) = get(&h, &format!("/speech-to-text/{uuid}")).await;
    assert_eq!(polled, payload);
    let stats = h.stats();
    assert_eq!(stats.by_route_status["CALLBACK"][&500], 1);
    assert_eq!(stats.by_route_status["CALLBACK"][&200], 1);
    assert_eq!(stats.route("CALLBACK"), 2);

    // Edit uses `callback_uri`.
    let (code, _) = post(
        &h,
        "/edit",
        json!({"original_transcript":"a","target_transcript":"b","voice_uuid":"55592656",
               "input_audio":url,"callback_uri": fx.callback_url("edit")}),
    )
    .await;
    assert_eq!(code, 200);
    let got = fx.wait_callbacks(2).await;
    assert_eq!(got[1].0, "/cb/edit");
    assert_signed(got[1].1.as_deref().unwrap(), &got[1].2);
    h.stop().await;
}

#[tokio::test]
async fn drop_callbacks_sends_none_but_polling_still_works() {
    let h = sim(config()).await;
    let fx = FixtureServer::start().await;
    let r = client()
        .post(format!("{}/_sim/faults", h.base_url))
        .json(&json!({"drop_callbacks": true, "job_delay_ms": 5}))
        .send()
        .await
        .unwrap();
    let knobs: Value = r.json().await.unwrap();
    assert_eq!(knobs["drop_callbacks"], true);
    assert_eq!(knobs["job_delay_ms"], 5);
    let url = fx.serve("d.wav", synth_audio(&h, "dropped", "wav").await);
    let (_, created) = post(
        &h,
        "/detect",
        json!({"url": url, "callback_url": fx.callback_url("d")}),
    )
    .await;
    let uuid = created["item"]["uuid"].as_str().unwrap();
    let done = poll(&h, &format!("/detect/{uuid}")).await;
    assert_eq!(done["item"]["status"], "completed");
    for _ in 0..500 {
        if h.stats().route("CALLBACK_DROPPED") == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(h.stats().route("CALLBACK_DROPPED"), 1);
    assert_eq!(h.stats().route("CALLBACK"), 0);
    assert!(fx.callbacks().is_empty());
    h.stop().await;
}

#[tokio::test]
async fn injected_and_media_failures_end_failed_and_are_free() {
    let h = sim(config()).await;
    let fx = FixtureServer::start().await;
    let audio = synth_audio(&h, "fine words", "wav").await;
    let trigger = fx.serve("fail-job.wav", audio.clone());
    let garbage = fx.serve("garbage.wav", b"RIFF\x10\0\0\0WAVEnot really".to_vec());
    let text = fx.serve("text.wav", b"hello, I am not audio".to_vec());
    let missing = format!("{}/files/missing.wav", fx.base);
    let cases = [
        (trigger.as_str(), "injected"),
        (garbage.as_str(), "valid media format"),
        (text.as_str(), "valid media format"),
        (missing.as_str(), "HTTP 404"),
    ];
    for (url, reason) in cases {
        let (code, created) = post(&h, "/speech-to-text", json!({"url": url})).await;
        assert_eq!(code, 200);
        let uuid = created["item"]["uuid"].as_str().unwrap();
        let done = poll(&h, &format!("/speech-to-text/{uuid}")).await;
        assert_eq!(done["item"]["status"], "failed", "{url}");
        assert_eq!(done["item"]["text"], Value::Null);
        let msg = done["item"]["error_message"].as_str().unwrap();
        assert!(msg.contains(reason), "{msg}");
    }
    // Runtime failure-rate knob.
    let r = client()
        .post(format!("{}/_sim/faults", h.base_url))
        .json(&json!({"job_failure_rate": 1.0}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let ok_url = fx.serve("ok.wav", audio);
    let (_, created) = post(&h, "/audio_enhancements", json!({"url": ok_url})).await;
    let uuid = created["uuid"].as_str().unwrap();
    let done = poll(&h, &format!("/audio_enhancements/{uuid}")).await;
    assert_eq!(done["status"], "failed");
    assert_eq!(done["enhanced_audio_url"], Value::Null);
    assert!(done["error_message"].as_str().is_some());
    let items = usage(&h).await;
    assert!(items.get("stt").is_none(), "{items}");
    assert!(items.get("enhance").is_none(), "{items}");
    h.stop().await;
}

#[tokio::test]
async fn billing_counts_units_with_report_factor() {
    let h = sim(SimConfig {
        report_factor: 2.0,
        ..config()
    })
    .await;
    let fx = FixtureServer::start().await;
    let audio = synth_audio(&h, "bill me", "wav").await;
    let secs = measure(&audio, AudioFormat::Wav)
        .unwrap()
        .duration_seconds_f64();
    let url = fx.serve("b.wav", audio);
    let (_, created) = post(&h, "/speech-to-text", json!({"url": url})).await;
    let uuid = created["item"]["uuid"].as_str().unwrap();
    poll(&h, &format!("/speech-to-text/{uuid}")).await;
    let items = usage(&h).await;
    assert_eq!(items["stt"], format!("{:.3}", secs * 2.0));
    assert_eq!(items["synth"], format!("{:.3}", secs * 2.0));
    assert_eq!(items["detect"], "0.000");
    h.stop().await;
}

#[tokio::test]
async fn private_urls_can_be_refused_like_upstream() {
    let h = sim(SimConfig {
        allow_private_urls: false,
        ..config()
    })
    .await;
    for body in [
        json!({"url": "https://127.0.0.1/a.wav"}),
        json!({"url": "https://example.com/a.wav", "callback_url": "http://localhost/cb"}),
    ] {
        let (code, resp) = post(&h, "/speech-to-text", body).await;
        assert_eq!(code, 400, "{resp}");
        assert_eq!(resp["success"], false);
    }
    h.stop().await;
}

#[tokio::test]
async fn jobs_need_auth() {
    let h = sim(config()).await;
    let r = client()
        .post(format!("{}/detect", h.app_url()))
        .json(&json!({"url": "http://127.0.0.1:9/x.wav"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(h.stats().route("POST /api/v2/detect"), 1);
    h.stop().await;
}
