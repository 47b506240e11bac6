//! Pure target classification (no IO): which IP addresses and URLs the gateway may contact.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use url::{Host, Url};

use crate::EgressError;

/// Non-public IPv4 ranges: network, prefix length, reason. The first match names the reason.
const V4_BLOCKED: &[([u8; 4], u8, &str)] = &[
    ([255, 255, 255, 255], 32, "broadcast (255.255.255.255)"),
    ([0, 0, 0, 0], 8, "unspecified / this network (0.0.0.0/8)"),
    ([10, 0, 0, 0], 8, "private (10.0.0.0/8)"),
    ([100, 64, 0, 0], 10, "carrier-grade NAT (100.64.0.0/10)"),
    ([127, 0, 0, 0], 8, "loopback (127.0.0.0/8)"),
    ([169, 254, 169, 254], 32, "cloud metadata (169.254.169.254)"),
    ([169, 254, 0, 0], 16, "link-local (169.254.0.0/16)"),
    ([172, 16, 0, 0], 12, "private (172.16.0.0/12)"),
    (
        [192, 0, 0, 0],
        24,
        "IETF protocol assignments (192.0.0.0/24)",
    ),
    ([192, 0, 2, 0], 24, "documentation (192.0.2.0/24)"),
    ([192, 88, 99, 0], 24, "6to4 relay anycast (192.88.99.0/24)"),
    ([192, 168, 0, 0], 16, "private (192.168.0.0/16)"),
    ([198, 18, 0, 0], 15, "benchmarking (198.18.0.0/15)"),
    ([198, 51, 100, 0], 24, "documentation (198.51.100.0/24)"),
    ([203, 0, 113, 0], 24, "documentation (203.0.113.0/24)"),
    ([224, 0, 0, 0], 4, "multicast (224.0.0.0/4)"),
    ([240, 0, 0, 0], 4, "reserved (240.0.0.0/4)"),
];

/// Non-public IPv6 ranges (after IPv4-mapped and IPv4-compatible addresses were judged by
/// their IPv4). Anything outside the global unicast block 2000::/3 is refused as well.
const V6_BLOCKED: &[([u16; 8], u8, &str)] = &[
    ([0, 0, 0, 0, 0, 0, 0, 0], 128, "unspecified (::)"),
    ([0, 0, 0, 0, 0, 0, 0, 1], 128, "loopback (::1)"),
    (
        [0x64, 0xff9b, 0, 0, 0, 0, 0, 0],
        96,
        "NAT64 (64:ff9b::/96, embeds IPv4)",
    ),
    (
        [0x64, 0xff9b, 1, 0, 0, 0, 0, 0],
        48,
        "local-use NAT64 (64:ff9b:1::/48)",
    ),
    ([0x100, 0, 0, 0, 0, 0, 0, 0], 64, "discard-only (100::/64)"),
    (
        [0x2001, 0, 0, 0, 0, 0, 0, 0],
        32,
        "Teredo (2001::/32, embeds IPv4)",
    ),
    (
        [0x2001, 0, 0, 0, 0, 0, 0, 0],
        23,
        "IETF protocol assignments (2001::/23)",
    ),
    (
        [0x2001, 0xdb8, 0, 0, 0, 0, 0, 0],
        32,
        "documentation (2001:db8::/32)",
    ),
    (
        [0x2002, 0, 0, 0, 0, 0, 0, 0],
        16,
        "6to4 (2002::/16, embeds IPv4)",
    ),
    (
        [0x3fff, 0, 0, 0, 0, 0, 0, 0],
        20,
        "documentation (3fff::/20)",
    ),
    ([0x5f00, 0, 0, 0, 0, 0, 0, 0], 16, "SRv6 SIDs (5f00::/16)"),
    ([0xfc00, 0, 0, 0, 0, 0, 0, 0], 7, "unique local (fc00::/7)"),
    ([0xfe80, 0, 0, 0, 0, 0, 0, 0], 10, "link-local (fe80::/10)"),
    ([0xfec0, 0, 0, 0, 0, 0, 0, 0], 10, "site-local (fec0::/10)"),
    ([0xff00, 0, 0, 0, 0, 0, 0, 0], 8, "multicast (ff00::/8)"),
];

