//! End-to-end tests of the simulator over HTTP on port 0, using reqwest and indox-audio.

use base64::Engine as _;
use indox_audio::{measure, AudioFormat, WavStreamMeter};
use indox_simulator::{start, SimConfig, SimHandle};
use serde_json::{json, Value};

async fn sim(config: SimConfig) -> SimHandle {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    start(config, listener).await.unwrap()
}

fn client() -> reqwest::Client {
    reqwest::Client::new()
}

async fn synth(h: &SimHandle, body: Value) -> (u16, Value) {
    let r = client()
        .post(format!("{}/synthesize", h.synth_url()))
        .bearer_auth("sim-key")
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap())
}

#[tokio::test]
async fn auth_forms_and_401() {
    let h = sim(SimConfig::default()).await;
    let url = format!("{}/voices?page=1", h.app_url());
    let forms = [
        ("authorization", "Bearer sim-key"),
        ("authorization", "Token token=sim-key"),
        ("authorization", "sim-key"),
        ("x-access-token", "sim-key"),
    ];
    for (name, value) in forms {
        let r = client().get(&url).header(name, value).send().await.unwrap();
        assert_eq!(r.status(), 200, "{name}: {value}");
    }
    for bad in [Some("Bearer wrong"), Some("Token token=nope"), None] {
        let mut req = client().get(&url);
        if let Some(v) = bad {
            req = req.header("authorization", v);
        }
        let r = req.send().await.unwrap();
        assert_eq!(r.status(), 401);
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["success"], false);
        assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
    let stats = h.stats();
    assert_eq!(stats.route("GET /api/v2/voices"), 7);
    assert_eq!(stats.status(401), 3);
    h.stop().await;
}

#[tokio::test]
async fn voices_pagination_and_get() {
    let h = sim(SimConfig::default()).await;
    let get = |q: &'static str| {
        let url = format!("{}/voices{q}", h.app_url());
        async move {
            client()
                .get(url)
                .bearer_auth("sim-key")
                .send()
                .await
                .unwrap()
        }
    };
    let r = get("").await;
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["success"], true);
    assert_eq!(body["page"], 1);
    assert_eq!(body["page_size"], 10);
    assert_eq!(body["num_pages"], 1);
    let items = body["items"].as_array().unwrap();
    assert_eq!(items.len(), 8);
    assert!(items.iter().any(|v| v["uuid"] == "9fd7430d"));
    for v in items {
        for field in [
            "uuid",
            "name",
            "status",
            "voice_type",
            "default_language",
            "created_at",
        ] {
            assert!(v.get(field).is_some(), "{field}");
        }
        assert!(["finished", "ready"].contains(&v["status"].as_str().unwrap()));
    }
    let body: Value = get("?page=2&page_size=10").await.json().await.unwrap();
    assert_eq!(body["items"].as_array().unwrap().len(), 0);
    for bad in ["?page=0", "?page_size=9", "?page_size=1001", "?page=abc"] {
        let r = get(bad).await;
        assert_eq!(r.status(), 400, "{bad}");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["success"], false);
    }
    let r = client()
        .get(format!("{}/voices/9fd7430d", h.app_url()))
        .bearer_auth("sim-key")
        .send()
        .await
        .unwrap();
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["item"]["uuid"], "9fd7430d");
    let r = client()
        .get(format!("{}/voices/deadbeef", h.app_url()))
        .bearer_auth("sim-key")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let body: Value = r.json().await.unwrap();
    assert_eq!(
        body,
        json!({"success": false, "item": null, "message": "Not found"})
    );
    h.stop().await;
}

#[tokio::test]
async fn synthesize_wav_every_rate_and_precision() {
    let h = sim(SimConfig::default()).await;
    let text = "Hello, world";
    for rate in [8_000u32, 16_000, 22_050, 32_000, 44_100, 48_000] {
        for precision in ["MULAW", "PCM_16", "PCM_24", "PCM_32"] {
            let (status, body) = synth(
                &h,
                json!({"voice_uuid":"55592656","data":text,"sample_rate":rate,"precision":precision}),
            )
            .await;
            assert_eq!(status, 200, "{body}");
            assert_eq!(body["success"], true);
            assert_eq!(body["output_format"], "wav");
            assert_eq!(body["sample_rate"], rate);
            let audio = base64::engine::general_purpose::STANDARD
                .decode(body["audio_content"].as_str().unwrap())
                .unwrap();
            let info = measure(&audio, AudioFormat::Wav).unwrap();
            assert_eq!(info.sample_rate, rate);
            assert_eq!(info.channels, 1);
            assert_eq!(
                body["duration"].as_f64().unwrap(),
                info.duration_seconds_f64(),
                "{rate} {precision}"
            );
            let bits = u16::from_le_bytes([audio[34], audio[35]]);
            let tag = u16::from_le_bytes([audio[20], audio[21]]);
            let expected = match precision {
                "MULAW" => (7, 8),
                "PCM_16" => (1, 16),
                "PCM_24" => (1, 24),
                _ => (1, 32),
            };
            assert_eq!((tag, bits), expected);
            assert_eq!(
                indox_audio::embedded_text(&audio, AudioFormat::Wav).as_deref(),
                Some(text)
            );
            let ts = &body["audio_timestamps"];
            assert_eq!(
                ts["graph_chars"].as_array().unwrap().len(),
                text.chars().count()
            );
            assert_eq!(ts["graph_times"][0].as_array().unwrap().len(), 2);
        }
    }
    // Defaults: 48 kHz, PCM_32, wav.
    let (_, body) = synth(&h, json!({"voice_uuid":"55592656","data":"x"})).await;
    assert_eq!(body["sample_rate"], 48_000);
    assert!((body["duration"].as_f64().unwrap() - 0.265).abs() < 1e-9);
    h.stop().await;
}

