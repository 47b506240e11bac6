//! Async jobs end to end: speech-to-text and detection of audio the gateway synthesized,
//! billed once whether the webhook or the poller finishes them; forged, stale and repeated
//! webhooks; SSRF refusals; isolation between accounts.

use rust_decimal::Decimal;
use serde_json::json;

use crate::helpers::*;

async fn submit(
    app: &TestApp,
    user: &User,
    path: &str,
    body: serde_json::Value,
) -> reqwest::Response {
    app.client
        .post(format!("{}/resemble/{path}", app.base))
        .bearer_auth(&user.key)
        .json(&body)
        .send()
        .await
        .unwrap()
}

async fn wait_done(app: &TestApp, user: &User, path: &str, job_id: &str) -> serde_json::Value {
    eventually(|| async {
        let r = app
            .client
            .get(format!("{}/resemble/{path}/{job_id}?wait=5", app.base))
            .bearer_auth(&user.key)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let v: serde_json::Value = r.json().await.unwrap();
        matches!(v["status"].as_str(), Some("completed" | "failed")).then_some(v)
    })
    .await
    .expect("the job ended")
}

fn stt_rows(rows: &[indox_billing::UsageRecord]) -> Vec<&indox_billing::UsageRecord> {
    rows.iter().filter(|r| r.capability == "stt").collect()
}

