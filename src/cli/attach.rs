//! `sandbox attach NAME`: the terminal (or output) of a sandbox started
//! with `run -d`, through its keeper's `attach.sock`. Keys go to the
//! sandbox when it was started with `-i` or `-t`; Ctrl-P Ctrl-Q detaches
//! (docker's keys) and leaves it running. When the sandbox ends, attach
//! exits with its status.

use std::io::{Read, Write};
use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;
use std::process::ExitCode;
use std::time::Duration;

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use sandbox::container::log::socket_path;
use sandbox::container::named::{Phase, wait_gone};
use sandbox::runtime::terminal::Restore;

use crate::cli::oci::Global;
use crate::cli::report;

const CTRL_P: u8 = 0x10;
const CTRL_Q: u8 = 0x11;

pub fn run(g: &Global, name: &str) -> ExitCode {
    let root = g.root();
    let c = match root.open(name) {
        Ok(c) => c,
        Err(e) => return report::error(&e.to_string()),
    };
    let named = c.record.sandbox.clone().unwrap_or_default();
    let phase = Phase::of(&c.record);
    let dir = c.dir.clone();
    drop(c);
    if !named.detached || phase.ended() {
        return report::error(&format!(
            "attach {name}: only a running sandbox started with `run -d` can be attached (it is {})",
            phase.text()
        ));
    }
    let mut sock = match UnixStream::connect(socket_path(&dir)) {
        Ok(s) => s,
        Err(e) => {
            return report::error(&format!("attach {name}: connect to {}: {e}", socket_path(&dir).display()));
        }
    };
    let stdin = std::io::stdin();
    let raw = if nix::unistd::isatty(stdin.as_fd()).unwrap_or(false) && named.interactive {
        Restore::raw(stdin.as_fd()).ok()
    } else {
        None
    };
    match relay(&mut sock, named.interactive) {
        Ok(Relayed::Detached) => {
            drop(raw);
            eprintln!("\nsandbox: detached from {name}; it goes on running");
            ExitCode::SUCCESS
        }
        Ok(Relayed::Ended) => {
            drop(raw);
            wait_gone(named.monitor, Some(Duration::from_secs(10)));
            super::wait::run(g, name)
        }
        Err(e) => report::error(&format!("attach {name}: {e}")),
    }
}

enum Relayed {
    Detached,
    Ended,
}

/// Output to our stdout, our keys (without the detach keys) to the sandbox.
fn relay(sock: &mut UnixStream, keys: bool) -> std::io::Result<Relayed> {
    let mut stdin = std::io::stdin();
    let mut out = std::io::stdout();
    let mut stdin_open = keys;
    let mut held_ctrl_p = false;
    let mut buf = [0u8; 16 << 10];
    loop {
        let sock_fd = sock.try_clone()?;
        let mut fds = vec![PollFd::new(sock_fd.as_fd(), PollFlags::POLLIN)];
        if stdin_open {
            fds.push(PollFd::new(stdin.as_fd(), PollFlags::POLLIN));
        }
        match poll(&mut fds, PollTimeout::NONE) {
            Ok(_) | Err(nix::errno::Errno::EINTR) => {}
            Err(e) => return Err(e.into()),
        }
        let ready: Vec<bool> = fds.iter().map(|f| f.revents().is_some_and(|r| !r.is_empty())).collect();
        drop(fds);
        if ready[0] {
            let n = sock.read(&mut buf)?;
            if n == 0 {
                return Ok(Relayed::Ended);
            }
            out.write_all(&buf[..n])?;
            out.flush()?;
        }
        if ready.get(1).copied().unwrap_or(false) {
            let n = stdin.read(&mut buf)?;
            if n == 0 {
                stdin_open = false;
                continue;
            }
            let mut keys = Vec::with_capacity(n + 1);
            for &b in &buf[..n] {
                // A Ctrl-P is held until the next key says what it was.
                match (held_ctrl_p, b) {
                    (true, CTRL_Q) => return Ok(Relayed::Detached),
                    (true, CTRL_P) => keys.push(CTRL_P),
                    (true, _) => {
                        keys.extend([CTRL_P, b]);
                        held_ctrl_p = false;
                    }
                    (false, CTRL_P) => held_ctrl_p = true,
                    (false, _) => keys.push(b),
                }
            }
            sock.write_all(&keys)?;
        }
    }
}
