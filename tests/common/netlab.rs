//! A test "internet" for the network tests: a network namespace the test
//! makes itself, tied to the host (or to an isolated stand-in for the
//! host) by a veth pair, with servers in it that say who answered.
//!
//! Addresses come from the benchmarking ranges (198.18.0.0/15, RFC 2544;
//! `2001:2::/48`, RFC 5180), which no real network routes: lab `n` owns the
//! block 198.18.0.0 + 8n /29 and `2001:2:0:n::/64`. `n` is unique on the
//! host because the lab's host-side interface `sbxl<n>` is: creating it
//! is the lock, across threads and processes.
//!
//! In the block: `.1` the host side, `.2` ([`Lab::a`], also the DNS
//! server) and `.3` ([`Lab::b`]) two lab hosts, `.6` ([`Lab::router`]) the
//! default gateway of an isolated host. Every lab address answers:
//! - TCP on [`TCP_PORTS`]: one line, `lab tcp ADDR:PORT`, then the
//!   connection is closed;
//! - UDP on [`UDP_PORTS`]: `lab udp ADDR:PORT ` and the datagram back;
//! - ICMP echo (the lab's kernel);
//! - DNS on `a`:53 (dnsmasq): `lab.test` is `a`, `other.test` is `b`,
//!   `lab6.test` is `a6` only, [`REGISTRY`] is `a`.
//!
//! Every TCP connection and UDP datagram is logged ([`Lab::hits`]), so a
//! test can say that nothing arrived.
//!
//! [`Lab::new`] puts the host side in the host's own network namespace
//! (the host reaches the lab through the veth; nothing is forwarded, no
//! sysctl is changed). [`Lab::isolated`] puts it in a second namespace the
//! lab makes, with its default route through the lab's router: a launcher
//! run there ([`Lab::sandbox`]) has the lab as its whole world, so even a
//! wrong rule or a missing `--no-map-gw` cannot send a packet to a real
//! network; that host's own loopback is [`Lab::host_listener`]'s.
//!
//! Everything is removed on drop (also when the test panics): servers
//! stopped and joined, dnsmasq killed and reaped, the veth deleted, the
//! namespaces released (no file under /run/netns: the namespaces are held
//! by descriptors of the test process alone, so they go with it even if
//! it is killed; dnsmasq dies with it through its parent-death signal,
//! which fires when the thread that made the lab ends: make and drop a lab
//! in the same thread).

use std::fs::File;
use std::io::{BufRead, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use nix::sched::{CloneFlags, setns, unshare};

/// The TCP ports every lab address serves.
pub const TCP_PORTS: [u16; 4] = [80, 81, 443, 5432];
/// The name the shipped build-untrusted-net profile allows; the lab's DNS
/// server gives it the lab's first address.
pub const REGISTRY: &str = "registry.npmjs.org";
/// The UDP ports every lab address echoes on.
pub const UDP_PORTS: [u16; 2] = [7, 8];

/// The tools a lab needs, and the Debian package each comes in.
const TOOLS: [(&str, &str); 4] =
    [("ip", "iproute2"), ("nsenter", "util-linux"), ("setpriv", "util-linux"), ("dnsmasq", "dnsmasq-base")];

/// Why a lab cannot be made here (missing tools, not root), if it cannot.
pub fn unavailable() -> Option<String> {
    if !nix::unistd::geteuid().is_root() {
        return Some("the network lab needs root (veth pairs and network namespaces)".into());
    }
    let missing: Vec<String> =
        TOOLS.iter().filter(|(t, _)| !on_path(t)).map(|(t, p)| format!("{t} ({p})")).collect();
    if missing.is_empty() {
        None
    } else {
        Some(format!("missing for the network lab: {} (scripts/test.sh installs them)", missing.join(", ")))
    }
}

/// Whether `tool` is an executable in PATH, /usr/sbin or /sbin.
pub fn on_path(tool: &str) -> bool {
    let path = std::env::var("PATH").unwrap_or_default();
    path.split(':')
        .chain(["/usr/sbin", "/sbin", "/usr/bin"])
        .any(|d| std::fs::metadata(Path::new(d).join(tool)).is_ok_and(|m| m.is_file()))
}

/// One thing that reached a lab server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hit {
    pub proto: &'static str,
    /// The lab address and port it was sent to.
    pub to: SocketAddr,
    /// Where it came from (as the lab saw it).
    pub from: SocketAddr,
}

