//! Tier 3: the terminal, under tmux: a pty inside, resize propagation, and
//! the caller's termios the same afterwards, also when the command is
//! `SIGKILLed`.

mod common;

use std::time::Duration;

use common::e2e::{skip_unless, skip_unless_root};
use common::tmux::{self, Tmux};

#[test]
fn a_pty_inside_resizes_and_the_callers_terminal_is_restored() {
    if skip_unless_root() || skip_unless(tmux::installed(), "tmux is not installed") {
        return;
    }
    // terminal = "auto" (the default): stdin is tmux's terminal, so a pty.
    let p = common::e2e::profile("[rootfs]\nlayers = [\"{ROOTFS}\"]\n");
    let dir = common::e2e::writable_tempdir("sandbox-tty-");
    let log = dir.path().join("log");
    let tmux = Tmux::new("terminal");
    let bin = common::e2e::launcher().join(" ");
    // Inside: the tty name and size, wait for the resize, the size again.
    let inner = "tty; stty size; sleep 1; stty size";
    let script = format!(
        "stty -g > {d}/before; {bin} run {p} -- /bin/sh -c '{inner}' > {d}/inner; \
         {bin} run {p} -- /bin/sh -c 'kill -9 $$'; echo killed=$? >> {d}/inner; \
         stty -g > {d}/after; echo done >> {log}",
        d = dir.path().display(),
        p = p.path.display(),
        log = log.display(),
    );
    tmux.start(100, 30, &script);
    std::thread::sleep(Duration::from_millis(500));
    tmux.cmd(&["resize-window", "-x", "80", "-y", "20"]);
    tmux::wait_for_file(&log, "done\n", Duration::from_secs(20));
    let inner = std::fs::read_to_string(dir.path().join("inner")).unwrap();
    println!("{inner}");
    let lines: Vec<&str> = inner.lines().map(str::trim).collect();
    assert!(lines[0].starts_with("/dev/pts/"), "a pty from the sandbox's devpts: {inner}");
    assert_eq!(lines[1], "30 100", "the caller's size: {inner}");
    assert_eq!(lines[2], "20 80", "resize propagates: {inner}");
    assert_eq!(lines[3], "killed=137", "{inner}");
    let before = std::fs::read_to_string(dir.path().join("before")).unwrap();
    let after = std::fs::read_to_string(dir.path().join("after")).unwrap();
    assert_eq!(before, after, "termios restored");
}
