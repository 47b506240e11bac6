//! An in-process TCP chaos proxy (after crates.io's `ChaosProxy`): listens on 127.0.0.1:0,
//! forwards every connection to a target (Postgres, Redis, the S3 server), and at runtime
//! cuts every open connection, stops listening (new connections are refused) and listens
//! again on the same port, adds latency to every chunk, or drops the next answer the target
//! sends on each connection and cuts it (the request reached the target, its reply is lost).
//! In front of Postgres it reads the backend's message framing, so that only an answer that
//! completes a statement (a `CommandComplete`) is dropped: the statement ran, and committed
//! if it was a commit, but the client never hears of it.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// The knobs every connection reads.
struct Shared {
    target: SocketAddr,
    /// The target speaks the Postgres protocol.
    postgres: bool,
    /// Added before forwarding each chunk, in both directions.
    latency_ms: AtomicU64,
    /// Armed: the target's next answer on every connection is dropped and the connection cut.
    drop_replies: AtomicBool,
    /// Bumped by `cut`: every connection open at that moment closes.
    cut: watch::Sender<u64>,
    /// Answers dropped since the start.
    dropped_replies: AtomicU64,
}

/// A running proxy; stops (and cuts everything) when dropped.
pub struct ChaosProxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
    accept: Mutex<Option<JoinHandle<()>>>,
}

impl ChaosProxy {
    /// Starts a proxy to `target` on a free loopback port.
    pub async fn start(target: SocketAddr) -> Self {
        Self::start_with(target, false).await
    }

    /// A proxy to the Postgres server of `url` (`postgres://u@127.0.0.1:5432/db`).
    pub async fn in_front_of_postgres(url: &str) -> Self {
        Self::start_with(host_port(url), true).await
    }

    async fn start_with(target: SocketAddr, postgres: bool) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("proxy binds");
        let addr = listener.local_addr().unwrap();
        let shared = Arc::new(Shared {
            target,
            postgres,
            latency_ms: AtomicU64::new(0),
            drop_replies: AtomicBool::new(false),
            cut: watch::channel(0).0,
            dropped_replies: AtomicU64::new(0),
        });
        let accept = tokio::spawn(accept_loop(listener, shared.clone()));
        Self {
            addr,
            shared,
            accept: Mutex::new(Some(accept)),
        }
    }

    /// A proxy to the `host:port` of a URL such as `postgres://u@127.0.0.1:5432/db`.
    pub async fn in_front_of(url: &str) -> Self {
        Self::start(host_port(url)).await
    }

    /// `url` with its `host:port` replaced by the proxy's.
    pub fn rewrite(&self, url: &str) -> String {
        let target = host_port(url);
        url.replacen(&target.to_string(), &self.addr.to_string(), 1)
    }

    /// Closes every connection open now; new ones are accepted as usual.
    pub fn cut(&self) {
        self.shared.cut.send_modify(|n| *n += 1);
    }

    /// Cuts every connection and stops listening: new connections are refused.
    pub fn stop(&self) {
        if let Some(task) = self.accept.lock().unwrap().take() {
            task.abort();
        }
        self.cut();
    }

    /// Listens again on the same port.
    pub async fn restart(&self) {
        if self.accept.lock().unwrap().is_some() {
            return;
        }
        // The aborted accept task drops its listener when the runtime next polls it.
        let mut tries = 0;
        let listener = loop {
            match TcpListener::bind(self.addr).await {
                Ok(l) => break l,
                Err(_) if tries < 250 => {
                    tries += 1;
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                Err(e) => panic!("the proxy cannot listen on {} again: {e}", self.addr),
            }
        };
        *self.accept.lock().unwrap() =
            Some(tokio::spawn(accept_loop(listener, self.shared.clone())));
    }

    /// Adds `latency` before each chunk is forwarded (zero removes it).
    pub fn set_latency(&self, latency: Duration) {
        self.shared
            .latency_ms
            .store(latency.as_millis() as u64, Ordering::SeqCst);
    }

    /// While armed, the target's next answer on each connection is dropped (never reaches the
    /// client) and that connection is cut: whatever the client sent was received and done.
    /// In front of Postgres only an answer that completes a statement is dropped (connection
    /// start-ups and statement preparations pass), so the statement surely ran.
    pub fn drop_replies(&self, armed: bool) {
        self.shared.drop_replies.store(armed, Ordering::SeqCst);
    }

    /// How many answers `drop_replies` swallowed so far.
    pub fn dropped_replies(&self) -> u64 {
        self.shared.dropped_replies.load(Ordering::SeqCst)
    }
}

impl Drop for ChaosProxy {
    fn drop(&mut self) {
        self.stop();
    }
}

