#!/bin/bash
# podman 4.3 drives `sandbox` as its OCI runtime (--runtime): run --rm,
# run -d + exec + stop + rm, run -it under tmux, --memory, --pids-limit,
# and a missing command (podman's 127), with private storage and
# --network none. Each check prints "ok - NAME" or "not ok - NAME: why";
# the exit status is the number of failures. Run as root:
# tests/e2e_clients.rs calls it.
#
#   tests/oci/e2e-podman.sh SANDBOX_BINARY
set -u
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
export OCI_PM_RUNTIME
OCI_PM_RUNTIME=$(realpath "$1")
export OCI_WORK
OCI_WORK=$(mktemp -d /tmp/sandbox-podman.XXXXXX)
# shellcheck source=podman.sh
. "$HERE/podman.sh"
tmux_socket=sandbox-podman-$$
# The state directory podman's runtime calls use (no --root: the default);
# removed at the end if this test made it.
state_dir=/run/sandbox
[ -d "$state_dir" ] && made_state_dir= || made_state_dir=1
trap 'tmux -L "$tmux_socket" kill-server 2>/dev/null; oci_pm_cleanup; oci_work_remove; [ -n "$made_state_dir" ] && rmdir "$state_dir" 2>/dev/null' EXIT
failures=0
ok() { echo "ok - $1"; }
bad() { echo "not ok - $1: $2"; failures=$((failures + 1)); }
expect() { # expect NAME WANT CMD...: CMD's output contains WANT
    local name=$1 want=$2 out; shift 2
    out=$("$@" 2>&1)
    case $out in *"$want"*) ok "$name" ;; *) bad "$name" "wanted '$want', got: $out" ;; esac
}
oci_pm_setup >/dev/null 2>&1 || { echo "not ok - podman setup"; exit 1; }
oci_pm_import_busybox >/dev/null 2>&1 || { echo "not ok - podman load of the OCI archive"; exit 1; }
ok "podman loads the OCI archive"

expect "podman run --rm prints the command's output" "hello from sandbox" \
    oci_pm_run --rm "$OCI_IMAGE" sh -c 'echo hello from sandbox'
oci_pm_run --rm "$OCI_IMAGE" sh -c 'exit 3' >/dev/null 2>&1
rc=$?
[ "$rc" = 3 ] && ok "podman run --rm returns the command's status" || bad "run status" "got $rc"
oci_pm_run --rm "$OCI_IMAGE" no-such-command >/dev/null 2>&1
rc=$?
[ "$rc" = 127 ] && ok "a missing command gives podman's 127" || bad "missing command" "got $rc"
expect "podman's sysctl and seccomp profile are applied" "0 0 2" \
    oci_pm_run --rm "$OCI_IMAGE" sh -c 'echo $(cat /proc/sys/net/ipv4/ping_group_range) $(grep ^Seccomp: /proc/self/status | cut -f2)'

id=$(oci_pm_run -d --name p1 "$OCI_IMAGE" sleep 300 2>/dev/null)
[ -n "$id" ] && ok "podman run -d" || bad "run -d" "no id"
[ -f "$state_dir/$id/state.json" ] && ok "sandbox keeps the state in $state_dir" || bad "state" "no $state_dir/$id"
expect "podman exec runs in the container" "exec-ok 1" \
    oci_podman exec p1 sh -c 'echo exec-ok $(pidof sleep)'
oci_podman stop -t 1 p1 >/dev/null 2>&1 && ok "podman stop" || bad "stop" "failed"
oci_podman rm p1 >/dev/null 2>&1 && ok "podman rm" || bad "rm" "failed"
[ ! -e "$state_dir/$id" ] && ok "rm leaves no state" || bad "state after rm" "$(ls "$state_dir/$id")"

# Limits, read from the host: the container's cgroups hold them.
id=$(oci_pm_run -d --memory 64m --pids-limit 50 "$OCI_IMAGE" sleep 300 2>/dev/null)
pid=$(oci_podman inspect --format '{{.State.Pid}}' "$id" 2>/dev/null)
cg() { # cg CONTROLLER: the container's cgroup directory in that hierarchy
    local line
    line=$(grep -E "^[0-9]+:$1:" "/proc/$pid/cgroup" | cut -d: -f3)
    [ -n "$line" ] && echo "/sys/fs/cgroup/$1$line"
}
mem=$(cat "$(cg memory)/memory.limit_in_bytes" 2>/dev/null || cat "/sys/fs/cgroup/unified$(grep '^0::' "/proc/$pid/cgroup" | cut -d: -f3)/memory.max" 2>/dev/null)
[ "$mem" = 67108864 ] && ok "--memory 64m is the cgroup's limit" || bad "--memory" "limit is '$mem'"
pids=$(cat "$(cg pids)/pids.max" 2>/dev/null || cat "/sys/fs/cgroup/unified$(grep '^0::' "/proc/$pid/cgroup" | cut -d: -f3)/pids.max" 2>/dev/null)
[ "$pids" = 50 ] && ok "--pids-limit 50 is the cgroup's limit" || bad "--pids-limit" "pids.max is '$pids'"
expect "a fork bomb stops at --pids-limit" "can't fork" \
    oci_podman exec "$id" sh -c 'for i in $(seq 60); do sleep 30 & done 2>&1; kill $(jobs -p) 2>/dev/null'
oci_podman rm -f -t 0 "$id" >/dev/null 2>&1 && ok "podman rm -f of a running container" || bad "rm -f" "failed"
[ ! -e "$state_dir/$id" ] && ok "rm -f leaves no state" || bad "state after rm -f" "$(ls "$state_dir/$id")"

# An interactive shell under tmux: keys in, output back, exit status out.
{
    oci_pm_env
    echo "oci_pm_run --rm -it $OCI_IMAGE sh"
    echo 'echo exited=$?'
    echo 'sleep 30'
} >"$OCI_WORK/it.sh"
tmux -L "$tmux_socket" new-session -d -x 120 -y 20 "bash $OCI_WORK/it.sh"
sleep 2
tmux -L "$tmux_socket" send-keys 'echo typed-$((40+2)); tty' Enter
sleep 1
tmux -L "$tmux_socket" send-keys 'exit 5' Enter
sleep 2
screen=$(tmux -L "$tmux_socket" capture-pane -p)
case $screen in *typed-42*/dev/pts/0*exited=5*) ok "podman run -it: a terminal, keys, and the exit status" ;;
    *) bad "podman run -it" "screen: $screen" ;; esac
tmux -L "$tmux_socket" kill-server 2>/dev/null
left=$(ls "$state_dir" 2>/dev/null)
[ -z "$left" ] && ok "nothing is left in $state_dir" || bad "state left" "$left"
exit "$failures"
