#!/bin/bash
# Drive an OCI runtime through real containerd (ctr) and podman and record
# every runtime invocation (argv, env, fds, config.json, process.json, ...)
# with tests/oci/runtime-wrap.sh.
#
#   tests/oci/capture.sh [containerd|podman|all] [RUNTIME] [OUTDIR]
#
# RUNTIME defaults to runc, OUTDIR to /tmp/ocicap. Writes
#   OUTDIR/log-<client>/NNNN-<verb>/...   one dir per runtime call
#   OUTDIR/log-<client>/calls.log         one line per call, "=== step" markers
#   OUTDIR/timings-<client>.tsv           wall time of each client operation
#   OUTDIR/<client>.out                   what the clients printed
# Uses its own OCI_WORK (OUTDIR/work-<client>) and removes it at the end.
set -u
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
which_client=${1:-all}
RUNTIME=$(command -v "${2:-runc}") || { echo "runtime ${2:-runc} not found" >&2; exit 2; }
OUT=${3:-/tmp/ocicap}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
rc_all=0

step() { # step LABEL CMD...
    local label=$1; shift
    oci_cap_mark "$L" "$label"; echo "### $label"
    oci_timed "$label" "$@"; echo "rc=$?"
}

capture_containerd() (
    export OCI_WORK=$OUT/work-containerd
    . "$HERE/containerd.sh"
    L=$OUT/log-containerd; rm -rf "$L"
    export OCI_TIMINGS=$OUT/timings-containerd.tsv; rm -f "$OCI_TIMINGS"
    W=$OUT/bin/$(basename "$RUNTIME")
    oci_install_wrap "$W" "$RUNTIME" "$L"
    trap 'oci_cd_stop; oci_work_remove' EXIT
    oci_timed "containerd start" oci_cd_start || exit 1
    oci_timed "image import" oci_cd_import_busybox || exit 1
    I=$OCI_IMAGE
    cctr() { ctr --address "$OCI_CD_SOCK" -n "$OCI_CD_NS" "$@"; }
    step "ctr run --rm echo hi" oci_ctr run --rm --runc-binary "$W" "$I" c-echo echo hi
    step "ctr run --rm --tty" oci_in_pty ctr --address "$OCI_CD_SOCK" -n "$OCI_CD_NS" run --rm --tty --runc-binary "$W" "$I" c-tty sh -c 'tty; echo in-tty'
    step "ctr run -d sleep" oci_ctr run -d --runc-binary "$W" "$I" c-d sleep 1000
    step "ctr task ls" oci_ctr task ls
    step "ctr task exec (no tty)" oci_ctr task exec --exec-id x1 c-d sh -c 'echo exec-ok; id'
    step "ctr task exec --tty" oci_in_pty ctr --address "$OCI_CD_SOCK" -n "$OCI_CD_NS" task exec --tty --exec-id x2 c-d sh -c 'tty; echo exec-tty'
    step "ctr task ps" oci_ctr task ps c-d
    local pid_cd
    pid_cd=$(oci_ctr task ls | awk '$1=="c-d"{print $2}')
    step "ctr run --rm --with-ns network:/proc/PID/ns/net --device /dev/fuse --seccomp --memory-limit --annotation --read-only --env --mount" \
        oci_ctr run --rm --runc-binary "$W" --with-ns "network:/proc/$pid_cd/ns/net" --device /dev/fuse --seccomp \
        --memory-limit 67108864 --annotation org.example/a=b --read-only --env FOO=bar \
        --mount "type=bind,src=$OUT,dst=/mnt,options=rbind:ro" "$I" c-opts sh -c 'ls -l /dev/fuse; head -3 /proc/self/cgroup'
    step "ctr run --rm --runc-root (private runc state dir)" oci_ctr run --rm --runc-binary "$W" --runc-root "$OCI_WORK/runc-root" "$I" c-root true
    step "ctr task pause" oci_ctr task pause c-d
    step "ctr task ls (paused)" oci_ctr task ls
    step "ctr task resume" oci_ctr task resume c-d
    step "ctr task metrics" oci_ctr task metrics c-d
    step "ctr task kill (SIGTERM)" oci_ctr task kill c-d
    sleep 1
    step "ctr task ls (after SIGTERM: pid 1 ignores it)" oci_ctr task ls
    step "ctr task kill -s SIGKILL" oci_ctr task kill -s SIGKILL c-d
    sleep 0.5
    step "ctr task delete" oci_ctr task delete c-d
    step "ctr container delete" oci_ctr container delete c-d
    step "ctr run -d + kill -a -s SIGKILL + delete -f" bash -c "$(declare -f oci_ctr); OCI_CD_SOCK=$OCI_CD_SOCK OCI_CD_NS=$OCI_CD_NS
        oci_ctr run -d --runc-binary '$W' '$I' c-k sleep 1000 && oci_ctr task kill -a -s SIGKILL c-k; sleep 0.5
        oci_ctr task delete -f c-k; oci_ctr container delete c-k"
    step "ctr run missing command" oci_ctr run --rm --runc-binary "$W" "$I" c-miss /nonexistent
    oci_ctr container delete c-miss >/dev/null 2>&1
    step "ctr run exit code 3" oci_ctr run --rm --runc-binary "$W" "$I" c-exit sh -c 'exit 3'
    cp "$OCI_CD_DIR/containerd.log" "$OUT/containerd.log"
    oci_timed "containerd stop" oci_cd_stop
)

