//! Integration tests of the hardened client against a canned HTTP server on 127.0.0.1:0.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use indox_egress::{
    fetch, post_json, safe_client, Allowlist, ClientConfig, EgressError, EgressPolicy, SafeResolver,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// A one-response-fits-all HTTP/1.1 server that counts connections and records requests.
struct Canned {
    addr: SocketAddr,
    connections: Arc<AtomicUsize>,
    requests: Arc<Mutex<Vec<String>>>,
}

impl Canned {
    async fn start(response: Vec<u8>, delay: Duration) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let connections = Arc::new(AtomicUsize::new(0));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let (count, log) = (connections.clone(), requests.clone());
        tokio::spawn(async move {
            loop {
                let Ok((mut sock, _)) = listener.accept().await else {
                    return;
                };
                count.fetch_add(1, Ordering::SeqCst);
                let (response, log) = (response.clone(), log.clone());
                tokio::spawn(async move {
                    let request = read_request(&mut sock).await;
                    log.lock().unwrap().push(request);
                    tokio::time::sleep(delay).await;
                    let _ = sock.write_all(&response).await;
                    let _ = sock.shutdown().await;
                });
            }
        });
        Self {
            addr,
            connections,
            requests,
        }
    }

    async fn ok(body: &str) -> Self {
        let response = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: audio/wav\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        Self::start(response.into_bytes(), Duration::ZERO).await
    }

    fn url(&self, host: &str, path: &str) -> String {
        format!("http://{host}:{}{path}", self.addr.port())
    }

    fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}

/// Reads the head and, if a `Content-Length` is given, the body of one request.
async fn read_request(sock: &mut tokio::net::TcpStream) -> String {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    while let Ok(n) = sock.read(&mut chunk).await {
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&buf).to_string();
        if let Some(end) = text.find("\r\n\r\n") {
            let length = text[..end]
                .lines()
                .find_map(|l| {
                    let (name, value) = l.split_once(':')?;
                    name.eq_ignore_ascii_case("content-length")
                        .then(|| value.trim().parse::<usize>().ok())?
                })
                .unwrap_or(0);
            if buf.len() >= end + 4 + length {
                break;
            }
        }
    }
    String::from_utf8_lossy(&buf).to_string()
}

fn open() -> Arc<EgressPolicy> {
    Arc::new(EgressPolicy::new())
}

fn local() -> Arc<EgressPolicy> {
    Arc::new(EgressPolicy::new().with_allowlist(Allowlist::parse("127.0.0.0/8,::1/128").unwrap()))
}

fn client(policy: &Arc<EgressPolicy>) -> reqwest::Client {
    safe_client(policy.clone(), ClientConfig::default()).unwrap()
}

