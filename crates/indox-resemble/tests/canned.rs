//! Integration tests against a tiny actix-web server with canned answers for documented
//! variants the simulator does not produce. The first path segment names the case:
//! `app_url = {base}/{case}/api/v2`, `synth_url = {base}/{case}`.

use std::time::Duration;

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use base64::Engine as _;
use bytes::Bytes;
use chrono::NaiveDate;
use futures_util::StreamExt as _;
use indox_audio::AudioFormat;
use indox_resemble::{ResembleClient, ResembleConfig};
use indox_voice::{SynthesisRequest, UpstreamError, VoiceUpstream};
use rust_decimal_macros::dec;

const KEY: &str = "canned-key";

fn json(status: u16, body: &str) -> HttpResponse {
    let code = actix_web::http::StatusCode::from_u16(status).unwrap();
    HttpResponse::build(code)
        .content_type("application/json")
        .body(body.to_owned())
}

fn chunks(parts: Vec<&'static [u8]>, gap: Duration) -> HttpResponse {
    let s = futures_util::stream::iter(parts).then(move |p| async move {
        tokio::time::sleep(gap).await;
        Ok::<_, std::io::Error>(Bytes::from_static(p))
    });
    HttpResponse::Ok().content_type("audio/wav").streaming(s)
}

async fn canned(req: HttpRequest) -> HttpResponse {
    let auth = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if auth != format!("Bearer {KEY}") {
        return json(401, r#"{"success":false,"message":"Invalid API token"}"#);
    }
    let path = req.path().trim_start_matches('/');
    let (case, endpoint) = path.split_once('/').unwrap_or((path, ""));
    let query = req.query_string();
    match (case, endpoint) {
        ("b", "api/v2/voices") => {
            assert_eq!(query, "page=2&page_size=10");
            json(
                200,
                r#"{"success":true,"page":2,"total_results":12,"page_count":2,"items":[{"uuid":"v11","name":"Eleven"},{"uuid":"v12","name":"Twelve"}]}"#,
            )
        }
        ("b", "api/v2/account/billing_usage") => {
            assert_eq!(query, "start_date=2026-01-01&end_date=2026-01-31");
            json(
                200,
                r#"{"success":true,"item":{"detect":1200,"synth":"8450.5"}}"#,
            )
        }
        ("b", "synthesize") => {
            let audio = base64::engine::general_purpose::STANDARD.encode(b"RIFFxxxxWAVE");
            json(
                200,
                &format!(
                    r#"{{"success":true,"audio_content":"{audio}","duration":"0.5","sample_rate":"8000","output_format":"wav","url":"https://cdn.example/clip.wav"}}"#
                ),
            )
        }
        ("b", "stream") => chunks(
            vec![b"RIFF", b"\x24\x00\x00\x00WAVE", b"fmt ", b"data"],
            Duration::from_millis(20),
        ),
        ("fail200", "synthesize") => json(
            200,
            r#"{"success":false,"error_name":"VoiceNotReady","message":"The voice is still training"}"#,
        ),
        ("fail200", "stream") => json(200, r#"{"success":false,"message":"Voice not found"}"#),
        ("fail200", "api/v2/account/billing_usage") => json(
            200,
            r#"{"error":"Billing unavailable","error_code":"billing_off"}"#,
        ),
        ("badb64", "synthesize") => json(
            200,
            r#"{"success":true,"audio_content":"@@@@","output_format":"wav"}"#,
        ),
        ("garbage", _) => HttpResponse::Ok()
            .content_type("text/html")
            .body("<html>hello</html>"),
        ("e422", "synthesize") => json(
            422,
            r#"{"success":false,"errors":{"data":["is too long"]}}"#,
        ),
        ("e402", "api/v2/account/billing_usage") => json(
            402,
            r#"{"error":"Insufficient balance","error_code":"insufficient_balance"}"#,
        ),
        ("e404", "stream") => json(404, r#"{"success":false,"error":"Voice not found"}"#),
        ("e429", _) => HttpResponse::TooManyRequests()
            .insert_header(("Retry-After", "30"))
            .finish(),
        ("e502", _) => HttpResponse::BadGateway()
            .content_type("text/html")
            .body("<html>bad gateway</html>"),
        ("redirect", _) => HttpResponse::Found()
            .insert_header(("Location", "/b/api/v2/voices"))
            .finish(),
        ("stall", "stream") => stalling(),
        ("slow", _) => {
            tokio::time::sleep(Duration::from_secs(2)).await;
            json(200, r#"{"success":true,"items":[]}"#)
        }
        _ => json(404, r#"{"success":false,"message":"no canned answer"}"#),
    }
}

/// Two chunks, then silence for 2 s before a third.
fn stalling() -> HttpResponse {
    let s = futures_util::stream::iter([&b"RIFF"[..], &b"WAVE"[..], &b"late"[..]])
        .enumerate()
        .then(|(i, p)| async move {
            if i == 2 {
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
            Ok::<_, std::io::Error>(Bytes::from_static(p))
        });
    HttpResponse::Ok().content_type("audio/wav").streaming(s)
}

async fn server() -> (String, actix_web::dev::ServerHandle) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let server = HttpServer::new(|| App::new().default_service(web::to(canned)))
        .workers(1)
        .disable_signals()
        .shutdown_timeout(1)
        .listen(listener)
        .unwrap()
        .run();
    let handle = server.handle();
    tokio::spawn(server);
    (base, handle)
}

fn client(base: &str, case: &str, timeout: Duration) -> ResembleClient {
    ResembleClient::new(ResembleConfig {
        api_key: KEY.into(),
        app_url: format!("{base}/{case}/api/v2"),
        synth_url: format!("{base}/{case}"),
        timeout,
        connect_timeout: Duration::from_secs(2),
    })
    .unwrap()
}

fn req() -> SynthesisRequest {
    SynthesisRequest {
        voice_uuid: "v1".into(),
        text: "hi".into(),
        output_format: AudioFormat::Wav,
        sample_rate: None,
        precision: None,
    }
}

fn day(d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 1, d).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn canned_variants() {
    let (base, handle) = server().await;
    let t = Duration::from_secs(10);

    // Shape B pagination, billing under `item` with mixed number/string values,
    // numbers-as-strings in the synthesis answer and its `url`.
    let b = client(&base, "b", t);
    let page = b.list_voices(2, 10).await.unwrap();
    assert_eq!(
        (page.page, page.page_size, page.num_pages, page.total_count),
        (2, 10, Some(2), Some(12))
    );
    assert_eq!(
        page.items
            .iter()
            .map(|v| v.uuid.as_str())
            .collect::<Vec<_>>(),
        ["v11", "v12"]
    );
    let usage = b.billing_usage(day(1), day(31)).await.unwrap();
    assert_eq!(
        (usage["detect"], usage["synth"]),
        (dec!(1200), dec!(8450.5))
    );
    let s = b.synthesize(&req()).await.unwrap();
    assert_eq!(&s.audio[..], b"RIFFxxxxWAVE");
    assert_eq!(
        (s.claimed_duration, s.sample_rate),
        (Some(0.5), Some(8_000))
    );
    assert_eq!(
        s.resemble_url.as_deref(),
        Some("https://cdn.example/clip.wav")
    );
    let mut stream = b.stream(&req()).await.unwrap();
    let mut n = 0;
    let mut all = Vec::new();
    while let Some(c) = stream.next().await {
        all.extend_from_slice(&c.unwrap());
        n += 1;
    }
    assert!(n >= 2, "{n} chunks");
    assert_eq!(all, b"RIFF\x24\x00\x00\x00WAVEfmt data");

    // Failure envelopes with a 200 status.
    let f = client(&base, "fail200", t);
    assert_eq!(
        f.synthesize(&req()).await.err(),
        Some(UpstreamError::BadRequest(
            "The voice is still training".into()
        ))
    );
    assert_eq!(
        f.stream(&req()).await.err(),
        Some(UpstreamError::NotFound("Voice not found".into()))
    );
    assert_eq!(
        f.billing_usage(day(1), day(2)).await.err(),
        Some(UpstreamError::BadRequest("Billing unavailable".into()))
    );

    // Unparseable answers.
    assert!(matches!(
        client(&base, "badb64", t).synthesize(&req()).await,
        Err(UpstreamError::Protocol(_))
    ));
    assert!(matches!(
        client(&base, "garbage", t).list_voices(1, 10).await,
        Err(UpstreamError::Protocol(_))
    ));

    // Status classification.
    assert_eq!(
        client(&base, "e422", t).synthesize(&req()).await.err(),
        Some(UpstreamError::BadRequest("data is too long".into()))
    );
    assert_eq!(
        client(&base, "e402", t)
            .billing_usage(day(1), day(2))
            .await
            .err(),
        Some(UpstreamError::Unauthorized { status: 402 })
    );
    assert_eq!(
        client(&base, "e404", t).stream(&req()).await.err(),
        Some(UpstreamError::NotFound("Voice not found".into()))
    );
    assert_eq!(
        client(&base, "e429", t).list_voices(1, 10).await.err(),
        Some(UpstreamError::RateLimited {
            retry_after: Some(Duration::from_secs(30))
        })
    );
    assert_eq!(
        client(&base, "e502", t).list_voices(1, 10).await.err(),
        Some(UpstreamError::Unavailable { status: 502 })
    );
    assert!(matches!(
        client(&base, "redirect", t).list_voices(1, 10).await,
        Err(UpstreamError::Protocol(_))
    ));

    // Wrong key: the server checks `Authorization: Bearer <key>`.
    let mut wrong = ResembleConfig::new("other");
    wrong.app_url = format!("{base}/b/api/v2");
    let wrong = ResembleClient::new(wrong).unwrap();
    assert_eq!(
        wrong.list_voices(1, 10).await.err(),
        Some(UpstreamError::Unauthorized { status: 401 })
    );

    // Timeouts: a slow answer, and a stream that stalls after its first chunks.
    let short = Duration::from_millis(300);
    assert_eq!(
        client(&base, "slow", short).list_voices(1, 10).await.err(),
        Some(UpstreamError::Timeout)
    );
    let mut stalled = client(&base, "stall", short).stream(&req()).await.unwrap();
    let mut got = Vec::new();
    let mut ended_with = None;
    while let Some(item) = stalled.next().await {
        match item {
            Ok(bytes) => got.extend_from_slice(&bytes),
            Err(e) => ended_with = Some(e),
        }
    }
    assert_eq!(got, b"RIFFWAVE");
    assert_eq!(ended_with, Some(UpstreamError::Timeout));

    handle.stop(false).await;
}
