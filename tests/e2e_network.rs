//! Tier 3: `network.mode = "nat"` against a test internet of our own
//! (tests/common/netlab.rs): the sandbox reaches the lab through pasta,
//! an egress allowlist lets through only what it lists and refuses the
//! rest at once, names are resolved once by the launcher and pinned,
//! published ports bind the host's loopback only, the host's own
//! loopback is closed unless asked for, an attacker inside cannot change
//! the rules, and nothing (no pasta, no port, no namespace) outlives the
//! sandbox, even when the launcher is killed.
//!
//! Root only: rootless pasta cannot open /dev/net/tun on this host (mode
//! 0600); the VM lane proves the rootless path. Every test makes its own
//! lab and removes it; nothing leaves the machine: the lab's addresses are
//! from the benchmarking range and live in namespaces the test made, the
//! launcher resolves through the lab's DNS server, and the tests that
//! touch the host's loopback run the launcher in an isolated host.

mod common;

use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use common::e2e::{Outcome, Profile, busybox_profile, finish, probe, profile, rootless, skip_unless};
use common::netlab::{
    self, Lab, REGISTRY, Running, bound_on, free_port, netns_holders, on_path, process_state, tcp_line,
    udp_exchange,
};

/// Whether this test cannot run here (the reason printed; a failure in CI).
fn skip() -> bool {
    if rootless() {
        // Not a skip: scripts/test.sh does not run this file in the rootless tier.
        println!("root tier only: rootless pasta is proven in the VM lane (/dev/net/tun is 0600 here)");
        return true;
    }
    if let Some(why) = netlab::unavailable() {
        return skip_unless(false, &why);
    }
    let missing: Vec<&str> = ["pasta", "nft"].into_iter().filter(|t| !on_path(t)).collect();
    skip_unless(
        missing.is_empty(),
        &format!(
            "missing for nat networking: {missing:?} (packages passt, nftables; scripts/test.sh installs them)"
        ),
    )
}

/// A busybox profile with `[network]` set to `network` (TOML after the
/// table's header) and `extra` after it.
fn nat(network: &str, extra: &str) -> Profile {
    busybox_profile(&format!("\n[network]\nmode = \"nat\"\n{network}\n{extra}"))
}

/// `sandbox run PROFILE -- CMD` from the lab's host side, to its end.
fn run(lab: &Lab, p: &Profile, cmd: &[&str]) -> Outcome {
    let mut args = vec!["run", p.path.to_str().unwrap(), "--"];
    args.extend_from_slice(cmd);
    finish(lab.sandbox(&args))
}

fn sh(lab: &Lab, p: &Profile, script: &str) -> Outcome {
    run(lab, p, &["/bin/sh", "-c", script])
}

/// The result of one `probe net` exchange inside the sandbox.
#[derive(Debug)]
struct Net {
    /// What was asked: "tcp 198.18.0.2 80".
    what: String,
    /// `ok`, an errno name, `TIMEOUT`, `RESOLVE` or `UNREACHABLE`.
    result: String,
    step: String,
    reply: String,
    ms: u64,
    addr: String,
}

impl Net {
    fn ok(&self) -> bool {
        self.result == "ok"
    }

    /// Refused, fast: a TCP reset (`connection refused`), or for UDP and
    /// ICMP a local refusal or an ICMP error; never a timeout.
    fn refused(&self) -> bool {
        let quick = self.ms < 2000;
        let how = if self.what.starts_with("tcp") {
            self.result == "ECONNREFUSED"
        } else {
            matches!(
                self.result.as_str(),
                "ECONNREFUSED" | "EHOSTUNREACH" | "EPERM" | "EACCES" | "UNREACHABLE"
            ) && self.step != "socket"
        };
        quick && how
    }
}

/// Run `probe net P` for each of `probes` in one sandbox; their results in order.
fn probes(lab: &Lab, p: &Profile, probes: &[String]) -> (Outcome, Vec<Net>) {
    let script: Vec<String> = probes.iter().map(|p| format!("/bin/probe net {p}")).collect();
    let out = sh(lab, p, &format!("{}; true", script.join("; ")));
    let nets = parse_nets(&out, probes);
    (out, nets)
}

fn parse_nets(out: &Outcome, probes: &[String]) -> Vec<Net> {
    let mut nets = Vec::new();
    let mut addr = String::new();
    for line in out.stdout.lines() {
        if let Some(a) = line.strip_prefix("addr=") {
            a.clone_into(&mut addr);
        } else if let Some(rest) = line.strip_prefix("net=") {
            let field = |k: &str| {
                rest.split(' ').find_map(|w| w.strip_prefix(k)).map(str::to_owned).unwrap_or_default()
            };
            let reply = rest.split_once(" reply=").map(|(_, r)| r.rsplit_once(" ms=").map_or(r, |x| x.0));
            nets.push(Net {
                what: probes.get(nets.len()).cloned().unwrap_or_default(),
                result: rest.split(' ').next().unwrap_or("").to_owned(),
                step: field("step="),
                reply: reply.unwrap_or("").to_owned(),
                ms: field("ms=").parse().unwrap_or(u64::MAX),
                addr: std::mem::take(&mut addr),
            });
        }
    }
    assert_eq!(nets.len(), probes.len(), "one result per probe:\n{out}");
    nets
}

/// The line a lab server answers on `addr:port`.
fn lab_line(addr: IpAddr, port: u16) -> String {
    format!("lab tcp {}", SocketAddr::new(addr, port))
}

