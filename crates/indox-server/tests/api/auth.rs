//! API-key authentication: missing, malformed, unknown and revoked keys are 401 with a JSON body.

use std::sync::Arc;

use indox_accounts::AccountRepository;

use crate::helpers::*;

#[tokio::test]
async fn bad_keys_are_401_with_a_json_body() {
    let app = spawn_app().await;
    let user = app.user("1.00").await;
    let url = format!("{}/resemble/tts/voices", app.base);
    let cases = [
        (None, "missing_api_key"),
        (Some("Basic abc".to_owned()), "missing_api_key"),
        (Some("Bearer nonsense".to_owned()), "invalid_api_key"),
        (
            Some(format!(
                "Bearer ixk_{}_{}",
                "0123456789abcdef",
                "A".repeat(43)
            )),
            "invalid_api_key",
        ),
        // The right key id with a wrong secret.
        (
            Some(format!("Bearer ixk_{}_{}", user.key_id, "B".repeat(43))),
            "invalid_api_key",
        ),
    ];
    for (header, code) in cases {
        let mut req = app.client.get(&url);
        if let Some(h) = &header {
            req = req.header("authorization", h);
        }
        let (status, body) = error_code(req.send().await.unwrap()).await;
        assert_eq!(status, 401, "{header:?}");
        assert_eq!(body["error"]["code"], code, "{header:?}");
    }
    assert_eq!(app.sim.stats().total, 0, "nothing reached the upstream");
}

#[tokio::test]
async fn a_revoked_key_stops_working_at_once() {
    let app = spawn_app().await;
    let user = app.user("1.00").await;
    let url = format!("{}/resemble/tts/voices", app.base);
    assert_eq!(
        app.client
            .get(&url)
            .bearer_auth(&user.key)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let repo: Arc<dyn AccountRepository> = Arc::new(app.pg.clone());
    repo.revoke_key(&user.key_id).await.unwrap();
    let (status, body) = error_code(
        app.client
            .get(&url)
            .bearer_auth(&user.key)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 401);
    assert_eq!(body["error"]["code"], "revoked_api_key");
}

#[tokio::test]
async fn unknown_routes_are_json_404s() {
    let app = spawn_app().await;
    let (status, body) = error_code(
        app.client
            .get(format!("{}/resemble/nope", app.base))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 404);
    assert_eq!(body["error"]["code"], "route_not_found");
}

#[tokio::test]
async fn cloning_routes_are_gated_and_make_no_upstream_call() {
    let app = spawn_app().await;
    let user = app.user("1.00").await;
    let cases = [
        ("POST", "/resemble/voices"),
        ("GET", "/resemble/voices/abc"),
        ("POST", "/resemble/voices/abc/recordings"),
        ("POST", "/resemble/voices/abc/build"),
        ("DELETE", "/resemble/voices/abc"),
        ("POST", "/resemble/voice-design"),
    ];
    for (method, path) in cases {
        let req = app
            .client
            .request(method.parse().unwrap(), format!("{}{path}", app.base))
            .bearer_auth(&user.key)
            .json(&serde_json::json!({"name": "My Custom Voice", "consent_text": "I consent"}));
        let (status, body) = error_code(req.send().await.unwrap()).await;
        assert_eq!(status, 503, "{method} {path}");
        assert_eq!(body["error"]["code"], "business_plan_required");
        assert!(body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("RESEMBLE_BUSINESS_PLAN_ACTIVE"));
    }
    assert_eq!(app.sim.stats().total, 0, "the simulator saw no call");
}
