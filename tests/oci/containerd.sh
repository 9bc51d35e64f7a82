# shellcheck shell=bash
# Private containerd for tests. Source this file, then:
#
#   oci_work_init                 # or export OCI_WORK=/some/tmp/dir first
#   oci_cd_start                  # writes config, starts containerd, waits for it
#   oci_cd_import_busybox         # builds + imports $OCI_IMAGE (no network)
#   oci_ctr run --rm --runc-binary /path/to/runtime "$OCI_IMAGE" c1 echo hi
#   oci_cd_stop                   # kills tasks, shims, daemon; unmounts; rm cgroups+dirs
#
# Everything lives under $OCI_WORK/containerd (root, state, sockets, log).
# Variables (all optional, set before oci_cd_start):
#   OCI_CD_NS          containerd namespace used by oci_ctr (default ocitest);
#                      containers' default cgroupsPath is /$OCI_CD_NS/<id>
#   OCI_CD_SNAPSHOTTER overlayfs|native (default: overlayfs if it works, else native)
#   OCI_CD_LOG_LEVEL   containerd log level (default info)
# Exported after start: OCI_CD_SOCK, OCI_CD_DIR, OCI_CD_PID, CONTAINERD_SNAPSHOTTER
#
# containerd 1.6 hard-codes two host paths that this harness cannot move:
#   /run/containerd/s/<sha256>   shim sockets (hash of our socket path, no clash)
#   /run/containerd/runc/<ns>    default runc --root (unless --runc-root is given)
#   /run/containerd/fifo/        ctr's stdio fifos
# oci_cd_stop removes what this harness's namespace left there.

# shellcheck source=tests/oci/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

OCI_CD_NS=${OCI_CD_NS:-ocitest}

oci_cd_config() {
    local d=$OCI_CD_DIR
    mkdir -p "$d/root" "$d/state" "$d/opt"
    cat >"$d/config.toml" <<TOML
version = 2
root = "$d/root"
state = "$d/state"
oom_score = 0
disabled_plugins = [
  "io.containerd.grpc.v1.cri",
  "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.zfs",
  "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.snapshotter.v1.aufs",
  "io.containerd.tracing.processor.v1.otlp",
  "io.containerd.internal.v1.tracing",
]

[grpc]
  address = "$d/containerd.sock"

[ttrpc]
  address = "$d/containerd.sock.ttrpc"

[debug]
  address = "$d/debug.sock"
  level = "${OCI_CD_LOG_LEVEL:-info}"

[metrics]
  address = ""

[plugins]
  [plugins."io.containerd.internal.v1.opt"]
    path = "$d/opt"
  [plugins."io.containerd.gc.v1.scheduler"]
    pause_threshold = 0.02
TOML
}

# oci_ctr ARGS...: ctr against the private daemon and namespace.
oci_ctr() {
    ctr --address "$OCI_CD_SOCK" --namespace "$OCI_CD_NS" "$@"
}

oci_cd_wait() { # oci_cd_wait [SECONDS]
    local i n=$(( ${1:-30} * 10 ))
    for ((i = 0; i < n; i++)); do
        if [ -S "$OCI_CD_SOCK" ] && ctr --address "$OCI_CD_SOCK" --timeout 2s version >/dev/null 2>&1; then
            return 0
        fi
        if [ -n "${OCI_CD_PID:-}" ] && ! kill -0 "$OCI_CD_PID" 2>/dev/null; then
            oci_die "containerd exited; log:"; tail -n 30 "$OCI_CD_DIR/containerd.log" >&2; return 1
        fi
        sleep 0.1
    done
    oci_die "containerd did not answer on $OCI_CD_SOCK"; tail -n 30 "$OCI_CD_DIR/containerd.log" >&2
    return 1
}

oci_cd_start() {
    oci_work_init || return 1
    OCI_CD_DIR=$OCI_WORK/containerd
    OCI_CD_SOCK=$OCI_CD_DIR/containerd.sock
    export OCI_CD_DIR OCI_CD_SOCK OCI_CD_NS
    if [ -f "$OCI_CD_DIR/pid" ] && kill -0 "$(cat "$OCI_CD_DIR/pid")" 2>/dev/null \
        && ctr --address "$OCI_CD_SOCK" --timeout 2s version >/dev/null 2>&1; then
        OCI_CD_PID=$(cat "$OCI_CD_DIR/pid"); export OCI_CD_PID
        oci_cd_pick_snapshotter; return $?          # already running: idempotent
    fi
    command -v containerd >/dev/null || { oci_die "containerd not installed"; return 1; }
    [ -d /run/containerd ] || { mkdir -p /run/containerd && touch "$OCI_WORK/.created-run-containerd"; }
    mkdir -p "$OCI_CD_DIR"
    oci_cd_config
    # own session, so a test's ^C or job control never
    # reaches it; stdin from /dev/null so it never holds the caller's tty.
    oci_detach containerd --config "$OCI_CD_DIR/config.toml" >>"$OCI_CD_DIR/containerd.log" 2>&1
    local i
    for ((i = 0; i < 50; i++)); do
        OCI_CD_PID=$(oci_find_pid containerd "$OCI_CD_DIR/config.toml" | head -n1)
        [ -n "$OCI_CD_PID" ] && break
        sleep 0.1
    done
    [ -n "$OCI_CD_PID" ] || { oci_die "containerd did not start"; tail -n 30 "$OCI_CD_DIR/containerd.log" >&2; return 1; }
    echo "$OCI_CD_PID" >"$OCI_CD_DIR/pid"
    export OCI_CD_PID
    oci_cd_wait 30 || { oci_cd_stop; return 1; }
    oci_cd_pick_snapshotter
}

