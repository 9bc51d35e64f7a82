//! `[network]`: the mode, the names the sandbox sees, and what a `nat`
//! network publishes and lets out.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::Deserialize;

use super::OneOf;
use crate::profile::source::Sp;

/// Network, hostname and name resolution.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(default)]
#[schemars(deny_unknown_fields)]
pub struct Network {
    /// "none" (default: own network namespace, loopback up), "host" (the host's network), or
    /// "nat" (own network namespace, reaching the host's network through a user-mode stack).
    pub mode: Option<Sp<NetMode>>,
    /// Hostname inside the sandbox. Default "sandbox".
    pub hostname: Option<Sp<String>>,
    /// "host" copies the caller's /etc/resolv.conf; a list of server addresses writes one.
    /// With "nat" and no `dns`, the sandbox asks the user-mode stack's forwarder.
    pub dns: Option<OneOf<DnsWord, Vec<Sp<String>>>>,
    /// Extra /etc/hosts entries: name = "address".
    pub hosts: BTreeMap<String, Sp<String>>,
    /// "nat" only: host ports that lead into the sandbox,
    /// `[HOST_ADDR:]HOST_PORT[-LAST]:SANDBOX_PORT[-LAST][/tcp|/udp]`, e.g. "8080:80",
    /// "127.0.0.1:5432:5432/tcp", "5353:53/udp". The host address defaults to 127.0.0.1, so a
    /// port is open to other machines only when an address such as "0.0.0.0" says so.
    pub ports: Option<Sp<Vec<Sp<String>>>>,
    /// "nat" only: the host's loopback is reachable from the sandbox, as
    /// `host.sandbox.internal`. Default false.
    pub host_loopback: Option<Sp<bool>>,
    /// "nat" only: where the sandbox may connect to and send.
    pub egress: Option<Sp<Egress>>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum NetMode {
    None,
    Host,
    Nat,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum DnsWord {
    Host,
}

/// The egress allowlist of a "nat" network.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(default)]
#[schemars(deny_unknown_fields)]
pub struct Egress {
    /// "allow" (default: every destination) or "deny" (only those in `allow`, and DNS to the
    /// sandbox's resolver). A denied connection is refused at once, not left to time out.
    pub default: Option<Sp<EgressDefault>>,
    /// With default = "deny", the destinations the sandbox may reach: `DEST[:PORT[-PORT]][/PROTO]`,
    /// DEST an address, a network ("10.0.0.0/8"; IPv6 in brackets before a port,
    /// `[2001:db8::/32]:443`), a host name (resolved once when the sandbox starts) or
    /// "host.sandbox.internal"; PROTO "tcp" (default), "udp" or "icmp" (no port).
    /// E.g. "registry.npmjs.org:443", "10.20.0.0/16:5432/tcp".
    pub allow: Vec<Sp<String>>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum EgressDefault {
    Allow,
    Deny,
}
