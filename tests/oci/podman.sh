# shellcheck shell=bash
# Private podman for tests (rootful, cgroupfs, no network). Source, then:
#
#   oci_work_init                  # or export OCI_WORK=/some/tmp/dir
#   oci_pm_setup                   # private config + storage under $OCI_WORK/podman
#   oci_pm_import_busybox          # podman load of the OCI archive -> $OCI_IMAGE
#   oci_podman --runtime /path/to/runtime run --rm "$OCI_IMAGE" echo hi
#   oci_pm_cleanup                 # rm -af, unmount storage, rm cgroups + dirs
#
# Nothing in /etc is read or written for configuration that matters:
#   CONTAINERS_CONF             $OCI_WORK/podman/containers.conf
#   CONTAINERS_REGISTRIES_CONF  $OCI_WORK/podman/registries.conf
#   CONTAINERS_STORAGE_CONF     $OCI_WORK/podman/storage.conf
#   signature policy            $OCI_WORK/podman/policy.json (--signature-policy)
# and oci_podman repeats the storage/runtime settings as global flags, because
# conmon's exit command (`podman container cleanup`) gets the flags but not
# necessarily the environment.
#
# Defaults in the private containers.conf:
#   cgroup_manager=cgroupfs, events_logger=file, log_driver=k8s-file,
#   netns=none (= --network none), runtime=runc (override with --runtime),
#   default_ulimits = nofile at this shell's hard limit, nproc at
#   min(hard, 32768): podman (rootful) otherwise asks for RLIMIT_NOFILE and
#   RLIMIT_NPROC = 1048576, which the runtime cannot set above its inherited
#   hard limits without CAP_SYS_RESOURCE (missing from this machine's
#   bounding set; hard nofile is 20000). See oci_pm_ulimits.
#   An explicit --ulimit on the command line REPLACES default_ulimits, so
#   oci_pm_run passes both again.
# Host paths podman 4.3 uses even with the private config (no flag or config
# key moves them); oci_pm_cleanup removes the ones that oci_pm_setup found
# missing (see OCI_PM_HOST_PATHS):
#   /dev/shm/libpod_lock                        SHM locks (2048 by default; do
#                                               not change num_locks: a host
#                                               podman would then fail to open it)
#   /var/lib/containers/cache/blob-info-cache-v1.boltdb   c/image cache (load/import)
#   /run/containers/networks                    netavark run dir
# Variables: OCI_PM_RUNTIME path of the OCI runtime (global --runtime) for
#            every oci_podman call (default: runc from PATH),
#            OCI_PM_JSON_RUNTIMES extra runtime basenames that get
#            --log/--log-format=json (crun runc kata runsc krun sandbox
#            runc-wrap are always listed),
#            OCI_PM_DRIVER overlay|vfs (default overlay if it works),
#            OCI_PM_CGROUP_PARENT (default /ocitest_podman).

# shellcheck source=tests/oci/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

OCI_PM_CGROUP_PARENT=${OCI_PM_CGROUP_PARENT:-/ocitest_podman}

oci_pm_ulimits() { # the --ulimit values that work here
    # podman 4.3 lowers its own RLIMIT_NPROC to 32768 (setrlimit at start,
    # seen with strace) before starting conmon, so the runtime inherits
    # hard nproc <= 32768, and asks for nofile = nproc = 1048576 in
    # config.json unless told otherwise. Without CAP_SYS_RESOURCE (absent
    # from this machine's bounding set) the runtime cannot raise a hard limit.
    local nofile nproc
    nofile=$(ulimit -Hn); [ "$nofile" = unlimited ] && nofile=1048576
    nproc=$(ulimit -Hu);  [ "$nproc" = unlimited ] && nproc=1048576
    [ "$nproc" -gt 32768 ] && nproc=32768
    echo "nofile=$nofile:$nofile nproc=$nproc:$nproc"
}

