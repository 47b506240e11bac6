//! `indox-simulator` binary: serves the simulated Resemble API until SIGINT/SIGTERM.

use std::time::Duration;

use indox_simulator::SimConfig;

const USAGE: &str = "usage: indox-simulator [--port N] [--api-key K] [--latency-ms N] \
[--error-rate-5xx F] [--error-rate-429 F] [--seed N] [--rate-limit N] [--job-delay-ms N] \
[--job-failure-rate F] [--drop-callbacks true|false] [--callback-secret S] \
[--allow-private-urls true|false] [--voice-training-delay-ms N]\n\
env fallbacks: SIM_PORT SIM_API_KEY SIM_LATENCY_MS SIM_ERROR_RATE_5XX SIM_ERROR_RATE_429 \
SIM_SEED SIM_RATE_LIMIT SIM_JOB_DELAY_MS SIM_JOB_FAILURE_RATE SIM_DROP_CALLBACKS \
SIM_CALLBACK_SECRET SIM_ALLOW_PRIVATE_URLS SIM_VOICE_TRAINING_DELAY_MS";

#[derive(Debug)]
struct Args {
    port: u16,
    config: SimConfig,
}

fn parse<T: std::str::FromStr>(name: &str, value: &str) -> Result<T, String> {
    value
        .parse()
        .map_err(|_| format!("invalid value for {name}: {value:?}"))
}