/// `host:port` of a URL (`scheme://[user@]host:port[/…]`).
fn host_port(url: &str) -> SocketAddr {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split(['/', '?']).next().unwrap_or(rest);
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    host_port
        .parse()
        .unwrap_or_else(|e| panic!("{host_port:?} is not an ip:port ({e})"))
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    loop {
        let Ok((client, _)) = listener.accept().await else {
            continue;
        };
        tokio::spawn(serve(client, shared.clone()));
    }
}

async fn serve(client: TcpStream, shared: Arc<Shared>) {
    let mut cut = shared.cut.subscribe();
    cut.mark_unchanged();
    let server = tokio::select! {
        s = TcpStream::connect(shared.target) => match s {
            Ok(s) => s,
            Err(_) => return,
        },
        _ = cut.changed() => return,
    };
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let (mut cr, mut cw) = client.into_split();
    let (mut sr, mut sw) = server.into_split();
    let cut_now = {
        let up = pump(&mut cr, &mut sw, &shared, false);
        let down = pump(&mut sr, &mut cw, &shared, true);
        tokio::pin!(up, down);
        let (mut up_done, mut down_done) = (false, false);
        loop {
            let ended = tokio::select! {
                r = &mut up, if !up_done => { up_done = true; r }
                r = &mut down, if !down_done => { down_done = true; r }
                _ = cut.changed() => Pump::Cut,
            };
            if ended == Pump::Cut {
                break true;
            }
            if up_done && down_done {
                break false;
            }
        }
    };
    if cut_now {
        // A hard close on both sides, as a dropped link or a killed server looks.
        let _ = cw.as_ref().set_zero_linger();
        let _ = sw.as_ref().set_zero_linger();
    }
}

#[derive(PartialEq)]
enum Pump {
    Eof,
    Cut,
}

async fn pump(
    from: &mut OwnedReadHalf,
    to: &mut OwnedWriteHalf,
    shared: &Shared,
    is_reply: bool,
) -> Pump {
    let mut buf = vec![0u8; 16 * 1024];
    let mut framing = Framing::default();
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => {
                let _ = to.shutdown().await;
                return Pump::Eof;
            }
            Ok(n) => n,
        };
        // Every answer is walked, so the framing stays in step.
        let completes = is_reply && shared.postgres && framing.command_complete(&buf[..n]);
        if is_reply && shared.drop_replies.load(Ordering::SeqCst) && (completes || !shared.postgres)
        {
            shared.dropped_replies.fetch_add(1, Ordering::SeqCst);
            return Pump::Cut;
        }
        let latency = shared.latency_ms.load(Ordering::SeqCst);
        if latency > 0 {
            tokio::time::sleep(Duration::from_millis(latency)).await;
        }
        if to.write_all(&buf[..n]).await.is_err() {
            return Pump::Cut;
        }
    }
}

/// Walks Postgres backend messages (a type byte, then a big-endian length that counts itself)
/// across chunks.
#[derive(Default)]
struct Framing {
    /// Bytes left of the current message's body.
    skip: usize,
    /// The part of the next message's header read so far.
    header: Vec<u8>,
}

impl Framing {
    /// Whether `chunk` holds the start of a `CommandComplete` (`C`) message.
    fn command_complete(&mut self, mut chunk: &[u8]) -> bool {
        let mut found = false;
        loop {
            let n = self.skip.min(chunk.len());
            self.skip -= n;
            chunk = &chunk[n..];
            if chunk.is_empty() {
                return found;
            }
            let n = (5 - self.header.len()).min(chunk.len());
            self.header.extend_from_slice(&chunk[..n]);
            chunk = &chunk[n..];
            if self.header.len() < 5 {
                return found;
            }
            found |= self.header[0] == b'C';
            let len = u32::from_be_bytes([
                self.header[1],
                self.header[2],
                self.header[3],
                self.header[4],
            ]);
            self.skip = (len as usize).saturating_sub(4);
            self.header.clear();
        }
    }
}

#[test]
fn framing_finds_command_complete_across_chunks() {
    // ParseComplete, then CommandComplete "SELECT 1" split in the middle of its header.
    let mut bytes = vec![b'1', 0, 0, 0, 4];
    let tag = b"SELECT 1\0";
    bytes.push(b'C');
    bytes.extend_from_slice(&(4 + tag.len() as u32).to_be_bytes());
    bytes.extend_from_slice(tag);
    bytes.extend_from_slice(&[b'Z', 0, 0, 0, 5, b'I']);
    let mut f = Framing::default();
    assert!(!f.command_complete(&bytes[..7]));
    assert!(f.command_complete(&bytes[7..]));
    let mut f = Framing::default();
    assert!(!f.command_complete(&[b'1', 0, 0, 0, 4, b'Z', 0, 0, 0, 5, b'I']));
}