#[tokio::test]
async fn speech_to_text_of_synthesized_audio_returns_its_words_and_bills_once() {
    let app = spawn_app().await;
    let user = app.user("1.00").await;
    let text = "Hello from IndoxHub.";
    let audio_url = app
        .stored_audio_url(
            &user,
            text,
            json!({"output_format": "wav", "sample_rate": 16000}),
        )
        .await;

    let resp = submit(
        &app,
        &user,
        "stt",
        json!({"audio_url": audio_url, "lang": "en"}),
    )
    .await;
    assert_eq!(resp.status(), 202);
    let job: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(job["status"], "pending");
    let job_id = job["job_id"].as_str().unwrap().to_owned();

    let done = wait_done(&app, &user, "stt", &job_id).await;
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(done["transcript"], text);
    assert!(done["words"].as_array().is_some_and(|w| !w.is_empty()));

    // One charge, for the input seconds the gateway measured, read back from the row.
    let rows = app.usage(user.account).await;
    let stt = stt_rows(&rows);
    assert_eq!(stt.len(), 1);
    assert_eq!(stt[0].job_id.map(|j| j.to_string()), Some(job_id.clone()));
    assert_eq!(done["billing"]["charged"], stt[0].charged.to_string());
    let seconds: Decimal = done["input_seconds"].as_str().unwrap().parse().unwrap();
    assert_eq!(stt[0].quantity, seconds);
    assert_eq!(
        stt[0].provider_cost,
        (seconds * Decimal::new(1, 3)).round_dp(8)
    );
    let account = app.account(user.account).await;
    assert_eq!(account.held, Decimal::ZERO, "the hold was settled");
    let (balance, held) = app.pg.ledger_sum(user.account).await.unwrap();
    assert_eq!((balance, held), (account.balance, Decimal::ZERO));

    // Another account cannot see it.
    let other = app.user("1.00").await;
    let r = app
        .client
        .get(format!("{}/resemble/stt/{job_id}", app.base))
        .bearer_auth(&other.key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    // Nor under another kind's path.
    let r = app
        .client
        .get(format!("{}/resemble/detect/{job_id}", app.base))
        .bearer_auth(&user.key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
}

#[tokio::test]
async fn detection_calls_synthesized_audio_fake() {
    let app = spawn_app().await;
    let user = app.user("1.00").await;
    let url = app
        .stored_audio_url(
            &user,
            "This voice was never spoken by a person.",
            json!({"output_format": "wav", "sample_rate": 16000}),
        )
        .await;
    let job: serde_json::Value = submit(
        &app,
        &user,
        "detect",
        json!({"modality": "audio", "url": url}),
    )
    .await
    .json()
    .await
    .unwrap();
    let done = wait_done(&app, &user, "detect", job["job_id"].as_str().unwrap()).await;
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(done["verdict"], "fake");
    assert!(done["score"].as_f64().unwrap() > 0.5);
    assert_eq!(
        app.usage(user.account)
            .await
            .iter()
            .filter(|r| r.capability == "detect")
            .count(),
        1
    );
}

#[tokio::test]
async fn without_webhooks_the_poller_finishes_the_job_with_one_charge() {
    let app = spawn_app_with(Options {
        webhooks: false,
        ..Options::default()
    })
    .await;
    let user = app.user("1.00").await;
    let url = app
        .stored_audio_url(
            &user,
            "Polling works too.",
            json!({"output_format": "wav", "sample_rate": 16000}),
        )
        .await;
    let job: serde_json::Value = submit(&app, &user, "stt", json!({"audio_url": url}))
        .await
        .json()
        .await
        .unwrap();
    let done = wait_done(&app, &user, "stt", job["job_id"].as_str().unwrap()).await;
    assert_eq!(done["transcript"], "Polling works too.");
    assert_eq!(stt_rows(&app.usage(user.account).await).len(), 1);
}

#[tokio::test]
async fn forged_stale_and_repeated_webhooks_change_nothing() {
    let app = spawn_app().await;
    let user = app.user("1.00").await;
    let url = app
        .stored_audio_url(
            &user,
            "Webhooks are checked.",
            json!({"output_format": "wav", "sample_rate": 16000}),
        )
        .await;
    let job: serde_json::Value = submit(&app, &user, "stt", json!({"audio_url": url}))
        .await
        .json()
        .await
        .unwrap();
    let job_id = job["job_id"].as_str().unwrap().to_owned();
    wait_done(&app, &user, "stt", &job_id).await;
    let stored = app
        .app
        .jobs
        .get(job_id.parse().unwrap())
        .await
        .unwrap()
        .unwrap();
    let upstream_id = stored.upstream_id.clone().unwrap();
    let before = app.usage(user.account).await;

    let hook = format!("{}/resemble/webhooks/resemble", app.base);
    let body = serde_json::to_vec(&json!({"success": true, "item": {"uuid": upstream_id, "status": "completed", "text": "forged"}})).unwrap();
    let now = chrono::Utc::now().timestamp();
    let post = |sig: String| {
        let req = app
            .client
            .post(&hook)
            .header("content-type", "application/json")
            .body(body.clone());
        async move {
            req.header("x-resemble-signature", sig)
                .send()
                .await
                .unwrap()
        }
    };
    // Forged: wrong secret. Stale: right secret, ten minutes old. Missing: no header.
    assert_eq!(
        post(indox_webhooks::sign_provider(b"not-the-secret", now, &body))
            .await
            .status(),
        401
    );
    assert_eq!(
        post(indox_webhooks::sign_provider(
            b"sim-callback-secret",
            now - 600,
            &body
        ))
        .await
        .status(),
        401
    );
    let missing = app
        .client
        .post(&hook)
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 401);

    // A valid delivery about a finished job changes nothing; its repeat is a duplicate.
    let sig = indox_webhooks::sign_provider(b"sim-callback-secret", now, &body);
    let first: serde_json::Value = post(sig.clone()).await.json().await.unwrap();
    assert_eq!(first["status"], "processed");
    let second: serde_json::Value = post(sig).await.json().await.unwrap();
    assert_eq!(second["status"], "duplicate");

    assert_eq!(
        app.usage(user.account).await,
        before,
        "no row added or changed"
    );
    let after = app
        .app
        .jobs
        .get(job_id.parse().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        after.result, stored.result,
        "the payload's text was not trusted"
    );
}

#[tokio::test]
async fn urls_to_private_addresses_are_refused_before_any_fetch() {
    let app = spawn_app_with(Options {
        egress_allowlist: String::new(),
        ..Options::default()
    })
    .await;
    let user = app.user("1.00").await;
    for url in [
        "http://127.0.0.1:9/a.wav",
        "http://10.1.2.3/a.wav",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::ffff:127.0.0.1]/a.wav",
        "http://2130706433/a.wav",
        "http://localhost:9/a.wav",
        "file:///etc/passwd",
    ] {
        let (status, err) =
            error_code(submit(&app, &user, "stt", json!({"audio_url": url})).await).await;
        assert_eq!(status, 422, "{url}: {err}");
        assert_eq!(err["error"]["field"], "audio_url", "{url}");
    }
    let (status, _) = error_code(
        submit(
            &app,
            &user,
            "detect",
            json!({"url": "http://192.168.0.1/x.wav"}),
        )
        .await,
    )
    .await;
    assert_eq!(status, 422);
    assert!(app.usage(user.account).await.is_empty());
    assert_eq!(app.account(user.account).await.held, Decimal::ZERO);
    assert_eq!(app.sim.stats().route("POST /api/v2/speech-to-text"), 0);
}

