//! Text-to-speech through every layer: voices, synthesize, billing equal to the row, the
//! mirror, bad input, balance and upstream failures.

use base64::Engine as _;
use indox_audio::AudioFormat;
use rust_decimal::Decimal;
use serde_json::json;

use crate::helpers::*;

#[tokio::test]
async fn lists_voices_with_the_product_page_shape() {
    let app = spawn_app().await;
    let user = app.user("1.00").await;
    let resp = app
        .client
        .get(format!(
            "{}/resemble/tts/voices?page=1&page_size=10",
            app.base
        ))
        .bearer_auth(&user.key)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.headers().contains_key("x-ratelimit-remaining"));
    let body: serde_json::Value = resp.json().await.unwrap();
    let items = body["items"].as_array().unwrap();
    assert!(!items.is_empty());
    assert!(items[0]["uuid"].is_string() && items[0]["name"].is_string());
    assert_eq!(body["page"], 1);
    assert_eq!(body["page_size"], 10);

    let bad = app
        .client
        .get(format!("{}/resemble/tts/voices?page=0", app.base))
        .bearer_auth(&user.key)
        .send()
        .await
        .unwrap();
    let (status, body) = error_code(bad).await;
    assert_eq!(status, 422);
    assert_eq!(body["error"]["field"], "page");
}

#[tokio::test]
async fn synthesize_bills_exactly_the_row_and_mirrors_the_audio() {
    let app = spawn_app().await;
    let user = app.user("1.00").await;
    let resp = app
        .synthesize(&user, tts_body("Hello from IndoxHub.", "mp3"))
        .await;
    assert_eq!(resp.status(), 200);
    let request_id = resp.headers()["x-request-id"].to_str().unwrap().to_owned();
    let body: serde_json::Value = resp.json().await.unwrap();

    // The audio is real and its length is what we billed.
    let audio = base64::engine::general_purpose::STANDARD
        .decode(body["audio_content"].as_str().unwrap())
        .unwrap();
    let info = indox_audio::measure(&audio, AudioFormat::Mp3).unwrap();
    let billing = &body["billing"];
    let quantity: Decimal = billing["quantity"].as_str().unwrap().parse().unwrap();
    assert_eq!(
        quantity,
        Decimal::new(info.duration_millis_ceil() as i64, 3)
    );
    assert_eq!(
        body["duration"].as_f64().unwrap(),
        info.duration_seconds_f64()
    );

    // The billing block is the row.
    let rows = app.usage(user.account).await;
    assert_eq!(rows.len(), 1);
    let row = &rows[0];
    assert_eq!(billing["usage_id"], row.id.to_string());
    assert_eq!(billing["charged"], row.charged.to_string());
    assert_eq!(billing["provider_cost"], row.provider_cost.to_string());
    assert_eq!(billing["markup"], row.markup.to_string());
    assert_eq!(billing["quantity"], row.quantity.to_string());
    assert_eq!(billing["unit"], "audio_second");
    assert_eq!(billing["currency"], "USD");
    assert_eq!(row.request_id, request_id);
    // R2/R3: 0.0005 USD per second, 20 % markup.
    assert_eq!(
        row.provider_cost,
        (quantity * Decimal::new(5, 4)).round_dp(8)
    );
    assert_eq!(
        row.charged,
        (row.provider_cost * Decimal::new(12, 1)).round_dp(8)
    );
    assert_eq!(
        row.upstream_quantity,
        Some(quantity),
        "the simulator's claim matches the measurement"
    );

    // The balance moved by exactly the charge, and equals the ledger.
    let account = app.account(user.account).await;
    assert_eq!(account.balance, Decimal::ONE - row.charged);
    let (ledger_balance, ledger_held) = app.pg.ledger_sum(user.account).await.unwrap();
    assert_eq!(ledger_balance, account.balance);
    assert_eq!(ledger_held, Decimal::ZERO);

    // The presigned URL really serves the same bytes, from the tts-output/ prefix.
    let url = body["audio_url"].as_str().unwrap();
    assert!(body["expires_at"].is_string());
    let fetched = reqwest::get(url).await.unwrap();
    assert_eq!(fetched.status(), 200);
    assert_eq!(fetched.bytes().await.unwrap().as_ref(), audio.as_slice());
    let keys = app.store().list_keys("tts-output/").await.unwrap();
    assert_eq!(keys.len(), 1);
    assert!(keys[0].starts_with(&format!("tts-output/{}/", user.account)));
    assert!(body["resemble_url"].is_null());

    // The record of the upload is confirmed (in a batch, right after the answer).
    let asset_id: uuid::Uuid = body["asset_id"].as_str().unwrap().parse().unwrap();
    let confirmed = eventually(|| async {
        app.app
            .assets
            .get(asset_id)
            .await
            .unwrap()
            .mirrored_at
            .map(|_| ())
    })
    .await
    .is_some();
    assert!(confirmed, "the upload was confirmed in the asset record");
}