// ---------------------------------------------------------------- the lab itself

/// The lab answers from the host through the veth (TCP, UDP, ICMP, DNS,
/// IPv4 and IPv6), logs who reached it, and leaves nothing once dropped
/// — also when the test that made it panics.
#[test]
fn lab_answers_through_the_veth_and_drop_removes_everything() {
    if skip() {
        return;
    }
    let lab = Lab::new();
    let t = Duration::from_secs(3);
    for (addr, port) in [(IpAddr::V4(lab.a), 80), (IpAddr::V4(lab.b), 81), (IpAddr::V6(lab.a6), 5432)] {
        let line = tcp_line(SocketAddr::new(addr, port), t).unwrap();
        assert_eq!(line.trim_end(), lab_line(addr, port));
    }
    let reply = udp_exchange(SocketAddr::new(IpAddr::V4(lab.b), 7), b"hello", t).unwrap();
    assert_eq!(String::from_utf8_lossy(&reply), format!("lab udp {}:7 hello", lab.b));
    let ping =
        std::process::Command::new(probe()).args(["net", "icmp", &lab.a.to_string()]).output().unwrap();
    assert!(String::from_utf8_lossy(&ping.stdout).contains("net=ok reply=echo-reply"), "{ping:?}");
    assert_eq!(lab.resolve_from_host("lab.test"), Some(lab.a));
    assert_eq!(lab.resolve_from_host("other.test"), Some(lab.b));
    assert_eq!(lab.resolve_from_host("elsewhere.example"), None, "the lab's DNS knows only its names");
    assert!(lab.dns_log().contains("query[A] other.test"), "dnsmasq logs its queries: {}", lab.dns_log());
    assert_eq!(lab.hits_to("tcp", IpAddr::V4(lab.b), 81), 1);
    assert_eq!(lab.hits_to("udp", IpAddr::V4(lab.b), 7), 1);
    assert_eq!(
        lab.hits().iter().filter(|h| h.from.ip() == IpAddr::V4(lab.host)).count(),
        3,
        "{:?}",
        lab.hits()
    );

    // Dropped normally, and dropped by a panic's unwinding.
    let gone = |lab: Lab| {
        let (ns, host_if, dns) = (lab_ns(&lab), lab.host_if.clone(), dnsmasq_pid(&lab));
        drop(lab);
        assert!(!netlab::interface_exists(&host_if), "the veth is deleted");
        assert_eq!(process_state(dns), None, "dnsmasq is killed and reaped");
        common::e2e::eventually("nothing holds the lab's namespace", || netns_holders(&ns).is_empty());
    };
    gone(lab);
    let (tx, rx) = std::sync::mpsc::channel();
    let panicked = std::thread::spawn(move || {
        let lab = Lab::new();
        tx.send((lab_ns(&lab), lab.host_if.clone(), dnsmasq_pid(&lab))).unwrap();
        panic!("a test fails with its lab up");
    })
    .join();
    assert!(panicked.is_err());
    let (ns, host_if, dns) = rx.recv().unwrap();
    assert!(!netlab::interface_exists(&host_if), "the veth is deleted after a panic");
    assert_eq!(process_state(dns), None, "dnsmasq is reaped after a panic");
    common::e2e::eventually("nothing holds the lab's namespace after a panic", || {
        netns_holders(&ns).is_empty()
    });
}

fn lab_ns(lab: &Lab) -> String {
    std::fs::read_link(lab.ns_path()).unwrap().display().to_string()
}

fn dnsmasq_pid(lab: &Lab) -> i32 {
    let holders = netns_holders(&lab_ns(lab));
    holders.iter().find(|(_, name)| name == "dnsmasq").unwrap_or_else(|| panic!("dnsmasq: {holders:?}")).0
}

/// An isolated lab's host side reaches the lab and has a loopback of its
/// own; the host's namespace does not even see its interface.
#[test]
fn an_isolated_lab_has_a_host_of_its_own() {
    if skip() {
        return;
    }
    let lab = Lab::isolated();
    assert!(!netlab::interface_exists(&lab.host_if), "the host side is not in the host's namespace");
    let listener = lab.host_listener(80);
    let a = SocketAddr::new(IpAddr::V4(lab.a), 80);
    let t = Duration::from_secs(3);
    let (to_lab, to_loopback, dns) = lab.on_host_side(move || {
        let dns = netlab::dns_query(SocketAddr::new(a.ip(), 53), "lab.test", t);
        (tcp_line(a, t).unwrap(), tcp_line(SocketAddr::from((Ipv4Addr::LOCALHOST, 80)), t).unwrap(), dns)
    });
    assert_eq!(to_lab.trim_end(), lab_line(a.ip(), 80));
    assert_eq!(to_loopback, "host loopback\n");
    assert_eq!(dns, Some(lab.a));
    assert_eq!(listener.accepted(), 1);
    // The default route leads into the lab: its router answers.
    let router = SocketAddr::new(IpAddr::V4(lab.router), 81);
    let line = lab.on_host_side(move || tcp_line(router, t).unwrap());
    assert_eq!(line.trim_end(), lab_line(router.ip(), 81));
}

// ---------------------------------------------------------------- reaching out

