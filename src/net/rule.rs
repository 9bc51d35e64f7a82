//! Egress rules and published ports: their syntax, parsed and printed.
//!
//! An egress rule is `DEST[:PORT[-PORT]][/PROTO]`: DEST is an address, a
//! network in CIDR form (IPv6 in brackets when a port follows:
//! `[2001:db8::/32]:443`), a host name, or `host.sandbox.internal`; PROTO
//! is `tcp` (the default), `udp` or `icmp` (which takes no port). A
//! published port is `[HOST_ADDR:]HOST_PORT[-LAST]:SANDBOX_PORT[-LAST][/PROTO]`
//! with PROTO `tcp` (default) or `udp`, and 127.0.0.1 as the default
//! address, as podman's `-p` but closed to other machines unless asked.
//!
//! Decisions the grammar leaves open: host names are RFC 1123's, compared
//! and printed lower-case, a trailing `.` dropped; `_`, wildcards and
//! `localhost` are refused (see [`parse_name`]); an IPv6 address without
//! brackets takes no port, as every colon is its own. Each type prints its
//! canonical text (the protocol and the host address always written, IPv6
//! always in brackets), which parses back to the same value: `explain`
//! shows it, and the tests hold it for any value.

use std::fmt;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

/// The name that means the host itself, through the user-mode stack
/// (podman's `host.containers.internal`).
pub const HOST_NAME: &str = "host.sandbox.internal";

/// What an egress allowlist lets out besides its rules, in words (for
/// `explain`): name resolution, and only through the sandbox's resolver.
pub const IMPLICIT_DNS: &str = "DNS (udp+tcp 53) to the sandbox's resolver";

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Proto {
    Tcp,
    Udp,
    Icmp,
}

/// Ports `first..=last`; one port has `first == last`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortRange {
    pub first: u16,
    pub last: u16,
}

/// Where an egress rule lets the sandbox send.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Dest {
    /// An address (prefix 32 or 128) or a network.
    Net { addr: IpAddr, prefix: u8 },
    /// A host name, resolved once when the sandbox starts and pinned.
    Name(String),
    /// `host.sandbox.internal`: the host, through the user-mode stack.
    Host,
}

/// One egress rule.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Allow {
    pub dest: Dest,
    pub proto: Proto,
    /// `None`: every port (always `None` for ICMP).
    pub ports: Option<PortRange>,
}

/// One published port range: the host's `host_addr:host_ports` lead to
/// the sandbox's `sandbox_ports`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Publish {
    pub host_addr: IpAddr,
    pub host_ports: PortRange,
    pub sandbox_ports: PortRange,
    /// `Tcp` or `Udp`.
    pub proto: Proto,
}

impl PortRange {
    /// How many ports the range holds.
    pub fn count(self) -> u32 {
        u32::from(self.last) - u32::from(self.first) + 1
    }

    pub fn overlaps(self, other: PortRange) -> bool {
        self.first <= other.last && other.first <= self.last
    }
}

impl Publish {
    /// Whether both would bind the same host port: the same protocol, ports
    /// in common, and the same address or a wildcard one (`0.0.0.0` holds
    /// every IPv4 address; `::` every address, as Linux binds it dual-stack).
    pub fn collides(&self, other: &Publish) -> bool {
        let covers = |a: IpAddr, b: IpAddr| match a {
            IpAddr::V4(v4) => v4.is_unspecified() && b.is_ipv4(),
            IpAddr::V6(v6) => v6.is_unspecified(),
        };
        self.proto == other.proto
            && self.host_ports.overlaps(other.host_ports)
            && (self.host_addr == other.host_addr
                || covers(self.host_addr, other.host_addr)
                || covers(other.host_addr, self.host_addr))
    }
}

impl fmt::Display for Proto {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
            Proto::Icmp => "icmp",
        })
    }
}

impl fmt::Display for PortRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.first == self.last {
            write!(f, "{}", self.first)
        } else {
            write!(f, "{}-{}", self.first, self.last)
        }
    }
}

