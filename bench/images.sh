#!/usr/bin/env bash
# Images against their peers, each table ONE hyperfine run (DESIGN.md §7:
# ratios, never a single absolute time):
#   1. pull + unpack of the same image from a local registry (Debian's
#      docker-registry on 127.0.0.1, pushed with skopeo): `sandbox pull`
#      into an empty store, against `skopeo copy` + `umoci unpack` and
#      against `podman pull` (its private storage, overlay or vfs), each
#      starting from nothing every run; and unpack MB/s (uncompressed bytes
#      over the median);
#   2. the second start of an image profile against the same root as one
#      directory layer (target within 10 %) and against its three unpacked
#      layers named as directories (what the store's lookup costs, alone):
#      `sandbox run … -- /bin/true`, every command behind the same `env`.
# The image: a busybox root plus a copy of this host's /usr/share/perl and
# locale, /usr/lib/gcc, perl-base and gconv (many small files and some
# large ones), three layers, gzip as umoci writes them. Needs root.
#
#   bench/images.sh             (RUNS=10 by default; START_RUNS=100)
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
runs=${RUNS:-10}
start_runs=${START_RUNS:-100}

# shellcheck source=lib.sh
. "$repo/bench/lib.sh"
bench_prepare hyperfine:hyperfine busybox:busybox-static python3:python3 podman:podman \
    umoci:umoci skopeo:skopeo docker-registry:docker-registry

work=$(mktemp -d /tmp/sbx-img-bench.XXXXXX)
registry_pid=
cleanup() {
    set +e
    [ -n "$registry_pid" ] && kill "$registry_pid" 2>/dev/null && wait "$registry_pid" 2>/dev/null
    if [ -n "${OCI_WORK:-}" ]; then
        oci_pm_cleanup >/dev/null 2>&1
        oci_work_remove >/dev/null 2>&1
    fi
    rm -rf "$work"
}
trap cleanup EXIT

# The image, built with umoci from host files.
rootfs=$work/rootfs
bench_rootfs "$rootfs"
mkdir -p "$work/l2/usr/share" "$work/l3/usr/lib/x86_64-linux-gnu"
cp -a /usr/share/perl /usr/share/locale "$work/l2/usr/share/"
cp -a /usr/lib/gcc /usr/lib/x86_64-linux-gnu/perl-base /usr/lib/x86_64-linux-gnu/gconv "$work/l3/usr/lib/x86_64-linux-gnu/"
image=$work/layout:1
umoci init --layout "$work/layout" && umoci new --image "$image"
# unpack + repack (umoci 0.4.7's insert writes truncated layers): one layer per repack.
umoci unpack --image "$image" "$work/b" >/dev/null
for src in "$rootfs" "$work/l2" "$work/l3"; do
    cp -a "$src/." "$work/b/rootfs/"
    umoci repack --refresh-bundle --image "$image" "$work/b"
done
size_mb=$(du -sm --apparent-size "$rootfs" "$work/l2" "$work/l3" | awk '{s+=$1} END {print s}')

# The registry, on loopback.
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
mkdir -p "$work/registry"
cat >"$work/registry.yml" <<CONF
version: 0.1
storage: { filesystem: { rootdirectory: $work/registry }, delete: { enabled: true } }
http: { addr: 127.0.0.1:$port }
log: { level: error }
CONF
docker-registry serve "$work/registry.yml" >/dev/null 2>&1 &
registry_pid=$!
for _ in $(seq 100); do curl -fs "http://127.0.0.1:$port/v2/" >/dev/null && break; sleep 0.1; done
ref=127.0.0.1:$port/bench/img:1
skopeo copy -q --dest-tls-verify=false "oci:$image" "docker://$ref"

set +eu
export OCI_WORK
OCI_WORK=$(mktemp -d /tmp/sbx.XXXXXX) # a short path: podman refuses a runroot over 50 characters
# shellcheck source=../tests/oci/podman.sh
. "$repo/tests/oci/podman.sh"
oci_pm_setup >/dev/null 2>&1 || { echo "bench: podman setup failed" >&2; exit 1; }
{ oci_pm_env; echo 'oci_podman "$@"'; } >"$work/pm.sh"
driver=$OCI_PM_DRIVER
set -eu

