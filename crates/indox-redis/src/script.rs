//! The acquire Lua script: its source, how checks become KEYS/ARGV, and how replies become decisions.

use std::fmt::Write as _;

use deadpool_redis::redis;
use indox_ratelimit::{Decision, WindowCheck};

use crate::RedisError;

/// The script source; see `acquire.lua` for the contract.
pub(crate) const SOURCE: &str = include_str!("acquire.lua");

/// The key of the counter that keeps sorted-set members unique.
pub(crate) const SEQ_KEY: &str = "indox:ratelimit:seq";

/// The script, with its SHA1 computed once.
pub(crate) struct AcquireScript {
    sha: String,
}

impl AcquireScript {
    pub(crate) fn new() -> Self {
        let digest =
            ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, SOURCE.as_bytes());
        let sha = digest
            .as_ref()
            .iter()
            .fold(String::with_capacity(40), |mut s, b| {
                let _ = write!(s, "{b:02x}");
                s
            });
        Self { sha }
    }

    /// `EVALSHA` for `checks`.
    pub(crate) fn evalsha(&self, checks: &[WindowCheck]) -> redis::Cmd {
        let mut cmd = redis::cmd("EVALSHA");
        cmd.arg(&self.sha);
        push_keys_and_args(&mut cmd, checks);
        cmd
    }

    /// `EVAL` for `checks`, used when Redis does not know the script yet.
    pub(crate) fn eval(checks: &[WindowCheck]) -> redis::Cmd {
        let mut cmd = redis::cmd("EVAL");
        cmd.arg(SOURCE);
        push_keys_and_args(&mut cmd, checks);
        cmd
    }
}

fn push_keys_and_args(cmd: &mut redis::Cmd, checks: &[WindowCheck]) {
    cmd.arg(checks.len() + 1);
    for c in checks {
        cmd.arg(&c.key);
    }
    cmd.arg(SEQ_KEY);
    cmd.arg(checks.len());
    for c in checks {
        cmd.arg(c.limit.max).arg(c.limit.window_ms).arg(c.cost);
    }
}

/// Turns the script's reply (one `[allowed, limit, remaining, retry, reset]` per check)
/// into decisions.
pub(crate) fn decode(reply: Vec<Vec<i64>>, expected: usize) -> Result<Vec<Decision>, RedisError> {
    if reply.len() != expected {
        return Err(RedisError::Reply(format!(
            "{} decisions for {} checks",
            reply.len(),
            expected
        )));
    }
    reply.into_iter().map(|row| decode_one(&row)).collect()
}

fn decode_one(row: &[i64]) -> Result<Decision, RedisError> {
    let &[allowed, limit, remaining, retry, reset] = row else {
        return Err(RedisError::Reply(format!(
            "a decision of {} fields",
            row.len()
        )));
    };
    let bad = |what: &str, v: i64| RedisError::Reply(format!("{what} out of range: {v}"));
    Ok(Decision {
        allowed: allowed == 1,
        limit: u32::try_from(limit).map_err(|_| bad("limit", limit))?,
        remaining: u32::try_from(remaining).map_err(|_| bad("remaining", remaining))?,
        retry_after_ms: u64::try_from(retry).map_err(|_| bad("retry_after_ms", retry))?,
        reset_after_ms: u64::try_from(reset).map_err(|_| bad("reset_after_ms", reset))?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use indox_ratelimit::Limit;

    #[test]
    fn keys_then_sequence_key_then_triples() {
        let checks = [
            WindowCheck {
                key: "a".into(),
                limit: Limit::new(5, 1_000),
                cost: 1,
            },
            WindowCheck {
                key: "b".into(),
                limit: Limit::new(40, 60_000),
                cost: 2,
            },
        ];
        let args: Vec<String> = AcquireScript::eval(&checks)
            .args_iter()
            .map(|a| match a {
                redis::Arg::Simple(b) => String::from_utf8_lossy(b).into_owned(),
                _ => "<other>".to_owned(),
            })
            .collect();
        assert_eq!(args[0], "EVAL");
        assert_eq!(args[1], SOURCE);
        assert_eq!(
            &args[2..],
            ["3", "a", "b", SEQ_KEY, "2", "5", "1000", "1", "40", "60000", "2"]
        );
    }

    #[test]
    fn sha_is_the_sha1_of_the_source() {
        let sha = AcquireScript::new().sha;
        assert_eq!(sha.len(), 40);
        assert!(sha
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
    }

    #[test]
    fn decodes_and_rejects_malformed_replies() {
        let d = decode(vec![vec![0, 3, 0, 250, 900]], 1).unwrap();
        assert_eq!(
            d,
            vec![Decision {
                allowed: false,
                limit: 3,
                remaining: 0,
                retry_after_ms: 250,
                reset_after_ms: 900
            }]
        );
        assert!(decode(vec![vec![1, 3, 2, 0]], 1).is_err());
        assert!(decode(vec![vec![1, 3, -1, 0, 0]], 1).is_err());
        assert!(decode(vec![], 1).is_err());
    }
}
