//! Cloned voices, their permanent consent, recordings, builds, subscriptions and designs.

use bytes::Bytes;
use chrono::{DateTime, Duration, TimeZone, Utc};
use indox_core::AccountId;
use indox_jobs::{Finish, Finished, JobKind, JobRepository, NewJob};
use indox_postgres::{PgStore, TestDatabase};
use indox_retention::{AssetClass, AssetRepository, Mirror, NewAsset, RetentionError};
use indox_voice::cloning::{
    CloneRecording, CloneRepository, ClonedVoice, Consent, DesignCandidate, NewCloneRecording,
    NewClonedVoice, Subscription, VoiceDesign, VoiceSource, VoiceType,
};
use indox_voice::VoiceError;
use rust_decimal_macros::dec;
use uuid::Uuid;

use crate::{charge, funded, query_text, setup};

/// A time Postgres stores exactly (microseconds).
fn at(secs: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 3, 10, 0, 0).unwrap()
        + Duration::seconds(secs)
        + Duration::microseconds(123_456)
}

fn new_voice(account: AccountId, upstream_uuid: &str, created_at: DateTime<Utc>) -> NewClonedVoice {
    NewClonedVoice {
        id: Uuid::now_v7(),
        account,
        upstream_uuid: upstream_uuid.to_owned(),
        name: "Narrator".into(),
        voice_type: VoiceType::Professional,
        language: "en-US".into(),
        description: Some("warm, low".into()),
        source: VoiceSource::Recordings,
        design_id: None,
        consent: Consent {
            text: "I, Zoë O'Brien, consent to my voice being cloned.\n\"Yes\" — 100%".into(),
            account,
            key_id: "key_live_abc123".into(),
            given_at: at(-60),
        },
        created_at,
    }
}

fn recording_asset(account: AccountId, bytes: &'static [u8], mirror: Mirror) -> NewAsset {
    let id = Uuid::now_v7();
    NewAsset {
        id,
        account,
        class: AssetClass::VoiceCloneRecording,
        object_key: format!("voice-clone-recording/{account}/{id}.wav"),
        content_type: "audio/wav".into(),
        size_bytes: bytes.len() as u64,
        sha256: [7; 32],
        duration_ms: Some(4_000),
        created_at: at(0),
        expires_at: None,
        resemble_url: None,
        mirror: match mirror {
            Mirror::Pending(_) => Mirror::Pending(Bytes::from_static(bytes)),
            other => other,
        },
    }
}

fn new_recording(voice_id: Uuid, asset_id: Uuid, name: &str, secs: i64) -> NewCloneRecording {
    NewCloneRecording {
        id: Uuid::now_v7(),
        voice_id,
        asset_id,
        upstream_uuid: Some(format!("rec-{name}")),
        name: name.into(),
        text: "The quick brown fox jumps over the lazy dog.".into(),
        duration_ms: Some(4_000),
        created_at: at(secs),
    }
}

/// What a freshly created voice reads back as.
fn stored(v: &NewClonedVoice) -> ClonedVoice {
    ClonedVoice {
        id: v.id,
        account: v.account,
        upstream_uuid: v.upstream_uuid.clone(),
        name: v.name.clone(),
        voice_type: v.voice_type,
        language: v.language.clone(),
        description: v.description.clone(),
        source: v.source,
        design_id: v.design_id,
        consent: v.consent.clone(),
        build_job_id: None,
        paid_periods: 1,
        past_due_since: None,
        created_at: v.created_at,
        deleted_at: None,
    }
}

async fn count(db: &TestDatabase, table: &str) -> String {
    query_text(db, &format!("SELECT count(*)::text AS v FROM {table}"))
        .await
        .remove(0)
}

/// Runs a raw statement that may fail, returning the database's message when it does.
async fn try_exec(db: &TestDatabase, sql: &str) -> Result<usize, String> {
    use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
    let mut conn = AsyncPgConnection::establish(&db.url).await.unwrap();
    diesel::sql_query(sql)
        .execute(&mut conn)
        .await
        .map_err(|e| e.to_string())
}