#[tokio::test]
async fn wav_at_a_requested_rate_and_precision() {
    let app = spawn_app().await;
    let user = app.user("1.00").await;
    let resp = app
        .synthesize(&user, json!({"voice_uuid": "55592656", "text": "Testing one two", "output_format": "wav", "sample_rate": 22050, "precision": "PCM_16"}))
        .await;
    assert_eq!(resp.status(), 200);
    let body: serde_json::Value = resp.json().await.unwrap();
    let audio = base64::engine::general_purpose::STANDARD
        .decode(body["audio_content"].as_str().unwrap())
        .unwrap();
    let info = indox_audio::measure(&audio, AudioFormat::Wav).unwrap();
    assert_eq!(info.sample_rate, 22_050);
    assert_eq!(body["sample_rate"], 22_050);
    assert_eq!(body["output_format"], "wav");
}

#[tokio::test]
async fn bad_input_is_a_4xx_that_changes_nothing() {
    let app = spawn_app().await;
    let user = app.user("1.00").await;
    let cases: Vec<(reqwest::RequestBuilder, u16, &str, Option<&str>)> = vec![
        (
            app.client
                .post(format!("{}/resemble/tts/synthesize", app.base))
                .bearer_auth(&user.key)
                .header("content-type", "application/json")
                .body("{not json"),
            400,
            "malformed_json",
            None,
        ),
        (
            app.client
                .post(format!("{}/resemble/tts/synthesize", app.base))
                .bearer_auth(&user.key)
                .json(&tts_body("", "mp3")),
            422,
            "invalid_field",
            Some("text"),
        ),
        (
            app.client
                .post(format!("{}/resemble/tts/synthesize", app.base))
                .bearer_auth(&user.key)
                .json(&tts_body(&"a".repeat(3001), "mp3")),
            422,
            "invalid_field",
            Some("text"),
        ),
        (
            app.client
                .post(format!("{}/resemble/tts/synthesize", app.base))
                .bearer_auth(&user.key)
                .json(&tts_body("hi", "ogg")),
            422,
            "invalid_field",
            Some("output_format"),
        ),
        (
            app.client
                .post(format!("{}/resemble/tts/synthesize", app.base))
                .bearer_auth(&user.key)
                .json(&json!({"text": "hi", "output_format": "mp3"})),
            422,
            "invalid_field",
            Some("voice_uuid"),
        ),
        (
            app.client
                .post(format!("{}/resemble/tts/synthesize", app.base))
                .bearer_auth(&user.key)
                .json(&json!({"voice_uuid": "55592656", "text": "hi", "sample_rate": 12345})),
            422,
            "invalid_field",
            Some("sample_rate"),
        ),
        (
            app.client
                .post(format!("{}/resemble/tts/synthesize", app.base))
                .bearer_auth(&user.key)
                .header("content-type", "application/json")
                .body(vec![b' '; 70 * 1024]),
            413,
            "payload_too_large",
            None,
        ),
    ];
    for (req, want_status, want_code, want_field) in cases {
        let (status, body) = error_code(req.send().await.unwrap()).await;
        assert_eq!(status, want_status, "{body}");
        assert_eq!(body["error"]["code"], want_code, "{body}");
        assert!(body["error"]["message"].as_str().unwrap().len() > 10);
        assert!(body["error"]["request_id"].is_string());
        if let Some(field) = want_field {
            assert_eq!(body["error"]["field"], field);
        }
    }
    assert_eq!(
        app.sim_synth_calls(),
        0,
        "validation happens before any upstream call"
    );

    // An unknown voice is a 404 from the upstream, and is not charged.
    let mut body = tts_body("hello", "mp3");
    body["voice_uuid"] = json!("deadbeef");
    let (status, err) = error_code(app.synthesize(&user, body).await).await;
    assert_eq!(status, 404, "{err}");
    assert_eq!(err["error"]["code"], "voice_not_found");

    assert!(app.usage(user.account).await.is_empty());
    assert_eq!(app.account(user.account).await.balance, Decimal::ONE);
    assert!(app.store().list_keys("").await.unwrap().is_empty());
}

