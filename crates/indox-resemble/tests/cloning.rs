//! Integration tests of the cloning port (custom voices, recordings, voice design) against the
//! Resemble simulator (`indox-simulator`) on a free port.

use std::time::{Duration, Instant};

use bytes::Bytes;
use indox_resemble::{ResembleClient, ResembleConfig};
use indox_simulator::{SimConfig, SimHandle};
use indox_voice::cloning::{
    CloningUpstream, NewUpstreamVoice, RecordingUpload, Training, UpstreamVoice, VoiceType,
};
use indox_voice::UpstreamError;

async fn sim() -> SimHandle {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let config = SimConfig {
        voice_training_delay: Duration::from_millis(100),
        ..SimConfig::default()
    };
    indox_simulator::start(config, listener).await.unwrap()
}

fn client_for(sim: &SimHandle, key: &str) -> ResembleClient {
    ResembleClient::new(ResembleConfig {
        api_key: key.into(),
        app_url: sim.app_url(),
        synth_url: sim.synth_url(),
        timeout: Duration::from_secs(20),
        connect_timeout: Duration::from_secs(2),
    })
    .unwrap()
}

fn client(sim: &SimHandle) -> ResembleClient {
    client_for(sim, "sim-key")
}

/// A mono 16-bit PCM WAV of a 220 Hz sine.
fn sine_wav(millis: u32) -> Bytes {
    const RATE: u32 = 16_000;
    let samples = RATE * millis / 1000;
    let data_len = samples * 2;
    let mut out = Vec::with_capacity(44 + data_len as usize);
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&(36 + data_len).to_le_bytes());
    out.extend_from_slice(b"WAVEfmt ");
    out.extend_from_slice(&16u32.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes()); // PCM
    out.extend_from_slice(&1u16.to_le_bytes()); // mono
    out.extend_from_slice(&RATE.to_le_bytes());
    out.extend_from_slice(&(RATE * 2).to_le_bytes()); // byte rate
    out.extend_from_slice(&2u16.to_le_bytes()); // block align
    out.extend_from_slice(&16u16.to_le_bytes()); // bits per sample
    out.extend_from_slice(b"data");
    out.extend_from_slice(&data_len.to_le_bytes());
    for n in 0..samples {
        let t = f64::from(n) / f64::from(RATE);
        let v = (t * 220.0 * std::f64::consts::TAU).sin() * 0.4 * f64::from(i16::MAX);
        out.extend_from_slice(&(v as i16).to_le_bytes());
    }
    Bytes::from(out)
}

fn new_voice(name: &str, voice_type: VoiceType) -> NewUpstreamVoice {
    NewUpstreamVoice {
        name: name.into(),
        voice_type,
        language: "en-US".into(),
        description: Some("integration test".into()),
    }
}

fn recording(name: &str) -> RecordingUpload {
    RecordingUpload {
        name: name.into(),
        text: "The quick brown fox jumps over the lazy dog.".into(),
        emotion: Some("neutral".into()),
        audio: sine_wav(1_500),
        file_name: format!("{name}.wav"),
        content_type: "audio/wav".into(),
    }
}