/// With `nat` and no egress section, the sandbox reaches the lab over TCP
/// and UDP, through pasta (the lab sees the host side's address); with
/// `none` it has no route at all.
#[test]
fn nat_reaches_the_lab_and_none_does_not() {
    if skip() {
        return;
    }
    let lab = Lab::new();
    let (a, b) = (lab.a, lab.b);
    let asked =
        [format!("tcp {a} 80"), format!("tcp {b} 5432"), format!("udp {a} 7"), format!("tcp {} 81", lab.a6)];
    let (out, nets) = probes(&lab, &nat("", ""), &asked);
    assert_eq!(out.code, Some(0), "{out}");
    assert!(nets[0].ok() && nets[0].reply == lab_line(IpAddr::V4(a), 80), "{nets:?}\n{out}");
    assert!(nets[1].ok() && nets[1].reply == lab_line(IpAddr::V4(b), 5432), "{nets:?}\n{out}");
    assert!(nets[2].ok() && nets[2].reply == format!("lab udp {a}:7 probe"), "{nets:?}\n{out}");
    if nets[3].ok() {
        assert_eq!(nets[3].reply, lab_line(IpAddr::V6(lab.a6), 81));
    } else {
        println!("note: IPv6 does not reach the lab through pasta here: {:?}", nets[3]);
    }
    assert!(
        lab.hits()
            .iter()
            .all(|h| h.from.ip() == IpAddr::V4(lab.host) || h.from.ip() == IpAddr::V6(lab.host6))
    );
    let before = lab.hits().len();

    let none = busybox_profile("\n[network]\nmode = \"none\"\n");
    let (out, nets) = probes(&lab, &none, &asked[..3]);
    assert!(nets.iter().all(|n| n.result == "ENETUNREACH"), "no route without nat: {nets:?}\n{out}");
    assert_eq!(lab.hits().len(), before, "nothing reached the lab from a `none` sandbox");
}

/// `default = "deny"`: what is listed goes through, everything else is
/// refused at once (a reset or an ICMP error, never a timeout) and never
/// reaches the lab: another port, another address, UDP, IPv6.
#[test]
fn egress_deny_lets_through_only_what_is_listed() {
    if skip() {
        return;
    }
    let lab = Lab::new();
    let (a, b, a6) = (lab.a, lab.b, lab.a6);
    let p = nat(&format!("[network.egress]\ndefault = \"deny\"\nallow = [\"{a}:80\", \"{b}:7/udp\"]\n"), "");
    let asked = [
        format!("tcp {a} 80"),
        format!("tcp {a} 81"),
        format!("tcp {b} 80"),
        format!("udp {b} 7"),
        format!("udp {b} 8"),
        format!("udp {a} 7"),
        format!("tcp {b} 7"),
        format!("tcp {a6} 80"),
        format!("udp {a6} 7"),
        // The same IPv4 address through an IPv6 socket.
        format!("tcp ::ffff:{b} 80"),
    ];
    let (out, nets) = probes(&lab, &p, &asked);
    assert_eq!(out.code, Some(0), "{out}");
    assert!(nets[0].ok() && nets[0].reply == lab_line(IpAddr::V4(a), 80), "listed TCP: {:?}\n{out}", nets[0]);
    assert!(
        nets[3].ok() && nets[3].reply == format!("lab udp {b}:7 probe"),
        "listed UDP: {:?}\n{out}",
        nets[3]
    );
    for n in [1, 2, 4, 5, 6, 7, 8, 9] {
        assert!(nets[n].refused(), "not listed, so refused at once: {:?}\n{out}", nets[n]);
    }
    let hits = lab.hits();
    assert_eq!(hits.len(), 2, "only the listed exchanges reached the lab: {hits:?}");
}

/// Port ranges, whole networks, and a protocol with every port.
#[test]
fn egress_rules_take_ranges_networks_and_protocols() {
    if skip() {
        return;
    }
    let lab = Lab::new();
    let (a, b) = (lab.a, lab.b);
    let net = Ipv4Addr::from(u32::from(a) & !7);
    let allow = format!("\"{a}:80-81\", \"{net}/29:5432/tcp\", \"{a}/udp\"");
    let p = nat(&format!("[network.egress]\ndefault = \"deny\"\nallow = [{allow}]\n"), "");
    let asked = [
        (format!("tcp {a} 80"), true),
        (format!("tcp {a} 81"), true),
        (format!("tcp {a} 5432"), true),
        (format!("tcp {b} 5432"), true),
        (format!("tcp {b} 81"), false),
        (format!("udp {a} 7"), true),
        (format!("udp {a} 8"), true),
        (format!("udp {b} 8"), false),
        (format!("tcp {a} 7"), false),
    ];
    let questions: Vec<String> = asked.iter().map(|(q, _)| q.clone()).collect();
    let (out, nets) = probes(&lab, &p, &questions);
    for (net, (_, allowed)) in nets.iter().zip(&asked) {
        if *allowed {
            assert!(net.ok(), "allowed by [{allow}]: {net:?}\n{out}");
        } else {
            assert!(net.refused(), "not allowed by [{allow}]: {net:?}\n{out}");
        }
    }
}

