//! `run -d`: the sandbox in the background, kept by a monitor process of
//! its own (as conmon keeps a podman container), no daemon.
//!
//! ```text
//! sandbox run -d P          registers NAME, starts the monitor, prints
//!  │                        NAME once the monitor reports the command runs
//!  └─ sandbox monitor NAME  own session; the sandbox's launcher (launch::run,
//!     │                     with its watcher): records start and end
//!     ├─ sandbox monitor --keep-log NAME    the output → log, attach.sock
//!     └─ the sandbox        stdout/stderr → the keeper; stdin ← attach (-i)
//! ```
//!
//! The keeper is a process of its own so the log outlives the monitor. A
//! monitor killed mid-run is the launcher killed: its watcher kills the
//! sandbox and removes its cgroups, and `ps` shows the sandbox as lost.

use std::io::{Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::{Command, ExitCode, Stdio};

use nix::fcntl::OFlag;
use sandbox::container::named::{self, Named};
use sandbox::container::{Root, log};
use sandbox::spec::Bundle;

use crate::cli::report;

/// What the monitor reports once the command runs.
const STARTED: &str = "started\n";

/// `run -d`: register `name`, start its monitor, print the name once it runs.
pub fn start(root: &Root, name: &str, bundle: &Bundle, named: Named) -> ExitCode {
    if let Err(e) = named::register(root, name, bundle, named) {
        return failed(125, &e.to_string());
    }
    let spawned = pipe().and_then(|(mut from, to)| {
        let child = monitor_command(root, name).stdout(Stdio::from(to)).stderr(Stdio::null()).spawn();
        child.map_err(|e| format!("start the monitor of sandbox {name}: {e}"))?;
        let mut said = String::new();
        let _ = from.read_to_string(&mut said);
        Ok(said)
    });
    let said = spawned.unwrap_or_else(|e| format!("125\n{e}"));
    if said == STARTED {
        return report::out(&format!("{name}\n"));
    }
    // A failure before the command ran: its status, then its message. The
    // monitor removed what it could; whatever it could not goes now.
    let _ = super::rm::remove(root, name, true);
    match said.split_once('\n').and_then(|(code, msg)| Some((code.parse::<u8>().ok()?, msg))) {
        Some((code, msg)) => failed(code, msg),
        None => failed(125, &format!("the monitor of sandbox {name} ended before the sandbox started")),
    }
}

fn failed(code: u8, text: &str) -> ExitCode {
    report::error(text.trim_end());
    ExitCode::from(code)
}

/// `sandbox --root ROOT monitor NAME`: its command line names the sandbox.
fn monitor_command(root: &Root, name: &str) -> Command {
    let exe = std::env::current_exe().unwrap_or_else(|_| "/proc/self/exe".into());
    let mut cmd = Command::new(exe);
    cmd.arg0("sandbox").arg("--root").arg(&root.dir).arg("monitor").arg(name);
    cmd.stdin(Stdio::null());
    cmd
}

fn pipe() -> Result<(std::fs::File, OwnedFd), String> {
    let (r, w) = nix::unistd::pipe2(OFlag::O_CLOEXEC).map_err(|e| format!("pipe: {e}"))?;
    Ok((std::fs::File::from(r), w))
}

/// The hidden `monitor` verb: keep the log of `name` (`--keep-log`), or be
/// its monitor. Its stdout is the report pipe of `run -d`.
pub fn run(root: &Root, name: &str, keep_log: bool) -> ExitCode {
    if keep_log {
        let dir = root.dir.join(name);
        return match log::keep(&dir, std::io::stdin().as_fd(), Some(std::io::stdout().as_fd())) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => report::error(&e.to_string()),
        };
    }
    // Its own session: the caller's terminal closing, or its ^C, is not ours.
    let _ = nix::unistd::setsid();
    let report = match std::io::stdout().as_fd().try_clone_to_owned() {
        Ok(fd) => std::fs::File::from(fd),
        Err(e) => return report::error(&format!("monitor: dup stdout: {e}")),
    };
    let _ = nix::fcntl::fcntl(report.as_fd(), nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::FD_CLOEXEC));
    monitor(root, name, report);
    ExitCode::SUCCESS
}

