#!/usr/bin/env bash
# network.mode = "nat" against its peers. Run by hand, as root; not in CI.
# Each table is ONE run (DESIGN.md §7: ratios, never a single absolute time).
#
#   1. start latency of `/bin/true` in a busybox rootfs, one hyperfine run:
#      `sandbox run` with a nat profile, with a nat profile and an egress
#      allowlist, and with a none profile; `podman run --network
#      slirp4netns` and `--network none` (podman 4.3, Debian 12's, has no
#      pasta network mode: `--network pasta` is "network not found"; 4.4
#      added it); `bwrap --unshare-all` (no network); and pasta alone
#      (`pasta --config-net -- /bin/true`, its own cost);
#   2. TCP throughput, `iperf3 -c` (sandbox to server) to an iperf3 server
#      in a lab network namespace that this script makes (a veth from the
#      host, benchmarking addresses 198.18.255.248/29, removed on exit; no
#      sysctl is touched: the user-mode stacks connect from host sockets):
#      from the host directly (the ceiling), from a nat sandbox, from a
#      nat sandbox with an egress allowlist, through pasta alone, and
#      through podman's slirp4netns. Median of IPERF_RUNS runs of
#      IPERF_SECONDS each.
#
#   bench/network.sh        (RUNS=30, IPERF_RUNS=3, IPERF_SECONDS=5 by default;
#                            SANDBOX=path: that binary instead of a release build)
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
runs=${RUNS:-30}
iperf_runs=${IPERF_RUNS:-3}
iperf_seconds=${IPERF_SECONDS:-5}
[ "$(id -u)" = 0 ] || { echo "bench/network.sh: run as root" >&2; exit 1; }

# shellcheck source=lib.sh
. "$repo/bench/lib.sh"
tools=(hyperfine:hyperfine busybox:busybox-static python3:python3 podman:podman bwrap:bubblewrap
    pasta:passt slirp4netns:slirp4netns iperf3:iperf3 nft:nftables ip:iproute2)
