//! A `nat` network's published ports, host loopback and egress rules, and
//! the keys that mean something only with `mode = "nat"`.

use super::{Cx, flag};
use crate::linux::caps;
use crate::net::rule::{self, Allow, Dest, HOST_NAME, Publish};
use crate::profile::diag::Diag;
use crate::profile::model::{Nat, NetMode};
use crate::profile::raw::{self, EgressDefault};
use crate::profile::source::{Sp, Span};

const PUBLISH_FORM: &str =
    "a published port is [HOST_ADDR:]HOST_PORT[-LAST]:SANDBOX_PORT[-LAST][/tcp|/udp], e.g. \"8080:80\"";
const ALLOW_FORM: &str =
    "an egress rule is DEST[:PORT[-PORT]][/tcp|/udp|/icmp], e.g. \"registry.npmjs.org:443\"";

/// A nat network's part; `None` when something is wrong, every mistake reported.
pub(super) fn nat(cx: &mut Cx, net: &raw::Network) -> Option<Nat> {
    let publish = published(cx, net.ports.as_ref().map_or(&[], |p| &p.value));
    let host_loopback = flag(net.host_loopback.as_ref(), false);
    let (deny, rules) = match &net.egress {
        Some(e) => (denies(&e.value), egress(cx, &e.value, host_loopback)),
        None => (false, Some(Vec::new())),
    };
    let rules = rules?;
    Some(Nat { publish: publish?, host_loopback, egress: deny.then_some(rules) })
}

fn denies(e: &raw::Egress) -> bool {
    e.default.as_ref().is_some_and(|d| d.value == EgressDefault::Deny)
}

/// Published ports, host loopback and egress rules set for a network that
/// is not nat would be ignored: each is an error, so none is taken for a
/// wall. False when there is one.
pub(super) fn nat_only(cx: &mut Cx, net: &raw::Network, mode: NetMode) -> bool {
    let set: [(&str, Option<Span>); 3] = [
        ("ports", net.ports.as_ref().map(|p| p.span)),
        ("host_loopback", net.host_loopback.as_ref().map(|h| h.span)),
        ("egress", net.egress.as_ref().map(|e| e.span)),
    ];
    let mode = if mode == NetMode::Host { "host" } else { "none" };
    let mut ok = true;
    for (key, span) in set {
        let Some(span) = span else { continue };
        let diag = Diag::at(
            "profile::nat-only",
            span,
            format!("`network.{key}` applies only to a nat network, and this one is \"{mode}\""),
        )
        .help(format!("set network.mode = \"nat\", or remove `{key}`"));
        cx.error(diag);
        ok = false;
    }
    ok
}

/// Each port parsed, and no host port published twice.
fn published(cx: &mut Cx, ports: &[Sp<String>]) -> Option<Vec<Publish>> {
    let mut out: Vec<(Publish, Span)> = Vec::new();
    let mut ok = true;
    for p in ports {
        match rule::parse_publish(&p.value) {
            Ok(parsed) => {
                if let Some((first, at)) = out.iter().find(|(q, _)| q.collides(&parsed)) {
                    let diag = Diag::at(
                        "profile::publish-conflict",
                        p.span,
                        format!("host port {} is already published as {first}", parsed.host_ports),
                    )
                    .label(*at, "published here")
                    .help("a host port can lead to one sandbox port: change one host port, or remove one");
                    cx.error(diag);
                    ok = false;
                }
                out.push((parsed, p.span));
            }
            Err(e) => {
                cx.error(Diag::at("profile::publish", p.span, e).help(PUBLISH_FORM));
                ok = false;
            }
        }
    }
    ok.then(|| out.into_iter().map(|(p, _)| p).collect())
}

