//! A `nat` network as a pure value: pasta's options, the nftables ruleset
//! that holds the egress rules, and the sandbox's resolv.conf and hosts
//! lines. Made in the launcher before the clone from the extension, the
//! names resolved at start ([`Pinned`]) and the host's routes, so that all
//! of it is unit-tested without a network.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::net::rule::{Allow, Dest, HOST_NAME, PortRange, Proto, Publish};
use crate::spec::extension::NatSpec;

/// Where the sandbox sends its DNS queries by default: pasta forwards what
/// reaches this address to the host's first resolver. Link-local, so it is
/// never a real server's address.
pub const DNS_FORWARDER: Ipv4Addr = Ipv4Addr::new(169, 254, 1, 1);

/// The host names of the egress rules, each with the addresses it had when
/// the sandbox started.
pub type Pinned = BTreeMap<String, Vec<IpAddr>>;

/// What the plan needs to know about the host's network.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HostRoutes {
    /// The IPv4 default gateway: pasta gives the sandbox the same, and maps
    /// it to the host's loopback when that is allowed.
    pub gateway4: Option<Ipv4Addr>,
    pub default6: bool,
    /// The IPv6 default route's next hop, which pasta maps alike.
    pub gateway6: Option<Ipv6Addr>,
}

/// The sandbox's resolvers, as its resolv.conf names them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Resolvers {
    /// None named by the profile: pasta's forwarder.
    Forwarder,
    /// The profile's servers, or the host's (`dns = "host"`).
    Servers(Vec<IpAddr>),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NatPlan {
    /// pasta's options but the namespaces it joins (added at spawn time).
    pub pasta_args: Vec<String>,
    /// `nft -f` input; `None` when every destination is allowed.
    pub ruleset: Option<String>,
    /// resolv.conf's text: the resolvers the rules let through, and no
    /// others (a copy of the host's file could name a loopback or scoped
    /// server the sandbox cannot reach).
    pub resolv_conf: Option<String>,
    /// Extra /etc/hosts lines: (address, name).
    pub hosts: Vec<(String, String)>,
    /// The default routes to wait for, (IPv4, IPv6): pasta's setup is
    /// done when they are in. IPv6 only on a host without IPv4, since pasta
    /// leaves IPv6 out where the host's interface has no global address.
    pub routes: (bool, bool),
}

impl NatPlan {
    /// `root`: pasta is started by root and must stay root to join the
    /// sandbox's namespaces (it would drop to nobody otherwise).
    pub fn new(
        nat: &NatSpec,
        resolvers: &Resolvers,
        pinned: &Pinned,
        host: &HostRoutes,
        root: bool,
    ) -> NatPlan {
        let gateway = if nat.host_loopback { host.gateway4 } else { None };
        let mapped: Vec<IpAddr> = if nat.host_loopback {
            host.gateway4.map(IpAddr::V4).into_iter().chain(host.gateway6.map(IpAddr::V6)).collect()
        } else {
            Vec::new()
        };
        let mut hosts: Vec<(String, String)> = Vec::new();
        for (name, addrs) in pinned {
            hosts.extend(addrs.iter().map(|a| (a.to_string(), name.clone())));
        }
        hosts.extend(gateway.map(|g| (g.to_string(), HOST_NAME.to_owned())));
        let dns = match resolvers {
            Resolvers::Forwarder => vec![IpAddr::V4(DNS_FORWARDER)],
            Resolvers::Servers(servers) => servers.clone(),
        };
        NatPlan {
            pasta_args: pasta_args(nat, root),
            ruleset: nat.egress.as_ref().map(|allow| ruleset(allow, &dns, pinned, &mapped)),
            resolv_conf: Some(dns.iter().fold(String::new(), |mut t, s| {
                let _ = writeln!(t, "nameserver {s}");
                t
            })),
            hosts,
            routes: (host.gateway4.is_some(), host.default6 && host.gateway4.is_none()),
        }
    }
}

fn pasta_args(nat: &NatSpec, root: bool) -> Vec<String> {
    let mut args: Vec<String> = ["--foreground", "--quiet", "--config-net"].map(String::from).to_vec();
    if root {
        args.extend(["--runas".into(), "0:0".into()]);
    }
    // Nothing is forwarded unless published: pasta's default ("auto")
    // would publish every port the sandbox listens on, and -T/-U would
    // open the host's loopback ports to the sandbox's.
    let tcp: Vec<&Publish> = nat.publish.iter().filter(|p| p.proto == Proto::Tcp).collect();
    let udp: Vec<&Publish> = nat.publish.iter().filter(|p| p.proto == Proto::Udp).collect();
    for (flag, list) in [("--tcp-ports", tcp), ("--udp-ports", udp)] {
        if list.is_empty() {
            args.extend([flag.into(), "none".into()]);
        }
        for p in list {
            args.extend([flag.into(), forward_spec(p)]);
        }
    }
    args.extend(["--tcp-ns", "none", "--udp-ns", "none"].map(String::from));
    if !nat.host_loopback {
        args.push("--no-map-gw".into());
    }
    args.extend(["--dns-forward".into(), DNS_FORWARDER.to_string()]);
    args
}

