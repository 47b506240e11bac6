//! Fuzz target for the SSRF guard of `indox-egress`: `EgressPolicy::check_url` and the
//! address classifier (`classify`, `is_public`).
//!
//! Input layout: the first byte picks a mode (`b % 3`; the ASCII digits `'0'..'2'` map to
//! themselves), the rest is the payload:
//!
//! - `0`: the payload is a whole URL;
//! - `1`: the payload is a host, tried as `http://{host}/`, `https://{host}:8443/x` and
//!   `http://user@{host}/`;
//! - `2`: the payload's first 4 or 16 bytes are an IPv4 / IPv6 address, which is then written
//!   in many spellings (dotted, one decimal / hex / octal number, short forms, percent-encoded,
//!   trailing dot, IPv4-mapped, IPv4-compatible, NAT64, 6to4) and each is checked.
//!
//! Properties, for every URL:
//! - a URL the default policy accepts never has an IP-literal host that an independent
//!   classifier (std's `Ipv4Addr`/`Ipv6Addr` predicates plus the metadata address, CGNAT,
//!   reserved ranges and the IPv4 embedded in mapped / compatible / NAT64 / 6to4 / Teredo
//!   addresses) calls loopback, private, link-local, metadata or otherwise non-public;
//! - an accepted URL, re-parsed independently with `url` and with `http::Uri` (what reqwest
//!   hands to hyper, which dials IP literals without asking the resolver), names the same
//!   host and port, and if that host is an IP literal to std it is a public one; a DNS name
//!   never looks like an IPv4 number to a lenient `inet_aton`-style parser either;
//! - accepting is idempotent (`check_url(accepted.as_str())` gives the same target), only
//!   http/https, never userinfo;
//! - an allowlist of `127.0.0.0/8,::1/128` lets through loopback and nothing else that is
//!   not public; a port list is enforced.

#![no_main]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use indox_egress::{classify, is_public, Allowlist, EgressError, EgressPolicy, TargetHost};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    match mode % 3 {
        0 => check_url_text(&String::from_utf8_lossy(rest)),
        1 => {
            let host = String::from_utf8_lossy(rest);
            check_url_text(&format!("http://{host}/"));
            check_url_text(&format!("https://{host}:8443/x"));
            let with_user = format!("http://user@{host}/");
            if let Ok(target) = EgressPolicy::new().check_url(&with_user) {
                // The URL parser may read `@` inside the host as part of something else, but
                // an accepted URL never carries credentials.
                assert!(target.url().username().is_empty() && target.url().password().is_none());
            }
        }
        _ => spellings(rest),
    }
});

// ---------------------------------------------------------------------------------------
// An independent notion of "must never be contacted".

fn forbidden_v4(ip: Ipv4Addr) -> bool {
    let o = ip.octets();
    ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_unspecified()
        || o[0] == 0
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || ip == Ipv4Addr::new(169, 254, 169, 254)
        || (o[0] == 100 && (64..128).contains(&o[1]))
        || (o[0] == 198 && (o[1] == 18 || o[1] == 19))
        || (o[0] == 192 && o[1] == 0 && o[2] == 0)
        || o[0] >= 240
}

fn embedded_v4(a: u16, b: u16) -> Ipv4Addr {
    Ipv4Addr::new((a >> 8) as u8, a as u8, (b >> 8) as u8, b as u8)
}

fn forbidden_v6(ip: Ipv6Addr) -> bool {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return forbidden_v4(v4);
    }
    let s = ip.segments();
    let compatible = s[..6].iter().all(|&x| x == 0);
    ip.is_loopback()
        || ip.is_unspecified()
        || ip.is_multicast()
        || (s[0] & 0xfe00) == 0xfc00
        || (s[0] & 0xffc0) == 0xfe80
        || (s[0] & 0xffc0) == 0xfec0
        || (s[0] == 0x2001 && s[1] == 0x0db8)
        || (compatible && forbidden_v4(embedded_v4(s[6], s[7])))
        || (s[0] == 0x64 && s[1] == 0xff9b && forbidden_v4(embedded_v4(s[6], s[7])))
        || (s[0] == 0x2002 && forbidden_v4(embedded_v4(s[1], s[2])))
        || (s[0] == 0x2001 && s[1] == 0 && forbidden_v4(embedded_v4(!s[6], !s[7])))
}

fn forbidden(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => forbidden_v4(v4),
        IpAddr::V6(v6) => forbidden_v6(v6),
    }
}

/// Whether the allowlist `127.0.0.0/8,::1/128` covers `ip` (or the IPv4 it maps to).
fn loopback_allowlisted(ip: IpAddr) -> bool {
    match ip.to_canonical() {
        IpAddr::V4(v4) => v4.octets()[0] == 127,
        IpAddr::V6(v6) => v6 == Ipv6Addr::LOCALHOST,
    }
}

