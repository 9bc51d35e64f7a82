//! The grammar by example, every error, and round trips: the canonical
//! text of any rule or published port parses back to the same value.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::*;

fn net(addr: &str, prefix: u8) -> Dest {
    Dest::Net { addr: addr.parse().unwrap(), prefix }
}

fn ports(first: u16, last: u16) -> PortRange {
    PortRange { first, last }
}

/// Each text parses to its rule, which prints as the canonical text.
fn parses_and_prints(cases: Vec<(&str, Dest, Proto, Option<PortRange>, &str)>) {
    for (text, dest, proto, range, canonical) in cases {
        let rule = parse_allow(text).unwrap_or_else(|e| panic!("{text}: {e}"));
        assert_eq!(rule, Allow { dest, proto, ports: range }, "{text}");
        assert_eq!(rule.to_string(), canonical, "{text}");
    }
}

#[test]
fn egress_rules_to_names_parse_to_their_parts_and_print_canonically() {
    let name = |n: &str| Dest::Name(n.to_owned());
    let (tcp, udp) = (Proto::Tcp, Proto::Udp);
    parses_and_prints(vec![
        (
            "registry.npmjs.org:443",
            name("registry.npmjs.org"),
            tcp,
            Some(ports(443, 443)),
            "registry.npmjs.org:443/tcp",
        ),
        (
            "host.sandbox.internal:8080",
            Dest::Host,
            tcp,
            Some(ports(8080, 8080)),
            "host.sandbox.internal:8080/tcp",
        ),
        ("HOST.Sandbox.Internal", Dest::Host, tcp, None, "host.sandbox.internal/tcp"),
        (
            "Example.COM.:8000-8100/udp",
            name("example.com"),
            udp,
            Some(ports(8000, 8100)),
            "example.com:8000-8100/udp",
        ),
        ("db:5432", name("db"), tcp, Some(ports(5432, 5432)), "db:5432/tcp"),
        ("1password.com:443", name("1password.com"), tcp, Some(ports(443, 443)), "1password.com:443/tcp"),
    ]);
}

#[test]
fn egress_rules_to_addresses_parse_to_their_parts_and_print_canonically() {
    let (tcp, udp) = (Proto::Tcp, Proto::Udp);
    parses_and_prints(vec![
        (
            "10.20.0.0/16:5432/tcp",
            net("10.20.0.0", 16),
            tcp,
            Some(ports(5432, 5432)),
            "10.20.0.0/16:5432/tcp",
        ),
        ("192.0.2.7/icmp", net("192.0.2.7", 32), Proto::Icmp, None, "192.0.2.7/icmp"),
        ("10.0.0.0/8", net("10.0.0.0", 8), tcp, None, "10.0.0.0/8/tcp"),
        ("0.0.0.0/0/udp", net("0.0.0.0", 0), udp, None, "0.0.0.0/0/udp"),
        (
            "[2001:db8::/32]:443/tcp",
            net("2001:db8::", 32),
            tcp,
            Some(ports(443, 443)),
            "[2001:db8::/32]:443/tcp",
        ),
        ("[2001:db8::1]:53/udp", net("2001:db8::1", 128), udp, Some(ports(53, 53)), "[2001:db8::1]:53/udp"),
        ("2001:db8::1", net("2001:db8::1", 128), tcp, None, "[2001:db8::1]/tcp"),
        ("2001:db8::/48/udp", net("2001:db8::", 48), udp, None, "[2001:db8::/48]/udp"),
        ("[::1]", net("::1", 128), tcp, None, "[::1]/tcp"),
    ]);
}