#[tokio::test]
async fn synthesize_mp3_every_rate_decodes() {
    let h = sim(SimConfig::default()).await;
    let text = "MP3 check with ID3 text";
    for rate in [8_000u32, 16_000, 22_050, 32_000, 44_100, 48_000] {
        let (status, body) = synth(
            &h,
            json!({"voice_uuid":"9fd7430d","data":text,"sample_rate":rate.to_string(),"output_format":"mp3"}),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["output_format"], "mp3");
        let audio = base64::engine::general_purpose::STANDARD
            .decode(body["audio_content"].as_str().unwrap())
            .unwrap();
        assert_eq!(&audio[..3], b"ID3");
        let info = measure(&audio, AudioFormat::Mp3).unwrap();
        assert_eq!(info.sample_rate, rate);
        assert_eq!(info.channels, 1);
        let spf = if rate >= 32_000 { 1152 } else { 576 };
        assert_eq!(info.frames % spf, 0);
        assert_eq!(
            body["duration"].as_f64().unwrap(),
            info.duration_seconds_f64(),
            "{rate}"
        );
        // At least the text's length, and less than one frame more.
        let min = 0.2 + 0.065 * text.chars().count() as f64;
        let d = info.duration_seconds_f64();
        assert!(d >= min - 0.5 / f64::from(rate) && d < min + spf as f64 / f64::from(rate));
        assert_eq!(
            indox_audio::embedded_text(&audio, AudioFormat::Mp3).as_deref(),
            Some(text)
        );
    }
    h.stop().await;
}

#[tokio::test]
async fn synthesize_errors() {
    let h = sim(SimConfig::default()).await;
    let (s, b) = synth(&h, json!({"voice_uuid":"00000000","data":"hi"})).await;
    assert_eq!(
        (s, b),
        (404, json!({"success": false, "message": "Voice not found"}))
    );
    for bad in [
        json!({"voice_uuid":"55592656"}),
        json!({"voice_uuid":"55592656","data":""}),
        json!({"voice_uuid":"55592656","data":"hi","sample_rate":12345}),
        json!({"voice_uuid":"55592656","data":"hi","precision":"PCM_64"}),
        json!({"voice_uuid":"55592656","data":"x".repeat(3001)}),
    ] {
        let (s, b) = synth(&h, bad.clone()).await;
        assert_eq!(s, 400, "{bad}");
        assert_eq!(b["success"], false);
        assert_eq!(b["error_name"], "ValidationError");
        assert!(b["message"].is_string());
    }
    let r = client()
        .post(format!("{}/synthesize", h.synth_url()))
        .header("x-access-token", "sim-key")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    h.stop().await;
}

