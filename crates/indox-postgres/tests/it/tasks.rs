//! The task queue: claim, skip-locked, lease expiry, retry and dead tasks.

use std::collections::HashSet;
use std::sync::Arc;

use chrono::Duration;
use indox_jobs::TaskQueue;
use serde_json::json;

use crate::{query_text, setup};

fn kinds(k: &[&str]) -> Vec<String> {
    k.iter().map(|s| (*s).to_owned()).collect()
}

#[tokio::test]
async fn tasks_are_claimed_by_kind_and_completed() {
    let (db, store) = setup().await;
    let a = store.enqueue("mirror", json!({"asset": 1})).await.unwrap();
    let b = store
        .enqueue("reconcile", json!({"day": "2026-01-01"}))
        .await
        .unwrap();
    assert!(b > a);

    assert!(store
        .claim(&kinds(&["nothing"]), Duration::minutes(1))
        .await
        .unwrap()
        .is_none());
    assert!(store
        .claim(&[], Duration::minutes(1))
        .await
        .unwrap()
        .is_none());
    let task = store
        .claim(&kinds(&["mirror"]), Duration::minutes(1))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (task.id, task.kind.as_str(), task.attempts),
        (a, "mirror", 0)
    );
    assert_eq!(task.payload, json!({"asset": 1}));
    // Held by its lease.
    assert!(store
        .claim(&kinds(&["mirror"]), Duration::minutes(1))
        .await
        .unwrap()
        .is_none());
    store.complete(a).await.unwrap();
    store.complete(a).await.unwrap(); // twice is fine

    let task = store
        .claim(&kinds(&["mirror", "reconcile"]), Duration::minutes(1))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(task.id, b);
    store.complete(b).await.unwrap();
    assert_eq!(
        query_text(&db, "SELECT count(*)::text AS v FROM tasks").await,
        vec!["0"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_claimers_never_get_the_same_task() {
    let (_db, store) = setup().await;
    for i in 0..30 {
        store.enqueue("work", json!({ "i": i })).await.unwrap();
    }
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..4 {
        let store = store.clone();
        set.spawn(async move {
            let mut got = Vec::new();
            while let Some(t) = store
                .claim(&kinds(&["work"]), Duration::minutes(5))
                .await
                .unwrap()
            {
                got.push(t.id);
            }
            got
        });
    }
    let mut seen = HashSet::new();
    while let Some(ids) = set.join_next().await {
        for id in ids.unwrap() {
            assert!(seen.insert(id), "task {id} claimed twice");
        }
    }
    assert_eq!(seen.len(), 30);
}

#[tokio::test]
async fn an_expired_lease_makes_the_task_claimable_again() {
    let (_db, store) = setup().await;
    let id = store.enqueue("work", json!(null)).await.unwrap();
    let first = store
        .claim(&kinds(&["work"]), Duration::milliseconds(200))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((first.id, first.attempts), (id, 0));
    assert!(store
        .claim(&kinds(&["work"]), Duration::milliseconds(200))
        .await
        .unwrap()
        .is_none());
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let again = store
        .claim(&kinds(&["work"]), Duration::minutes(1))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((again.id, again.attempts), (id, 1));
}

#[tokio::test]
async fn failures_retry_then_die() {
    let (db, store) = setup().await;
    let id = store.enqueue("work", json!({})).await.unwrap();
    store
        .claim(&kinds(&["work"]), Duration::minutes(1))
        .await
        .unwrap()
        .unwrap();
    store
        .fail(id, "upstream 503", Some(Duration::zero()))
        .await
        .unwrap();
    let t = store
        .claim(&kinds(&["work"]), Duration::minutes(1))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((t.id, t.attempts), (id, 1));

    store
        .fail(id, "upstream 503 again", Some(Duration::hours(1)))
        .await
        .unwrap();
    assert!(store
        .claim(&kinds(&["work"]), Duration::minutes(1))
        .await
        .unwrap()
        .is_none());
    assert_eq!(
        query_text(&db, "SELECT state || ':' || last_error AS v FROM tasks").await,
        vec!["queued:upstream 503 again"]
    );

    store.fail(id, "gave up", None).await.unwrap();
    assert_eq!(
        query_text(&db, "SELECT state || ':' || last_error AS v FROM tasks").await,
        vec!["dead:gave up"]
    );
    assert!(store
        .claim(&kinds(&["work"]), Duration::minutes(1))
        .await
        .unwrap()
        .is_none());
}

#[tokio::test]
async fn dead_tasks_can_be_listed_and_retried() {
    let (_db, store) = setup().await;
    let id = store
        .enqueue("doomed", serde_json::json!({"n": 1}))
        .await
        .unwrap();
    let t = store
        .claim(&["doomed".to_owned()], chrono::Duration::seconds(30))
        .await
        .unwrap()
        .unwrap();
    store.fail(t.id, "broken for good", None).await.unwrap();
    let dead = store.dead(10).await.unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(
        (
            dead[0].id,
            dead[0].kind.as_str(),
            dead[0].last_error.as_deref()
        ),
        (id, "doomed", Some("broken for good"))
    );
    assert!(store
        .claim(&["doomed".to_owned()], chrono::Duration::seconds(30))
        .await
        .unwrap()
        .is_none());

    assert!(store.retry_dead(id).await.unwrap());
    assert!(
        !store.retry_dead(id).await.unwrap(),
        "only dead tasks are retried"
    );
    assert!(store.dead(10).await.unwrap().is_empty());
    let again = store
        .claim(&["doomed".to_owned()], chrono::Duration::seconds(30))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((again.id, again.attempts), (id, 0));
}

#[tokio::test]
async fn an_insert_wakes_a_waiting_runner() {
    use indox_jobs::TaskSignal;
    let (db, store) = setup().await;
    let signal = indox_postgres::PgTaskSignal::start(db.url.clone());
    // Drain the permit the listener gives when it (re)connects, then wait for a real one.
    signal.wait(std::time::Duration::from_millis(500)).await;
    let woke = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let w = woke.clone();
    let s2 = signal.clone();
    let waiter = tokio::spawn(async move {
        // A long timeout: the test asserts on the wake-up, not on time.
        s2.wait(std::time::Duration::from_secs(30)).await;
        w.store(true, std::sync::atomic::Ordering::SeqCst);
    });
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    store.enqueue("wake", serde_json::json!({})).await.unwrap();
    tokio::time::timeout(std::time::Duration::from_secs(20), waiter)
        .await
        .expect("woken by the insert")
        .unwrap();
    assert!(woke.load(std::sync::atomic::Ordering::SeqCst));
}

#[tokio::test]
async fn periodic_tasks_are_enqueued_once_while_pending() {
    let (_db, store) = setup().await;
    assert!(store.enqueue_if_absent("sweep").await.unwrap());
    assert!(
        !store.enqueue_if_absent("sweep").await.unwrap(),
        "one already queued"
    );
    let t = store
        .claim(&["sweep".to_owned()], Duration::seconds(30))
        .await
        .unwrap()
        .unwrap();
    assert!(
        !store.enqueue_if_absent("sweep").await.unwrap(),
        "one already running"
    );
    store.complete(t.id).await.unwrap();
    assert!(store.enqueue_if_absent("sweep").await.unwrap());
}
