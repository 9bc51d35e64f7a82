#!/usr/bin/env bash
# Startup cost of `/bin/true` in a busybox rootfs, sandbox against bwrap,
# crun and runc, all measured in ONE hyperfine run so that the ratios are
# fair (DESIGN.md §7: ratios, never a single absolute time). Needs root.
#
#   bench/startup.sh            (RUNS=300 by default; RUNS=50 for a quick look)
#
# Scenarios:
#   1. isolation like bwrap: user/mount/pid/ipc/uts/net/cgroup namespaces, a
#      read-only root, /proc, /dev, a tmpfs /tmp (bench/profiles/bwrap-like.toml)
#      against `bwrap --unshare-all --die-with-parent --ro-bind ROOT / ...`;
#   2. a full profile: overlay root with a tmpfs upper, no capabilities,
#      no_new_privs, the default seccomp filter, Landlock, memory and pids
#      limits in a cgroup (bench/profiles/full.toml) against crun and runc
#      running the OCI bundle `sandbox bundle` makes of the same profile;
#   3. both again as an unprivileged user (nobody), against rootless bwrap.
#      No cgroup is delegated to that user here, so the rootless full
#      profile runs its limits in best-effort mode (and skips them).
# Prints a table (median, min, max, mean CPU = user + sys, peak RSS from GNU
# time), the ratios, the stripped binary's size and `sandbox check` times.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
runs=${RUNS:-300}
# shellcheck source=lib.sh
. "$repo/bench/lib.sh"

need=()
for tool in hyperfine:hyperfine bwrap:bubblewrap runc:runc crun:crun busybox:busybox-static \
    /usr/bin/time:time python3:python3 setpriv:util-linux; do
    command -v "${tool%%:*}" >/dev/null || need+=("${tool#*:}")
done
if ((${#need[@]})); then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
cargo build --release --locked -q

work=$(mktemp -d /tmp/sandbox-bench.XXXXXX)
chmod 755 "$work"
cleanup() {
    runc delete -f bench-runc >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT
# What the unprivileged user runs must be outside a possibly private checkout.
release=target/x86_64-unknown-linux-gnu/release/sandbox  # .cargo/config.toml
cp "$release" "$work/sandbox"
strip -o "$work/sandbox.stripped" "$release"
root=$work/root
mkdir -p "$root"/{bin,proc,dev,sys,tmp,etc}
cp "$(command -v busybox)" "$root/bin/busybox"
for applet in sh true; do ln -s busybox "$root/bin/$applet"; done
cp bench/profiles/*.toml "$work/"
S="$work/sandbox"
as_user="setpriv --reuid=65534 --regid=65534 --clear-groups --"

# The OCI bundle for crun and runc: the full profile, compiled by us.
"$S" bundle "$work/full.toml" "$work/bundle" >/dev/null
# Debian's crun 1.8 refuses runtime-spec 1.2.0 ("unknown version specified");
# nothing in this bundle needs more than 1.1.
sed -i 's/"ociVersion": "[^"]*"/"ociVersion": "1.1.0"/' "$work/bundle/config.json"
# crun 1.8 refuses hybrid cgroups unless it sees no v2 controllers: hide them
# in a private mount namespace (DESIGN.md §5). Its cgroups are then v1.
touch "$work/empty"
crun_run="unshare -m sh -c 'mount --bind $work/empty /sys/fs/cgroup/unified/cgroup.controllers 2>/dev/null; \
exec crun run --bundle $work/bundle bench-crun-\$\$'"

names=(sandbox-bwrap-like bwrap sandbox-full crun runc
    rootless-sandbox-bwrap-like rootless-bwrap rootless-sandbox-full)
cmds=(
    "$S run $work/bwrap-like.toml"
    "bwrap --unshare-all --die-with-parent --ro-bind $root / --proc /proc --dev /dev --tmpfs /tmp /bin/true"
    "$S run $work/full.toml"
    "sh -c \"$crun_run\""
    "runc run --bundle $work/bundle bench-runc"
    "$as_user $S run $work/bwrap-like.toml"
    "$as_user bwrap --unshare-all --die-with-parent --ro-bind $root / --proc /proc --dev /dev --tmpfs /tmp /bin/true"
    "$as_user $S run $work/full-rootless.toml"
)

bench_commands
echo "hyperfine: ${#cmds[@]} commands, $runs runs each after 30 warm-up runs"
hyperfine -N --style none --warmup 30 --runs "$runs" --export-json "$work/times.json" "${args[@]}" >/dev/null

# Peak RSS: GNU time's %M (the largest process of the tree), median of 30.
for i in "${!cmds[@]}"; do
    for _ in $(seq 30); do
        /usr/bin/time -f "%M" -a -o "$work/rss.$i" sh -c "exec ${cmds[$i]}" >/dev/null 2>&1
    done
done

checks=()
for p in profiles/*.toml profiles/*.yaml; do checks+=(-n "check $(basename "$p")" "$S check $repo/$p"); done
hyperfine -N --style none --warmup 20 --runs 200 --export-json "$work/check.json" "${checks[@]}" >/dev/null

python3 - "$work" "${#cmds[@]}" <<'PY'
import json, statistics, sys, os
work, n = sys.argv[1], int(sys.argv[2])
res = {r["command"]: r for r in json.load(open(f"{work}/times.json"))["results"]}
rss = {}
for i, name in enumerate(list(res)):
    vals = [int(l) for l in open(f"{work}/rss.{i}") if l.strip().isdigit()]
    rss[name] = statistics.median(vals) / 1024
ms = lambda s: s * 1000
print()
print("| launcher | median ms | min ms | max ms | mean CPU ms | peak RSS MiB |")
print("|---|---:|---:|---:|---:|---:|")
for name, r in res.items():
    print(f"| {name} | {ms(r['median']):.2f} | {ms(r['min']):.2f} | {ms(r['max']):.2f} "
          f"| {ms(r['user'] + r['system']):.2f} | {rss[name]:.2f} |")
med = lambda k: res[k]["median"]
cpu = lambda k: res[k]["user"] + res[k]["system"]
print()
print("| ratio (medians; CPU: means) | value | target |")
print("|---|---:|---:|")
rows = [
    ("sandbox-bwrap-like / bwrap", med("sandbox-bwrap-like") / med("bwrap"), "≤ 0.8"),
    ("CPU: sandbox-bwrap-like / bwrap", cpu("sandbox-bwrap-like") / cpu("bwrap"), "≤ 1.0"),
    ("sandbox-full / crun", med("sandbox-full") / med("crun"), "≤ 0.5"),
    ("sandbox-full / runc", med("sandbox-full") / med("runc"), ""),
    ("rootless: sandbox-bwrap-like / bwrap", med("rootless-sandbox-bwrap-like") / med("rootless-bwrap"), "≤ 0.8"),
    ("rootless: sandbox-full / bwrap", med("rootless-sandbox-full") / med("rootless-bwrap"), ""),
]
for label, v, target in rows:
    print(f"| {label} | {v:.2f} | {target} |")
print()
peak = max(rss[k] for k in res if "sandbox" in k)
size = os.path.getsize(f"{work}/sandbox.stripped") / (1 << 20)
print(f"sandbox peak RSS (largest of its rows): {peak:.2f} MiB (target ≤ 3)")
print(f"stripped release binary: {size:.2f} MiB (target ≤ 6)")
for r in json.load(open(f"{work}/check.json"))["results"]:
    print(f"sandbox {r['command']}: median {ms(r['median']):.2f} ms (target ≤ 10)")
PY
