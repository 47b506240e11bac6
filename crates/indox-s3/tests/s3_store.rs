//! Integration tests of the S3 adapter against real s3s-fs servers started by `LocalS3`.

use std::time::{Duration, Instant};

use bytes::Bytes;
use indox_retention::{ObjectStore, RetentionError};
use indox_s3::{LocalS3, S3Store};

/// A server and a store on a fresh bucket.
async fn setup(name: &str) -> (LocalS3, S3Store) {
    let s3 = LocalS3::start().await.unwrap();
    let store = S3Store::new(s3.config(&LocalS3::unique_bucket(name))).unwrap();
    store.ensure_bucket().await.unwrap();
    (s3, store)
}

#[tokio::test]
async fn put_then_list() {
    let (_s3, store) = setup("list").await;
    store.ensure_bucket().await.unwrap(); // idempotent
    ObjectStore::ping(&store).await.unwrap();
    for key in [
        "tts-output/acct/2026/01/01/a.mp3",
        "tts-output/acct/2026/01/02/b.mp3",
        "stt-input/acct/c.wav",
    ] {
        store
            .put(key, Bytes::from_static(b"audio"), "audio/mpeg")
            .await
            .unwrap();
    }
    let mut keys = store.list("tts-output/").await.unwrap();
    keys.sort();
    assert_eq!(
        keys,
        [
            "tts-output/acct/2026/01/01/a.mp3",
            "tts-output/acct/2026/01/02/b.mp3"
        ]
    );
    assert_eq!(
        store.list("stt-input/").await.unwrap(),
        ["stt-input/acct/c.wav"]
    );
    assert!(store.list("nothing/").await.unwrap().is_empty());
}

#[tokio::test]
async fn get_returns_the_stored_bytes_and_not_found_for_a_missing_key() {
    let (_s3, store) = setup("get").await;
    store
        .put(
            "voice-recordings/a/r.wav",
            Bytes::from_static(b"RIFF-bytes"),
            "audio/wav",
        )
        .await
        .unwrap();
    assert_eq!(
        store.get("voice-recordings/a/r.wav").await.unwrap(),
        Bytes::from_static(b"RIFF-bytes")
    );
    assert!(matches!(
        store.get("voice-recordings/a/missing.wav").await,
        Err(RetentionError::NotFound)
    ));
}

#[tokio::test]
async fn presigned_get_returns_the_bytes_and_a_tampered_url_is_refused() {
    let (_s3, store) = setup("presign").await;
    let key = "tts-output/acct/2026/01/01/clip.wav";
    let body: Vec<u8> = (0..=255u8).cycle().take(10_000).collect();
    store
        .put(key, Bytes::from(body.clone()), "audio/wav")
        .await
        .unwrap();

    let url = store
        .presign_get(key, chrono::Duration::minutes(5))
        .await
        .unwrap();
    let resp = reqwest::get(&url).await.unwrap();
    assert_eq!(resp.status(), 200, "{url}");
    assert_eq!(resp.headers()["content-type"], "audio/wav");
    assert_eq!(resp.bytes().await.unwrap().as_ref(), body.as_slice());

    // Change one character of the signature.
    let at = url.find("X-Amz-Signature=").unwrap() + "X-Amz-Signature=".len();
    let mut tampered = url.clone().into_bytes();
    tampered[at] = if tampered[at] == b'0' { b'1' } else { b'0' };
    let tampered = String::from_utf8(tampered).unwrap();
    let resp = reqwest::get(&tampered).await.unwrap();
    assert_eq!(resp.status(), 403);

    // Unsigned access is refused too.
    let plain = url.split('?').next().unwrap();
    assert_eq!(reqwest::get(plain).await.unwrap().status(), 403);

    assert!(store
        .presign_get(key, chrono::Duration::days(8))
        .await
        .is_err());
}

#[tokio::test]
async fn delete_removes_and_deleting_a_missing_key_is_ok() {
    let (_s3, store) = setup("delete").await;
    store
        .put("a/1", Bytes::from_static(b"x"), "text/plain")
        .await
        .unwrap();
    store
        .put("a/2", Bytes::from_static(b"y"), "text/plain")
        .await
        .unwrap();
    assert!(store.exists("a/1").await.unwrap());
    store.delete("a/1").await.unwrap();
    assert!(!store.exists("a/1").await.unwrap());
    assert!(store.exists("a/2").await.unwrap());
    assert_eq!(store.list("a/").await.unwrap(), ["a/2"]);
    store.delete("a/1").await.unwrap();
    store.delete("never/existed").await.unwrap();

    let url = store
        .presign_get("a/1", chrono::Duration::minutes(1))
        .await
        .unwrap();
    assert_eq!(reqwest::get(&url).await.unwrap().status(), 404);
}

#[tokio::test]
async fn a_stopped_store_fails_fast_and_recovers() {
    let mut s3 = LocalS3::start().await.unwrap();
    let mut cfg = s3.config(&LocalS3::unique_bucket("down"));
    cfg.timeout = Duration::from_millis(500);
    let store = S3Store::new(cfg).unwrap();
    store.ensure_bucket().await.unwrap();

    s3.stop();
    let started = Instant::now();
    let err = store
        .put("k", Bytes::from_static(b"x"), "text/plain")
        .await
        .unwrap_err();
    assert!(
        matches!(err, RetentionError::StoreUnavailable(_)),
        "{err:?}"
    );
    assert!(
        started.elapsed() < Duration::from_millis(1_500),
        "{:?}",
        started.elapsed()
    );
    assert!(ObjectStore::ping(&store).await.is_err());
    assert!(store.list("").await.is_err());
    // Presigning is local and keeps working.
    store
        .presign_get("k", chrono::Duration::minutes(1))
        .await
        .unwrap();

    s3.restart().await.unwrap();
    store
        .put("k", Bytes::from_static(b"x"), "text/plain")
        .await
        .unwrap();
    assert_eq!(store.list("").await.unwrap(), ["k"]);
}

#[tokio::test]
async fn a_hung_store_times_out() {
    // Accepts connections and never answers.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    let hold = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((sock, _)) = listener.accept().await {
            held.push(sock);
        }
    });
    let mut cfg = indox_s3::S3Config::new(endpoint, "us-east-1", "b", "AK", "SK");
    cfg.timeout = Duration::from_millis(300);
    let store = S3Store::new(cfg).unwrap();
    let started = Instant::now();
    let err = store
        .put("k", Bytes::from_static(b"x"), "text/plain")
        .await
        .unwrap_err();
    assert!(
        matches!(err, RetentionError::StoreUnavailable(_)),
        "{err:?}"
    );
    assert!(
        started.elapsed() < Duration::from_millis(1_500),
        "{:?}",
        started.elapsed()
    );
    hold.abort();
}

#[tokio::test]
async fn wrong_credentials_are_reported() {
    let (s3, _store) = setup("creds").await;
    let mut cfg = s3.config("whatever");
    cfg.secret_key = "not-the-secret".into();
    let store = S3Store::new(cfg).unwrap();
    let err = store
        .put("k", Bytes::from_static(b"x"), "text/plain")
        .await
        .unwrap_err();
    assert!(
        matches!(err, RetentionError::StoreUnavailable(_)),
        "{err:?}"
    );
    assert!(!err.to_string().contains("not-the-secret"), "{err}");
}