/// A voice-build job holding `hold` from the account.
fn build_job(account: AccountId, id: Uuid) -> NewJob {
    NewJob {
        id,
        account,
        kind: JobKind::VoiceBuild,
        request: serde_json::json!({ "voice": "v" }),
        input_asset: None,
        input_quantity: dec!(1),
        hold_amount: dec!(1),
    }
}

async fn voice(store: &PgStore, uuid: &str) -> ClonedVoice {
    store.voice_by_uuid(uuid).await.unwrap().unwrap()
}

#[tokio::test]
async fn voices_keep_their_consent_exactly_and_upstream_uuids_are_unique() {
    let (db, store) = setup().await;
    let account = funded(&store, dec!(0)).await;
    let other = funded(&store, dec!(0)).await;

    let first = new_voice(account.id, "vc-1", at(0));
    store.create_voice(&first).await.unwrap();
    assert_eq!(voice(&store, "vc-1").await, stored(&first));

    let mut second = new_voice(account.id, "vc-2", at(10));
    second.voice_type = VoiceType::Rapid;
    second.source = VoiceSource::Design;
    second.design_id = Some(Uuid::now_v7());
    second.description = None;
    store.create_voice(&second).await.unwrap();
    store
        .create_voice(&new_voice(other.id, "vc-other", at(20)))
        .await
        .unwrap();

    // Newest first, the account's own only.
    assert_eq!(
        store.list_voices(account.id).await.unwrap(),
        vec![stored(&second), stored(&first)]
    );
    assert!(store.voice_by_uuid("vc-unknown").await.unwrap().is_none());
    assert!(store
        .list_voices(AccountId(Uuid::now_v7()))
        .await
        .unwrap()
        .is_empty());

    // The same upstream uuid again (even under another id or account) is a conflict.
    let dup = new_voice(other.id, "vc-1", at(30));
    assert!(matches!(
        store.create_voice(&dup).await,
        Err(VoiceError::Conflict(_))
    ));
    assert_eq!(count(&db, "clone_voices").await, "3");
    assert_eq!(voice(&store, "vc-1").await, stored(&first));
}

#[tokio::test]
async fn recordings_are_written_with_their_asset_in_one_transaction() {
    let (db, store) = setup().await;
    let account = funded(&store, dec!(0)).await;
    let v = new_voice(account.id, "vc-rec", at(0));
    store.create_voice(&v).await.unwrap();

    // A new asset whose upload failed: recorded with the recording, bytes kept for the retrier.
    let asset = recording_asset(account.id, b"RIFFrec1", Mirror::Pending(Bytes::new()));
    let first = new_recording(v.id, asset.id, "take-1", 1);
    store
        .add_recording(&first, Some(asset.clone()))
        .await
        .unwrap();
    let got = AssetRepository::get(&store, asset.id).await.unwrap();
    assert_eq!(got.account, account.id);
    assert_eq!(got.class, AssetClass::VoiceCloneRecording);
    assert_eq!(got.object_key, asset.object_key);
    assert!(got.mirrored_at.is_none());
    let pending = store.pending_mirrors(10).await.unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].asset_id, asset.id);
    assert_eq!(pending[0].bytes.as_deref(), Some(&b"RIFFrec1"[..]));

    // An upload recorded earlier (`purpose=voice_clone`): the recording alone.
    let uploaded = recording_asset(account.id, b"RIFFrec2", Mirror::Done);
    store.record(&uploaded).await.unwrap();
    let mut second = new_recording(v.id, uploaded.id, "take-2", 2);
    second.upstream_uuid = None;
    second.duration_ms = None;
    store.add_recording(&second, None).await.unwrap();

    let as_stored = |r: &NewCloneRecording| CloneRecording {
        id: r.id,
        voice_id: r.voice_id,
        asset_id: r.asset_id,
        upstream_uuid: r.upstream_uuid.clone(),
        name: r.name.clone(),
        text: r.text.clone(),
        duration_ms: r.duration_ms,
        created_at: r.created_at,
    };
    // Oldest first (inserted newest first here).
    let mut third = new_recording(v.id, uploaded.id, "take-0", -5);
    third.upstream_uuid = None;
    store.add_recording(&third, None).await.unwrap();
    assert_eq!(
        store.recordings(v.id).await.unwrap(),
        vec![as_stored(&third), as_stored(&first), as_stored(&second)]
    );
    assert!(store.recordings(Uuid::now_v7()).await.unwrap().is_empty());

    // A name the voice already has: a conflict, and neither the asset nor the recording is
    // written.
    let dup_asset = recording_asset(account.id, b"RIFFdup", Mirror::Pending(Bytes::new()));
    let dup = new_recording(v.id, dup_asset.id, "take-1", 3);
    let err = store
        .add_recording(&dup, Some(dup_asset.clone()))
        .await
        .unwrap_err();
    assert_eq!(
        err,
        VoiceError::Conflict("a recording with this name already exists for this voice".into())
    );
    assert!(matches!(
        AssetRepository::get(&store, dup_asset.id).await,
        Err(RetentionError::NotFound)
    ));
    assert_eq!(count(&db, "clone_recordings").await, "3");
    assert_eq!(count(&db, "asset_blobs").await, "1");
    assert_eq!(count(&db, "assets").await, "2");

    // The same name on another voice is fine.
    let w = new_voice(account.id, "vc-rec-2", at(0));
    store.create_voice(&w).await.unwrap();
    store
        .add_recording(&new_recording(w.id, uploaded.id, "take-1", 4), None)
        .await
        .unwrap();

    // A failing asset insert (the same asset again) writes no recording either.
    let again = new_recording(w.id, asset.id, "take-9", 5);
    assert!(matches!(
        store.add_recording(&again, Some(asset.clone())).await,
        Err(VoiceError::Store(_))
    ));
    assert_eq!(store.recordings(w.id).await.unwrap().len(), 1);
}

