//! Voice cloning and design with the Business-plan gate open: the product page's snippet to
//! a built voice that synthesizes, consent kept and read back, the build billed once and then
//! monthly (moved there with an injected clock), owner-only use, training failures, and
//! voice design to a voice.

use std::sync::Arc;
use std::time::Duration;

use indox_core::{Clock, FixedClock};
use indox_retention::AssetClass;
use rust_decimal::Decimal;
use serde_json::{json, Value};

use crate::helpers::*;

fn open() -> Options {
    let mut sim = Options::default().sim;
    sim.voice_training_delay = Duration::from_millis(300);
    Options {
        business_plan: true,
        sim,
        job_poll_interval: chrono::Duration::milliseconds(100),
        ..Options::default()
    }
}

impl TestApp {
    /// Waits until the voice reaches `status` (or fails the test).
    async fn voice_status(&self, user: &User, uuid: &str, want: &str) -> Value {
        eventually(|| async {
            let (code, v) = self
                .call(user, "GET", &format!("/resemble/voices/{uuid}"), None)
                .await;
            (code == 200 && v["status"] == want).then_some(v)
        })
        .await
        .unwrap_or_else(|| panic!("voice {uuid} never reached {want}"))
    }

    /// A voice with one recording of real audio.
    async fn voice_with_recording(&self, user: &User, name: &str) -> String {
        let (code, voice) = self
            .call(
                user,
                "POST",
                "/resemble/voices",
                Some(
                    json!({"name": name, "consent_text": "I, the speaker, consent to this clone."}),
                ),
            )
            .await;
        assert_eq!(code, 201, "{voice}");
        let uuid = voice["uuid"].as_str().unwrap().to_owned();
        let sample = self
            .stored_audio_url(
                user,
                "This is my voice, recorded for cloning today.",
                json!({"output_format": "wav"}),
            )
            .await;
        let (code, rec) = self
            .call(
                user,
                "POST",
                &format!("/resemble/voices/{uuid}/recordings"),
                Some(json!({"fields": {"name": "sample-1", "audio_url": sample}})),
            )
            .await;
        assert_eq!(code, 201, "{rec}");
        uuid
    }
}

async fn count(app: &TestApp, user: &User) -> usize {
    rows_of(&app.usage(user.account).await, "voice_clone_rapid").len()
}

async fn renew(app: &TestApp) -> indox_server::app::cloning::RenewalReport {
    indox_server::app::cloning::renew_due(&app.app, app.app.clock.now())
        .await
        .unwrap()
}

fn rows_of<'a>(
    rows: &'a [indox_billing::UsageRecord],
    cap: &str,
) -> Vec<&'a indox_billing::UsageRecord> {
    rows.iter().filter(|r| r.capability == cap).collect()
}

