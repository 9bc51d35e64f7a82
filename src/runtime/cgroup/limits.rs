//! The OCI resources the drivers apply, as a neutral list of settings, and
//! the control files each becomes on v1 and on v2 (with runc's conversions,
//! so a spec means the same here as under runc and crun).

use oci_spec::runtime::{LinuxBlockIo, LinuxCpu, LinuxMemory, LinuxResources};

use crate::error::{Result, SetupError};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Controller {
    Memory,
    Cpu,
    Pids,
    Io,
}

impl Controller {
    pub fn v2_name(self) -> &'static str {
        match self {
            Controller::Memory => "memory",
            Controller::Cpu => "cpu",
            Controller::Pids => "pids",
            Controller::Io => "io",
        }
    }

    pub fn v1_name(self) -> &'static str {
        match self {
            Controller::Io => "blkio",
            other => other.v2_name(),
        }
    }
}

/// One limit to apply. `None` values mean "unlimited" (OCI's -1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Setting {
    /// Bytes.
    Memory(Option<u64>),
    /// OCI's memory+swap total, with the memory limit it goes with.
    MemorySwap {
        total: Option<u64>,
        memory: Option<u64>,
    },
    /// Microseconds of CPU time per period (`None` period: 100 ms).
    CpuQuota {
        quota: Option<u64>,
        period: Option<u64>,
    },
    /// OCI cpu.shares, the v1 unit (2..=262144).
    CpuShares(u64),
    Pids(Option<u64>),
    /// OCI blockIO weight, the v1 unit (10..=1000).
    IoWeight(u16),
}

/// A control-file write: the first of `choices` whose file exists gets its value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Write {
    pub choices: Vec<(&'static str, String)>,
}

/// What the spec asks of the cgroup drivers.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Request {
    pub settings: Vec<Setting>,
    /// Resources the spec sets that these drivers do not implement, one human line each.
    pub unsupported: Vec<String>,
}

/// Read the limits out of the spec's resources. Values that no cgroup could
/// take (a swap limit below the memory limit, a weight out of range) are errors.
pub fn request(resources: Option<&LinuxResources>) -> Result<Request> {
    let mut req = Request::default();
    let Some(r) = resources else { return Ok(req) };
    if let Some(m) = r.memory() {
        req.memory(m)?;
    }
    if let Some(c) = r.cpu() {
        req.cpu(c)?;
    }
    if let Some(p) = r.pids() {
        match p.limit() {
            0 => {}
            n => req.settings.push(Setting::Pids(u64::try_from(n).ok())),
        }
    }
    if let Some(b) = r.block_io() {
        req.block_io(b)?;
    }
    req.unsupported_if("hugepage limits", r.hugepage_limits().as_ref().map(Vec::len).filter(|n| *n != 0));
    req.unsupported_if("network class/priorities", r.network().as_ref().map(|_| "set"));
    req.unsupported_if(
        "rdma limits",
        r.rdma().as_ref().map(std::collections::HashMap::len).filter(|n| *n != 0),
    );
    req.unsupported_if(
        "unified (raw cgroup v2) settings",
        r.unified().as_ref().map(std::collections::HashMap::len).filter(|n| *n != 0),
    );
    // `devices` is not a limit here: what the sandbox can open is decided by
    // the /dev the runtime builds (and no CAP_MKNOD), not by a device cgroup.
    Ok(req)
}

impl Request {
    fn memory(&mut self, m: &LinuxMemory) -> Result<()> {
        let limit = amount("memory.limit", m.limit())?;
        if let Some(limit) = limit {
            self.settings.push(Setting::Memory(limit));
        }
        if let Some(total) = amount("memory.swap", m.swap())? {
            let memory = limit.flatten();
            if total.is_some_and(|t| memory.is_none_or(|mem| t < mem)) {
                return Err(invalid("memory.swap", "memory+swap needs a memory limit no larger than it"));
            }
            self.settings.push(Setting::MemorySwap { total, memory });
        }
        self.unsupported_if("memory reservation", m.reservation().filter(|v| *v != 0));
        self.unsupported_if("kernel memory limit", m.kernel().filter(|v| *v != 0));
        self.unsupported_if("kernel TCP memory limit", m.kernel_tcp().filter(|v| *v != 0));
        self.unsupported_if("memory swappiness", m.swappiness());
        self.unsupported_if("disabling the OOM killer", m.disable_oom_killer().filter(|d| *d));
        Ok(())
    }