/// ICMP is refused unless a rule says `/icmp`. The probe pings with an
/// ICMP datagram socket, which the launcher opens to the command's group
/// in the sandbox's namespace (`CAP_NET_RAW` is refused with egress
/// denied: a packet socket would go below the rules). A reply needs pasta to open
/// ping sockets on the host (its `ping_group_range`); where it cannot, the
/// listed echo request leaves the sandbox and is not answered, which is
/// still not a refusal.
#[test]
fn egress_icmp_only_when_listed() {
    if skip() {
        return;
    }
    let lab = Lab::new();
    let (a, b) = (lab.a, lab.b);
    let p = nat(&format!("[network.egress]\ndefault = \"deny\"\nallow = [\"{a}/icmp\"]\n"), "");
    let (out, nets) =
        probes(&lab, &p, &[format!("icmp {a}"), format!("icmp {b}"), format!("icmp {}", lab.a6)]);
    assert!(
        nets[0].step != "socket",
        "the sandbox opens an ICMP socket without CAP_NET_RAW: {:?}\n{out}",
        nets[0]
    );
    assert!(
        nets[0].ok() || (nets[0].result == "TIMEOUT" && nets[0].step == "recv"),
        "listed: the echo request leaves the sandbox: {:?}\n{out}",
        nets[0]
    );
    if !nets[0].ok() {
        let range = std::fs::read_to_string("/proc/sys/net/ipv4/ping_group_range").unwrap_or_default();
        println!(
            "note: no echo reply through pasta (host ping_group_range {}): not refused, so allowed",
            range.trim()
        );
    }
    assert!(nets[1].refused(), "not listed: {:?}\n{out}", nets[1]);
    assert!(nets[2].refused(), "not listed (IPv6): {:?}\n{out}", nets[2]);
}

// ---------------------------------------------------------------- names and DNS

/// A name in the allowlist is resolved by the launcher (through the lab's
/// DNS server: the launcher runs with the lab's resolv.conf), pinned in
/// the sandbox's /etc/hosts and reachable; a name not listed resolves
/// (DNS to the sandbox's own resolver is allowed) but is refused; DNS to
/// any other server is refused.
#[test]
fn an_allowed_name_is_pinned_and_dns_goes_only_to_the_sandboxs_resolver() {
    if skip() {
        return;
    }
    let lab = Lab::new();
    let (a, b) = (lab.a, lab.b);
    let p = nat("[network.egress]\ndefault = \"deny\"\nallow = [\"lab.test:80\"]\n", "");
    let script = format!(
        "cat /etc/hosts; echo '--- resolv'; cat /etc/resolv.conf; echo '--- nslookup'; nslookup other.test; \
         echo '--- direct'; timeout 8 nslookup direct.test {a}; echo \"direct rc=$?\"; echo '--- probes'; \
         /bin/probe net tcp lab.test 80; /bin/probe net tcp other.test 80; /bin/probe net tcp lab.test 81; \
         /bin/probe net udp {a} 53; /bin/probe net tcp {a} 53; /bin/probe net tcp 169.254.1.1 80; true"
    );
    let out = sh(&lab, &p, &script);
    assert_eq!(out.code, Some(0), "{out}");
    let section = |name: &str| -> String {
        let start = out.stdout.find(&format!("--- {name}\n")).map_or(0, |i| i + name.len() + 5);
        out.stdout[start..].split("\n---").next().unwrap_or("").to_owned()
    };
    let hosts = out.stdout.split("--- resolv").next().unwrap();
    assert!(
        hosts
            .lines()
            .any(|l| l.split_whitespace().collect::<Vec<_>>()[..] == [a.to_string().as_str(), "lab.test"]),
        "the allowed name is pinned to what the lab's DNS said:\n{out}"
    );
    assert!(!hosts.contains("other.test"), "only allowed names are pinned:\n{out}");
    assert!(
        lab.dns_log().contains("query[A] lab.test"),
        "the launcher asked the lab's DNS:\n{}",
        lab.dns_log()
    );
    let resolver = section("resolv");
    assert!(resolver.contains("nameserver"), "the sandbox has a resolver:\n{out}");
    assert!(
        !resolver.contains(&a.to_string()),
        "the sandbox's resolver is its own forwarder, not the lab's:\n{out}"
    );
    let nslookup = section("nslookup");
    assert!(
        nslookup.contains("other.test") && nslookup.contains(&b.to_string()),
        "DNS through the sandbox's resolver works under deny:\n{out}"
    );
    assert!(section("direct").contains("direct rc=") && !section("direct").contains("direct rc=0"), "{out}");
    assert!(!lab.dns_log().contains("direct.test"), "DNS to another server is refused:\n{}", lab.dns_log());
    let probes: Vec<String> = [
        "tcp lab.test 80",
        "tcp other.test 80",
        "tcp lab.test 81",
        &format!("udp {a} 53"),
        &format!("tcp {a} 53"),
        // The resolver's address is open for DNS only.
        "tcp 169.254.1.1 80",
    ]
    .map(String::from)
    .to_vec();
    let nets =
        parse_nets(&Outcome { code: out.code, stdout: section("probes"), stderr: String::new() }, &probes);
    assert!(
        nets[0].ok() && nets[0].addr == a.to_string(),
        "the allowed name is reachable: {:?}\n{out}",
        nets[0]
    );
    assert_eq!(nets[0].reply, lab_line(IpAddr::V4(a), 80));
    for n in &nets[1..] {
        assert!(n.refused(), "refused: {n:?}\n{out}");
    }
    assert_eq!(lab.hits().len(), 1, "{:?}", lab.hits());
}

// ---------------------------------------------------------------- published ports

