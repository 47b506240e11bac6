//! Integration tests against the Resemble simulator (`indox-simulator`) on a free port.

use std::time::Duration;

use chrono::Utc;
use futures_util::StreamExt as _;
use indox_audio::{measure, AudioFormat};
use indox_resemble::{ResembleClient, ResembleConfig};
use indox_simulator::{SimConfig, SimHandle};
use indox_voice::{Precision, SynthesisRequest, UpstreamError, VoiceUpstream};

async fn sim(config: SimConfig) -> SimHandle {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    indox_simulator::start(config, listener).await.unwrap()
}

fn client_for(sim: &SimHandle, key: &str, timeout: Duration) -> ResembleClient {
    ResembleClient::new(ResembleConfig {
        api_key: key.into(),
        app_url: sim.app_url(),
        synth_url: sim.synth_url(),
        timeout,
        connect_timeout: Duration::from_secs(2),
    })
    .unwrap()
}

fn client(sim: &SimHandle) -> ResembleClient {
    client_for(sim, "sim-key", Duration::from_secs(20))
}

fn request(format: AudioFormat, rate: Option<u32>) -> SynthesisRequest {
    SynthesisRequest {
        voice_uuid: "55592656".into(),
        text: "Hello from IndoxHub. This is a short test sentence.".into(),
        output_format: format,
        sample_rate: rate,
        precision: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lists_voices() {
    let sim = sim(SimConfig::default()).await;
    let c = client(&sim);
    let page = c.list_voices(1, 10).await.unwrap();
    assert_eq!(page.page, 1);
    assert_eq!(page.page_size, 10);
    assert!(!page.items.is_empty());
    assert!(page
        .items
        .iter()
        .any(|v| v.uuid == "55592656" && v.name == "Lucy"));
    assert!(page.num_pages.is_some());
    sim.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn synthesizes_wav_and_mp3_that_decode() {
    let sim = sim(SimConfig::default()).await;
    let c = client(&sim);

    let wav = c
        .synthesize(&request(AudioFormat::Wav, Some(22_050)))
        .await
        .unwrap();
    assert_eq!(wav.output_format, AudioFormat::Wav);
    let info = measure(&wav.audio, AudioFormat::Wav).unwrap();
    assert_eq!(info.sample_rate, 22_050);
    assert_eq!(wav.sample_rate, Some(22_050));
    let claimed = wav.claimed_duration.unwrap();
    assert!(
        (info.duration_seconds_f64() - claimed).abs() < 0.1,
        "{info:?} vs {claimed}"
    );

    let mut pcm16 = request(AudioFormat::Wav, Some(16_000));
    pcm16.precision = Some(Precision::Pcm16);
    let s = c.synthesize(&pcm16).await.unwrap();
    assert_eq!(
        measure(&s.audio, AudioFormat::Wav).unwrap().sample_rate,
        16_000
    );

    let mp3 = c
        .synthesize(&request(AudioFormat::Mp3, Some(44_100)))
        .await
        .unwrap();
    assert_eq!(mp3.output_format, AudioFormat::Mp3);
    let info = measure(&mp3.audio, AudioFormat::Mp3).unwrap();
    assert!(info.duration_seconds_f64() > 0.5, "{info:?}");

    let usage = c
        .billing_usage(Utc::now().date_naive(), Utc::now().date_naive())
        .await
        .unwrap();
    assert!(usage["synth"] > rust_decimal::Decimal::ZERO, "{usage:?}");
    assert!(usage.contains_key("detect"));
    sim.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_several_chunks_of_wav() {
    let sim = sim(SimConfig::default()).await;
    let c = client(&sim);
    let mut stream = c
        .stream(&request(AudioFormat::Wav, Some(16_000)))
        .await
        .unwrap();
    let mut chunks = 0;
    let mut all = Vec::new();
    while let Some(chunk) = stream.next().await {
        all.extend_from_slice(&chunk.unwrap());
        chunks += 1;
    }
    assert!(chunks >= 3, "only {chunks} chunks");
    assert_eq!(&all[..4], b"RIFF");
    let info = measure(&all, AudioFormat::Wav).unwrap();
    assert_eq!(info.sample_rate, 16_000);
    assert!(info.duration_seconds_f64() > 0.5);
    sim.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_voice_bad_request_and_bad_key() {
    let sim = sim(SimConfig::default()).await;
    let c = client(&sim);
    let mut unknown = request(AudioFormat::Wav, None);
    unknown.voice_uuid = "does-not-exist".into();
    assert!(matches!(
        c.synthesize(&unknown).await,
        Err(UpstreamError::NotFound(_))
    ));
    assert!(matches!(
        c.stream(&unknown).await.err(),
        Some(UpstreamError::NotFound(_))
    ));

    let odd_rate = request(AudioFormat::Wav, Some(12_345));
    match c.synthesize(&odd_rate).await {
        Err(UpstreamError::BadRequest(m)) => assert!(m.contains("sample_rate"), "{m}"),
        other => panic!("{other:?}"),
    }

    let wrong = client_for(&sim, "wrong-key", Duration::from_secs(5));
    assert_eq!(
        wrong.list_voices(1, 10).await.err(),
        Some(UpstreamError::Unauthorized { status: 401 })
    );
    sim.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn maps_5xx_and_429() {
    let sim = sim(SimConfig {
        error_rate_5xx: 1.0,
        ..SimConfig::default()
    })
    .await;
    let c = client(&sim);
    for _ in 0..4 {
        match c.list_voices(1, 10).await {
            Err(UpstreamError::Unavailable { status }) => assert!(status == 500 || status == 503),
            other => panic!("{other:?}"),
        }
    }
    match c.stream(&request(AudioFormat::Wav, None)).await.err() {
        Some(UpstreamError::Unavailable { .. }) => {}
        other => panic!("{other:?}"),
    }
    sim.state().update_knobs(|k| {
        k.error_rate_5xx = 0.0;
        k.error_rate_429 = 1.0;
    });
    assert_eq!(
        c.synthesize(&request(AudioFormat::Wav, None)).await.err(),
        Some(UpstreamError::RateLimited {
            retry_after: Some(Duration::from_secs(1))
        })
    );
    sim.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn maps_timeouts() {
    let sim = sim(SimConfig {
        latency: Duration::from_secs(2),
        ..SimConfig::default()
    })
    .await;
    let c = client_for(&sim, "sim-key", Duration::from_millis(300));
    let started = std::time::Instant::now();
    assert_eq!(
        c.list_voices(1, 10).await.err(),
        Some(UpstreamError::Timeout)
    );
    assert_eq!(
        c.synthesize(&request(AudioFormat::Wav, None)).await.err(),
        Some(UpstreamError::Timeout)
    );
    assert!(matches!(
        c.stream(&request(AudioFormat::Wav, None)).await.err(),
        Some(UpstreamError::Timeout)
    ));
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    sim.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn maps_connection_refused() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let c = ResembleClient::new(ResembleConfig {
        api_key: "k".into(),
        app_url: format!("http://127.0.0.1:{port}/api/v2"),
        synth_url: format!("http://127.0.0.1:{port}"),
        timeout: Duration::from_secs(5),
        connect_timeout: Duration::from_secs(2),
    })
    .unwrap();
    assert!(matches!(
        c.list_voices(1, 10).await,
        Err(UpstreamError::Connect(_))
    ));
    assert!(matches!(
        c.stream(&request(AudioFormat::Wav, None)).await.err(),
        Some(UpstreamError::Connect(_))
    ));
}
