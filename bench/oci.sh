#!/usr/bin/env bash
# The OCI runtime's cost, sandbox against crun and runc on the same bundle,
# in ONE hyperfine run (DESIGN.md §7: ratios, never a single absolute time):
#   1. create + start + delete of /bin/true (a busybox rootfs, `runc spec`'s
#      config with a pids limit, so each runtime makes a cgroup);
#   2. exec of /bin/true into a running container;
# then the same three runtimes under real clients: `ctr run --rm` (containerd
# 1.6) and `podman run --rm` (podman 4.3), also in one hyperfine run each.
# Needs root.
#
#   bench/oci.sh                (RUNS=200 by default; RUNS=30 for a quick look)
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
runs=${RUNS:-200}
client_runs=${CLIENT_RUNS:-20}

# shellcheck source=lib.sh
. "$repo/bench/lib.sh"
bench_prepare hyperfine:hyperfine runc:runc crun:crun busybox:busybox-static python3:python3 containerd:containerd podman:podman

work=$(mktemp -d /tmp/sandbox-oci-bench.XXXXXX)
state=$work/state
for r in sandbox runc crun; do mkdir -p "$state/$r"; done
cleanup() {
    for id in $(ls "$state/sandbox" 2>/dev/null); do "$S" --root "$state/sandbox" delete -f "$id" || true; done
    runc --root "$state/runc" delete -f bench-exec >/dev/null 2>&1 || true
    "$work/crun" --root "$state/crun" delete -f bench-exec >/dev/null 2>&1 || true
    if [ -n "${OCI_WORK:-}" ]; then
        oci_pm_cleanup >/dev/null 2>&1 || true
        oci_cd_stop >/dev/null 2>&1 || true
        oci_work_remove >/dev/null 2>&1 || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

bench_crun_wrapper "$work"

rootfs=$work/rootfs
bench_rootfs "$rootfs"
# Two bundles on one rootfs: /bin/true, and sleep (to exec into).
bench_bundle "$work/true" "$rootfs" '["/bin/true"]'
bench_bundle "$work/sleep" "$rootfs" '["/bin/sleep", "3600"]'

names=() cmds=()
for r in sandbox runc crun; do
    bin=$r; [ "$r" = sandbox ] && bin=$S; [ "$r" = crun ] && bin=$work/crun
    names+=("$r create+start+delete")
    cmds+=("sh -c '$bin --root $state/$r create --bundle $work/true b\$\$ >/dev/null && $bin --root $state/$r start b\$\$ && $bin --root $state/$r delete -f b\$\$'")
    "$bin" --root "$state/$r" create --bundle "$work/sleep" bench-exec >/dev/null
    "$bin" --root "$state/$r" start bench-exec
done
for r in sandbox runc crun; do
    bin=$r; [ "$r" = sandbox ] && bin=$S; [ "$r" = crun ] && bin=$work/crun
    names+=("$r exec")
    cmds+=("$bin --root $state/$r exec bench-exec /bin/true")
done
for i in "${!cmds[@]}"; do
    sh -c "${cmds[$i]}" || { echo "bench: ${names[$i]} fails: ${cmds[$i]}" >&2; exit 1; }
done
args=()
for i in "${!cmds[@]}"; do args+=(-n "${names[$i]}" "${cmds[$i]}"); done
echo "hyperfine: ${#cmds[@]} commands, $runs runs each after 20 warm-up runs"
hyperfine -N --style none --warmup 20 --runs "$runs" --export-json "$work/oci.json" "${args[@]}" >/dev/null

# Real clients, each runtime under the same client in one hyperfine run.
# The harness's helpers are not written for `set -eu`.
set +eu
# (a short path: podman refuses a runroot over 50 characters)
export OCI_WORK
OCI_WORK=$(mktemp -d /tmp/sbx.XXXXXX)
# shellcheck source=../tests/oci/containerd.sh
. "$repo/tests/oci/containerd.sh"
# shellcheck source=../tests/oci/podman.sh
. "$repo/tests/oci/podman.sh"
oci_cd_start >/dev/null 2>&1 && oci_cd_import_busybox >/dev/null 2>&1
ctr_cmd() { echo "sh -c 'ctr --address $OCI_CD_SOCK -n $OCI_CD_NS run --rm --runc-binary $1 $OCI_IMAGE c\$\$ /bin/true'"; }
hyperfine -N --style none --warmup 3 --runs "$client_runs" --export-json "$work/ctr.json" \
    -n "ctr run --rm, sandbox" "$(ctr_cmd "$S")" -n "ctr run --rm, runc" "$(ctr_cmd "$(command -v runc)")" \
    -n "ctr run --rm, crun" "$(ctr_cmd "$work/crun")" >/dev/null
oci_pm_setup >/dev/null 2>&1 && oci_pm_import_busybox >/dev/null 2>&1
# podman with the harness's private storage and working ulimits, through a
# small script (the same shell start-up for every runtime).
{
    oci_pm_env
    echo 'OCI_PM_RUNTIME=$1 oci_pm_run --rm "$OCI_IMAGE" /bin/true'
} >"$work/pm.sh"
hyperfine -N --style none --warmup 3 --runs "$client_runs" --export-json "$work/podman.json" \
    -n "podman run --rm, sandbox" "bash $work/pm.sh $S" -n "podman run --rm, runc" "bash $work/pm.sh $(command -v runc)" \
    -n "podman run --rm, crun" "bash $work/pm.sh $work/crun" >/dev/null

python3 - "$work" "$repo/bench" <<'PY'
import sys
sys.path.insert(0, sys.argv[2])
from table import header, table
work = sys.argv[1]
header()
m = table(work, "oci"); c = table(work, "ctr"); p = table(work, "podman")
print()
print("| ratio (medians) | value | target |")
print("|---|---:|---:|")
for what in ["create+start+delete", "exec"]:
    for other in ["crun", "runc"]:
        print(f"| sandbox / {other}, {what} | {m[f'sandbox {what}'] / m[f'{other} {what}']:.2f} | {'≤ 0.5' if other == 'crun' else ''} |")
for label, d, key in [("ctr run --rm", c, "ctr run --rm"), ("podman run --rm", p, "podman run --rm")]:
    for other in ["crun", "runc"]:
        print(f"| {label}: sandbox / {other} | {d[f'{key}, sandbox'] / d[f'{key}, {other}']:.2f} | |")
PY