/// Polls `get_voice` until its training is no longer running.
async fn until_trained(c: &ResembleClient, uuid: &str) -> UpstreamVoice {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let v = c.get_voice(uuid).await.unwrap();
        if Training::from_upstream(&v.status) != Training::Running {
            return v;
        }
        assert!(Instant::now() < deadline, "still training: {v:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rapid_voice_lifecycle() {
    let sim = sim().await;
    let c = client(&sim);

    let created = c
        .create_voice(&new_voice("Rapid Me", VoiceType::Rapid))
        .await
        .unwrap();
    assert!(!created.uuid.is_empty());
    assert_eq!(created.name, "Rapid Me");
    assert_eq!(created.status, "pending");
    assert_eq!(c.get_voice(&created.uuid).await.unwrap(), created);

    // Building before any recording is refused.
    assert!(matches!(
        c.build_voice(&created.uuid).await,
        Err(UpstreamError::BadRequest(_))
    ));

    let rec = c
        .add_recording(&created.uuid, &recording("take-1"))
        .await
        .unwrap();
    assert!(!rec.uuid.is_empty());
    assert_eq!(rec.name, "take-1");
    assert!(rec
        .audio_src
        .as_deref()
        .is_some_and(|u| u.starts_with("http")));
    // Names are unique per voice.
    match c.add_recording(&created.uuid, &recording("take-1")).await {
        Err(UpstreamError::BadRequest(m)) => assert!(m.contains("name"), "{m}"),
        other => panic!("{other:?}"),
    }

    c.build_voice(&created.uuid).await.unwrap();
    let trained = until_trained(&c, &created.uuid).await;
    assert_eq!(Training::from_upstream(&trained.status), Training::Finished);
    assert_eq!(trained.status, "finished");
    // Built already.
    assert!(matches!(
        c.build_voice(&created.uuid).await,
        Err(UpstreamError::BadRequest(_))
    ));

    c.delete_voice(&created.uuid).await.unwrap();
    assert!(matches!(
        c.get_voice(&created.uuid).await,
        Err(UpstreamError::NotFound(_))
    ));
    assert!(matches!(
        c.delete_voice(&created.uuid).await,
        Err(UpstreamError::NotFound(_))
    ));
    sim.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_training_is_reported() {
    let sim = sim().await;
    let c = client(&sim);
    let v = c
        .create_voice(&new_voice(
            &format!("x {}", indox_simulator::cloning::FAIL_TRIGGER),
            VoiceType::Rapid,
        ))
        .await
        .unwrap();
    c.add_recording(&v.uuid, &recording("only")).await.unwrap();
    c.build_voice(&v.uuid).await.unwrap();
    let done = until_trained(&c, &v.uuid).await;
    assert_eq!(Training::from_upstream(&done.status), Training::Failed);
    sim.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn professional_voice_needs_three_recordings() {
    let sim = sim().await;
    let c = client(&sim);
    let v = c
        .create_voice(&new_voice("Pro", VoiceType::Professional))
        .await
        .unwrap();
    let mut first = recording("one");
    first.emotion = None;
    c.add_recording(&v.uuid, &first).await.unwrap();
    match c.build_voice(&v.uuid).await {
        Err(UpstreamError::BadRequest(m)) => assert!(m.contains('3'), "{m}"),
        other => panic!("{other:?}"),
    }
    let still = c.get_voice(&v.uuid).await.unwrap();
    assert_eq!(Training::from_upstream(&still.status), Training::Running);
    assert_eq!(still.status, "pending");
    sim.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn design_then_voice_from_a_candidate() {
    let sim = sim().await;
    let c = client(&sim);
    let design = c
        .design("A calm old sailor with a raspy, deep voice.")
        .await
        .unwrap();
    assert!(!design.uuid.is_empty());
    let indexes: Vec<u32> = design.samples.iter().map(|s| s.index).collect();
    assert_eq!(indexes, vec![0, 1, 2]);
    assert!(design
        .samples
        .iter()
        .all(|s| s.audio_url.starts_with("http")));

    let uuid = c
        .voice_from_design(&design.uuid, 1, "Sailor")
        .await
        .unwrap();
    assert!(!uuid.is_empty());
    let v = c.get_voice(&uuid).await.unwrap();
    assert_eq!(
        (v.uuid.as_str(), v.name.as_str()),
        (uuid.as_str(), "Sailor")
    );
    let trained = until_trained(&c, &uuid).await;
    assert_eq!(Training::from_upstream(&trained.status), Training::Finished);

    assert!(matches!(
        c.voice_from_design(&design.uuid, 9, "Nope").await,
        Err(UpstreamError::BadRequest(_))
    ));
    assert!(matches!(
        c.voice_from_design("no-such-design", 0, "Nope").await,
        Err(UpstreamError::NotFound(_))
    ));
    sim.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_are_classified() {
    let sim = sim().await;
    let c = client(&sim);
    for bad in ["does-not-exist", "..", "a/b"] {
        assert!(
            matches!(c.get_voice(bad).await, Err(UpstreamError::NotFound(_))),
            "{bad}"
        );
    }
    assert!(matches!(
        c.delete_voice("does-not-exist").await,
        Err(UpstreamError::NotFound(_))
    ));
    assert!(matches!(
        c.build_voice("does-not-exist").await,
        Err(UpstreamError::NotFound(_))
    ));
    assert!(matches!(
        c.add_recording("does-not-exist", &recording("r")).await,
        Err(UpstreamError::NotFound(_))
    ));

    let v = c
        .create_voice(&new_voice("Errors", VoiceType::Rapid))
        .await
        .unwrap();
    let mut not_audio = recording("garbage");
    not_audio.audio = Bytes::from_static(b"this is not audio at all");
    not_audio.content_type = "not a mime type".into();
    assert!(matches!(
        c.add_recording(&v.uuid, &not_audio).await,
        Err(UpstreamError::BadRequest(_))
    ));
    assert!(matches!(
        c.create_voice(&new_voice(&"n".repeat(300), VoiceType::Rapid))
            .await,
        Err(UpstreamError::BadRequest(_))
    ));

    let wrong = client_for(&sim, "wrong-key");
    assert_eq!(
        wrong.get_voice(&v.uuid).await.err(),
        Some(UpstreamError::Unauthorized { status: 401 })
    );
    assert_eq!(
        wrong.design("anything").await.err(),
        Some(UpstreamError::Unauthorized { status: 401 })
    );
    sim.stop().await;
}
