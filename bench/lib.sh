# Shared by bench/oci.sh and bench/named.sh (sourced).

# bench_prepare TOOL:PACKAGE...: install what is missing, build the release
# binary, and set S to it (.cargo/config.toml sets the target).
bench_prepare() {
    local need=() tool
    for tool in "$@"; do
        command -v "${tool%%:*}" >/dev/null || need+=("${tool#*:}")
    done
    if ((${#need[@]})); then
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
    fi
    cargo build --release --locked -q
    S=$repo/target/x86_64-unknown-linux-gnu/release/sandbox
}

# bench_crun_wrapper WORK: WORK/crun, crun behind a private mount namespace
# that hides the v2 controllers: crun 1.8 refuses hybrid cgroups unless it
# sees none (DESIGN.md §5).
bench_crun_wrapper() {
    touch "$1/empty"
    cat >"$1/crun" <<EOF2
#!/bin/sh
exec unshare -m sh -c 'mount --bind $1/empty /sys/fs/cgroup/unified/cgroup.controllers; exec crun "\$@"' crun "\$@"
EOF2
    chmod +x "$1/crun"
}

# bench_rootfs DIR: a busybox-static root with sh, true and sleep.
bench_rootfs() {
    mkdir -p "$1"/{bin,proc,dev,sys,tmp,etc}
    cp "$(command -v busybox)" "$1/bin/busybox"
    for applet in sh true sleep; do ln -s busybox "$1/bin/$applet"; done
}

# bench_bundle DIR ROOTFS ARGS_JSON: `runc spec`'s config in DIR on ROOTFS
# (read-only), running ARGS_JSON, with a pids limit so each runtime makes
# a cgroup.
bench_bundle() {
    mkdir -p "$1"
    (cd "$1" && runc spec)
    python3 - "$1/config.json" "$2" "$3" <<'PY'
import json, sys
path, rootfs, args = sys.argv[1:]
c = json.load(open(path))
c["root"] = {"path": rootfs, "readonly": True}
c["process"]["terminal"] = False
c["process"]["args"] = json.loads(args)
c["linux"]["resources"]["pids"] = {"limit": 64}
json.dump(c, open(path, "w"))
PY
}

# bench_commands: every command of the global arrays `names` and `cmds`
# must succeed once before it is timed (a failing one would be timed as
# fast); then the global `args` holds hyperfine's `-n NAME CMD` pairs.
bench_commands() {
    local i out
    for i in "${!cmds[@]}"; do
        if ! out=$(sh -c "${cmds[$i]}" 2>&1); then
            echo "bench: ${names[$i]} fails: ${cmds[$i]}" >&2
            echo "$out" >&2
            exit 1
        fi
    done
    args=()
    for i in "${!cmds[@]}"; do args+=(-n "${names[$i]}" "${cmds[$i]}"); done
}
