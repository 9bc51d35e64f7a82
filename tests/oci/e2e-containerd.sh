#!/bin/bash
# containerd 1.6 drives `sandbox` as its runc (ctr run --runc-binary, the
# io.containerd.runc.v2 shim): run, run --tty, exec, exec --tty, ps, pause,
# resume, kill, delete, on an image imported from a local OCI layout.
# Each check prints "ok - NAME" or "not ok - NAME: why"; the exit status
# is the number of failures. Run as root: tests/e2e_clients.rs calls it.
#
#   tests/oci/e2e-containerd.sh SANDBOX_BINARY
set -u
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
S=$(realpath "$1")
export OCI_WORK
OCI_WORK=$(mktemp -d /tmp/sandbox-containerd.XXXXXX)
# shellcheck source=containerd.sh
. "$HERE/containerd.sh"
trap 'oci_cd_stop; oci_work_remove' EXIT
failures=0
ok() { echo "ok - $1"; }
bad() { echo "not ok - $1: $2"; failures=$((failures + 1)); }
# expect NAME WANT CMD...: CMD's output (stdout+stderr) contains WANT.
expect() {
    local name=$1 want=$2 out; shift 2
    out=$("$@" 2>&1)
    case $out in *"$want"*) ok "$name" ;; *) bad "$name" "wanted '$want', got: $out" ;; esac
}
ctr_() { oci_ctr "$@"; }
status_of() { oci_ctr task ls | awk -v id="$1" '$1 == id { print $3 }'; }
state_dir=/run/containerd/runc/$OCI_CD_NS

oci_cd_start >/dev/null 2>&1 || { echo "not ok - containerd starts"; exit 1; }
oci_cd_import_busybox >/dev/null 2>&1 || { echo "not ok - image import from an OCI layout"; exit 1; }
ok "containerd starts and imports the OCI layout"

expect "ctr run --rm prints the command's output" "hello from sandbox" \
    ctr_ run --rm --runc-binary "$S" "$OCI_IMAGE" r1 sh -c 'echo hello from sandbox'
ctr_ run --rm --runc-binary "$S" "$OCI_IMAGE" r2 sh -c 'exit 3' >/dev/null 2>&1
rc=$?
[ "$rc" = 3 ] && ok "ctr run --rm returns the command's status" || bad "ctr run --rm status" "got $rc"
expect "ctr run --tty gets a terminal" "/dev/pts/0" \
    oci_in_pty ctr --address "$OCI_CD_SOCK" -n "$OCI_CD_NS" run --rm --tty --runc-binary "$S" "$OCI_IMAGE" r3 ls -l /proc/self/fd/0
expect "a missing command fails the run" "not found" \
    ctr_ run --rm --runc-binary "$S" "$OCI_IMAGE" r4 no-such-command

ctr_ run -d --runc-binary "$S" "$OCI_IMAGE" d1 sleep 300 >/dev/null 2>&1
[ "$(status_of d1)" = RUNNING ] && ok "ctr run -d: running" || bad "ctr run -d" "status $(status_of d1)"
[ -f "$state_dir/d1/state.json" ] && ok "sandbox keeps d1's state under containerd's --root" \
    || bad "state under --root" "no $state_dir/d1/state.json"
expect "ctr task exec runs in the container" "exec-ok 1" \
    ctr_ task exec --exec-id x1 d1 sh -c 'echo exec-ok $(pidof sleep)'
expect "ctr task exec --tty gets a terminal" "/dev/pts/" \
    oci_in_pty ctr --address "$OCI_CD_SOCK" -n "$OCI_CD_NS" task exec --tty --exec-id x2 d1 ls -l /proc/self/fd/0
pid=$(oci_ctr task ls | awk '$1 == "d1" { print $2 }')
expect "ctr task ps lists the container's process" "$pid" ctr_ task ps d1
ctr_ task pause d1
[ "$(status_of d1)" = PAUSED ] && ok "ctr task pause: paused" || bad "pause" "status $(status_of d1)"
ctr_ task resume d1
[ "$(status_of d1)" = RUNNING ] && ok "ctr task resume: running" || bad "resume" "status $(status_of d1)"
ctr_ task kill -s SIGKILL d1
for _ in $(seq 50); do [ "$(status_of d1)" = STOPPED ] && break; sleep 0.1; done
[ "$(status_of d1)" = STOPPED ] && ok "ctr task kill: stopped" || bad "kill" "status $(status_of d1)"
ctr_ task delete d1 >/dev/null && ctr_ container rm d1 && ok "ctr task delete" || bad "delete" "failed"
[ ! -e "$state_dir/d1" ] && ok "delete leaves no state" || bad "state after delete" "$(ls "$state_dir/d1")"
left=$(find /sys/fs/cgroup -maxdepth 3 -path "*/$OCI_CD_NS/*" -type d 2>/dev/null)
[ -z "$left" ] && ok "delete leaves no cgroup" || bad "cgroups after delete" "$left"
exit "$failures"
