//! `[namespaces]` and `[network]`, which decide the net namespace together.

use std::collections::BTreeMap;
use std::net::IpAddr;

use super::Cx;
use crate::profile::diag::Diag;
use crate::profile::model::{Dns, Namespaces, NetMode, Network, UserNamespace};
use crate::profile::raw::{self, DnsWord, NsMode, OneOf, UserNs};
use crate::profile::source::Sp;

pub(super) fn check(
    cx: &mut Cx,
    ns: &raw::Namespaces,
    net: &raw::Network,
    name: &str,
) -> (Namespaces, Option<Network>) {
    let mut ok = private_mount(cx, ns);
    let mode = net_mode(cx, ns.net.as_ref(), net.mode.as_ref());
    ok &= mode.is_some();
    let nat = match mode {
        Some(NetMode::Nat) => super::network::nat(cx, net).map(Some),
        Some(other) => super::network::nat_only(cx, net, other).then_some(None),
        // The mode is in doubt (that is reported): no mode to hold the nat keys to.
        None => None,
    };
    let mode = mode.unwrap_or(NetMode::None);
    let namespaces = namespaces(ns, mode);
    let hostname = hostname(cx, ns, net.hostname.as_ref(), namespaces.uts, name);
    let dns = match &net.dns {
        None => Some(None),
        Some(OneOf::Scalar(DnsWord::Host)) => Some(Some(Dns::Host)),
        Some(OneOf::Collection(servers)) => {
            let parsed: Vec<Option<IpAddr>> = servers.iter().map(|s| address(cx, "DNS server", s)).collect();
            parsed.into_iter().collect::<Option<Vec<_>>>().map(|s| Some(Dns::Servers(s)))
        }
    };
    let hosts = hosts(cx, &net.hosts);
    let network = match (ok, hostname, dns, hosts, nat) {
        (true, Some(hostname), Some(dns), Some(hosts), Some(nat)) => {
            Some(Network { mode, hostname, dns, hosts, nat })
        }
        _ => None,
    };
    (namespaces, network)
}

/// The root filesystem is built in a private mount namespace, so `mount =
/// "host"` cannot be honoured; false when it is asked for.
fn private_mount(cx: &mut Cx, ns: &raw::Namespaces) -> bool {
    let Some(m) = ns.mount.as_ref().filter(|m| m.value == NsMode::Host) else {
        return true;
    };
    cx.error(
        Diag::at("profile::namespace", m.span, "the mount namespace cannot be shared with the host")
            .help("the root filesystem is built in a private mount namespace; remove this key"),
    );
    false
}

/// Which namespaces are new: by default all but time; mount always; net
/// unless `mode` is "host" (a nat network is a namespace of its own too).
fn namespaces(ns: &raw::Namespaces, mode: NetMode) -> Namespaces {
    let new = |mode: Option<&Sp<NsMode>>, default: bool| mode.map_or(default, |m| m.value == NsMode::New);
    Namespaces {
        user: match ns.user.as_ref().map(|u| u.value) {
            None | Some(UserNs::Auto) => UserNamespace::Auto,
            Some(UserNs::New) => UserNamespace::New,
            Some(UserNs::Host) => UserNamespace::Host,
        },
        subids: ns.subids.as_ref().is_some_and(|s| s.value),
        pid: new(ns.pid.as_ref(), true),
        mount: true,
        ipc: new(ns.ipc.as_ref(), true),
        uts: new(ns.uts.as_ref(), true),
        net: mode != NetMode::Host,
        cgroup: new(ns.cgroup.as_ref(), true),
        time: new(ns.time.as_ref(), false),
    }
}