    fn cpu(&mut self, c: &LinuxCpu) -> Result<()> {
        let quota = amount("cpu.quota", c.quota())?;
        let period = c.period().filter(|p| *p != 0);
        if quota.is_some() || period.is_some() {
            self.settings.push(Setting::CpuQuota { quota: quota.flatten(), period });
        }
        if let Some(shares) = c.shares().filter(|s| *s != 0) {
            self.settings.push(Setting::CpuShares(shares.clamp(2, 262_144)));
        }
        self.unsupported_if("cpu idle", c.idle().filter(|v| *v != 0));
        self.unsupported_if("cpu burst", c.burst().filter(|v| *v != 0));
        self.unsupported_if("realtime cpu runtime", c.realtime_runtime().filter(|v| *v != 0));
        self.unsupported_if("realtime cpu period", c.realtime_period().filter(|v| *v != 0));
        self.unsupported_if("cpuset cpus", c.cpus().as_ref().filter(|s| !s.is_empty()));
        self.unsupported_if("cpuset mems", c.mems().as_ref().filter(|s| !s.is_empty()));
        Ok(())
    }

    fn block_io(&mut self, b: &LinuxBlockIo) -> Result<()> {
        if let Some(w) = b.weight().filter(|w| *w != 0) {
            if !(10..=1000).contains(&w) {
                return Err(invalid("blockIO.weight", &format!("{w} is outside 10..=1000")));
            }
            self.settings.push(Setting::IoWeight(w));
        }
        self.unsupported_if("block I/O leaf weight", b.leaf_weight().filter(|v| *v != 0));
        let per_device = [
            ("block I/O per-device weights", b.weight_device().as_ref().map(Vec::len)),
            ("block I/O read bps throttles", b.throttle_read_bps_device().as_ref().map(Vec::len)),
            ("block I/O write bps throttles", b.throttle_write_bps_device().as_ref().map(Vec::len)),
            ("block I/O read iops throttles", b.throttle_read_iops_device().as_ref().map(Vec::len)),
            ("block I/O write iops throttles", b.throttle_write_iops_device().as_ref().map(Vec::len)),
        ];
        for (what, n) in per_device {
            self.unsupported_if(what, n.filter(|n| *n != 0));
        }
        Ok(())
    }
}

impl Request {
    fn unsupported_if(&mut self, what: &str, value: Option<impl std::fmt::Debug>) {
        if let Some(v) = value {
            self.unsupported.push(format!("{what} ({v:?}): not supported by sandbox's cgroup drivers"));
        }
    }
}

/// OCI amounts: unset or 0 → `None`, -1 → `Some(None)` (unlimited), n > 0 → `Some(Some(n))`.
#[allow(clippy::option_option)] // exactly the three states OCI gives these fields
fn amount(field: &str, value: Option<i64>) -> Result<Option<Option<u64>>> {
    match value {
        None | Some(0) => Ok(None),
        Some(-1) => Ok(Some(None)),
        Some(n) => {
            u64::try_from(n).map(|n| Some(Some(n))).map_err(|_| invalid(field, &format!("{n} is negative")))
        }
    }
}

fn invalid(field: &str, why: &str) -> SetupError {
    SetupError::new(format!("read linux.resources.{field}")).detail(why.to_owned())
}

impl Setting {
    pub fn controller(self) -> Controller {
        match self {
            Setting::Memory(_) | Setting::MemorySwap { .. } => Controller::Memory,
            Setting::CpuQuota { .. } | Setting::CpuShares(_) => Controller::Cpu,
            Setting::Pids(_) => Controller::Pids,
            Setting::IoWeight(_) => Controller::Io,
        }
    }

