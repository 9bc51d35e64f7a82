//! The nat network from profile text to model: what each key becomes, and
//! each mistake as the code `check` reports it under.

use std::path::Path;

use crate::net::rule::{Allow, Dest, PortRange, Proto};
use crate::profile::Loaded;
use crate::profile::host::HostContext;
use crate::profile::model::NetMode;
use crate::profile::overrides::Overrides;

fn load_with(text: &str, overrides: &Overrides) -> Loaded {
    crate::profile::load(
        Path::new("/nat-test/p.toml"),
        Some(text.to_owned()),
        &HostContext::fixed(),
        overrides,
    )
}

fn load(text: &str) -> Loaded {
    load_with(text, &Overrides::default())
}

/// The diagnostics' codes, in reading order.
fn codes(text: &str) -> Vec<&'static str> {
    let loaded = load(text);
    assert!(loaded.model.is_none() || loaded.diags.is_empty());
    loaded.diags.iter().map(|d| d.code).collect()
}

const NAT: &str = "[network]\nmode = \"nat\"\n";

#[test]
fn a_nat_network_becomes_its_published_ports_and_egress_rules() {
    let text = format!(
        "{NAT}ports = [\"8080:80\", \"[::1]:5353:53/udp\"]\nhost_loopback = true\n\
         [network.egress]\ndefault = \"deny\"\nallow = [\"Example.org:443\", \"host.sandbox.internal:8080\"]\n"
    );
    let loaded = load(&text);
    let model = loaded.model.as_ref().unwrap_or_else(|| panic!("{:#?}", loaded.diags));
    assert_eq!(model.network.mode, NetMode::Nat);
    assert!(model.namespaces.net, "nat is a network namespace of its own");
    let nat = model.network.nat.as_ref().expect("nat");
    let published: Vec<String> = nat.publish.iter().map(ToString::to_string).collect();
    assert_eq!(published, ["127.0.0.1:8080:80/tcp", "[::1]:5353:53/udp"]);
    assert!(nat.host_loopback);
    let port = |p| Some(PortRange { first: p, last: p });
    assert_eq!(
        nat.egress.as_deref(),
        Some(
            &[
                Allow { dest: Dest::Name("example.org".into()), proto: Proto::Tcp, ports: port(443) },
                Allow { dest: Dest::Host, proto: Proto::Tcp, ports: port(8080) },
            ][..]
        )
    );
    assert!(
        model.hidden_host_trees().iter().any(|(t, _)| *t == "/run"),
        "host sockets would go around the egress rules"
    );
}

#[test]
fn egress_is_open_unless_denied_and_the_other_modes_have_no_nat_part() {
    for text in [NAT.to_owned(), format!("{NAT}[network.egress]\ndefault = \"allow\"\n")] {
        let loaded = load(&text);
        let nat = loaded.model.as_ref().and_then(|m| m.network.nat.clone()).expect("valid nat");
        assert_eq!((nat.egress, nat.host_loopback, nat.publish.len()), (None, false, 0), "{text}");
    }
    let denied = load(&format!("{NAT}[network.egress]\ndefault = \"deny\"\n"));
    let nat = denied.model.as_ref().and_then(|m| m.network.nat.clone()).expect("valid nat");
    assert_eq!(nat.egress, Some(Vec::new()), "deny with no rules: DNS to the resolver only");
    for mode in ["none", "host"] {
        let loaded = load(&format!("[network]\nmode = \"{mode}\"\n"));
        assert_eq!(loaded.model.expect("valid").network.nat, None, "{mode}");
    }
}

#[test]
fn nat_keys_on_another_network_are_each_an_error() {
    for mode in ["none", "host"] {
        let text = format!(
            "[network]\nmode = \"{mode}\"\nports = []\nhost_loopback = false\n[network.egress]\ndefault = \"allow\"\n"
        );
        assert_eq!(codes(&text), ["profile::nat-only"; 3], "{mode}");
        let said = format!("{:?}", load(&text).diags);
        assert!(said.contains("set network.mode = \\\"nat\\\""), "{said}");
    }
    assert_eq!(codes("[network]\nports = [\"8080:80\"]\n"), ["profile::nat-only"], "none is the default");
}

