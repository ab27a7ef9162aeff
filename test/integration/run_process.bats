#!/usr/bin/env bats
# husk run as a process: signals sent to husk reach the command, a SIGKILL of
# husk takes the command with it, and nothing is left mounted or running.

bats_require_minimum_version 1.5.0
load helpers

# The command of the signal tests: traps SIG, says "ready", waits.
trap_script() {
    printf '%s' "trap 'echo got-$1; exit 7' $1; echo ready; while :; do sleep 0.1; done"
}

# forward_test IMG SIG: husk gets SIG with kill(2); the command traps it.
forward_test() {
    local img=$1 sig=$2 out=$BATS_TEST_TMPDIR/out
    start_bg "$out" "$HUSK" run "$img" -- sh -c "$(trap_script "$sig")"
    if ! wait_until 10 file_has "$out" ready; then
        cat "$out"
        echo "the command did not start" >&2
        return 1
    fi
    kill -s "$sig" "$BG_PID"
    wait_status "$BG_PID"
    cat "$out"
    [ "$STATUS" -eq 7 ]
    file_has "$out" "got-$sig"
}

# has_command PID: PID (husk) has a child running `sleep 1000.$BATS_ROOT_PID`.
has_command() {
    pgrep -P "$1" -f "^sleep 1000\.$BATS_ROOT_PID" >/dev/null
}

# start_sleeper IMG [OPTIONS...]: husk runs a long sleep; sets BG_PID (husk)
# and CMD_PID (the sleep).
start_sleeper() {
    local img=$1
    shift
    start_bg "$BATS_TEST_TMPDIR/out" "$HUSK" run "$@" "$img" -- sleep "1000.$BATS_ROOT_PID"
    if ! wait_until 10 has_command "$BG_PID"; then
        cat "$BATS_TEST_TMPDIR/out"
        echo "the command did not start" >&2
        return 1
    fi
    CMD_PID=$(pgrep -P "$BG_PID" -f "^sleep 1000\.$BATS_ROOT_PID")
}

teardown() {
    # a command that outlived husk (a failed test): kill it, by pid
    if [ -n "${CMD_PID:-}" ] && alive "$CMD_PID" &&
        [[ $(tr '\0' ' ' <"/proc/$CMD_PID/cmdline" 2>/dev/null) == "sleep 1000.$BATS_ROOT_PID"* ]]; then
        kill -KILL "$CMD_PID" 2>/dev/null || true
    fi
    kill_bg
}

# --- signal forwarding -----------------------------------------------------

@test "busybox: SIGTERM to husk reaches the command" {
    forward_test "$IMG_BUSYBOX" TERM
}

@test "busybox: SIGUSR1 to husk reaches the command" {
    forward_test "$IMG_BUSYBOX" USR1
}

@test "busybox: SIGHUP to husk reaches the command" {
    forward_test "$IMG_BUSYBOX" HUP
}

@test "busybox: SIGINT sent with kill(2) (no terminal) reaches the command" {
    forward_test "$IMG_BUSYBOX" INT
}

@test "busybox: SIGUSR2 and SIGQUIT to husk reach the command" {
    forward_test "$IMG_BUSYBOX" USR2
    forward_test "$IMG_BUSYBOX" QUIT
}

@test "debian: SIGTERM, SIGUSR1, SIGHUP and SIGINT to husk reach the command" {
    local sig
    for sig in TERM USR1 HUP INT; do
        forward_test "$IMG_DEBIAN" "$sig"
    done
}

@test "busybox: a forwarded SIGTERM that the command does not trap gives 143" {
    start_sleeper "$IMG_BUSYBOX"
    kill -TERM "$BG_PID"
    wait_status "$BG_PID"
    [ "$STATUS" -eq 143 ]
    dead "$CMD_PID"
}

# --- SIGKILL of husk -------------------------------------------------------

@test "busybox: SIGKILL of husk kills the command" {
    start_sleeper "$IMG_BUSYBOX"
    kill -KILL "$BG_PID"
    wait_status "$BG_PID"
    [ "$STATUS" -eq 137 ]
    # PR_SET_PDEATHSIG: the command goes at once (a zombie counts as gone:
    # reaping orphans is init's business)
    if ! wait_until 5 dead "$CMD_PID"; then
        ps -o pid,ppid,stat,args -p "$CMD_PID" >&2 || true
        echo "the command $CMD_PID outlived husk" >&2
        return 1
    fi
}

@test "debian: SIGKILL of husk kills the command" {
    start_sleeper "$IMG_DEBIAN"
    kill -KILL "$BG_PID"
    wait_status "$BG_PID"
    wait_until 5 dead "$CMD_PID"
}

