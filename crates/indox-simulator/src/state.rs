//! Shared simulator state: configuration knobs that can change at runtime, request
//! statistics, the billing ledger and the generated-audio cache.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use chrono::NaiveDate;
use serde::Serialize;

use crate::SimConfig;

/// Knobs that `/_sim/faults` and `/_sim/config` may change while running.
#[derive(Debug, Clone, PartialEq)]
pub struct Knobs {
    /// Added before answering any real endpoint.
    pub latency: Duration,
    /// Fraction of answers replaced by 500/503.
    pub error_rate_5xx: f64,
    /// Fraction of answers replaced by 429 with `Retry-After: 1`.
    pub error_rate_429: f64,
    /// Multiplies what `billing_usage` reports.
    pub report_factor: f64,
    /// Pause between audio chunks of `/stream`.
    pub stream_chunk_delay: Duration,
    /// Requests per second per key; `None` = unlimited.
    pub rate_limit_per_sec: Option<u32>,
    /// How long an async job stays in each non-terminal state (pending, then processing).
    pub job_delay: Duration,
    /// Fraction of new async jobs that end `failed` (drawn deterministically from the seed).
    pub job_failure_rate: f64,
    /// When true, terminal jobs send no callback (for testing the polling fallback).
    pub drop_callbacks: bool,
    /// How long a custom voice trains after its build starts.
    pub voice_training_delay: Duration,
}

/// Request counters for the real (non-`/_sim`) endpoints.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SimStats {
    /// All requests to real endpoints.
    pub total: u64,
    /// Keyed by `"METHOD /route/pattern"`, e.g. `"POST /synthesize"`.
    pub by_route: BTreeMap<String, u64>,
    /// Keyed by HTTP status code.
    pub by_status: BTreeMap<u16, u64>,
    /// Route, then status.
    pub by_route_status: BTreeMap<String, BTreeMap<u16, u64>>,
    /// Authenticated requests per key, keyed by the key's last four characters.
    pub by_key: BTreeMap<String, u64>,
}

impl SimStats {
    /// Requests seen for a route key such as `"POST /synthesize"`.
    pub fn route(&self, key: &str) -> u64 {
        self.by_route.get(key).copied().unwrap_or(0)
    }

    /// Responses seen with a status code.
    pub fn status(&self, code: u16) -> u64 {
        self.by_status.get(&code).copied().unwrap_or(0)
    }
}

/// What a cached synthesis looks like.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CacheKey {
    /// `"wav:PCM_32"`, `"mp3"`, `"stream"`, ...
    pub kind: String,
    /// Voice uuid.
    pub voice: String,
    /// Text.
    pub text: String,
    /// Sample rate.
    pub sample_rate: u32,
    /// Title echoed in the JSON body (part of the cached body).
    pub title: Option<String>,
}

/// A cached response body plus the audio duration to bill.
#[derive(Debug, Clone)]
pub struct CachedAudio {
    /// Complete response body (JSON for `/synthesize`, WAV for `/stream`).
    pub body: Bytes,
    /// For `/stream`: length of the WAV header at the start of `body`.
    pub header_len: usize,
    /// Real audio duration in seconds.
    pub duration: f64,
}

/// Small bounded cache with least-recently-used eviction.
#[derive(Debug, Default)]
pub struct AudioCache {
    entries: HashMap<CacheKey, (Arc<CachedAudio>, u64)>,
    tick: u64,
    bytes: usize,
}

/// At most this many cached bodies.
const CACHE_MAX_ENTRIES: usize = 64;
/// At most this many cached bytes in total.
const CACHE_MAX_BYTES: usize = 256 * 1024 * 1024;

impl AudioCache {
    /// Returns a cached entry and marks it recently used.
    pub fn get(&mut self, key: &CacheKey) -> Option<Arc<CachedAudio>> {
        self.tick += 1;
        let tick = self.tick;
        self.entries.get_mut(key).map(|(v, t)| {
            *t = tick;
            Arc::clone(v)
        })
    }

    /// Inserts an entry, evicting least-recently-used ones to stay within bounds.
    pub fn insert(&mut self, key: CacheKey, value: Arc<CachedAudio>) {
        let size = value.body.len();
        if size > CACHE_MAX_BYTES / 4 {
            return;
        }
        while !self.entries.is_empty()
            && (self.entries.len() >= CACHE_MAX_ENTRIES || self.bytes + size > CACHE_MAX_BYTES)
        {
            let oldest = self
                .entries
                .iter()
                .min_by_key(|(_, (_, t))| *t)
                .map(|(k, _)| k.clone());
            match oldest.and_then(|k| self.entries.remove(&k)) {
                Some((v, _)) => self.bytes -= v.body.len(),
                None => break,
            }
        }
        self.tick += 1;
        self.bytes += size;
        if let Some((old, _)) = self.entries.insert(key, (value, self.tick)) {
            self.bytes -= old.body.len();
        }
    }