/// IPv6 always in brackets, so the text reads the same with or without a port.
impl fmt::Display for Dest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Dest::Net { addr: IpAddr::V4(a), prefix: 32 } => write!(f, "{a}"),
            Dest::Net { addr: IpAddr::V4(a), prefix } => write!(f, "{a}/{prefix}"),
            Dest::Net { addr: IpAddr::V6(a), prefix: 128 } => write!(f, "[{a}]"),
            Dest::Net { addr: IpAddr::V6(a), prefix } => write!(f, "[{a}/{prefix}]"),
            Dest::Name(name) => f.write_str(name),
            Dest::Host => f.write_str(HOST_NAME),
        }
    }
}

/// The canonical text, which [`parse_allow`] reads back to the same rule:
/// the protocol always written, `registry.npmjs.org:443/tcp`.
impl fmt::Display for Allow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.dest)?;
        if let Some(ports) = self.ports {
            write!(f, ":{ports}")?;
        }
        write!(f, "/{}", self.proto)
    }
}

/// The canonical text, which [`parse_publish`] reads back to the same
/// value: address and protocol always written, `127.0.0.1:8080:80/tcp`.
impl fmt::Display for Publish {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.host_addr {
            IpAddr::V4(a) => write!(f, "{a}")?,
            IpAddr::V6(a) => write!(f, "[{a}]")?,
        }
        write!(f, ":{}:{}/{}", self.host_ports, self.sandbox_ports, self.proto)
    }
}

/// An egress rule, `DEST[:PORT[-PORT]][/PROTO]`. The error is a short
/// phrase naming what is wrong and how to write it instead.
pub fn parse_allow(s: &str) -> Result<Allow, String> {
    if s.is_empty() {
        return Err("the rule is empty: write DEST[:PORT[-PORT]][/PROTO], e.g. example.org:443".to_owned());
    }
    let (rest, proto) = split_proto(s)?;
    let (dest_text, ports) = split_dest_ports(rest)?;
    if dest_text.is_empty() {
        return Err("the destination is missing: write an address, a network or a host name".to_owned());
    }
    let dest = parse_dest(dest_text).map_err(|e| {
        // Unbracketed, every colon is the address's: a port cannot follow.
        if dest_text.contains(':') && !rest.starts_with('[') {
            format!("{e} (with a port, IPv6 goes in brackets: [2001:db8::/32]:443)")
        } else {
            e
        }
    })?;
    let proto = proto.unwrap_or(Proto::Tcp);
    let ports = ports.map(parse_ports).transpose()?;
    if let (Proto::Icmp, Some(p)) = (proto, ports) {
        return Err(format!("ICMP has no ports: remove \":{p}\", or write /tcp or /udp"));
    }
    Ok(Allow { dest, proto, ports })
}

/// A published port, `[HOST_ADDR:]HOST_PORT[-LAST]:SANDBOX_PORT[-LAST][/PROTO]`,
/// the host address 127.0.0.1 unless given.
pub fn parse_publish(s: &str) -> Result<Publish, String> {
    const FORM: &str = "write [HOST_ADDR:]HOST_PORT:SANDBOX_PORT[/udp], e.g. 8080:80";
    if s.is_empty() {
        return Err(format!("the published port is empty: {FORM}"));
    }
    let (rest, proto) = split_proto(s)?;
    let proto = proto.unwrap_or(Proto::Tcp);
    if proto == Proto::Icmp {
        return Err("ICMP cannot be published: write /tcp or /udp".to_owned());
    }
    let (addr, ports) = match bracketed(rest)? {
        Some((inside, after)) => {
            let ports = after.strip_prefix(':').ok_or_else(|| format!("\"{rest}\": {FORM}"))?;
            (Some(ipv6(inside)?), ports)
        }
        None => (None, rest),
    };
    let fields: Vec<&str> = ports.split(':').collect();
    let (addr, host, sandbox) = match (addr, fields.as_slice()) {
        (None, [host, sandbox]) => (IpAddr::from([127, 0, 0, 1]), *host, *sandbox),
        (None, [addr, host, sandbox]) => (host_addr(addr)?, *host, *sandbox),
        (Some(addr), [host, sandbox]) => (addr, *host, *sandbox),
        (None, [_, _, _, _, ..]) if ports.rsplitn(3, ':').nth(2).is_some_and(|a| ipv6(a).is_ok()) => {
            return Err(format!("\"{rest}\": put an IPv6 host address in brackets, e.g. [::1]:8080:80"));
        }
        _ => return Err(format!("\"{rest}\": {FORM}")),
    };
    let (host_ports, sandbox_ports) = (parse_ports(host)?, parse_ports(sandbox)?);
    if host_ports.count() != sandbox_ports.count() {
        let ports =
            |r: PortRange| if r.count() == 1 { "1 port".to_owned() } else { format!("{} ports", r.count()) };
        return Err(format!(
            "the host's {host_ports} is {} but the sandbox's {sandbox_ports} is {}: give both ranges the same length",
            ports(host_ports),
            ports(sandbox_ports)
        ));
    }
    Ok(Publish { host_addr: addr, host_ports, sandbox_ports, proto })
}

