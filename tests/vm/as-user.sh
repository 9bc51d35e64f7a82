#!/bin/sh
# as-user.sh CMD [ARGS...]: CMD as uid 1000 (sbx) in the guest. busybox su
# would take options from ARGS (a `--` among them vanishes), so the command
# goes in one quoted string; su execs the shell, which execs CMD, so CMD
# keeps this process and its cgroup.
cmd=exec
for arg in "$@"; do
    cmd="$cmd '$(printf '%s' "$arg" | sed "s/'/'\\\\''/g")'"
done
exec su -s /bin/sh sbx -c "$cmd"