fn mask_v4(prefix: u8) -> u32 {
    u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0)
}

fn mask_v6(prefix: u8) -> u128 {
    u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0)
}

fn classify_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let bits = u32::from(ip);
    V4_BLOCKED
        .iter()
        .find(|(net, prefix, _)| bits & mask_v4(*prefix) == u32::from_be_bytes(*net))
        .map(|(_, _, reason)| *reason)
}

fn classify_v6(ip: Ipv6Addr) -> Option<&'static str> {
    // ::ffff:a.b.c.d reaches a.b.c.d on dual-stack hosts: judge the IPv4.
    if let Some(v4) = ip.to_ipv4_mapped() {
        return classify_v4(v4);
    }
    let bits = u128::from(ip);
    // IPv4-compatible ::a.b.c.d (deprecated); `::` and `::1` have their own entries.
    if bits >> 32 == 0 && bits > 1 {
        return classify_v4(Ipv4Addr::from(bits as u32));
    }
    let hit = V6_BLOCKED
        .iter()
        .find(|(net, prefix, _)| bits & mask_v6(*prefix) == u128::from(Ipv6Addr::from(*net)));
    if let Some((_, _, reason)) = hit {
        return Some(reason);
    }
    if bits & mask_v6(3) != 0x2000_u128 << 112 {
        return Some("not global unicast (outside 2000::/3)");
    }
    None
}

/// Why `ip` is not a public address (`Some(reason)`), or `None` if it is public.
///
/// IPv4-mapped (`::ffff:a.b.c.d`) and IPv4-compatible (`::a.b.c.d`) addresses are judged by
/// their IPv4; 6to4, NAT64 and Teredo, which also embed IPv4, are refused outright.
pub fn classify(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => classify_v6(v6),
    }
}

/// Whether `ip` is a publicly routable unicast address the gateway may contact.
pub fn is_public(ip: IpAddr) -> bool {
    classify(ip).is_none()
}

/// An IP network in CIDR notation (`10.0.0.0/8`, `::1/128`). Host bits are cleared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// The network of `addr` with `prefix` bits (at most 32 for IPv4, 128 for IPv6).
    pub fn new(addr: IpAddr, prefix: u8) -> Result<Self, EgressError> {
        let network = match addr {
            IpAddr::V4(v4) if prefix <= 32 => IpAddr::V4((u32::from(v4) & mask_v4(prefix)).into()),
            IpAddr::V6(v6) if prefix <= 128 => {
                IpAddr::V6((u128::from(v6) & mask_v6(prefix)).into())
            }
            _ => return Err(EgressError::InvalidCidr(format!("{addr}/{prefix}"))),
        };
        Ok(Self { network, prefix })
    }

    /// The network address.
    pub fn network(&self) -> IpAddr {
        self.network
    }

    /// The prefix length.
    pub fn prefix(&self) -> u8 {
        self.prefix
    }

    /// Whether `ip` lies in this network (same address family only).
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.network, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                u32::from(ip) & mask_v4(self.prefix) == u32::from(net)
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                u128::from(ip) & mask_v6(self.prefix) == u128::from(net)
            }
            _ => false,
        }
    }
}

impl FromStr for Cidr {
    type Err = EgressError;

    /// Parses `addr/prefix`, or a bare address as a single-host network.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || EgressError::InvalidCidr(s.to_owned());
        let s_trim = s.trim();
        let (addr, prefix) = match s_trim.split_once('/') {
            Some((addr, prefix)) => {
                let addr: IpAddr = addr.parse().map_err(|_| bad())?;
                let prefix: u8 = prefix.parse().map_err(|_| bad())?;
                (addr, prefix)
            }
            None => {
                let addr: IpAddr = s_trim.parse().map_err(|_| bad())?;
                (addr, if addr.is_ipv4() { 32 } else { 128 })
            }
        };
        Self::new(addr, prefix).map_err(|_| bad())
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

/// Networks that may be contacted even though they are not public (the local stack, tests).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Allowlist {
    networks: Vec<Cidr>,
}

