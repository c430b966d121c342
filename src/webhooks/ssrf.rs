//! The SSRF guard. Partners choose endpoint URLs, so a URL is hostile input: its host is
//! resolved, every non-public address is refused, and the connection goes to an address
//! that was checked — the HTTP client resolves through [`GuardedResolver`], so there is
//! no second lookup a DNS-rebinding server could answer differently.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use url::Host;

/// Whether addresses that are not public (loopback, private ranges) may be reached:
/// only for local development and tests, never by default. Link-local, cloud metadata,
/// unspecified and multicast addresses are refused under either policy: no receiver,
/// local or not, lives there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressPolicy {
    /// Only public addresses: the default, and the only policy for production.
    PublicOnly,
    /// Loopback and private ranges too (local runs and tests).
    AllowPrivate,
}

impl From<&crate::config::WebhooksConfig> for AddressPolicy {
    /// Private addresses too only with `webhooks.allow_private_targets`.
    fn from(config: &crate::config::WebhooksConfig) -> Self {
        if config.allow_private_targets {
            AddressPolicy::AllowPrivate
        } else {
            AddressPolicy::PublicOnly
        }
    }
}

/// A target the guard refused (as opposed to one that could not be reached): the error
/// the resolver returns, found again in the HTTP client's error chain.
#[derive(Debug)]
pub struct Refused(pub String);

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Refused {}

/// Whether the policy lets a webhook go to `ip`.
pub fn is_allowed(ip: IpAddr, policy: AddressPolicy) -> bool {
    !is_never_a_receiver(ip) && (policy == AddressPolicy::AllowPrivate || is_public(ip))
}

/// Addresses refused even when private targets are allowed: the instance metadata
/// services (169.254.169.254 and the rest of link-local, AWS's fd00:ec2::254, Alibaba's
/// 100.100.100.200), "this host", multicast and broadcast.
fn is_never_a_receiver(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_never_a_receiver_v4(v4),
        IpAddr::V6(v6) => match embedded_v4(v6) {
            Some(v4) => is_never_a_receiver_v4(v4),
            None => {
                v6.is_unspecified()
                    || v6.is_multicast()
                    || (v6.segments()[0] & 0xffc0) == 0xfe80
                    || v6 == Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254)
            }
        },
    }
}

fn is_never_a_receiver_v4(ip: Ipv4Addr) -> bool {
    ip.octets()[0] == 0
        || ip.is_link_local()
        || ip.is_multicast()
        || ip.is_broadcast()
        || ip == Ipv4Addr::new(100, 100, 100, 200)
}

/// Whether `ip` is a public unicast address a webhook may be sent to.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(
        ip.is_unspecified()            // 0.0.0.0
        || a == 0                    // 0.0.0.0/8 "this network"
        || ip.is_loopback()          // 127.0.0.0/8
        || ip.is_private()           // 10/8, 172.16/12, 192.168/16
        || ip.is_link_local()        // 169.254/16, cloud metadata among them
        || (a == 100 && (64..128).contains(&b)) // 100.64/10 carrier-grade NAT
        || (a == 192 && b == 0 && c == 0)       // 192.0.0/24 IETF protocol assignments
        || (a == 192 && b == 0 && c == 2)       // documentation
        || (a == 198 && (18..20).contains(&b))  // 198.18/15 benchmarking
        || (a == 198 && b == 51 && c == 100)    // documentation
        || (a == 203 && b == 0 && c == 113)     // documentation
        || ip.is_multicast()         // 224/4
        || a >= 240
        // 240/4 reserved, and broadcast
    )
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    // Addresses that embed an IPv4 address are judged by it.
    if let Some(v4) = embedded_v4(ip) {
        return is_public_v4(v4);
    }
    let segments = ip.segments();
    !(ip.is_unspecified()                       // ::
        || ip.is_loopback()                     // ::1
        || ip.is_multicast()                    // ff00::/8
        || (segments[0] & 0xfe00) == 0xfc00     // fc00::/7 unique local
        || (segments[0] & 0xffc0) == 0xfe80     // fe80::/10 link local
        || (segments[0] & 0xffc0) == 0xfec0     // fec0::/10 site local (deprecated)
        || (segments[0] == 0x2001 && segments[1] == 0x0db8) // documentation
        || (segments[0] == 0x2001 && segments[1] == 0)      // 2001::/32 Teredo tunnels
        || (segments[0] == 0x0064 && segments[1] == 0xff9b && segments[2] == 1) // 64:ff9b:1::/48 local NAT64
        || (segments[0] == 0x0100 && segments[1..4] == [0, 0, 0]) // 100::/64 discard
        || segments[0] == 0) // ::/16 reserved (IPv4-compatible and friends)
}

/// The IPv4 address inside an IPv4-mapped (`::ffff:a.b.c.d`), IPv4-translated NAT64
/// (`64:ff9b::a.b.c.d`), IPv4-compatible (`::a.b.c.d`) or 6to4 (`2002:aabb:ccdd::`)
/// address.
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = ip.segments();
    if s[0] == 0x2002 {
        return Some(Ipv4Addr::new(
            (s[1] >> 8) as u8,
            s[1] as u8,
            (s[2] >> 8) as u8,
            s[2] as u8,
        ));
    }
    let tail = Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
    let mapped = s[..5] == [0, 0, 0, 0, 0] && s[5] == 0xffff;
    let nat64 = s[0] == 0x64 && s[1] == 0xff9b && s[2..6] == [0, 0, 0, 0];
    let compatible =
        s[..6] == [0, 0, 0, 0, 0, 0] && !tail.is_unspecified() && tail != Ipv4Addr::new(0, 0, 0, 1);
    (mapped || nat64 || compatible).then_some(tail)
}