#[tokio::test]
async fn an_empty_balance_is_a_402_before_any_upstream_call() {
    let app = spawn_app().await;
    let user = app.user("0").await;
    let (status, body) =
        error_code(app.synthesize(&user, tts_body("Hello there", "mp3")).await).await;
    assert_eq!(status, 402);
    assert_eq!(body["error"]["code"], "insufficient_balance");
    assert!(body["error"]["required"].is_string());
    assert_eq!(app.sim_synth_calls(), 0);
    assert!(app.usage(user.account).await.is_empty());
}

#[tokio::test]
async fn upstream_failures_map_to_5xx_and_are_never_charged() {
    let app = spawn_app_with(Options {
        resemble_timeout: std::time::Duration::from_millis(400),
        ..Options::default()
    })
    .await;
    let user = app.user("1.00").await;

    app.sim_faults(json!({"error_rate_5xx": 1.0, "error_rate_429": 0.0, "latency_ms": 0}))
        .await;
    let (status, body) = error_code(app.synthesize(&user, tts_body("Hello", "mp3")).await).await;
    assert!(status == 502 || status == 503, "{status} {body}");
    assert!(body["error"]["request_id"].is_string());

    app.sim_faults(json!({"error_rate_5xx": 0.0, "error_rate_429": 1.0, "latency_ms": 0}))
        .await;
    let resp = app.synthesize(&user, tts_body("Hello", "mp3")).await;
    assert_eq!(resp.status(), 503);
    assert!(resp.headers().contains_key("retry-after"));

    app.sim_faults(json!({"error_rate_5xx": 0.0, "error_rate_429": 0.0, "latency_ms": 1500}))
        .await;
    let (status, body) = error_code(app.synthesize(&user, tts_body("Hello", "mp3")).await).await;
    assert_eq!(status, 504, "{body}");
    assert_eq!(body["error"]["code"], "upstream_timeout");

    assert!(app.usage(user.account).await.is_empty());
    assert_eq!(app.account(user.account).await.balance, Decimal::ONE);
}

#[tokio::test]
async fn rate_limits_answer_429_with_exact_headers() {
    let app = spawn_app_with(Options {
        rate_limits: "tts=2/1m,upstream=1000/1s".into(),
        ..Options::default()
    })
    .await;
    let user = app.user("1.00").await;
    for remaining in ["1", "0"] {
        let resp = app.synthesize(&user, tts_body("Hi", "mp3")).await;
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.headers()["x-ratelimit-limit"], "2");
        assert_eq!(resp.headers()["x-ratelimit-remaining"], remaining);
    }
    let resp = app.synthesize(&user, tts_body("Hi", "mp3")).await;
    assert_eq!(resp.status(), 429);
    let retry: u64 = resp.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    assert_eq!(resp.headers()["x-ratelimit-remaining"], "0");
    let (_, body) = error_code(resp).await;
    assert_eq!(body["error"]["code"], "rate_limited");
    assert_eq!(app.usage(user.account).await.len(), 2);

    // Another account has its own window.
    let other = app.user("1.00").await;
    assert_eq!(
        app.synthesize(&other, tts_body("Hi", "mp3")).await.status(),
        200
    );
}

#[tokio::test]
async fn with_redis_down_requests_still_flow_under_local_limits() {
    let app = spawn_app_with(Options {
        redis_url: "redis://127.0.0.1:1".into(),
        rate_limits: "tts=2/1m,upstream=1000/1s".into(),
        ..Options::default()
    })
    .await;
    let user = app.user("1.00").await;
    assert_eq!(
        app.synthesize(&user, tts_body("Hi", "mp3")).await.status(),
        200
    );
    assert_eq!(
        app.synthesize(&user, tts_body("Hi", "mp3")).await.status(),
        200
    );
    assert_eq!(
        app.synthesize(&user, tts_body("Hi", "mp3")).await.status(),
        429,
        "the per-process fallback still limits"
    );
    assert_eq!(
        app.usage(user.account).await.len(),
        2,
        "billing does not depend on Redis"
    );
    assert!(app.app.limiter.degraded_decisions() >= 3);
}