fn parse_args(argv: &[String], env: impl Fn(&str) -> Option<String>) -> Result<Args, String> {
    let mut values: std::collections::HashMap<&str, String> = std::collections::HashMap::new();
    let flags = [
        ("--port", "SIM_PORT"),
        ("--api-key", "SIM_API_KEY"),
        ("--latency-ms", "SIM_LATENCY_MS"),
        ("--error-rate-5xx", "SIM_ERROR_RATE_5XX"),
        ("--error-rate-429", "SIM_ERROR_RATE_429"),
        ("--seed", "SIM_SEED"),
        ("--rate-limit", "SIM_RATE_LIMIT"),
        ("--job-delay-ms", "SIM_JOB_DELAY_MS"),
        ("--job-failure-rate", "SIM_JOB_FAILURE_RATE"),
        ("--drop-callbacks", "SIM_DROP_CALLBACKS"),
        ("--callback-secret", "SIM_CALLBACK_SECRET"),
        ("--allow-private-urls", "SIM_ALLOW_PRIVATE_URLS"),
        ("--voice-training-delay-ms", "SIM_VOICE_TRAINING_DELAY_MS"),
    ];
    for (flag, var) in flags {
        if let Some(v) = env(var) {
            values.insert(flag, v);
        }
    }
    let mut it = argv.iter();
    while let Some(arg) = it.next() {
        if arg == "-h" || arg == "--help" {
            return Err(USAGE.to_owned());
        }
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) => (f, Some(v.to_owned())),
            None => (arg.as_str(), None),
        };
        let Some((known, _)) = flags.iter().find(|(f, _)| *f == flag) else {
            return Err(format!("unknown argument {arg:?}\n{USAGE}"));
        };
        let value = match inline {
            Some(v) => v,
            None => it
                .next()
                .cloned()
                .ok_or_else(|| format!("{flag} needs a value"))?,
        };
        values.insert(known, value);
    }
    let mut config = SimConfig::default();
    let port = match values.get("--port") {
        Some(v) => parse("--port", v)?,
        None => 4010,
    };
    if let Some(v) = values.get("--api-key") {
        config.api_key = v.clone();
    }
    if let Some(v) = values.get("--latency-ms") {
        config.latency = Duration::from_millis(parse("--latency-ms", v)?);
    }
    for (flag, slot) in [
        ("--error-rate-5xx", &mut config.error_rate_5xx),
        ("--error-rate-429", &mut config.error_rate_429),
        ("--job-failure-rate", &mut config.job_failure_rate),
    ] {
        if let Some(v) = values.get(flag) {
            let rate: f64 = parse(flag, v)?;
            if !(0.0..=1.0).contains(&rate) {
                return Err(format!("{flag} must be within 0..=1"));
            }
            *slot = rate;
        }
    }
    if let Some(v) = values.get("--seed") {
        config.seed = parse("--seed", v)?;
    }
    if let Some(v) = values.get("--rate-limit") {
        let n: u32 = parse("--rate-limit", v)?;
        config.rate_limit_per_sec = (n > 0).then_some(n);
    }
    if let Some(v) = values.get("--job-delay-ms") {
        config.job_delay = Duration::from_millis(parse("--job-delay-ms", v)?);
    }
    if let Some(v) = values.get("--drop-callbacks") {
        config.drop_callbacks = parse("--drop-callbacks", v)?;
    }
    if let Some(v) = values.get("--callback-secret") {
        config.callback_secret = v.clone();
    }
    if let Some(v) = values.get("--allow-private-urls") {
        config.allow_private_urls = parse("--allow-private-urls", v)?;
    }
    if let Some(v) = values.get("--voice-training-delay-ms") {
        config.voice_training_delay = Duration::from_millis(parse("--voice-training-delay-ms", v)?);
    }
    Ok(Args { port, config })
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let args = match parse_args(&argv, |k| std::env::var(k).ok()) {
        Ok(a) => a,
        Err(msg) => {
            eprintln!("{msg}");
            return std::process::ExitCode::from(2);
        }
    };
    let listener = match std::net::TcpListener::bind(("127.0.0.1", args.port)) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("cannot bind 127.0.0.1:{}: {e}", args.port);
            return std::process::ExitCode::FAILURE;
        }
    };
    let handle = match indox_simulator::start(args.config, listener).await {
        Ok(h) => h,
        Err(e) => {
            eprintln!("cannot start simulator: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    #[allow(clippy::print_stdout)]
    {
        println!("listening on {}", handle.base_url);
    }
    shutdown_signal().await;
    handle.stop().await;
    std::process::ExitCode::SUCCESS
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(s: &[&str]) -> Vec<String> {
        s.iter().map(|x| (*x).to_owned()).collect()
    }

    #[test]
    fn flags_override_env() {
        let env = |k: &str| match k {
            "SIM_PORT" => Some("5000".to_owned()),
            "SIM_API_KEY" => Some("env-key".to_owned()),
            _ => None,
        };
        let a = parse_args(
            &argv(&[
                "--port",
                "4999",
                "--latency-ms=20",
                "--error-rate-429",
                "0.25",
            ]),
            env,
        )
        .unwrap();
        assert_eq!(a.port, 4999);
        assert_eq!(a.config.api_key, "env-key");
        assert_eq!(a.config.latency, Duration::from_millis(20));
        assert_eq!(a.config.error_rate_429, 0.25);
        let a = parse_args(&[], |_| None).unwrap();
        assert_eq!((a.port, a.config.api_key.as_str()), (4010, "sim-key"));
    }

    #[test]
    fn bad_args_are_errors() {
        assert!(parse_args(&argv(&["--port", "x"]), |_| None).is_err());
        assert!(parse_args(&argv(&["--bogus"]), |_| None).is_err());
        assert!(parse_args(&argv(&["--port"]), |_| None).is_err());
        assert!(parse_args(&argv(&["--error-rate-5xx", "2"]), |_| None).is_err());
        assert!(parse_args(&argv(&["--drop-callbacks", "maybe"]), |_| None).is_err());
    }

    #[test]
    fn job_flags() {
        let a = parse_args(
            &argv(&[
                "--job-delay-ms=7",
                "--job-failure-rate",
                "0.5",
                "--drop-callbacks=true",
                "--callback-secret",
                "s3",
                "--allow-private-urls=false",
                "--voice-training-delay-ms=9",
            ]),
            |_| None,
        )
        .unwrap();
        assert_eq!(a.config.job_delay, Duration::from_millis(7));
        assert_eq!(a.config.job_failure_rate, 0.5);
        assert!(a.config.drop_callbacks && !a.config.allow_private_urls);
        assert_eq!(a.config.callback_secret, "s3");
        assert_eq!(a.config.voice_training_delay, Duration::from_millis(9));
    }
}