/// The hostname to set, empty to keep the host's; one written while the
/// UTS namespace is the host's is refused, as setting it would rename the host.
fn hostname(
    cx: &mut Cx,
    ns: &raw::Namespaces,
    hostname: Option<&Sp<String>>,
    new_uts: bool,
    name: &str,
) -> Option<String> {
    match (hostname, new_uts) {
        (Some(h), true) => valid_hostname(cx, h).then(|| h.value.clone()),
        (Some(h), false) => {
            let uts = ns.uts.as_ref().expect("uts is shared only when set");
            let diag = Diag::at(
                "profile::namespace-conflict",
                h.span,
                "a hostname is set but the UTS namespace is the host's",
            )
            .label(uts.span, "shared here")
            .help("setting it would rename the host; remove `hostname` or use uts = \"new\"");
            cx.error(diag);
            None
        }
        (None, true) => Some(hostname_from(name)),
        (None, false) => Some(String::new()),
    }
}

/// `network.hosts` entries; every bad one is reported before giving up.
fn hosts(cx: &mut Cx, entries: &BTreeMap<String, Sp<String>>) -> Option<Vec<(String, IpAddr)>> {
    let mut hosts = Vec::new();
    let mut ok = true;
    for (host, addr) in entries {
        let name_ok = valid_hostname(cx, &Sp::new(host.clone(), addr.span));
        if let (true, Some(ip)) = (name_ok, address(cx, "host address", addr)) {
            hosts.push((host.clone(), ip));
        } else {
            ok = false;
        }
    }
    ok.then_some(hosts)
}

/// `network.mode` and `namespaces.net` say the same thing; when both are
/// written they must agree: "host" with "host", "none" or "nat" with "new".
fn net_mode(cx: &mut Cx, ns: Option<&Sp<NsMode>>, mode: Option<&Sp<raw::NetMode>>) -> Option<NetMode> {
    let from_mode = mode.map(|m| match m.value {
        raw::NetMode::None => NetMode::None,
        raw::NetMode::Host => NetMode::Host,
        raw::NetMode::Nat => NetMode::Nat,
    });
    let from_ns = ns.map(|n| if n.value == NsMode::Host { NetMode::Host } else { NetMode::None });
    match (from_mode, from_ns) {
        (Some(a), Some(b)) if (a == NetMode::Host) != (b == NetMode::Host) => {
            let (m, n) = (mode.expect("set"), ns.expect("set"));
            let diag = Diag::at(
                "profile::namespace-conflict",
                m.span,
                "`network.mode` and `namespaces.net` disagree",
            )
            .label(n.span, "the namespace is set here")
            .help(
                "write only `network.mode`: \"none\" and \"nat\" give a new net namespace, \"host\" shares the host's",
            );
            cx.error(diag);
            None
        }
        // `mode` says more than the namespace ("nat" or "none" for "new").
        (a, b) => Some(a.or(b).unwrap_or(NetMode::None)),
    }
}

fn address(cx: &mut Cx, what: &str, value: &Sp<String>) -> Option<IpAddr> {
    value
        .value
        .parse()
        .map_err(|_| {
            cx.error(
                Diag::at(
                    "profile::address",
                    value.span,
                    format!("{what} \"{}\" is not an IP address", value.value),
                )
                .help("write an IPv4 or IPv6 address, e.g. \"192.0.2.1\""),
            );
        })
        .ok()
}

/// RFC 1123 host names: labels of letters, digits and `-`, 63 bytes each.
fn valid_hostname(cx: &mut Cx, h: &Sp<String>) -> bool {
    let ok = !h.value.is_empty()
        && h.value.len() <= 64
        && h.value.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        });
    if !ok {
        cx.error(
            Diag::at("profile::hostname", h.span, format!("\"{}\" is not a valid host name", h.value))
                .help("use letters, digits and `-`, up to 64 characters"),
        );
    }
    ok
}

/// The default hostname: the profile's name, made a valid host name.
pub(super) fn hostname_from(name: &str) -> String {
    let clean: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '-' })
        .take(63)
        .collect();
    let clean = clean.trim_matches('-');
    if clean.is_empty() { "sandbox".to_owned() } else { clean.to_owned() }
}
