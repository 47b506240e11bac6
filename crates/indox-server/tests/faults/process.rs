//! The gateway as a real process (`indox serve`, the binary cargo built for this crate),
//! configured only by environment variables, so it can be killed with SIGKILL and started
//! again on the same port.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

/// A child `indox serve`; killed on drop.
pub struct GatewayProcess {
    pub port: u16,
    env: BTreeMap<String, String>,
    log: PathBuf,
    child: Option<Child>,
    /// How many times it was started.
    pub starts: u32,
}

impl GatewayProcess {
    /// Starts `indox serve` with `env` (and nothing inherited but `PATH` and `HOME`),
    /// logging to `log`.
    pub fn start(port: u16, env: BTreeMap<String, String>, log: PathBuf) -> Self {
        let mut this = Self {
            port,
            env,
            log,
            child: None,
            starts: 0,
        };
        this.spawn();
        this
    }

    fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("the gateway log opens");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_indox"));
        cmd.arg("serve")
            .env_clear()
            .envs(
                ["PATH", "HOME"]
                    .iter()
                    .filter_map(|k| std::env::var(k).ok().map(|v| (*k, v))),
            )
            .envs(&self.env)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log);
        self.child = Some(cmd.spawn().expect("the gateway binary starts"));
        self.starts += 1;
    }

    /// `http://127.0.0.1:<port>`
    pub fn root(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// SIGKILL (`Child::kill` on Unix): no shutdown hook, no graceful stop.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again with the same environment (same port, database, bucket…).
    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
    }

    /// The last `lines` lines of its log (for failure messages).
    pub fn log_tail(&self, lines: usize) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }
}

impl Drop for GatewayProcess {
    fn drop(&mut self) {
        self.kill();
    }
}