#[test]
fn every_egress_mistake_is_named_with_its_fix() {
    let long_label = format!("{}.com", "a".repeat(64));
    let long_name = format!("{}com", "abcdefghi.".repeat(26));
    let cases: &[(&str, &str)] = &[
        ("", "the rule is empty"),
        (":443", "the destination is missing"),
        ("example.com:0", "port 0 is not a port"),
        ("example.com:", "a port is missing"),
        ("example.com:http", "\"http\" is not a port"),
        ("example.com:+443", "\"+443\" is not a port"),
        ("example.com:70000", "\"70000\" is not a port"),
        ("example.com:443-", "a port is missing"),
        ("example.com:90-80", "the range 90-80 runs backwards: write 80-90"),
        ("example.com:443/sctp", "unknown protocol \"sctp\": write tcp, udp or icmp"),
        ("example.com:443/TCP", "unknown protocol \"TCP\""),
        ("example.com/", "ends in `/`"),
        ("192.0.2.1:7/icmp", "ICMP has no ports: remove \":7\""),
        ("10.0.0.1/8", "10.0.0.1/8 has host bits set: did you mean 10.0.0.0/8?"),
        ("[2001:db8::1/32]", "has host bits set: did you mean 2001:db8::/32?"),
        ("10.0.0.0/33", "\"/33\" is not a prefix length for 10.0.0.0: use 0 to 32"),
        ("10.0.0.0/x8", "\"/x8\" is not a prefix length"),
        ("10.0.0/8", "\"10.0.0\" is not an IP address"),
        ("10.0.0.256", "\"10.0.0.256\" is not an IP address"),
        ("10.0.0.256:80", "\"10.0.0.256\" is not an IP address"),
        ("2001:db8::/32:443", "with a port, IPv6 goes in brackets"),
        ("[::ffff:10.0.0.1]:443", "an IPv4-mapped IPv6 address: write it as IPv4, 10.0.0.1"),
        ("[2001:db8::1", "lacks its closing `]`"),
        ("[2001:db8::1]443", "\"443\" after `]`: write [ADDRESS]:PORT"),
        ("[10.0.0.1]:80", "brackets are for IPv6 addresses: write 10.0.0.1 without them"),
        ("[2001:zz::1]:80", "\"2001:zz::1\" is not an IP address"),
        ("*.example.com:443", "wildcards are not allowed"),
        ("*", "wildcards are not allowed"),
        ("my_host.example.com", "`_` is not allowed"),
        ("localhost:80", "is the sandbox itself"),
        ("app.localhost", "is the sandbox itself"),
        ("-bad.example.com", "is not a host name"),
        ("a..b", "is not a host name"),
        ("a b", "is not a host name"),
        ("exämple.com", "is not a host name"),
        (&long_label, "is not a host name"),
        (&long_name, "is not a host name"),
    ];
    assert!(long_name.len() > 253 && long_name.split('.').all(|l| l.len() < 63));
    for (text, expected) in cases {
        let err = parse_allow(text).expect_err(text);
        assert!(err.contains(expected), "{text:?}: {err:?} lacks {expected:?}");
    }
}

#[test]
fn published_ports_parse_with_their_defaults_and_print_canonically() {
    let local = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let cases = [
        ("8080:80", local, ports(8080, 8080), ports(80, 80), Proto::Tcp, "127.0.0.1:8080:80/tcp"),
        (
            "127.0.0.1:5432:5432/tcp",
            local,
            ports(5432, 5432),
            ports(5432, 5432),
            Proto::Tcp,
            "127.0.0.1:5432:5432/tcp",
        ),
        ("5353:53/udp", local, ports(5353, 5353), ports(53, 53), Proto::Udp, "127.0.0.1:5353:53/udp"),
        (
            "0.0.0.0:8000-8009:9000-9009",
            IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            ports(8000, 8009),
            ports(9000, 9009),
            Proto::Tcp,
            "0.0.0.0:8000-8009:9000-9009/tcp",
        ),
        (
            "[::1]:8443:443/tcp",
            IpAddr::V6(Ipv6Addr::LOCALHOST),
            ports(8443, 8443),
            ports(443, 443),
            Proto::Tcp,
            "[::1]:8443:443/tcp",
        ),
    ];
    for (text, host_addr, host, sandbox, proto, canonical) in cases {
        let p = parse_publish(text).unwrap_or_else(|e| panic!("{text}: {e}"));
        let want = Publish { host_addr, host_ports: host, sandbox_ports: sandbox, proto };
        assert_eq!(p, want, "{text}");
        assert_eq!(p.to_string(), canonical, "{text}");
    }
}

#[test]
fn every_publish_mistake_is_named_with_its_fix() {
    let cases = [
        ("", "the published port is empty"),
        (":80", "a port is missing"),
        ("8080", "write [HOST_ADDR:]HOST_PORT:SANDBOX_PORT"),
        ("0:80", "port 0 is not a port"),
        ("8080:0", "port 0 is not a port"),
        ("8080:80/icmp", "ICMP cannot be published: write /tcp or /udp"),
        ("8080:80/sctp", "unknown protocol \"sctp\""),
        (
            "8080-8081:80",
            "the host's 8080-8081 is 2 ports but the sandbox's 80 is 1 port: give both ranges the same length",
        ),
        ("8081-8080:80-81", "runs backwards"),
        ("localhost:8080:80", "\"localhost\" is not an IPv4 address"),
        ("::1:8080:80", "put an IPv6 host address in brackets"),
        ("[::1]8080:80", "write [HOST_ADDR:]HOST_PORT:SANDBOX_PORT"),
        ("[::1]:8080", "write [HOST_ADDR:]HOST_PORT:SANDBOX_PORT"),
        ("[127.0.0.1]:8080:80", "\"127.0.0.1\" is not an IPv6 address"),
        ("[::1:8080:80", "lacks its closing `]`"),
        ("[::ffff:127.0.0.1]:8080:80", "an IPv4-mapped IPv6 address: write it as IPv4, 127.0.0.1"),
        ("1.2.3.4:8080:80:90", "write [HOST_ADDR:]HOST_PORT:SANDBOX_PORT"),
    ];
    for (text, expected) in cases {
        let err = parse_publish(text).expect_err(text);
        assert!(err.contains(expected), "{text:?}: {err:?} lacks {expected:?}");
    }
}