@test "busybox: SIGKILL of husk with --overlay kills the command" {
    start_sleeper "$IMG_BUSYBOX" --overlay
    kill -KILL "$BG_PID"
    wait_status "$BG_PID"
    wait_until 5 dead "$CMD_PID"
}

# --- nothing left mounted --------------------------------------------------

@test "the host's mount table shows nothing of a running container" {
    start_sleeper "$IMG_BUSYBOX" -b "$BATS_TEST_TMPDIR:/mnt"
    assert_no_container_mounts "$IMG_BUSYBOX" "$BATS_TEST_TMPDIR"
    kill -TERM "$BG_PID"
    wait_status "$BG_PID"
    [ "$STATUS" -eq 143 ]
    assert_no_container_mounts "$IMG_BUSYBOX" "$BATS_TEST_TMPDIR"
}

@test "the host's mount table shows nothing after -w and --overlay runs" {
    run -0 husk run -w "$IMG_BUSYBOX_OWNED" -- true
    run -0 husk run --overlay "$IMG_BUSYBOX_OWNED" -- true
    run -0 husk run --overlay --private-tmp "$IMG_DEBIAN" -- true
    run -125 husk run -b /tmp:/no-such-dir "$IMG_BUSYBOX" -- true
    assert_no_container_mounts "$IMG_BUSYBOX" "$IMG_BUSYBOX_OWNED" "$IMG_DEBIAN"
}

@test "the container's mount table keeps neither the host's root nor the staging root" {
    start_sleeper "$IMG_BUSYBOX"
    # mount points, as the command sees them (field 5)
    run -0 awk '{ print $5 }' "/proc/$CMD_PID/mountinfo"
    assert_output_has /
    assert_output_has /proc
    assert_output_has /tmp
    if grep -E '^/(oldroot|newroot|files|overlay)(/|$)' <<<"$output"; then
        echo "a staging mount is left in the container" >&2
        return 1
    fi
    # the command's root is the image, not the host's root
    [ "$(stat -L -c %d:%i "/proc/$CMD_PID/root/husk-image")" = "$(stat -c %d:%i "$IMG_BUSYBOX/husk-image")" ]
    kill -TERM "$BG_PID"
    wait_status "$BG_PID"
}

@test "the command sees its root as the image read-only, nosuid, nodev" {
    run -0 husk run "$IMG_BUSYBOX" -- cat /proc/self/mountinfo
    run -0 awk '$5 == "/" { print $6 }' <<<"$output"
    [ "${#lines[@]}" -eq 1 ]
    [[ ,$output, == *,ro,* ]]
    [[ ,$output, == *,nosuid,* ]]
    [[ ,$output, == *,nodev,* ]]
}

# --- descriptors -----------------------------------------------------------

@test "busybox: the command gets only stdin, stdout and stderr when husk has no others" {
    # ls's own descriptor for the directory is 3
    run -0 run_closed "$HUSK" run "$IMG_BUSYBOX" -- ls /proc/self/fd
    assert_output_is $'0\n1\n2\n3'
}

@test "debian: the command gets only stdin, stdout and stderr when husk has no others" {
    run -0 run_closed "$HUSK" run "$IMG_DEBIAN" -- ls /proc/self/fd
    assert_output_is $'0\n1\n2\n3'
}

@test "no descriptor of the command points at husk's own files" {
    run -0 husk run "$IMG_DEBIAN" -- ls -l /proc/self/fd/
    echo "$output"
    if grep -E -- "-> .*($HUSK_TEST_CACHE|/newroot|/oldroot|/files/|/overlay|$IMG_DEBIAN|\.lock)" <<<"$output"; then
        echo "a descriptor of husk leaked into the command" >&2
        return 1
    fi
}

@test "descriptors the caller opened reach the command" {
    echo from-fd-5 >"$BATS_TEST_TMPDIR/in"
    run -0 husk run "$IMG_BUSYBOX" -- sh -c 'cat <&5' 5<"$BATS_TEST_TMPDIR/in"
    assert_output_is from-fd-5
}

@test "stdin reaches the command" {
    run -0 husk run "$IMG_BUSYBOX" -- tr a-z A-Z <<<"hello"
    assert_output_is HELLO
}

# --- nothing left running --------------------------------------------------

@test "no process of this run is left behind (run last)" {
    if pgrep -u "$(id -u)" -a -f "^sleep 1000\.$BATS_ROOT_PID"; then
        echo "a command of this run is still running" >&2
        return 1
    fi
    if pgrep -u "$(id -u)" -a -f "^$HUSK "; then
        echo "a husk of this run is still running" >&2
        return 1
    fi
}