/// Why a target was refused; the text goes to the caller or the attempt log.
pub fn refusal(ip: IpAddr) -> String {
    format!(
        "{ip} is not a public address (private, loopback, link-local, metadata and similar addresses are refused)"
    )
}

/// Checks a URL whose host is an IP literal (the resolver is not asked for those).
pub fn check_literal_host(url: &url::Url, policy: AddressPolicy) -> Result<(), Refused> {
    let ip = match url.host() {
        Some(Host::Ipv4(v4)) => IpAddr::V4(v4),
        Some(Host::Ipv6(v6)) => IpAddr::V6(v6),
        _ => return Ok(()),
    };
    if is_allowed(ip, policy) {
        Ok(())
    } else {
        Err(Refused(refusal(ip)))
    }
}

/// The HTTP client's resolver: resolves with the system resolver, then keeps only the
/// addresses the policy allows; none left is an error naming the refused address.
#[derive(Debug, Clone, Copy)]
pub struct GuardedResolver {
    /// Which addresses it keeps.
    pub policy: AddressPolicy,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = self.policy;
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let resolved: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await
                .map_err(|e| -> Box<dyn std::error::Error + Send + Sync> {
                    format!("cannot resolve {host}: {e}").into()
                })?
                .collect();
            let allowed: Vec<SocketAddr> = resolved
                .iter()
                .copied()
                .filter(|addr| is_allowed(addr.ip(), policy))
                .collect();
            if allowed.is_empty() {
                let error: Box<dyn std::error::Error + Send + Sync> = match resolved.first() {
                    Some(addr) => Box::new(Refused(format!(
                        "{host} resolves to {}",
                        refusal(addr.ip())
                    ))),
                    None => format!("{host} resolves to no address").into(),
                };
                return Err(error);
            }
            Ok(Box::new(allowed.into_iter()) as Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(text: &str) -> bool {
        !is_public(text.parse().unwrap())
    }

    #[test]
    fn every_non_public_range_is_refused() {
        for ip in [
            "127.0.0.1",
            "127.255.0.1",
            "0.0.0.0",
            "0.1.2.3",
            "10.0.0.1",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "169.254.0.1",
            "100.64.0.1",
            "100.127.255.255",
            "224.0.0.1",
            "239.255.255.250",
            "255.255.255.255",
            "240.0.0.1",
            "192.0.2.1",
            "198.51.100.7",
            "203.0.113.9",
            "198.18.0.1",
            "::",
            "::1",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "ff02::1",
            "2001:db8::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "::ffff:10.1.2.3",
            "64:ff9b::a9fe:a9fe",
            "::127.0.0.1",
            "fec0::1",
            "100::1",
            "2002:7f00:1::1",
            "2002:a9fe:a9fe::",
            "2001:0:4136:e378:8000:63bf:3fff:fdd2",
            "64:ff9b:1::a00:1",
        ] {
            assert!(refused(ip), "{ip} must be refused");
        }
    }

    #[test]
    fn public_addresses_pass() {
        for ip in [
            "8.8.8.8",
            "1.1.1.1",
            "93.184.216.34",
            "172.32.0.1",
            "100.128.0.1",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
            "2002:808:808::1",
        ] {
            assert!(!refused(ip), "{ip} is public");
        }
    }

    #[test]
    fn literal_hosts_are_checked_without_resolving() {
        let url = |u: &str| url::Url::parse(u).unwrap();
        assert!(
            check_literal_host(
                &url("http://169.254.169.254/latest"),
                AddressPolicy::PublicOnly
            )
            .is_err()
        );
        assert!(
            check_literal_host(
                &url("http://[::ffff:127.0.0.1]/"),
                AddressPolicy::PublicOnly
            )
            .is_err()
        );
        assert!(check_literal_host(&url("http://127.0.0.1/"), AddressPolicy::AllowPrivate).is_ok());
        assert!(check_literal_host(&url("http://10.1.2.3/"), AddressPolicy::AllowPrivate).is_ok());
        for metadata in [
            "http://169.254.169.254/latest/meta-data",
            "http://[fd00:ec2::254]/",
            "http://100.100.100.200/",
            "http://[::ffff:169.254.169.254]/",
            "http://[fe80::1]/",
            "http://0.0.0.0/",
        ] {
            assert!(
                check_literal_host(&url(metadata), AddressPolicy::AllowPrivate).is_err(),
                "{metadata} is refused even when private targets are allowed"
            );
        }
        assert!(check_literal_host(&url("https://8.8.8.8/"), AddressPolicy::PublicOnly).is_ok());
        assert!(
            check_literal_host(&url("https://example.com/"), AddressPolicy::PublicOnly).is_ok()
        );
    }

    #[tokio::test]
    async fn the_resolver_drops_private_addresses() {
        let guarded = GuardedResolver {
            policy: AddressPolicy::PublicOnly,
        };
        let error = guarded
            .resolve("localhost".parse().unwrap())
            .await
            .err()
            .unwrap();
        assert!(
            error.to_string().contains("not a public address"),
            "{error}"
        );
        let open = GuardedResolver {
            policy: AddressPolicy::AllowPrivate,
        };
        let addrs: Vec<_> = open
            .resolve("localhost".parse().unwrap())
            .await
            .unwrap()
            .collect();
        assert!(addrs.iter().any(|a| a.ip().is_loopback()));
    }
}
