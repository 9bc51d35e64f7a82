//! What a `nat` sandbox learns from the host when it starts: the addresses
//! of the egress rules' host names (pinned for the whole run, so a record
//! that changes cannot widen what the sandbox reaches), its resolvers, and
//! the host's default routes.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, ToSocketAddrs};

use crate::error::SetupError;
use crate::net::plan::{DNS_FORWARDER, HostRoutes, Pinned, Resolvers};
use crate::net::rule::{Allow, Dest};
use crate::spec::extension::NetworkSpec;

/// More addresses than this for one name are refused: a rule that large
/// is no longer a narrow opening (use a CIDR rule instead).
const MAX_ADDRESSES: usize = 64;

/// More names than this are refused: each is a lookup before the sandbox
/// starts, and a profile from a pull request must not stall the run.
const MAX_NAMES: usize = 64;

/// Resolve every host name of `allow` now, with the host's resolver
/// (getaddrinfo: /etc/hosts, then DNS), keeping every address it returns.
pub fn pin(allow: &[Allow]) -> Result<Pinned, SetupError> {
    let names = allow.iter().filter(|a| matches!(a.dest, Dest::Name(_))).count();
    if names > MAX_NAMES {
        return Err(SetupError::new("resolve the names of network.egress.allow")
            .detail(format!("{names} rules name hosts, more than {MAX_NAMES}"))
            .fix("allow networks (CIDR rules) instead of so many names"));
    }
    let mut pinned = Pinned::new();
    for a in allow {
        let Dest::Name(name) = &a.dest else { continue };
        if pinned.contains_key(name) {
            continue;
        }
        let step = || format!("resolve {name} (network.egress.allow)");
        let found = (name.as_str(), 0u16).to_socket_addrs().map_err(|e| {
            SetupError::io(step(), &e).fix("check the name, or allow its addresses (a CIDR rule) instead")
        })?;
        let mut addrs: Vec<IpAddr> = found.map(|s| s.ip()).collect();
        addrs.sort_unstable();
        addrs.dedup();
        if addrs.is_empty() {
            return Err(SetupError::new(step()).detail("no addresses"));
        }
        if addrs.len() > MAX_ADDRESSES {
            return Err(SetupError::new(step())
                .detail(format!("{} addresses, more than {MAX_ADDRESSES}", addrs.len()))
                .fix("allow its network as a CIDR rule instead"));
        }
        pinned.insert(name.clone(), addrs);
    }
    Ok(pinned)
}

/// The servers the sandbox's resolv.conf will name.
pub fn resolvers(net: &NetworkSpec) -> Result<Resolvers, SetupError> {
    if net.dns_from_host {
        let path = "/etc/resolv.conf";
        let text = std::fs::read_to_string(path)
            .map_err(|e| SetupError::io(format!("read {path} for the sandbox's resolvers"), &e))?;
        return Ok(Resolvers::Servers(host_resolvers(&text)));
    }
    match &net.dns {
        Some(servers) => servers
            .iter()
            .map(|s| {
                s.parse().map_err(|_| {
                    SetupError::new("read the sandbox's DNS servers")
                        .detail(format!("{s:?} is not an address"))
                })
            })
            .collect::<Result<_, _>>()
            .map(Resolvers::Servers),
        None => Ok(Resolvers::Forwarder),
    }
}

/// The host's resolvers as the sandbox reaches them: one on the host's
/// loopback (systemd-resolved's 127.0.0.53) would be the sandbox's own
/// loopback inside, so it is reached through pasta's forwarder instead.
fn host_resolvers(text: &str) -> Vec<IpAddr> {
    let mut servers: Vec<IpAddr> = Vec::new();
    for s in nameservers(text) {
        let s = if s.is_loopback() { IpAddr::V4(DNS_FORWARDER) } else { s };
        if !servers.contains(&s) {
            servers.push(s);
        }
    }
    servers
}

/// The `nameserver` addresses of a resolv.conf.
fn nameservers(text: &str) -> Vec<IpAddr> {
    text.lines()
        .filter_map(|l| l.trim().strip_prefix("nameserver"))
        .filter_map(|rest| rest.split_whitespace().next()?.parse().ok())
        .collect()
}

/// The host's default routes, from the launcher's /proc/net (the host's
/// network namespace: the one pasta's sockets live in).
pub fn host_routes() -> HostRoutes {
    let v4 = std::fs::read_to_string("/proc/net/route").unwrap_or_default();
    let v6 = std::fs::read_to_string("/proc/net/ipv6_route").unwrap_or_default();
    HostRoutes { gateway4: gateway4(&v4), default6: default6(&v6), gateway6: gateway6(&v6) }
}