    /// `memory limit (64 MiB)`: how the limit is named in errors and skip lines.
    pub fn describe(self) -> String {
        match self {
            Setting::Memory(b) => format!("memory limit ({})", human_bytes(b)),
            Setting::MemorySwap { total, .. } => format!("memory+swap limit ({})", human_bytes(total)),
            Setting::CpuQuota { quota, period } => format!(
                "cpu quota ({} µs per {} µs)",
                quota.map_or_else(|| "unlimited".to_owned(), |q| q.to_string()),
                period.unwrap_or(DEFAULT_PERIOD)
            ),
            Setting::CpuShares(s) => format!("cpu shares ({s})"),
            Setting::Pids(n) => {
                format!("pids limit ({})", n.map_or_else(|| "unlimited".to_owned(), |n| n.to_string()))
            }
            Setting::IoWeight(w) => format!("block I/O weight ({w})"),
        }
    }

    /// The cgroup v2 writes, in order.
    pub fn v2_writes(self) -> Vec<Write> {
        let max = |v: Option<u64>| v.map_or_else(|| "max".to_owned(), |n| n.to_string());
        match self {
            Setting::Memory(b) => vec![write("memory.max", max(b))],
            Setting::MemorySwap { total, memory } => {
                // OCI counts memory+swap; v2 counts swap alone (validated: total ≥ memory).
                let swap = total.map(|t| t - memory.unwrap_or(0));
                vec![write("memory.swap.max", max(swap))]
            }
            Setting::CpuQuota { quota, period } => {
                vec![write("cpu.max", format!("{} {}", max(quota), period.unwrap_or(DEFAULT_PERIOD)))]
            }
            Setting::CpuShares(s) => vec![write("cpu.weight", shares_to_weight(s).to_string())],
            Setting::Pids(n) => vec![write("pids.max", max(n))],
            // BFQ takes the v1 unit; io.weight (iocost) its own range.
            Setting::IoWeight(w) => vec![Write {
                choices: vec![
                    ("io.bfq.weight", w.to_string()),
                    ("io.weight", blkio_to_io_weight(w).to_string()),
                ],
            }],
        }
    }

    /// The cgroup v1 writes, in order (memory before memory+swap, period before quota).
    pub fn v1_writes(self) -> Vec<Write> {
        let unlimited = |v: Option<u64>| v.map_or_else(|| "-1".to_owned(), |n| n.to_string());
        match self {
            Setting::Memory(b) => vec![write("memory.limit_in_bytes", unlimited(b))],
            Setting::MemorySwap { total, .. } => vec![write("memory.memsw.limit_in_bytes", unlimited(total))],
            Setting::CpuQuota { quota, period } => {
                let mut writes: Vec<Write> =
                    period.map(|p| write("cpu.cfs_period_us", p.to_string())).into_iter().collect();
                writes.push(write("cpu.cfs_quota_us", unlimited(quota)));
                writes
            }
            Setting::CpuShares(s) => vec![write("cpu.shares", s.to_string())],
            Setting::Pids(n) => {
                vec![write("pids.max", n.map_or_else(|| "max".to_owned(), |n| n.to_string()))]
            }
            // blkio.weight went with CFQ; BFQ's file takes the same unit.
            Setting::IoWeight(w) => {
                vec![Write {
                    choices: vec![("blkio.weight", w.to_string()), ("blkio.bfq.weight", w.to_string())],
                }]
            }
        }
    }
}

const DEFAULT_PERIOD: u64 = 100_000;

fn write(file: &'static str, value: String) -> Write {
    Write { choices: vec![(file, value)] }
}

/// runc's cpu.shares (2..=262144) → cpu.weight (1..=10000).
pub fn shares_to_weight(shares: u64) -> u64 {
    1 + ((shares.clamp(2, 262_144) - 2) * 9999) / 262_142
}

/// runc's blkio weight (10..=1000) → io.weight (1..=10000).
pub fn blkio_to_io_weight(weight: u16) -> u64 {
    1 + (u64::from(weight.clamp(10, 1000)) - 10) * 9999 / 990
}

/// `64 MiB`, `2 GiB`, `1000 bytes`, `unlimited`.
fn human_bytes(bytes: Option<u64>) -> String {
    let Some(b) = bytes else { return "unlimited".to_owned() };
    for (unit, size) in [("GiB", 1u64 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)] {
        if b >= size && b % size == 0 {
            return format!("{} {unit}", b / size);
        }
    }
    format!("{b} bytes")
}