impl Allowlist {
    /// An allowlist of these networks.
    pub fn new(networks: Vec<Cidr>) -> Self {
        Self { networks }
    }

    /// Parses a comma-separated list such as `"127.0.0.0/8,::1/128"`. Blank entries are
    /// ignored, so `""` is the empty allowlist.
    pub fn parse(s: &str) -> Result<Self, EgressError> {
        let networks = s
            .split(',')
            .filter(|part| !part.trim().is_empty())
            .map(str::parse)
            .collect::<Result<_, _>>()?;
        Ok(Self { networks })
    }

    /// The networks.
    pub fn networks(&self) -> &[Cidr] {
        &self.networks
    }

    /// Whether the allowlist is empty.
    pub fn is_empty(&self) -> bool {
        self.networks.is_empty()
    }

    /// Whether `ip` (or, for an IPv4-mapped IPv6 address, its IPv4) is in a listed network.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let canonical = ip.to_canonical();
        self.networks
            .iter()
            .any(|net| net.contains(ip) || net.contains(canonical))
    }
}

/// The host of a checked URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TargetHost {
    /// An IP literal, already checked against the policy.
    Ip(IpAddr),
    /// A DNS name; its addresses are checked by [`crate::SafeResolver`] when connecting.
    Domain(String),
}

/// A URL that passed [`EgressPolicy::check_url`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetUrl {
    url: Url,
    host: TargetHost,
    port: u16,
}

impl TargetUrl {
    /// The parsed (normalized) URL.
    pub fn url(&self) -> &Url {
        &self.url
    }

    /// The normalized URL as text.
    pub fn as_str(&self) -> &str {
        self.url.as_str()
    }

    /// The host.
    pub fn host(&self) -> &TargetHost {
        &self.host
    }

    /// The port (explicit or the scheme's default).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The parsed URL, by value.
    pub fn into_url(self) -> Url {
        self.url
    }
}

/// What outbound requests may target: public addresses plus an allowlist, some schemes,
/// optionally some ports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EgressPolicy {
    allowlist: Allowlist,
    allowed_schemes: Vec<String>,
    allowed_ports: Option<Vec<u16>>,
}

impl Default for EgressPolicy {
    fn default() -> Self {
        Self {
            allowlist: Allowlist::default(),
            allowed_schemes: vec!["http".to_owned(), "https".to_owned()],
            allowed_ports: None,
        }
    }
}

impl EgressPolicy {
    /// Public addresses only, http and https, any port.
    pub fn new() -> Self {
        Self::default()
    }

    /// Also permits these (non-public) networks.
    pub fn with_allowlist(mut self, allowlist: Allowlist) -> Self {
        self.allowlist = allowlist;
        self
    }

    /// Only these schemes (compared case-insensitively); the default is http and https.
    pub fn with_allowed_schemes<S: Into<String>>(
        mut self,
        schemes: impl IntoIterator<Item = S>,
    ) -> Self {
        self.allowed_schemes = schemes
            .into_iter()
            .map(|s| s.into().to_ascii_lowercase())
            .collect();
        self
    }

    /// Only these ports (`None`, the default, permits any port).
    pub fn with_allowed_ports(mut self, ports: Option<Vec<u16>>) -> Self {
        self.allowed_ports = ports;
        self
    }

    /// The allowlist.
    pub fn allowlist(&self) -> &Allowlist {
        &self.allowlist
    }

    /// The allowed schemes.
    pub fn allowed_schemes(&self) -> &[String] {
        &self.allowed_schemes
    }

    /// The allowed ports (`None` = any).
    pub fn allowed_ports(&self) -> Option<&[u16]> {
        self.allowed_ports.as_deref()
    }

