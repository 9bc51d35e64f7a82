//! `delete [--force] ID`: remove a stopped (or created) container: its
//! processes, its cgroups, its directory; then `poststop` (runtime-spec
//! "Delete"). `--force` also takes a running or paused one.

use super::Container;
use super::hooks::{self, When};
use super::state::Status;
use crate::error::SetupError;
use crate::runtime::exit::{Failure, Note, Notes};

pub fn delete(c: Container, force: bool, notes: Notes) -> Result<(), Failure> {
    let id = c.record.id.clone();
    let status = c.record.current_status();
    // runc deletes a created container without --force: its command never ran.
    if matches!(status, Status::Running | Status::Paused) && !force {
        return Err(SetupError::new(format!("delete container {id}"))
            .detail(format!("it is {}", status.name()))
            .fix(format!("stop it first (`sandbox kill {id} KILL`), or use --force"))
            .into());
    }
    if status == Status::Creating {
        return Err(SetupError::new(format!("delete container {id}"))
            .detail("its create is still running")
            .fix("wait for it, or kill that create first")
            .into());
    }
    // Without a cgroup (rootless, no delegation) its pid 1 is all there is:
    // the kernel ends its pid namespace with it.
    if c.record.process.alive() {
        let _ = super::kill::kill(&c, libc::SIGKILL, false);
    }
    crate::runtime::cgroup::reopen::destroy(&c.record.cgroup_dirs)?;
    let spec = c.spec();
    let record = c.record.clone();
    c.remove_dir()?;
    // Poststop failures are warnings: the container is gone already.
    if let Ok(spec) = spec {
        let mut state = record.oci_state();
        state["status"] = "stopped".into();
        if let Err(e) = hooks::run(When::Poststop, &spec, &state) {
            notes(Note::Cleanup(e));
        }
    }
    Ok(())
}