#[tokio::test]
async fn the_product_page_cloning_snippet_builds_a_voice_that_synthesizes() {
    let app = spawn_app_with(open()).await;
    let user = app.user("10.00").await;
    let sample = app
        .stored_audio_url(
            &user,
            "This is my voice, recorded for cloning today.",
            json!({"output_format": "wav"}),
        )
        .await;
    let snippet = include_str!("snippets/cloning.py");
    let script = format!(
        "import time\nimport json\nimport requests\n\nAPI_KEY = \"{key}\"\nBASE_URL = \"{base}\"\n\n{body}\n\
         for _ in range(100):\n    voice = requests.get(f\"{{BASE_URL}}/resemble/voices/{{voice['uuid']}}\", headers={{\"Authorization\": f\"Bearer {{API_KEY}}\"}}).json()\n    if voice[\"status\"] == \"built\":\n        break\n    time.sleep(0.1)\n\
         resp = requests.post(f\"{{BASE_URL}}/resemble/tts/synthesize\", headers={{\"Authorization\": f\"Bearer {{API_KEY}}\"}}, json={{\"voice_uuid\": voice[\"uuid\"], \"text\": \"Hello in my own voice.\", \"output_format\": \"mp3\"}}).json()\n\
         print(json.dumps({{\"voice\": voice, \"tts\": {{\"duration\": resp.get(\"duration\"), \"billing\": resp.get(\"billing\")}}}}))\n",
        key = user.key,
        base = app.base,
        body = snippet.replace("https://…/sample.wav", &sample),
    );
    let out = run_python(&script).await;
    let done: Value = serde_json::from_str(out.trim()).unwrap();
    let voice = &done["voice"];
    assert_eq!(voice["status"], "built", "{done}");
    assert!(done["tts"]["duration"].as_f64().unwrap() > 0.5, "{done}");

    // The consent, who gave it and when, and the recording it covers are stored with the voice.
    assert_eq!(voice["consent"]["text"], "I consent…");
    assert_eq!(voice["consent"]["given_by"]["key_id"], user.key_id.as_str());
    assert_eq!(voice["consent"]["recordings"].as_array().unwrap().len(), 1);
    let recording_asset = voice["recordings"][0]["asset_id"].as_str().unwrap();
    let asset = app
        .app
        .assets
        .get(recording_asset.parse().unwrap())
        .await
        .unwrap();
    assert_eq!(asset.class, AssetClass::VoiceCloneRecording);
    assert_eq!(asset.expires_at, None, "recordings never expire");
    assert!(app
        .store()
        .list_keys("voice-recordings/")
        .await
        .unwrap()
        .contains(&asset.object_key));

    // Training was billed once, as one month of a rapid voice, and the synthesis as TTS.
    let rows = app.usage(user.account).await;
    let build = rows_of(&rows, "voice_clone_rapid");
    assert_eq!(build.len(), 1, "{rows:?}");
    assert_eq!(build[0].unit, "voice_month");
    assert_eq!(build[0].quantity, Decimal::ONE);
    assert_eq!(build[0].charged, Decimal::new(240, 2), "2.00 × (1 + 20 %)");
    assert_eq!(voice["build"]["billing"]["charged"], "2.40000000");
    assert_eq!(
        rows_of(&rows, "tts").len(),
        2,
        "the sample and the cloned voice's speech"
    );
}

