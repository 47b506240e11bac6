//! The load driver: an open-loop mix of `POST /tts/synthesize` and `POST /stt` at a fixed
//! rate (each request its own task, so a slow answer never slows the schedule), recording
//! what every client saw: the status, the request id, a synthesis's `billing` block, a job's
//! id, or that no answer came at all.

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rust_decimal::Decimal;
use serde_json::{json, Value};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use uuid::Uuid;

/// What a request was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Tts,
    Stt,
}

/// When a request was sent, relative to the fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Before = 0,
    During = 1,
    After = 2,
}

/// What one client saw.
#[derive(Debug, Clone)]
pub struct Record {
    pub kind: Kind,
    pub phase: Phase,
    /// Our own id for the request (sent as `client_ref` in job bodies).
    pub client_ref: String,
    /// Every third synthesis is sent with `Idempotency-Key: <client_ref>`.
    pub idempotency_key: Option<String>,
    /// `Idempotent-Replayed: true` came back.
    pub replayed: bool,
    /// `None`: no (complete) answer reached the client.
    pub status: Option<u16>,
    pub request_id: Option<String>,
    /// A synthesis's `billing.usage_id` and `billing.charged`.
    pub usage_id: Option<Uuid>,
    pub charged: Option<Decimal>,
    /// A synthesis's `asset_id`, and whether its `audio_url` was null.
    pub asset_id: Option<Uuid>,
    pub audio_url_null: bool,
    /// An accepted job's id.
    pub job_id: Option<Uuid>,
    /// The error body's `code`, or the transport error.
    pub error: Option<String>,
}

impl Record {
    /// A 200 synthesis or a 202 job: the client saw it succeed.
    pub fn succeeded(&self) -> bool {
        match self.kind {
            Kind::Tts => self.status == Some(200),
            Kind::Stt => self.status == Some(202),
        }
    }

    /// A 503 `outcome_unknown`: the gateway said it could not tell whether it was recorded.
    pub fn outcome_unknown(&self) -> bool {
        self.error.as_deref() == Some("outcome_unknown")
    }

    /// An answer that said it failed.
    pub fn failed(&self) -> bool {
        self.status.is_some() && !self.succeeded() && !self.outcome_unknown()
    }

    /// No answer, or one saying the outcome is unknown: the client cannot tell whether the
    /// request took effect (a row for it is allowed, and counted as unacknowledged).
    pub fn unanswered(&self) -> bool {
        self.status.is_none() || self.outcome_unknown()
    }
}

/// Where the load goes.
#[derive(Clone)]
pub struct Target {
    /// `http://127.0.0.1:<port>/api/v1`
    pub base: String,
    pub key: String,
    /// The input of every speech-to-text job.
    pub stt_url: String,
}

/// The mix: one request every `tick`, every `stt_every`-th a job (0: none).
#[derive(Debug, Clone, Copy)]
pub struct Mix {
    pub tick: Duration,
    pub stt_every: u32,
}

impl Default for Mix {
    fn default() -> Self {
        // 20 requests/s: 16 syntheses and 4 jobs.
        Self {
            tick: Duration::from_millis(50),
            stt_every: 5,
        }
    }
}

/// A running load.
pub struct Load {
    stop: watch::Sender<bool>,
    phase: Arc<AtomicU8>,
    driver: JoinHandle<Vec<Record>>,
}