#[test]
fn published_ports_collide_on_a_shared_port_address_and_protocol() {
    let p = |s: &str| parse_publish(s).unwrap();
    let collide = [
        ("8080:80", "8080:81"),
        ("8000-8010:8000-8010", "8010-8020:8010-8020"),
        ("0.0.0.0:8080:80", "127.0.0.1:8080:80"),
        ("[::]:8080:80", "192.0.2.1:8080:80"),
        ("[::]:8080:80", "[::1]:8080:80"),
    ];
    for (a, b) in collide {
        assert!(p(a).collides(&p(b)) && p(b).collides(&p(a)), "{a} and {b}");
    }
    let apart = [
        ("8080:80", "8081:80"),
        ("8080:80", "8080:80/udp"),
        ("127.0.0.1:8080:80", "192.0.2.1:8080:80"),
        ("0.0.0.0:8080:80", "[::1]:8080:80"),
        ("8000-8010:8000-8010", "8011-8020:8011-8020"),
    ];
    for (a, b) in apart {
        assert!(!p(a).collides(&p(b)) && !p(b).collides(&p(a)), "{a} and {b}");
    }
}

/// A small deterministic generator (xorshift): property tests without a
/// dependency, the same cases on every run.
struct Gen(u64);

impl Gen {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn port(&mut self) -> u16 {
        u16::try_from(1 + self.below(65_535)).unwrap()
    }

    fn range(&mut self) -> PortRange {
        let (a, b) = (self.port(), self.port());
        PortRange { first: a.min(b), last: a.max(b) }
    }

    fn dest(&mut self) -> Dest {
        match self.below(4) {
            0 => {
                let prefix = u8::try_from(self.below(33)).unwrap();
                let addr =
                    super::masked(IpAddr::V4(u32::try_from(self.next() >> 32).unwrap().into()), prefix);
                Dest::Net { addr, prefix }
            }
            1 => {
                let prefix = u8::try_from(self.below(129)).unwrap();
                let raw = (u128::from(self.next()) << 64) | u128::from(self.next());
                Dest::Net { addr: super::masked(IpAddr::V6(raw.into()), prefix), prefix }
            }
            2 => Dest::Host,
            _ => {
                let labels: Vec<String> = (0..=self.below(3))
                    .map(|_| {
                        let len = 1 + self.below(8);
                        let mut l: String = (0..len)
                            .map(|_| char::from(b'a' + u8::try_from(self.below(26)).unwrap()))
                            .collect();
                        if len > 2 && self.below(2) == 0 {
                            l.replace_range(1..2, "-");
                        }
                        l
                    })
                    .collect();
                Dest::Name(labels.join("."))
            }
        }
    }
}

#[test]
fn any_rule_prints_to_text_that_parses_back_to_it() {
    let mut g = Gen(0x005e_ed0f_ca11);
    for _ in 0..5000 {
        let proto = [Proto::Tcp, Proto::Udp, Proto::Icmp][usize::try_from(g.below(3)).unwrap()];
        let ports = (proto != Proto::Icmp && g.below(2) == 0).then(|| g.range());
        let rule = Allow { dest: g.dest(), proto, ports };
        let text = rule.to_string();
        assert_eq!(parse_allow(&text).as_ref(), Ok(&rule), "{text}");
    }
}

#[test]
fn any_published_port_prints_to_text_that_parses_back_to_it() {
    let mut g = Gen(0xdead_beef_1234);
    for _ in 0..5000 {
        let host_addr = if g.below(2) == 0 {
            IpAddr::V4(u32::try_from(g.next() >> 32).unwrap().into())
        } else {
            IpAddr::V6(((u128::from(g.next()) << 64) | u128::from(g.next())).into())
        };
        let host_ports = g.range();
        let first = u16::try_from(1 + g.below(u64::from(65_536 - host_ports.count()))).unwrap();
        let last = first + u16::try_from(host_ports.count() - 1).unwrap();
        let proto = if g.below(2) == 0 { Proto::Tcp } else { Proto::Udp };
        let p = Publish { host_addr, host_ports, sandbox_ports: PortRange { first, last }, proto };
        let text = p.to_string();
        assert_eq!(parse_publish(&text).as_ref(), Ok(&p), "{text}");
    }
}

/// Text made of the grammar's own characters: whatever parses has a
/// canonical form that parses to the same value, and nothing panics.
#[test]
fn whatever_parses_reads_the_same_in_its_canonical_form() {
    const ALPHABET: &[u8] = b"0123456789abcdf.:/-[]tcpudpimx*_ ";
    let mut g = Gen(0x0bad_cafe_f00d);
    let mut parsed = 0;
    for _ in 0..50_000 {
        let len = usize::try_from(1 + g.below(24)).unwrap();
        let text: String = (0..len)
            .map(|_| char::from(ALPHABET[usize::try_from(g.below(ALPHABET.len() as u64)).unwrap()]))
            .collect();
        if let Ok(rule) = parse_allow(&text) {
            parsed += 1;
            assert_eq!(parse_allow(&rule.to_string()).as_ref(), Ok(&rule), "{text}");
        }
        if let Ok(p) = parse_publish(&text) {
            parsed += 1;
            assert_eq!(parse_publish(&p.to_string()).as_ref(), Ok(&p), "{text}");
        }
    }
    assert!(parsed > 100, "the alphabet makes valid text often enough to test something: {parsed}");
}