/// `ports` publishes sandbox ports on the host's 127.0.0.1 only (unless
/// an address is given): TCP and UDP reach the server inside, nothing
/// listens on other addresses, and the ports are free again afterwards.
#[test]
fn published_ports_are_reachable_on_loopback_only() {
    if skip() {
        return;
    }
    let lab = Lab::new();
    let (tcp, udp) = (free_port(), free_port());
    let p = nat(&format!("ports = [\"{tcp}:8080\", \"{udp}:5353/udp\"]\n"), "");
    // Unprivileged ports: the command has no CAP_NET_BIND_SERVICE.
    let script = "/bin/probe serve tcp 8080 & /bin/probe serve udp 5353 & sleep 30";
    let mut running =
        Running::start(lab.sandbox(&["run", p.path.to_str().unwrap(), "--", "/bin/sh", "-c", script]));
    for _ in 0..2 {
        running
            .line_starting("serving", Duration::from_secs(20))
            .unwrap_or_else(|| panic!("{}", running.report()));
    }
    let t = Duration::from_secs(2);
    let loopback = |port| SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let line = retry(|| tcp_line(loopback(tcp), t).ok().filter(|l| !l.is_empty()));
    assert_eq!(line.as_deref(), Some("sandbox tcp 8080\n"), "{}", running.report());
    assert!(
        udp_arrives(&mut running, loopback(udp), 5353),
        "a datagram reaches the server inside: {}",
        running.report()
    );
    assert_eq!(bound_on("tcp", tcp), ["127.0.0.1"], "the TCP port is bound on loopback only");
    assert_eq!(bound_on("udp", udp), ["127.0.0.1"], "the UDP port is bound on loopback only");
    let other = SocketAddr::new(IpAddr::V4(lab.host), tcp);
    assert!(tcp_line(other, t).is_err(), "not published on the host's other addresses");

    nix::sys::signal::kill(nix::unistd::Pid::from_raw(running.pid()), nix::sys::signal::Signal::SIGTERM)
        .unwrap();
    running.wait(Duration::from_secs(20));
    for (proto, port) in [("tcp", tcp), ("udp", udp)] {
        common::e2e::eventually(&format!("{proto} port {port} is unbound after the sandbox"), || {
            bound_on(proto, port).is_empty()
        });
    }
    std::net::TcpListener::bind(loopback(tcp)).expect("the published port is free again");
}

/// A port published on another address than loopback (here the lab's
/// side of the host) binds that address only and takes connections from
/// another machine (the lab) into the sandbox — what `"0.0.0.0:8080:80"`
/// is for; the answer comes back where pasta returns it.
#[test]
fn a_port_published_on_another_address_serves_other_machines() {
    if skip() {
        return;
    }
    let lab = Lab::new();
    let port = free_port();
    let p = nat(&format!("ports = [\"{}:{port}:8081\"]\n", lab.host), "");
    let script = "/bin/probe serve tcp 8081 & sleep 30";
    let mut running =
        Running::start(lab.sandbox(&["run", p.path.to_str().unwrap(), "--", "/bin/sh", "-c", script]));
    running
        .line_starting("serving", Duration::from_secs(20))
        .unwrap_or_else(|| panic!("{}", running.report()));
    assert_eq!(bound_on("tcp", port), [lab.host.to_string()]);
    assert!(tcp_line(SocketAddr::from((Ipv4Addr::LOCALHOST, port)), Duration::from_secs(2)).is_err());
    let at = SocketAddr::new(IpAddr::V4(lab.host), port);
    let from_lab = lab.in_lab(move || tcp_line(at, Duration::from_secs(3)));
    let accepted = running.line_starting("got tcp 8081", Duration::from_secs(1)).is_some();
    assert!(accepted, "the lab's connection through {at} reaches the server inside\n{}", running.report());
    match from_lab {
        Ok(line) => assert_eq!(line, "sandbox tcp 8081\n", "{}", running.report()),
        // Debian 12's pasta (2023-03) accepts and forwards the connection
        // but never returns the server's data to a non-loopback client;
        // pasta alone does the same (README, Network: limits).
        Err(e) => println!("known pasta limitation: no answer back through {at} ({e})"),
    }
}

/// Send datagrams to `to` until the sandbox's `probe serve udp PORT` says
/// it got one (up to 10 s).
fn udp_arrives(running: &mut Running, to: SocketAddr, port: u16) -> bool {
    let sock = std::net::UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        let _ = sock.send_to(b"hello", to);
        if running.line_starting(&format!("got udp {port} hello"), Duration::from_millis(300)).is_some() {
            return true;
        }
    }
    false
}

/// A published UDP port leads into the sandbox, bound on loopback only;
/// the server's reply comes back where pasta returns it (a DNS server in
/// a sandbox, say).
#[test]
fn a_published_udp_port_answers_back() {
    if skip() {
        return;
    }
    let lab = Lab::new();
    let udp = free_port();
    let p = nat(&format!("ports = [\"{udp}:5353/udp\"]\n"), "");
    let script = "/bin/probe serve udp 5353 & sleep 30";
    let mut running =
        Running::start(lab.sandbox(&["run", p.path.to_str().unwrap(), "--", "/bin/sh", "-c", script]));
    running
        .line_starting("serving", Duration::from_secs(20))
        .unwrap_or_else(|| panic!("{}", running.report()));
    let to = SocketAddr::from((Ipv4Addr::LOCALHOST, udp));
    assert_eq!(bound_on("udp", udp), ["127.0.0.1"], "bound on loopback only");
    assert!(
        udp_arrives(&mut running, to, 5353),
        "datagrams to {to} reach the server inside\n{}",
        running.report()
    );
    match udp_exchange(to, b"hello", Duration::from_secs(2)) {
        Ok(reply) => assert_eq!(reply, b"sandbox udp 5353 hello", "{}", running.report()),
        // Debian 12's pasta (2023-03) delivers the datagrams but not the
        // replies; pasta alone does the same (README, Network: limits).
        Err(e) => println!("known pasta limitation: no UDP reply back through {to} ({e})"),
    }
}