if [ -n "${SANDBOX:-}" ]; then
    # SANDBOX=path/to/sandbox: that binary, nothing built.
    need=()
    for tool in "${tools[@]}"; do command -v "${tool%%:*}" >/dev/null || need+=("${tool#*:}"); done
    ((${#need[@]} == 0)) || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null; }
    S=$(realpath "$SANDBOX")
else
    bench_prepare "${tools[@]}"
fi

work=$(mktemp -d /tmp/sbx-net-bench.XXXXXX)
chmod 755 "$work"
lab_holder= lab_server= hostif=sbxlbench
cleanup() {
    set +e
    [ -n "$lab_server" ] && kill "$lab_server" 2>/dev/null && wait "$lab_server" 2>/dev/null
    ip link del "$hostif" 2>/dev/null
    [ -n "$lab_holder" ] && kill "$lab_holder" 2>/dev/null && wait "$lab_holder" 2>/dev/null
    if [ -n "${OCI_WORK:-}" ]; then
        oci_pm_cleanup >/dev/null 2>&1
        oci_work_remove >/dev/null 2>&1
    fi
    rm -rf "$work"
}
trap cleanup EXIT
trap "exit 130" INT TERM

# The lab: a network namespace held by a sleeping process, a veth to it,
# an iperf3 server inside.
if ip link show "$hostif" >/dev/null 2>&1; then
    echo "bench: $hostif exists (another bench/network.sh running?)" >&2
    exit 1
fi
host_addr=198.18.255.249 lab=198.18.255.250
unshare -n sleep infinity &
lab_holder=$!
sleep 0.1
labns=/proc/$lab_holder/ns/net
ip link add "$hostif" type veth peer name lab0 netns "$labns"
ip addr add "$host_addr/29" dev "$hostif"
ip link set "$hostif" up
nsenter --net="$labns" sh -c "ip link set lo up && ip addr add $lab/29 dev lab0 && ip link set lab0 up"
nsenter --net="$labns" iperf3 -s -p 5201 >/dev/null 2>&1 &
lab_server=$!
for _ in $(seq 50); do timeout 5 iperf3 -c "$lab" -n 1K >/dev/null 2>&1 && break; sleep 0.1; done

# The root: busybox, and iperf3 with the shared objects it loads.
root=$work/root
bench_rootfs "$root"
cp "$(command -v iperf3)" "$root/bin/iperf3"
for lib in $(ldd "$(command -v iperf3)" | grep -o '/[^ ]*'); do
    mkdir -p "$root$(dirname "$lib")"
    cp -L "$lib" "$root$lib"
done

profile() { # NAME NETWORK_TOML
    printf '[rootfs]\nlayers = ["%s"]\nwritable = "tmpfs"\n[process]\nterminal = "never"\n%s\n' "$root" "$2" >"$work/$1.toml"
}
profile nat '[network]
mode = "nat"'
profile nat-allow "[network]
mode = \"nat\"
[network.egress]
default = \"deny\"
allow = [\"$lab:5201\"]"
profile none '[network]
mode = "none"'

# podman: private configuration and storage (tests/oci/podman.sh), the
# same root given as --rootfs.
set +eu
export OCI_WORK
OCI_WORK=$(mktemp -d /tmp/sbx.XXXXXX) # podman refuses a runroot over 50 characters
# shellcheck source=../tests/oci/podman.sh
. "$repo/tests/oci/podman.sh"
oci_pm_setup >/dev/null 2>&1 || { echo "bench: podman setup failed" >&2; exit 1; }
ulimits=$(for u in $(oci_pm_ulimits); do printf ' --ulimit %s' "$u"; done)
{ oci_pm_env; echo "oci_podman run --rm --cgroup-parent $OCI_PM_CGROUP_PARENT$ulimits \"\$@\""; } >"$work/pm.sh"
set -eu
pasta_alone="pasta --runas 0 -q -f --config-net -t none -u none -T none -U none --"

names=(sandbox-nat sandbox-nat-allowlist sandbox-none podman-slirp4netns podman-none bwrap pasta-alone)
cmds=(
    "$S run $work/nat.toml -- /bin/true"
    "$S run $work/nat-allow.toml -- /bin/true"
    "$S run $work/none.toml -- /bin/true"
    "bash $work/pm.sh --network slirp4netns --rootfs $root /bin/true"
    "bash $work/pm.sh --network none --rootfs $root /bin/true"
    "bwrap --unshare-all --die-with-parent --ro-bind $root / --proc /proc --dev /dev --tmpfs /tmp /bin/true"
    "$pasta_alone /bin/true"
)
bench_commands
echo "## start latency, /bin/true ($runs runs each, one hyperfine run)"
echo
hyperfine -N --style none --warmup 3 --runs "$runs" --export-json "$work/start.json" "${args[@]}" >/dev/null

# Throughput: IPERF_RUNS rounds, every contender once per round (so drift
# in the machine's load spreads over all of them).
tnames=(host-direct sandbox-nat sandbox-nat-allowlist pasta-alone podman-slirp4netns)
client="iperf3 -c $lab -t $iperf_seconds -J"
tcmds=(
    "$client"
    "$S run $work/nat.toml -- /bin/$client"
    "$S run $work/nat-allow.toml -- /bin/$client"
    "$pasta_alone $client"
    "bash $work/pm.sh --network slirp4netns --rootfs $root /bin/$client"
)
for round in $(seq "$iperf_runs"); do
    for i in "${!tcmds[@]}"; do
        if ! sh -c "${tcmds[$i]}" >"$work/iperf.$i.$round.json" 2>"$work/iperf.$i.$round.err"; then
            echo "bench: ${tnames[$i]} fails: ${tcmds[$i]}" >&2
            cat "$work/iperf.$i.$round.err" >&2
            tail -5 "$work/iperf.$i.$round.json" >&2
            exit 1
        fi
    done
done

python3 - "$work" "$iperf_runs" "${tnames[@]}" <<'PY'
import json, statistics, sys
sys.path.insert(0, "bench")
from table import table, header
work, rounds, names = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
header()
m = table(work, "start")
print()
print("| ratio (medians) | value |")
print("|---|---:|")
rows = [
    ("sandbox-nat / sandbox-none (what nat adds)", m["sandbox-nat"] / m["sandbox-none"]),
    ("sandbox-nat-allowlist / sandbox-nat (what nft adds)", m["sandbox-nat-allowlist"] / m["sandbox-nat"]),
    ("sandbox-nat / podman-slirp4netns", m["sandbox-nat"] / m["podman-slirp4netns"]),
    ("podman-slirp4netns / podman-none (what slirp4netns adds)", m["podman-slirp4netns"] / m["podman-none"]),
    ("sandbox-nat / bwrap (no network)", m["sandbox-nat"] / m["bwrap"]),
    ("sandbox-nat - sandbox-none, ms", (m["sandbox-nat"] - m["sandbox-none"]) * 1000),
    ("pasta alone, ms", m["pasta-alone"] * 1000),
]
for label, v in rows:
    print(f"| {label} | {v:.2f} |")
print()
print("## TCP throughput to the lab (iperf3, sandbox sends; median of", rounds, "runs)")
print()
print("| path | Gbit/s median | min | max | / host-direct |")
print("|---|---:|---:|---:|---:|")
gbps = {}
for i, name in enumerate(names):
    vals = []
    for r in range(1, rounds + 1):
        d = json.load(open(f"{work}/iperf.{i}.{r}.json"))
        vals.append(d["end"]["sum_received"]["bits_per_second"] / 1e9)
    gbps[name] = statistics.median(vals)
for i, name in enumerate(names):
    vals = [json.load(open(f"{work}/iperf.{i}.{r}.json"))["end"]["sum_received"]["bits_per_second"] / 1e9
            for r in range(1, rounds + 1)]
    print(f"| {name} | {gbps[name]:.2f} | {min(vals):.2f} | {max(vals):.2f} | {gbps[name] / gbps['host-direct']:.2f} |")
print()
print("| ratio (medians) | value |")
print("|---|---:|")
print(f"| sandbox-nat / pasta-alone | {gbps['sandbox-nat'] / gbps['pasta-alone']:.2f} |")
print(f"| sandbox-nat-allowlist / sandbox-nat | {gbps['sandbox-nat-allowlist'] / gbps['sandbox-nat']:.2f} |")
print(f"| sandbox-nat / podman-slirp4netns | {gbps['sandbox-nat'] / gbps['podman-slirp4netns']:.2f} |")
PY