#[tokio::test]
async fn a_job_that_cannot_be_held_is_402_and_bad_requests_are_422() {
    let app = spawn_app().await;
    let rich = app.user("1.00").await;
    let url = app
        .stored_audio_url(
            &rich,
            "Who pays for this?",
            json!({"output_format": "wav", "sample_rate": 16000}),
        )
        .await;
    let poor = app.user("0").await;
    let (status, err) =
        error_code(submit(&app, &poor, "stt", json!({"audio_url": url})).await).await;
    assert_eq!(status, 402, "{err}");
    assert_eq!(app.account(poor.account).await.held, Decimal::ZERO);

    for (body, field) in [
        (json!({"lang": "en"}), "audio_url"),
        (
            json!({"audio_url": url, "callback_uri": "http://10.0.0.1/hook"}),
            "callback_uri",
        ),
        (
            json!({"audio_url": url, "callback_uri": 42}),
            "callback_uri",
        ),
    ] {
        let (status, err) = error_code(submit(&app, &rich, "stt", body).await).await;
        assert_eq!(status, 422);
        assert_eq!(err["error"]["field"], field);
    }
    let (status, err) = error_code(
        submit(
            &app,
            &rich,
            "detect",
            json!({"url": url, "modality": "image"}),
        )
        .await,
    )
    .await;
    assert_eq!(
        (status, err["error"]["field"].as_str()),
        (422, Some("url")),
        "audio is not an image"
    );
    let (status, err) = error_code(
        submit(
            &app,
            &rich,
            "detect",
            json!({"url": url, "modality": "hologram"}),
        )
        .await,
    )
    .await;
    assert_eq!(
        (status, err["error"]["field"].as_str()),
        (422, Some("modality"))
    );
    let not_audio = format!("{}/resemble/tts/voices", app.base);
    let (status, _) =
        error_code(submit(&app, &rich, "stt", json!({"audio_url": not_audio})).await).await;
    assert_eq!(status, 422, "a URL that is not audio is refused");
}

/// One received request: its headers and body.
type Received = (std::collections::HashMap<String, String>, Vec<u8>);

/// A callback receiver that fails `failures` times, then accepts; it keeps what it got.
struct Receiver {
    url: String,
    got: std::sync::Arc<std::sync::Mutex<Vec<Received>>>,
}

async fn receiver(failures: u32) -> Receiver {
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::sync::{Arc, Mutex};
    let got: Arc<Mutex<Vec<_>>> = Arc::new(Mutex::new(Vec::new()));
    let calls = Arc::new(AtomicU32::new(0));
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let g = got.clone();
    let server = actix_web::HttpServer::new(move || {
        let g = g.clone();
        let calls = calls.clone();
        actix_web::App::new().default_service(actix_web::web::to(
            move |req: actix_web::HttpRequest, body: actix_web::web::Bytes| {
                let g = g.clone();
                let calls = calls.clone();
                async move {
                    let headers = req
                        .headers()
                        .iter()
                        .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_owned()))
                        .collect();
                    g.lock().unwrap().push((headers, body.to_vec()));
                    if calls.fetch_add(1, Ordering::SeqCst) < failures {
                        actix_web::HttpResponse::InternalServerError().finish()
                    } else {
                        actix_web::HttpResponse::Ok().finish()
                    }
                }
            },
        ))
    })
    .listen(listener)
    .unwrap()
    .workers(1)
    .disable_signals()
    .run();
    tokio::spawn(server);
    Receiver { url, got }
}