/// `…/tcp` → (`…`, tcp). Only letters after the last `/` are a protocol:
/// digits there are a CIDR prefix (`10.0.0.0/8`).
fn split_proto(s: &str) -> Result<(&str, Option<Proto>), String> {
    let Some((rest, tail)) = s.rsplit_once('/') else { return Ok((s, None)) };
    if tail.is_empty() {
        return Err(format!("\"{s}\" ends in `/`: write tcp, udp or icmp after it, or remove it"));
    }
    if !tail.chars().all(|c| c.is_ascii_alphabetic()) {
        return Ok((s, None));
    }
    let proto = match tail {
        "tcp" => Proto::Tcp,
        "udp" => Proto::Udp,
        "icmp" => Proto::Icmp,
        _ => return Err(format!("unknown protocol \"{tail}\": write tcp, udp or icmp")),
    };
    Ok((rest, Some(proto)))
}

/// `[inside]after` → (inside, after); `None` when `s` has no `[`.
fn bracketed(s: &str) -> Result<Option<(&str, &str)>, String> {
    let Some(open) = s.strip_prefix('[') else { return Ok(None) };
    let (inside, after) =
        open.split_once(']').ok_or_else(|| format!("\"{s}\" lacks its closing `]`: write [ADDRESS]"))?;
    Ok(Some((inside, after)))
}

/// DEST and the port text after it. Without brackets, an address with two
/// colons or more is IPv6 and takes no port (`::1:443` is an address).
fn split_dest_ports(s: &str) -> Result<(&str, Option<&str>), String> {
    if let Some((inside, after)) = bracketed(s)? {
        if !inside.contains(':') {
            return Err(format!("brackets are for IPv6 addresses: write {inside} without them"));
        }
        return match after {
            "" => Ok((inside, None)),
            _ => match after.strip_prefix(':') {
                Some(ports) => Ok((inside, Some(ports))),
                None => Err(format!("\"{after}\" after `]`: write [ADDRESS]:PORT")),
            },
        };
    }
    if s.matches(':').count() >= 2 {
        return Ok((s, None));
    }
    Ok(match s.split_once(':') {
        Some((dest, ports)) => (dest, Some(ports)),
        None => (s, None),
    })
}

fn parse_dest(s: &str) -> Result<Dest, String> {
    if s.contains([':', '/']) || s.parse::<IpAddr>().is_ok() {
        return parse_net(s);
    }
    let name = parse_name(s)?;
    Ok(if name == HOST_NAME { Dest::Host } else { Dest::Name(name) })
}

/// An address (prefix 32 or 128) or a network whose host bits are zero.
fn parse_net(s: &str) -> Result<Dest, String> {
    let (addr_text, prefix_text) = s.split_once('/').map_or((s, None), |(a, p)| (a, Some(p)));
    let addr: IpAddr = addr_text.parse().map_err(|_| format!("\"{addr_text}\" is not an IP address"))?;
    no_mapped(addr, addr_text)?;
    let bits = if addr.is_ipv4() { 32 } else { 128 };
    let prefix = match prefix_text {
        None => bits,
        Some(p) => p
            .parse::<u8>()
            .ok()
            .filter(|p| *p <= bits)
            .ok_or_else(|| format!("\"/{p}\" is not a prefix length for {addr}: use 0 to {bits}"))?,
    };
    let network = masked(addr, prefix);
    if network != addr {
        return Err(format!("{s} has host bits set: did you mean {network}/{prefix}?"));
    }
    Ok(Dest::Net { addr, prefix })
}

