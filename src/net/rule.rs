//! Egress rules and published ports: their syntax, parsed and printed.
//!
//! An egress rule is `DEST[:PORT[-PORT]][/PROTO]`: DEST is an address, a
//! network in CIDR form (IPv6 in brackets when a port follows:
//! `[2001:db8::/32]:443`), a host name, or `host.sandbox.internal`; PROTO
//! is `tcp` (the default), `udp` or `icmp` (which takes no port). A
//! published port is `[HOST_ADDR:]HOST_PORT[-LAST]:SANDBOX_PORT[-LAST][/PROTO]`
//! with PROTO `tcp` (default) or `udp`, and 127.0.0.1 as the default
//! address, as podman's `-p` but closed to other machines unless asked.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

/// The name that means the host itself, through the user-mode stack
/// (podman's `host.containers.internal`).
pub const HOST_NAME: &str = "host.sandbox.internal";

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