fn monitor(root: &Root, name: &str, report: std::fs::File) {
    let mut report = Some(report);
    let tell = |report: &mut Option<std::fs::File>, text: &str| {
        if let Some(mut r) = report.take() {
            let _ = r.write_all(text.as_bytes());
        }
    };
    // A failure before the launch: `run -d` reports it and removes the sandbox.
    let (bundle, named) = match named::take_over(root, name) {
        Ok(taken) => taken,
        Err(e) => return tell(&mut report, &format!("125\n{e}\n")),
    };
    // Its image layers stay held while it runs: `prune` leaves them.
    let _held = match held_layers(&bundle) {
        Ok(h) => h,
        Err(e) => return tell(&mut report, &format!("125\n{e}\n")),
    };
    let keeper = match streams(root, name, named.interactive) {
        Ok(k) => k,
        Err(e) => return tell(&mut report, &format!("125\n{e}\n")),
    };
    let mut on_start = |launched: &sandbox::runtime::launch::Launched| {
        named::started(root, name, launched)?;
        tell(&mut report, STARTED);
        Ok(())
    };
    let outcome = sandbox::runtime::launch::run(&bundle, &mut |note| report::note(&note), &mut on_start);
    match &outcome {
        Err(f) => tell(&mut report, &format!("{}\n{}\n", f.code(), f.error())),
        // Said in the log, as `sandbox run` says it on stderr.
        Ok(exit) => drop(report::exit(*exit)),
    }
    // The keeper ends once every writer of the output has gone: the
    // sandbox has, and now our stdout and stderr.
    if let Ok(null) = std::fs::OpenOptions::new().read(true).write(true).open("/dev/null") {
        let _ = nix::unistd::dup2_stdin(&null);
        let _ = nix::unistd::dup2_stdout(&null);
        let _ = nix::unistd::dup2_stderr(&null);
    }
    let mut keeper = keeper;
    let _ = keeper.wait();
    // Nobody is left to tell of a failure here: `ps` shows the sandbox as
    // lost, and `rm -f` removes it.
    let _ = named::ended(root, name, &outcome);
}

/// Start the keeper and make our standard streams the sandbox's: stdout
/// and stderr into the keeper, stdin from it (`attach`) or /dev/null.
fn streams(root: &Root, name: &str, interactive: bool) -> Result<std::process::Child, String> {
    let (out_r, out_w) = nix::unistd::pipe2(OFlag::O_CLOEXEC).map_err(|e| format!("pipe: {e}"))?;
    let (in_r, in_w) = if interactive {
        let (r, w) = nix::unistd::pipe2(OFlag::O_CLOEXEC).map_err(|e| format!("pipe: {e}"))?;
        (Some(r), Stdio::from(w))
    } else {
        (None, Stdio::null())
    };
    let keeper = monitor_command(root, name)
        .arg("--keep-log")
        .stdin(Stdio::from(out_r))
        .stdout(in_w)
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("start the log keeper of sandbox {name}: {e}"))?;
    let stdin = match in_r {
        Some(r) => r,
        None => OwnedFd::from(std::fs::File::open("/dev/null").map_err(|e| format!("open /dev/null: {e}"))?),
    };
    nix::unistd::dup2_stdin(&stdin).map_err(|e| format!("dup2 stdin: {e}"))?;
    nix::unistd::dup2_stdout(&out_w).map_err(|e| format!("dup2 stdout: {e}"))?;
    nix::unistd::dup2_stderr(&out_w).map_err(|e| format!("dup2 stderr: {e}"))?;
    Ok(keeper)
}

/// Shared locks on the bundle's layers that are in the image store.
fn held_layers(
    bundle: &sandbox::spec::Bundle,
) -> sandbox::error::Result<Vec<nix::fcntl::Flock<std::os::fd::OwnedFd>>> {
    use sandbox::image::store::Store;
    use sandbox::spec::extension::LayerSpec;
    let dirs: Vec<std::path::PathBuf> = bundle
        .ext
        .layers
        .iter()
        .filter_map(|l| if let LayerSpec::Dir(d) = l { Some(std::path::PathBuf::from(d)) } else { None })
        .collect();
    let root = Store::default_root();
    if !dirs.iter().any(|d| d.starts_with(&root)) {
        return Ok(Vec::new());
    }
    let store = Store::open(&root)?;
    // Under the store's shared lock, as a resolve takes them: prune holds
    // it exclusively while it decides what nothing holds.
    let _shared = store.lock(false)?;
    store.hold(&dirs)
}