/// `f` until it gives something, for up to 10 s.
fn retry<T>(mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

// ---------------------------------------------------------------- the host's loopback

/// By default the host's loopback is out of reach: the gateway address is
/// not mapped to it (pasta forwards it as any address: in an isolated lab
/// the gateway is the lab's router, which answers), and
/// host.sandbox.internal leads nowhere. The launcher runs in an isolated
/// host, so nothing here can reach a real network.
#[test]
fn the_hosts_loopback_is_closed_by_default() {
    if skip() {
        return;
    }
    let lab = Lab::isolated();
    let listener = lab.host_listener(80);
    let router = lab.router;
    let script = format!(
        "ip route; grep host.sandbox.internal /etc/hosts; /bin/probe net tcp {router} 80; \
         /bin/probe net tcp host.sandbox.internal 80; /bin/probe net tcp 127.0.0.1 80; true"
    );
    let out = sh(&lab, &nat("", ""), &script);
    assert_eq!(out.code, Some(0), "{out}");
    assert!(out.stdout.contains(&format!("default via {router}")), "pasta's gateway is the host's: {out}");
    let asked =
        [format!("tcp {router} 80"), "tcp host.sandbox.internal 80".into(), "tcp 127.0.0.1 80".into()];
    let nets = parse_nets(&out, &asked);
    // The sandbox's own loopback is its own: pasta forwards none of it to
    // the host's (no --tcp-ns), so nothing listens there.
    assert_eq!(nets[2].result, "ECONNREFUSED", "{:?}\n{out}", nets[2]);
    assert!(
        nets[0].ok() && nets[0].reply == lab_line(IpAddr::V4(router), 80),
        "the gateway address is forwarded, not mapped to the host: {:?}\n{out}",
        nets[0]
    );
    assert!(!nets[1].ok() || nets[1].reply != "host loopback", "{:?}\n{out}", nets[1]);
    assert_eq!(listener.accepted(), 0, "nothing reached the host's loopback");
}

/// `host_loopback = true`: host.sandbox.internal (the gateway, which
/// pasta maps to the host's 127.0.0.1) reaches the host's loopback; with
/// egress deny only on the ports listed for it.
#[test]
fn host_loopback_opens_the_hosts_loopback_as_host_sandbox_internal() {
    if skip() {
        return;
    }
    let lab = Lab::isolated();
    let listener = lab.host_listener(80);
    let router = lab.router;
    let out = sh(
        &lab,
        &nat("host_loopback = true\n", ""),
        &format!(
            "grep host.sandbox.internal /etc/hosts; /bin/probe net tcp host.sandbox.internal 80; /bin/probe net tcp {router} 80; /bin/probe net tcp 127.0.0.1 80; true"
        ),
    );
    let nets = parse_nets(
        &out,
        &["tcp host.sandbox.internal 80".into(), format!("tcp {router} 80"), "tcp 127.0.0.1 80".into()],
    );
    assert_eq!(nets[2].result, "ECONNREFUSED", "the sandbox's loopback stays its own: {:?}\n{out}", nets[2]);
    assert!(nets[0].ok() && nets[0].reply == "host loopback", "{:?}\n{out}", nets[0]);
    assert!(out.stdout.lines().next().is_some_and(|l| l.contains("host.sandbox.internal")), "pinned: {out}");
    assert_eq!(nets[1].reply, "host loopback", "the gateway is the host: {out}");
    assert_eq!(listener.accepted(), 2);
    assert!(lab.hits().is_empty(), "nothing went to the lab: {:?}", lab.hits());

    let p = nat(
        "host_loopback = true\n[network.egress]\ndefault = \"deny\"\nallow = [\"host.sandbox.internal:80\"]\n",
        "",
    );
    let other = lab.host_listener(81);
    let asked = [
        "tcp host.sandbox.internal 80".into(),
        "tcp host.sandbox.internal 81".into(),
        format!("tcp {} 80", lab.a),
    ];
    let (out, nets) = probes(&lab, &p, &asked);
    assert!(nets[0].ok() && nets[0].reply == "host loopback", "{nets:?}\n{out}");
    assert!(nets[1].refused() && nets[2].refused(), "{nets:?}\n{out}");
    assert_eq!((listener.accepted(), other.accepted()), (3, 0));
}

// ---------------------------------------------------------------- nothing left

/// The processes outside the sandbox that hold its network namespace
/// (pasta), found from the namespace's id the command printed.
fn helpers(ns: &str, sandbox_pids: &[i32]) -> Vec<(i32, String)> {
    netns_holders(ns).into_iter().filter(|(pid, _)| !sandbox_pids.contains(pid)).collect()
}

fn is_pasta(name: &str) -> bool {
    name.starts_with("pasta") || name.starts_with("passt")
}

/// After a normal exit and after the launcher is killed with SIGKILL, no
/// pasta process is left (after a normal exit not even a zombie: the
/// launcher reaps what it started), nothing holds the sandbox's network
/// namespace, and the published port is free again.
#[test]
fn nothing_is_left_after_exit_or_a_killed_launcher() {
    if skip() {
        return;
    }
    let lab = Lab::new();
    for kill in [false, true] {
        let port = free_port();
        let p = nat(&format!("ports = [\"{port}:8080\"]\n"), "");
        let script = "readlink /proc/self/ns/net; /bin/probe serve tcp 8080 & sleep 2; kill $!";
        let mut running =
            Running::start(lab.sandbox(&["run", p.path.to_str().unwrap(), "--", "/bin/sh", "-c", script]));
        let ns = running.line(Duration::from_secs(20)).unwrap_or_else(|| panic!("{}", running.report()));
        assert!(ns.starts_with("net:["), "{}", running.report());
        running.line_starting("serving", Duration::from_secs(10)).unwrap();
        let in_sandbox: Vec<i32> = netns_holders(&ns)
            .into_iter()
            .filter(|(pid, _)| {
                std::fs::read_link(format!("/proc/{pid}/ns/net")).is_ok_and(|l| l.as_os_str() == ns.as_str())
            })
            .map(|(pid, _)| pid)
            .collect();
        let helpers = helpers(&ns, &in_sandbox);
        assert!(
            helpers.iter().any(|(_, name)| is_pasta(name)),
            "pasta holds the sandbox's namespace: {helpers:?}"
        );
        assert_eq!(bound_on("tcp", port), ["127.0.0.1"]);
        if kill {
            nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(running.pid()),
                nix::sys::signal::Signal::SIGKILL,
            )
            .unwrap();
            running.wait(Duration::from_secs(10));
            common::e2e::eventually(&format!("the helpers end with a killed launcher: {helpers:?}"), || {
                helpers.iter().all(|(pid, _)| process_state(*pid).is_none_or(|(state, _)| state == 'Z'))
            });
        } else {
            assert_eq!(running.wait(Duration::from_secs(20)), Some(0), "{}", running.report());
            let left: Vec<_> =
                helpers.iter().filter_map(|(pid, n)| Some((pid, n, process_state(*pid)?))).collect();
            assert!(left.is_empty(), "the launcher reaped its helpers before it exited: {left:?}");
        }
        common::e2e::eventually(&format!("nothing holds the sandbox's namespace (kill: {kill})"), || {
            netns_holders(&ns).is_empty()
        });
        common::e2e::eventually(&format!("port {port} is free (kill: {kill})"), || {
            bound_on("tcp", port).is_empty()
        });
        std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, port)).expect("the published port is free again");
    }
}

