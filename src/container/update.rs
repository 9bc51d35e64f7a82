//! `update`: new cgroup limits for a created, running or paused container.

use oci_spec::runtime::LinuxResources;

use super::Container;
use super::state::Status;
use crate::error::{Result, SetupError};

pub fn update(c: &Container, resources: &LinuxResources) -> Result<()> {
    let status = c.record.current_status();
    if matches!(status, Status::Stopped | Status::Creating) {
        return Err(SetupError::new(format!("update container {}", c.record.id))
            .detail(format!("it is {}", status.name())));
    }
    if c.record.cgroup_dirs.is_empty() {
        return Err(SetupError::new(format!("update container {}", c.record.id))
            .detail("it has no cgroup (it was created without limits and without a cgroup namespace)"));
    }
    crate::runtime::cgroup::reopen::update(&c.record.cgroup_dirs, resources)
}
