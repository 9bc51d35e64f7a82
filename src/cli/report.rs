//! The only code that prints: results to stdout, diagnostics, errors and
//! notes to stderr, each prefixed `sandbox:` as a tool's messages are.
//! With `--log FILE`, errors and notes also go to that file, as text or as
//! runc's JSON lines (`{"level","msg","time"}`), which containerd's shim
//! and podman read back to say why a runtime call failed.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::OnceLock;

use sandbox::profile::Loaded;
use sandbox::profile::diag::render;
use sandbox::runtime::exit::{Exit, Failure, Note};

/// A profile's diagnostics, with a count; returns the failure status.
pub fn diagnostics(loaded: &Loaded) -> ExitCode {
    let color = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let text = loaded.redact(&render(&loaded.sources, &loaded.diags, color));
    let count = loaded.diags.len() + loaded.unshown;
    eprint!("{text}");
    if loaded.unshown > 0 {
        eprintln!("… and {} more problems not shown; fix these first", loaded.unshown);
    }
    eprintln!("{count} problem{}", if count == 1 { "" } else { "s" });
    ExitCode::FAILURE
}

/// `check`'s line for a profile without problems.
/// A step of a pull or unpack, one line on stderr.
pub fn progress(line: &str) {
    log("info", line);
    eprintln!("sandbox: {}", printable(line));
}

pub fn checked(path: &Path) {
    println!("{}: ok", path.display());
}

/// Where `--log` sends messages, and how.
struct Log {
    path: PathBuf,
    json: bool,
}

static LOG: OnceLock<Log> = OnceLock::new();

/// Send errors and notes to `path` too (`--log`, `--log-format`).
pub fn log_to(path: PathBuf, json: bool) {
    let _ = LOG.set(Log { path, json });
}

/// One line in the `--log` file, when there is one; a log that cannot be
/// written is not a reason to fail.
fn log(level: &str, msg: &str) {
    let Some(log) = LOG.get() else { return };
    let line = if log.json {
        let time = sandbox::container::state::now_rfc3339();
        serde_json::json!({ "level": level, "msg": msg, "time": time }).to_string()
    } else {
        format!("{level}: {msg}")
    };
    let file = std::fs::OpenOptions::new().create(true).append(true).open(&log.path);
    if let Ok(mut file) = file {
        let _ = writeln!(file, "{line}");
    }
}

/// A line for `--debug`, to the log only.
pub fn debug(text: &str) {
    log("debug", text);
}

/// Something the sandbox's launch noted while it ran.
pub fn note(note: &Note) {
    log("warning", &note.to_string());
    eprintln!("sandbox: {}", printable(&note.to_string()));
}

/// A sandbox that ended: its status, and why when it is ours, not the command's.
pub fn exit(exit: Exit) -> ExitCode {
    match exit {
        Exit::TimedOut => eprintln!("sandbox: wall-clock timeout: the sandbox was killed"),
        Exit::OutOfMemory(_) => {
            eprintln!("sandbox: out of memory: the sandbox hit its memory limit and the kernel killed it");
        }
        Exit::Code(_) | Exit::ReaderGone => {}
    }
    status(exit.code())
}

/// A sandbox that did not run its command.
pub fn failure(failure: &Failure) -> ExitCode {
    log("error", &failure.error().to_string());
    eprintln!("sandbox: {}", printable(&failure.error().to_string()));
    status(failure.code())
}

/// An error of the CLI's own (writing a bundle), or of a lifecycle verb.
pub fn error(text: &str) -> ExitCode {
    log("error", text);
    eprintln!("sandbox: {}", printable(text));
    ExitCode::FAILURE
}

/// A command line clap could not parse: a failure of sandbox itself, 125
/// as docker's (`run`'s own statuses are the command's); `--help` and
/// `--version` are not failures.
pub fn usage(e: &clap::Error) -> ExitCode {
    let _ = e.print();
    if e.use_stderr() { ExitCode::from(125) } else { ExitCode::SUCCESS }
}

/// A JSON value on stdout, pretty, as runc prints `state`.
pub fn json(value: &serde_json::Value) -> ExitCode {
    let mut text = serde_json::to_string_pretty(value).expect("JSON values serialize");
    text.push('\n');
    out(&text)
}

/// Write a result to stdout; a closed pipe (`| head`) is not an error.
pub fn out(text: &str) -> ExitCode {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => error(&format!("write to stdout: {e}")),
    }
}

/// Statuses are 0..=255; anything else is reported as a setup failure.
fn status(code: i32) -> ExitCode {
    ExitCode::from(u8::try_from(code).unwrap_or(125))
}

/// `text` with its control characters (but line breaks and tabs) escaped:
/// messages quote what images, registries and sandboxed commands said, and
/// those must not drive the caller's terminal (an escape sequence in a tag
/// name, say).
fn printable(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
        return std::borrow::Cow::Borrowed(text);
    }
    let escape = |c: char| {
        if c.is_control() && c != '\n' && c != '\t' { c.escape_default().to_string() } else { c.to_string() }
    };
    std::borrow::Cow::Owned(text.chars().map(escape).collect())
}

#[cfg(test)]
mod tests {
    #[test]
    fn messages_cannot_drive_the_terminal() {
        assert_eq!(super::printable("tag \u{1b}[2J\u{7}x\nnext"), "tag \\u{1b}[2J\\u{7}x\nnext");
        assert!(matches!(super::printable("plain\ttext"), std::borrow::Cow::Borrowed(_)));
    }
}