/// The launcher killed at moments spread over network setup and the
/// first moments of the run: no pasta of ours survives, no port stays
/// bound. Ours are told apart by their published port on the command line.
#[test]
fn killing_the_launcher_during_network_setup_leaves_nothing() {
    if skip() {
        return;
    }
    let lab = Lab::new();
    for round in 0..12u64 {
        let port = free_port();
        let p = nat(&format!("ports = [\"{port}:80\"]\n"), "");
        let mut running =
            Running::start(lab.sandbox(&["run", p.path.to_str().unwrap(), "--", "/bin/sleep", "30"]));
        let delay = Duration::from_millis((round * 37) % 400);
        std::thread::sleep(delay);
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(running.pid()), nix::sys::signal::Signal::SIGKILL)
            .unwrap();
        running.wait(Duration::from_secs(10));
        let ours = || -> Vec<(i32, char)> {
            common::e2e::processes_with(&port.to_string())
                .into_iter()
                .filter(|pid| {
                    std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| is_pasta(c.trim()))
                })
                .filter_map(|pid| Some((pid, process_state(pid)?.0)))
                .filter(|(_, state)| *state != 'Z')
                .collect()
        };
        common::e2e::eventually(&format!("round {round} (killed after {delay:?}): no pasta left"), || {
            ours().is_empty()
        });
        common::e2e::eventually(&format!("round {round}: port {port} unbound"), || {
            bound_on("tcp", port).is_empty()
        });
    }
}

// ---------------------------------------------------------------- attacks

/// Root in the sandbox with the default capabilities tries to lift the
/// egress rules: flush nftables, take interfaces down, add routes and
/// addresses, open a new network namespace, flip sysctls. Every attempt
/// fails, and egress is still denied afterwards. The host's own `nft` and
/// `ip` run inside (a `host:/` sandbox), with the probe bound at /probe.
#[test]
fn an_attacker_inside_cannot_change_the_rules() {
    if skip() {
        return;
    }
    let lab = Lab::new();
    let (a, b) = (lab.a, lab.b);
    let dir = probe().parent().unwrap().display().to_string();
    let p = profile(&format!(
        "[process]\nterminal = \"never\"\n[network]\nmode = \"nat\"\n[network.egress]\ndefault = \"deny\"\n\
         allow = [\"{a}:80\"]\n[[mount]]\nsource = \"{dir}\"\ntarget = \"/probe\"\n"
    ));
    let attempts = [
        "nft flush ruleset",
        "nft list ruleset",
        "nft add table inet escape",
        "ip link set lo down",
        "ip route add 198.18.0.0/15 dev lo",
        "ip addr add 198.18.255.1/32 dev lo",
        "ip route del default",
        "unshare -n true",
        // CAP_NET_ADMIN in a user namespace of its own is not over this network namespace.
        "unshare -U -r nft flush ruleset",
        "unshare -U -r -n ip link set lo up && nft flush ruleset",
        "sh -c 'echo 1 > /proc/sys/net/ipv4/ip_forward'",
    ];
    let mut script = String::new();
    for attempt in attempts {
        let _ = write!(script, "{attempt} >/dev/null 2>&1; echo \"attempt rc=$? {attempt}\"; ");
    }
    let _ = write!(
        script,
        "/probe/probe net tcp {a} 80; /probe/probe net tcp {b} 80; /probe/probe net tcp {a} 81; true"
    );
    let out = sh(&lab, &p, &script);
    assert_eq!(out.code, Some(0), "{out}");
    let results: Vec<&str> = out.stdout.lines().filter(|l| l.starts_with("attempt rc=")).collect();
    assert_eq!(results.len(), attempts.len(), "{out}");
    for line in results {
        assert!(!line.starts_with("attempt rc=0 "), "the attack must fail: {line}\n{out}");
    }
    let nets = parse_nets(&out, &[format!("tcp {a} 80"), format!("tcp {b} 80"), format!("tcp {a} 81")]);
    assert!(nets[0].ok(), "the listed destination still works: {nets:?}\n{out}");
    assert!(nets[1].refused() && nets[2].refused(), "egress is still denied: {nets:?}\n{out}");
    assert_eq!(lab.hits().len(), 1, "{:?}", lab.hits());
}