/// A lenient `inet_aton` (what libc resolvers accept as an IPv4 literal): one to four
/// dot-separated decimal, `0`-octal or `0x`-hex numbers, an optional trailing dot.
fn inet_aton_like(host: &str) -> Option<u32> {
    let host = host.strip_suffix('.').unwrap_or(host);
    let parts: Vec<&str> = host.split('.').collect();
    if parts.is_empty() || parts.len() > 4 {
        return None;
    }
    let mut numbers = Vec::with_capacity(parts.len());
    for part in &parts {
        let (digits, radix) =
            if let Some(hex) = part.strip_prefix("0x").or_else(|| part.strip_prefix("0X")) {
                (hex, 16)
            } else if part.len() > 1 && part.starts_with('0') {
                (&part[1..], 8)
            } else {
                (*part, 10)
            };
        if part.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
            return None;
        }
        let n = if digits.is_empty() {
            0
        } else {
            u64::from_str_radix(digits, radix).ok()?
        };
        numbers.push(n);
    }
    let (last, init) = numbers.split_last()?;
    if init.iter().any(|&n| n > 255) || *last >= 1u64 << (8 * (5 - numbers.len())) {
        return None;
    }
    let mut value = *last;
    for (i, n) in init.iter().enumerate() {
        value |= n << (24 - 8 * i);
    }
    u32::try_from(value).ok()
}

// ---------------------------------------------------------------------------------------
// The properties.

fn check_url_text(text: &str) {
    let default = EgressPolicy::new();
    let result = default.check_url(text);

    // Independent parse of the same text.
    let independent = url::Url::parse(text.trim());
    if let Ok(parsed) = &independent {
        let literal = match parsed.host() {
            Some(url::Host::Ipv4(v4)) => Some(IpAddr::V4(v4)),
            Some(url::Host::Ipv6(v6)) => Some(IpAddr::V6(v6)),
            _ => None,
        };
        if let Some(ip) = literal {
            if forbidden(ip) {
                assert!(
                    result.is_err(),
                    "{text:?} reaches non-public {ip} but was accepted"
                );
            }
            if !is_public(ip) {
                assert!(
                    result.is_err(),
                    "{text:?}: classify says {:?} but the URL was accepted",
                    classify(ip)
                );
            }
        }
    } else {
        assert!(
            matches!(result, Err(EgressError::InvalidUrl(_))),
            "{text:?} does not parse but check_url said {result:?}"
        );
    }

    let allowlisted =
        EgressPolicy::new().with_allowlist(Allowlist::parse("127.0.0.0/8,::1/128").unwrap());
    let allow_result = allowlisted.check_url(text);
    if result.is_ok() {
        assert!(
            allow_result.is_ok(),
            "{text:?}: an allowlist made the policy stricter: {allow_result:?}"
        );
    }
    if let Ok(target) = &allow_result {
        if let TargetHost::Ip(ip) = target.host() {
            assert!(
                loopback_allowlisted(*ip) || (is_public(*ip) && !forbidden(*ip)),
                "{text:?}: the loopback allowlist let {ip} through"
            );
        }
    }

    let ports_only = EgressPolicy::new().with_allowed_ports(Some(vec![443]));
    if let Ok(target) = ports_only.check_url(text) {
        assert_eq!(target.port(), 443, "{text:?}: port list not enforced");
    }

    let Ok(target) = result else {
        return;
    };
    let url = target.url();
    assert!(
        matches!(url.scheme(), "http" | "https"),
        "{text:?}: scheme {}",
        url.scheme()
    );
    assert!(url.username().is_empty() && url.password().is_none());
    assert_eq!(target.as_str(), url.as_str());
    assert_eq!(Some(target.port()), url.port_or_known_default());

    match target.host() {
        TargetHost::Ip(ip) => {
            assert!(is_public(*ip), "{text:?}: accepted non-public {ip}");
            assert!(!forbidden(*ip), "{text:?}: accepted forbidden {ip}");
        }
        TargetHost::Domain(domain) => {
            assert!(!domain.is_empty() && !domain.trim_end_matches('.').is_empty());
            let bare = domain.trim_start_matches('[').trim_end_matches(']');
            assert!(
                bare.parse::<IpAddr>().is_err(),
                "{text:?}: the domain {domain:?} is an IP literal to std"
            );
            if let Some(v4) = inet_aton_like(domain) {
                panic!(
                    "{text:?}: the domain {domain:?} is the IPv4 {} to inet_aton",
                    Ipv4Addr::from(v4)
                );
            }
        }
    }

    // Accepting is idempotent on the normalized form.
    let again = default.check_url(target.as_str());
    assert_eq!(
        again.as_ref(),
        Ok(&target),
        "{text:?}: re-checking the normalized URL changed the result"
    );

    // What reqwest actually dials: it turns the URL into an `http::Uri`, and hyper connects
    // to an IP-literal host directly (no resolver, so no second check).
    let reparsed = url::Url::parse(target.as_str()).expect("a normalized URL re-parses");
    assert_eq!(reparsed.host_str(), url.host_str());
    if let Ok(uri) = target.as_str().parse::<http::Uri>() {
        let host = uri.host().unwrap_or_default();
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        match (bare.parse::<IpAddr>(), target.host()) {
            (Ok(ip), TargetHost::Ip(checked)) => {
                assert_eq!(&ip, checked, "{text:?}: http::Uri sees another address");
                assert!(!forbidden(ip) && is_public(ip));
            }
            (Ok(ip), TargetHost::Domain(d)) => {
                panic!("{text:?}: checked as the name {d:?} but hyper would dial {ip}")
            }
            (Err(_), TargetHost::Ip(ip)) => {
                panic!("{text:?}: checked as {ip} but http::Uri sees the name {host:?}")
            }
            (Err(_), TargetHost::Domain(d)) => {
                assert!(
                    host.eq_ignore_ascii_case(d),
                    "{text:?}: http::Uri host {host:?} != {d:?}"
                );
            }
        }
        let port = uri
            .port_u16()
            .unwrap_or(if uri.scheme_str() == Some("https") {
                443
            } else {
                80
            });
        assert_eq!(port, target.port(), "{text:?}: http::Uri sees another port");
    }
}

