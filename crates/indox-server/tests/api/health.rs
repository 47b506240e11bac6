//! `/healthz` and `/readyz`: readiness follows Postgres, Redis and the object store, and
//! fails first when a graceful shutdown begins; in-flight requests still finish.

use crate::helpers::*;

#[tokio::test]
async fn readiness_follows_the_object_store() {
    let mut app = spawn_app().await;
    let health = app
        .client
        .get(format!("{}/healthz", app.root))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    let ready = app
        .client
        .get(format!("{}/readyz", app.root))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 200);
    let body: serde_json::Value = ready.json().await.unwrap();
    assert_eq!(body["checks"]["postgres"], "ok");
    assert_eq!(body["checks"]["redis"], "ok");
    assert_eq!(body["checks"]["object_store"], "ok");

    app.s3.stop();
    let ready = app
        .client
        .get(format!("{}/readyz", app.root))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 503);
    let body: serde_json::Value = ready.json().await.unwrap();
    assert!(body["checks"]["object_store"]["error"].is_string());
    assert_eq!(body["checks"]["postgres"], "ok");

    app.s3.restart().await.unwrap();
    let ready = app
        .client
        .get(format!("{}/readyz", app.root))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 200);
}

#[tokio::test]
async fn readiness_reports_redis_down() {
    let app = spawn_app_with(Options {
        redis_url: "redis://127.0.0.1:1".into(),
        ..Options::default()
    })
    .await;
    let ready = app
        .client
        .get(format!("{}/readyz", app.root))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 503);
    let body: serde_json::Value = ready.json().await.unwrap();
    assert!(body["checks"]["redis"]["error"].is_string());
}

#[tokio::test]
async fn a_graceful_shutdown_drains_readiness_and_finishes_requests_in_flight() {
    let mut opts = Options::default();
    opts.sim.latency = std::time::Duration::from_millis(800);
    opts.mirror_worker = true;
    opts.shutdown_drain = std::time::Duration::from_millis(400);
    let app = spawn_app_with(opts).await;
    let user = app.user("1.00").await;
    // A request that is still upstream when shutdown begins.
    let in_flight = {
        let client = app.client.clone();
        let url = format!("{}/resemble/tts/synthesize", app.base);
        let key = user.key.clone();
        tokio::spawn(async move {
            client
                .post(url)
                .bearer_auth(key)
                .json(&tts_body("Finish me before you go.", "mp3"))
                .send()
                .await
        })
    };
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let shutdown = app.shutdown.clone();
    let stopping = tokio::spawn(async move { shutdown.begin().await });
    // Readiness fails at once (while the listener still accepts), so balancers stop sending
    // new work here.
    let draining: serde_json::Value = eventually(|| async {
        let r = app
            .client
            .get(format!("{}/readyz", app.root))
            .send()
            .await
            .ok()?;
        (r.status() == 503).then_some(())?;
        r.json().await.ok()
    })
    .await
    .expect("readiness fails during the drain");
    assert_eq!(draining["status"], "draining");
    let resp = in_flight
        .await
        .unwrap()
        .expect("the in-flight request is answered");
    assert_eq!(resp.status(), 200, "it finished instead of being cut");
    let body: serde_json::Value = resp.json().await.unwrap();
    let rows = app.usage(user.account).await;
    assert_eq!(rows.len(), 1);
    assert_eq!(body["billing"]["usage_id"], rows[0].id.to_string());
    stopping.await.unwrap();
    // The listener is closed: new connections are refused.
    assert!(app
        .client
        .get(format!("{}/healthz", app.root))
        .send()
        .await
        .is_err());
}
