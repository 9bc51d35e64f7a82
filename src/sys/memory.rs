//! This process's own memory: the argument and environment strings.

/// Where this process's argument and environment strings live (the memory
/// /proc/PID/cmdline and /proc/PID/environ show), from /proc/self/stat.
#[derive(Clone, Copy, Debug, Default)]
pub struct ArgsRegion {
    start: usize,
    end: usize,
}

impl ArgsRegion {
    /// Read it while the host's /proc is still mounted.
    pub fn of_self() -> Option<ArgsRegion> {
        let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
        // Fields after the command name, which may hold spaces and parens.
        let rest = &stat[stat.rfind(')')? + 2..];
        let fields: Vec<usize> = rest.split(' ').map(|f| f.trim().parse().unwrap_or(0)).collect();
        // arg_start, arg_end, env_start, env_end are fields 48 to 51 (the
        // first of `rest` is field 3).
        let (first, last) = (*fields.get(45)?, *fields.get(48)?);
        (first > 0 && last > first && last - first < 1 << 24)
            .then_some(ArgsRegion { start: first, end: last })
    }

    /// Overwrite the region with `label` and zeros: /proc/PID/cmdline then
    /// shows `label`, and the caller's environment is gone from memory.
    ///
    /// # Safety
    ///
    /// The process must be single-threaded and must never read its
    /// `argv`/`environ` strings again (std's `env::args` included): they
    /// are overwritten in place.
    pub unsafe fn scrub(self, label: &[u8]) {
        let len = self.end - self.start;
        let keep = label.len().min(len.saturating_sub(1));
        // SAFETY: [start, end) is this process's own argument and
        // environment area on its initial stack, mapped writable by the
        // kernel at exec and never unmapped; the caller guarantees no other
        // thread and no later reader (see # Safety).
        unsafe {
            let base = self.start as *mut u8;
            std::ptr::copy_nonoverlapping(label.as_ptr(), base, keep);
            std::ptr::write_bytes(base.add(keep), 0, len - keep);
        }
    }
}