#[tokio::test]
async fn consent_cannot_be_changed_and_nothing_is_ever_deleted() {
    let (db, store) = setup().await;
    let account = funded(&store, dec!(0)).await;
    let other = funded(&store, dec!(0)).await;
    let v = new_voice(account.id, "vc-consent", at(0));
    store.create_voice(&v).await.unwrap();
    let asset = recording_asset(account.id, b"RIFF", Mirror::Done);
    let rec = new_recording(v.id, asset.id, "take-1", 1);
    store.add_recording(&rec, Some(asset)).await.unwrap();

    let id = v.id;
    for set in [
        "consent_text = 'something else'".to_owned(),
        format!("consent_account_id = '{}'", other.id),
        "consent_key_id = 'key_other'".to_owned(),
        "consent_given_at = now()".to_owned(),
        format!("account_id = '{}'", other.id),
        "upstream_uuid = 'vc-stolen'".to_owned(),
    ] {
        let err = try_exec(
            &db,
            &format!("UPDATE clone_voices SET {set} WHERE id = '{id}'"),
        )
        .await
        .expect_err(&set);
        assert!(err.contains("cannot be changed"), "{set}: {err}");
    }
    // Other columns may change.
    assert_eq!(
        try_exec(
            &db,
            &format!("UPDATE clone_voices SET name = 'Renamed', consent_text = consent_text WHERE id = '{id}'"),
        )
        .await,
        Ok(1)
    );

    let err = try_exec(&db, &format!("DELETE FROM clone_voices WHERE id = '{id}'"))
        .await
        .unwrap_err();
    assert!(err.contains("cannot be deleted"), "{err}");
    let err = try_exec(&db, "DELETE FROM clone_recordings")
        .await
        .unwrap_err();
    assert!(err.contains("cannot be deleted"), "{err}");
    for table in ["clone_recordings", "clone_voices"] {
        let err = try_exec(&db, &format!("TRUNCATE {table} CASCADE"))
            .await
            .unwrap_err();
        assert!(err.contains("cannot be truncated"), "{err}");
    }

    // Deleting is a mark; consent and recordings stay.
    assert!(CloneRepository::mark_deleted(&store, id, at(100))
        .await
        .unwrap());
    assert!(!CloneRepository::mark_deleted(&store, id, at(200))
        .await
        .unwrap());
    let after = voice(&store, "vc-consent").await;
    assert_eq!(after.deleted_at, Some(at(100)));
    assert_eq!(after.consent, v.consent);
    assert_eq!(after.name, "Renamed");
    assert_eq!(store.recordings(id).await.unwrap().len(), 1);
}