/// An IPv4-mapped IPv6 address (`::ffff:10.0.0.1`) is refused: the kernel
/// sends IPv4 for it, so an IPv6 rule would never match, and a published
/// port would dodge the check for twice-published ports.
fn no_mapped(addr: IpAddr, text: &str) -> Result<(), String> {
    match addr {
        IpAddr::V6(a) => a.to_ipv4_mapped().map_or(Ok(()), |v4| {
            Err(format!("\"{text}\" is an IPv4-mapped IPv6 address: write it as IPv4, {v4}"))
        }),
        IpAddr::V4(_) => Ok(()),
    }
}

/// `addr` with every bit past `prefix` cleared.
fn masked(addr: IpAddr, prefix: u8) -> IpAddr {
    match addr {
        IpAddr::V4(a) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
            IpAddr::V4((u32::from(a) & mask).into())
        }
        IpAddr::V6(a) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
            IpAddr::V6((u128::from(a) & mask).into())
        }
    }
}

/// A DNS host name (RFC 1123), lower-cased; a trailing `.` is dropped.
/// `_` is refused: it is no host name's, resolvers disagree about it, and an
/// allowlist is better strict (a typo fails here, not at run time).
fn parse_name(s: &str) -> Result<String, String> {
    let name = s.strip_suffix('.').unwrap_or(s).to_ascii_lowercase();
    let last = name.rsplit('.').next().unwrap_or_default();
    if !last.is_empty() && last.chars().all(|c| c.is_ascii_digit()) {
        return Err(format!("\"{s}\" is not an IP address: an IPv4 address is four numbers from 0 to 255"));
    }
    if name.contains('*') {
        return Err(format!(
            "\"{s}\": wildcards are not allowed (a name is resolved once at start): list each host"
        ));
    }
    if name.contains('_') {
        return Err(format!(
            "\"{s}\" is not a host name: `_` is not allowed (RFC 1123); write the address instead"
        ));
    }
    if name == "localhost" || name.ends_with(".localhost") {
        return Err(format!(
            "\"{s}\" is the sandbox itself, always reachable: the host's loopback is {HOST_NAME}"
        ));
    }
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    };
    if name.len() > 253 || !name.split('.').all(label_ok) {
        return Err(format!(
            "\"{s}\" is not a host name: labels of letters, digits and inner `-`, up to 63 each and 253 in all"
        ));
    }
    Ok(name)
}

/// `PORT` or `FIRST-LAST`.
fn parse_ports(s: &str) -> Result<PortRange, String> {
    let (first, last) = if let Some((a, b)) = s.split_once('-') {
        (parse_port(a)?, parse_port(b)?)
    } else {
        let p = parse_port(s)?;
        (p, p)
    };
    if first > last {
        return Err(format!("the range {first}-{last} runs backwards: write {last}-{first}"));
    }
    Ok(PortRange { first, last })
}

fn parse_port(s: &str) -> Result<u16, String> {
    if s.is_empty() {
        return Err("a port is missing: write a number from 1 to 65535".to_owned());
    }
    match s.parse::<u16>() {
        Ok(0) => Err("port 0 is not a port: use 1 to 65535".to_owned()),
        Ok(p) if s.bytes().all(|b| b.is_ascii_digit()) => Ok(p),
        _ => Err(format!("\"{s}\" is not a port: use a number from 1 to 65535")),
    }
}

/// The host address of a published port: IPv4 (IPv6 comes in brackets).
fn host_addr(s: &str) -> Result<IpAddr, String> {
    s.parse::<std::net::Ipv4Addr>()
        .map(IpAddr::V4)
        .map_err(|_| format!("\"{s}\" is not an IPv4 address: write one, e.g. 127.0.0.1 (the default)"))
}

fn ipv6(s: &str) -> Result<IpAddr, String> {
    let addr = s
        .parse::<std::net::Ipv6Addr>()
        .map(IpAddr::V6)
        .map_err(|_| format!("\"{s}\" is not an IPv6 address: write one in brackets, e.g. [::1]"))?;
    no_mapped(addr, s)?;
    Ok(addr)
}

#[cfg(test)]
mod tests;
