//! Bring-your-own-key (BY1–BY4): an account's own Resemble key is checked, sealed and then
//! used for its calls (sync, stream, jobs), its rows carry only the platform fee, other
//! accounts keep the platform key, and removing it goes back to the platform key.

use rust_decimal::Decimal;
use serde_json::{json, Value};

use crate::helpers::*;

const OWN_KEY: &str = "own-resemble-key-0123456789-WXYZ";

fn byok_app() -> Options {
    let mut sim = Options::default().sim;
    sim.extra_api_keys = vec![OWN_KEY.to_owned()];
    Options {
        sim,
        ..Options::default()
    }
}

impl TestApp {
    fn calls_with(&self, tail: &str) -> u64 {
        self.sim.stats().by_key.get(tail).copied().unwrap_or(0)
    }
}

#[tokio::test]
async fn an_own_key_is_checked_sealed_used_and_billed_only_the_platform_fee() {
    let app = spawn_app_with(byok_app()).await;
    let user = app.user("1.00").await;
    let other = app.user("1.00").await;

    // A key Resemble refuses is not stored (BY1).
    let (code, err) = app
        .call(
            &user,
            "PUT",
            "/account/resemble-key",
            Some(json!({"api_key": "not-a-valid-resemble-key-000"})),
        )
        .await;
    assert_eq!(code, 422, "{err}");
    assert_eq!(err["error"]["field"], "api_key");
    let (code, short) = app
        .call(
            &user,
            "PUT",
            "/account/resemble-key",
            Some(json!({"api_key": "short"})),
        )
        .await;
    assert_eq!(code, 422, "{short}");
    assert_eq!(
        app.psql("SELECT count(*) FROM account_provider_keys")
            .await
            .unwrap(),
        "0"
    );

    // The real one is stored sealed: never in clear, shown by its last four characters.
    let (code, status) = app
        .call(
            &user,
            "PUT",
            "/account/resemble-key",
            Some(json!({"api_key": OWN_KEY})),
        )
        .await;
    assert_eq!(code, 200, "{status}");
    assert_eq!(status["enabled"], true);
    assert_eq!(status["key_hint"], "…WXYZ");
    let stored = app
        .psql("SELECT encode(sealed, 'escape') FROM account_provider_keys")
        .await
        .unwrap();
    assert!(
        !stored.contains(OWN_KEY) && !stored.contains("0123456789"),
        "sealed"
    );
    let me: Value = app
        .client
        .get(format!("{}/account", app.base))
        .bearer_auth(&user.key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["byok"]["enabled"], true);

    // Synthesis goes out with the account's key, and the row is the platform fee only (BY2).
    let before = app.calls_with("WXYZ");
    let resp: Value = app
        .synthesize(&user, tts_body("Spoken on my own Resemble account.", "mp3"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        app.calls_with("WXYZ"),
        before + 1,
        "sent with the account's key"
    );
    let billing = &resp["billing"];
    assert_eq!(billing["byok"], true, "{resp}");
    assert_eq!(dec(&billing["provider_cost"]), Decimal::ZERO);
    let rows = app.usage(user.account).await;
    assert_eq!(rows.len(), 1);
    let row = &rows[0];
    assert!(row.byok);
    let fee = (row.quantity * row.unit_price * row.markup_rate)
        .round_dp_with_strategy(8, rust_decimal::RoundingStrategy::MidpointAwayFromZero);
    assert_eq!(row.charged, fee);
    assert_eq!(row.markup, row.charged);
    assert_eq!(row.provider_cost, Decimal::ZERO);
    assert_eq!(
        app.account(user.account).await.balance,
        Decimal::ONE - row.charged
    );

    // A job is submitted and polled with the account's key too.
    let audio = app
        .stored_audio_url(&user, "Detect me.", json!({"output_format": "wav"}))
        .await;
    let job: Value = app
        .client
        .post(format!("{}/resemble/detect", app.base))
        .bearer_auth(&user.key)
        .json(&json!({ "audio_url": audio }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = job["job_id"].as_str().unwrap().to_owned();
    let done = eventually(|| async {
        let j: Value = app
            .client
            .get(format!("{}/resemble/detect/{id}?wait=2", app.base))
            .bearer_auth(&user.key)
            .send()
            .await
            .ok()?
            .json()
            .await
            .ok()?;
        (j["status"] == "completed").then_some(j)
    })
    .await
    .expect("the detect job completes");
    assert_eq!(done["billing"]["byok"], true);
    assert_eq!(dec(&done["billing"]["provider_cost"]), Decimal::ZERO);

    // Another account still uses (and pays for) the platform key.
    let platform_before = app.calls_with("-key");
    let theirs: Value = app
        .synthesize(&other, tts_body("Platform key.", "mp3"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(theirs["billing"]["byok"], false);
    assert!(dec(&theirs["billing"]["provider_cost"]) > Decimal::ZERO);
    assert_eq!(
        app.calls_with("-key"),
        platform_before + 1,
        "sim-key ends in -key"
    );

    // Removing the key goes back to the platform key and its prices.
    let resp = app
        .client
        .delete(format!("{}/account/resemble-key", app.base))
        .bearer_auth(&user.key)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let own_before = app.calls_with("WXYZ");
    let back: Value = app
        .synthesize(&user, tts_body("Back on the platform key.", "mp3"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(back["billing"]["byok"], false);
    assert_eq!(app.calls_with("WXYZ"), own_before);
}

#[tokio::test]
async fn an_unreadable_sealed_key_fails_the_call_and_never_falls_back_to_the_platform_key() {
    let app = spawn_app_with(byok_app()).await;
    let user = app.user("1.00").await;
    let (code, _) = app
        .call(
            &user,
            "PUT",
            "/account/resemble-key",
            Some(json!({"api_key": OWN_KEY})),
        )
        .await;
    assert_eq!(code, 200);
    // Corrupt the sealed bytes, as a changed INDOX_SECRETS_KEY would make them unreadable.
    app.psql("UPDATE account_provider_keys SET sealed = '\\x00112233445566778899aabbccddeeff'")
        .await
        .unwrap();
    let platform_before = app.calls_with("-key");
    let resp = app
        .synthesize(&user, tts_body("Should not go out.", "mp3"))
        .await;
    assert_eq!(resp.status(), 502);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], "byok_key_unreadable");
    assert_eq!(
        app.calls_with("-key"),
        platform_before,
        "no fallback to the platform key"
    );
    assert!(app.usage(user.account).await.is_empty(), "nothing charged");
}
