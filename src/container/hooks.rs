//! OCI hooks that run in the runtime's namespaces: `prestart` and
//! `createRuntime` (by `create`, once the container's namespaces exist and
//! it waits at its gate), `poststart` (by `start`, after the command was
//! executed), `poststop` (by `delete`). Each gets the container's state on
//! stdin and its own args, env and timeout (killed when it passes).
//!
//! `createContainer` and `startContainer` run inside the container's mount
//! namespace before `pivot_root` / exec; this runtime does not run them and
//! refuses a spec that has them (runtime/refuse.rs).

use std::io::Write;
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use oci_spec::runtime::{Hook, Spec};

use super::state::Record;
use crate::error::{Result, SetupError};

/// Which hooks, by their name in config.json.
#[derive(Clone, Copy, Debug)]
pub enum When {
    Prestart,
    CreateRuntime,
    Poststart,
    Poststop,
}

impl When {
    fn name(self) -> &'static str {
        match self {
            When::Prestart => "prestart",
            When::CreateRuntime => "createRuntime",
            When::Poststart => "poststart",
            When::Poststop => "poststop",
        }
    }

    fn hooks(self, spec: &Spec) -> Vec<Hook> {
        let Some(h) = spec.hooks() else { return Vec::new() };
        let list = match self {
            When::Prestart => h.prestart(),
            When::CreateRuntime => h.create_runtime(),
            When::Poststart => h.poststart(),
            When::Poststop => h.poststop(),
        };
        list.clone().unwrap_or_default()
    }
}

/// `prestart` then `createRuntime`, as `create` runs them (the state says
/// `creating`, with the container's pid): a failure fails the create.
pub fn run_create_runtime(spec: &Spec, record: &Record) -> Result<()> {
    let mut state = record.oci_state();
    state["status"] = "creating".into();
    state["pid"] = record.process.pid.into();
    run(When::Prestart, spec, &state)?;
    run(When::CreateRuntime, spec, &state)
}

/// Run the hooks of `when` in order, with `state` on their stdin; the first
/// failure stops them.
pub fn run(when: When, spec: &Spec, state: &serde_json::Value) -> Result<()> {
    let state = state.to_string();
    for (i, hook) in when.hooks(spec).iter().enumerate() {
        run_one(hook, &state).map_err(|e| {
            SetupError::new(format!("run hook {}[{i}] ({})", when.name(), hook.path().display()))
                .detail(e)
                .fix("fix or remove the hook in config.json")
        })?;
    }
    Ok(())
}

fn run_one(hook: &Hook, state: &str) -> std::result::Result<(), String> {
    let mut cmd = Command::new(hook.path());
    // args[0] is the program's name, as execve's argv.
    if let Some(args) = hook.args() {
        if let Some(arg0) = args.first() {
            std::os::unix::process::CommandExt::arg0(&mut cmd, arg0);
        }
        cmd.args(args.iter().skip(1));
    }
    cmd.env_clear();
    for pair in hook.env().iter().flatten() {
        if let Some((k, v)) = pair.split_once('=') {
            cmd.env(k, v);
        }
    }
    // The state from a file and stderr into one: a hook that neither reads
    // its stdin nor stops writing can block nothing of ours. Its own
    // process group, so a timeout ends whatever it started too.
    let (stdin, stderr) = (scratch_file(state.as_bytes())?, scratch_file(b"")?);
    let stderr_copy = stderr.try_clone().map_err(|e| e.to_string())?;
    cmd.stdin(stdin).stdout(Stdio::null()).stderr(stderr_copy);
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    let mut child = cmd.spawn().map_err(|e| e.to_string())?;
    let limit = hook.timeout().map(|s| Duration::from_secs(u64::try_from(s.max(1)).unwrap_or(1)));
    let status = wait(&mut child, limit)?;
    if status.success() {
        return Ok(());
    }
    let mut text = String::new();
    let mut err = stderr;
    let _ = std::io::Seek::rewind(&mut err);
    let _ = std::io::Read::read_to_string(&mut std::io::Read::take(err, 4096), &mut text);
    let how = match (status.code(), status.signal()) {
        (Some(code), _) => format!("exited with {code}"),
        (_, Some(sig)) => format!("killed by signal {sig}"),
        _ => "failed".to_owned(),
    };
    Err(format!("{how}: {}", text.trim()))
}

/// An anonymous file (memfd) holding `bytes`, at offset 0.
fn scratch_file(bytes: &[u8]) -> std::result::Result<std::fs::File, String> {
    let fd = nix::sys::memfd::memfd_create(c"sandbox-hook", nix::sys::memfd::MFdFlags::MFD_CLOEXEC)
        .map_err(|e| e.to_string())?;
    let mut file = std::fs::File::from(fd);
    file.write_all(bytes).and_then(|()| std::io::Seek::rewind(&mut file)).map_err(|e| e.to_string())?;
    Ok(file)
}

/// Wait for the hook, killing its process group when it outlives its timeout.
fn wait(
    child: &mut std::process::Child,
    limit: Option<Duration>,
) -> std::result::Result<std::process::ExitStatus, String> {
    let Some(limit) = limit else { return child.wait().map_err(|e| e.to_string()) };
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
            return Ok(status);
        }
        if Instant::now() >= deadline {
            if let Ok(pid) = i32::try_from(child.id()) {
                let group = nix::unistd::Pid::from_raw(-pid);
                let _ = nix::sys::signal::kill(group, nix::sys::signal::Signal::SIGKILL);
            }
            let _ = child.wait();
            return Err(format!("timed out after {} s", limit.as_secs()));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}