    /// Number of cached entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the cache is empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// Everything the handlers share.
#[derive(Debug)]
pub struct SimState {
    /// The platform's API key.
    pub api_key: String,
    /// Other accounts' keys also accepted.
    pub extra_api_keys: Vec<String>,
    /// Seed of the fault-injection sequence.
    pub seed: u64,
    knobs: Mutex<Knobs>,
    stats: Mutex<SimStats>,
    billing: Mutex<BTreeMap<NaiveDate, f64>>,
    cache: Mutex<AudioCache>,
    rate_windows: Mutex<HashMap<String, (u64, u32)>>,
    fault_counter: AtomicU64,
    /// Seconds processed per (UTC day, unit) for the async-job units (`stt`, `detect`, ...).
    unit_billing: Mutex<BTreeMap<NaiveDate, BTreeMap<String, f64>>>,
    /// Async jobs, stored media and identities.
    pub jobs: crate::jobs::JobStore,
    /// Custom (cloned and designed) voices, their recordings, and voice designs.
    pub voices: crate::cloning::VoiceStore,
    /// Secret for the test-only `X-Resemble-Signature` callback header.
    pub callback_secret: String,
    /// Whether media and callback URLs may point at loopback/private hosts (and use `http`).
    pub allow_private_urls: bool,
    /// HTTP client for fetching media and delivering callbacks.
    pub http: reqwest::Client,
    base_url: std::sync::OnceLock<String>,
}

/// Locks a mutex, recovering the data if a panicking thread poisoned it.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl SimState {
    /// State for a fresh simulator.
    pub fn new(config: &SimConfig) -> Self {
        Self {
            api_key: config.api_key.clone(),
            extra_api_keys: config.extra_api_keys.clone(),
            seed: config.seed,
            knobs: Mutex::new(Knobs {
                latency: config.latency,
                error_rate_5xx: config.error_rate_5xx,
                error_rate_429: config.error_rate_429,
                report_factor: config.report_factor,
                stream_chunk_delay: config.stream_chunk_delay,
                rate_limit_per_sec: config.rate_limit_per_sec,
                job_delay: config.job_delay,
                job_failure_rate: config.job_failure_rate,
                drop_callbacks: config.drop_callbacks,
                voice_training_delay: config.voice_training_delay,
            }),
            stats: Mutex::new(SimStats::default()),
            billing: Mutex::new(BTreeMap::new()),
            cache: Mutex::new(AudioCache::default()),
            rate_windows: Mutex::new(HashMap::new()),
            fault_counter: AtomicU64::new(0),
            unit_billing: Mutex::new(BTreeMap::new()),
            jobs: crate::jobs::JobStore::default(),
            voices: crate::cloning::VoiceStore::default(),
            callback_secret: config.callback_secret.clone(),
            allow_private_urls: config.allow_private_urls,
            http: reqwest::Client::builder()
                .timeout(crate::jobs::media::FETCH_TIMEOUT)
                .pool_max_idle_per_host(0)
                .build()
                .unwrap_or_default(),
            base_url: std::sync::OnceLock::new(),
        }
    }

    /// Records the simulator's own base URL (`http://127.0.0.1:PORT`); first call wins.
    pub fn set_base_url(&self, url: String) {
        let _ = self.base_url.set(url);
    }

    /// The simulator's own base URL (empty before [`SimState::set_base_url`]).
    pub fn base_url(&self) -> &str {
        self.base_url.get().map(String::as_str).unwrap_or("")
    }

    /// Adds processed seconds for an async-job unit on a UTC day.
    pub fn bill_unit(&self, day: NaiveDate, unit: &str, seconds: f64) {
        *lock(&self.unit_billing)
            .entry(day)
            .or_default()
            .entry(unit.to_owned())
            .or_default() += seconds;
    }

    /// Per-unit processed seconds over an inclusive day range (unscaled).
    pub fn units_between(&self, start: NaiveDate, end: NaiveDate) -> BTreeMap<String, f64> {
        let mut out = BTreeMap::new();
        for (_, units) in lock(&self.unit_billing).range(start..=end) {
            for (unit, secs) in units {
                *out.entry(unit.clone()).or_insert(0.0) += *secs;
            }
        }
        out
    }