    /// Whether `ip` may be contacted: allowlisted or public.
    pub fn permits(&self, ip: IpAddr) -> bool {
        self.allowlist.contains(ip) || is_public(ip)
    }

    /// Refuses `ip` unless it is allowlisted or public.
    pub fn check_ip(&self, ip: IpAddr) -> Result<(), EgressError> {
        self.check_ip_for_host(&ip.to_string(), ip)
    }

    pub(crate) fn check_ip_for_host(&self, host: &str, ip: IpAddr) -> Result<(), EgressError> {
        if self.allowlist.contains(ip) {
            return Ok(());
        }
        match classify(ip) {
            None => Ok(()),
            Some(reason) => Err(EgressError::Blocked {
                host: host.to_owned(),
                ip,
                reason,
            }),
        }
    }

    /// Parses and checks a user-supplied URL without any IO.
    ///
    /// Refuses schemes other than the allowed ones, credentials in the URL, a missing host,
    /// ports outside the allowed list, and IP-literal hosts (in any WHATWG form: decimal,
    /// octal, hex, bracketed IPv6, IPv4-mapped) that are not permitted. DNS names pass here;
    /// their addresses are checked by [`crate::SafeResolver`].
    pub fn check_url(&self, url: &str) -> Result<TargetUrl, EgressError> {
        let parsed = Url::parse(url.trim()).map_err(|e| EgressError::InvalidUrl(e.to_string()))?;
        let scheme = parsed.scheme();
        if !self.allowed_schemes.iter().any(|s| s == scheme) {
            return Err(EgressError::Scheme(scheme.to_owned()));
        }
        if !parsed.username().is_empty() || parsed.password().is_some() {
            return Err(EgressError::Userinfo);
        }
        let host_str = parsed.host_str().unwrap_or_default().to_owned();
        let host = match parsed.host() {
            None => return Err(EgressError::EmptyHost),
            Some(Host::Domain(d)) if d.trim_end_matches('.').is_empty() => {
                return Err(EgressError::EmptyHost)
            }
            Some(Host::Domain(d)) => TargetHost::Domain(d.to_owned()),
            Some(Host::Ipv4(v4)) => TargetHost::Ip(IpAddr::V4(v4)),
            Some(Host::Ipv6(v6)) => TargetHost::Ip(IpAddr::V6(v6)),
        };
        if let TargetHost::Ip(ip) = host {
            self.check_ip_for_host(&host_str, ip)?;
        }
        let port = parsed
            .port_or_known_default()
            .ok_or_else(|| EgressError::InvalidUrl("no port".to_owned()))?;
        if let Some(ports) = &self.allowed_ports {
            if !ports.contains(&port) {
                return Err(EgressError::Port(port));
            }
        }
        Ok(TargetUrl {
            url: parsed,
            host,
            port,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    /// (address, public?, a fragment of the reason when not public).
    const ADDRESSES: &[(&str, bool, &str)] = &[
        // IPv4, refused.
        ("0.0.0.0", false, "0.0.0.0/8"),
        ("0.255.255.255", false, "0.0.0.0/8"),
        ("127.0.0.1", false, "loopback"),
        ("127.255.255.254", false, "loopback"),
        ("10.0.0.1", false, "10.0.0.0/8"),
        ("10.255.255.255", false, "10.0.0.0/8"),
        ("172.16.0.1", false, "172.16.0.0/12"),
        ("172.31.255.255", false, "172.16.0.0/12"),
        ("192.168.0.1", false, "192.168.0.0/16"),
        ("192.168.255.255", false, "192.168.0.0/16"),
        ("169.254.0.1", false, "link-local"),
        ("169.254.169.254", false, "metadata"),
        ("100.64.0.1", false, "carrier-grade NAT"),
        ("100.127.255.255", false, "carrier-grade NAT"),
        ("192.0.0.1", false, "192.0.0.0/24"),
        ("192.0.0.170", false, "192.0.0.0/24"),
        ("192.0.2.1", false, "documentation"),
        ("198.51.100.7", false, "documentation"),
        ("203.0.113.9", false, "documentation"),
        ("198.18.0.1", false, "benchmarking"),
        ("198.19.255.255", false, "benchmarking"),
        ("192.88.99.1", false, "6to4 relay"),
        ("224.0.0.1", false, "multicast"),
        ("239.255.255.250", false, "multicast"),
        ("240.0.0.1", false, "reserved"),
        ("254.1.2.3", false, "reserved"),
        ("255.255.255.255", false, "broadcast"),
        // IPv4, public (including neighbours of refused ranges).
        ("8.8.8.8", true, ""),
        ("1.1.1.1", true, ""),
        ("93.184.216.34", true, ""),
        ("100.63.255.255", true, ""),
        ("100.128.0.0", true, ""),
        ("172.15.255.255", true, ""),
        ("172.32.0.0", true, ""),
        ("192.0.1.1", true, ""),
        ("192.0.3.1", true, ""),
        ("198.17.255.255", true, ""),
        ("198.20.0.0", true, ""),
        ("11.0.0.1", true, ""),
        ("126.255.255.255", true, ""),
        ("128.0.0.1", true, ""),
        ("223.255.255.255", true, ""),
        // IPv6, refused.
        ("::", false, "unspecified (::)"),
        ("::1", false, "loopback (::1)"),
        ("fc00::1", false, "unique local"),
        ("fd12:3456:789a::1", false, "unique local"),
        ("fe80::1", false, "link-local"),
        ("febf:ffff::1", false, "link-local"),
        ("fec0::1", false, "site-local"),
        ("ff02::1", false, "multicast"),
        ("ff0e::1", false, "multicast"),
        ("2001:db8::1", false, "documentation"),
        ("2001:db8:ffff::1", false, "documentation"),
        ("3fff::1", false, "documentation"),
        ("100::1", false, "discard"),
        ("100::ffff:ffff:ffff:ffff", false, "discard"),
        ("2002:c000:0204::1", false, "6to4"),
        ("2002:7f00:1::1", false, "6to4"),
        ("64:ff9b::7f00:1", false, "NAT64"),
        ("64:ff9b::808:808", false, "NAT64"),
        ("64:ff9b:1::1", false, "NAT64"),
        ("2001::1", false, "Teredo"),
        ("2001:0:4136:e378:8000:63bf:3fff:fdd2", false, "Teredo"),
        ("2001:2::1", false, "IETF protocol assignments"),
        ("5f00::1", false, "SRv6"),
        ("4000::1", false, "outside 2000::/3"),
        ("::ffff:0:7f00:1", false, "outside 2000::/3"),
        // IPv4-mapped and IPv4-compatible: judged by the IPv4.
        ("::ffff:127.0.0.1", false, "loopback"),
        ("::ffff:7f00:1", false, "loopback"),
        ("::ffff:10.1.2.3", false, "10.0.0.0/8"),
        ("::ffff:169.254.169.254", false, "metadata"),
        ("::ffff:0.0.0.0", false, "0.0.0.0/8"),
        ("::127.0.0.1", false, "loopback"),
        ("::192.168.1.1", false, "192.168.0.0/16"),
        ("::ffff:8.8.8.8", true, ""),
        ("::8.8.8.8", true, ""),
        // IPv6, public.
        ("2606:4700::1111", true, ""),
        ("2001:4860:4860::8888", true, ""),
        ("2a00:1450:4001:81c::200e", true, ""),
        ("2001:200::1", true, ""),
        ("3ffe::1", true, ""),
    ];

    #[test]
    fn classifies_every_range() {
        for (addr, public, reason) in ADDRESSES {
            let got = classify(ip(addr));
            assert_eq!(is_public(ip(addr)), *public, "{addr}: {got:?}");
            if !public {
                let got = got.unwrap();
                assert!(got.contains(reason), "{addr}: `{got}` lacks `{reason}`");
            }
        }
    }

    #[test]
    fn cidr_parses_and_contains() {
        let net: Cidr = "127.0.0.1/32".parse().unwrap();
        assert!(net.contains(ip("127.0.0.1")));
        assert!(!net.contains(ip("127.0.0.2")));
        assert!(!net.contains(ip("::1")));
        let net: Cidr = "::1/128".parse().unwrap();
        assert!(net.contains(ip("::1")));
        assert!(!net.contains(ip("127.0.0.1")));
        let net: Cidr = "10.1.2.3/8".parse().unwrap();
        assert_eq!(net.to_string(), "10.0.0.0/8");
        assert!(net.contains(ip("10.200.0.1")));
        let net: Cidr = " 192.168.1.5 ".parse().unwrap();
        assert_eq!(net.to_string(), "192.168.1.5/32");
        let net: Cidr = "0.0.0.0/0".parse().unwrap();
        assert!(net.contains(ip("8.8.8.8")));
        let net: Cidr = "fd00::/8".parse().unwrap();
        assert!(net.contains(ip("fd12::1")));
        assert!(!net.contains(ip("fc00::1")));
        for bad in [
            "",
            "1.2.3.4/33",
            "::/129",
            "1.2.3/8",
            "x/8",
            "1.2.3.4/",
            "1.2.3.4/-1",
        ] {
            assert_eq!(
                bad.parse::<Cidr>(),
                Err(EgressError::InvalidCidr(bad.to_owned())),
                "{bad}"
            );
        }
    }

    #[test]
    fn allowlist_parses_and_permits() {
        let list = Allowlist::parse("127.0.0.0/8, ::1/128").unwrap();
        assert_eq!(list.networks().len(), 2);
        assert!(list.contains(ip("127.0.0.5")));
        assert!(list.contains(ip("::1")));
        assert!(
            list.contains(ip("::ffff:127.0.0.1")),
            "mapped form is the same host"
        );
        assert!(!list.contains(ip("10.0.0.1")));
        assert!(Allowlist::parse("").unwrap().is_empty());
        assert!(Allowlist::parse("127.0.0.0/8,nope").is_err());

        let policy = EgressPolicy::new().with_allowlist(list);
        assert!(policy.check_ip(ip("127.0.0.1")).is_ok());
        assert!(policy.check_ip(ip("8.8.8.8")).is_ok());
        assert!(matches!(
            policy.check_ip(ip("10.0.0.1")),
            Err(EgressError::Blocked { reason, .. }) if reason.contains("private")
        ));
        assert!(EgressPolicy::new().check_ip(ip("127.0.0.1")).is_err());
    }

    #[derive(Debug, Clone, Copy, PartialEq)]
    enum Expect {
        Ok,
        Blocked,
        Scheme,
        Userinfo,
        EmptyHost,
        Invalid,
        Port,
    }

    fn outcome(result: &Result<TargetUrl, EgressError>) -> Expect {
        match result {
            Ok(_) => Expect::Ok,
            Err(EgressError::Blocked { .. }) => Expect::Blocked,
            Err(EgressError::Scheme(_)) => Expect::Scheme,
            Err(EgressError::Userinfo) => Expect::Userinfo,
            Err(EgressError::EmptyHost) => Expect::EmptyHost,
            Err(EgressError::InvalidUrl(_)) => Expect::Invalid,
            Err(EgressError::Port(_)) => Expect::Port,
            Err(other) => panic!("unexpected {other:?}"),
        }
    }

    const URLS: &[(&str, Expect)] = &[
        ("https://example.com/a.wav", Expect::Ok),
        ("http://example.com:8080/a.wav", Expect::Ok),
        ("HTTPS://EXAMPLE.COM/", Expect::Ok),
        ("http://8.8.8.8/", Expect::Ok),
        ("http://[2606:4700::1111]/", Expect::Ok),
        ("http://[::ffff:8.8.8.8]/", Expect::Ok),
        // DNS names need the resolver: not refused here.
        ("http://localhost/", Expect::Ok),
        ("http://localhost.:8080/", Expect::Ok),
        ("http://metadata.google.internal/", Expect::Ok),
        // IP literals in every spelling.
        ("http://127.0.0.1/", Expect::Blocked),
        ("http://127.0.0.1:8080/x", Expect::Blocked),
        ("http://2130706433/", Expect::Blocked),
        ("http://0177.0.0.1/", Expect::Blocked),
        ("http://0x7f.1/", Expect::Blocked),
        ("http://0x7f000001/", Expect::Blocked),
        ("http://127.1/", Expect::Blocked),
        ("http://0/", Expect::Blocked),
        ("http://169.254.169.254/latest/meta-data/", Expect::Blocked),
        ("http://0xa9fea9fe/", Expect::Blocked),
        ("http://10.0.0.1/", Expect::Blocked),
        ("http://[::1]/", Expect::Blocked),
        ("http://[::1]:8080/", Expect::Blocked),
        ("http://[::]/", Expect::Blocked),
        ("http://[::ffff:127.0.0.1]/", Expect::Blocked),
        ("http://[::ffff:7f00:1]/", Expect::Blocked),
        ("http://[::ffff:a9fe:a9fe]/", Expect::Blocked),
        ("http://[fe80::1]/", Expect::Blocked),
        ("http://[fd00::1]/", Expect::Blocked),
        ("http://[64:ff9b::7f00:1]/", Expect::Blocked),
        ("http://[2002:7f00:1::]/", Expect::Blocked),
        ("https://[::127.0.0.1]/", Expect::Blocked),
        // Schemes.
        ("ftp://example.com/", Expect::Scheme),
        ("file:///etc/passwd", Expect::Scheme),
        ("gopher://example.com/", Expect::Scheme),
        ("data:text/plain,hi", Expect::Scheme),
        ("javascript:alert(1)", Expect::Scheme),
        ("ws://example.com/", Expect::Scheme),
        // Credentials.
        ("http://user:pass@example.com/", Expect::Userinfo),
        ("http://user@example.com/", Expect::Userinfo),
        ("http://:pass@example.com/", Expect::Userinfo),
        ("http://user:pass@127.0.0.1/", Expect::Userinfo),
        // Unparseable or hostless.
        ("http://", Expect::Invalid),
        ("http:///path", Expect::Ok), // WHATWG reads the first path segment as the host
        ("not a url", Expect::Invalid),
        ("http://[fe80::1%25eth0]/", Expect::Invalid),
        ("http://exa mple.com/", Expect::Invalid),
        ("http://256.0.0.1/", Expect::Invalid),
    ];

    #[test]
    fn check_url_table() {
        let policy = EgressPolicy::new();
        for (url, expect) in URLS {
            let result = policy.check_url(url);
            assert_eq!(outcome(&result), *expect, "{url}: {result:?}");
        }
    }

    #[test]
    fn check_url_reports_host_and_reason() {
        let err = EgressPolicy::new()
            .check_url("http://0177.0.0.1/")
            .unwrap_err();
        assert_eq!(
            err,
            EgressError::Blocked {
                host: "127.0.0.1".to_owned(),
                ip: ip("127.0.0.1"),
                reason: "loopback (127.0.0.0/8)",
            }
        );
        let target = EgressPolicy::new()
            .check_url("http://2130706433/")
            .map(|_| ());
        assert!(target.is_err());
        let target = EgressPolicy::new()
            .check_url("https://Example.com/a?b=c")
            .unwrap();
        assert_eq!(target.host(), &TargetHost::Domain("example.com".to_owned()));
        assert_eq!(target.port(), 443);
        assert_eq!(target.as_str(), "https://example.com/a?b=c");
    }

    #[test]
    fn allowlist_permits_literal_urls() {
        let policy =
            EgressPolicy::new().with_allowlist(Allowlist::parse("127.0.0.0/8,::1/128").unwrap());
        for url in [
            "http://127.0.0.1:9/x",
            "http://2130706433/",
            "http://[::1]/",
            "http://[::ffff:127.0.0.1]/",
        ] {
            assert!(policy.check_url(url).is_ok(), "{url}");
        }
        assert!(policy.check_url("http://10.0.0.1/").is_err());
        assert_eq!(
            policy.check_url("http://user:pw@127.0.0.1/"),
            Err(EgressError::Userinfo)
        );
    }

    #[test]
    fn schemes_and_ports_are_configurable() {
        let policy = EgressPolicy::new()
            .with_allowed_schemes(["HTTPS"])
            .with_allowed_ports(Some(vec![443, 8443]));
        assert!(policy.check_url("https://example.com/").is_ok());
        assert!(policy.check_url("https://example.com:8443/").is_ok());
        assert_eq!(
            policy.check_url("http://example.com/"),
            Err(EgressError::Scheme("http".to_owned()))
        );
        assert_eq!(
            policy.check_url("https://example.com:22/"),
            Err(EgressError::Port(22))
        );
        assert_eq!(policy.allowed_schemes(), ["https".to_owned()]);
        assert_eq!(policy.allowed_ports(), Some(&[443, 8443][..]));
    }

    fn mapped(v4: Ipv4Addr) -> IpAddr {
        IpAddr::V6(v4.to_ipv6_mapped())
    }

    /// Any address inside one of the refused IPv4 ranges.
    fn blocked_v4() -> impl Strategy<Value = Ipv4Addr> {
        (prop::sample::select(V4_BLOCKED), any::<u32>()).prop_map(|((net, prefix, _), host)| {
            Ipv4Addr::from(u32::from_be_bytes(net) | (host & !mask_v4(prefix)))
        })
    }

    proptest! {
        #[test]
        fn loopback_and_ten_slash_eight_are_refused(first in prop::sample::select(vec![127u8, 10]), rest in any::<[u8; 3]>()) {
            let v4 = Ipv4Addr::new(first, rest[0], rest[1], rest[2]);
            let policy = EgressPolicy::new();
            prop_assert!(!is_public(IpAddr::V4(v4)));
            prop_assert!(policy.check_ip(IpAddr::V4(v4)).is_err());
            prop_assert!(!is_public(mapped(v4)));
            let url = format!("http://{v4}/");
            let refused = matches!(policy.check_url(&url), Err(EgressError::Blocked { .. }));
            prop_assert!(refused);
            let url = format!("http://{}/", u32::from(v4));
            let refused = matches!(policy.check_url(&url), Err(EgressError::Blocked { .. }));
            prop_assert!(refused);
        }

        #[test]
        fn mapped_form_of_non_public_ipv4_is_refused(v4 in blocked_v4()) {
            prop_assert!(!is_public(IpAddr::V4(v4)));
            prop_assert!(!is_public(mapped(v4)));
            let url = format!("http://[::ffff:{v4}]/");
            let refused = matches!(EgressPolicy::new().check_url(&url), Err(EgressError::Blocked { .. }));
            prop_assert!(refused);
        }

        #[test]
        fn mapped_and_compatible_forms_agree_with_ipv4(bits in any::<u32>()) {
            let v4 = Ipv4Addr::from(bits);
            let public = is_public(IpAddr::V4(v4));
            prop_assert_eq!(is_public(mapped(v4)), public);
            prop_assert_eq!(is_public(IpAddr::V6(v4.to_ipv6_compatible())), public);
        }

        #[test]
        fn check_url_agrees_with_is_public(bits in any::<u128>(), v4 in any::<u32>()) {
            let policy = EgressPolicy::new();
            for addr in [IpAddr::V6(bits.into()), IpAddr::V4(v4.into())] {
                let host = match addr {
                    IpAddr::V4(a) => a.to_string(),
                    IpAddr::V6(a) => format!("[{a}]"),
                };
                let ok = policy.check_url(&format!("https://{host}/")).is_ok();
                prop_assert_eq!(ok, is_public(addr), "{}", addr);
            }
        }
    }
}
