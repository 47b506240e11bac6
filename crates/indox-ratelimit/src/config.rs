//! Limits and their configuration: per capability, per account overrides, the upstream budget.

use std::collections::HashMap;

use indox_core::Capability;

use crate::RateLimitError;

/// At most `max` requests in any sliding `window_ms`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Limit {
    pub max: u32,
    pub window_ms: u64,
}

impl Limit {
    /// A limit of `max` per `window_ms` milliseconds.
    pub const fn new(max: u32, window_ms: u64) -> Self {
        Self { max, window_ms }
    }

    /// Parses `60/60s`, `40/1s`, `1000/1h` or `5/500ms`.
    ///
    /// # Errors
    /// [`RateLimitError::InvalidSpec`] when the text is not of that form or a part is zero.
    pub fn parse(spec: &str) -> Result<Self, RateLimitError> {
        let bad = |reason: &str| RateLimitError::InvalidSpec {
            spec: spec.to_owned(),
            reason: reason.to_owned(),
        };
        let (max, window) = spec
            .trim()
            .split_once('/')
            .ok_or_else(|| bad("expected <max>/<window>, e.g. 60/60s"))?;
        let max: u32 = max
            .trim()
            .parse()
            .map_err(|_| bad("max is not a whole number"))?;
        let window = window.trim();
        let (digits, unit_ms) = if let Some(d) = window.strip_suffix("ms") {
            (d, 1)
        } else if let Some(d) = window.strip_suffix('s') {
            (d, 1_000)
        } else if let Some(d) = window.strip_suffix('m') {
            (d, 60_000)
        } else if let Some(d) = window.strip_suffix('h') {
            (d, 3_600_000)
        } else {
            return Err(bad("window needs a unit: ms, s, m or h"));
        };
        let n: u64 = if digits.is_empty() {
            1
        } else {
            digits
                .parse()
                .map_err(|_| bad("window is not a whole number"))?
        };
        if max == 0 || n == 0 {
            return Err(bad("max and window must be greater than zero"));
        }
        Ok(Self::new(max, n * unit_ms))
    }
}

/// The limits in force.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LimitConfig {
    /// Per-account limit for capabilities not listed in `per_capability`.
    pub default: Limit,
    /// Per-account limit for each listed capability.
    pub per_capability: HashMap<Capability, Limit>,
    /// The shared budget of the upstream key, across all accounts and processes.
    pub upstream: Limit,
}

impl Default for LimitConfig {
    fn default() -> Self {
        Self {
            default: Limit::new(120, 60_000),
            per_capability: HashMap::new(),
            // Resemble documents about 40 requests/s per API token.
            upstream: Limit::new(40, 1_000),
        }
    }
}

impl LimitConfig {
    /// The per-account limit for a capability.
    pub fn for_capability(&self, c: Capability) -> Limit {
        self.per_capability.get(&c).copied().unwrap_or(self.default)
    }

    /// Parses `tts=60/60s,stt=30/1m,default=120/1m,upstream=40/1s` on top of the defaults.
    ///
    /// # Errors
    /// [`RateLimitError::InvalidSpec`] for an unknown capability or a bad limit.
    pub fn parse(spec: &str) -> Result<Self, RateLimitError> {
        let mut cfg = Self::default();
        for item in spec.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let (name, limit) =
                item.split_once('=')
                    .ok_or_else(|| RateLimitError::InvalidSpec {
                        spec: item.to_owned(),
                        reason: "expected <capability>=<max>/<window>".to_owned(),
                    })?;
            let limit = Limit::parse(limit)?;
            match name.trim() {
                "default" => cfg.default = limit,
                "upstream" => cfg.upstream = limit,
                other => {
                    let cap: Capability =
                        other
                            .parse()
                            .map_err(|e: indox_core::capability::UnknownCapability| {
                                RateLimitError::InvalidSpec {
                                    spec: item.to_owned(),
                                    reason: e.to_string(),
                                }
                            })?;
                    cfg.per_capability.insert(cap, limit);
                }
            }
        }
        Ok(cfg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_limits() {
        assert_eq!(Limit::parse("60/60s"), Ok(Limit::new(60, 60_000)));
        assert_eq!(Limit::parse("40/s"), Ok(Limit::new(40, 1_000)));
        assert_eq!(Limit::parse("5/500ms"), Ok(Limit::new(5, 500)));
        assert_eq!(Limit::parse("100/2h"), Ok(Limit::new(100, 7_200_000)));
        for bad in ["", "60", "0/1s", "5/0s", "x/1s", "5/10", "5/1d"] {
            assert!(Limit::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn parses_config() {
        let cfg = LimitConfig::parse("tts=10/1s, default=5/1m, upstream=40/1s").unwrap();
        assert_eq!(cfg.for_capability(Capability::Tts), Limit::new(10, 1_000));
        assert_eq!(cfg.for_capability(Capability::Stt), Limit::new(5, 60_000));
        assert_eq!(cfg.upstream, Limit::new(40, 1_000));
        assert!(LimitConfig::parse("bogus=1/1s").is_err());
        assert!(LimitConfig::parse("tts").is_err());
    }
}
