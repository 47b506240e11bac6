//! Streaming TTS: bytes forwarded as they come, billed on what was streamed, mirrored at the end.

use futures_util::StreamExt as _;
use indox_audio::{AudioFormat, WavStreamMeter};
use rust_decimal::Decimal;
use serde_json::json;

use crate::helpers::*;

#[tokio::test]
async fn a_stream_is_forwarded_in_chunks_then_billed_and_mirrored() {
    let app = spawn_app().await;
    let user = app.user("1.00").await;
    let resp = app
        .client
        .post(format!("{}/resemble/tts/stream", app.base))
        .bearer_auth(&user.key)
        .json(&json!({"voice_uuid": "55592656", "text": "Streaming speech arrives in pieces, as it is made.", "sample_rate": 16000}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "audio/wav");
    let usage_id = resp.headers()["x-usage-id"].to_str().unwrap().to_owned();
    let mut chunks = 0;
    let mut bytes = Vec::new();
    let mut meter = WavStreamMeter::new();
    let mut stream = resp.bytes_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.unwrap();
        meter.feed(&chunk).unwrap();
        bytes.extend_from_slice(&chunk);
        chunks += 1;
    }
    assert!(
        chunks >= 2,
        "forwarded as it arrived, not buffered: {chunks} chunk(s)"
    );
    let info = meter.info().unwrap();
    assert_eq!(info.sample_rate, 16_000);
    assert_eq!(
        indox_audio::measure(&bytes, AudioFormat::Wav)
            .unwrap()
            .frames,
        info.frames
    );

    // The usage row appears once the stream has ended.
    let usage_url = format!("{}/resemble/usage/{usage_id}", app.base);
    let billed = eventually(|| async {
        let r = app
            .client
            .get(&usage_url)
            .bearer_auth(&user.key)
            .send()
            .await
            .unwrap();
        if r.status() == 200 {
            Some(r.json::<serde_json::Value>().await.unwrap())
        } else {
            None
        }
    })
    .await;
    let billed = billed.expect("the stream was billed");
    let quantity: Decimal = billed["billing"]["quantity"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(
        quantity,
        Decimal::new(info.duration_millis_ceil() as i64, 3)
    );
    let rows = app.usage(user.account).await;
    assert_eq!(rows.len(), 1);
    assert_eq!(billed["billing"]["charged"], rows[0].charged.to_string());

    // The hold is settled: nothing stays reserved, and the ledger agrees with the balance.
    let account = app.account(user.account).await;
    assert_eq!(account.held, Decimal::ZERO);
    assert_eq!(account.balance, Decimal::ONE - rows[0].charged);
    let (balance, held) = app.pg.ledger_sum(user.account).await.unwrap();
    assert_eq!((balance, held), (account.balance, Decimal::ZERO));

    // The streamed audio is in the bucket.
    let asset = app.app.assets.get(rows[0].asset_id.unwrap()).await.unwrap();
    assert!(asset.mirrored_at.is_some());
    assert_eq!(app.stored_bytes(&asset.object_key).await, bytes);

    // Another account cannot read this usage row.
    let other = app.user("1.00").await;
    let r = app
        .client
        .get(format!("{}/resemble/usage/{usage_id}", app.base))
        .bearer_auth(&other.key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
}

#[tokio::test]
async fn a_stream_that_cannot_be_held_is_402_and_mp3_is_refused() {
    let app = spawn_app().await;
    let poor = app.user("0").await;
    let (status, _) = error_code(
        app.client
            .post(format!("{}/resemble/tts/stream", app.base))
            .bearer_auth(&poor.key)
            .json(&json!({"voice_uuid": "55592656", "text": "Hello"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 402);
    let user = app.user("1.00").await;
    let (status, body) = error_code(
        app.client
            .post(format!("{}/resemble/tts/stream", app.base))
            .bearer_auth(&user.key)
            .json(&json!({"voice_uuid": "55592656", "text": "Hello", "output_format": "mp3"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 422);
    assert_eq!(body["error"]["field"], "output_format");
    assert_eq!(app.sim.stats().route("POST /stream"), 0);
}

#[tokio::test]
async fn holds_left_open_by_a_dead_process_are_released() {
    let app = spawn_app().await;
    let user = app.user("1.00").await;
    let ledger = app.app.billing.ledger();
    // A stream's hold whose process died before settling it.
    let hold = ledger
        .place_hold(
            user.account,
            Decimal::new(5, 2),
            indox_core::RequestId::new(),
        )
        .await
        .unwrap();
    assert_eq!(app.account(user.account).await.held, Decimal::new(5, 2));
    // Not stale yet under the configured hour.
    assert_eq!(
        indox_server::app::maintenance::release_stale_holds(&app.app, chrono::Duration::hours(1))
            .await,
        0
    );
    // Stale under a zero TTL: released, and the balance is untouched.
    assert_eq!(
        indox_server::app::maintenance::release_stale_holds(&app.app, chrono::Duration::zero())
            .await,
        1
    );
    let account = app.account(user.account).await;
    assert_eq!(
        (account.balance, account.held),
        (Decimal::ONE, Decimal::ZERO)
    );
    assert!(matches!(
        ledger.release_hold(hold).await,
        Err(indox_billing::BillingError::HoldNotOpen)
    ));
    let (balance, held) = app.pg.ledger_sum(user.account).await.unwrap();
    assert_eq!((balance, held), (Decimal::ONE, Decimal::ZERO));
}
