//! `pause ID` / `resume ID`: freeze and thaw every process of a running
//! container through its cgroup (the v2 freezer, or v1's).

use super::Container;
use super::state::Status;
use crate::error::{Result, SetupError};
use crate::runtime::cgroup::reopen;

pub fn pause(mut c: Container) -> Result<()> {
    expect(&c, Status::Running, "pause")?;
    reopen::set_frozen(&c.record.cgroup_dirs, true)?;
    c.record.status = Status::Paused;
    c.save()
}

pub fn resume(mut c: Container) -> Result<()> {
    expect(&c, Status::Paused, "resume")?;
    reopen::set_frozen(&c.record.cgroup_dirs, false)?;
    c.record.status = Status::Running;
    c.save()
}

fn expect(c: &Container, want: Status, verb: &str) -> Result<()> {
    let now = c.record.current_status();
    if now == want {
        return Ok(());
    }
    Err(SetupError::new(format!("{verb} container {}", c.record.id)).detail(format!(
        "it is {}, not {}",
        now.name(),
        want.name()
    )))
}
