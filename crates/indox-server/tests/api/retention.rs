//! Retention: each asset class is deleted from the bucket on its day (moved there with an
//! injected clock, checked against the real S3 server's listing), voice-clone recordings
//! and voice models never; sweeping twice or concurrently deletes nothing twice.

use std::sync::Arc;

use bytes::Bytes;
use indox_core::{Clock, FixedClock};
use indox_retention::{object_key, AssetClass, Mirror, NewAsset};
use indox_server::app::retention::sweep_once;

use crate::helpers::*;

async fn store_asset(app: &TestApp, user: &User, class: AssetClass) -> uuid::Uuid {
    let now = app.app.clock.now();
    let id = uuid::Uuid::now_v7();
    let key = object_key(class, user.account, id, "wav", now);
    app.app
        .objects
        .put(&key, Bytes::from_static(b"RIFF-test"), "audio/wav")
        .await
        .unwrap();
    let asset = NewAsset {
        id,
        account: user.account,
        class,
        object_key: key,
        content_type: "audio/wav".into(),
        size_bytes: 9,
        sha256: [0; 32],
        duration_ms: None,
        created_at: now,
        expires_at: class.retention().map(|r| now + r),
        resemble_url: None,
        mirror: Mirror::Done,
    };
    app.app.assets.record(&asset).await.unwrap();
    id
}

async fn prefixes_left(app: &TestApp) -> Vec<String> {
    let mut p: Vec<String> = app
        .store()
        .list_keys("")
        .await
        .unwrap()
        .into_iter()
        .map(|k| k.split('/').next().unwrap().to_owned())
        .collect();
    p.sort();
    p.dedup();
    p
}

#[tokio::test]
async fn each_class_is_deleted_on_its_day_and_identity_assets_never() {
    let clock = Arc::new(FixedClock::new(chrono::Utc::now()));
    let app = spawn_app_with(Options {
        clock: Some(clock.clone()),
        ..Options::default()
    })
    .await;
    let user = app.user("1.00").await;
    // A real TTS answer (7 days) beside one object of every class.
    let tts: serde_json::Value = app
        .synthesize(&user, tts_body("Kept for a week.", "mp3"))
        .await
        .json()
        .await
        .unwrap();
    let tts_asset = tts["asset_id"].as_str().unwrap().to_owned();
    let mut ids = Vec::new();
    for class in AssetClass::ALL {
        ids.push((class, store_asset(&app, &user, class).await));
    }
    let all = [
        "edit-output",
        "enhance-output",
        "stt-input",
        "tts-output",
        "uploads",
        "voice-design",
        "voice-models",
        "voice-recordings",
        "watermark-output",
    ];
    assert_eq!(prefixes_left(&app).await, all);

    let day = chrono::Duration::days(1);
    // Just before day 7 nothing goes; on day 7 the four 7-day classes go.
    let start = clock.now();
    assert_eq!(
        sweep_once(&app.app, start + day * 7 - chrono::Duration::seconds(1))
            .await
            .unwrap()
            .total(),
        0
    );
    let week = sweep_once(&app.app, start + day * 7).await.unwrap();
    assert_eq!(week.total(), 5, "{week:?}");
    assert_eq!(week.deleted["tts_output"], 2);
    assert_eq!(
        prefixes_left(&app).await,
        [
            "stt-input",
            "uploads",
            "voice-design",
            "voice-models",
            "voice-recordings"
        ]
    );
    // Sweeping again, or twice at once, deletes nothing more.
    let (a, b) = tokio::join!(
        sweep_once(&app.app, start + day * 7),
        sweep_once(&app.app, start + day * 7)
    );
    assert_eq!(a.unwrap().total() + b.unwrap().total(), 0);

    assert_eq!(
        sweep_once(&app.app, start + day * 14)
            .await
            .unwrap()
            .deleted
            .get("voice_design_candidate"),
        Some(&1)
    );
    assert_eq!(
        prefixes_left(&app).await,
        ["stt-input", "uploads", "voice-models", "voice-recordings"]
    );
    assert_eq!(
        sweep_once(&app.app, start + day * 30)
            .await
            .unwrap()
            .total(),
        2
    );
    assert_eq!(
        prefixes_left(&app).await,
        ["voice-models", "voice-recordings"]
    );
    // Ten years on, the identity assets are still there.
    assert_eq!(
        sweep_once(&app.app, start + day * 3650)
            .await
            .unwrap()
            .total(),
        0
    );
    assert_eq!(
        prefixes_left(&app).await,
        ["voice-models", "voice-recordings"]
    );

    // A deleted asset says so; a permanent one still gets a fresh URL.
    clock.advance(day * 3650);
    let gone = app
        .client
        .get(format!("{}/resemble/assets/{tts_asset}", app.base))
        .bearer_auth(&user.key)
        .send()
        .await
        .unwrap();
    assert_eq!(gone.status(), 410);
    let recording = ids
        .iter()
        .find(|(c, _)| *c == AssetClass::VoiceCloneRecording)
        .unwrap()
        .1;
    let kept = app
        .client
        .get(format!("{}/resemble/assets/{recording}", app.base))
        .bearer_auth(&user.key)
        .send()
        .await
        .unwrap();
    assert_eq!(kept.status(), 200);
}
