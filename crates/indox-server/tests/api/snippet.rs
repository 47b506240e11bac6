//! The product page's text-to-speech snippet, run unmodified but for `BASE_URL` and `API_KEY`.

use indox_audio::AudioFormat;

use crate::helpers::*;

#[tokio::test]
async fn the_product_page_tts_snippet_runs_and_prints_the_billed_row() {
    let app = spawn_app().await;
    let user = app.user("1.00").await;
    let original = include_str!("snippets/tts.py");
    let script = original
        .replace(
            "API_KEY = \"YOUR_API_KEY\"",
            &format!("API_KEY = \"{}\"", user.key),
        )
        .replace(
            "BASE_URL = \"https://api.indoxhub.com/api/v1\"",
            &format!("BASE_URL = \"{}\"", app.base),
        );
    assert_eq!(
        script.lines().count(),
        original.lines().count(),
        "only the two constants change"
    );
    let dir = std::env::temp_dir().join(format!("indox-snippet-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("tts.py"), script).unwrap();
    let out = tokio::process::Command::new("python3")
        .arg("tts.py")
        .current_dir(&dir)
        .output()
        .await
        .expect("python3 runs (cargo xtask ci installs requests)");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "snippet failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // A playable MP3 was saved.
    let mp3 = std::fs::read(dir.join("hello.mp3")).unwrap();
    let info = indox_audio::measure(&mp3, AudioFormat::Mp3).unwrap();
    assert!(info.frames > 0);

    // The printed amount is the `charged` column of the matching row.
    let rows = app.usage(user.account).await;
    assert_eq!(rows.len(), 1);
    let expected = format!("billed: {} USD for {}s", rows[0].charged, rows[0].quantity);
    assert_eq!(stdout.trim(), expected);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn the_product_page_stt_enhance_and_detect_snippets_complete() {
    let app = spawn_app().await;
    let user = app.user("1.00").await;
    let consts = |s: &str| {
        s.replace(
            "API_KEY = \"YOUR_API_KEY\"",
            &format!("API_KEY = \"{}\"", user.key),
        )
        .replace(
            "BASE_URL = \"https://api.indoxhub.com/api/v1\"",
            &format!("BASE_URL = \"{}\"", app.base),
        )
    };
    // The fragments run after the page's own preamble, and report the finished job.
    let preamble = consts("import time\nimport json\nimport requests\n\nAPI_KEY = \"YOUR_API_KEY\"\nBASE_URL = \"https://api.indoxhub.com/api/v1\"\n\n");
    let report = |kind: &str, var: &str| {
        format!(
            "\nfinal = requests.get(f\"{{BASE_URL}}/resemble/{kind}/{{{var}['job_id']}}?wait=30\", headers={{\"Authorization\": f\"Bearer {{API_KEY}}\"}}).json()\nprint(json.dumps(final))\n"
        )
    };

    // Speech-to-text: the page's script, whole.
    let mp3 = app
        .stored_audio_url(
            &user,
            "Hello from IndoxHub.",
            serde_json::json!({"output_format": "mp3"}),
        )
        .await;
    let stt =
        consts(include_str!("snippets/stt.py")).replace("https://example.com/recording.mp3", &mp3);
    assert_eq!(run_python(&stt).await.trim(), "Hello from IndoxHub.");

    // Enhancement.
    let wav = app
        .stored_audio_url(
            &user,
            "Raw podcast audio.",
            serde_json::json!({"output_format": "wav"}),
        )
        .await;
    let enhance = format!(
        "{preamble}{}{}",
        include_str!("snippets/enhance.py").replace("https://example.com/raw-podcast.wav", &wav),
        report("enhance", "job")
    );
    let done: serde_json::Value = serde_json::from_str(run_python(&enhance).await.trim()).unwrap();
    assert_eq!(done["status"], "completed", "{done}");
    let enhanced = reqwest::get(
        done["audio_url"]
            .as_str()
            .expect("the enhanced audio is mirrored"),
    )
    .await
    .unwrap();
    assert_eq!(enhanced.status(), 200);
    assert!(indox_audio::measure(&enhanced.bytes().await.unwrap(), AudioFormat::Wav).is_ok());

    // Deepfake detection.
    let detect = format!(
        "{preamble}{}{}",
        include_str!("snippets/detect.py").replace("https://example.com/suspicious.mp3", &mp3),
        report("detect", "resp")
    );
    let done: serde_json::Value = serde_json::from_str(run_python(&detect).await.trim()).unwrap();
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(done["verdict"], "fake");
    assert!(done["score"].is_number());

    // Each job was billed once, per second of input audio.
    let rows = app.usage(user.account).await;
    for cap in ["stt", "enhance", "detect"] {
        assert_eq!(
            rows.iter().filter(|r| r.capability == cap).count(),
            1,
            "{cap}"
        );
    }
}