#[tokio::test]
async fn stream_is_chunked_and_meters_correctly() {
    let h = sim(SimConfig::default()).await;
    let text = "streaming text of some length";
    let mut r = client()
        .post(format!("{}/stream", h.synth_url()))
        .bearer_auth("sim-key")
        .json(&json!({"voice_uuid":"55592656","data":text,"sample_rate":22050}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "audio/wav");
    assert!(r.headers().get("content-length").is_none());
    let mut meter = WavStreamMeter::new();
    let mut chunks = 0;
    let mut all = Vec::new();
    while let Some(chunk) = r.chunk().await.unwrap() {
        chunks += 1;
        meter.feed(&chunk).unwrap();
        all.extend_from_slice(&chunk);
    }
    assert!(chunks >= 5, "{chunks} chunks");
    assert_eq!(&all[4..8], &[0xFF; 4]);
    let info = meter.info().unwrap();
    let expected = ((200 + 65 * text.chars().count() as u64) * 22_050 + 500) / 1000;
    assert_eq!(info.frames, expected);
    assert_eq!(info.sample_rate, 22_050);
    assert_eq!(measure(&all, AudioFormat::Wav).unwrap(), info);
    // Errors are JSON before any audio.
    let r = client()
        .post(format!("{}/stream", h.synth_url()))
        .bearer_auth("sim-key")
        .json(&json!({"voice_uuid":"55592656","data":"x".repeat(2001)}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["success"], false);
    h.stop().await;
}

async fn usage(h: &SimHandle) -> Value {
    let today = chrono::Utc::now().date_naive();
    let url = format!(
        "{}/account/billing_usage?start_date={}&end_date={}",
        h.app_url(),
        today.pred_opt().unwrap(),
        today
    );
    client()
        .get(url)
        .bearer_auth("sim-key")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test]
async fn billing_usage_sums_served_audio() {
    let h = sim(SimConfig::default()).await;
    assert_eq!(
        usage(&h).await,
        json!({"success":true,"items":{"synth":"0.000","detect":"0.000"}})
    );
    let mut total = 0.0;
    for (text, fmt) in [("one", "wav"), ("two two", "mp3"), ("one", "wav")] {
        let (_, b) = synth(
            &h,
            json!({"voice_uuid":"55592656","data":text,"output_format":fmt}),
        )
        .await;
        total += b["duration"].as_f64().unwrap();
    }
    let r = client()
        .post(format!("{}/stream", h.synth_url()))
        .bearer_auth("sim-key")
        .json(&json!({"voice_uuid":"55592656","data":"abc","sample_rate":8000}))
        .send()
        .await
        .unwrap();
    assert!(r.bytes().await.unwrap().len() > 44);
    total += (200.0 + 65.0 * 3.0) / 1000.0;
    let body = usage(&h).await;
    assert_eq!(body["items"]["synth"], format!("{total:.3}"));
    // report_factor scales what is reported.
    let r = client()
        .post(format!("{}/_sim/config", h.base_url))
        .json(&json!({"report_factor": 2.0}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body = usage(&h).await;
    assert_eq!(body["items"]["synth"], format!("{:.3}", total * 2.0));
    // Bad dates are 400.
    let r = client()
        .get(format!(
            "{}/account/billing_usage?start_date=2025-13-01&end_date=2025-01-01",
            h.app_url()
        ))
        .bearer_auth("sim-key")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    h.stop().await;
}

#[tokio::test]
async fn fault_injection_and_stats() {
    let h = sim(SimConfig {
        seed: 7,
        ..SimConfig::default()
    })
    .await;
    let url = format!("{}/voices?page=1", h.app_url());
    // No faults yet: nothing but 200s.
    for _ in 0..20 {
        let r = client()
            .get(&url)
            .bearer_auth("sim-key")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    let r = client()
        .post(format!("{}/_sim/faults", h.base_url))
        .json(&json!({"error_rate_5xx": 0.3, "error_rate_429": 0.2, "latency_ms": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let (mut ok, mut e5, mut e429) = (0, 0, 0);
    for _ in 0..400 {
        let r = client()
            .get(&url)
            .bearer_auth("sim-key")
            .send()
            .await
            .unwrap();
        match r.status().as_u16() {
            200 => ok += 1,
            500 | 503 => {
                e5 += 1;
                let b: Value = r.json().await.unwrap();
                assert_eq!(b["success"], false);
            }
            429 => {
                e429 += 1;
                assert_eq!(r.headers()["retry-after"], "1");
            }
            other => panic!("unexpected {other}"),
        }
    }
    assert!((80..160).contains(&e5), "5xx {e5}");
    assert!((45..115).contains(&e429), "429 {e429}");
    assert_eq!(ok + e5 + e429, 400);
    // Stats saw exactly these requests; /_sim calls are not counted.
    let stats: Value = client()
        .get(format!("{}/_sim/stats", h.base_url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(stats["total"], 420);
    assert_eq!(stats["by_route"]["GET /api/v2/voices"], 420);
    assert_eq!(stats["by_status"]["429"], e429);
    assert_eq!(h.stats().route("POST /synthesize"), 0);
    // Latency knob: visible in the reported knobs.
    let knobs: Value = client()
        .get(format!("{}/_sim/faults", h.base_url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(knobs["latency_ms"], 1);
    assert_eq!(
        h.state().knobs().latency,
        std::time::Duration::from_millis(1)
    );
    h.stop().await;
}

#[tokio::test]
async fn same_seed_same_fault_sequence() {
    let mut runs = Vec::new();
    for _ in 0..2 {
        let h = sim(SimConfig {
            seed: 99,
            error_rate_5xx: 0.5,
            ..SimConfig::default()
        })
        .await;
        let mut seq = Vec::new();
        for _ in 0..30 {
            let r = client()
                .get(format!("{}/voices/9fd7430d", h.app_url()))
                .bearer_auth("sim-key")
                .send()
                .await
                .unwrap();
            seq.push(r.status().as_u16());
        }
        runs.push(seq);
        h.stop().await;
    }
    assert_eq!(runs[0], runs[1]);
    assert!(runs[0].contains(&200) && runs[0].iter().any(|s| *s >= 500));
}

#[tokio::test]
async fn rate_limit_when_enabled() {
    let h = sim(SimConfig {
        rate_limit_per_sec: Some(3),
        ..SimConfig::default()
    })
    .await;
    let mut statuses = Vec::new();
    for _ in 0..10 {
        let r = client()
            .get(format!("{}/voices/9fd7430d", h.app_url()))
            .bearer_auth("sim-key")
            .send()
            .await
            .unwrap();
        statuses.push(r.status().as_u16());
    }
    // At most 3 per second pass, and 10 quick requests span at most a few seconds.
    let ok = statuses.iter().filter(|s| **s == 200).count();
    assert!((3..10).contains(&ok), "{statuses:?}");
    assert!(statuses.contains(&429));
    h.stop().await;
}