/// The first IPv4 default route's gateway: destination 0, flags up and
/// gateway (`RTF_UP | RTF_GATEWAY`); /proc prints addresses in host order.
pub(crate) fn gateway4(table: &str) -> Option<Ipv4Addr> {
    table.lines().skip(1).find_map(|line| {
        let f: Vec<&str> = line.split_whitespace().collect();
        let flags = u32::from_str_radix(f.get(3)?, 16).ok()?;
        if *f.get(1)? != "00000000" || flags & 0x3 != 0x3 {
            return None;
        }
        let raw = u32::from_str_radix(f.get(2)?, 16).ok()?;
        Some(Ipv4Addr::from(raw.to_le_bytes()))
    })
}

/// Whether an IPv6 default route is up, not a reject route (`RTF_REJECT`).
pub(crate) fn default6(table: &str) -> bool {
    defaults6(table).next().is_some()
}

/// The next hop of the first IPv6 default route that has one.
pub(crate) fn gateway6(table: &str) -> Option<Ipv6Addr> {
    defaults6(table).find_map(|f| u128::from_str_radix(f[4], 16).ok().filter(|&a| a != 0).map(Ipv6Addr::from))
}

fn defaults6(table: &str) -> impl Iterator<Item = Vec<&str>> {
    table.lines().map(|l| l.split_whitespace().collect::<Vec<&str>>()).filter(|f| {
        let flags = f.get(8).and_then(|x| u32::from_str_radix(x, 16).ok()).unwrap_or(0);
        f.len() >= 10
            && f[0].bytes().all(|b| b == b'0')
            && f[1] == "00"
            && flags & 0x1 != 0
            && flags & 0x200 == 0
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROUTE: &str = "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n\
        eth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n\
        eth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\n";

    #[test]
    fn the_ipv4_gateway_is_read_in_host_order() {
        assert_eq!(gateway4(ROUTE), Some(Ipv4Addr::new(192, 0, 2, 1)));
        assert_eq!(gateway4(&ROUTE.replace("0003", "0001")), None, "no gateway flag");
        assert_eq!(gateway4("header\n"), None);
    }

    #[test]
    fn an_ipv6_reject_route_is_no_default() {
        let real = "00000000000000000000000000000000 00 00000000000000000000000000000000 00 fd000000000000000000000000000001 00000400 00000002 00000000 00000003     eth0\n";
        let reject = "00000000000000000000000000000000 00 00000000000000000000000000000000 00 00000000000000000000000000000000 ffffffff 00000001 00000000 00200200       lo\n";
        assert!(default6(real));
        assert!(!default6(reject));
        assert!(default6(&format!("{reject}{real}")));
        assert_eq!(gateway6(&format!("{reject}{real}")), Some("fd00::1".parse().unwrap()));
        assert_eq!(gateway6(reject), None);
    }

    #[test]
    fn nameservers_are_read_from_resolv_conf() {
        let text =
            "# comment\nsearch example\nnameserver 10.0.0.53\nnameserver  fd00::53 # x\nnameserver bogus\n";
        assert_eq!(
            nameservers(text),
            vec!["10.0.0.53".parse::<IpAddr>().unwrap(), "fd00::53".parse().unwrap()]
        );
    }

    #[test]
    fn a_loopback_resolver_of_the_host_is_reached_through_the_forwarder() {
        let text = "nameserver 127.0.0.53\nnameserver ::1\nnameserver 10.0.0.53\n";
        let forwarder = IpAddr::V4(DNS_FORWARDER);
        assert_eq!(host_resolvers(text), vec![forwarder, "10.0.0.53".parse().unwrap()]);
    }

    #[test]
    fn addresses_pin_and_names_that_do_not_resolve_fail() {
        let rule = |name: &str| Allow {
            dest: Dest::Name(name.into()),
            proto: crate::net::rule::Proto::Tcp,
            ports: None,
        };
        let pinned =
            pin(&[rule("localhost"), rule("localhost")]).expect("localhost resolves from /etc/hosts");
        assert!(pinned["localhost"].iter().any(IpAddr::is_loopback), "{pinned:?}");
        let err = pin(&[rule("no-such-host.invalid")]).unwrap_err();
        assert!(err.to_string().contains("resolve no-such-host.invalid"), "{err}");
    }
}
