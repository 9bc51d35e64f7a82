#!/usr/bin/env bash
# Startup cost of `/bin/true` in a busybox rootfs: sandbox against bwrap,
# runc and crun, measured in one hyperfine run (ratios, not absolute times).
# Needs root. Usage: bench/startup.sh [extra hyperfine args]
set -euo pipefail
cd "$(dirname "$0")/.."
need=()
for tool in hyperfine bwrap runc busybox; do command -v "$tool" >/dev/null || need+=("$tool"); done
if ((${#need[@]})); then
    pkgs=("${need[@]/busybox/busybox-static}")
    pkgs=("${pkgs[@]/bwrap/bubblewrap}")
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${pkgs[@]}" crun
fi
cargo build --release --locked -q

work=$(mktemp -d /tmp/sandbox-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT
root="$work/bundle/rootfs"
mkdir -p "$root"/{bin,proc,dev,sys,tmp,etc}
cp "$(command -v busybox)" "$root/bin/busybox"
for applet in sh true; do ln -s busybox "$root/bin/$applet"; done

cat > "$work/true.toml" <<TOML
[rootfs]
layers = ["$root"]
[process]
command = ["/bin/true"]
terminal = "never"
TOML

(cd "$work/bundle" && runc spec)
sed -i 's/"terminal": true/"terminal": false/; s/"sh"/"\/bin\/true"/' "$work/bundle/config.json"

# crun refuses hybrid cgroups unless it sees no v2 controllers: hide them in
# a private mount namespace (see DESIGN.md §5).
touch "$work/empty"
crun_cmd="unshare -m sh -c 'mount --bind $work/empty /sys/fs/cgroup/unified/cgroup.controllers 2>/dev/null; crun run --bundle $work/bundle bench-crun-\$\$'"

hyperfine -N --warmup 20 --runs "${RUNS:-300}" "$@" \
    -n sandbox "target/release/sandbox run $work/true.toml" \
    -n bwrap "bwrap --unshare-all --ro-bind $root / --proc /proc --dev /dev --tmpfs /tmp /bin/true" \
    -n runc "runc run --bundle $work/bundle bench-runc" \
    -n crun "sh -c \"$crun_cmd\"" \
    --export-markdown "$work/result.md"
cat "$work/result.md"
