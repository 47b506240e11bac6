//! `Idempotency-Key` on synthesize: replay bills once, a changed body is 422, a duplicate in flight is 409.

use serde_json::json;

use crate::helpers::*;

async fn post(
    app: &TestApp,
    user: &User,
    key: &str,
    body: &serde_json::Value,
) -> reqwest::Response {
    app.client
        .post(format!("{}/resemble/tts/synthesize", app.base))
        .bearer_auth(&user.key)
        .header("idempotency-key", key)
        .json(body)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_retry_returns_the_stored_response_and_bills_once() {
    let app = spawn_app().await;
    let user = app.user("1.00").await;
    let body = tts_body("Hello from IndoxHub.", "mp3");
    let first = post(&app, &user, "key-1", &body).await;
    assert_eq!(first.status(), 200);
    let first = first.bytes().await.unwrap();
    let second = post(&app, &user, "key-1", &body).await;
    assert_eq!(second.status(), 200);
    assert_eq!(second.headers()["idempotent-replayed"], "true");
    assert_eq!(
        second.bytes().await.unwrap(),
        first,
        "byte-for-byte the same answer"
    );
    // Key order and whitespace do not make a different request.
    let reordered =
        json!({"output_format": "mp3", "text": "Hello from IndoxHub.", "voice_uuid": "55592656"});
    assert_eq!(post(&app, &user, "key-1", &reordered).await.status(), 200);

    assert_eq!(app.usage(user.account).await.len(), 1);
    assert_eq!(app.sim_synth_calls(), 1);

    // The same key with another body is refused and changes nothing.
    let (status, err) =
        error_code(post(&app, &user, "key-1", &tts_body("Something else", "mp3")).await).await;
    assert_eq!(status, 422);
    assert_eq!(err["error"]["code"], "idempotency_key_reused");
    assert_eq!(app.usage(user.account).await.len(), 1);

    // Keys are per account.
    let other = app.user("1.00").await;
    assert_eq!(post(&app, &other, "key-1", &body).await.status(), 200);

    // Invalid keys are a 400.
    let (status, _) = error_code(post(&app, &user, &"k".repeat(300), &body).await).await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn a_duplicate_in_flight_is_409_and_a_failed_request_frees_its_key() {
    let app = spawn_app().await;
    let user = app.user("1.00").await;
    app.sim_faults(json!({"latency_ms": 800})).await;
    let body = tts_body("Slow one", "mp3");
    let (a, b) = tokio::join!(post(&app, &user, "dup", &body), async {
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        post(&app, &user, "dup", &body).await
    });
    assert_eq!(a.status(), 200);
    let (status, err) = error_code(b).await;
    assert_eq!(status, 409);
    assert_eq!(err["error"]["code"], "idempotency_key_in_flight");
    assert_eq!(app.usage(user.account).await.len(), 1);

    // A request that fails upstream is not stored: the retry with the same key runs.
    app.sim_faults(json!({"latency_ms": 0, "error_rate_5xx": 1.0}))
        .await;
    let failed = post(&app, &user, "retry-me", &body).await;
    assert!(failed.status().is_server_error());
    app.sim_faults(json!({"error_rate_5xx": 0.0})).await;
    let ok = post(&app, &user, "retry-me", &body).await;
    assert_eq!(ok.status(), 200);
    assert!(!ok.headers().contains_key("idempotent-replayed"));
    assert_eq!(app.usage(user.account).await.len(), 2);
}
