//! The API contract: the OpenAPI document the gateway serves (`/api/v1/openapi.json`,
//! generated from the code) is checked against the running gateway by schemathesis (from
//! PyPI; `cargo xtask ci` installs it): no 5xx, every response conforms to the document
//! (status, content type, headers, body schema), malformed input is rejected with 4xx, and
//! undocumented methods answer 405. Two passes: an account key for the public API, the
//! admin key for `/admin/*`, `/metrics` and `/analytics`.

use std::path::Path;
use std::time::Instant;

use crate::helpers::*;

/// Per-check settings. Schema-valid requests may still be refused for reasons a schema cannot
/// express (a URL that cannot be fetched, an unknown voice, the balance, a design's age, a
/// resource's state): 402, 410 and 422 are accepted answers to them, besides the defaults.
const CONFIG: &str = r#"
[checks.positive_data_acceptance]
expected-statuses = ["2xx", "401", "402", "403", "404", "409", "410", "422", "429"]
"#;

/// Runs one schemathesis pass (`--checks all`, the examples, coverage and fuzzing phases;
/// not the stateful phase, whose `use_after_free` check would flag that a deleted cloned voice
/// stays readable, which is deliberate: its consent record is kept). `CONTRACT_MAX_EXAMPLES`
/// (default 40 per operation) and `CONTRACT_SEED` (fixed by default, so CI is repeatable)
/// widen or vary a local run. Returns whether it passed and its output.
async fn run(
    dir: &Path,
    schema_url: &str,
    key: &str,
    filter: &[&str],
    name: &str,
) -> (bool, String) {
    let examples = std::env::var("CONTRACT_MAX_EXAMPLES").unwrap_or_else(|_| "40".to_owned());
    let seed = std::env::var("CONTRACT_SEED").unwrap_or_else(|_| "20260101".to_owned());
    let started = Instant::now();
    let out = tokio::process::Command::new("python3")
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .args(["-m", "schemathesis.cli"])
        .args(["--config-file", &format!("{name}.toml")])
        .arg("run")
        .arg(schema_url)
        .args(["--checks", "all"])
        .args(["--phases", "examples,coverage,fuzzing"])
        .args(["--max-examples", &examples])
        .args(["--seed", &seed])
        // One worker: hypothesis under Python 3.11 can trip over `ast.parse` in threads.
        .args(["--workers", "1"])
        .args(["--request-timeout", "30"])
        .args(["--header", &format!("Authorization: Bearer {key}")])
        .args(filter)
        .output()
        .await
        .expect("python3 runs (schemathesis: `cargo xtask ci` installs it, or pip install schemathesis)");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    eprintln!(
        "schemathesis pass `{name}` took {:.1} s",
        started.elapsed().as_secs_f64()
    );
    (out.status.success(), format!("{stdout}\n{stderr}"))
}

/// Real resources for the operations that read one by id, so that their success answers are
/// checked too (schemathesis would otherwise only ever draw unknown ids): a stored synthesis
/// (asset and usage row), a completed speech-to-text job, a cloned voice and a voice design.
async fn fixtures(app: &TestApp, user: &User) -> String {
    let synth: serde_json::Value = app
        .synthesize(user, tts_body("The contract test speaks.", "mp3"))
        .await
        .json()
        .await
        .unwrap();
    let asset_id = synth["asset_id"].as_str().unwrap().to_owned();
    let usage_id = synth["billing"]["usage_id"].as_str().unwrap().to_owned();
    eventually(|| async {
        let (code, _) = app
            .call_as(
                &user.key,
                "GET",
                &format!("/resemble/assets/{asset_id}"),
                None,
            )
            .await;
        (code == 200).then_some(())
    })
    .await
    .expect("the synthesis is stored");

    let audio_url = app
        .stored_audio_url(
            user,
            "Speech to text for the contract test.",
            serde_json::json!({}),
        )
        .await;
    let (code, job) = app
        .call_as(
            &user.key,
            "POST",
            "/resemble/stt",
            Some(serde_json::json!({ "audio_url": audio_url })),
        )
        .await;
    assert_eq!(code, 202, "{job}");
    let job_id = job["job_id"].as_str().unwrap().to_owned();
    let (code, done) = app
        .call_as(
            &user.key,
            "GET",
            &format!("/resemble/stt/{job_id}?wait=30"),
            None,
        )
        .await;
    assert_eq!(
        (code, done["status"].as_str()),
        (200, Some("completed")),
        "{done}"
    );

    let (code, voice) = app.call_as(&user.key,
        "POST",
        "/resemble/voices",
        Some(serde_json::json!({"name": "Contract", "consent_text": "I, the speaker, consent to this clone."})),
    )
    .await;
    assert_eq!(code, 201, "{voice}");
    let (code, design) = app
        .call_as(
            &user.key,
            "POST",
            "/resemble/voice-design",
            Some(serde_json::json!({"prompt": "A warm, calm narrator"})),
        )
        .await;
    assert_eq!(code, 201, "{design}");
    format!(
        r#"
[parameters]
"path.asset_id" = "{asset_id}"
"path.usage_id" = "{usage_id}"
"path.uuid" = "{voice}"
"path.design_id" = "{design}"

[[operations]]
include-operation-id = "get_stt"
parameters = {{ "path.job_id" = "{job_id}" }}
"#,
        voice = voice["uuid"].as_str().unwrap(),
        design = design["design_id"].as_str().unwrap(),
    )
}

#[tokio::test]
async fn schemathesis_finds_no_server_error_and_no_schema_violation() {
    let app = spawn_app_with(Options {
        // The fuzzer sends many requests quickly: rate limiting is tested elsewhere.
        rate_limits: "default=100000/1m,upstream=100000/1s".into(),
        // Open the cloning and design routes so they are exercised for real.
        business_plan: true,
        ..Options::default()
    })
    .await;
    let user = app.user("1000.00").await;
    // The account the admin pass works on (its keys may be revoked, its limits changed).
    let target = app.user("5.00").await;
    let schema_url = format!("{}/openapi.json", app.base);

    // The served document is the generated one.
    let served: serde_json::Value = app
        .client
        .get(&schema_url)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let generated: serde_json::Value =
        serde_json::from_str(indox_server::http::openapi::json()).unwrap();
    assert_eq!(served, generated);

    let dir =
        std::env::temp_dir().join(format!("indox-contract-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let account_config = format!("{CONFIG}{}", fixtures(&app, &user).await);
    std::fs::write(dir.join("account.toml"), account_config).unwrap();
    let admin_config = format!(
        "{CONFIG}\n[parameters]\n\"path.id\" = \"{}\"\n\"path.key_id\" = \"{}\"\n",
        target.account, target.key_id
    );
    std::fs::write(dir.join("admin.toml"), admin_config).unwrap();

    let started = Instant::now();
    let (account_ok, account) = run(
        &dir,
        &schema_url,
        &user.key,
        &["--exclude-path-regex", "^/api/v1/admin/|^/metrics$"],
        "account",
    )
    .await;
    let (admin_ok, admin) = run(
        &dir,
        &schema_url,
        ADMIN_KEY,
        &[
            "--include-path-regex",
            "^/api/v1/admin/|^/metrics$|^/api/v1/analytics$",
        ],
        "admin",
    )
    .await;
    eprintln!(
        "schemathesis took {:.1} s in all",
        started.elapsed().as_secs_f64()
    );
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        account_ok && admin_ok,
        "schemathesis found problems\n== account key ==\n{account}\n== admin key ==\n{admin}"
    );
}
