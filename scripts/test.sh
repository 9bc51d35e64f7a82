#!/usr/bin/env bash
# The whole test suite, on a fresh machine: installs what it needs, builds,
# runs every tier this machine can run. CI (.ci/run) calls exactly this.
# SANDBOX_MUST_WORK=1 (set by CI) turns every skipped end-to-end test into
# a failure, as bubblewrap's BWRAP_MUST_WORK does.
set -euo pipefail
cd "$(dirname "$0")/.."

# What the end-to-end tiers use: busybox-static (the test rootfs), runc (the
# OCI cross-check), tmux (the terminal tests), perl (raw syscalls in the
# seccomp probes), gcc for crates that build C.
need_apt=()
command -v cc >/dev/null || need_apt+=(gcc)
command -v busybox >/dev/null || need_apt+=(busybox-static)
command -v runc >/dev/null || need_apt+=(runc)
command -v tmux >/dev/null || need_apt+=(tmux)
command -v perl >/dev/null || need_apt+=(perl)
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
cargo test --locked --no-fail-fast "$@"
