#!/usr/bin/env bash
# The whole test suite, on a fresh machine: installs what it needs, builds,
# runs every tier this machine can run. CI (.ci/run) calls exactly this.
# SANDBOX_MUST_WORK=1 (set by CI) turns every skipped end-to-end test into
# a failure, as bubblewrap's BWRAP_MUST_WORK does.
set -euo pipefail
cd "$(dirname "$0")/.."

# What the end-to-end tiers use: busybox-static (the test rootfs), runc (the
# OCI cross-check), containerd and podman (clients of our OCI runtime), tmux (the terminal tests), perl (raw syscalls in the
# seccomp probes), uidmap (newuidmap for subordinate ids), gcc for crates
# that build C and for the static attack probe (tests/probe/probe.c; libc6-dev
# holds the static libc), util-linux (unshare, setpriv).
need_apt=()
command -v cc >/dev/null || need_apt+=(gcc)
[ -e /usr/lib/x86_64-linux-gnu/libc.a ] || need_apt+=(libc6-dev)
command -v busybox >/dev/null || need_apt+=(busybox-static)
command -v runc >/dev/null || need_apt+=(runc)
command -v tmux >/dev/null || need_apt+=(tmux)
command -v perl >/dev/null || need_apt+=(perl)
command -v newuidmap >/dev/null || need_apt+=(uidmap)
# The OCI clients that drive `sandbox` as their runtime (tests/e2e_clients.rs).
command -v containerd >/dev/null || need_apt+=(containerd)
command -v podman >/dev/null || need_apt+=(podman)
# What tests/completions.rs checks the generated completions and man pages with.
command -v zsh >/dev/null || need_apt+=(zsh)
command -v fish >/dev/null || need_apt+=(fish)
command -v man >/dev/null || need_apt+=(man-db)
command -v groff >/dev/null || need_apt+=(groff-base)
# The registry client's servers and images (tests/registry.rs): a real
# registry on loopback, umoci to build images, skopeo to push them, htpasswd
# for the registry's password file.
command -v docker-registry >/dev/null || need_apt+=(docker-registry)
command -v skopeo >/dev/null || need_apt+=(skopeo)
command -v umoci >/dev/null || need_apt+=(umoci)
command -v htpasswd >/dev/null || need_apt+=(apache2-utils)
# What network.mode = "nat" runs: pasta (Debian's passt) and nft for the
# egress rules; the VM lane copies both into its guest.
[ -x /usr/bin/pasta ] || need_apt+=(passt)
[ -x /usr/sbin/nft ] || need_apt+=(nftables)
# The test lab of tests/e2e_network.rs (root tier only): its DNS server
# and ip; iperf3 for bench/network.sh.
command -v dnsmasq >/dev/null || [ -x /usr/sbin/dnsmasq ] || need_apt+=(dnsmasq-base)
command -v ip >/dev/null || [ -x /usr/sbin/ip ] || need_apt+=(iproute2)
command -v iperf3 >/dev/null || need_apt+=(iperf3)
if ((${#need_apt[@]})); then
    if [ "$(id -u)" = 0 ]; then
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}"
    else
        sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}"
    fi
fi
command -v cargo >/dev/null || { echo "cargo is missing: install Rust with rustup (https://rustup.rs)" >&2; exit 1; }

# insta must compare, never write, snapshots here.
export INSTA_UPDATE=no
status=0
cargo test --locked --no-fail-fast "$@" || status=$?

# Tier 4: the end-to-end suite again, rootless, as a user made for it and
# removed afterwards (tests/common/e2e.rs reads SANDBOX_E2E_USER).
if [ "$(id -u)" = 0 ] && [ $# = 0 ]; then
    user="sbxci$$"
    useradd -M -N -s /bin/sh "$user"
    trap 'userdel "$user" 2>/dev/null' EXIT
    SANDBOX_E2E_USER="$user" cargo test --locked --no-fail-fast \
        --test e2e_run --test e2e_security --test e2e_teardown --test e2e_terminal \
        --test e2e_escape --test e2e_control --test e2e_named --test e2e_images || status=$?
fi
# Tier 5: the cgroup-v2 lane, in a qemu guest (tests/vm/run.sh fetches qemu
# and Debian's cloud kernel if they are missing), with the binary the
# end-to-end tiers just tested (.cargo/config.toml sets the target).
if [ $# = 0 ]; then
    tests/vm/run.sh target/x86_64-unknown-linux-gnu/debug/sandbox || status=$?
fi
exit "$status"
