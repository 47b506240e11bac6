//! Test support: `LocalS3`, a throwaway s3s-fs server on a free loopback port (feature `test-support`).

use std::fmt;
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::{S3Config, S3Error};

/// How long `start`/`restart` wait for the server to accept connections.
const READY_TIMEOUT: Duration = Duration::from_secs(10);

/// A running s3s-fs server with a temporary root and fresh credentials; killed on drop.
pub struct LocalS3 {
    /// `http://127.0.0.1:<port>`.
    pub endpoint: String,
    pub access_key: String,
    pub secret_key: String,
    /// The region the server is used with.
    pub region: String,
    port: u16,
    root: PathBuf,
    bin: PathBuf,
    child: Option<Child>,
}

impl fmt::Debug for LocalS3 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalS3")
            .field("endpoint", &self.endpoint)
            .field("root", &self.root)
            .field("running", &self.child.is_some())
            .finish_non_exhaustive()
    }
}

impl LocalS3 {
    /// Finds the s3s-fs binary, starts it on a free port and waits until it answers.
    ///
    /// # Errors
    /// [`S3Error::Config`] when the binary is missing or the server does not come up.
    pub async fn start() -> Result<Self, S3Error> {
        let bin = find_binary()?;
        let id = uuid::Uuid::new_v4().simple().to_string();
        let root = std::env::temp_dir().join(format!("indox-s3-{id}"));
        std::fs::create_dir_all(&root)
            .map_err(|e| S3Error::Config(format!("temp root {}: {e}", root.display())))?;
        let port = free_port()?;
        let mut this = Self {
            endpoint: format!("http://127.0.0.1:{port}"),
            access_key: format!("AK{}", id[..18].to_uppercase()),
            secret_key: uuid::Uuid::new_v4().simple().to_string(),
            region: "us-east-1".to_owned(),
            port,
            root,
            bin,
            child: None,
        };
        this.spawn().await?;
        Ok(this)
    }

    /// Settings for `bucket` on this server, with a short timeout suited to tests.
    pub fn config(&self, bucket: &str) -> S3Config {
        let mut cfg = S3Config::new(
            &self.endpoint,
            &self.region,
            bucket,
            &self.access_key,
            &self.secret_key,
        );
        cfg.timeout = Duration::from_secs(2);
        cfg
    }

    /// A bucket name no other test uses.
    pub fn unique_bucket(prefix: &str) -> String {
        let id = uuid::Uuid::new_v4().simple().to_string();
        format!("{prefix}-{}", &id[..12])
    }

    /// The directory the server stores objects in.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Kills the server (keeping its data and port) to simulate an outage.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port, data and credentials.
    ///
    /// # Errors
    /// [`S3Error::Config`] when it does not come up.
    pub async fn restart(&mut self) -> Result<(), S3Error> {
        self.stop();
        self.spawn().await
    }

    async fn spawn(&mut self) -> Result<(), S3Error> {
        let child = Command::new(&self.bin)
            .arg("--host")
            .arg("127.0.0.1")
            .arg("--port")
            .arg(self.port.to_string())
            .arg("--access-key")
            .arg(&self.access_key)
            .arg("--secret-key")
            .arg(&self.secret_key)
            .arg(&self.root)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| S3Error::Config(format!("cannot run {}: {e}", self.bin.display())))?;
        self.child = Some(child);
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, self.port));
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if tokio::net::TcpStream::connect(addr).await.is_ok() {
                return Ok(());
            }
            if let Some(child) = self.child.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    self.child = None;
                    return Err(S3Error::Config(format!("s3s-fs exited early: {status}")));
                }
            }
            if Instant::now() > deadline {
                self.stop();
                return Err(S3Error::Config(format!(
                    "s3s-fs did not listen on {addr} within {READY_TIMEOUT:?}"
                )));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for LocalS3 {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

/// `S3S_FS_BIN`, else `~/.cargo/bin/s3s-fs`, else the first `s3s-fs` on `PATH`.
fn find_binary() -> Result<PathBuf, S3Error> {
    if let Some(p) = std::env::var_os("S3S_FS_BIN") {
        return Ok(PathBuf::from(p));
    }
    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")));
    if let Some(p) = cargo_home
        .map(|h| h.join("bin").join("s3s-fs"))
        .filter(|p| p.is_file())
    {
        return Ok(p);
    }
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|d| d.join("s3s-fs"))
        .find(|p| p.is_file())
        .ok_or_else(|| {
            S3Error::Config(
                "s3s-fs not found: set S3S_FS_BIN or `cargo install s3s-fs --features binary`"
                    .into(),
            )
        })
}

fn free_port() -> Result<u16, S3Error> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .map_err(|e| S3Error::Config(format!("no free port: {e}")))?;
    listener
        .local_addr()
        .map(|a| a.port())
        .map_err(|e| S3Error::Config(format!("no free port: {e}")))
}