#[tokio::test]
async fn a_build_starts_only_when_no_build_is_running_or_done() {
    let (_db, store) = setup().await;
    let account = funded(&store, dec!(10)).await;
    let v = new_voice(account.id, "vc-build", at(0));
    store.create_voice(&v).await.unwrap();

    let job1 = Uuid::now_v7();
    assert!(store.begin_build(v.id, job1).await.unwrap());
    store.create(build_job(account.id, job1)).await.unwrap();
    assert_eq!(voice(&store, "vc-build").await.build_job_id, Some(job1));

    // Running: a second build is refused, and abandoning another job changes nothing.
    let job2 = Uuid::now_v7();
    assert!(!store.begin_build(v.id, job2).await.unwrap());
    store.abandon_build(v.id, job2).await.unwrap();
    assert_eq!(voice(&store, "vc-build").await.build_job_id, Some(job1));

    // Failed: it can be built again.
    let finished = store
        .finish(
            job1,
            Finish::Failed {
                error: "upstream refused".into(),
            },
        )
        .await
        .unwrap();
    assert_eq!(finished, Finished::Failed);
    assert!(store.begin_build(v.id, job2).await.unwrap());
    assert_eq!(voice(&store, "vc-build").await.build_job_id, Some(job2));

    // Its job could not be created: undone.
    store.abandon_build(v.id, job2).await.unwrap();
    assert_eq!(voice(&store, "vc-build").await.build_job_id, None);

    // Unknown and deleted voices are never built.
    assert!(!store.begin_build(Uuid::now_v7(), job2).await.unwrap());
    assert!(CloneRepository::mark_deleted(&store, v.id, at(5))
        .await
        .unwrap());
    assert!(!store.begin_build(v.id, job2).await.unwrap());
}

#[tokio::test]
async fn subscriptions_are_paid_once_per_period_and_past_due_keeps_the_earliest_time() {
    let (_db, store) = setup().await;
    let account = funded(&store, dec!(10)).await;

    // Built: its job completed.
    let built = new_voice(account.id, "vc-built", at(0));
    store.create_voice(&built).await.unwrap();
    let job = Uuid::now_v7();
    assert!(store.begin_build(built.id, job).await.unwrap());
    store.create(build_job(account.id, job)).await.unwrap();
    let mut c = charge(account.id, dec!(0.5));
    c.job_id = Some(job);
    let finished = store
        .finish(
            job,
            Finish::Completed {
                result: serde_json::json!({ "status": "finished" }),
                charge: Box::new(c),
                output_asset: None,
            },
        )
        .await
        .unwrap();
    assert!(matches!(finished, Finished::Completed(_)));
    let anchor = JobRepository::get(&store, job)
        .await
        .unwrap()
        .unwrap()
        .completed_at
        .unwrap();

    // Not subscriptions: never built, building, and built but deleted.
    store
        .create_voice(&new_voice(account.id, "vc-pending", at(1)))
        .await
        .unwrap();
    let building = new_voice(account.id, "vc-building", at(2));
    store.create_voice(&building).await.unwrap();
    let running = Uuid::now_v7();
    assert!(store.begin_build(building.id, running).await.unwrap());
    store.create(build_job(account.id, running)).await.unwrap();

    let expected = |paid_periods, past_due_since| Subscription {
        voice_id: built.id,
        account: account.id,
        voice_type: VoiceType::Professional,
        anchor,
        paid_periods,
        past_due_since,
    };
    assert_eq!(
        store.subscriptions().await.unwrap(),
        vec![expected(1, None)]
    );

    // Period 1 is paid once, however many processes try.
    assert!(!store.mark_paid(built.id, 0).await.unwrap());
    assert!(store.mark_paid(built.id, 1).await.unwrap());
    assert!(!store.mark_paid(built.id, 1).await.unwrap());
    assert_eq!(
        store.subscriptions().await.unwrap(),
        vec![expected(2, None)]
    );

    // Period 2 cannot be paid: past due since the first time it was seen.
    store.mark_past_due(built.id, at(500)).await.unwrap();
    store.mark_past_due(built.id, at(900)).await.unwrap();
    assert_eq!(
        store.subscriptions().await.unwrap(),
        vec![expected(2, Some(at(500)))]
    );
    store.mark_past_due(built.id, at(400)).await.unwrap();
    assert_eq!(
        store.subscriptions().await.unwrap(),
        vec![expected(2, Some(at(400)))]
    );

    // Paying clears the mark.
    assert!(store.mark_paid(built.id, 2).await.unwrap());
    assert_eq!(
        store.subscriptions().await.unwrap(),
        vec![expected(3, None)]
    );

    // Deleting stops the subscription.
    assert!(CloneRepository::mark_deleted(&store, built.id, at(1000))
        .await
        .unwrap());
    assert!(store.subscriptions().await.unwrap().is_empty());
}

