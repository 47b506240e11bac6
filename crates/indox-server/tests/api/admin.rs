//! The admin API (`/api/v1/admin/*`, rules AD1–AD8): only the admin key opens it; accounts,
//! keys, top-ups (idempotent with a reference), markups, rate-limit overrides and dead tasks.

use rust_decimal::Decimal;
use serde_json::{json, Value};

use crate::helpers::*;

/// An admin request with the admin key.
fn admin(app: &TestApp, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
    app.client
        .request(method, format!("{}/admin{path}", app.base))
        .bearer_auth(ADMIN_KEY)
}

async fn json_of(resp: reqwest::Response, status: u16) -> Value {
    let got = resp.status().as_u16();
    let body: Value = resp.json().await.expect("admin answers are JSON");
    assert_eq!(got, status, "{body}");
    body
}

async fn voices_status(app: &TestApp, key: &str) -> u16 {
    app.client
        .get(format!("{}/resemble/tts/voices", app.base))
        .bearer_auth(key)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn rule_ad1_only_the_admin_key_opens_the_admin_api_and_refusals_change_nothing() {
    let app = spawn_app().await;
    let user = app.user("1.00").await;
    let acct = user.account;
    let tasks = app.app.tasks.clone();
    let dead = tasks
        .enqueue("admin.test.unknown", json!({}))
        .await
        .unwrap();
    tasks.fail(dead, "x", None).await.unwrap();

    let attempts: Vec<(reqwest::Method, String, Value)> = vec![
        (reqwest::Method::GET, "/accounts".into(), Value::Null),
        (
            reqwest::Method::POST,
            "/accounts".into(),
            json!({"name": "mallory"}),
        ),
        (
            reqwest::Method::GET,
            format!("/accounts/{acct}"),
            Value::Null,
        ),
        (
            reqwest::Method::POST,
            format!("/accounts/{acct}/keys"),
            json!({}),
        ),
        (
            reqwest::Method::POST,
            format!("/accounts/{acct}/top-ups"),
            json!({"amount": "5.00"}),
        ),
        (
            reqwest::Method::PUT,
            format!("/accounts/{acct}/markup"),
            json!({"markup_rate": "9"}),
        ),
        (
            reqwest::Method::PUT,
            format!("/accounts/{acct}/rate-limits"),
            json!({"limit": 1, "window_seconds": 60}),
        ),
        (
            reqwest::Method::DELETE,
            format!("/keys/{}", user.key_id),
            Value::Null,
        ),
        (reqwest::Method::GET, "/dead-tasks".into(), Value::Null),
        (
            reqwest::Method::POST,
            format!("/dead-tasks/{dead}/retry"),
            Value::Null,
        ),
    ];
    let wrong_admin = format!("{ADMIN_KEY}x");
    let credentials: [(Option<&str>, &str); 3] = [
        (None, "no key"),
        (Some(wrong_admin.as_str()), "a wrong admin key"),
        (Some(user.key.as_str()), "an account's API key"),
    ];
    for (method, path, body) in &attempts {
        for (key, what) in credentials {
            let mut req = app
                .client
                .request(method.clone(), format!("{}/admin{path}", app.base));
            if let Some(k) = key {
                req = req.bearer_auth(k);
            }
            if !body.is_null() {
                req = req.json(body);
            }
            let (status, err) = error_code(req.send().await.unwrap()).await;
            assert_eq!(status, 401, "{method} {path} with {what}: {err}");
            assert_eq!(err["error"]["code"], "invalid_admin_key", "{what}");
        }
    }

    // Nothing changed.
    let account = app.account(acct).await;
    assert_eq!(account.balance, Decimal::ONE);
    assert_eq!(account.markup_rate, None);
    assert_eq!(
        voices_status(&app, &user.key).await,
        200,
        "the key still works"
    );
    let list = json_of(
        admin(&app, reqwest::Method::GET, "/accounts")
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    assert_eq!(list["total_count"], 1, "no account was created");
    let dead_now = json_of(
        admin(&app, reqwest::Method::GET, "/dead-tasks")
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    assert_eq!(
        dead_now["items"][0]["id"], dead,
        "the dead task was not retried"
    );
    let limits = json_of(
        admin(
            &app,
            reqwest::Method::GET,
            &format!("/accounts/{acct}/rate-limits"),
        )
        .send()
        .await
        .unwrap(),
        200,
    )
    .await;
    assert_eq!(limits["overrides"], json!([]));
}

#[tokio::test]
async fn rule_ad2_create_an_account_and_a_key_top_up_and_the_key_works() {
    let app = spawn_app().await;
    let created = json_of(
        admin(&app, reqwest::Method::POST, "/accounts")
            .json(&json!({"name": "acme", "markup_rate": "0.25"}))
            .send()
            .await
            .unwrap(),
        201,
    )
    .await;
    let id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(created["name"], "acme");
    assert_eq!(dec(&created["balance"]), Decimal::ZERO);
    assert_eq!(dec(&created["markup_rate"]), Decimal::new(25, 2));
    assert_eq!(created["keys"], json!([]));

    let key = json_of(
        admin(&app, reqwest::Method::POST, &format!("/accounts/{id}/keys"))
            .json(&json!({"label": "prod"}))
            .send()
            .await
            .unwrap(),
        201,
    )
    .await;
    let api_key = key["api_key"].as_str().unwrap().to_owned();
    let key_id = key["key_id"].as_str().unwrap().to_owned();
    assert!(api_key.starts_with(&format!("ixk_{key_id}_")));
    assert_eq!(key["label"], "prod");

    // A new account cannot pay for anything yet.
    let user = User {
        account: id.parse().unwrap(),
        key: api_key.clone(),
        key_id: key_id.clone(),
    };
    assert_eq!(
        app.synthesize(&user, tts_body("Hi", "mp3")).await.status(),
        402
    );

    let topped = json_of(
        admin(
            &app,
            reqwest::Method::POST,
            &format!("/accounts/{id}/top-ups"),
        )
        .json(&json!({"amount": "10.00"}))
        .send()
        .await
        .unwrap(),
        200,
    )
    .await;
    assert_eq!(dec(&topped["balance"]), Decimal::new(1000, 2));
    assert_eq!(dec(&topped["amount"]), Decimal::new(1000, 2));
    assert_eq!(topped["replayed"], false);
    assert_eq!(voices_status(&app, &api_key).await, 200);

    // The account shows its key id and label, never the secret.
    let resp = admin(&app, reqwest::Method::GET, &format!("/accounts/{id}"))
        .send()
        .await
        .unwrap();
    let text = resp.text().await.unwrap();
    let secret = api_key.rsplit('_').next().unwrap();
    assert!(
        !text.contains(secret),
        "the secret never shows again: {text}"
    );
    let detail: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(dec(&detail["balance"]), Decimal::new(1000, 2));
    assert_eq!(dec(&detail["available"]), Decimal::new(1000, 2));
    assert_eq!(dec(&detail["held"]), Decimal::ZERO);
    assert_eq!(detail["keys"][0]["key_id"], key_id.as_str());
    assert_eq!(detail["keys"][0]["label"], "prod");
    assert_eq!(detail["keys"][0]["revoked_at"], Value::Null);
    assert!(detail["created_at"].is_string());

    // Paged listing, oldest first.
    for name in ["b", "c"] {
        json_of(
            admin(&app, reqwest::Method::POST, "/accounts")
                .json(&json!({ "name": name }))
                .send()
                .await
                .unwrap(),
            201,
        )
        .await;
    }
    let page = json_of(
        admin(&app, reqwest::Method::GET, "/accounts?page=2&page_size=2")
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    assert_eq!(page["total_count"], 3);
    assert_eq!(page["num_pages"], 2);
    assert_eq!(page["page"], 2);
    assert_eq!(page["items"].as_array().unwrap().len(), 1);
    assert_eq!(page["items"][0]["name"], "c");
    let (status, err) = error_code(
        admin(&app, reqwest::Method::GET, "/accounts?page_size=0")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 422);
    assert_eq!(err["error"]["field"], "page_size");
}

#[tokio::test]
async fn account_requests_are_validated_and_unknown_ids_are_404() {
    let app = spawn_app().await;
    let cases = [
        (json!({}), "name"),
        (json!({"name": "  "}), "name"),
        (json!({"name": "x", "markup_rate": 0.15}), "markup_rate"),
        (json!({"name": "x", "markup_rate": "11"}), "markup_rate"),
    ];
    for (body, field) in cases {
        let (status, err) = error_code(
            admin(&app, reqwest::Method::POST, "/accounts")
                .json(&body)
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(status, 422, "{body}");
        assert_eq!(err["error"]["field"], field, "{body}");
        assert!(err["error"]["request_id"].is_string());
    }
    let (status, err) = error_code(
        admin(&app, reqwest::Method::POST, "/accounts")
            .json(&json!({"name": "x", "markup": "0.1"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 422);
    assert_eq!(err["error"]["code"], "unknown_field");

    let unknown = uuid::Uuid::new_v4();
    for (method, path) in [
        (reqwest::Method::GET, format!("/accounts/{unknown}")),
        (reqwest::Method::GET, "/accounts/not-a-uuid".to_owned()),
        (reqwest::Method::POST, format!("/accounts/{unknown}/keys")),
        (
            reqwest::Method::GET,
            format!("/accounts/{unknown}/rate-limits"),
        ),
    ] {
        let (status, err) =
            error_code(admin(&app, method.clone(), &path).send().await.unwrap()).await;
        assert_eq!(status, 404, "{method} {path}");
        assert_eq!(err["error"]["code"], "account_not_found");
    }
    let (status, err) = error_code(
        admin(&app, reqwest::Method::DELETE, "/keys/0123456789abcdef")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 404);
    assert_eq!(err["error"]["code"], "key_not_found");
    assert_eq!(
        json_of(
            admin(&app, reqwest::Method::GET, "/accounts")
                .send()
                .await
                .unwrap(),
            200
        )
        .await["total_count"],
        0
    );
}

#[tokio::test]
async fn rule_ad3_top_ups_are_positive_decimals_and_idempotent_with_a_reference() {
    let app = spawn_app().await;
    let user = app.user("0").await;
    let acct = user.account;
    let top_up = |body: Value| {
        admin(
            &app,
            reqwest::Method::POST,
            &format!("/accounts/{acct}/top-ups"),
        )
        .json(&body)
        .send()
    };
    for body in [
        json!({}),
        json!({"amount": 10}),
        json!({"amount": 10.5}),
        json!({"amount": "0"}),
        json!({"amount": "-5.00"}),
        json!({"amount": "1.123456789"}),
        json!({"amount": "1e3"}),
        json!({"amount": "ten"}),
    ] {
        let (status, err) = error_code(top_up(body.clone()).await.unwrap()).await;
        assert_eq!(status, 422, "{body}");
        assert_eq!(err["error"]["field"], "amount", "{body}");
    }
    let (status, err) = error_code(
        top_up(json!({"amount": "1.00", "reference": "has space"}))
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 422);
    assert_eq!(err["error"]["field"], "reference");
    assert_eq!(
        app.account(acct).await.balance,
        Decimal::ZERO,
        "nothing credited"
    );

    let exact = json_of(top_up(json!({"amount": "0.00000001"})).await.unwrap(), 200).await;
    assert_eq!(dec(&exact["balance"]), Decimal::new(1, 8));

    let body = json!({"amount": "25.50", "reference": "invoice-2026-001", "note": "January"});
    let first = top_up(body.clone()).await.unwrap();
    assert!(first.headers().get("idempotent-replayed").is_none());
    let first = json_of(first, 200).await;
    assert_eq!(first["replayed"], false);
    assert_eq!(first["reference"], "invoice-2026-001");
    let again = top_up(body.clone()).await.unwrap();
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    let again = json_of(again, 200).await;
    assert_eq!(again["replayed"], true);
    assert_eq!(dec(&again["balance"]), dec(&first["balance"]));
    let expected = Decimal::new(2550, 2) + Decimal::new(1, 8);
    assert_eq!(app.account(acct).await.balance, expected, "credited once");

    let (status, err) = error_code(
        top_up(json!({"amount": "30.00", "reference": "invoice-2026-001"}))
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 422);
    assert_eq!(err["error"]["code"], "reference_reused");
    assert_eq!(err["error"]["field"], "reference");
    assert_eq!(app.account(acct).await.balance, expected);

    // References are per account.
    let other = app.user("0").await;
    let elsewhere = json_of(
        admin(
            &app,
            reqwest::Method::POST,
            &format!("/accounts/{}/top-ups", other.account),
        )
        .json(&body)
        .send()
        .await
        .unwrap(),
        200,
    )
    .await;
    assert_eq!(elsewhere["replayed"], false);

    let (status, err) = error_code(
        admin(
            &app,
            reqwest::Method::POST,
            &format!("/accounts/{}/top-ups", uuid::Uuid::new_v4()),
        )
        .json(&json!({"amount": "1.00", "reference": "r-1"}))
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(status, 404);
    assert_eq!(err["error"]["code"], "account_not_found");
}

#[tokio::test]
async fn rule_ad4_a_markup_change_shows_up_in_the_next_synthesis_billing() {
    let app = spawn_app().await;
    let user = app.user("1.00").await;
    let set = |rate: Value| {
        admin(
            &app,
            reqwest::Method::PUT,
            &format!("/accounts/{}/markup", user.account),
        )
        .json(&json!({ "markup_rate": rate }))
        .send()
    };
    let billed_markup = || async {
        let body: Value = app
            .synthesize(&user, tts_body("Hello", "mp3"))
            .await
            .json()
            .await
            .unwrap();
        dec(&body["billing"]["markup_rate"])
    };
    assert_eq!(billed_markup().await, Decimal::new(20, 2), "the default");
    let changed = json_of(set(json!("0.5")).await.unwrap(), 200).await;
    assert_eq!(dec(&changed["markup_rate"]), Decimal::new(5, 1));
    assert_eq!(billed_markup().await, Decimal::new(5, 1));
    let cleared = json_of(set(Value::Null).await.unwrap(), 200).await;
    assert_eq!(cleared["markup_rate"], Value::Null);
    assert_eq!(billed_markup().await, Decimal::new(20, 2));

    for bad in [json!("-0.1"), json!("10.5"), json!(0.3), json!("0.1234567")] {
        let (status, err) = error_code(set(bad.clone()).await.unwrap()).await;
        assert_eq!(status, 422, "{bad}");
        assert_eq!(err["error"]["field"], "markup_rate");
    }
    let (status, _) = error_code(
        admin(
            &app,
            reqwest::Method::PUT,
            &format!("/accounts/{}/markup", user.account),
        )
        .json(&json!({}))
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(
        status, 422,
        "markup_rate must be given (null for the default)"
    );
    assert_eq!(app.account(user.account).await.markup_rate, None);
}

#[tokio::test]
async fn rule_ad5_a_rate_limit_override_throttles_one_account_and_removing_it_restores_the_default()
{
    let app = spawn_app().await;
    let limited = app.user("1.00").await;
    let other = app.user("1.00").await;
    let path = format!("/accounts/{}/rate-limits", limited.account);
    let set = json_of(
        admin(&app, reqwest::Method::PUT, &path)
            .json(&json!({"capability": "tts", "limit": 1, "window_seconds": 60}))
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    assert_eq!(set["capability"], "tts");
    assert_eq!(set["limit"], 1);
    assert_eq!(set["window_seconds"], 60);

    let first = app.synthesize(&limited, tts_body("Hi", "mp3")).await;
    assert_eq!(first.status(), 200);
    assert_eq!(first.headers()["x-ratelimit-limit"], "1");
    let second = app.synthesize(&limited, tts_body("Hi", "mp3")).await;
    let (status, err) = error_code(second).await;
    assert_eq!(status, 429);
    assert_eq!(err["error"]["code"], "rate_limited");
    for _ in 0..2 {
        let r = app.synthesize(&other, tts_body("Hi", "mp3")).await;
        assert_eq!(
            r.status(),
            200,
            "another account keeps the configured limit"
        );
        assert_eq!(r.headers()["x-ratelimit-limit"], "1000");
    }
    // Other capabilities of the limited account are untouched.
    assert_eq!(voices_status(&app, &limited.key).await, 200);

    // An `all` override sits beside it; the tts one still wins for tts.
    json_of(
        admin(&app, reqwest::Method::PUT, &path)
            .json(&json!({"capability": "all", "limit": 500, "window_seconds": 3600}))
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    let listed = json_of(
        admin(&app, reqwest::Method::GET, &path)
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    let scopes: Vec<&str> = listed["overrides"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["capability"].as_str().unwrap())
        .collect();
    assert_eq!(scopes, ["all", "tts"]);

    // Removing it restores the configured limit at once (this process invalidates its cache).
    json_of(
        admin(&app, reqwest::Method::DELETE, &format!("{path}/tts"))
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    let after = app.synthesize(&limited, tts_body("Hi", "mp3")).await;
    assert_eq!(after.status(), 200);
    assert_eq!(
        after.headers()["x-ratelimit-limit"],
        "500",
        "the `all` override now applies"
    );
    json_of(
        admin(&app, reqwest::Method::DELETE, &format!("{path}/all"))
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    let restored = app.synthesize(&limited, tts_body("Hi", "mp3")).await;
    assert_eq!(restored.headers()["x-ratelimit-limit"], "1000");

    let (status, err) = error_code(
        admin(&app, reqwest::Method::DELETE, &format!("{path}/tts"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 404);
    assert_eq!(err["error"]["code"], "rate_limit_override_not_found");

    for (body, field) in [
        (
            json!({"capability": "everything", "limit": 1, "window_seconds": 60}),
            "capability",
        ),
        (
            json!({"capability": "tts", "limit": 0, "window_seconds": 60}),
            "limit",
        ),
        (
            json!({"capability": "tts", "limit": "5", "window_seconds": 60}),
            "limit",
        ),
        (json!({"capability": "tts", "limit": 5}), "window_seconds"),
        (
            json!({"capability": "tts", "limit": 5, "window_seconds": 86_401}),
            "window_seconds",
        ),
    ] {
        let (status, err) = error_code(
            admin(&app, reqwest::Method::PUT, &path)
                .json(&body)
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(status, 422, "{body}");
        assert_eq!(err["error"]["field"], field, "{body}");
    }
    let (status, err) = error_code(
        admin(
            &app,
            reqwest::Method::PUT,
            &format!("/accounts/{}/rate-limits", uuid::Uuid::new_v4()),
        )
        .json(&json!({"limit": 1, "window_seconds": 60}))
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(status, 404);
    assert_eq!(err["error"]["code"], "account_not_found");
}

#[tokio::test]
async fn rule_ad6_another_process_sees_an_override_within_its_cache_ttl() {
    // TTL 0: the peer reads overrides on every request, so its view is never stale.
    let opts = || Options {
        override_ttl: std::time::Duration::ZERO,
        ..Options::default()
    };
    let app = spawn_app_with(opts()).await;
    let peer = spawn_peer(&app, opts()).await;
    let user = app.user("1.00").await;
    assert_eq!(
        peer.synthesize(&user, tts_body("Hi", "mp3")).await.status(),
        200
    );
    let path = format!("/accounts/{}/rate-limits", user.account);
    json_of(
        admin(&app, reqwest::Method::PUT, &path)
            .json(&json!({"limit": 1, "window_seconds": 60}))
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    let r = peer.synthesize(&user, tts_body("Hi", "mp3")).await;
    assert_eq!(
        r.status(),
        429,
        "the peer's window already holds one request"
    );
    json_of(
        admin(&app, reqwest::Method::DELETE, &format!("{path}/all"))
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    assert_eq!(
        peer.synthesize(&user, tts_body("Hi", "mp3")).await.status(),
        200
    );
}

#[tokio::test]
async fn rule_ad7_dead_tasks_are_listed_and_retried() {
    let app = spawn_app().await;
    let tasks = app.app.tasks.clone();
    let id = tasks
        .enqueue("admin.test.unknown", json!({"n": 1}))
        .await
        .unwrap();
    tasks.fail(id, "x", None).await.unwrap();

    let listed = json_of(
        admin(&app, reqwest::Method::GET, "/dead-tasks?limit=10")
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    let item = &listed["items"][0];
    assert_eq!(item["id"], id);
    assert_eq!(item["kind"], "admin.test.unknown");
    assert_eq!(item["last_error"], "x");
    assert_eq!(item["payload"], json!({"n": 1}));

    let retried = json_of(
        admin(
            &app,
            reqwest::Method::POST,
            &format!("/dead-tasks/{id}/retry"),
        )
        .send()
        .await
        .unwrap(),
        200,
    )
    .await;
    assert_eq!(retried["requeued"], true);
    let listed = json_of(
        admin(&app, reqwest::Method::GET, "/dead-tasks")
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    assert_eq!(listed["items"], json!([]), "no longer dead");

    for path in [
        format!("/dead-tasks/{id}/retry"),
        "/dead-tasks/abc/retry".to_owned(),
    ] {
        let (status, err) = error_code(
            admin(&app, reqwest::Method::POST, &path)
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(status, 404, "{path}");
        assert_eq!(err["error"]["code"], "dead_task_not_found");
    }
    let (status, err) = error_code(
        admin(&app, reqwest::Method::GET, "/dead-tasks?limit=0")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 422);
    assert_eq!(err["error"]["field"], "limit");
}

#[tokio::test]
async fn rule_ad2_a_revoked_key_is_refused_at_once() {
    let app = spawn_app().await;
    let user = app.user("1.00").await;
    assert_eq!(voices_status(&app, &user.key).await, 200);
    let revoked = json_of(
        admin(
            &app,
            reqwest::Method::DELETE,
            &format!("/keys/{}", user.key_id),
        )
        .send()
        .await
        .unwrap(),
        200,
    )
    .await;
    assert_eq!(revoked["revoked"], true);
    let (status, err) = error_code(
        app.client
            .get(format!("{}/resemble/tts/voices", app.base))
            .bearer_auth(&user.key)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 401);
    assert_eq!(err["error"]["code"], "revoked_api_key");
    let detail = json_of(
        admin(
            &app,
            reqwest::Method::GET,
            &format!("/accounts/{}", user.account),
        )
        .send()
        .await
        .unwrap(),
        200,
    )
    .await;
    assert!(detail["keys"][0]["revoked_at"].is_string());
    // Revoking again is harmless.
    json_of(
        admin(
            &app,
            reqwest::Method::DELETE,
            &format!("/keys/{}", user.key_id),
        )
        .send()
        .await
        .unwrap(),
        200,
    )
    .await;
}

#[tokio::test]
async fn rule_ad3_concurrent_top_ups_with_one_reference_credit_once() {
    let app = spawn_app().await;
    let user = app.user("0").await;
    let url = format!("{}/admin/accounts/{}/top-ups", app.base, user.account);
    let sends = (0..8).map(|_| {
        app.client
            .post(&url)
            .bearer_auth(ADMIN_KEY)
            .json(&json!({"amount": "3.00", "reference": "race-1"}))
            .send()
    });
    let answers = futures_util::future::join_all(sends).await;
    let mut applied = 0;
    for a in answers {
        let body = json_of(a.unwrap(), 200).await;
        applied += usize::from(body["replayed"] == false);
    }
    assert_eq!(applied, 1, "exactly one request credited");
    assert_eq!(
        app.account(user.account).await.balance,
        Decimal::new(300, 2)
    );
}