/// Checks an address through the classifier and through many URL spellings of it.
fn spellings(bytes: &[u8]) {
    if bytes.len() >= 16 {
        let v6 = Ipv6Addr::from(<[u8; 16]>::try_from(&bytes[..16]).unwrap());
        check_ip(IpAddr::V6(v6));
        for text in [
            format!("http://[{v6}]/"),
            format!("https://[{v6}]:443/a"),
            format!("http://[{}]/", expanded_v6(v6)),
        ] {
            check_url_text(&text);
        }
    }
    if bytes.len() >= 4 {
        let v4 = Ipv4Addr::from(<[u8; 4]>::try_from(&bytes[..4]).unwrap());
        check_ip(IpAddr::V4(v4));
        check_ip(IpAddr::V6(v4.to_ipv6_mapped()));
        check_ip(IpAddr::V6(v4.to_ipv6_compatible()));
        let n = u32::from(v4);
        let [a, b, c, d] = v4.octets();
        let selector = bytes.get(4).copied().unwrap_or(0);
        let mut texts = vec![
            format!("http://{v4}/"),
            format!("http://{n}/"),
            format!("http://0x{n:x}/"),
            format!("http://0{n:o}/"),
            format!("http://{a}.{}/", n & 0x00ff_ffff),
            format!("http://{a}.{b}.{}/", n & 0xffff),
            format!("http://0{a:o}.0x{b:x}.{c}.0{d:o}/"),
            format!("http://{v4}./"),
            format!("http://[::ffff:{v4}]/"),
            format!("http://[::ffff:{:x}:{:x}]/", n >> 16, n & 0xffff),
            format!("http://[::{v4}]/"),
            format!("http://[64:ff9b::{v4}]/"),
            format!("http://[2002:{:x}:{:x}::1]/", n >> 16, n & 0xffff),
            format!("http://[0:0:0:0:0:ffff:{v4}]/"),
        ];
        let percent: String = v4
            .to_string()
            .bytes()
            .map(|b| format!("%{b:02X}"))
            .collect();
        texts.push(format!("http://{percent}/"));
        texts.push(format!("HTTP://0X{n:X}:{}/", 80 + u16::from(selector)));
        for text in &texts {
            check_url_text(text);
        }
        // Every spelling of a forbidden IPv4 is refused.
        if forbidden_v4(v4) {
            for text in &texts {
                assert!(
                    EgressPolicy::new().check_url(text).is_err(),
                    "{text:?} spells forbidden {v4} but was accepted"
                );
            }
        }
    }
}

fn expanded_v6(v6: Ipv6Addr) -> String {
    v6.segments()
        .iter()
        .map(|s| format!("{s:04x}"))
        .collect::<Vec<_>>()
        .join(":")
}

fn check_ip(ip: IpAddr) {
    let reason = classify(ip);
    assert_eq!(reason.is_none(), is_public(ip));
    if forbidden(ip) {
        assert!(
            reason.is_some(),
            "{ip} is not public but classify said public"
        );
    }
    let policy = EgressPolicy::new();
    assert_eq!(policy.check_ip(ip).is_ok(), is_public(ip));
    assert_eq!(policy.permits(ip), is_public(ip));
    // The mapped and compatible forms of an IPv4 are judged like the IPv4.
    if let IpAddr::V4(v4) = ip {
        let public = is_public(ip);
        assert_eq!(is_public(IpAddr::V6(v4.to_ipv6_mapped())), public, "{v4}");
        if u32::from(v4) > 1 {
            assert_eq!(
                is_public(IpAddr::V6(v4.to_ipv6_compatible())),
                public,
                "{v4}"
            );
        }
    }
    let loopback = EgressPolicy::new().with_allowlist(Allowlist::parse("127.0.0.0/8").unwrap());
    assert_eq!(
        loopback.permits(ip),
        is_public(ip) || matches!(ip.to_canonical(), IpAddr::V4(v4) if v4.is_loopback())
    );
}
