#!/usr/bin/env bash
# Named sandboxes against their peers, each table ONE hyperfine run
# (DESIGN.md §7: ratios, never a single absolute time):
#   1. exec of /bin/true into a running sandbox / container: `sandbox exec`
#      against `runc exec`, `crun exec` and `podman exec` (podman 4.3 with
#      runc, the harness's private storage), each target a busybox rootfs
#      with a pids limit, so each one joins a cgroup;
#   2. `run -d` of /bin/true to running: `sandbox run -d --rm` against
#      `podman run -d --rm`;
#   3. `sandbox ps` with 100 running sandboxes, against `runc list` with 100
#      running containers.
# Needs root.
#
#   bench/named.sh              (RUNS=200 by default; RUNS=30 for a quick look)
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
runs=${RUNS:-200}
client_runs=${CLIENT_RUNS:-30}
many=${MANY:-100}

# shellcheck source=lib.sh
. "$repo/bench/lib.sh"
bench_prepare hyperfine:hyperfine runc:runc crun:crun busybox:busybox-static python3:python3 podman:podman

work=$(mktemp -d /tmp/sbx-named-bench.XXXXXX)
state=$work/state
mkdir -p "$state/sandbox" "$state/runc" "$state/crun" "$state/many" "$state/runc-many"
cleanup() {
    set +e
    for root in "$state/sandbox" "$state/many"; do
        for n in $(ls "$root" 2>/dev/null); do "$S" --root "$root" rm -f "$n" >/dev/null 2>&1; done
    done
    for n in $(ls "$state/runc-many" 2>/dev/null) bench-exec; do
        runc --root "$state/runc-many" delete -f "$n" >/dev/null 2>&1
        runc --root "$state/runc" delete -f "$n" >/dev/null 2>&1
    done
    "$work/crun" --root "$state/crun" delete -f bench-exec >/dev/null 2>&1
    if [ -n "${OCI_WORK:-}" ]; then
        oci_pm_cleanup >/dev/null 2>&1
        oci_work_remove >/dev/null 2>&1
    fi
    rm -rf "$work"
}
trap cleanup EXIT

bench_crun_wrapper "$work"

rootfs=$work/rootfs
bench_rootfs "$rootfs"
bench_bundle "$work/sleep" "$rootfs" '["/bin/sleep", "3600"]'
profile=$work/p.toml
printf '[rootfs]\nlayers = ["%s"]\nwritable = "readonly"\n[process]\nterminal = "never"\n[limits]\npids = 64\n' \
    "$rootfs" >"$profile"

"$S" --root "$state/sandbox" run -d --name bench-exec "$profile" -- /bin/sleep 3600 >/dev/null
runc --root "$state/runc" run -d --bundle "$work/sleep" bench-exec >/dev/null 2>&1 </dev/null
"$work/crun" --root "$state/crun" run -d --bundle "$work/sleep" bench-exec >/dev/null 2>&1 </dev/null

set +eu
export OCI_WORK
OCI_WORK=$(mktemp -d /tmp/sbx.XXXXXX) # a short path: podman refuses a runroot over 50 characters
# shellcheck source=../tests/oci/podman.sh
. "$repo/tests/oci/podman.sh"
oci_pm_setup >/dev/null 2>&1 && oci_pm_import_busybox >/dev/null 2>&1 || { echo "bench: podman setup failed" >&2; exit 1; }
export OCI_PM_RUNTIME
OCI_PM_RUNTIME=$(command -v runc)
oci_pm_run -d --name bench-exec "$OCI_IMAGE" /bin/sleep 3600 >/dev/null || { echo "bench: podman run -d failed" >&2; exit 1; }
{ oci_pm_env; echo 'oci_podman "$@"'; } >"$work/pm.sh"
{ oci_pm_env; echo 'oci_pm_run "$@"'; } >"$work/pm-run.sh"
set -eu

names=("sandbox exec" "runc exec" "crun exec" "podman exec (runc)")
cmds=("$S --root $state/sandbox exec bench-exec -- /bin/true"
    "runc --root $state/runc exec bench-exec /bin/true"
    "$work/crun --root $state/crun exec bench-exec /bin/true"
    "bash $work/pm.sh exec bench-exec /bin/true")
for i in "${!cmds[@]}"; do
    sh -c "${cmds[$i]}" </dev/null || { echo "bench: ${names[$i]} fails: ${cmds[$i]}" >&2; exit 1; }
done
args=()
for i in "${!cmds[@]}"; do args+=(-n "${names[$i]}" "${cmds[$i]}"); done
echo "hyperfine: exec, $runs runs each after 20 warm-up runs"
hyperfine -N --style none --warmup 20 --runs "$runs" --export-json "$work/exec.json" "${args[@]}" >/dev/null </dev/null

echo "hyperfine: run -d, $client_runs runs each"
hyperfine -N --style none --warmup 3 --runs "$client_runs" --export-json "$work/rund.json" \
    -n "sandbox run -d --rm" "$S --root $state/sandbox run -d --rm $profile -- /bin/true" \
    -n "podman run -d --rm (runc)" "bash $work/pm-run.sh -d --rm $OCI_IMAGE /bin/true" >/dev/null </dev/null

echo "starting $many sandboxes and $many runc containers"
for i in $(seq 1 "$many"); do
    "$S" --root "$state/many" run -d --name "s$i" "$profile" -- /bin/sleep 3600 >/dev/null
    runc --root "$state/runc-many" run -d --bundle "$work/sleep" "r$i" >/dev/null 2>&1 </dev/null
done
[ "$("$S" --root "$state/many" ps | wc -l)" -eq $((many + 1)) ] || { echo "bench: ps does not list $many" >&2; exit 1; }
hyperfine -N --style none --warmup 5 --runs "$client_runs" --export-json "$work/ps.json" \
    -n "sandbox ps ($many running)" "$S --root $state/many ps" \
    -n "sandbox ps --format json ($many running)" "$S --root $state/many ps --format json" \
    -n "runc list ($many running)" "runc --root $state/runc-many list" >/dev/null </dev/null

python3 - "$work" "$repo/bench" <<'PY'
import sys
sys.path.insert(0, sys.argv[2])
from table import header, table
work = sys.argv[1]
header()
e = table(work, "exec"); r = table(work, "rund"); p = table(work, "ps")
print()
print("| ratio (medians) | value | target |")
print("|---|---:|---:|")
for other in ["runc exec", "crun exec", "podman exec (runc)"]:
    target = "≤ 0.5" if other in ("runc exec", "podman exec (runc)") else ""
    print(f"| sandbox exec / {other} | {e['sandbox exec'] / e[other]:.2f} | {target} |")
print(f"| sandbox run -d / podman run -d | {r['sandbox run -d --rm'] / r['podman run -d --rm (runc)']:.2f} | |")
many = [k for k in p if k.startswith("sandbox ps (")][0]
print(f"| {many} / runc list | {p[many] / p[[k for k in p if k.startswith('runc list')][0]]:.2f} | |")
PY