#[tokio::test]
async fn designs_round_trip_with_their_candidates_in_one_transaction() {
    let (db, store) = setup().await;
    let account = funded(&store, dec!(0)).await;

    let mirrored = recording_asset(account.id, b"cand0", Mirror::Done);
    let pending = recording_asset(account.id, b"cand2", Mirror::Pending(Bytes::new()));
    let mut assets = Vec::new();
    for mut a in [mirrored, pending] {
        a.class = AssetClass::VoiceDesignCandidate;
        a.expires_at = Some(at(14 * 86_400));
        assets.push(a);
    }
    let candidate = |index: u32, asset_id: Option<Uuid>| DesignCandidate {
        index,
        asset_id,
        resemble_url: format!("https://upstream.invalid/design/{index}.wav"),
    };
    let mut design = VoiceDesign {
        id: Uuid::now_v7(),
        account: account.id,
        upstream_uuid: "design-1".into(),
        prompt: "a calm, older narrator with a slight rasp".into(),
        // Out of order on purpose; read back by index. Candidate 1 was not mirrored.
        candidates: vec![
            candidate(2, Some(assets[1].id)),
            candidate(0, Some(assets[0].id)),
            candidate(1, None),
        ],
        created_at: at(0),
        expires_at: at(14 * 86_400),
    };
    store.create_design(&design, assets.clone()).await.unwrap();

    design.candidates.sort_by_key(|c| c.index);
    assert_eq!(store.design(design.id).await.unwrap(), Some(design.clone()));
    for a in &assets {
        let got = AssetRepository::get(&store, a.id).await.unwrap();
        assert_eq!(got.class, AssetClass::VoiceDesignCandidate);
        assert_eq!(got.expires_at, a.expires_at);
    }
    let due = store.pending_mirrors(10).await.unwrap();
    assert_eq!(due.len(), 1);
    assert_eq!(due[0].bytes.as_deref(), Some(&b"cand2"[..]));
    assert!(store.design(Uuid::now_v7()).await.unwrap().is_none());

    // A design that cannot be written (the same id again) records none of its assets.
    let late = recording_asset(account.id, b"late", Mirror::Done);
    let mut again = design.clone();
    again.candidates = vec![candidate(0, Some(late.id))];
    assert!(matches!(
        store.create_design(&again, vec![late.clone()]).await,
        Err(VoiceError::Store(_))
    ));
    assert!(matches!(
        AssetRepository::get(&store, late.id).await,
        Err(RetentionError::NotFound)
    ));
    assert_eq!(count(&db, "voice_design_candidates").await, "3");

    // A design without candidates is fine too.
    let empty = VoiceDesign {
        id: Uuid::now_v7(),
        upstream_uuid: "design-2".into(),
        candidates: Vec::new(),
        ..design.clone()
    };
    store.create_design(&empty, Vec::new()).await.unwrap();
    assert_eq!(store.design(empty.id).await.unwrap(), Some(empty));
}