pub struct Lab {
    pub n: u32,
    /// The host-side interface (in the host's namespace, or the isolated host's).
    pub host_if: String,
    /// The host side's address.
    pub host: Ipv4Addr,
    pub a: Ipv4Addr,
    pub b: Ipv4Addr,
    pub router: Ipv4Addr,
    pub host6: Ipv6Addr,
    pub a6: Ipv6Addr,
    pub b6: Ipv6Addr,
    pub router6: Ipv6Addr,
    ns: Arc<OwnedFd>,
    /// The isolated host's namespace, when the lab has one.
    host_ns: Option<Arc<OwnedFd>>,
    stop: Arc<AtomicBool>,
    servers: Vec<JoinHandle<()>>,
    dnsmasq: Option<Child>,
    hits: Arc<Mutex<Vec<Hit>>>,
    dir: tempfile::TempDir,
}

impl Lab {
    /// A lab whose host side is the host itself.
    pub fn new() -> Lab {
        Lab::make(false)
    }

    /// A lab whose host side is an isolated namespace of its own, its
    /// default routes through the lab's router (`.6`, `::6`).
    pub fn isolated() -> Lab {
        Lab::make(true)
    }

    fn make(isolated: bool) -> Lab {
        let ns = Arc::new(new_netns());
        let host_ns = isolated.then(|| Arc::new(new_netns()));
        let n = claim_block(&ns);
        let v4 = |last: u32| Ipv4Addr::from(u32::from(Ipv4Addr::new(198, 18, 0, 0)) + n * 8 + last);
        let v6 = |last: u16| Ipv6Addr::new(0x2001, 2, 0, u16::try_from(n).unwrap(), 0, 0, 0, last);
        let dir = tempfile::Builder::new().prefix("sandbox-netlab-").tempdir().unwrap();
        let mut lab = Lab {
            n,
            host_if: format!("sbxl{n}"),
            host: v4(1),
            a: v4(2),
            b: v4(3),
            router: v4(6),
            host6: v6(1),
            a6: v6(2),
            b6: v6(3),
            router6: v6(6),
            ns,
            host_ns,
            stop: Arc::new(AtomicBool::new(false)),
            servers: Vec::new(),
            dnsmasq: None,
            hits: Arc::new(Mutex::new(Vec::new())),
            dir,
        };
        // From here on, Drop removes whatever was made.
        lab.configure();
        lab.start_servers();
        lab.start_dnsmasq();
        lab
    }

    /// A path to the lab's namespace that other processes can open.
    pub fn ns_path(&self) -> String {
        fd_path(&self.ns)
    }

    /// The isolated host's namespace, as a path (None: the host's own).
    pub fn host_ns_path(&self) -> Option<String> {
        self.host_ns.as_deref().map(fd_path)
    }

    /// The lab's addresses, IPv4 then IPv6.
    pub fn addrs(&self) -> Vec<IpAddr> {
        [self.a, self.b, self.router]
            .map(IpAddr::V4)
            .into_iter()
            .chain([self.a6, self.b6, self.router6].map(IpAddr::V6))
            .collect()
    }

    fn configure(&self) {
        let lab = self.ns_path();
        let (h, hif) = (self.host_ns_path(), self.host_if.as_str());
        // In the host side's namespace (the host's, or the isolated one).
        let mut side = vec![
            format!("addr add {}/29 dev {hif}", self.host),
            format!("addr add {}/64 dev {hif} nodad", self.host6),
            format!("link set {hif} up"),
        ];
        if let Some(h) = &h {
            ip(None, &format!("link set {hif} netns {h}"));
            side.push("link set lo up".into());
            side.push(format!("route add default via {}", self.router));
            side.push(format!("-6 route add default via {}", self.router6));
        }
        for cmd in side {
            ip(h.as_deref(), &cmd);
        }
        for cmd in [
            "link set lo up".to_owned(),
            format!("addr add {}/29 dev lab0", self.a),
            format!("addr add {}/29 dev lab0", self.b),
            format!("addr add {}/29 dev lab0", self.router),
            format!("addr add {}/64 dev lab0 nodad", self.a6),
            format!("addr add {}/64 dev lab0 nodad", self.b6),
            format!("addr add {}/64 dev lab0 nodad", self.router6),
            "link set lab0 up".to_owned(),
        ] {
            ip(Some(&lab), &cmd);
        }
    }

