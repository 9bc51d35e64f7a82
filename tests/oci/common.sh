# shellcheck shell=bash
# Shared helpers for the containerd / podman harnesses. Source, don't run.
#
#   OCI_WORK   private scratch dir (created by oci_work_init if unset)
#   OCI_IMAGE  image name used by both clients (default localhost/busybox:test)

OCI_HARNESS_DIR=${OCI_HARNESS_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)}
OCI_IMAGE=${OCI_IMAGE:-localhost/busybox:test}

oci_log() { printf '[oci %(%T)T] %s\n' -1 "$*" >&2; }
oci_die() { oci_log "ERROR: $*"; return 1; }

# oci_work_init: make sure $OCI_WORK exists (mktemp under /tmp if unset).
oci_work_init() {
    if [ -z "${OCI_WORK:-}" ]; then
        OCI_WORK=$(mktemp -d /tmp/oci-work.XXXXXX) || return 1
        export OCI_WORK
    fi
    mkdir -p "$OCI_WORK"
    OCI_WORK=$(cd "$OCI_WORK" && pwd -P)
    export OCI_WORK
}

# oci_busybox: path of a statically linked busybox (busybox-static).
oci_busybox() {
    local b
    b=$(readlink -f "${OCI_BUSYBOX:-$(command -v busybox)}") || return 1
    [ -x "$b" ] || { oci_die "busybox not found (apt-get install busybox-static)"; return 1; }
    if command -v file >/dev/null && ! file "$b" | grep -q 'statically linked'; then
        oci_die "$b is not statically linked (need busybox-static)"; return 1
    fi
    echo "$b"
}

# oci_build_image [DIR]: writes DIR/busybox-oci.tar (OCI image layout,
# tagged $OCI_IMAGE, index carries linux/<arch>) and DIR/busybox-rootfs.tar.
# Idempotent: skips when both exist and are newer than busybox + mkimage.py.
oci_build_image() {
    local dir=${1:-$OCI_WORK/image} bb
    bb=$(oci_busybox) || return 1
    mkdir -p "$dir"
    if [ "$dir/busybox-oci.tar" -nt "$bb" ] && [ "$dir/busybox-oci.tar" -nt "$OCI_HARNESS_DIR/mkimage.py" ] \
        && [ -s "$dir/busybox-rootfs.tar" ] && [ "$(cat "$dir/.name" 2>/dev/null)" = "$OCI_IMAGE" ]; then
        return 0
    fi
    python3 "$OCI_HARNESS_DIR/mkimage.py" --busybox "$bb" --name "$OCI_IMAGE" \
        --oci-archive "$dir/busybox-oci.tar.tmp" --rootfs-tar "$dir/busybox-rootfs.tar.tmp" >/dev/null || return 1
    mv -f "$dir/busybox-rootfs.tar.tmp" "$dir/busybox-rootfs.tar"
    mv -f "$dir/busybox-oci.tar.tmp" "$dir/busybox-oci.tar"
    echo "$OCI_IMAGE" >"$dir/.name"
}

# oci_umount_under DIR: lazily unmount every mount point at or below DIR,
# deepest first (reads /proc/self/mountinfo, handles \040-escaped names).
oci_umount_under() {
    local dir=$1 m
    [ -n "$dir" ] && [ "$dir" != / ] || return 0
    dir=$(readlink -f "$dir" 2>/dev/null || echo "$dir")
    for _ in 1 2 3; do
        local left=0
        while read -r m; do
            [ -n "$m" ] || continue
            umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
            left=1
        done < <(awk -v d="$dir" '{ p=$5; gsub(/\\040/," ",p); if (p==d || index(p, d"/")==1) print length(p)" "p }' /proc/self/mountinfo \
                  | sort -rn | cut -d' ' -f2-)
        [ $left = 1 ] || break
    done
}

