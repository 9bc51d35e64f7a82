#!/usr/bin/env bash
# The cgroup-v2 lane (DESIGN §5, §6 tier 5): boots Debian's cloud kernel
# under qemu (software emulation: KVM cannot boot a guest here) with an
# initramfs holding the sandbox binary, busybox, a test rootfs and
# tests/vm/guest.sh, which mounts only cgroup2 and runs the limit, placement
# and Landlock tests against the real kernel, and the nat network (pasta
# and nftables) as root and rootless. Prints each guest result, how
# long each part took, and ends with `N passed, N failed`; exits non-zero on
# any failure, a missing summary (the guest died) or a timeout.
#
#   tests/vm/run.sh [SANDBOX_BINARY]     (default: the debug build, built now)
#
# Fetches what it lacks: qemu-system-x86 and cpio with apt-get, the kernel
# with `apt-get download` + `dpkg -x` into target/vm (nothing is installed
# from the kernel package). SANDBOX_VM_TIMEOUT bounds the guest (seconds).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
work=$repo/target/vm
timeout_s=${SANDBOX_VM_TIMEOUT:-300}
mkdir -p "$work"

now() { date +%s.%N; }
took() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f s", b - a }'; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
t_all=$(now)

# 1. Tools.
t=$(now)
need=()
command -v qemu-system-x86_64 >/dev/null || need+=(qemu-system-x86)
command -v cpio >/dev/null || need+=(cpio)
command -v busybox >/dev/null || need+=(busybox-static)
# The nat network's user-mode stack and its egress rules (rootless nat tests).
[ -x /usr/bin/pasta ] || need+=(passt)
[ -x /usr/sbin/nft ] || need+=(nftables)
if ((${#need[@]})); then
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
busybox=$(command -v busybox)
if ldd "$busybox" >/dev/null 2>&1; then
    echo "vm: $busybox is dynamically linked; the guest needs busybox-static" >&2
    exit 1
fi

# 2. The kernel: the package linux-image-cloud-amd64 points at, unpacked.
kdir=$work/kernel
if ! ls "$kdir"/boot/vmlinuz-* >/dev/null 2>&1; then
    pkg=$(apt-cache depends linux-image-cloud-amd64 2>/dev/null | awk '/Depends: linux-image-/ { print $2; exit }')
    if [ -z "$pkg" ]; then
        as_root apt-get update -qq
        pkg=$(apt-cache depends linux-image-cloud-amd64 | awk '/Depends: linux-image-/ { print $2; exit }')
    fi
    rm -rf "$work/deb" "$kdir" && mkdir -p "$work/deb"
    # apt-get download runs as _apt where it can; a root-owned directory
    # only warns.
    (cd "$work/deb" && apt-get download "$pkg" 2>&1 | grep -v 'unsandboxed' || true)
    dpkg -x "$work/deb/$pkg"_*.deb "$kdir"
    rm -rf "$work/deb"
fi
vmlinuz=$(ls "$kdir"/boot/vmlinuz-* | head -n1)
kver=${vmlinuz##*/vmlinuz-}
echo "vm: kernel $kver ready ($(took "$t"))"

# 3. The sandbox binary, stripped, with the shared libraries it loads.
t=$(now)
bin=${1:-}
if [ -z "$bin" ]; then
    (cd "$repo" && cargo build --locked --quiet --bin sandbox)
    bin=$repo/target/x86_64-unknown-linux-gnu/debug/sandbox  # .cargo/config.toml
fi

# 4. The initramfs: /init copies everything into a tmpfs and switch_roots
# (pivot_root cannot leave the initramfs root), then guest.sh runs as pid 1.
root=$work/initramfs
rm -rf "$root" && mkdir -p "$root"/{bin,dev,proc,sys,tmp,newroot,etc,vm/bin,vm/rootfs}
# busybox with every applet linked, in the guest's /bin and the sandboxes' rootfs.
applets() {
    cp "$busybox" "$1/busybox"
    for applet in $("$busybox" --list); do [ "$applet" = busybox ] || ln -sf busybox "$1/$applet"; done
}
applets "$root/bin"
strip -o "$root/vm/bin/sandbox" "$bin" 2>/dev/null || cp "$bin" "$root/vm/bin/sandbox"
# libs PROGRAM [DIR]: the shared libraries it loads, at their paths under
# DIR (the guest's root by default).
libs() {
    for lib in $(ldd "$1" 2>/dev/null | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }'); do
        mkdir -p "${2:-$root}$(dirname "$lib")"
        cp -L "$lib" "${2:-$root}$lib"
    done
}
libs "$bin"
# program PATH [DIR]: it at its own path under DIR (a link stays a link),
# with its libraries.
program() {
    mkdir -p "${2:-$root}$(dirname "$1")"
    cp -P "$1" "${2:-$root}$1"
    libs "$1" "${2:-}"
}
# pasta is a link to passt, which execs passt.avx2 when the CPU has AVX2
# (-cpu max may); nft for the egress rules.
for p in /usr/bin/pasta /usr/bin/pasta.avx2 /usr/bin/passt /usr/bin/passt.avx2 /usr/sbin/nft; do
    if [ -e "$p" ]; then program "$p"; fi
done

# Kernel modules, with what they depend on (read from each module's
# .modinfo: the package has no modules.dep), listed in load order in
# /vm/modules/order: overlayfs; tun and dummy for the nat network and the
# guest's own interface; nf_tables with what the egress ruleset uses.
mdir=$kdir/lib/modules/$kver
mkdir -p "$root/vm/modules"
declare -A ko_path=() ko_seen=()
while read -r f; do
    name=${f##*/}
    name=${name%%.ko*}
    ko_path[${name//-/_}]=$f
done < <(find "$mdir" -name '*.ko*')
module() {
    local name=${1//-/_} f dest dep
    [ -z "${ko_seen[$name]:-}" ] || return 0
    ko_seen[$name]=1
    f=${ko_path[$name]:-}
    if [ -z "$f" ]; then
        grep -Eq "/${name//_/[-_]}\.ko" "$mdir/modules.builtin" && return 0
        echo "vm: kernel module $name not found in $mdir" >&2
        exit 1
    fi
    dest=$root/vm/modules/$name.ko
    case $f in
    *.ko.xz) xz -dc "$f" >"$dest" ;;
    *.ko.zst) zstd -qdc "$f" >"$dest" ;;
    *.ko.gz) gzip -dc "$f" >"$dest" ;;
    *) cp "$f" "$dest" ;;
    esac
    for dep in $(tr '\0' '\n' <"$dest" | sed -n 's/^depends=//p' | tr ',' ' '); do
        module "$dep"
    done
    echo "$name" >>"$root/vm/modules/order"
}
for m in overlay tun dummy nf_tables nft_ct nft_reject_inet; do module "$m"; done
cp "$here/guest.sh" "$here/as-user.sh" "$root/vm/"
cp -r "$here/profiles" "$root/vm/profiles"
# The sandboxes' rootfs: busybox and its applets.
mkdir -p "$root"/vm/rootfs/{bin,dev,proc,sys,tmp,etc}
applets "$root/vm/rootfs/bin"
# nft too, for the nat tests to show that the sandbox cannot read its rules.
program /usr/sbin/nft "$root/vm/rootfs"
echo "root:x:0:0:root:/:/bin/sh" >"$root/vm/rootfs/etc/passwd"
echo "root:x:0:" >"$root/vm/rootfs/etc/group"
# The nat tests bind a resolv.conf here (the rootfs belongs to ids that a
# rootless sandbox does not map, so it could not create one).
: >"$root/vm/rootfs/etc/resolv.conf"
cat >"$root/init" <<'INIT'
#!/bin/sh
/bin/busybox mkdir -p /newroot
/bin/busybox mount -t tmpfs -o mode=755 tmpfs /newroot
/bin/busybox cp -a /bin /etc /lib /lib64 /usr /vm /newroot/ 2>/dev/null
/bin/busybox mkdir -p /newroot/dev /newroot/proc /newroot/sys /newroot/tmp
exec /bin/busybox switch_root /newroot /vm/guest.sh
INIT
chmod 755 "$root/init" "$root/vm/guest.sh" "$root/vm/as-user.sh"
(cd "$root" && find . | cpio -o -H newc --quiet | gzip -1 >"$work/initrd.gz")
echo "vm: initramfs $(du -h "$work/initrd.gz" | cut -f1) built ($(took "$t"))"

# 5. Boot. The guest prints PASS/FAIL lines and the summary, then powers off.
t=$(now)
log=$work/console.log
status=0
timeout --foreground "$timeout_s" qemu-system-x86_64 -accel tcg -cpu max -smp 2 -m 1024 \
    -nographic -no-reboot -kernel "$vmlinuz" -initrd "$work/initrd.gz" \
    -append "console=ttyS0 quiet loglevel=3 panic=-1 cgroup_no_v1=all" \
    </dev/null >"$log" 2>&1 || status=$?
tr -d '\r' <"$log" >"$log.txt"
grep -E '^(PASS|FAIL|guest:|    \| )' "$log.txt" || true
summary=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$log.txt" | tail -n1 || true)
echo "vm: guest ran $(took "$t")$( [ "$status" = 124 ] && echo ", and was stopped by the ${timeout_s} s timeout")"
echo "vm: total $(took "$t_all")"
if [ -z "$summary" ]; then
    echo "vm: the guest ended without its summary line; the console's end ($log.txt):" >&2
    tail -n 40 "$log.txt" >&2
    echo "0 passed, 1 failed"
    exit 1
fi
echo "$summary"
case $summary in
*" 0 failed") [ "$status" = 0 ] || { echo "vm: qemu exited with $status" >&2; exit 1; } ;;
*) exit 1 ;;
esac
