//! `create`: set the container up to the command's exec, stopped at its
//! start gate, record it, and return (runtime-spec "Create").

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::sys::socket::{
    AddressFamily, Backlog, ControlMessage, MsgFlags, SockFlag, SockType, UnixAddr, bind, connect, listen,
    sendmsg, socket,
};

use super::state::{Proc, Record, Status, now_rfc3339, write_atomically};
use super::{Root, hooks};
use crate::error::{Result, SetupError};
use crate::runtime::exit::{Failure, Notes};
use crate::runtime::launch::{self, Created};
use crate::spec::Bundle;

/// What `create` is told besides the bundle (runc's flags).
#[derive(Debug, Default)]
pub struct Options {
    pub pid_file: Option<PathBuf>,
    pub console_socket: Option<PathBuf>,
    /// Descriptors 3 .. 3+N of the caller pass into the container.
    pub preserve_fds: u32,
}

/// The OCI runtime-spec versions we read: 1.0.x to 1.3.x.
pub fn check_version(version: &str) -> Result<()> {
    let mut parts = version.split('.');
    let ok = parts.next() == Some("1") && parts.next().is_some_and(|m| matches!(m, "0" | "1" | "2" | "3"));
    if ok {
        return Ok(());
    }
    Err(SetupError::new("read config.json")
        .detail(format!("ociVersion {version:?} is not supported"))
        .fix("sandbox reads runtime-spec 1.0 to 1.3"))
}

/// Create container `id` from `bundle` (read from `bundle_dir`).
pub fn create(
    root: &Root,
    id: &str,
    bundle_dir: &Path,
    mut bundle: Bundle,
    opts: &Options,
    notes: Notes,
) -> std::result::Result<(), Failure> {
    check_version(bundle.spec.version())?;
    let terminal =
        bundle.spec.process().as_ref().and_then(oci_spec::runtime::Process::terminal).unwrap_or(false);
    if terminal && opts.console_socket.is_none() {
        return Err(SetupError::new(format!("create container {id}"))
            .detail("process.terminal is true but no --console-socket was given")
            .fix("pass --console-socket SOCK, or set process.terminal to false")
            .into());
    }
    id.clone_into(&mut bundle.name);
    let (dir, lock) = root.make(id)?;
    let made = (|| {
        let mut record = first_record(id, bundle_dir, &bundle);
        record.write(&dir)?;
        write_atomically(&dir.join("config.json"), crate::spec::to_json(&bundle.spec).as_bytes())?;
        let gate = listen_at(&dir.join("start.sock"))?;
        let mut ready = |created: &Created| -> Result<()> {
            record.status = Status::Created;
            record.process = Proc::of(created.pid.as_raw()).unwrap_or_default();
            record.creator = Proc::default();
            record.cgroup_dirs.clone_from(&created.cgroup_dirs);
            record.write(&dir)?;
            hooks::run_create_runtime(&bundle.spec, &record)?;
            if let Some(path) = &opts.pid_file {
                write_atomically(path, created.pid.as_raw().to_string().as_bytes())?;
            }
            match (&opts.console_socket, &created.terminal) {
                (Some(path), Some(master)) => send_console(path, master.as_fd()),
                _ => Ok(()),
            }
        };
        launch::create(&bundle, gate.as_fd(), opts.preserve_fds, notes, &mut ready)?;
        Ok::<(), Failure>(())
    })();
    if made.is_err() {
        let _ = std::fs::remove_dir_all(&dir);
    }
    drop(lock);
    made
}

pub(crate) fn first_record(id: &str, bundle_dir: &Path, bundle: &Bundle) -> Record {
    let bundle_dir = std::fs::canonicalize(bundle_dir).unwrap_or_else(|_| bundle_dir.to_path_buf());
    let rootfs = bundle.spec.root().as_ref().map(|r| bundle_dir.join(r.path())).unwrap_or_default();
    Record {
        id: id.to_owned(),
        oci_version: bundle.spec.version().clone(),
        status: Status::Creating,
        process: Proc::default(),
        creator: Proc::of(i32::try_from(std::process::id()).expect("pids fit in i32")).unwrap_or_default(),
        bundle: bundle_dir,
        rootfs,
        annotations: bundle.spec.annotations().clone().unwrap_or_default().into_iter().collect(),
        created: now_rfc3339(),
        owner: nix::unistd::User::from_uid(nix::unistd::geteuid())
            .ok()
            .flatten()
            .map(|u| u.name)
            .unwrap_or_default(),
        cgroup_dirs: Vec::new(),
        namespaces: crate::runtime::join::Namespaces::default(),
        sandbox: None,
    }
}

/// The start gate: a listening `SOCK_SEQPACKET` socket at `path`.
fn listen_at(path: &Path) -> Result<OwnedFd> {
    let step = || format!("make the start gate {}", path.display());
    let sock = socket(AddressFamily::Unix, SockType::SeqPacket, SockFlag::SOCK_CLOEXEC, None)
        .map_err(|e| SetupError::sys(step(), e))?;
    let addr = UnixAddr::new(path).map_err(|e| SetupError::sys(step(), e))?;
    bind(sock.as_raw_fd(), &addr).map_err(|e| SetupError::sys(step(), e))?;
    listen(&sock, Backlog::new(4).expect("a small backlog")).map_err(|e| SetupError::sys(step(), e))?;
    Ok(sock)
}

/// Hand the terminal's master side to the caller's console socket, as runc
/// does (containerd's shim and conmon read it with `SCM_RIGHTS`).
pub fn send_console(path: &Path, master: BorrowedFd<'_>) -> Result<()> {
    let step = || format!("send the terminal to the console socket {}", path.display());
    let sock = socket(AddressFamily::Unix, SockType::Stream, SockFlag::SOCK_CLOEXEC, None)
        .map_err(|e| SetupError::sys(step(), e))?;
    let addr = UnixAddr::new(path).map_err(|e| SetupError::sys(step(), e))?;
    connect(sock.as_raw_fd(), &addr).map_err(|e| SetupError::sys(step(), e))?;
    let fds = [master.as_raw_fd()];
    let name = b"/dev/ptmx";
    sendmsg::<()>(
        sock.as_raw_fd(),
        &[std::io::IoSlice::new(name)],
        &[ControlMessage::ScmRights(&fds)],
        MsgFlags::empty(),
        None,
    )
    .map(drop)
    .map_err(|e| SetupError::sys(step(), e))
}

#[cfg(test)]
mod tests {
    #[test]
    fn runtime_spec_1_0_to_1_3_is_read() {
        for v in ["1.0.0", "1.0.2-dev", "1.1.0", "1.2.1", "1.3.0"] {
            assert!(super::check_version(v).is_ok(), "{v}");
        }
        for v in ["0.6.0", "1.4.0", "2.0.0", "", "1"] {
            assert!(super::check_version(v).is_err(), "{v}");
        }
    }
}