impl Load {
    /// Starts sending `mix` to `target`.
    pub fn start(target: Target, mix: Mix) -> Self {
        let (stop, mut stopped) = watch::channel(false);
        let phase = Arc::new(AtomicU8::new(Phase::Before as u8));
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap();
        let ph = phase.clone();
        let driver = tokio::spawn(async move {
            let mut tasks = Vec::new();
            let mut tick = tokio::time::interval(mix.tick);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut n: u32 = 0;
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = stopped.changed() => break,
                }
                n += 1;
                let kind = if mix.stt_every > 0 && n.is_multiple_of(mix.stt_every) {
                    Kind::Stt
                } else {
                    Kind::Tts
                };
                let phase = match ph.load(Ordering::SeqCst) {
                    0 => Phase::Before,
                    1 => Phase::During,
                    _ => Phase::After,
                };
                let client = client.clone();
                let target = target.clone();
                let client_ref = format!("r{n}-{}", Uuid::new_v4().simple());
                let key = (kind == Kind::Tts && n.is_multiple_of(3)).then(|| client_ref.clone());
                tasks.push(tokio::spawn(async move {
                    send(&client, &target, kind, phase, client_ref, key).await
                }));
            }
            let mut records = Vec::with_capacity(tasks.len());
            for t in tasks {
                records.push(t.await.expect("a request task panicked"));
            }
            records
        });
        Self {
            stop,
            phase,
            driver,
        }
    }

    /// Marks the requests sent from now on.
    pub fn set_phase(&self, phase: Phase) {
        self.phase.store(phase as u8, Ordering::SeqCst);
    }

    /// Stops sending, waits for every answer and returns what the clients saw.
    pub async fn finish(self) -> Vec<Record> {
        let _ = self.stop.send(true);
        self.driver.await.expect("the load driver panicked")
    }
}

/// Sends `original` again, the same body with the same `Idempotency-Key`.
pub async fn replay(client: &reqwest::Client, target: &Target, original: &Record) -> Record {
    send(
        client,
        target,
        original.kind,
        original.phase,
        original.client_ref.clone(),
        original.idempotency_key.clone(),
    )
    .await
}

async fn send(
    client: &reqwest::Client,
    target: &Target,
    kind: Kind,
    phase: Phase,
    client_ref: String,
    idempotency_key: Option<String>,
) -> Record {
    let (path, body) = match kind {
        Kind::Tts => (
            "resemble/tts/synthesize",
            json!({
                "voice_uuid": "55592656",
                "text": format!("Fault load {client_ref}"),
                "output_format": "wav",
                "sample_rate": 8000,
            }),
        ),
        Kind::Stt => (
            "resemble/stt",
            json!({"audio_url": target.stt_url, "client_ref": client_ref}),
        ),
    };
    let mut record = Record {
        kind,
        phase,
        client_ref,
        idempotency_key,
        replayed: false,
        status: None,
        request_id: None,
        usage_id: None,
        charged: None,
        asset_id: None,
        audio_url_null: false,
        job_id: None,
        error: None,
    };
    let mut req = client
        .post(format!("{}/{path}", target.base))
        .bearer_auth(&target.key)
        .json(&body);
    if let Some(key) = &record.idempotency_key {
        req = req.header("Idempotency-Key", key);
    }
    let resp = match req.send().await {
        Ok(r) => r,
        Err(e) => {
            record.error = Some(format!("transport: {e}"));
            return record;
        }
    };
    let status = resp.status().as_u16();
    let request_id = resp
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    record.replayed = resp
        .headers()
        .get("idempotent-replayed")
        .is_some_and(|v| v == "true");
    let body: Value = match resp.bytes().await {
        Ok(b) => serde_json::from_slice(&b).unwrap_or(Value::Null),
        Err(e) => {
            // The head arrived but not the whole body: the client did not see the answer.
            record.error = Some(format!("transport (body, status {status}): {e}"));
            return record;
        }
    };
    record.status = Some(status);
    record.request_id = request_id;
    match (kind, status) {
        (Kind::Tts, 200) => {
            let billing = &body["billing"];
            record.usage_id = billing["usage_id"].as_str().and_then(|s| s.parse().ok());
            record.charged = billing["charged"].as_str().and_then(|s| s.parse().ok());
            record.asset_id = body["asset_id"].as_str().and_then(|s| s.parse().ok());
            record.audio_url_null = body["audio_url"].is_null();
            assert!(
                record.usage_id.is_some() && record.charged.is_some(),
                "a 200 synthesis without a billing block: {body}"
            );
        }
        (Kind::Stt, 202) => {
            record.job_id = body["job_id"].as_str().and_then(|s| s.parse().ok());
            assert!(record.job_id.is_some(), "a 202 without a job id: {body}");
        }
        _ => {
            record.error = Some(
                body["error"]["code"]
                    .as_str()
                    .map_or_else(|| format!("status {status}: {body}"), str::to_owned),
            );
        }
    }
    record
}