#[tokio::test]
async fn a_failing_callback_receiver_is_retried_until_it_accepts_a_signed_event() {
    let app = spawn_app().await;
    let user = app.user("1.00").await;
    let rx = receiver(2).await;
    let url = app
        .stored_audio_url(
            &user,
            "Call me back.",
            json!({"output_format": "wav", "sample_rate": 16000}),
        )
        .await;
    let job: serde_json::Value = submit(
        &app,
        &user,
        "stt",
        json!({"audio_url": url, "callback_uri": rx.url}),
    )
    .await
    .json()
    .await
    .unwrap();
    let job_id = job["job_id"].as_str().unwrap().to_owned();

    let view = eventually(|| async {
        let r = app
            .client
            .get(format!("{}/resemble/stt/{job_id}", app.base))
            .bearer_auth(&user.key)
            .send()
            .await
            .unwrap();
        let v: serde_json::Value = r.json().await.unwrap();
        (v["callback"]["delivered"] == true).then_some(v)
    })
    .await
    .expect("the callback was delivered");
    let attempts = view["callback"]["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 3, "two failures, then success: {view}");
    assert_eq!(attempts[0]["status_code"], 500);
    assert_eq!(attempts[2]["delivered"], true);

    // Every attempt carried the same event id, signed with the account's secret.
    let secret: serde_json::Value = app
        .client
        .get(format!("{}/resemble/webhooks/secret", app.base))
        .bearer_auth(&user.key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let secret = indox_webhooks::WebhookSecret::parse(secret["secret"].as_str().unwrap()).unwrap();
    let got = rx.got.lock().unwrap().clone();
    assert_eq!(got.len(), 3);
    let ids: std::collections::HashSet<&String> =
        got.iter().map(|(h, _)| &h["webhook-id"]).collect();
    assert_eq!(ids.len(), 1, "a stable event id");
    for (h, body) in &got {
        let now = chrono::Utc::now().timestamp();
        indox_webhooks::verify(
            std::slice::from_ref(&secret),
            &h["webhook-id"],
            &h["webhook-timestamp"],
            &h["webhook-signature"],
            body,
            now,
            300,
        )
        .unwrap();
        let event: serde_json::Value = serde_json::from_slice(body).unwrap();
        assert_eq!(event["type"], "job.completed");
        assert_eq!(event["job"]["transcript"], "Call me back.");
    }
    // The job was billed once, whatever the callbacks did.
    assert_eq!(stt_rows(&app.usage(user.account).await).len(), 1);

    // Rotation: a new secret, the old one still listed as previous.
    let rotated: serde_json::Value = app
        .client
        .post(format!("{}/resemble/webhooks/secret/rotate", app.base))
        .bearer_auth(&user.key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_ne!(rotated["secret"], json!(secret.to_whsec_string()));
    assert_eq!(rotated["previous_secret"], json!(secret.to_whsec_string()));
}

#[tokio::test]
async fn a_watermark_applied_is_found_and_its_output_is_ours() {
    let app = spawn_app().await;
    let user = app.user("1.00").await;
    let url = app
        .stored_audio_url(
            &user,
            "Mark this one.",
            json!({"output_format": "wav", "sample_rate": 16000}),
        )
        .await;
    let job: serde_json::Value = submit(&app, &user, "watermark/apply", json!({"url": url}))
        .await
        .json()
        .await
        .unwrap();
    let applied = wait_done(
        &app,
        &user,
        "watermark/apply",
        job["job_id"].as_str().unwrap(),
    )
    .await;
    assert_eq!(applied["status"], "completed", "{applied}");
    let marked = applied["audio_url"]
        .as_str()
        .expect("the watermarked audio is mirrored")
        .to_owned();
    assert!(applied["resemble_url"].is_string());

    let detect = |u: String| {
        let app = &app;
        let user = &user;
        async move {
            let job: serde_json::Value = submit(app, user, "watermark/detect", json!({"url": u}))
                .await
                .json()
                .await
                .unwrap();
            wait_done(
                app,
                user,
                "watermark/detect",
                job["job_id"].as_str().unwrap(),
            )
            .await
        }
    };
    assert_eq!(detect(marked).await["has_watermark"], true);
    assert_eq!(detect(url).await["has_watermark"], false);
    let rows = app.usage(user.account).await;
    assert_eq!(
        rows.iter()
            .filter(|r| r.capability == "watermark_apply")
            .count(),
        1
    );
    assert_eq!(
        rows.iter()
            .filter(|r| r.capability == "watermark_detect")
            .count(),
        2
    );
}

#[tokio::test]
async fn edit_intelligence_and_identity_jobs_complete() {
    let app = spawn_app().await;
    let user = app.user("1.00").await;
    let url = app
        .stored_audio_url(
            &user,
            "Please edit me.",
            json!({"output_format": "wav", "sample_rate": 16000}),
        )
        .await;

    let edit: serde_json::Value = submit(
        &app,
        &user,
        "edit",
        json!({"input_audio": url, "original_transcript": "Please edit me.", "target_transcript": "Please keep me.", "voice_uuid": "55592656"}),
    )
    .await
    .json()
    .await
    .unwrap();
    let edited = wait_done(&app, &user, "edit", edit["job_id"].as_str().unwrap()).await;
    assert_eq!(edited["status"], "completed", "{edited}");
    assert!(
        edited["audio_url"].is_string(),
        "the edited audio is mirrored: {edited}"
    );
    let (status, err) =
        error_code(submit(&app, &user, "edit", json!({"input_audio": url})).await).await;
    assert_eq!(
        (status, err["error"]["field"].as_str()),
        (422, Some("original_transcript"))
    );

    let intel: serde_json::Value = submit(&app, &user, "intelligence", json!({"url": url}))
        .await
        .json()
        .await
        .unwrap();
    let described = wait_done(
        &app,
        &user,
        "intelligence",
        intel["job_id"].as_str().unwrap(),
    )
    .await;
    assert_eq!(described["status"], "completed", "{described}");
    assert!(!described["description"].is_null());

    let enroll: serde_json::Value = submit(
        &app,
        &user,
        "identity",
        json!({"name": "Ada", "audio_url": url}),
    )
    .await
    .json()
    .await
    .unwrap();
    let enrolled = wait_done(&app, &user, "identity", enroll["job_id"].as_str().unwrap()).await;
    assert_eq!(enrolled["status"], "completed", "{enrolled}");
    let search: serde_json::Value =
        submit(&app, &user, "identity/search", json!({"audio_url": url}))
            .await
            .json()
            .await
            .unwrap();
    let found = wait_done(
        &app,
        &user,
        "identity/search",
        search["job_id"].as_str().unwrap(),
    )
    .await;
    assert_eq!(found["status"], "completed", "{found}");
    assert!(found["matches"].is_array());
    // Billed per search: one unit.
    assert_eq!(found["billing"]["unit"], "search");
    assert_eq!(found["billing"]["quantity"], "1.000");
}

#[tokio::test]
async fn a_job_can_take_an_upload_id_instead_of_a_url() {
    let app = spawn_app().await;
    let user = app.user("1.00").await;
    let body: serde_json::Value = app
        .synthesize(&user, json!({"voice_uuid": "55592656", "text": "From an upload.", "output_format": "wav", "sample_rate": 16000}))
        .await
        .json()
        .await
        .unwrap();
    let audio = base64::Engine::decode(
        &base64::engine::general_purpose::STANDARD,
        body["audio_content"].as_str().unwrap(),
    )
    .unwrap();
    let form = reqwest::multipart::Form::new()
        .text("purpose", "stt_input")
        .part(
            "file",
            reqwest::multipart::Part::bytes(audio)
                .file_name("in.wav")
                .mime_str("audio/wav")
                .unwrap(),
        );
    let up: serde_json::Value = app
        .client
        .post(format!("{}/resemble/uploads", app.base))
        .bearer_auth(&user.key)
        .multipart(form)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let upload_id = up["upload_id"].as_str().unwrap().to_owned();
    let job: serde_json::Value = submit(&app, &user, "stt", json!({"upload_id": upload_id}))
        .await
        .json()
        .await
        .unwrap();
    let done = wait_done(&app, &user, "stt", job["job_id"].as_str().unwrap()).await;
    assert_eq!(done["transcript"], "From an upload.");

    // Another account cannot use it.
    let other = app.user("1.00").await;
    let (status, err) =
        error_code(submit(&app, &other, "stt", json!({"upload_id": upload_id})).await).await;
    assert_eq!(
        (status, err["error"]["field"].as_str()),
        (422, Some("upload_id"))
    );
}

#[tokio::test]
async fn a_failed_job_is_not_charged_and_its_hold_is_released() {
    let app = spawn_app().await;
    let user = app.user("1.00").await;
    // The simulator fails any job whose input says so.
    let url = app
        .stored_audio_url(
            &user,
            "fail-job on purpose",
            json!({"output_format": "wav", "sample_rate": 16000}),
        )
        .await;
    let job: serde_json::Value = submit(&app, &user, "stt", json!({"audio_url": url}))
        .await
        .json()
        .await
        .unwrap();
    let done = wait_done(&app, &user, "stt", job["job_id"].as_str().unwrap()).await;
    assert_eq!(done["status"], "failed", "{done}");
    assert!(done["error"].is_string());
    assert!(done["billing"].is_null());
    assert!(stt_rows(&app.usage(user.account).await).is_empty());
    let account = app.account(user.account).await;
    assert_eq!(account.held, Decimal::ZERO);
    let (balance, held) = app.pg.ledger_sum(user.account).await.unwrap();
    assert_eq!((balance, held), (account.balance, Decimal::ZERO));
}

#[tokio::test]
async fn a_media_url_that_redirects_is_refused_and_its_target_never_fetched() {
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::sync::Arc;
    let app = spawn_app().await;
    let user = app.user("1.00").await;
    let target_hits = Arc::new(AtomicU32::new(0));
    let hits = target_hits.clone();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let redirect_to = format!("{base}/target.wav");
    let server = actix_web::HttpServer::new(move || {
        let hits = hits.clone();
        let redirect_to = redirect_to.clone();
        actix_web::App::new()
            .route(
                "/target.wav",
                actix_web::web::get().to(move || {
                    let hits = hits.clone();
                    async move {
                        hits.fetch_add(1, Ordering::SeqCst);
                        actix_web::HttpResponse::Ok().body("RIFF")
                    }
                }),
            )
            .default_service(actix_web::web::to(move || {
                let to = redirect_to.clone();
                async move {
                    actix_web::HttpResponse::Found()
                        .insert_header(("location", to))
                        .finish()
                }
            }))
    })
    .listen(listener)
    .unwrap()
    .workers(1)
    .disable_signals()
    .run();
    tokio::spawn(server);
    let (status, err) = error_code(
        submit(
            &app,
            &user,
            "stt",
            json!({"audio_url": format!("{base}/start.wav")}),
        )
        .await,
    )
    .await;
    assert_eq!(status, 422, "{err}");
    assert!(err["error"]["message"]
        .as_str()
        .unwrap()
        .contains("redirect"));
    assert_eq!(
        target_hits.load(Ordering::SeqCst),
        0,
        "the redirect was not followed"
    );
}

#[tokio::test]
async fn images_are_detected_per_image_and_videos_per_second_of_video() {
    let app = spawn_app().await;
    let user = app.user("1.00").await;
    let store = app.store();
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    png.extend(b"indox-fake generated picture");
    png.extend([0u8; 64]);
    store
        .put_object("test-media/face.png", &png, "image/png")
        .await
        .unwrap();
    let png_url = store
        .presign_get_url("test-media/face.png", 600)
        .await
        .unwrap();
    let job: serde_json::Value = submit(
        &app,
        &user,
        "detect",
        json!({"modality": "image", "url": png_url}),
    )
    .await
    .json()
    .await
    .unwrap();
    let done = wait_done(&app, &user, "detect", job["job_id"].as_str().unwrap()).await;
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(done["verdict"], "fake");
    assert_eq!(done["billing"]["unit"], "image");
    assert_eq!(done["billing"]["quantity"], "1.000");
    assert_eq!(done["billing"]["provider_cost"], "0.01000000");

    // A video is measured from its MP4 header when it is submitted.
    fn bx(kind: &[u8], body: &[u8]) -> Vec<u8> {
        let mut v = ((body.len() + 8) as u32).to_be_bytes().to_vec();
        v.extend_from_slice(kind);
        v.extend_from_slice(body);
        v
    }
    let mut mvhd = vec![0u8; 12];
    mvhd.extend(1000u32.to_be_bytes());
    mvhd.extend(2500u32.to_be_bytes());
    mvhd.extend([0u8; 80]);
    let mut mp4 = bx(b"ftyp", b"isom\0\0\0\0isom");
    mp4.extend(bx(b"moov", &bx(b"mvhd", &mvhd)));
    store
        .put_object("test-media/clip.mp4", &mp4, "video/mp4")
        .await
        .unwrap();
    let mp4_url = store
        .presign_get_url("test-media/clip.mp4", 600)
        .await
        .unwrap();
    let job: serde_json::Value = submit(
        &app,
        &user,
        "detect",
        json!({"modality": "video", "url": mp4_url}),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(job["input_seconds"], "2.500");
    let done = wait_done(&app, &user, "detect", job["job_id"].as_str().unwrap()).await;
    // The simulator cannot analyse video, so the job fails upstream: nothing is charged.
    assert_eq!(done["status"], "failed", "{done}");
    let rows = app.usage(user.account).await;
    assert_eq!(
        rows.iter()
            .filter(|r| r.capability == "detect_image")
            .count(),
        1
    );
    assert_eq!(
        rows.iter()
            .filter(|r| r.capability == "detect_video")
            .count(),
        0
    );
    assert_eq!(app.account(user.account).await.held, Decimal::ZERO);
}
