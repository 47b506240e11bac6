//! `/healthz` and `/readyz`: readiness follows Postgres, Redis and the object store.

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