# Each run starts from nothing: the last run's files are moved aside, not
# deleted (ext4 allocates inodes slowly right after thousands were freed
# nearby, which would charge one tool for the previous run's cleanup).
mkdir -p "$work/trash"
cat >"$work/aside.sh" <<'SH'
#!/bin/sh
# aside.sh DIR...: move each DIR into the trash under a fresh name.
trash=$(dirname "$0")/trash
for d in "$@"; do [ -e "$d" ] && mv "$d" "$(mktemp -d -p "$trash")/"; done
exit 0
SH
chmod +x "$work/aside.sh"
echo "## pull + unpack of a ${size_mb} MB image (3 layers) from a registry on 127.0.0.1"
echo
hyperfine -N --runs "$runs" --export-json "$work/pull.json" --style none \
    --prepare "$work/aside.sh $work/store" \
    -n "sandbox pull" "env SANDBOX_STORE=$work/store $S pull -q docker://$ref" \
    --prepare "$work/aside.sh $work/sk $work/bundle" \
    -n "skopeo copy + umoci unpack" "sh -c 'skopeo copy -q --src-tls-verify=false docker://$ref oci:$work/sk:1 && umoci unpack --image $work/sk:1 $work/bundle'" \
    --prepare "$work/aside.sh $OCI_PM_DIR/root" \
    -n "podman pull ($driver)" "bash $work/pm.sh pull -q --tls-verify=false $ref" >/dev/null
python3 - "$work" "$size_mb" "$driver" <<'PY'
import sys
sys.path.insert(0, "bench")
from table import table, header
work, size, driver = sys.argv[1], float(sys.argv[2]), sys.argv[3]
header()
m = table(work, "pull")
print()
print("| ratio (medians) | value | target |")
print("|---|---:|---:|")
s = m["sandbox pull"]
print(f"| sandbox pull / (skopeo copy + umoci unpack) | {s / m['skopeo copy + umoci unpack']:.2f} | <= 1 |")
print(f"| sandbox pull / podman pull ({driver}) | {s / m[f'podman pull ({driver})']:.2f} | <= 1 |")
print(f"| unpack throughput, sandbox pull | {size / s:.0f} MB/s | |")
PY

# The second start, against the same root as a directory layer.
env SANDBOX_STORE="$work/store" "$S" pull -q "docker://$ref" >/dev/null
printf '[rootfs]\nlayers = ["docker://%s"]\n[process]\nterminal = "never"\n' "$ref" >"$work/image.toml"
umoci unpack --image "$image" "$work/flat" >/dev/null
printf '[rootfs]\nlayers = ["%s"]\n[process]\nterminal = "never"\n' "$work/flat/rootfs" >"$work/dir.toml"
# The same unpacked layers named as directories: what the store adds, alone.
python3 - "$work" <<'PY'
import glob, json, sys
work = sys.argv[1]
rec = json.load(open(glob.glob(f"{work}/store/images/*.json")[0]))
dirs = ", ".join(f'"{work}/store/layers/sha256/{d.split(":")[1]}"' for d in rec["layers"])
open(f"{work}/dirs.toml", "w").write(f'[rootfs]\nlayers = [{dirs}]\n[process]\nterminal = "never"\n')
PY
echo
echo "## second start of an image profile, against a directory layer"
echo
hyperfine -N --runs "$start_runs" --warmup 5 --export-json "$work/start.json" --style none \
    -n "image profile (second start)" "env SANDBOX_STORE=$work/store $S run -q $work/image.toml -- /bin/true" \
    -n "its layers as directories" "env SANDBOX_STORE=$work/store $S run $work/dirs.toml -- /bin/true" \
    -n "directory layer" "env SANDBOX_STORE=$work/store $S run $work/dir.toml -- /bin/true" >/dev/null
python3 - "$work" <<'PY'
import sys
sys.path.insert(0, "bench")
from table import table, header
header()
m = table(sys.argv[1], "start")
print()
print("| ratio (medians) | value | target |")
print("|---|---:|---:|")
i = m['image profile (second start)']
print(f"| image profile / directory layer | {i / m['directory layer']:.2f} | <= 1.10 |")
print(f"| image profile / its layers as directories | {i / m['its layers as directories']:.2f} | |")
PY