#[test]
fn the_net_namespace_key_agrees_with_nat_only_when_it_is_new() {
    assert_eq!(codes(&format!("{NAT}[namespaces]\nnet = \"new\"\n")), [""; 0]);
    assert_eq!(codes(&format!("{NAT}[namespaces]\nnet = \"host\"\n")), ["profile::namespace-conflict"]);
    let conflicting = format!("{NAT}ports = [\"8080:80\"]\n[namespaces]\nnet = \"host\"\n");
    assert_eq!(codes(&conflicting), ["profile::namespace-conflict"], "the ports are not held to a guess");
}

#[test]
fn each_rule_and_port_mistake_is_reported_at_once() {
    let text = format!(
        "{NAT}ports = [\"0:80\", \"8080:80\", \"0.0.0.0:8080:81\"]\n\
         [network.egress]\ndefault = \"deny\"\nallow = [\"10.0.0.1/8\", \"host.sandbox.internal:80\", \"*.example.org\"]\n"
    );
    assert_eq!(
        codes(&text),
        [
            "profile::publish",
            "profile::publish-conflict",
            "profile::egress-rule",
            "profile::egress",
            "profile::egress-rule"
        ]
    );
    let allow_without_deny = format!("{NAT}[network.egress]\nallow = [\"example.org:443\"]\n");
    assert_eq!(codes(&allow_without_deny), ["profile::egress"]);
}

#[test]
fn net_admin_is_refused_only_while_egress_is_denied() {
    let with = |default: &str, cap: &str| {
        format!("{NAT}[network.egress]\ndefault = \"{default}\"\n[security]\ncapabilities = [\"{cap}\"]\n")
    };
    assert_eq!(codes(&with("deny", "NET_ADMIN")), ["profile::net-admin"]);
    assert_eq!(codes(&with("deny", "cap_net_admin")), ["profile::net-admin"]);
    assert_eq!(codes(&with("allow", "NET_ADMIN")), [""; 0]);
    assert_eq!(codes(&with("deny", "NET_BIND_SERVICE")), [""; 0]);
    let none = "[network.egress]\ndefault = \"deny\"\n[security]\ncapabilities = [\"NET_ADMIN\"]\n";
    assert_eq!(codes(none), ["profile::nat-only"], "no nat network, no rules to delete");
}

#[test]
fn command_line_ports_and_rules_append_to_the_profiles() {
    let text = format!(
        "{NAT}ports = [\"8080:80\"]\n[network.egress]\ndefault = \"deny\"\nallow = [\"example.org:443\"]\n"
    );
    let mut overrides = Overrides::default();
    overrides.set("network.ports=[\"9090:90\"]").unwrap();
    overrides.set("network.egress.allow=[\"192.0.2.1:80\"]").unwrap();
    let loaded = load_with(&text, &overrides);
    let nat = loaded.model.as_ref().and_then(|m| m.network.nat.clone()).expect("valid");
    let shown = |v: Vec<String>| v.join(" ");
    assert_eq!(
        shown(nat.publish.iter().map(ToString::to_string).collect()),
        "127.0.0.1:8080:80/tcp 127.0.0.1:9090:90/tcp"
    );
    let rules = nat.egress.expect("denied");
    assert_eq!(
        shown(rules.iter().map(ToString::to_string).collect()),
        "example.org:443/tcp 192.0.2.1:80/tcp"
    );
}

#[test]
fn a_port_published_on_the_command_line_is_checked_with_the_profiles() {
    let mut overrides = Overrides::default();
    overrides.publish("7070:70/udp");
    let loaded = load_with(&format!("{NAT}ports = [\"8080:80\"]\n"), &overrides);
    let nat = loaded.model.as_ref().and_then(|m| m.network.nat.clone()).expect("valid");
    let published: Vec<String> = nat.publish.iter().map(ToString::to_string).collect();
    assert_eq!(published, ["127.0.0.1:8080:80/tcp", "127.0.0.1:7070:70/udp"]);

    let loaded = load_with("[network]\nmode = \"none\"\n", &overrides);
    let diag = loaded.diags.first().expect("refused");
    assert_eq!((diag.code, loaded.diags.len()), ("profile::nat-only", 1));
    let at = diag.primary.as_ref().unwrap().span.file;
    assert_eq!(loaded.sources.get(at).name(), crate::profile::overrides::LABEL, "shown where it was given");
}