#[tokio::test]
async fn consent_is_required_and_kept_and_only_the_owner_uses_the_voice() {
    let app = spawn_app_with(open()).await;
    let user = app.user("10.00").await;
    let other = app.user("10.00").await;

    for body in [
        json!({"name": "No consent"}),
        json!({"name": "Blank", "consent_text": "   "}),
    ] {
        let (code, err) = app
            .call(&user, "POST", "/resemble/voices", Some(body))
            .await;
        assert_eq!(code, 422, "{err}");
        assert_eq!(err["error"]["field"], "consent_text");
    }
    assert_eq!(app.sim.stats().total, 0, "refused before any upstream call");

    let uuid = app.voice_with_recording(&user, "Owner voice").await;
    let (code, consent) = app
        .call(
            &user,
            "GET",
            &format!("/resemble/voices/{uuid}/consent"),
            None,
        )
        .await;
    assert_eq!(code, 200);
    assert_eq!(consent["text"], "I, the speaker, consent to this clone.");
    assert_eq!(
        consent["given_by"]["account_id"],
        user.account.0.to_string()
    );
    assert_eq!(consent["recordings"].as_array().unwrap().len(), 1);
    // Consent cannot be rewritten, even by the database's owner.
    let rewrite = app
        .psql(&format!(
            "UPDATE clone_voices SET consent_text = 'changed' WHERE upstream_uuid = '{uuid}'"
        ))
        .await;
    assert!(rewrite.is_err(), "consent is immutable");

    // Building needs recordings that a build can use, and it is refused without charge otherwise.
    let (code, bare) = app
        .call(
            &user,
            "POST",
            "/resemble/voices",
            Some(json!({"name": "Pro", "voice_type": "professional", "consent_text": "I consent"})),
        )
        .await;
    assert_eq!(code, 201);
    let (code, err) = app
        .call(
            &user,
            "POST",
            &format!("/resemble/voices/{}/build", bare["uuid"].as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(code, 409, "{err}");
    assert!(err["error"]["message"]
        .as_str()
        .unwrap()
        .contains("at least 3"));

    let (code, _) = app
        .call(
            &user,
            "POST",
            &format!("/resemble/voices/{uuid}/build"),
            None,
        )
        .await;
    assert_eq!(code, 202);
    // A second build while the first runs is refused.
    let (code, _) = app
        .call(
            &user,
            "POST",
            &format!("/resemble/voices/{uuid}/build"),
            None,
        )
        .await;
    assert_eq!(code, 409);
    app.voice_status(&user, &uuid, "built").await;

    // Another account cannot see, change or speak with it.
    for (method, path) in [
        ("GET", format!("/resemble/voices/{uuid}")),
        ("GET", format!("/resemble/voices/{uuid}/consent")),
        ("POST", format!("/resemble/voices/{uuid}/build")),
        ("DELETE", format!("/resemble/voices/{uuid}")),
    ] {
        let (code, _) = app.call(&other, method, &path, None).await;
        assert_eq!(code, 404, "{method} {path}");
    }
    let tts = app
        .synthesize(&other, json!({"voice_uuid": uuid, "text": "Not mine."}))
        .await;
    assert_eq!(tts.status(), 404);
    assert!(app.usage(other.account).await.is_empty());
    let tts = app
        .synthesize(&user, json!({"voice_uuid": uuid, "text": "Mine."}))
        .await;
    assert_eq!(tts.status(), 200);

    // Deleting stops its use; its consent and recordings stay.
    let (code, deleted) = app
        .call(&user, "DELETE", &format!("/resemble/voices/{uuid}"), None)
        .await;
    assert_eq!(code, 200);
    assert_eq!(deleted["status"], "deleted");
    assert_eq!(
        deleted["consent"]["recordings"].as_array().unwrap().len(),
        1
    );
    let tts = app
        .synthesize(&user, json!({"voice_uuid": uuid, "text": "Gone."}))
        .await;
    assert_eq!(tts.status(), 404);
}

#[tokio::test]
async fn a_failed_training_releases_its_hold_and_charges_nothing() {
    let app = spawn_app_with(open()).await;
    let user = app.user("10.00").await;
    let uuid = app.voice_with_recording(&user, "please fail-voice").await;
    let (code, started) = app
        .call(
            &user,
            "POST",
            &format!("/resemble/voices/{uuid}/build"),
            None,
        )
        .await;
    assert_eq!(code, 202, "{started}");
    assert_eq!(started["status"], "training");
    assert!(
        app.account(user.account).await.held > Decimal::ZERO,
        "a month is held"
    );
    let failed = app.voice_status(&user, &uuid, "failed").await;
    assert_eq!(failed["build"]["status"], "failed");
    assert!(rows_of(&app.usage(user.account).await, "voice_clone_rapid").is_empty());
    let account = app.account(user.account).await;
    assert_eq!(account.held, Decimal::ZERO, "the hold was released");
}

#[tokio::test]
async fn subscriptions_renew_monthly_once_per_period_and_stop_when_deleted() {
    let clock = Arc::new(FixedClock::new(chrono::Utc::now()));
    let app = spawn_app_with(Options {
        clock: Some(clock.clone()),
        ..open()
    })
    .await;
    let user = app.user("5.00").await;
    let uuid = app.voice_with_recording(&user, "Monthly").await;
    let (code, _) = app
        .call(
            &user,
            "POST",
            &format!("/resemble/voices/{uuid}/build"),
            None,
        )
        .await;
    assert_eq!(code, 202);
    let built = app.voice_status(&user, &uuid, "built").await;
    let anchor: chrono::DateTime<chrono::Utc> =
        serde_json::from_value(built["subscription"]["started_at"].clone()).unwrap();
    let months = |n: u32| indox_voice::cloning::period_start(anchor, n);
    assert_eq!(count(&app, &user).await, 1);
    // A second before the month ends nothing is due.
    clock.set(months(1) - chrono::Duration::seconds(1));
    assert_eq!(renew(&app).await.charged, 0);
    // On the day, one charge; running the pass again, or twice at once, charges nothing more.
    clock.set(months(1));
    let (a, b) = tokio::join!(renew(&app), renew(&app));
    assert_eq!(a.charged + b.charged, 1, "{a:?} {b:?}");
    assert_eq!(renew(&app).await.charged, 0);
    assert_eq!(count(&app, &user).await, 2);

    // Balance 5.00 − 2 × 2.40 = 0.20: the third month cannot be paid, so the voice is
    // suspended (402) until a top-up; the next pass then charges it.
    clock.set(months(2));
    assert_eq!(renew(&app).await.past_due, 1);
    let tts = app
        .synthesize(&user, json!({"voice_uuid": uuid, "text": "Suspended."}))
        .await;
    assert_eq!(tts.status(), 402);
    app.app
        .auth
        .top_up(user.account, Decimal::new(500, 2), "test")
        .await
        .unwrap();
    assert_eq!(renew(&app).await.charged, 1);
    assert_eq!(count(&app, &user).await, 3);
    let tts = app
        .synthesize(&user, json!({"voice_uuid": uuid, "text": "Back."}))
        .await;
    assert_eq!(tts.status(), 200);

    // Deleted: no more charges, however long we wait.
    let (code, _) = app
        .call(&user, "DELETE", &format!("/resemble/voices/{uuid}"), None)
        .await;
    assert_eq!(code, 200);
    clock.set(months(12));
    assert_eq!(renew(&app).await.charged, 0);
    assert_eq!(count(&app, &user).await, 3);
    // Every renewal row has its own request id, derived from the voice and the period.
    let rows = app.usage(user.account).await;
    let mut ids: Vec<_> = rows_of(&rows, "voice_clone_rapid")
        .iter()
        .map(|r| r.request_id.clone())
        .collect();
    ids.dedup();
    assert_eq!(ids.len(), 3);
}

#[tokio::test]
async fn recordings_from_voice_clone_uploads_and_not_from_generic_ones() {
    let app = spawn_app_with(open()).await;
    let user = app.user("10.00").await;
    let (code, voice) = app
        .call(
            &user,
            "POST",
            "/resemble/voices",
            Some(json!({"name": "From uploads", "consent_text": "I consent"})),
        )
        .await;
    assert_eq!(code, 201);
    let uuid = voice["uuid"].as_str().unwrap();
    let sample = app
        .stored_audio_url(
            &user,
            "An uploaded recording of my voice.",
            json!({"output_format": "wav"}),
        )
        .await;
    let wav = reqwest::get(&sample).await.unwrap().bytes().await.unwrap();
    let upload = |purpose: &'static str| {
        let form = reqwest::multipart::Form::new()
            .part(
                "file",
                reqwest::multipart::Part::bytes(wav.to_vec()).file_name("me.wav"),
            )
            .text("purpose", purpose);
        app.client
            .post(format!("{}/resemble/uploads", app.base))
            .bearer_auth(&user.key)
            .multipart(form)
            .send()
    };
    let generic: Value = upload("stt_input").await.unwrap().json().await.unwrap();
    let (code, err) = app
        .call(
            &user,
            "POST",
            &format!("/resemble/voices/{uuid}/recordings"),
            Some(json!({"fields": {"name": "a", "upload_id": generic["upload_id"]}})),
        )
        .await;
    assert_eq!(code, 422, "{err}");
    assert!(err["error"]["message"]
        .as_str()
        .unwrap()
        .contains("purpose=voice_clone"));

    let clone: Value = upload("voice_clone").await.unwrap().json().await.unwrap();
    let id = clone["upload_id"].clone();
    let added = eventually(|| async {
        let (code, rec) = app
            .call(
                &user,
                "POST",
                &format!("/resemble/voices/{uuid}/recordings"),
                Some(json!({"fields": {"name": "b", "upload_id": id}})),
            )
            .await;
        (code == 201).then_some(rec)
    })
    .await
    .expect("the voice_clone upload becomes a recording");
    assert_eq!(
        added["recording"]["asset_id"], id,
        "the upload itself is the permanent recording"
    );
    // The same name twice is a conflict, and the upstream is not asked.
    let before = app.sim.stats().total;
    let (code, _) = app
        .call(
            &user,
            "POST",
            &format!("/resemble/voices/{uuid}/recordings"),
            Some(json!({"fields": {"name": "b", "upload_id": id}})),
        )
        .await;
    assert_eq!(code, 409);
    assert_eq!(app.sim.stats().total, before);
}

#[tokio::test]
async fn a_design_candidate_becomes_a_voice_and_candidates_expire_after_14_days() {
    let clock = Arc::new(FixedClock::new(chrono::Utc::now()));
    let app = spawn_app_with(Options {
        clock: Some(clock.clone()),
        ..open()
    })
    .await;
    let user = app.user("10.00").await;
    let (code, design) = app
        .call(
            &user,
            "POST",
            "/resemble/voice-design",
            Some(json!({"prompt": "A warm, calm narrator with a low voice"})),
        )
        .await;
    assert_eq!(code, 201, "{design}");
    let candidates = design["candidates"].as_array().unwrap();
    assert_eq!(candidates.len(), 3);
    for c in candidates {
        let asset = app
            .app
            .assets
            .get(c["asset_id"].as_str().unwrap().parse().unwrap())
            .await
            .unwrap();
        assert_eq!(asset.class, AssetClass::VoiceDesignCandidate);
        assert_eq!(
            asset.expires_at,
            Some(asset.created_at + chrono::Duration::days(14))
        );
        let audio = reqwest::get(c["audio_url"].as_str().unwrap())
            .await
            .unwrap();
        assert_eq!(audio.status(), 200);
    }
    let design_id = design["design_id"].as_str().unwrap().to_owned();

    // Consent is required here too.
    let (code, _) = app
        .call(
            &user,
            "POST",
            &format!("/resemble/voice-design/{design_id}/1/voice"),
            Some(json!({"name": "Narrator"})),
        )
        .await;
    assert_eq!(code, 422);
    let (code, voice) = app
        .call(
            &user,
            "POST",
            &format!("/resemble/voice-design/{design_id}/1/voice"),
            Some(
                json!({"name": "Narrator", "consent_text": "Designed voice; I accept the terms."}),
            ),
        )
        .await;
    assert_eq!(code, 202, "{voice}");
    assert_eq!(voice["source"], "design");
    let uuid = voice["uuid"].as_str().unwrap().to_owned();
    let built = app.voice_status(&user, &uuid, "built").await;
    // The chosen candidate's audio is kept permanently as the voice's source recording.
    let rec = built["recordings"][0]["asset_id"].as_str().unwrap();
    let rec = app.app.assets.get(rec.parse().unwrap()).await.unwrap();
    assert_eq!(rec.class, AssetClass::VoiceCloneRecording);
    assert_eq!(rec.expires_at, None);
    assert_eq!(
        rows_of(&app.usage(user.account).await, "voice_clone_rapid").len(),
        1
    );
    let tts = app
        .synthesize(&user, json!({"voice_uuid": uuid, "text": "Designed."}))
        .await;
    assert_eq!(tts.status(), 200);

    // After 14 days the candidates are gone: swept from the bucket and refused as a source.
    clock.set(clock.now() + chrono::Duration::days(14));
    indox_server::app::retention::sweep_once(&app.app, clock.now())
        .await
        .unwrap();
    assert!(app
        .store()
        .list_keys("voice-design/")
        .await
        .unwrap()
        .is_empty());
    let (code, err) = app
        .call(
            &user,
            "POST",
            &format!("/resemble/voice-design/{design_id}/0/voice"),
            Some(json!({"name": "Late", "consent_text": "I consent"})),
        )
        .await;
    assert_eq!(code, 410, "{err}");
    assert!(!app
        .store()
        .list_keys("voice-recordings/")
        .await
        .unwrap()
        .is_empty());
}
