//! `sandbox create [--bundle DIR] [--pid-file F] [--console-socket S]
//! [--preserve-fds N] ID`: runc's create.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use sandbox::container::create::Options;
use sandbox::runtime::exit::Failure;

use crate::cli::oci::{CreateArgs, CreateOpts, Global};
use crate::cli::report;

pub fn run(g: &Global, args: &CreateArgs) -> ExitCode {
    match create(g, &args.id, &args.opts) {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => report::failure(&failure),
    }
}

/// `run ID`: create, start, and unless `detach` wait for the container's
/// process and (unless `keep`) delete the container, exiting with its status.
pub fn create_and_start(g: &Global, id: &str, opts: &CreateOpts, detach: bool, keep: bool) -> ExitCode {
    if let Err(failure) = create(g, id, opts) {
        return report::failure(&failure);
    }
    let started = super::oci::open(g, id).and_then(|c| {
        sandbox::container::start::start(c, &mut |n| report::note(&n)).map_err(|f| report::failure(&f))
    });
    if let Err(code) = started {
        let _ = super::delete::remove(g, id, true);
        return code;
    }
    if detach {
        return ExitCode::SUCCESS;
    }
    // The lock is not held while waiting: `kill` and `state` work meanwhile.
    let waited = super::oci::open(g, id).map(|c| sandbox::container::wait::wait(c.record.process.pid));
    let removed = if keep { Ok(()) } else { super::delete::remove(g, id, true) };
    match (waited, removed) {
        (Ok(Ok(code)), Ok(())) => ExitCode::from(u8::try_from(code).unwrap_or(255)),
        (Ok(Err(e)), _) => report::failure(&Failure::Setup(e)),
        (Err(code), _) | (_, Err(code)) => code,
    }
}

fn create(g: &Global, id: &str, opts: &CreateOpts) -> Result<(), Failure> {
    if opts.no_pivot {
        return Err(sandbox::error::SetupError::new("create")
            .detail("--no-pivot is not supported: sandbox always uses pivot_root")
            .fix("drop --no-pivot (it is for a root file system in a ramdisk)")
            .into());
    }
    let dir = opts.bundle.clone().unwrap_or_else(|| PathBuf::from("."));
    let mut bundle = sandbox::spec::dir::read(&dir)?;
    if g.systemd_cgroup {
        systemd_path(&mut bundle.spec)?;
    }
    let options = Options {
        pid_file: opts.pid_file.clone(),
        console_socket: opts.console_socket.clone(),
        preserve_fds: opts.preserve_fds,
    };
    sandbox::container::create::create(&g.root(), id, &dir, bundle, &options, &mut |n| report::note(&n))
}

/// `--systemd-cgroup`: the cgroupfs path systemd would give `SLICE:PREFIX:NAME`.
fn systemd_path(spec: &mut oci_spec::runtime::Spec) -> Result<(), Failure> {
    let Some(linux) = spec.linux_mut() else { return Ok(()) };
    let Some(path) = linux.cgroups_path().clone() else { return Ok(()) };
    let translated = sandbox::runtime::cgroup::systemd_path(&path.to_string_lossy())?;
    linux.set_cgroups_path(Some(Path::new(&translated).to_path_buf()));
    Ok(())
}
