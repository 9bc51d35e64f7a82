use std::net::{IpAddr, Ipv4Addr};

use super::*;
use crate::net::rule::{Allow, Dest, PortRange, Proto, Publish};
use crate::spec::extension::NatSpec;

fn nat(egress: Option<Vec<Allow>>) -> NatSpec {
    NatSpec { publish: Vec::new(), host_loopback: false, egress }
}

fn routes() -> HostRoutes {
    HostRoutes {
        gateway4: Some(Ipv4Addr::new(192, 0, 2, 1)),
        default6: true,
        gateway6: Some("fd00::1".parse().unwrap()),
    }
}

fn allow(dest: Dest, proto: Proto, ports: Option<(u16, u16)>) -> Allow {
    Allow { dest, proto, ports: ports.map(|(first, last)| PortRange { first, last }) }
}

#[test]
fn nothing_is_published_or_mapped_unless_asked() {
    let plan = NatPlan::new(&nat(None), &Resolvers::Forwarder, &Pinned::new(), &routes(), false);
    let args = plan.pasta_args.join(" ");
    for expected in ["--tcp-ports none", "--udp-ports none", "--tcp-ns none", "--udp-ns none", "--no-map-gw"]
    {
        assert!(args.contains(expected), "{expected} missing: {args}");
    }
    assert!(!args.contains("--runas"), "{args}");
    assert_eq!(plan.ruleset, None, "default allow has no ruleset");
    assert_eq!(plan.resolv_conf.as_deref(), Some("nameserver 169.254.1.1\n"));
    assert!(plan.hosts.is_empty());
    assert_eq!(plan.routes, (true, false), "IPv6 is waited for only without IPv4");
}

#[test]
fn published_ports_and_host_loopback_become_pasta_options() {
    let mut spec = nat(None);
    spec.host_loopback = true;
    let port = |first, last| PortRange { first, last };
    spec.publish = vec![
        Publish {
            host_addr: "127.0.0.1".parse().unwrap(),
            host_ports: port(8080, 8080),
            sandbox_ports: port(80, 80),
            proto: Proto::Tcp,
        },
        Publish {
            host_addr: "::1".parse().unwrap(),
            host_ports: port(5000, 5002),
            sandbox_ports: port(6000, 6002),
            proto: Proto::Udp,
        },
    ];
    let plan = NatPlan::new(&spec, &Resolvers::Forwarder, &Pinned::new(), &routes(), true);
    let args = plan.pasta_args.join(" ");
    assert!(args.contains("--tcp-ports 127.0.0.1/8080:80"), "{args}");
    assert!(args.contains("--udp-ports ::1/5000-5002:6000-6002"), "{args}");
    assert!(!args.contains("--no-map-gw"), "{args}");
    assert!(args.contains("--runas 0:0"), "{args}");
    assert_eq!(plan.hosts, vec![("192.0.2.1".to_owned(), "host.sandbox.internal".to_owned())]);
}

#[test]
fn the_ruleset_allows_resolvers_and_rules_then_rejects() {
    let rules = vec![
        allow(Dest::Net { addr: "10.20.0.0".parse().unwrap(), prefix: 16 }, Proto::Tcp, Some((5432, 5432))),
        allow(Dest::Name("registry.test".into()), Proto::Tcp, Some((443, 443))),
        allow(Dest::Net { addr: "2001:db8::".parse().unwrap(), prefix: 32 }, Proto::Udp, Some((1000, 2000))),
        allow(Dest::Net { addr: "198.18.0.2".parse().unwrap(), prefix: 32 }, Proto::Icmp, None),
        allow(Dest::Host, Proto::Tcp, Some((8080, 8080))),
        allow(Dest::Net { addr: "0.0.0.0".parse().unwrap(), prefix: 0 }, Proto::Udp, Some((123, 123))),
    ];
    let mut pinned = Pinned::new();
    pinned.insert("registry.test".into(), vec!["198.18.0.9".parse().unwrap(), "fd00::9".parse().unwrap()]);
    let mut spec = nat(Some(rules));
    spec.host_loopback = true;
    let servers = Resolvers::Servers(vec![IpAddr::V4(Ipv4Addr::new(10, 0, 0, 53))]);
    let plan = NatPlan::new(&spec, &servers, &pinned, &routes(), false);
    insta::assert_snapshot!(plan.ruleset.expect("deny by default has rules"));
    assert_eq!(plan.resolv_conf.as_deref(), Some("nameserver 10.0.0.53\n"), "the profile's servers");
    assert!(plan.hosts.contains(&("fd00::9".to_owned(), "registry.test".to_owned())), "{:?}", plan.hosts);
}

#[test]
fn the_gateway_is_allowed_only_with_host_loopback() {
    let spec = nat(Some(vec![allow(Dest::Host, Proto::Tcp, Some((8080, 8080)))]));
    let plan = NatPlan::new(&spec, &Resolvers::Forwarder, &Pinned::new(), &routes(), false);
    let rules = plan.ruleset.unwrap();
    assert!(!rules.contains("192.0.2.1"), "not mapped, not named: {rules}");
    assert!(rules.contains("ip daddr 169.254.1.1 udp dport 53 accept"), "{rules}");
}

#[test]
fn a_wide_rule_does_not_open_the_mapped_host_loopback() {
    let any = allow(Dest::Net { addr: "0.0.0.0".parse().unwrap(), prefix: 0 }, Proto::Tcp, Some((443, 443)));
    let mut spec = nat(Some(vec![any, allow(Dest::Host, Proto::Tcp, Some((8080, 8080)))]));
    spec.host_loopback = true;
    let rules = NatPlan::new(&spec, &Resolvers::Forwarder, &Pinned::new(), &routes(), false).ruleset.unwrap();
    let at = |needle: &str| rules.find(needle).unwrap_or_else(|| panic!("{needle} missing: {rules}"));
    assert!(
        at("ip daddr 192.0.2.1 tcp dport 8080 accept") < at("ip daddr 192.0.2.1 meta l4proto tcp reject")
    );
    assert!(at("ip6 daddr fd00::1 reject") < at("ip daddr 0.0.0.0/0 tcp dport 443 accept"), "{rules}");
    assert!(at("oifname \"lo\" notrack") < at("chain egress"), "{rules}");
}