/// The egress rules, each parsed; `None` when one is wrong.
fn egress(cx: &mut Cx, e: &raw::Egress, host_loopback: bool) -> Option<Vec<Allow>> {
    let deny = denies(e);
    let mut ok = true;
    if let (false, Some(first)) = (deny, e.allow.first()) {
        let mut diag = Diag::at(
            "profile::egress",
            first.span,
            "`egress.allow` does nothing while `egress.default` is \"allow\"",
        );
        if let Some(d) = &e.default {
            diag = diag.label(d.span, "everything is allowed here");
        }
        cx.error(diag.help("set network.egress.default = \"deny\" to allow only these, or remove `allow`"));
        ok = false;
    }
    let mut rules = Vec::new();
    for r in &e.allow {
        match rule::parse_allow(&r.value) {
            Ok(parsed) if parsed.dest == Dest::Host && !host_loopback => {
                let diag = Diag::at(
                    "profile::egress",
                    r.span,
                    format!("{HOST_NAME} is the host's loopback, which this network does not reach"),
                )
                .help("set network.host_loopback = true, or remove this rule");
                cx.error(diag);
                ok = false;
            }
            Ok(parsed) => rules.push(parsed),
            Err(err) => {
                cx.error(Diag::at("profile::egress-rule", r.span, err).help(ALLOW_FORM));
                ok = false;
            }
        }
    }
    ok.then_some(rules)
}

/// With egress denied, `CAP_NET_ADMIN` in the sandbox's user namespace
/// could delete the rules that deny it (they are in its network namespace),
/// and `CAP_NET_RAW` could write frames to the interface below them (a
/// packet socket). Only on a nat network: elsewhere `egress` is an error
/// of its own.
pub(super) fn check_net_admin(cx: &mut Cx, net: &raw::Network, security: &raw::Security) {
    let Some(deny) = net.egress.as_ref().and_then(|e| e.value.default.as_ref()) else { return };
    let nat = net.mode.as_ref().is_some_and(|m| m.value == raw::NetMode::Nat);
    if !nat || deny.value != EgressDefault::Deny {
        return;
    }
    for c in &security.capabilities {
        let (cap, what) = match caps::canonical(&c.value) {
            Some("CAP_NET_ADMIN") => ("NET_ADMIN", "delete the egress rules"),
            Some("CAP_NET_RAW") => ("NET_RAW", "send raw frames past the egress rules"),
            _ => continue,
        };
        let diag = Diag::at("profile::net-admin", c.span, format!("CAP_{cap} would let the command {what}"))
            .label(deny.span, "egress is denied here")
            .help(format!(
                "remove {cap} from security.capabilities, or set network.egress.default = \"allow\""
            ));
        cx.error(diag);
    }
}

/// Landlock's TCP rules are the egress rules' second wall (compile adds
/// their ports to `tcp_connect`), and Landlock filters connects port by
/// port: with a `landlock` section, each TCP rule names its ports, at most
/// [`LANDLOCK_PORTS`] of them.
pub(super) fn check_landlock_ports(cx: &mut Cx, net: &raw::Network, security: &raw::Security) {
    let nat = net.mode.as_ref().is_some_and(|m| m.value == raw::NetMode::Nat);
    let Some(e) = net.egress.as_ref().filter(|e| nat && denies(&e.value)) else { return };
    if security.landlock.is_none() {
        return;
    }
    for r in &e.value.allow {
        let Ok(a) = rule::parse_allow(&r.value) else { continue };
        let count = a.ports.map_or(usize::from(u16::MAX), |p| usize::from(p.last - p.first) + 1);
        if a.proto == rule::Proto::Tcp && count > LANDLOCK_PORTS {
            let diag = Diag::at(
                "profile::egress-landlock",
                r.span,
                format!(
                    "security.landlock limits TCP connects port by port, and this rule allows {count} ports"
                ),
            )
            .help(format!(
                "name the rule's ports (at most {LANDLOCK_PORTS}), or remove the landlock section"
            ));
            cx.error(diag);
        }
    }
}

/// The most ports one TCP rule may open through Landlock (one Landlock
/// rule each).
pub const LANDLOCK_PORTS: usize = 1024;

#[cfg(test)]
mod tests;