/// A profile that keeps `CAP_NET_ADMIN` could rewrite its own egress rules;
/// with `default = "deny"` it must be refused (125, naming the
/// capability), or the rules must hold anyway. Never silently weaker.
#[test]
fn net_admin_cannot_lift_an_egress_deny() {
    if skip() {
        return;
    }
    let lab = Lab::new();
    let (a, b) = (lab.a, lab.b);
    let dir = probe().parent().unwrap().display().to_string();
    // NET_RAW too: a packet socket writes frames below the rules.
    for cap in ["NET_ADMIN", "NET_RAW"] {
        let p = profile(&format!(
            "[process]\nterminal = \"never\"\n[network]\nmode = \"nat\"\n[network.egress]\ndefault = \"deny\"\n\
             allow = [\"{a}:80\"]\n[security]\ncapabilities = [\"{cap}\"]\n\
             [[mount]]\nsource = \"{dir}\"\ntarget = \"/probe\"\n"
        ));
        let out =
            sh(&lab, &p, &format!("nft flush ruleset; echo \"flush rc=$?\"; /probe/probe net tcp {b} 80"));
        if out.code == Some(125) {
            assert!(out.stderr.to_uppercase().contains(cap), "the refusal names the capability: {out}");
            continue;
        }
        let nets = parse_nets(&out, &[format!("tcp {b} 80")]);
        assert!(nets[0].refused(), "CAP_{cap} lifted the egress deny:\n{out}");
        assert!(lab.hits().is_empty(), "{:?}", lab.hits());
    }
}

// ---------------------------------------------------------------- the shipped profile

/// `profiles/build-untrusted-net.toml`, unchanged, in a project of its
/// own: the build step reaches its one registry (the lab's DNS server
/// names the lab for it, so nothing leaves this machine) and nothing else:
/// not the registry's other ports, not another host, not DNS elsewhere.
#[test]
fn the_shipped_build_profile_reaches_its_registry_and_nothing_else() {
    if skip() {
        return;
    }
    let lab = Lab::new();
    let project = common::e2e::open_tempdir("sandbox-netproject-");
    let root = project.path();
    std::fs::create_dir_all(root.join("profiles")).unwrap();
    std::fs::create_dir_all(root.join("out")).unwrap();
    let shipped = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("profiles");
    for name in ["build-untrusted.toml", "build-untrusted-net.toml"] {
        std::fs::copy(shipped.join(name), root.join("profiles").join(name)).unwrap();
    }
    // Only the probe is added: Landlock lets the build execute from the
    // toolchain's directories alone.
    let build = "extends = [\"build-untrusted-net.toml\"]\n[security.landlock]\nexecute = [\"/src/probe\"]\n";
    std::fs::write(root.join("profiles/build.toml"), build).unwrap();
    std::fs::copy(probe(), root.join("probe")).unwrap();
    let (a, b) = (lab.a, lab.b);
    let asked =
        [format!("tcp {REGISTRY} 443"), format!("tcp {a} 80"), format!("tcp {b} 443"), format!("udp {a} 53")];
    let script: Vec<String> = asked.iter().map(|p| format!("/src/probe net {p}")).collect();
    let path = root.join("profiles/build.toml");
    let args = ["run", path.to_str().unwrap(), "--", "/bin/sh", "-c", &script.join("; ")];
    let out = finish(lab.sandbox(&args));
    let nets = parse_nets(&out, &asked);
    assert!(nets[0].ok(), "the registry answers: {:?}\n{out}", nets[0]);
    assert_eq!(nets[0].reply, lab_line(IpAddr::V4(a), 443), "{out}");
    // Another port of the registry's host meets Landlock first (EACCES:
    // the inherited landlock section holds TCP to the rules' ports).
    assert!(nets[1].result == "EACCES" && nets[1].ms < 2000, "Landlock's wall: {:?}\n{out}", nets[1]);
    for n in &nets[2..] {
        assert!(n.refused(), "nothing else: {n:?}\n{out}");
    }
    assert_eq!(lab.hits().len(), 1, "only the registry was reached: {:?}", lab.hits());
}
