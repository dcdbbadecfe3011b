//! HTTP requests to addresses users give us (a video to import, later webhook endpoints), made so
//! they cannot reach our own network: no loopback, private, link-local (cloud metadata),
//! shared, multicast or reserved addresses unless a setting allows them for local use.
//!
//! The rule is applied where it cannot be dodged: on the addresses a name resolves to, by the
//! resolver the HTTP client connects with (so a name that resolves to a public address when
//! checked and a private one when used — DNS rebinding — still cannot connect), on literal IP
//! addresses in the URL (which never reach a resolver), and again on every redirect.

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use url::{Host, Url};

/// Why a URL may not be fetched (said to the user: it names no internal address).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("only http and https URLs can be used")]
    Scheme,
    #[error("URLs with a user name or password are not accepted")]
    Credentials,
    #[error("the URL has no host")]
    NoHost,
    #[error("the URL points to a private or reserved address")]
    PrivateAddress,
}

/// Which addresses outbound requests may reach.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AddressRule {
    /// Loopback and private addresses too: local development and tests only.
    pub allow_private: bool,
}

impl AddressRule {
    pub fn allows(&self, ip: IpAddr) -> bool {
        self.allow_private || is_public(ip)
    }

    /// Checks what can be checked without resolving: scheme, credentials, a literal address.
    pub fn check_url(&self, url: &Url) -> Result<(), Refusal> {
        if !matches!(url.scheme(), "http" | "https") {
            return Err(Refusal::Scheme);
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(Refusal::Credentials);
        }
        let literal = match url.host() {
            None => return Err(Refusal::NoHost),
            Some(Host::Ipv4(v4)) => Some(IpAddr::V4(v4)),
            Some(Host::Ipv6(v6)) => Some(IpAddr::V6(v6)),
            Some(Host::Domain(_)) => None,
        };
        match literal {
            Some(ip) if !self.allows(ip) => Err(Refusal::PrivateAddress),
            _ => Ok(()),
        }
    }
}

/// Whether an address is on the public internet: not loopback, private, link-local, shared
/// (CGNAT), documentation, benchmarking, multicast, broadcast, unspecified or reserved; IPv6
/// forms that carry an IPv4 address (mapped, NAT64, 6to4) are judged by that address.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0
        || (a == 100 && (64..128).contains(&b)) // shared address space (CGNAT)
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 198 && (b == 18 || b == 19)) // benchmarking
        || a >= 240) // reserved
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return is_public_v4(v4);
    }
    let s = ip.segments();
    let embedded_v4 = |hi: u16, lo: u16| Ipv4Addr::from(((hi as u32) << 16) | lo as u32);
    if s[0] == 0x64 && s[1] == 0xff9b {
        return is_public_v4(embedded_v4(s[6], s[7])); // NAT64
    }
    if s[0] == 0x2002 {
        return is_public_v4(embedded_v4(s[1], s[2])); // 6to4
    }
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_multicast()
        || (s[0] & 0xfe00) == 0xfc00 // unique local
        || (s[0] & 0xffc0) == 0xfe80 // link-local
        || (s[0] & 0xffc0) == 0xfec0 // site-local (deprecated)
        || (s[0] == 0x2001 && s[1] == 0x0db8) // documentation
        || (s[0] == 0 && s[1] == 0 && s[2] == 0 && s[3] == 0 && s[4] == 0 && s[5] == 0)) // IPv4-compatible
}

/// Resolves names like the system does, then keeps only the addresses the rule allows; a name
/// with none left fails to resolve, so nothing connects to it.
struct GuardedResolver {
    rule: AddressRule,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let rule = self.rule;
        Box::pin(async move {
            let found = tokio::net::lookup_host((name.as_str(), 0)).await?;
            let allowed: Vec<SocketAddr> = found.filter(|a| rule.allows(a.ip())).collect();
            if allowed.is_empty() {
                return Err(
                    Box::new(Refusal::PrivateAddress) as Box<dyn std::error::Error + Send + Sync>
                );
            }
            Ok(Box::new(allowed.into_iter()) as Addrs)
        })
    }
}

/// Limits of one kind of outbound request.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub connect_timeout: Duration,
    /// The whole exchange, body included.
    pub timeout: Duration,
    pub max_redirects: usize,
}

/// An HTTP client that connects only where `rule` allows, follows at most `max_redirects`
/// redirects (each checked like the first URL), and never uses a proxy from the environment.
pub fn client(rule: AddressRule, limits: Limits) -> reqwest::Result<reqwest::Client> {
    // Without redirects the 3xx answer itself comes back (webhook receivers answer themselves).
    let redirects = if limits.max_redirects == 0 {
        reqwest::redirect::Policy::none()
    } else {
        reqwest::redirect::Policy::custom(move |attempt| {
            if attempt.previous().len() > limits.max_redirects {
                attempt.error(format!("more than {} redirects", limits.max_redirects))
            } else if let Err(refusal) = rule.check_url(attempt.url()) {
                attempt.error(refusal)
            } else {
                attempt.follow()
            }
        })
    };
    reqwest::Client::builder()
        .dns_resolver(Arc::new(GuardedResolver { rule }))
        .redirect(redirects)
        .no_proxy()
        .connect_timeout(limits.connect_timeout)
        .timeout(limits.timeout)
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_addresses_are_not_public() {
        for internal in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "198.18.0.1",
            "240.0.0.1",
            "::1",
            "::",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "64:ff9b::a00:1",
            "2002:c0a8:101::1",
            "::127.0.0.1",
        ] {
            let ip: IpAddr = internal.parse().unwrap();
            assert!(!is_public(ip), "{internal}");
        }
        for public in [
            "93.184.216.34",
            "8.8.8.8",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
        ] {
            assert!(is_public(public.parse().unwrap()), "{public}");
        }
    }

    #[test]
    fn urls_are_checked_before_any_lookup() {
        let rule = AddressRule::default();
        let check = |u: &str| rule.check_url(&Url::parse(u).unwrap());
        assert_eq!(check("https://example.com/v.mp4"), Ok(()));
        assert_eq!(check("ftp://example.com/v.mp4"), Err(Refusal::Scheme));
        assert_eq!(check("file:///etc/passwd"), Err(Refusal::Scheme));
        assert_eq!(check("http://u:p@example.com/"), Err(Refusal::Credentials));
        assert_eq!(
            check("http://127.0.0.1:8080/"),
            Err(Refusal::PrivateAddress)
        );
        assert_eq!(check("http://[::1]/"), Err(Refusal::PrivateAddress));
        // Numeric spellings of loopback are parsed as the address they are.
        assert_eq!(check("http://2130706433/"), Err(Refusal::PrivateAddress));
        assert_eq!(check("http://0x7f.1/"), Err(Refusal::PrivateAddress));
        let local = AddressRule {
            allow_private: true,
        };
        assert_eq!(
            local.check_url(&Url::parse("http://127.0.0.1/").unwrap()),
            Ok(())
        );
    }
}