#[tokio::test]
async fn with_the_store_down_synthesis_succeeds_and_the_mirror_is_retried() {
    let mut app = spawn_app().await;
    let user = app.user("1.00").await;
    app.s3.stop();
    let resp = app
        .synthesize(&user, tts_body("Hello from IndoxHub.", "mp3"))
        .await;
    assert_eq!(resp.status(), 200);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert!(body["audio_url"].is_null());
    assert_eq!(
        app.usage(user.account).await.len(),
        1,
        "still billed: the user got the audio"
    );
    let asset_id: uuid::Uuid = body["asset_id"].as_str().unwrap().parse().unwrap();
    let asset = app.app.assets.get(asset_id).await.unwrap();
    assert!(asset.mirrored_at.is_none());

    app.s3.restart().await.unwrap();
    let policy = indox_jobs::RetryPolicy::default();
    let mut mirrored = 0;
    for _ in 0..50 {
        mirrored += indox_server::app::mirror::run_once(&app.app, &policy).await;
        if mirrored > 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(mirrored, 1);
    let asset = app.app.assets.get(asset_id).await.unwrap();
    assert!(asset.mirrored_at.is_some());
    let keys = app.store().list_keys("tts-output/").await.unwrap();
    assert_eq!(keys, vec![asset.object_key.clone()]);
    let audio = base64::engine::general_purpose::STANDARD
        .decode(body["audio_content"].as_str().unwrap())
        .unwrap();
    assert_eq!(app.stored_bytes(&asset.object_key).await, audio);
}

#[tokio::test]
async fn per_account_markup_overrides_the_default() {
    let app = spawn_app().await;
    let user = app.user("1.00").await;
    let repo: std::sync::Arc<dyn indox_accounts::AccountRepository> =
        std::sync::Arc::new(app.pg.clone());
    repo.set_markup(user.account, Some(Decimal::new(50, 2)))
        .await
        .unwrap();
    let body: serde_json::Value = app
        .synthesize(&user, tts_body("Hello", "mp3"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body["billing"]["markup_rate"], "0.500000");
    let cost: Decimal = body["billing"]["provider_cost"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let charged: Decimal = body["billing"]["charged"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(charged, (cost * Decimal::new(15, 1)).round_dp(8));
}

#[tokio::test]
async fn an_asset_gets_a_fresh_url_for_its_owner_only() {
    let app = spawn_app().await;
    let user = app.user("1.00").await;
    let body: serde_json::Value = app
        .synthesize(&user, tts_body("Hello again", "mp3"))
        .await
        .json()
        .await
        .unwrap();
    let asset_id = body["asset_id"].as_str().unwrap().to_owned();
    let audio = base64::engine::general_purpose::STANDARD
        .decode(body["audio_content"].as_str().unwrap())
        .unwrap();
    let url = format!("{}/resemble/assets/{asset_id}", app.base);

    // The upload confirmation is batched; until it lands the answer is 503 "not stored yet".
    let fresh = eventually(|| async {
        let r = app
            .client
            .get(&url)
            .bearer_auth(&user.key)
            .send()
            .await
            .unwrap();
        if r.status() == 200 {
            Some(r.json::<serde_json::Value>().await.unwrap())
        } else {
            assert_eq!(
                r.status(),
                503,
                "only 'not stored yet' may precede the answer"
            );
            None
        }
    })
    .await;
    let fresh = fresh.expect("the asset became available");
    assert_eq!(fresh["class"], "tts_output");
    let fetched = reqwest::get(fresh["audio_url"].as_str().unwrap())
        .await
        .unwrap();
    assert_eq!(fetched.bytes().await.unwrap().as_ref(), audio.as_slice());

    let other = app.user("1.00").await;
    let (status, err) = error_code(
        app.client
            .get(&url)
            .bearer_auth(&other.key)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 404);
    assert_eq!(err["error"]["code"], "asset_not_found");
    let (status, _) = error_code(
        app.client
            .get(format!("{}/resemble/assets/not-a-uuid", app.base))
            .bearer_auth(&user.key)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 404);
}
