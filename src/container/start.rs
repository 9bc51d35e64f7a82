//! `start`: open the created container's start gate and say "go"; the
//! command is executed (runtime-spec "Start"), then `poststart` runs.

use std::os::fd::{AsFd, AsRawFd};

use nix::sys::socket::{AddressFamily, SockFlag, SockType, UnixAddr, connect, socket};

use super::Container;
use super::hooks::{self, When};
use super::state::Status;
use crate::error::SetupError;
use crate::runtime::exit::{Failure, Note, Notes};
use crate::runtime::sync::{self, Message};

/// Start container `c`. A failing `poststart` hook is a note, not a
/// failure: the command runs already (runtime-spec: "log a warning").
pub fn start(mut c: Container, notes: Notes) -> Result<(), Failure> {
    let id = c.record.id.clone();
    let status = c.record.current_status();
    if status != Status::Created {
        return Err(SetupError::new(format!("start container {id}"))
            .detail(format!("it is {}, not created", status.name()))
            .into());
    }
    let path = c.gate_path();
    let step = || format!("open the start gate of {id}");
    let sock = socket(AddressFamily::Unix, SockType::SeqPacket, SockFlag::SOCK_CLOEXEC, None)
        .map_err(|e| SetupError::sys(step(), e))?;
    let addr = UnixAddr::new(&path).map_err(|e| SetupError::sys(step(), e))?;
    connect(sock.as_raw_fd(), &addr).map_err(|e| SetupError::sys(step(), e))?;
    sync::send(sock.as_fd(), &Message::Go, None).map_err(|e| SetupError::sys(step(), e))?;
    // The gate has one caller: whatever happens next, it is spent.
    let _ = std::fs::remove_file(&path);
    // EOF: the command was executed (the connection is close-on-exec).
    let outcome = match sync::recv(sock.as_fd()) {
        Ok(Some((Message::Failed { code, error }, _))) => Err(Failure::from_code(code, error)),
        _ => Ok(()),
    };
    c.record.status = if outcome.is_ok() { Status::Running } else { Status::Stopped };
    c.save()?;
    outcome?;
    let spec = c.spec()?;
    if let Err(e) = hooks::run(When::Poststart, &spec, &c.record.oci_state()) {
        notes(Note::Cleanup(e));
    }
    Ok(())
}