# Use overlayfs when containerd loaded it (it test-mounts on start), else native.
oci_cd_pick_snapshotter() {
    local want=${OCI_CD_SNAPSHOTTER:-}
    if [ -z "$want" ]; then
        if ctr --address "$OCI_CD_SOCK" plugins ls 2>/dev/null \
            | awk '$1=="io.containerd.snapshotter.v1" && $2=="overlayfs" {print $NF}' | grep -qx ok; then
            want=overlayfs
        else
            want=native
        fi
    fi
    OCI_CD_SNAPSHOTTER=$want
    CONTAINERD_SNAPSHOTTER=$want     # read by ctr run / image import / unpack
    export OCI_CD_SNAPSHOTTER CONTAINERD_SNAPSHOTTER
}

# oci_cd_import_busybox: build (if needed) and import $OCI_IMAGE.
# The archive's index names exactly one linux/<host arch> manifest, so the
# default platform matcher of `ctr image import` finds it; --all-platforms
# is not needed (and --platform linux/amd64 would be equivalent here).
oci_cd_import_busybox() {
    oci_build_image "$OCI_WORK/image" || return 1
    if oci_ctr image ls -q 2>/dev/null | grep -qxF "$OCI_IMAGE"; then
        return 0
    fi
    oci_ctr image import --snapshotter "$OCI_CD_SNAPSHOTTER" "$OCI_WORK/image/busybox-oci.tar" >&2 || return 1
    oci_ctr image ls -q | grep -qxF "$OCI_IMAGE" || { oci_die "import did not create $OCI_IMAGE"; return 1; }
}

# oci_cd_clean_tasks: kill and delete every task/container/snapshot of our namespace.
oci_cd_clean_tasks() {
    [ -S "${OCI_CD_SOCK:-/nonexistent}" ] || return 0
    local t c
    for t in $(oci_ctr --timeout 10s task ls -q 2>/dev/null); do
        oci_ctr --timeout 10s task resume "$t" >/dev/null 2>&1
        oci_ctr --timeout 10s task kill -a -s SIGKILL "$t" >/dev/null 2>&1
    done
    for t in $(oci_ctr --timeout 10s task ls -q 2>/dev/null); do
        oci_ctr --timeout 20s task delete -f "$t" >/dev/null 2>&1
    done
    for c in $(oci_ctr --timeout 10s container ls -q 2>/dev/null); do
        oci_ctr --timeout 10s container delete "$c" >/dev/null 2>&1
    done
}

# Shim sockets (/run/containerd/s/<sha256>) and ctr's fifo dirs
# (/run/containerd/fifo/<n>/<id>-stdout ...) outlive killed shims/clients:
# remove the ones that belong to the bundles under DIR.
oci_cd_rm_host_leftovers() {
    local d=$1 b a id f
    for b in "$d"/state/io.containerd.runtime.v2.task/*/*/; do
        [ -d "$b" ] || continue
        id=$(basename "$b")
        a=$(cat "$b/address" 2>/dev/null); a=${a#unix://}
        case "$a" in /run/containerd/s/*) rm -f -- "$a";; esac
        for f in /run/containerd/fifo/*/"$id"-stdin /run/containerd/fifo/*/"$id"-stdout /run/containerd/fifo/*/"$id"-stderr; do
            [ -p "$f" ] && rm -f -- "$f" && rmdir "$(dirname "$f")" 2>/dev/null
        done
    done
    return 0
}

oci_cd_stop() {
    [ -n "${OCI_WORK:-}" ] || return 0
    local d=${OCI_CD_DIR:-$OCI_WORK/containerd} pid
    OCI_CD_SOCK=${OCI_CD_SOCK:-$d/containerd.sock}
    oci_cd_clean_tasks
    pid=${OCI_CD_PID:-$(cat "$d/pid" 2>/dev/null)}
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid" 2>/dev/null
        oci_wait_gone "$pid" 100 || kill -KILL "$pid" 2>/dev/null
        oci_wait_gone "$pid" 30
    fi
    # shims started by our daemon carry "-address $d/containerd.sock"
    # (comm is cut to 15 chars: "containerd-shim"); ctr clients still attached
    oci_kill_daemons "$d/" 'containerd*' ctr
    oci_rm_cgroup "$OCI_CD_NS"          # default cgroupsPath /<ns>/<id> (kills leftovers)
    oci_cd_rm_host_leftovers "$d"
    oci_umount_under "$d"
    rm -rf "/run/containerd/runc/$OCI_CD_NS" 2>/dev/null
    rmdir /run/containerd/runc /run/containerd/fifo /run/containerd/s 2>/dev/null
    if [ -f "$OCI_WORK/.created-run-containerd" ]; then
        rmdir /run/containerd 2>/dev/null; rm -f "$OCI_WORK/.created-run-containerd"
    fi
    rm -rf "$d"
    unset OCI_CD_PID
    return 0
}
