//! `sandbox exec [--process F | ARGS] [--tty] [--console-socket S]
//! [--detach] [--pid-file F] [--env K=V] [--cwd D] [--user U[:G]] ID`:
//! runc's exec.

use std::os::fd::AsFd;
use std::process::ExitCode;

use sandbox::container::exec::{self, ProcessArgs};
use sandbox::error::SetupError;
use sandbox::runtime::exit::Failure;

use crate::cli::oci::{ExecArgs, Global, open};
use crate::cli::report;

pub fn run(g: &Global, a: &ExecArgs) -> ExitCode {
    if a.apparmor.is_some() || a.process_label.is_some() {
        return report::error(
            "exec: --apparmor and --process-label are not supported: no LSM label is applied",
        );
    }
    let how = ProcessArgs {
        process_file: a.process.clone(),
        args: a.command.clone(),
        tty: a.tty,
        env: a.env.clone(),
        cwd: a.cwd.clone(),
        user: a.user.clone(),
        additional_gids: a.additional_gids.clone(),
        no_new_privs: a.no_new_privs,
        preserve_fds: a.preserve_fds,
        caps: a.caps.clone(),
    };
    let c = match open(g, &a.id) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let joined = exec::exec(c, &how, &mut |n| report::note(&n));
    let joined = match joined {
        Ok(j) => j,
        Err(failure) => return report::failure(&failure),
    };
    let handed = hand_over(a, &joined);
    if let Err(e) = handed {
        let _ = nix::sys::signal::kill(joined.pid, nix::sys::signal::Signal::SIGKILL);
        return report::failure(&Failure::Setup(e));
    }
    if a.detach {
        return ExitCode::SUCCESS;
    }
    match sandbox::runtime::join::wait(joined) {
        Ok(exit) => report::exit(exit),
        Err(failure) => report::failure(&failure),
    }
}

/// The pid file and the console socket, as `create` writes them.
fn hand_over(a: &ExecArgs, joined: &sandbox::runtime::join::Joined) -> Result<(), SetupError> {
    if let Some(path) = &a.pid_file {
        sandbox::container::state::write_atomically(path, joined.pid.as_raw().to_string().as_bytes())?;
    }
    if let (Some(path), Some(master)) = (&a.console_socket, &joined.terminal) {
        sandbox::container::create::send_console(path, master.as_fd())?;
    }
    if a.detach && a.console_socket.is_none() && joined.terminal.is_some() {
        return Err(SetupError::new("exec").detail("--tty with --detach needs --console-socket"));
    }
    Ok(())
}
