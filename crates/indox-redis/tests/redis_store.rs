//! Integration tests of the Redis rate-limit store against a real Redis (127.0.0.1:6379 or `INDOX_TEST_REDIS_URL`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use deadpool_redis::redis;
use indox_ratelimit::{Decision, Limit, LocalStore, RateLimitError, RateLimitStore, WindowCheck};
use indox_redis::{RedisConfig, RedisRateLimitStore};
use rand::{Rng, SeedableRng};

fn url() -> String {
    std::env::var("INDOX_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

/// A key prefix no other test (or run) uses.
fn prefix() -> String {
    format!("indox-redis-test:{}", uuid::Uuid::new_v4().simple())
}

fn store(timeout: Duration) -> RedisRateLimitStore {
    let mut cfg = RedisConfig::new(url());
    cfg.timeout = timeout;
    RedisRateLimitStore::connect(cfg).unwrap()
}

fn check(key: &str, max: u32, window_ms: u64, cost: u32) -> WindowCheck {
    WindowCheck {
        key: key.to_owned(),
        limit: Limit::new(max, window_ms),
        cost,
    }
}

/// A plain connection for looking at what the script left behind.
async fn raw() -> deadpool_redis::Connection {
    let pool = deadpool_redis::Config::from_url(url())
        .create_pool(Some(deadpool_redis::Runtime::Tokio1))
        .unwrap();
    pool.get().await.unwrap()
}

/// Redis `TIME` in milliseconds.
async fn redis_now(conn: &mut deadpool_redis::Connection) -> u64 {
    let (s, us): (u64, u64) = redis::cmd("TIME").query_async(conn).await.unwrap();
    s * 1000 + us / 1000
}

async fn scores(conn: &mut deadpool_redis::Connection, key: &str) -> Vec<u64> {
    let entries: Vec<(String, u64)> = redis::cmd("ZRANGE")
        .arg(key)
        .arg(0)
        .arg(-1)
        .arg("WITHSCORES")
        .query_async(conn)
        .await
        .unwrap();
    entries.into_iter().map(|(_, s)| s).collect()
}

async fn one(store: &RedisRateLimitStore, c: &WindowCheck) -> Decision {
    let d = store.acquire(std::slice::from_ref(c)).await.unwrap();
    assert_eq!(d.len(), 1);
    d[0]
}

#[tokio::test]
async fn admits_up_to_max_then_denies_with_the_exact_wait() {
    let store = store(Duration::from_secs(2));
    let mut conn = raw().await;
    let key = format!("{}:a", prefix());
    let c = check(&key, 3, 300, 1);

    for remaining in [2, 1, 0] {
        let d = one(&store, &c).await;
        assert!(d.allowed);
        assert_eq!(
            (d.limit, d.remaining, d.retry_after_ms, d.reset_after_ms),
            (3, remaining, 0, 300)
        );
    }
    let logged = scores(&mut conn, &key).await;
    assert_eq!(logged.len(), 3);

    let before = redis_now(&mut conn).await;
    let d = one(&store, &c).await;
    let after = redis_now(&mut conn).await;
    assert!(!d.allowed);
    assert_eq!((d.limit, d.remaining), (3, 0));
    // The oldest entry leaves at logged[0] + 300; the script's `now` lies in [before, after].
    assert!(d.retry_after_ms > 0 && d.retry_after_ms <= 300, "{d:?}");
    assert!(
        (logged[0] + 300 - after..=logged[0] + 300 - before).contains(&d.retry_after_ms),
        "retry {} vs oldest {} now in [{before}, {after}]",
        d.retry_after_ms,
        logged[0]
    );
    assert!(
        (logged[2] + 300 - after..=logged[2] + 300 - before).contains(&d.reset_after_ms),
        "{d:?}"
    );
    assert_eq!(
        scores(&mut conn, &key).await,
        logged,
        "a denied request is not logged"
    );
    let ttl: i64 = redis::cmd("PTTL")
        .arg(&key)
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(
        ttl > 0 && ttl <= 300,
        "the key expires with its window: {ttl}"
    );

    // Waiting exactly the advertised time is enough.
    tokio::time::sleep(Duration::from_millis(d.retry_after_ms + 2)).await;
    let d = one(&store, &c).await;
    assert!(d.allowed, "{d:?}");
}

#[tokio::test]
async fn an_entry_exactly_one_window_old_has_left() {
    let store = store(Duration::from_secs(2));
    let mut conn = raw().await;
    let key = format!("{}:edge", prefix());
    let now = redis_now(&mut conn).await;
    // Admitted at `now - window`: it leaves at `now`, and the script's clock is >= `now`.
    let _: i64 = redis::cmd("ZADD")
        .arg(&key)
        .arg(now - 60_000)
        .arg("old")
        .query_async(&mut conn)
        .await
        .unwrap();
    let _: i64 = redis::cmd("ZADD")
        .arg(&key)
        .arg(now - 59_000)
        .arg("young")
        .query_async(&mut conn)
        .await
        .unwrap();
    let d = one(&store, &check(&key, 1, 60_000, 1)).await;
    assert!(!d.allowed, "the younger entry still counts");
    assert_eq!(
        scores(&mut conn, &key).await,
        vec![now - 59_000],
        "the expired entry is gone"
    );
    let _: i64 = redis::cmd("DEL")
        .arg(&key)
        .query_async(&mut conn)
        .await
        .unwrap();
}

#[tokio::test]
async fn costs_above_one_and_above_max() {
    let store = store(Duration::from_secs(2));
    let key = format!("{}:cost", prefix());
    let d = one(&store, &check(&key, 5, 1_000, 2)).await;
    assert!(d.allowed && d.remaining == 3);
    let d = one(&store, &check(&key, 5, 1_000, 2)).await;
    assert!(d.allowed && d.remaining == 1);
    let d = one(&store, &check(&key, 5, 1_000, 2)).await;
    assert!(
        !d.allowed && d.retry_after_ms > 0 && d.retry_after_ms <= 1_000,
        "{d:?}"
    );
    let d = one(&store, &check(&key, 5, 1_000, 9)).await;
    assert_eq!(
        (d.allowed, d.retry_after_ms),
        (false, 1_000),
        "never admissible: wait a whole window"
    );

    let empty = format!("{}:empty", prefix());
    let d = one(&store, &check(&empty, 2, 1_000, 3)).await;
    assert_eq!(
        (d.allowed, d.retry_after_ms, d.reset_after_ms),
        (false, 1_000, 0)
    );
}

#[tokio::test]
async fn all_or_nothing_across_keys() {
    let store = store(Duration::from_secs(2));
    let mut conn = raw().await;
    let p = prefix();
    let a = check(&format!("{p}:a"), 5, 60_000, 1);
    let b = check(&format!("{p}:b"), 1, 60_000, 1);
    let d = store.acquire(&[a.clone(), b.clone()]).await.unwrap();
    assert!(d.iter().all(|d| d.allowed), "{d:?}");
    let d = store.acquire(&[a.clone(), b.clone()]).await.unwrap();
    assert!(d[0].allowed && !d[1].allowed, "{d:?}");
    assert_eq!(d[0].remaining, 3, "a's verdict is reported as if admitted");
    assert_eq!(
        scores(&mut conn, &a.key).await.len(),
        1,
        "but a was not charged"
    );
    let d = store.acquire(std::slice::from_ref(&a)).await.unwrap();
    assert_eq!(
        d[0].remaining, 3,
        "the denied request did not use a's budget"
    );
    assert_eq!(store.acquire(&[]).await.unwrap(), vec![]);
}

#[tokio::test]
async fn concurrent_acquires_never_over_admit() {
    let store = Arc::new(store(Duration::from_secs(10)));
    let key = format!("{}:burst", prefix());
    let tasks: Vec<_> = (0..200)
        .map(|_| {
            let store = Arc::clone(&store);
            let c = check(&key, 50, 60_000, 1);
            tokio::spawn(async move { store.acquire(&[c]).await.unwrap()[0] })
        })
        .collect();
    let mut remaining = Vec::new();
    for t in tasks {
        let d = t.await.unwrap();
        if d.allowed {
            remaining.push(d.remaining);
        }
    }
    assert_eq!(remaining.len(), 50);
    remaining.sort_unstable();
    assert_eq!(
        remaining,
        (0..50).collect::<Vec<u32>>(),
        "each admission saw a distinct count"
    );
}

#[tokio::test]
async fn agrees_with_the_local_store() {
    let store = store(Duration::from_secs(2));
    let local = LocalStore::new();
    let p = prefix();
    let keys = [
        (format!("{p}:x"), 7),
        (format!("{p}:y"), 12),
        (format!("{p}:z"), 4),
    ];
    let mut rng = rand::rngs::StdRng::seed_from_u64(0x1D0C5);
    let started = Instant::now();
    let mut denied = 0;
    for step in 0..300 {
        let mut checks = Vec::new();
        for (k, max) in &keys {
            if rng.random_bool(0.6) {
                checks.push(check(k, *max, 60_000, rng.random_range(1..=3)));
            }
        }
        if checks.is_empty() {
            checks.push(check(&keys[0].0, keys[0].1, 60_000, 1));
        }
        let want = local.acquire_at(&checks, started.elapsed().as_millis() as u64);
        let got = store.acquire(&checks).await.unwrap();
        let strip = |d: &[Decision]| {
            d.iter()
                .map(|d| (d.allowed, d.limit, d.remaining))
                .collect::<Vec<_>>()
        };
        assert_eq!(strip(&got), strip(&want), "step {step}: {checks:?}");
        for (g, w) in got.iter().zip(&want) {
            if g.allowed {
                assert_eq!(
                    (g.retry_after_ms, g.reset_after_ms),
                    (w.retry_after_ms, w.reset_after_ms)
                );
            } else {
                // Both clocks run for the same few seconds: the waits agree up to that drift.
                assert!(
                    g.retry_after_ms.abs_diff(w.retry_after_ms) < 5_000,
                    "{g:?} vs {w:?}"
                );
                denied += 1;
            }
        }
    }
    assert!(denied > 50, "the sequence exercises denials too ({denied})");
}

#[tokio::test]
async fn survives_a_flushed_script_cache() {
    let store = store(Duration::from_secs(2));
    let mut conn = raw().await;
    let key = format!("{}:noscript", prefix());
    assert!(one(&store, &check(&key, 2, 60_000, 1)).await.allowed);
    let _: String = redis::cmd("SCRIPT")
        .arg("FLUSH")
        .query_async(&mut conn)
        .await
        .unwrap();
    // EVALSHA now answers NOSCRIPT; the store falls back to EVAL.
    let d = one(&store, &check(&key, 2, 60_000, 1)).await;
    assert_eq!((d.allowed, d.remaining), (true, 0));
}

#[tokio::test]
async fn a_dead_store_fails_fast() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let mut cfg = RedisConfig::new(format!("redis://:hunter2@127.0.0.1:{port}"));
    cfg.timeout = Duration::from_millis(200);
    let store = RedisRateLimitStore::connect(cfg).unwrap();
    assert!(!format!("{store:?}").contains("hunter2"));
    let started = Instant::now();
    let err = store.acquire(&[check("k", 1, 1_000, 1)]).await.unwrap_err();
    assert!(matches!(err, RateLimitError::Store(_)), "{err:?}");
    assert!(!err.to_string().contains("hunter2"), "{err}");
    assert!(store.ping().await.is_err());
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_hung_store_times_out() {
    // Accepts connections and never answers.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let hold = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((sock, _)) = listener.accept().await {
            held.push(sock);
        }
    });
    let mut cfg = RedisConfig::new(format!("redis://127.0.0.1:{port}"));
    cfg.timeout = Duration::from_millis(50);
    let store = RedisRateLimitStore::connect(cfg).unwrap();
    let started = Instant::now();
    let err = store.acquire(&[check("k", 1, 1_000, 1)]).await.unwrap_err();
    assert!(matches!(err, RateLimitError::Store(_)), "{err:?}");
    assert!(
        started.elapsed() < Duration::from_millis(500),
        "{:?}",
        started.elapsed()
    );
    hold.abort();
}

#[tokio::test]
async fn ping_answers_and_bad_settings_are_refused() {
    store(Duration::from_secs(2)).ping().await.unwrap();
    assert!(RedisRateLimitStore::connect(RedisConfig::new("not a url")).is_err());
    let mut cfg = RedisConfig::new(url());
    cfg.pool_size = 0;
    assert!(RedisRateLimitStore::connect(cfg).is_err());
}