oci_pm_write_config() {
    local p=$OCI_PM_DIR u q=
    mkdir -p "$p/root" "$p/runroot" "$p/tmp" "$p/net" "$p/volumes"
    for u in $(oci_pm_ulimits); do q+="\"$u\", "; done
    cat >"$p/containers.conf" <<CONF
[containers]
# CONTAINERS_CONF replaces *all* system containers.conf files, so repeat what
# Debian 12's /usr/share/containers/containers.conf sets (without it podman
# falls back to its built-in 14 capabilities and no default sysctl).
default_capabilities = [ "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL",
  "NET_BIND_SERVICE", "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT" ]
default_sysctls = [ "net.ipv4.ping_group_range=0 0" ]
netns = "none"
log_driver = "k8s-file"
default_ulimits = [ ${q%, } ]
cgroups = "enabled"

[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "$p/tmp/events.log"
tmp_dir = "$p/tmp"
volume_path = "$p/volumes"
image_copy_tmp_dir = "$p/tmp"
runtime = "runc"
# podman passes --log <userdata>/oci-log --log-format=json to the runtime and
# reads errors back from that file only for runtimes whose *basename* is in
# this list (default: crun runc kata runsc krun).
runtime_supports_json = [ $(for n in crun runc kata runsc krun sandbox runc-wrap ${OCI_PM_JSON_RUNTIMES:-}; do printf '"%s", ' "$n"; done | sed 's/, $//') ]

[network]
network_config_dir = "$p/net"
default_rootless_network_cmd = "slirp4netns"
CONF
    cat >"$p/storage.conf" <<CONF
[storage]
driver = "$OCI_PM_DRIVER"
runroot = "$p/runroot"
graphroot = "$p/root"
[storage.options]
[storage.options.overlay]
mountopt = "nodev"
CONF
    cat >"$p/registries.conf" <<'CONF'
unqualified-search-registries = []
short-name-mode = "permissive"
CONF
    cat >"$p/policy.json" <<'CONF'
{ "default": [ { "type": "insecureAcceptAnything" } ] }
CONF
}

# oci_podman ARGS...: podman with the private storage / config.
# Runs in a subshell with fds > 2 closed (see oci_close_fds).
oci_podman() (
    oci_close_fds
    export CONTAINERS_CONF=$OCI_PM_DIR/containers.conf \
        CONTAINERS_REGISTRIES_CONF=$OCI_PM_DIR/registries.conf \
        CONTAINERS_STORAGE_CONF=$OCI_PM_DIR/storage.conf
    exec podman --root "$OCI_PM_DIR/root" --runroot "$OCI_PM_DIR/runroot" \
        --storage-driver "$OCI_PM_DRIVER" --tmpdir "$OCI_PM_DIR/tmp" \
        --cgroup-manager cgroupfs --events-backend file \
        --network-config-dir "$OCI_PM_DIR/net" \
        ${OCI_PM_RUNTIME:+--runtime "$OCI_PM_RUNTIME"} "$@"
)

# oci_pm_run ARGS...: `podman run` with the test defaults spelled out
# (--network none, --cgroup-parent, --ulimit) in front of ARGS.
oci_pm_run() {
    local u uargs=()
    for u in $(oci_pm_ulimits); do uargs+=(--ulimit "$u"); done
    oci_podman run --network none --cgroup-parent "$OCI_PM_CGROUP_PARENT" "${uargs[@]}" "$@"
}

# oci_pm_env: shell text that recreates the podman helpers and settings in
# another bash (for `bash -c`, `timeout`, `script`, tmux).
oci_pm_env() {
    declare -f oci_close_fds oci_podman oci_pm_run oci_pm_ulimits
    declare -p OCI_PM_DIR OCI_PM_DRIVER OCI_PM_CGROUP_PARENT OCI_IMAGE 2>/dev/null | sed 's/^declare -[a-z-]* /export /'
    [ -n "${OCI_PM_RUNTIME:-}" ] && printf 'export OCI_PM_RUNTIME=%q\n' "$OCI_PM_RUNTIME"
    [ -n "${OCI_KEEP_FDS:-}" ] && printf 'export OCI_KEEP_FDS=%q\n' "$OCI_KEEP_FDS"
    return 0
}

# oci_pm_sh 'SHELL TEXT': run text that uses oci_podman / oci_pm_run in a new bash.
oci_pm_sh() { bash -c "$(oci_pm_env)
$1"; }

OCI_PM_HOST_PATHS="/dev/shm/libpod_lock /var/lib/containers/cache /run/containers/networks"

# Record, for each host path podman will create, the top-most missing
# ancestor (once per $OCI_WORK), so cleanup removes exactly what appeared.
oci_pm_note_host_paths() {
    local f=$OCI_WORK/.pm-created-host-paths p top
    [ -e "$f" ] && return 0
    : >"$f"
    if ! ls -d /sys/fs/cgroup/libpod_parent /sys/fs/cgroup/*/libpod_parent >/dev/null 2>&1; then
        touch "$OCI_WORK/.pm-created-libpod-parent"
    fi
    for p in $OCI_PM_HOST_PATHS; do
        top=
        while [ "$p" != / ] && [ ! -e "$p" ]; do top=$p; p=$(dirname "$p"); done
        [ -n "$top" ] && echo "$top" >>"$f"
    done
    return 0
}

oci_pm_setup() {
    oci_work_init || return 1
    command -v podman >/dev/null || { oci_die "podman not installed"; return 1; }
    command -v conmon >/dev/null || [ -x /usr/libexec/podman/conmon ] || { oci_die "conmon not installed"; return 1; }
    OCI_PM_DIR=$OCI_WORK/podman
    export OCI_PM_DIR
    oci_pm_note_host_paths
    if [ -z "${OCI_PM_DRIVER:-}" ]; then
        OCI_PM_DRIVER=$(cat "$OCI_PM_DIR/.driver" 2>/dev/null)
    fi
    if [ -z "${OCI_PM_DRIVER:-}" ]; then
        OCI_PM_DRIVER=overlay
        oci_pm_write_config
        if ! oci_podman info --format '{{.Store.GraphDriverName}}' >"$OCI_PM_DIR/.probe" 2>&1 \
            || ! grep -qx overlay "$OCI_PM_DIR/.probe"; then
            oci_log "podman overlay driver unusable, using vfs: $(tail -n 3 "$OCI_PM_DIR/.probe")"
            oci_pm_reset_storage
            OCI_PM_DRIVER=vfs
        fi
        echo "$OCI_PM_DRIVER" >"$OCI_PM_DIR/.driver"
    fi
    export OCI_PM_DRIVER
    oci_pm_write_config
}

oci_pm_import_busybox() {
    oci_build_image "$OCI_WORK/image" || return 1
    if oci_podman image exists "$OCI_IMAGE" 2>/dev/null; then return 0; fi
    oci_podman load --signature-policy "$OCI_PM_DIR/policy.json" -q -i "$OCI_WORK/image/busybox-oci.tar" >&2 || return 1
    oci_podman image exists "$OCI_IMAGE" || { oci_die "podman load did not create $OCI_IMAGE"; return 1; }
}

# Alternative: a plain rootfs tar through `podman import` (no OCI layout).
oci_pm_import_rootfs() { # [NAME]
    local name=${1:-localhost/busybox-import:test}
    oci_build_image "$OCI_WORK/image" || return 1
    oci_podman import --signature-policy "$OCI_PM_DIR/policy.json" -q \
        --change 'CMD ["sh"]' --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        "$OCI_WORK/image/busybox-rootfs.tar" "$name" >&2
}

oci_pm_reset_storage() {
    oci_umount_under "$OCI_PM_DIR/root"
    oci_umount_under "$OCI_PM_DIR/runroot"
    rm -rf "$OCI_PM_DIR/root" "$OCI_PM_DIR/runroot" "$OCI_PM_DIR/tmp"
}

oci_pm_cleanup() {
    [ -n "${OCI_WORK:-}" ] || return 0
    OCI_PM_DIR=${OCI_PM_DIR:-$OCI_WORK/podman}
    [ -d "$OCI_PM_DIR" ] || return 0
    OCI_PM_DRIVER=${OCI_PM_DRIVER:-$(cat "$OCI_PM_DIR/.driver" 2>/dev/null || echo overlay)}
    local p
    if [ -f "$OCI_PM_DIR/containers.conf" ]; then
        timeout 60 bash -c "$(oci_pm_env)
oci_podman pod rm -af -t 0; oci_podman rm -af -t 0" >/dev/null 2>&1
    fi
    # conmon and its exit command (`podman container cleanup`) name our dirs;
    # two passes, since a dying conmon may still spawn its exit command
    local pass
    for pass in 1 2; do
        oci_kill_daemons "$OCI_PM_DIR/" conmon podman
        oci_rm_cgroup "$OCI_PM_CGROUP_PARENT"
        # podman's default parent, if a test used it and it was not there before
        [ -f "$OCI_WORK/.pm-created-libpod-parent" ] && oci_rm_cgroup libpod_parent
        oci_umount_under "$OCI_PM_DIR"
        rm -rf "$OCI_PM_DIR" 2>/dev/null
        [ -z "$(oci_find_pid conmon "$OCI_PM_DIR/")$(oci_find_pid podman "$OCI_PM_DIR/")" ] && [ ! -e "$OCI_PM_DIR" ] && break
        sleep 0.5
    done
    if [ -f "$OCI_WORK/.pm-created-host-paths" ]; then
        # only when no other podman is running (it could be using them)
        if [ -z "$(for q in /proc/[0-9]*; do [ "$(cat $q/comm 2>/dev/null)" = podman ] && echo x; done)" ]; then
            while read -r p; do
                case "$p" in /dev/shm/libpod_lock|/var/lib/containers*|/run/containers*) rm -rf -- "$p";; esac
            done <"$OCI_WORK/.pm-created-host-paths"
        fi
        rm -f "$OCI_WORK/.pm-created-host-paths"
    fi
    rm -f "$OCI_WORK/.pm-created-libpod-parent"
    return 0
}
