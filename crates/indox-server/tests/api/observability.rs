//! Observability: `GET /metrics` (admin key only) after real traffic, the one JSON log line per
//! request carrying the `X-Request-Id`, and spans exported over OTLP/HTTP to a local collector.

use std::sync::{Arc, Mutex, OnceLock};

use indox_server::telemetry::{Telemetry, TelemetryConfig};
use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _, BufReader};

use crate::helpers::*;

/// The value of the sample `series` (the whole line up to the value), if present.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

async fn scrape(app: &TestApp, bearer: Option<&str>) -> reqwest::Response {
    let mut req = app.client.get(format!("{}/metrics", app.root));
    if let Some(b) = bearer {
        req = req.bearer_auth(b);
    }
    req.send().await.unwrap()
}

#[tokio::test]
async fn metrics_count_requests_overhead_upstream_rejections_and_queues() {
    let app = spawn_app_with(Options {
        rate_limits: "tts=1/1m,default=1000/1m,upstream=1000/1s".into(),
        ..Options::default()
    })
    .await;
    let user = app.user("1.00").await;
    // A task of a kind no worker handles stays queued and due.
    app.app
        .tasks
        .enqueue("observability.test", serde_json::json!({}))
        .await
        .unwrap();

    assert_eq!(
        app.synthesize(&user, tts_body("Hi", "mp3")).await.status(),
        200
    );
    assert_eq!(
        app.synthesize(&user, tts_body("Hi", "mp3")).await.status(),
        429
    );
    let missing = app
        .client
        .get(format!("{}/resemble/no-such-route/123", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);

    // Refused without the admin key, and with an account's key.
    assert_eq!(scrape(&app, None).await.status(), 401);
    assert_eq!(scrape(&app, Some(&user.key)).await.status(), 401);

    let ok = scrape(&app, Some(ADMIN_KEY)).await;
    assert_eq!(ok.status(), 200);
    let content_type = ok.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );
    let text = ok.text().await.unwrap();

    let synth = "/api/v1/resemble/tts/synthesize";
    let series = |name: &str, labels: &str| format!("{name}{{{labels}}}");
    for (labels, n) in [
        (
            format!("route=\"{synth}\",method=\"POST\",status=\"200\""),
            1.0,
        ),
        (
            format!("route=\"{synth}\",method=\"POST\",status=\"429\""),
            1.0,
        ),
        (
            "route=\"unmatched\",method=\"GET\",status=\"404\"".to_owned(),
            1.0,
        ),
        (
            "route=\"/metrics\",method=\"GET\",status=\"401\"".to_owned(),
            2.0,
        ),
    ] {
        let s = series("indox_http_requests_total", &labels);
        assert_eq!(sample(&text, &s), Some(n), "{s} in\n{text}");
    }
    // Raw paths never become labels.
    assert!(!text.contains("no-such-route"), "{text}");
    assert_eq!(
        sample(
            &text,
            &series(
                "indox_http_request_duration_seconds_count",
                &format!("route=\"{synth}\",method=\"POST\"")
            )
        ),
        Some(2.0)
    );
    // Overhead only for the request that reached the upstream (the 429 did not).
    assert_eq!(
        sample(
            &text,
            &series(
                "indox_gateway_overhead_seconds_count",
                &format!("route=\"{synth}\"")
            )
        ),
        Some(1.0),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "indox_gateway_overhead_seconds_bucket{{route=\"{synth}\",le=\"+Inf\"}} 1"
        )),
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            "indox_upstream_request_duration_seconds_count{operation=\"synthesize\",outcome=\"ok\"}"
        ),
        Some(1.0),
        "{text}"
    );
    let upstream_sum = sample(
        &text,
        "indox_upstream_request_duration_seconds_sum{operation=\"synthesize\",outcome=\"ok\"}",
    )
    .unwrap();
    assert!(upstream_sum > 0.0);
    assert_eq!(
        sample(
            &text,
            "indox_rate_limit_rejections_total{capability=\"tts\",scope=\"account\"}"
        ),
        Some(1.0),
        "{text}"
    );

    // Read from Postgres at scrape time.
    assert_eq!(
        sample(&text, "indox_metrics_source_up{source=\"postgres\"}"),
        Some(1.0)
    );
    assert!(sample(&text, "indox_task_queue_depth{state=\"queued\"}").unwrap() >= 1.0);
    assert!(sample(&text, "indox_task_queue_due").unwrap() >= 1.0);
    assert_eq!(
        sample(&text, "indox_task_queue_depth{state=\"dead\"}"),
        Some(0.0)
    );
    assert!(sample(&text, "indox_task_queue_depth{state=\"running\"}").is_some());
    assert!(sample(&text, "indox_task_queue_oldest_due_age_seconds").unwrap() >= 0.0);
    assert_eq!(
        sample(&text, "indox_jobs_open{status=\"pending\"}"),
        Some(0.0)
    );
    assert_eq!(
        sample(&text, "indox_jobs_open{status=\"processing\"}"),
        Some(0.0)
    );
    assert_eq!(
        sample(&text, "indox_jobs_oldest_open_age_seconds"),
        Some(0.0)
    );
    assert_eq!(
        sample(&text, "indox_callback_delivery_failures_total"),
        Some(0.0)
    );
    assert_eq!(
        sample(&text, "indox_rate_limit_fallback_decisions_total"),
        Some(0.0)
    );

    // Well-formed exposition: every sample's family was typed before it, values are numbers.
    let mut typed = Vec::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            typed.push(rest.split(' ').next().unwrap().to_owned());
            continue;
        }
        if line.starts_with('#') {
            continue;
        }
        let (series, value) = line.rsplit_once(' ').unwrap();
        assert!(value.parse::<f64>().is_ok(), "{line}");
        let name = series.split('{').next().unwrap();
        assert!(
            typed.iter().any(|t| name == t
                || ["_bucket", "_sum", "_count"]
                    .iter()
                    .any(|s| name.strip_suffix(s) == Some(t))),
            "{line}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Logs and traces: the global subscriber is installed once per test process.

/// Log lines written by the subscriber.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Capture {
    type Writer = Capture;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

impl Capture {
    fn lines(&self) -> Vec<serde_json::Value> {
        let bytes = self.0.lock().unwrap().clone();
        String::from_utf8_lossy(&bytes)
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
            .collect()
    }
}

/// One request the collector received.
#[derive(Debug, Clone)]
struct Received {
    path: String,
    content_type: String,
    body: Vec<u8>,
}

struct Observed {
    logs: Capture,
    received: Arc<Mutex<Vec<Received>>>,
    telemetry: Telemetry,
}

/// A minimal OTLP/HTTP collector on its own thread: records every request and answers 200.
fn start_collector(received: Arc<Mutex<Vec<Received>>>) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            loop {
                let Ok((socket, _)) = listener.accept().await else {
                    continue;
                };
                let received = received.clone();
                tokio::spawn(async move {
                    let (read, mut write) = socket.into_split();
                    let mut read = BufReader::new(read);
                    loop {
                        let mut request_line = String::new();
                        if read.read_line(&mut request_line).await.unwrap_or(0) == 0 {
                            return;
                        }
                        let path = request_line.split(' ').nth(1).unwrap_or("").to_owned();
                        let (mut length, mut content_type) = (0usize, String::new());
                        loop {
                            let mut h = String::new();
                            if read.read_line(&mut h).await.unwrap_or(0) == 0 {
                                return;
                            }
                            let h = h.trim_end();
                            if h.is_empty() {
                                break;
                            }
                            if let Some((k, v)) = h.split_once(':') {
                                match k.trim().to_ascii_lowercase().as_str() {
                                    "content-length" => length = v.trim().parse().unwrap_or(0),
                                    "content-type" => content_type = v.trim().to_owned(),
                                    _ => {}
                                }
                            }
                        }
                        let mut body = vec![0; length];
                        if read.read_exact(&mut body).await.is_err() {
                            return;
                        }
                        received.lock().unwrap().push(Received {
                            path,
                            content_type,
                            body,
                        });
                        let answer = b"HTTP/1.1 200 OK\r\ncontent-type: application/x-protobuf\r\ncontent-length: 0\r\n\r\n";
                        if write.write_all(answer).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
    });
    url
}

fn observed() -> &'static Observed {
    static OBSERVED: OnceLock<Observed> = OnceLock::new();
    OBSERVED.get_or_init(|| {
        let received = Arc::new(Mutex::new(Vec::new()));
        let url = start_collector(received.clone());
        let logs = Capture::default();
        let telemetry = indox_server::telemetry::init_with_writer(
            &TelemetryConfig {
                json_logs: true,
                log_filter: "info".into(),
                otlp_traces_endpoint: Some(format!("{url}/v1/traces")),
                service_name: "indox-test".into(),
            },
            logs.clone(),
        )
        .expect("the telemetry installs");
        assert!(telemetry.exports_traces());
        Observed {
            logs,
            received,
            telemetry,
        }
    })
}

#[tokio::test]
async fn every_request_logs_one_json_line_with_its_request_id() {
    let obs = observed();
    let app = spawn_app().await;
    let user = app.user("1.00").await;
    let resp = app.synthesize(&user, tts_body("Hi", "mp3")).await;
    assert_eq!(resp.status(), 200);
    let id = resp.headers()["x-request-id"].to_str().unwrap().to_owned();
    let missing = app
        .client
        .get(format!("{}/resemble/usage/not-a-uuid", app.base))
        .header("authorization", "Bearer ixk_not_a_real_key")
        .send()
        .await
        .unwrap();
    let missing_id = missing.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();

    let lines = obs.logs.lines();
    let mine: Vec<_> = lines
        .iter()
        .filter(|l| l["message"] == "request" && l["request_id"] == id.as_str())
        .collect();
    assert_eq!(mine.len(), 1, "one line per request: {mine:?}");
    let line = mine[0];
    assert_eq!(line["level"], "INFO");
    assert_eq!(line["method"], "POST");
    assert_eq!(line["route"], "/api/v1/resemble/tts/synthesize");
    assert_eq!(line["path"], "/api/v1/resemble/tts/synthesize");
    assert_eq!(line["status"], 200);
    assert!(line["duration_ms"].as_f64().unwrap() > 0.0);
    assert!(line["upstream_ms"].as_f64().unwrap() > 0.0);
    assert_eq!(line["account_id"], user.account.to_string().as_str());

    let other = lines
        .iter()
        .find(|l| l["message"] == "request" && l["request_id"] == missing_id.as_str())
        .expect("the refused request is logged too");
    assert_eq!(other["status"], 401);
    assert_eq!(other["route"], "/api/v1/resemble/usage/{usage_id}");
    assert!(other.get("account_id").is_none());

    // Secrets never reach the logs.
    let all = String::from_utf8_lossy(&obs.logs.0.lock().unwrap()).into_owned();
    assert!(!all.contains(&user.key));
    assert!(!all.contains("ixk_not_a_real_key"));
}

#[tokio::test]
async fn spans_are_exported_over_otlp_http() {
    let obs = observed();
    let app = spawn_app().await;
    let user = app.user("1.00").await;
    let resp = app.synthesize(&user, tts_body("Hi", "mp3")).await;
    assert_eq!(resp.status(), 200);
    let id = resp.headers()["x-request-id"].to_str().unwrap().to_owned();
    obs.telemetry.flush().await.expect("the exporter flushes");

    let received = obs.received.lock().unwrap().clone();
    let traces: Vec<_> = received.iter().filter(|r| r.path == "/v1/traces").collect();
    assert!(!traces.is_empty(), "no export arrived: {received:?}");
    assert!(traces
        .iter()
        .all(|r| r.content_type == "application/x-protobuf"));
    let contains = |needle: &[u8]| {
        traces
            .iter()
            .any(|r| r.body.windows(needle.len()).any(|w| w == needle))
    };
    // The server span (named after the route, carrying the request id) and the child span
    // around the upstream call, from the service named in the configuration.
    assert!(contains(b"POST /api/v1/resemble/tts/synthesize"));
    assert!(contains(id.as_bytes()));
    assert!(contains(b"resemble synthesize"));
    assert!(contains(b"indox-test"));
}