#[tokio::test]
async fn loopback_literal_is_refused_before_connecting() {
    let server = Canned::ok("secret").await;
    let policy = open();
    let client = client(&policy);
    for host in ["127.0.0.1", "2130706433", "0x7f.1", "[::ffff:127.0.0.1]"] {
        let err = fetch(&client, &policy, &server.url(host, "/x"), 1024)
            .await
            .unwrap_err();
        assert!(
            matches!(err, EgressError::Blocked { reason, .. } if reason.contains("loopback")),
            "{host}"
        );
        let err = post_json(&client, &policy, &server.url(host, "/cb"), b"{}", &[])
            .await
            .unwrap_err();
        assert!(matches!(err, EgressError::Blocked { .. }), "{host}");
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(server.connections(), 0);
}

#[tokio::test]
async fn raw_client_with_ip_literal_bypasses_the_resolver() {
    // Documents why `fetch` runs `check_url` first: reqwest skips DNS for IP literals.
    let server = Canned::ok("secret").await;
    let client = client(&open());
    let response = client
        .get(server.url("127.0.0.1", "/x"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(server.connections(), 1);
}

#[tokio::test]
async fn localhost_is_refused_by_the_resolver() {
    let server = Canned::ok("secret").await;
    let policy = open();
    let client = client(&policy);
    let err = fetch(&client, &policy, &server.url("localhost", "/x"), 1024)
        .await
        .unwrap_err();
    match err {
        EgressError::Blocked { host, ip, reason } => {
            assert_eq!(host, "localhost");
            assert!(ip.is_loopback(), "{ip}");
            assert!(reason.contains("loopback"), "{reason}");
        }
        other => panic!("expected Blocked, got {other:?}"),
    }
    let err = post_json(
        &client,
        &policy,
        &server.url("localhost", "/cb"),
        b"{}",
        &[],
    )
    .await
    .unwrap_err();
    assert!(matches!(err, EgressError::Blocked { .. }), "{err:?}");
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(server.connections(), 0);
}

#[tokio::test]
async fn resolver_checks_every_address() {
    let resolver = SafeResolver::new(open());
    let err = resolver.resolve_checked("localhost").await.unwrap_err();
    assert!(matches!(err, EgressError::Blocked { .. }), "{err:?}");
    let err = resolver
        .resolve_checked("169.254.169.254")
        .await
        .unwrap_err();
    assert!(matches!(err, EgressError::Blocked { .. }), "{err:?}");
    let err = resolver
        .resolve_checked("does-not-exist.invalid")
        .await
        .unwrap_err();
    assert!(matches!(err, EgressError::Resolve { .. }), "{err:?}");

    let resolver = SafeResolver::new(local());
    let addrs = resolver.resolve_checked("localhost").await.unwrap();
    assert!(!addrs.is_empty());
    assert!(addrs.iter().all(|a| a.ip().is_loopback()));
}

#[tokio::test]
async fn allowlisted_loopback_is_fetched() {
    let server = Canned::ok("RIFF-audio").await;
    let policy = local();
    let client = client(&policy);
    for host in ["127.0.0.1", "localhost"] {
        let fetched = fetch(&client, &policy, &server.url(host, "/a.wav"), 1024)
            .await
            .unwrap();
        assert_eq!(fetched.status, 200);
        assert_eq!(fetched.content_type.as_deref(), Some("audio/wav"));
        assert_eq!(fetched.bytes, b"RIFF-audio");
    }
    assert_eq!(server.connections(), 2);
    assert!(server.requests.lock().unwrap()[0].starts_with("GET /a.wav HTTP/1.1\r\n"));
}

#[tokio::test]
async fn non_success_status_is_returned_not_an_error() {
    let response = b"HTTP/1.1 404 Not Found\r\nContent-Length: 4\r\n\r\nnope".to_vec();
    let server = Canned::start(response, Duration::ZERO).await;
    let policy = local();
    let fetched = fetch(&client(&policy), &policy, &server.url("127.0.0.1", "/"), 64)
        .await
        .unwrap();
    assert_eq!(fetched.status, 404);
    assert_eq!(fetched.bytes, b"nope");
}

#[tokio::test]
async fn redirect_is_reported_and_never_followed() {
    let target = Canned::ok("internal secret").await;
    let location = target.url("127.0.0.1", "/secret");
    let response = format!(
        "HTTP/1.1 302 Found\r\nLocation: {location}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    );
    let redirector = Canned::start(response.into_bytes(), Duration::ZERO).await;
    let policy = local();
    let client = client(&policy);
    let err = fetch(&client, &policy, &redirector.url("127.0.0.1", "/a"), 1024)
        .await
        .unwrap_err();
    assert_eq!(
        err,
        EgressError::Redirect {
            status: 302,
            location: Some(location.clone()),
        }
    );
    let err = post_json(
        &client,
        &policy,
        &redirector.url("127.0.0.1", "/cb"),
        b"{}",
        &[],
    )
    .await
    .unwrap_err();
    assert!(matches!(err, EgressError::Redirect { status: 302, .. }));
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(redirector.connections(), 2);
    assert_eq!(target.connections(), 0);
}

#[tokio::test]
async fn body_over_the_limit_is_too_large() {
    let policy = local();
    let client = client(&policy);
    let body = "x".repeat(10_000);

    // Declared length: refused from the header.
    let server = Canned::ok(&body).await;
    let err = fetch(&client, &policy, &server.url("127.0.0.1", "/"), 1_000)
        .await
        .unwrap_err();
    assert_eq!(err, EgressError::TooLarge { limit: 1_000 });
    let fetched = fetch(&client, &policy, &server.url("127.0.0.1", "/"), 10_000)
        .await
        .unwrap();
    assert_eq!(fetched.bytes.len(), 10_000);

    // No length (read until close): refused while streaming.
    let response = format!("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n{body}");
    let server = Canned::start(response.into_bytes(), Duration::ZERO).await;
    let err = fetch(&client, &policy, &server.url("127.0.0.1", "/"), 1_000)
        .await
        .unwrap_err();
    assert_eq!(err, EgressError::TooLarge { limit: 1_000 });

    // Chunked: refused while streaming.
    let chunk = "y".repeat(600);
    let response = format!(
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n258\r\n{chunk}\r\n258\r\n{chunk}\r\n0\r\n\r\n"
    );
    let server = Canned::start(response.into_bytes(), Duration::ZERO).await;
    let err = fetch(&client, &policy, &server.url("127.0.0.1", "/"), 1_000)
        .await
        .unwrap_err();
    assert_eq!(err, EgressError::TooLarge { limit: 1_000 });
}

#[tokio::test]
async fn slow_server_times_out() {
    let response = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok".to_vec();
    let server = Canned::start(response, Duration::from_secs(5)).await;
    let policy = local();
    let cfg = ClientConfig {
        timeout: Duration::from_millis(300),
        ..ClientConfig::default()
    };
    let client = safe_client(policy.clone(), cfg).unwrap();
    let started = std::time::Instant::now();
    let err = fetch(&client, &policy, &server.url("127.0.0.1", "/"), 64)
        .await
        .unwrap_err();
    assert_eq!(err, EgressError::Timeout);
    let err = post_json(
        &client,
        &policy,
        &server.url("127.0.0.1", "/cb"),
        b"{}",
        &[],
    )
    .await
    .unwrap_err();
    assert_eq!(err, EgressError::Timeout);
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[tokio::test]
async fn post_json_delivers_body_and_headers() {
    let response = b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n".to_vec();
    let server = Canned::start(response, Duration::ZERO).await;
    let policy = local();
    let headers = vec![
        ("X-Indox-Signature".to_owned(), "t=1,v1=abc".to_owned()),
        (
            "Content-Type".to_owned(),
            "application/vnd.indox+json".to_owned(),
        ),
    ];
    let status = post_json(
        &client(&policy),
        &policy,
        &server.url("127.0.0.1", "/cb"),
        br#"{"job":"j1"}"#,
        &headers,
    )
    .await
    .unwrap();
    assert_eq!(status, 204);
    let request = server.requests.lock().unwrap()[0].to_ascii_lowercase();
    assert!(request.starts_with("post /cb http/1.1\r\n"), "{request}");
    assert!(
        request.contains("x-indox-signature: t=1,v1=abc\r\n"),
        "{request}"
    );
    assert!(
        request.contains("content-type: application/vnd.indox+json\r\n"),
        "{request}"
    );
    assert!(
        !request.contains("content-type: application/json\r\n"),
        "{request}"
    );
    assert!(request.ends_with(r#"{"job":"j1"}"#), "{request}");

    let bad = vec![("bad header".to_owned(), "v".to_owned())];
    let err = post_json(
        &client(&policy),
        &policy,
        &server.url("127.0.0.1", "/cb"),
        b"{}",
        &bad,
    )
    .await
    .unwrap_err();
    assert_eq!(err, EgressError::InvalidHeader("bad header".to_owned()));
}

#[tokio::test]
async fn refused_schemes_and_credentials_never_connect() {
    let server = Canned::ok("x").await;
    let policy = local();
    let client = client(&policy);
    let port = server.addr.port();
    let err = fetch(&client, &policy, &format!("ftp://127.0.0.1:{port}/"), 64)
        .await
        .unwrap_err();
    assert_eq!(err, EgressError::Scheme("ftp".to_owned()));
    let err = fetch(
        &client,
        &policy,
        &format!("http://u:p@127.0.0.1:{port}/"),
        64,
    )
    .await
    .unwrap_err();
    assert_eq!(err, EgressError::Userinfo);
    assert_eq!(server.connections(), 0);
}