    /// One thread in the lab's namespace serves every TCP and UDP socket.
    fn start_servers(&mut self) {
        let (ns, stop, hits, addrs) = (self.ns.clone(), self.stop.clone(), self.hits.clone(), self.addrs());
        let (ready_tx, ready_rx) = mpsc::channel();
        let server = std::thread::Builder::new()
            .name(format!("netlab-{}", self.n))
            .spawn(move || {
                setns(ns.as_fd(), CloneFlags::CLONE_NEWNET).expect("join the lab's network namespace");
                let mut tcp = Vec::new();
                let mut udp = Vec::new();
                for addr in &addrs {
                    for port in TCP_PORTS {
                        let l = TcpListener::bind((*addr, port)).expect("a lab TCP port");
                        l.set_nonblocking(true).unwrap();
                        tcp.push(l);
                    }
                    for port in UDP_PORTS {
                        let s = UdpSocket::bind((*addr, port)).expect("a lab UDP port");
                        s.set_nonblocking(true).unwrap();
                        udp.push(s);
                    }
                }
                ready_tx.send(()).unwrap();
                serve(&tcp, &udp, &stop, &hits);
            })
            .unwrap();
        self.servers.push(server);
        ready_rx.recv_timeout(Duration::from_secs(10)).expect("the lab's servers start");
    }

