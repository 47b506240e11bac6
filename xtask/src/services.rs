//! Making sure the services the project needs are installed and running: Postgres, Redis,
//! the local S3-compatible server (s3s-fs) and the Resemble simulator.

use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

/// The pinned version of the local S3 server.
pub const S3S_FS_VERSION: &str = "0.14.1";

/// Runs a command, failing with its name when it fails.
pub fn run(cmd: &mut Command) -> anyhow::Result<()> {
    let shown = format!("{cmd:?}");
    let status = cmd.status().with_context(|| format!("starting {shown}"))?;
    if !status.success() {
        bail!("{shown} failed with {status}");
    }
    Ok(())
}

/// Runs a command and returns its standard output.
pub fn output(cmd: &mut Command) -> anyhow::Result<String> {
    let shown = format!("{cmd:?}");
    let out = cmd
        .stderr(Stdio::inherit())
        .output()
        .with_context(|| format!("starting {shown}"))?;
    if !out.status.success() {
        bail!("{shown} failed with {}", out.status);
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn have(program: &str) -> bool {
    Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {program}"))
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// Whether something accepts TCP connections at `addr`.
pub fn port_open(addr: &str) -> bool {
    addr.parse::<SocketAddr>()
        .is_ok_and(|a| TcpStream::connect_timeout(&a, Duration::from_millis(300)).is_ok())
}

/// Waits until `addr` accepts connections.
pub fn wait_port(addr: &str, timeout: Duration) -> anyhow::Result<()> {
    let start = Instant::now();
    while start.elapsed() < timeout {
        if port_open(addr) {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    bail!("nothing answered on {addr} within {} s", timeout.as_secs())
}

fn apt_install(packages: &[&str]) -> anyhow::Result<()> {
    if !is_root() || !have("apt-get") {
        bail!(
            "{} not installed. Install it (Debian/Ubuntu: `sudo apt-get install {}`), or point the environment at running servers",
            packages.join(" and "),
            packages.join(" ")
        );
    }
    eprintln!("installing {} with apt-get", packages.join(" "));
    run(Command::new("apt-get").arg("update").arg("-qq"))?;
    run(Command::new("apt-get")
        .args(["install", "-y", "-qq"])
        .args(packages)
        .env("DEBIAN_FRONTEND", "noninteractive"))
}

/// Makes sure PostgreSQL answers on 127.0.0.1:5432: starts the installed cluster, or installs it.
pub fn ensure_postgres() -> anyhow::Result<()> {
    if port_open("127.0.0.1:5432") {
        return Ok(());
    }
    if !have("pg_ctlcluster") {
        apt_install(&["postgresql"])?;
    }
    let versions = std::fs::read_dir("/etc/postgresql")
        .context("no /etc/postgresql: is PostgreSQL installed?")?;
    for v in versions.flatten() {
        let version = v.file_name().to_string_lossy().into_owned();
        eprintln!("starting PostgreSQL {version}");
        let _ = Command::new("pg_ctlcluster")
            .args(["--skip-systemctl-redirect", &version, "main", "start"])
            .status();
    }
    wait_port("127.0.0.1:5432", Duration::from_secs(30)).context(
        "PostgreSQL did not start; it must accept `postgres` over 127.0.0.1:5432 with trust auth (or set DATABASE_URL)",
    )
}

/// Makes sure Redis answers on 127.0.0.1:6379: starts it, or installs it.
pub fn ensure_redis() -> anyhow::Result<()> {
    if port_open("127.0.0.1:6379") {
        return Ok(());
    }
    if !have("redis-server") {
        apt_install(&["redis-server"])?;
    }
    eprintln!("starting Redis");
    run(Command::new("redis-server").args([
        "--daemonize",
        "yes",
        "--bind",
        "127.0.0.1",
        "--port",
        "6379",
        "--save",
        "",
        "--appendonly",
        "no",
    ]))?;
    wait_port("127.0.0.1:6379", Duration::from_secs(15))
}

/// The path of the s3s-fs binary, installing it with cargo when missing.
pub fn ensure_s3s_fs() -> anyhow::Result<PathBuf> {
    if let Ok(p) = std::env::var("S3S_FS_BIN") {
        return Ok(PathBuf::from(p));
    }
    let home = std::env::var("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|_| std::env::var("HOME").map(|h| Path::new(&h).join(".cargo")))
        .context("neither CARGO_HOME nor HOME is set")?;
    let bin = home.join("bin").join("s3s-fs");
    let current = bin.exists()
        && Command::new(&bin)
            .arg("--version")
            .output()
            .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains(S3S_FS_VERSION));
    if !current {
        eprintln!("installing s3s-fs {S3S_FS_VERSION} (the local S3-compatible server; takes a few minutes once)");
        run(Command::new("cargo").args([
            "install",
            &format!("s3s-fs@{S3S_FS_VERSION}"),
            "--locked",
            "--features",
            "binary",
        ]))?;
    }
    Ok(bin)
}

/// A child process killed when dropped.
pub struct Guard(pub Child, pub &'static str);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
        eprintln!("stopped {}", self.1);
    }
}

/// Starts s3s-fs serving `dir` on `port`.
pub fn start_s3(
    bin: &Path,
    dir: &Path,
    port: u16,
    access: &str,
    secret: &str,
) -> anyhow::Result<Guard> {
    std::fs::create_dir_all(dir)?;
    let addr = format!("127.0.0.1:{port}");
    if port_open(&addr) {
        bail!("port {port} is taken; stop what runs there or set S3_PORT");
    }
    let child = Command::new(bin)
        .args([
            "--host",
            "127.0.0.1",
            "--port",
            &port.to_string(),
            "--access-key",
            access,
            "--secret-key",
            secret,
        ])
        .arg(dir)
        .stdout(Stdio::null())
        .spawn()
        .context("starting s3s-fs")?;
    let guard = Guard(child, "s3s-fs");
    wait_port(&addr, Duration::from_secs(20))?;
    Ok(guard)
}

/// Starts a binary of this workspace that was already built into `target/<profile>/`.
pub fn start_binary(
    root: &Path,
    profile: &str,
    name: &str,
    args: &[&str],
    envs: &[(&str, String)],
    label: &'static str,
) -> anyhow::Result<Guard> {
    let path = root.join("target").join(profile).join(name);
    let mut cmd = Command::new(&path);
    cmd.args(args);
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let child = cmd
        .spawn()
        .with_context(|| format!("starting {}", path.display()))?;
    Ok(Guard(child, label))
}

/// Creates a Postgres database if it does not exist, using psql over TCP.
pub fn ensure_database(name: &str) -> anyhow::Result<()> {
    let exists = output(Command::new("psql").args([
        "-h",
        "127.0.0.1",
        "-U",
        "postgres",
        "-tAc",
        &format!("SELECT 1 FROM pg_database WHERE datname = '{name}'"),
    ]))?;
    if exists.trim() != "1" {
        run(Command::new("psql").args([
            "-h",
            "127.0.0.1",
            "-U",
            "postgres",
            "-qc",
            &format!("CREATE DATABASE \"{name}\""),
        ]))?;
    }
    Ok(())
}

/// Makes sure `python3` with `requests` is available (the product page's snippets are run
/// by the test suite as users would run them).
pub fn ensure_python_requests() -> anyhow::Result<()> {
    let ok = Command::new("python3")
        .args(["-c", "import requests"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if ok {
        return Ok(());
    }
    if !have("python3") {
        apt_install(&["python3", "python3-requests"])?;
        return Ok(());
    }
    eprintln!("installing the Python package `requests` (used to run the product page's snippets)");
    run(Command::new("python3").args(["-m", "pip", "install", "--quiet", "requests"]))
        .or_else(|_| apt_install(&["python3-requests"]))
}

/// The pinned schemathesis, the contract test's API fuzzer (`tests/api/contract.rs`).
pub const SCHEMATHESIS_VERSION: &str = "4.32.5";

/// Installs schemathesis from PyPI (run by the contract test as `python3 -m schemathesis.cli`).
pub fn ensure_schemathesis() -> anyhow::Result<()> {
    let installed = Command::new("python3")
        .args(["-m", "schemathesis.cli", "--version"])
        .stderr(Stdio::null())
        .output()
        .is_ok_and(|o| {
            o.status.success() && String::from_utf8_lossy(&o.stdout).contains(SCHEMATHESIS_VERSION)
        });
    if installed {
        return Ok(());
    }
    if !have("python3") {
        apt_install(&["python3", "python3-pip"])?;
    }
    eprintln!("installing schemathesis {SCHEMATHESIS_VERSION} from PyPI (the contract test)");
    let spec = format!("schemathesis=={SCHEMATHESIS_VERSION}");
    let pip = |extra: &[&str]| {
        let mut c = Command::new("python3");
        c.args(["-m", "pip", "install", "--quiet"])
            .args(extra)
            .arg(&spec);
        run(&mut c)
    };
    pip(&[])
        // A Debian Python refuses a plain install (PEP 668); the CI machine is ours to change.
        .or_else(|_| pip(&["--break-system-packages"]))
        .or_else(|_| {
            apt_install(&["python3-pip"])?;
            pip(&["--break-system-packages"])
        })
}

/// Debian's Chromium and ChromeDriver, for the usage console's browser test.
pub fn ensure_chromium() -> anyhow::Result<()> {
    let present = |p: &str| std::path::Path::new(p).exists();
    if present("/usr/bin/chromium") && present("/usr/bin/chromedriver") {
        return Ok(());
    }
    eprintln!("installing Debian's chromium and chromium-driver (the console's browser test)");
    apt_install(&["chromium", "chromium-driver"])
}