# oci_rm_cgroup REL: remove cgroup REL (e.g. "ocitest" or "machine.slice/x")
# and everything below it, in every v1 hierarchy and the v2 (unified) one.
# Frozen cgroups are thawed first, then every task is SIGKILLed and waited
# for (in all hierarchies) before any rmdir.
oci_rm_cgroup() {
    local rel=${1#/} base dirs=() c i busy pids
    [ -n "$rel" ] || return 0
    for base in /sys/fs/cgroup /sys/fs/cgroup/*; do
        [ -f "$base/cgroup.procs" ] && [ -d "$base/$rel" ] || continue   # hierarchy root with REL
        while read -r c; do dirs+=("$c"); done < <(find "$base/$rel" -depth -type d 2>/dev/null)
    done
    [ ${#dirs[@]} -gt 0 ] || return 0
    for c in "${dirs[@]}"; do
        [ -w "$c/freezer.state" ] && echo THAWED >"$c/freezer.state" 2>/dev/null
        [ -w "$c/cgroup.freeze" ] && echo 0 >"$c/cgroup.freeze" 2>/dev/null
    done
    for ((i = 0; i < 50; i++)); do
        busy=0
        for c in "${dirs[@]}"; do
            # (cgroupfs files report size 0: read them, don't test -s)
            pids=$(cat "$c/cgroup.procs" 2>/dev/null)
            if [ -n "$pids" ]; then
                busy=1; kill -9 $pids 2>/dev/null
            fi
        done
        [ $busy = 0 ] && break
        sleep 0.1
    done
    for ((i = 0; i < 20; i++)); do
        busy=0
        for c in "${dirs[@]}"; do
            [ -d "$c" ] || continue
            rmdir "$c" 2>/dev/null || busy=1
        done
        [ $busy = 0 ] && break
        sleep 0.1
    done
    [ $busy = 0 ] || oci_log "could not remove all of cgroup $rel"
    return 0
}

# oci_pids_mentioning NEEDLE: pids (not this shell) whose cmdline contains NEEDLE.
oci_pids_mentioning() {
    local needle=$1 p
    for p in /proc/[0-9]*; do
        p=${p#/proc/}
        [ "$p" = $$ ] && continue
        if tr '\0' ' ' 2>/dev/null <"/proc/$p/cmdline" | grep -qF -- "$needle"; then echo "$p"; fi
    done
}

oci_wait_gone() { # oci_wait_gone PID [TENTHS]
    local i
    for ((i = 0; i < ${2:-50}; i++)); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.1; done
    return 1
}

# oci_install_wrap WRAP [REAL] [LOGDIR]: write an executable stub WRAP that
# runs tests/oci/runtime-wrap.sh (argv/config capture) in front of REAL.
# Clients do not pass their environment to the runtime (containerd's shim,
# conmon), so the settings are baked into the stub.
oci_install_wrap() {
    local wrap=$1 real=${2:-runc} logdir=${3:-$(dirname "$1")/log}
    real=$(command -v "$real") || { oci_die "runtime $2 not found"; return 1; }
    mkdir -p "$(dirname "$wrap")" "$logdir"
    cat >"$wrap" <<STUB
#!/bin/bash
export OCICAP_REAL=$(printf %q "$real") OCICAP_DIR=$(printf %q "$logdir")
exec $(printf %q "$OCI_HARNESS_DIR/runtime-wrap.sh") "\$@"
STUB
    chmod 755 "$wrap"
}

# oci_cap_mark LOGDIR TEXT: separator line in LOGDIR/calls.log
oci_cap_mark() { mkdir -p "$1"; printf '=== %s\n' "$2" >>"$1/calls.log"; }

# oci_timed LABEL CMD...: run CMD, append "LABEL<TAB>seconds<TAB>rc" to
# $OCI_TIMINGS (if set) and return CMD's status.
oci_timed() {
    local label=$1 t0 t1 rc; shift
    t0=$(date +%s.%N); "$@"; rc=$?; t1=$(date +%s.%N)
    [ -n "${OCI_TIMINGS:-}" ] && printf '%s\t%s\t%s\n' "$label" "$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.3f", b-a}')" "$rc" >>"$OCI_TIMINGS"
    return $rc
}

# oci_in_pty CMD...: run CMD with a pseudo-terminal on stdin/stdout
# (util-linux script), for `ctr run -t`, `podman run -it`, `exec -t`.
oci_in_pty() {
    local cmd
    cmd=$(printf '%q ' "$@")
    script -qefc "$cmd" /dev/null
}

# oci_detach CMD...: run CMD in the background in its own session with
# stdin from /dev/null and every fd above 2 closed, so long-lived daemons
# (containerd, its shims, conmon) never keep a caller's pipe open.
# setsid -f forks, so the daemon's pid is not $!: find it with oci_find_pid.
oci_detach() {
    (
        oci_close_fds
        exec setsid -f "$@" </dev/null
    )
}

# oci_close_fds: close every fd above 2 in the current (sub)shell. Use it in
# a subshell before exec'ing a client that leaves daemons behind (podman ->
# conmon, containerd -> shims): they inherit every fd that is not
# close-on-exec, and a daemon holding a test runner's output pipe keeps the
# runner waiting for EOF. OCI_KEEP_FDS=1 skips it (tests of --preserve-fds).
oci_close_fds() {
    [ "${OCI_KEEP_FDS:-0}" = 1 ] && return 0
    local fd
    for fd in /proc/self/fd/*; do
        fd=${fd##*/}
        [ "$fd" -gt 2 ] 2>/dev/null && eval "exec $fd>&-" 2>/dev/null
    done
    return 0
}

# oci_find_pid COMM NEEDLE: pids whose comm is COMM (a bash glob, e.g.
# 'containerd*') and whose cmdline contains NEEDLE.
oci_find_pid() {
    local p c
    for p in $(oci_pids_mentioning "$2"); do
        c=$(cat "/proc/$p/comm" 2>/dev/null)
        # shellcheck disable=SC2053
        [[ $c == $1 ]] && echo "$p"
    done
}

# oci_kill_daemons NEEDLE COMM...: SIGKILL the processes named COMM... whose
# cmdline contains NEEDLE (never the test's own shells or runners).
oci_kill_daemons() {
    local needle=$1 c p; shift
    for c in "$@"; do
        for p in $(oci_find_pid "$c" "$needle"); do kill -KILL "$p" 2>/dev/null; done
    done
}

# oci_work_remove: unmount everything under $OCI_WORK and delete it.
oci_work_remove() {
    [ -n "${OCI_WORK:-}" ] && [ -d "$OCI_WORK" ] || return 0
    case "$OCI_WORK" in /|/tmp|/var|/var/tmp|/root|/work|/work/main) oci_die "refusing to remove $OCI_WORK"; return 1;; esac
    oci_umount_under "$OCI_WORK"
    rm -rf "$OCI_WORK"
}