capture_podman() (
    export OCI_WORK=$OUT/work-podman
    . "$HERE/podman.sh"
    L=$OUT/log-podman; rm -rf "$L"
    export OCI_TIMINGS=$OUT/timings-podman.tsv; rm -f "$OCI_TIMINGS"
    # podman gives --log/--log-format=json only to runtimes it knows by
    # basename (runtime_supports_json): keep the real runtime's basename
    export OCI_PM_RUNTIME=$OUT/bin/$(basename "$RUNTIME")
    oci_install_wrap "$OCI_PM_RUNTIME" "$RUNTIME" "$L"
    trap 'oci_pm_cleanup; oci_work_remove' EXIT
    oci_timed "setup" oci_pm_setup || exit 1
    oci_timed "image load" oci_pm_import_busybox || exit 1
    I=$OCI_IMAGE
    local ul=() u
    for u in $(oci_pm_ulimits); do ul+=(--ulimit "$u"); done
    pty() { oci_in_pty bash -c "$(oci_pm_env)
$1"; }
    step "podman run --rm echo hi" oci_pm_run --rm "$I" echo hi
    step "podman run --rm (default cgroup parent)" oci_podman run --rm "${ul[@]}" "$I" echo hi-default
    step "podman run -d sleep" oci_pm_run -d --name d1 "$I" sleep 1000
    step "podman ps" oci_podman ps
    step "podman exec" oci_podman exec d1 sh -c 'echo exec-ok; id'
    step "podman exec -it" pty "oci_podman exec -it d1 sh -c 'tty; echo exec-tty'"
    step "podman run --network/--ipc/--pid container:d1 --device --sysctl --read-only -v --annotation" \
        oci_podman run --rm "${ul[@]}" --network container:d1 --ipc container:d1 --pid container:d1 \
        --device /dev/fuse --sysctl kernel.msgmax=65536 --read-only --env FOO=bar -v "$OUT:/mnt:ro" \
        --annotation org.example/a=b "$I" sh -c 'ls -l /dev/fuse; ps'
    step "podman top" oci_podman top d1
    step "podman pause" oci_podman pause d1
    step "podman unpause" oci_podman unpause d1
    step "podman inspect" oci_podman inspect --format '{{.State.Status}} {{.State.Pid}}' d1
    step "podman kill -s USR1" oci_podman kill -s USR1 d1
    step "podman stop -t 2" oci_podman stop -t 2 d1
    step "podman start" oci_podman start d1
    step "podman stop -t 0" oci_podman stop -t 0 d1
    step "podman rm" oci_podman rm d1
    step "podman run -it" pty "oci_pm_run -it --rm $I sh -c 'tty; echo in-tty'"
    step "podman run --memory 64m" oci_pm_run --rm --memory 64m "$I" cat /sys/fs/cgroup/memory/memory.limit_in_bytes
    step "podman run --pids-limit 50" oci_pm_run --rm --pids-limit 50 "$I" cat /sys/fs/cgroup/pids/pids.max
    step "podman run missing command" oci_pm_run --rm "$I" /nonexistent
    step "podman run exit 3" oci_pm_run --rm "$I" sh -c 'exit 3'
    step "podman run -d + rm -f" oci_pm_sh "oci_pm_run -d --name d2 $I sleep 1000 && oci_podman rm -f -t 0 d2"
    step "podman run -d + ps -a/wait/inspect" oci_pm_sh "oci_pm_run -d --name d3 $I sh -c 'sleep 0.5'; oci_podman ps -a >/dev/null; oci_podman wait d3; oci_podman inspect -f '{{.State.ExitCode}}' d3; oci_podman rm d3"
    step "podman ps --sync" oci_pm_sh "oci_pm_run -d --name d4 $I sleep 1000; oci_podman ps --sync >/dev/null; oci_podman rm -f -t 0 d4"
    step "podman run --pid host + stop" oci_pm_sh "oci_pm_run -d --pid host --name d5 $I sleep 1000; oci_podman stop -t 1 d5; oci_podman rm d5"
    step "podman run -i (stdin pipe)" oci_pm_sh "echo from-stdin | oci_pm_run -i --rm $I cat"
    step "podman run --init" oci_pm_run --rm --init "$I" echo with-init
    step "podman start -a (second start of an exited container)" oci_pm_sh "oci_pm_run --name d6 -d $I true >/dev/null; oci_podman wait d6 >/dev/null; oci_podman start -a d6; oci_podman rm d6"
    oci_timed "cleanup" oci_pm_cleanup
)

case "$which_client" in
    containerd) capture_containerd >"$OUT/containerd.out" 2>&1 || rc_all=1;;
    podman) capture_podman >"$OUT/podman.out" 2>&1 || rc_all=1;;
    all) capture_containerd >"$OUT/containerd.out" 2>&1 || rc_all=1
         capture_podman >"$OUT/podman.out" 2>&1 || rc_all=1;;
    *) echo "usage: $0 [containerd|podman|all] [RUNTIME] [OUTDIR]" >&2; exit 2;;
esac
for c in containerd podman; do
    [ -f "$OUT/log-$c/calls.log" ] && echo "$c: $(grep -vc '^===' "$OUT/log-$c/calls.log") runtime calls -> $OUT/log-$c/calls.log"
done
exit $rc_all
