#!/bin/bash
# Capturing runtime wrapper: logs how a client (containerd shim, conmon, ...)
# calls an OCI runtime, then runs the real one. Install with
#   oci_install_wrap WRAP REAL LOGDIR     (tests/oci/common.sh)
# which writes a stub that sets OCICAP_REAL / OCICAP_DIR and execs this file.
#
# Each call gets LOGDIR/NNNN-<verb>/ with:
#   argv        one argument per line (printf %q)
#   info        cwd, parent process, ids, start/end time, duration, exit code
#   env         the runtime's environment
#   fds         ls -l /proc/self/fd at entry (what the client passed)
#   config.json copy of <bundle>/config.json   (create, run)
#   process.json copy of --process file        (exec)
#   stdout      what the runtime printed        (state, ps, list, features, events, --version)
#   pid-file    content of --pid-file after the call
#   log-delta   what the runtime appended to its --log file during the call
# and one summary line in LOGDIR/calls.log.
REAL=${OCICAP_REAL:-runc}
DIR=${OCICAP_DIR:-/tmp/ocicap/log}
mkdir -p "$DIR" 2>/dev/null
# what the client handed us, before this script opens anything
# (no pipeline / command substitution here: their pipes would show up)
ls -l /proc/$$/fd/ >"$DIR/.fds.$$" 2>/dev/null
std0=$(readlink /proc/$$/fd/0) std1=$(readlink /proc/$$/fd/1) std2=$(readlink /proc/$$/fd/2)

# sequence number under a lock
exec 9>>"$DIR/.lock"
flock 9
n=$(( $(cat "$DIR/.seq" 2>/dev/null || echo 0) + 1 ))
echo "$n" >"$DIR/.seq"
flock -u 9
exec 9>&-

# --- parse argv: global flags, verb, verb flags
verb="" bundle="" procfile="" pidfile="" logfile="" id=""
args=("$@")
i=0
while [ $i -lt ${#args[@]} ]; do
    a=${args[$i]}
    case "$a" in
        --root|--log|--log-format|--criu|--rootless) [ "$a" = --log ] && logfile=${args[$((i+1))]}; i=$((i+2)); continue;;
        --log=*) logfile=${a#--log=};;
        --version|-v|--help|-h) verb=${verb:-${a#--}};;
        -*) ;;
        *) verb=$a; i=$((i+1)); break;;
    esac
    i=$((i+1))
done
while [ $i -lt ${#args[@]} ]; do
    a=${args[$i]}
    case "$a" in
        --bundle|-b) bundle=${args[$((i+1))]}; i=$((i+1));;
        --bundle=*) bundle=${a#--bundle=};;
        --process|-p) procfile=${args[$((i+1))]}; i=$((i+1));;
        --process=*) procfile=${a#--process=};;
        --pid-file) pidfile=${args[$((i+1))]}; i=$((i+1));;
        --pid-file=*) pidfile=${a#--pid-file=};;
        --console-socket|--cwd|--format|-f|--signal|--preserve-fds|--user|-u|--env|-e|--cap|-c|--apparmor|--process-label|--additional-gids|-g|--cgroup|--interval|--image-path|--work-path|--page-server|--manage-cgroups-mode|--empty-ns|--status-fd|--parent-path|--lazy-pages|--criu-work-path|--link-remap|--ext-unix-sk|--tcp-established|--file-locks|--shell-job)
            case "$a" in --console-socket|--cwd|--format|-f|--signal|--preserve-fds|--user|-u|--env|-e|--cap|-c|--apparmor|--process-label|--additional-gids|-g|--cgroup|--interval|--image-path|--work-path|--page-server|--manage-cgroups-mode|--empty-ns|--status-fd|--parent-path) i=$((i+1));; esac;;
        -*) ;;
        *) [ -z "$id" ] && id=$a;;
    esac
    i=$((i+1))
done
[ -n "$verb" ] || verb=none

d=$DIR/$(printf '%04d' "$n")-$verb
mkdir -p "$d"
printf '%q\n' "$0" "$@" >"$d/argv"
env | sort >"$d/env"
cat /proc/$$/limits >"$d/limits" 2>/dev/null
grep -E '^(Cap|NoNewPrivs|Seccomp)' /proc/$$/status >"$d/status" 2>/dev/null
cat /proc/$$/cgroup >"$d/cgroup" 2>/dev/null
awk 'NR>1 && $(NF-2) != "255" {print $(NF-2), $(NF-1), $NF}' "$DIR/.fds.$$" >"$d/fds"; rm -f "$DIR/.fds.$$"
{
    echo "cwd: $(pwd)"
    echo "real: $REAL"
    echo "pid: $$ ppid: $PPID"
    echo "parent: $(tr '\0' ' ' </proc/$PPID/cmdline 2>/dev/null)"
    echo "uid: $(id -u) gid: $(id -g)"
    echo "stdin: $std0 stdout: $std1 stderr: $std2"
    echo "tty(stdin): $([ -t 0 ] && echo yes || echo no)"
    for v in XDG_RUNTIME_DIR NOTIFY_SOCKET LISTEN_FDS LISTEN_PID _OCI_SYNCPIPE _OCI_STARTPIPE CONTAINERD_ADDRESS GOMAXPROCS; do
        [ -n "${!v+x}" ] && echo "env $v=${!v}"
    done
} >"$d/info"

case "$verb" in
    create|run)
        b=${bundle:-$(pwd)}
        cp "$b/config.json" "$d/config.json" 2>/dev/null
        echo "bundle: $b" >>"$d/info"
        ls -la "$b" >"$d/bundle-ls" 2>&1;;
    exec)
        [ -n "$procfile" ] && cp "$procfile" "$d/process.json" 2>/dev/null;;
esac
logsize=0
[ -n "$logfile" ] && [ -f "$logfile" ] && logsize=$(stat -c %s "$logfile")

t0=$(date +%s.%N)
case "$verb" in
    state|ps|list|features|events|version|v|spec)
        # the client parses stdout: keep a copy
        "$REAL" "$@" | tee "$d/stdout"; rc=${PIPESTATUS[0]};;
    *)
        "$REAL" "$@"; rc=$?;;
esac
t1=$(date +%s.%N)

[ -n "$pidfile" ] && cat "$pidfile" >"$d/pid-file" 2>/dev/null
if [ -n "$logfile" ] && [ -f "$logfile" ]; then
    tail -c +$((logsize + 1)) "$logfile" >"$d/log-delta" 2>/dev/null
    [ -s "$d/log-delta" ] || rm -f "$d/log-delta"
fi
dur=$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.3f", b-a}')
{ echo "start: $t0"; echo "end: $t1"; echo "duration: ${dur}s"; echo "rc: $rc"; } >>"$d/info"
printf '%s %04d rc=%s %6ss %s\n' "$(date +%T.%3N)" "$n" "$rc" "$dur" "$(printf '%q ' "$@")" >>"$DIR/calls.log"
exit $rc