/// pasta's `ADDR/PORT[-LAST]:TARGET[-LAST]`.
fn forward_spec(p: &Publish) -> String {
    format!("{}/{}:{}", p.host_addr, p.host_ports, p.sandbox_ports)
}

/// The egress rules as one nftables table in the sandbox's namespace: its
/// own loopback, replies, neighbour discovery and DNS to its resolvers are
/// let through, then each rule; everything else is rejected (a reset for
/// TCP, "administratively prohibited" otherwise) so a denied connection
/// fails at once instead of hanging a build.
///
/// Loopback traffic is not tracked: a packet the command sends itself on
/// `lo` (a spoofed source) must not leave a connection whose "reply" out
/// through the interface would count as established. `mapped`: the
/// gateway addresses pasta maps to the host's loopback, reachable only
/// through `host.sandbox.internal` rules, never through a wider network.
fn ruleset(allow: &[Allow], dns: &[IpAddr], pinned: &Pinned, mapped: &[IpAddr]) -> String {
    let mut r = String::from("table inet sandbox {\n");
    for (chain, hook, dir) in
        [("loopback_in", "prerouting", "iifname"), ("loopback_out", "output", "oifname")]
    {
        let _ = writeln!(r, "\tchain {chain} {{\n\t\ttype filter hook {hook} priority raw; policy accept;");
        let _ = writeln!(r, "\t\t{dir} \"lo\" notrack\n\t}}");
    }
    r.push_str("\tchain egress {\n");
    r.push_str("\t\ttype filter hook output priority filter; policy accept;\n");
    r.push_str("\t\toifname \"lo\" accept\n");
    r.push_str("\t\tct state established,related accept\n");
    r.push_str("\t\ticmpv6 type { nd-neighbor-solicit, nd-neighbor-advert, nd-router-solicit } accept\n");
    for server in dns {
        for proto in [Proto::Udp, Proto::Tcp] {
            rule(&mut r, *server, None, proto, Some(PortRange { first: 53, last: 53 }));
        }
    }
    let (host, others): (Vec<&Allow>, Vec<&Allow>) = allow.iter().partition(|a| a.dest == Dest::Host);
    for a in host {
        for gateway in mapped.iter().filter(|g| g.is_ipv4()) {
            rule(&mut r, *gateway, None, a.proto, a.ports);
        }
    }
    for gateway in mapped {
        let family = if gateway.is_ipv4() { "ip" } else { "ip6" };
        let _ = writeln!(r, "\t\t{family} daddr {gateway} meta l4proto tcp reject with tcp reset");
        let _ = writeln!(r, "\t\t{family} daddr {gateway} reject with icmpx type admin-prohibited");
    }
    for a in others {
        let addrs: Vec<(IpAddr, Option<u8>)> = match &a.dest {
            Dest::Net { addr, prefix } => vec![(*addr, Some(*prefix))],
            Dest::Name(name) => pinned.get(name).into_iter().flatten().map(|a| (*a, None)).collect(),
            Dest::Host => Vec::new(),
        };
        for (addr, prefix) in addrs {
            rule(&mut r, addr, prefix, a.proto, a.ports);
        }
    }
    r.push_str("\t\tmeta l4proto tcp reject with tcp reset\n");
    r.push_str("\t\treject with icmpx type admin-prohibited\n");
    r.push_str("\t}\n}\n");
    r
}

/// One accept line; no `prefix` means the single address.
fn rule(r: &mut String, addr: IpAddr, prefix: Option<u8>, proto: Proto, ports: Option<PortRange>) {
    let (family, icmp, full) = match addr {
        IpAddr::V4(_) => ("ip", "icmp", 32),
        IpAddr::V6(_) => ("ip6", "ipv6-icmp", 128),
    };
    let dest = match prefix {
        Some(p) if p < full => format!("{addr}/{p}"),
        _ => addr.to_string(),
    };
    let what = match (proto, ports) {
        (Proto::Icmp, _) => format!("meta l4proto {icmp}"),
        (Proto::Tcp, Some(p)) => format!("tcp dport {p}"),
        (Proto::Udp, Some(p)) => format!("udp dport {p}"),
        (Proto::Tcp, None) => "meta l4proto tcp".to_owned(),
        (Proto::Udp, None) => "meta l4proto udp".to_owned(),
    };
    let _ = writeln!(r, "\t\t{family} daddr {dest} {what} accept");
}

#[cfg(test)]
mod tests;