    fn start_dnsmasq(&mut self) {
        let dir = self.dir.path();
        let child = Command::new("setpriv")
            .args(["--pdeathsig", "KILL", "nsenter"])
            .arg(format!("--net={}", self.ns_path()))
            .args(["dnsmasq", "--keep-in-foreground", "--conf-file=/dev/null", "--no-resolv", "--no-hosts"])
            .args(["--bind-interfaces", "--port=53", "--user=root", "--group=root", "--log-queries"])
            .arg(format!("--listen-address={}", self.a))
            .arg(format!("--address=/lab.test/{}", self.a))
            // The registry profiles/build-untrusted-net.toml allows, here
            // the lab's: the shipped profile runs unchanged.
            .arg(format!("--address=/{REGISTRY}/{}", self.a))
            .arg(format!("--address=/other.test/{}", self.b))
            .arg(format!("--address=/lab6.test/{}", self.a6))
            .arg(format!("--pid-file={}", dir.join("dnsmasq.pid").display()))
            .arg(format!("--log-facility={}", dir.join("dnsmasq.log").display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(File::create(dir.join("dnsmasq.err")).unwrap())
            .spawn()
            .expect("dnsmasq starts");
        self.dnsmasq = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.resolve_from_host("lab.test") != Some(self.a) {
            let exited = self.dnsmasq.as_mut().unwrap().try_wait().unwrap();
            assert!(
                exited.is_none() && Instant::now() < deadline,
                "dnsmasq answers in the lab ({exited:?}): {}",
                std::fs::read_to_string(dir.join("dnsmasq.err")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Ask the lab's DNS server for `name`'s IPv4 address, from the host
    /// side (through the veth), with a 1 s timeout.
    pub fn resolve_from_host(&self, name: &str) -> Option<Ipv4Addr> {
        let server = SocketAddr::new(IpAddr::V4(self.a), 53);
        let name = name.to_owned();
        self.on_host_side(move || dns_query(server, &name, Duration::from_secs(1)))
    }

    /// What the lab's DNS server was asked, as dnsmasq logged it.
    pub fn dns_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("dnsmasq.log")).unwrap_or_default()
    }

    /// Everything that reached the lab's TCP and UDP servers so far.
    pub fn hits(&self) -> Vec<Hit> {
        self.hits.lock().unwrap().clone()
    }

    /// The hits on `addr:port` (`proto` "tcp" or "udp").
    pub fn hits_to(&self, proto: &str, addr: IpAddr, port: u16) -> usize {
        self.hits().iter().filter(|h| h.proto == proto && h.to == SocketAddr::new(addr, port)).count()
    }

    /// Run `f` in a thread in the host side's namespace.
    pub fn on_host_side<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> T {
        let ns = self.host_ns.clone();
        std::thread::spawn(move || {
            if let Some(ns) = ns {
                setns(ns.as_fd(), CloneFlags::CLONE_NEWNET).expect("join the isolated host's namespace");
            }
            f()
        })
        .join()
        .unwrap()
    }

    /// Run `f` in a thread in the lab's namespace.
    pub fn in_lab<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> T {
        let ns = self.ns.clone();
        std::thread::spawn(move || {
            setns(ns.as_fd(), CloneFlags::CLONE_NEWNET).expect("join the lab's namespace");
            f()
        })
        .join()
        .unwrap()
    }

    /// A listener on the host side's 127.0.0.1 (the host's own loopback,
    /// or the isolated host's) on `port` (0: an ephemeral one).
    pub fn host_listener(&self, port: u16) -> HostListener {
        HostListener::start(self.host_ns.clone(), port)
    }

    /// A resolv.conf that names the lab's DNS server.
    pub fn resolv_conf(&self) -> PathBuf {
        let path = self.dir.path().join("resolv.conf");
        std::fs::write(&path, format!("nameserver {}\n", self.a)).unwrap();
        std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
        path
    }

    /// `sandbox ARGS` on the lab's host side, resolving names through the
    /// lab's DNS server: in a private mount namespace with the lab's
    /// resolv.conf bound over /etc/resolv.conf (the host's file is not
    /// touched), and for an isolated lab in the isolated host's network
    /// namespace. Each wrapper execs in place: the pid is the launcher's.
    pub fn sandbox(&self, args: &[&str]) -> Command {
        let mut words: Vec<String> = Vec::new();
        if let Some(h) = self.host_ns_path() {
            words.extend(["nsenter".into(), format!("--net={h}")]);
        }
        words.extend(
            [
                "unshare",
                "-m",
                "--propagation",
                "private",
                "sh",
                "-c",
                "mount --bind \"$0\" /etc/resolv.conf && exec \"$@\"",
            ]
            .map(String::from),
        );
        words.push(self.resolv_conf().display().to_string());
        words.extend(super::e2e::launcher());
        let mut c = Command::new(&words[0]);
        c.args(&words[1..]).args(args).stdin(Stdio::null());
        c
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        for s in self.servers.drain(..) {
            let _ = s.join();
        }
        if let Some(mut d) = self.dnsmasq.take() {
            let _ = d.kill();
            let _ = d.wait();
        }
        // Deleting one end deletes the pair; the host side may be in the
        // isolated namespace, the lab side is always in the lab's.
        let _ = Command::new("nsenter")
            .arg(format!("--net={}", self.ns_path()))
            .args(["ip", "link", "del", "lab0"])
            .stderr(Stdio::null())
            .status();
        if self.host_ns.is_none() {
            let _ = Command::new("ip").args(["link", "del", &self.host_if]).stderr(Stdio::null()).status();
        }
        // The namespaces go when their last descriptors (ours) close.
    }
}

/// A fresh network namespace, held by a descriptor only: made by a thread
/// that then ends (`unshare` of a network namespace is per thread).
fn new_netns() -> OwnedFd {
    std::thread::spawn(|| {
        unshare(CloneFlags::CLONE_NEWNET).expect("unshare a network namespace (needs root)");
        OwnedFd::from(File::open("/proc/thread-self/ns/net").unwrap())
    })
    .join()
    .unwrap()
}

/// A path to one of our descriptors that another process can open.
fn fd_path(fd: &OwnedFd) -> String {
    format!("/proc/{}/fd/{}", std::process::id(), fd.as_raw_fd())
}

/// `ip ARGS` in the namespace at `ns` (None: ours); it must succeed.
fn ip(ns: Option<&str>, args: &str) {
    let mut c = match ns {
        Some(ns) => {
            let mut c = Command::new("nsenter");
            c.arg(format!("--net={ns}")).arg("ip");
            c
        }
        None => Command::new("ip"),
    };
    let out = c.args(args.split(' ')).output().expect("ip runs (iproute2)");
    assert!(out.status.success(), "ip {args} (in {ns:?}): {}", String::from_utf8_lossy(&out.stderr));
}

/// Make the veth pair `sbxl<n>` / `lab0` (in the lab's namespace) for the
/// first free `n`: creating the host-side name is the lock.
fn claim_block(ns: &OwnedFd) -> u32 {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    const BLOCKS: u32 = 8192; // 198.18.0.0/16 in /29 blocks
    let start = (std::process::id() * 97) % BLOCKS;
    for _ in 0..64 {
        let n = (start + NEXT.fetch_add(1, Ordering::SeqCst)) % BLOCKS;
        let out = Command::new("ip")
            .args([
                "link",
                "add",
                &format!("sbxl{n}"),
                "type",
                "veth",
                "peer",
                "name",
                "lab0",
                "netns",
                &fd_path(ns),
            ])
            .output()
            .expect("ip runs (iproute2)");
        if out.status.success() {
            return n;
        }
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("exists"), "make a veth pair for the lab: {err}");
    }
    panic!("no free lab block after 64 tries: leftover sbxl* interfaces? (ip link | grep sbxl)");
}

/// The lab's server loop: accept and answer until `stop`.
fn serve(tcp: &[TcpListener], udp: &[UdpSocket], stop: &AtomicBool, hits: &Mutex<Vec<Hit>>) {
    let mut buf = [0u8; 1500];
    while !stop.load(Ordering::SeqCst) {
        let mut fds: Vec<nix::poll::PollFd> = tcp
            .iter()
            .map(AsFd::as_fd)
            .chain(udp.iter().map(AsFd::as_fd))
            .map(|fd| nix::poll::PollFd::new(fd, nix::poll::PollFlags::POLLIN))
            .collect();
        let _ = nix::poll::poll(&mut fds, nix::poll::PollTimeout::from(50u16));
        for l in tcp {
            while let Ok((mut s, from)) = l.accept() {
                let to = l.local_addr().unwrap();
                hits.lock().unwrap().push(Hit { proto: "tcp", to, from });
                let _ = s.set_nonblocking(false);
                let _ = s.set_write_timeout(Some(Duration::from_secs(1)));
                // One write: a line split over segments would reach a
                // reader that takes the first one only in pieces.
                let _ = s.write_all(format!("lab tcp {to}\n").as_bytes());
                let _ = s.shutdown(std::net::Shutdown::Both);
            }
        }
        for u in udp {
            while let Ok((len, from)) = u.recv_from(&mut buf) {
                let to = u.local_addr().unwrap();
                hits.lock().unwrap().push(Hit { proto: "udp", to, from });
                let mut reply = format!("lab udp {to} ").into_bytes();
                reply.extend_from_slice(&buf[..len]);
                let _ = u.send_to(&reply, from);
            }
        }
    }
}

/// A listener on 127.0.0.1 (of the host, or of an isolated host) that
/// answers `host loopback` and counts its connections.
pub struct HostListener {
    pub port: u16,
    count: Arc<Mutex<usize>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl HostListener {
    fn start(ns: Option<Arc<OwnedFd>>, port: u16) -> HostListener {
        let (count, stop) = (Arc::new(Mutex::new(0)), Arc::new(AtomicBool::new(false)));
        let (tx, rx) = mpsc::channel();
        let (c, s) = (count.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            if let Some(ns) = ns {
                setns(ns.as_fd(), CloneFlags::CLONE_NEWNET).expect("join the isolated host's namespace");
            }
            let l = TcpListener::bind((Ipv4Addr::LOCALHOST, port)).expect("the host listener's port is free");
            l.set_nonblocking(true).unwrap();
            tx.send(l.local_addr().unwrap().port()).unwrap();
            while !s.load(Ordering::SeqCst) {
                match l.accept() {
                    Ok((mut conn, _)) => {
                        *c.lock().unwrap() += 1;
                        let _ = conn.set_nonblocking(false);
                        let _ = conn.write_all(b"host loopback\n");
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        });
        let port = rx.recv_timeout(Duration::from_secs(10)).expect("the host listener starts");
        HostListener { port, count, stop, thread: Some(thread) }
    }

    /// How many connections it has accepted.
    pub fn accepted(&self) -> usize {
        *self.count.lock().unwrap()
    }
}

impl Drop for HostListener {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// One DNS query for `name`'s A record; the first address of the answer.
pub fn dns_query(server: SocketAddr, name: &str, timeout: Duration) -> Option<Ipv4Addr> {
    let id: u16 = 0x5b5b;
    let mut q = Vec::with_capacity(64);
    q.extend_from_slice(&id.to_be_bytes());
    q.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]); // RD; one question
    for label in name.split('.') {
        q.push(u8::try_from(label.len()).unwrap());
        q.extend_from_slice(label.as_bytes());
    }
    q.extend_from_slice(&[0, 0, 1, 0, 1]); // root; type A, class IN
    let sock = UdpSocket::bind(if server.is_ipv4() { "0.0.0.0:0" } else { "[::]:0" }).ok()?;
    sock.set_read_timeout(Some(timeout)).ok()?;
    sock.send_to(&q, server).ok()?;
    let mut r = [0u8; 512];
    let (len, _) = sock.recv_from(&mut r).ok()?;
    let r = &r[..len];
    if len < 12 || r[..2] != id.to_be_bytes() || r[3] & 0x0f != 0 {
        return None;
    }
    let answers = u16::from_be_bytes([r[6], r[7]]);
    let mut at = q.len(); // the question comes back as it was sent
    for _ in 0..answers {
        // A compressed name (2 bytes) or labels up to a zero.
        if r.get(at)? & 0xc0 == 0xc0 {
            at += 2;
        } else {
            while *r.get(at)? != 0 {
                at += 1 + usize::from(r[at]);
            }
            at += 1;
        }
        let (kind, rdlen) =
            (u16::from_be_bytes([r[at], r[at + 1]]), usize::from(u16::from_be_bytes([r[at + 8], r[at + 9]])));
        at += 10;
        if kind == 1 && rdlen == 4 {
            return Some(Ipv4Addr::new(r[at], r[at + 1], r[at + 2], r[at + 3]));
        }
        at += rdlen;
    }
    None
}

/// Connect to `addr` (from the calling thread's namespace) and read the
/// line a lab server or host listener answers; Err says how it failed.
pub fn tcp_line(addr: SocketAddr, timeout: Duration) -> std::io::Result<String> {
    let s = TcpStream::connect_timeout(&addr, timeout)?;
    s.set_read_timeout(Some(timeout))?;
    let mut line = String::new();
    std::io::BufReader::new(s).read_line(&mut line)?;
    Ok(line)
}

/// Send `data` to `addr` over UDP and wait for the reply.
pub fn udp_exchange(addr: SocketAddr, data: &[u8], timeout: Duration) -> std::io::Result<Vec<u8>> {
    let s = UdpSocket::bind(if addr.is_ipv4() { "0.0.0.0:0" } else { "[::]:0" })?;
    s.set_read_timeout(Some(timeout))?;
    s.connect(addr)?;
    s.send(data)?;
    let mut buf = vec![0u8; 1500];
    let n = s.recv(&mut buf)?;
    buf.truncate(n);
    Ok(buf)
}

/// Whether `n`'s host-side interface still exists in the host's namespace.
pub fn interface_exists(name: &str) -> bool {
    Path::new("/sys/class/net").join(name).exists()
}

/// Every process (and thread) that has the network namespace `id`
/// (`net:[INODE]`) as its own or holds a descriptor to it, with its name.
pub fn netns_holders(id: &str) -> Vec<(i32, String)> {
    let mut found = Vec::new();
    for pid in std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
    {
        let linked = |p: &Path| std::fs::read_link(p).is_ok_and(|t| t.as_os_str() == id);
        let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).into_iter().flatten().flatten();
        let in_ns = tasks.into_iter().any(|t| linked(&t.path().join("ns/net")));
        let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).into_iter().flatten().flatten();
        let holds = in_ns || fds.into_iter().any(|f| linked(&f.path()));
        if holds {
            let name = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
            found.push((pid, name.trim().to_owned()));
        }
    }
    found
}

/// A process's state letter (`R`, `S`, `Z`, ...) and parent, or None once it is gone.
pub fn process_state(pid: i32) -> Option<(char, i32)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |k: &str| status.lines().find_map(|l| l.strip_prefix(k)).map_or("", str::trim).to_owned();
    Some((field("State:").chars().next().unwrap_or('?'), field("PPid:").parse().unwrap_or(0)))
}

/// Whether something listens on TCP (or has a UDP socket bound) on `port`
/// in the calling thread's network namespace, and on which local addresses.
pub fn bound_on(proto: &str, port: u16) -> Vec<String> {
    let mut found = Vec::new();
    for table in [proto.to_owned(), format!("{proto}6")] {
        let text = std::fs::read_to_string(format!("/proc/thread-self/net/{table}")).unwrap_or_default();
        for line in text.lines().skip(1) {
            let f: Vec<&str> = line.split_whitespace().collect();
            let (Some(local), Some(state)) = (f.get(1), f.get(3)) else { continue };
            let (addr, p) = local.split_once(':').unwrap();
            // TCP: LISTEN (0A) only; UDP: every bound socket (07 = unconnected).
            if u16::from_str_radix(p, 16) == Ok(port) && (proto == "udp" || *state == "0A") {
                found.push(hex_addr(addr));
            }
        }
    }
    found
}

/// /proc/net's hex address (host byte order in 32-bit words) as text.
fn hex_addr(hex: &str) -> String {
    let words: Vec<u32> = (0..hex.len() / 8)
        .map(|i| u32::from_str_radix(&hex[i * 8..i * 8 + 8], 16).unwrap().swap_bytes())
        .collect();
    match words.as_slice() {
        [w] => Ipv4Addr::from(*w).to_string(),
        ws => {
            let bytes: Vec<u8> = ws.iter().flat_map(|w| w.to_be_bytes()).collect();
            Ipv6Addr::from(<[u8; 16]>::try_from(bytes).unwrap()).to_string()
        }
    }
}

/// A free TCP (and, likely, UDP) port on the calling thread's 127.0.0.1.
pub fn free_port() -> u16 {
    loop {
        let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap().local_addr().unwrap().port();
        if UdpSocket::bind((Ipv4Addr::LOCALHOST, port)).is_ok() {
            return port;
        }
    }
}

/// A launcher started in the background, its stdout read line by line by
/// a thread (so a test can wait for a line with a deadline) and its
/// stderr collected.
pub struct Running {
    pub child: Child,
    lines: mpsc::Receiver<String>,
    stderr: Arc<Mutex<String>>,
    pub stdout: Vec<String>,
}

impl Running {
    pub fn start(mut c: Command) -> Running {
        let mut child = c.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("the launcher starts");
        let (tx, lines) = mpsc::channel();
        let out = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let stderr = Arc::new(Mutex::new(String::new()));
        let (mut err, e) = (child.stderr.take().unwrap(), stderr.clone());
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = err.read(&mut buf) {
                if n == 0 {
                    break;
                }
                e.lock().unwrap().push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        Running { child, lines, stderr, stdout: Vec::new() }
    }

    /// The next line of stdout within `timeout` (None: none came, or EOF).
    pub fn line(&mut self, timeout: Duration) -> Option<String> {
        let line = self.lines.recv_timeout(timeout).ok()?;
        self.stdout.push(line.clone());
        Some(line)
    }

    /// Read lines until one starts with `prefix` (within `timeout` in all).
    pub fn line_starting(&mut self, prefix: &str, timeout: Duration) -> Option<String> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.checked_duration_since(Instant::now())?;
            let line = self.line(left)?;
            if line.starts_with(prefix) {
                return Some(line);
            }
        }
    }

    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    pub fn pid(&self) -> i32 {
        i32::try_from(self.child.id()).unwrap()
    }

    /// Wait up to `timeout` for the launcher's exit; kill it after that.
    pub fn wait(&mut self, timeout: Duration) -> Option<i32> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                while let Ok(line) = self.lines.recv_timeout(Duration::from_millis(200)) {
                    self.stdout.push(line);
                }
                return status.code();
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!("the launcher did not end within {timeout:?}\n{}", self.report());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// What it printed so far, for assertion messages.
    pub fn report(&self) -> String {
        format!("--- stdout\n{}\n--- stderr\n{}", self.stdout.join("\n"), self.stderr())
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