    /// Counts an authenticated request under its key's last four characters.
    pub fn record_key(&self, key: &str) {
        let tail = key.get(key.len().saturating_sub(4)..).unwrap_or_default();
        *lock(&self.stats).by_key.entry(tail.to_owned()).or_default() += 1;
    }

    /// Counts an outbound event (e.g. a callback attempt) under `route` and `status` in
    /// `by_route` / `by_route_status` only: `total` and `by_status` count answered requests.
    pub fn record_outbound(&self, route: &str, status: u16) {
        let mut s = lock(&self.stats);
        *s.by_route.entry(route.to_owned()).or_default() += 1;
        *s.by_route_status
            .entry(route.to_owned())
            .or_default()
            .entry(status)
            .or_default() += 1;
    }

    /// Current knobs.
    pub fn knobs(&self) -> Knobs {
        lock(&self.knobs).clone()
    }

    /// Changes knobs in place.
    pub fn update_knobs(&self, f: impl FnOnce(&mut Knobs)) -> Knobs {
        let mut k = lock(&self.knobs);
        f(&mut k);
        k.clone()
    }

    /// Snapshot of the request counters.
    pub fn stats(&self) -> SimStats {
        lock(&self.stats).clone()
    }

    /// Counts one answered request.
    pub fn record(&self, route: &str, status: u16) {
        let mut s = lock(&self.stats);
        s.total += 1;
        *s.by_route.entry(route.to_owned()).or_default() += 1;
        *s.by_status.entry(status).or_default() += 1;
        *s.by_route_status
            .entry(route.to_owned())
            .or_default()
            .entry(status)
            .or_default() += 1;
    }

    /// Adds served audio seconds to a UTC day.
    pub fn bill(&self, day: NaiveDate, seconds: f64) {
        *lock(&self.billing).entry(day).or_default() += seconds;
    }

    /// Sum of served seconds over an inclusive day range (unscaled).
    pub fn billed_between(&self, start: NaiveDate, end: NaiveDate) -> f64 {
        lock(&self.billing)
            .range(start..=end)
            .fold(0.0, |acc, (_, s)| acc + *s)
    }

    /// Cache lookup.
    pub fn cached(&self, key: &CacheKey) -> Option<Arc<CachedAudio>> {
        lock(&self.cache).get(key)
    }

    /// Cache insert.
    pub fn cache_insert(&self, key: CacheKey, value: Arc<CachedAudio>) {
        lock(&self.cache).insert(key, value);
    }

    /// Next index in the deterministic fault sequence.
    pub fn next_fault_index(&self) -> u64 {
        self.fault_counter.fetch_add(1, Ordering::Relaxed)
    }

    /// Counts a request against the per-key, per-second window; true if it is within `limit`.
    pub fn admit(&self, key: &str, now_sec: u64, limit: u32) -> bool {
        let mut w = lock(&self.rate_windows);
        let slot = w.entry(key.to_owned()).or_insert((now_sec, 0));
        if slot.0 != now_sec {
            *slot = (now_sec, 0);
        }
        slot.1 += 1;
        slot.1 <= limit
    }

    /// Clears statistics, the billing ledger, rate windows and the fault sequence.
    pub fn reset(&self) {
        *lock(&self.stats) = SimStats::default();
        lock(&self.billing).clear();
        lock(&self.unit_billing).clear();
        lock(&self.rate_windows).clear();
        self.fault_counter.store(0, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(i: usize) -> CacheKey {
        CacheKey {
            kind: "wav".into(),
            voice: "v".into(),
            text: i.to_string(),
            sample_rate: 8000,
            title: None,
        }
    }

    #[test]
    fn cache_is_bounded_and_keeps_recent() {
        let mut c = AudioCache::default();
        let val = Arc::new(CachedAudio {
            body: Bytes::from_static(b"abc"),
            header_len: 0,
            duration: 1.0,
        });
        for i in 0..CACHE_MAX_ENTRIES {
            c.insert(key(i), Arc::clone(&val));
        }
        assert!(c.get(&key(0)).is_some()); // touch 0 so 1 is the oldest
        c.insert(key(1000), Arc::clone(&val));
        assert_eq!(c.len(), CACHE_MAX_ENTRIES);
        assert!(c.get(&key(0)).is_some());
        assert!(c.get(&key(1)).is_none());
        assert!(c.get(&key(1000)).is_some());
    }

    #[test]
    fn rate_window_resets_each_second() {
        let s = SimState::new(&SimConfig::default());
        assert!(s.admit("k", 5, 2));
        assert!(s.admit("k", 5, 2));
        assert!(!s.admit("k", 5, 2));
        assert!(s.admit("other", 5, 2));
        assert!(s.admit("k", 6, 2));
    }
}
