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
