# shellcheck shell=bash disable=SC2034,SC2154  # sets STATUS, BG_PID; reads bats's $output
# helpers.bash -- shared setup of husk's integration tests (`load helpers`).
#
# The tests run as the unprivileged user husk-test, started by run-as-user.sh,
# which passes in the environment:
#   HUSK               the husk binary under test
#   IMG_BUSYBOX        busybox image, root-owned (read-only for us)
#   IMG_DEBIAN         debian minbase image, root-owned
#   IMG_BUSYBOX_OWNED  a copy of busybox owned by husk-test, fresh for this run
#   IMG_DEBIAN_OWNED   a copy of debian owned by husk-test, kept between runs:
#                      a test that writes into it removes what it wrote
#   HUSK_TEST_CACHE    where the fixture images live

bats_require_minimum_version 1.5.0

: "${HUSK:?run these tests through test/integration/run-as-user.sh}"
: "${IMG_BUSYBOX:?}" "${IMG_DEBIAN:?}" "${IMG_BUSYBOX_OWNED:?}" "${IMG_DEBIAN_OWNED:?}"
HUSK_TEST_CACHE=${HUSK_TEST_CACHE:-/var/cache/husk-test}

# The processes started in the background by a test (start_bg), killed in
# teardown if the test did not reap them.
BG_PIDS=()

# Names that no other run uses carry $BATS_ROOT_PID (bats's own pid), e.g.
# the command `sleep 1000.$BATS_ROOT_PID` (busybox and coreutils sleep take
# fractions), so a test tells this run's processes and files from others'.

husk() {
    "$HUSK" "$@"
}

# run_closed CMD...: execs CMD with only descriptors 0, 1 and 2 open (bats
# keeps several more open; a background job holding them makes bats wait).
run_closed() {
    local f fd
    for f in /proc/"$BASHPID"/fd/*; do
        fd=${f##*/}
        if [ "$fd" -gt 2 ]; then
            eval "exec $fd>&-" 2>/dev/null || true
        fi
    done
    exec "$@"
}

# start_bg OUT CMD...: starts CMD in the background with stdin /dev/null,
# stdout and stderr to the file OUT, no other descriptor, and SIGINT and
# SIGQUIT at their defaults (a shell ignores them in its background jobs; a
# job started by Slurm or a terminal has them). Sets BG_PID to CMD's pid.
start_bg() {
    local out=$1
    shift
    run_closed env --default-signal=INT,QUIT "$@" </dev/null >"$out" 2>&1 &
    BG_PID=$!
    BG_PIDS+=("$BG_PID")
}

# wait_until SECONDS CMD...: runs CMD every 0.05 s until it succeeds; fails
# when it has not succeeded within SECONDS.
wait_until() {
    local tries=$(($1 * 20))
    shift
    while ! "$@"; do
        tries=$((tries - 1))
        if [ "$tries" -le 0 ]; then
            return 1
        fi
        sleep 0.05
    done
}

file_has() { # file_has FILE TEXT: FILE has a line that is exactly TEXT
    grep -qxF -- "$2" "$1" 2>/dev/null
}

# alive PID: the process exists and is not a zombie.
alive() {
    local state
    state=$(awk '$1 == "State:" { print $2 }' "/proc/$1/status" 2>/dev/null) || return 1
    [ -n "$state" ] && [ "$state" != Z ]
}

dead() { ! alive "$1"; }

# wait_status PID: waits (at most 20 s, then kills it) for our background
# job PID and sets STATUS to its exit status.
wait_status() {
    if ! wait_until 20 dead "$1"; then
        echo "process $1 still running after 20 s; killing it" >&2
        kill -KILL "$1" 2>/dev/null || true
    fi
    STATUS=0
    wait "$1" || STATUS=$?
}

# child_of PID: the pid of the (single) child of PID, once it has one.
child_of() {
    pgrep -P "$1" | head -n1
}

# Kill what a test left running, by pid.
kill_bg() {
    local pid child
    for pid in "${BG_PIDS[@]}"; do
        if alive "$pid"; then
            for child in $(pgrep -P "$pid"); do
                kill -KILL "$child" 2>/dev/null || true
            done
            kill -KILL "$pid" 2>/dev/null || true
        fi
        wait "$pid" 2>/dev/null || true
    done
    BG_PIDS=()
}

teardown() {
    kill_bg
}

# A busybox image of our own to change: a copy owned by husk-test.
# copy_busybox DIR
copy_busybox() {
    cp -a -- "$IMG_BUSYBOX" "$1"
    chmod u+w -- "$1"
}

# tree_state DIR: a listing of DIR (path, type, mode, owner, size, mtime, link
# target) that changes when anything in it is added, removed or altered.
tree_state() {
    (cd -- "$1" && find . -printf '%p %y %m %U:%G %s %T@ %l\n' | LC_ALL=C sort)
}

# tree_sum DIR: tree_state plus the content of every regular file.
tree_sum() {
    tree_state "$1"
    (cd -- "$1" && find . -type f -print0 | LC_ALL=C sort -z | xargs -0r sha256sum)
}

# The host's mount table as this user sees it has nothing of a container.
assert_no_container_mounts() {
    local img
    for img in "$@"; do
        if grep -F -- "$img" /proc/self/mountinfo; then
            echo "the host's mount table mentions $img" >&2
            return 1
        fi
    done
    if grep -E -- ' /(newroot|oldroot)(/| )' /proc/self/mountinfo; then
        echo "the host's mount table has a staging mount of husk" >&2
        return 1
    fi
}

# assert_husk_error TEXT...: $output's first line is a husk error that
# mentions every TEXT.
assert_husk_error() {
    local line t
    line=${output%%$'\n'*}
    case $line in
        "husk: error: "*) ;;
        *)
            printf 'expected a line "husk: error: ...", got:\n%s\n' "$output" >&2
            return 1
            ;;
    esac
    for t in "$@"; do
        case $line in
            *"$t"*) ;;
            *)
                printf 'expected the error to mention "%s", got:\n%s\n' "$t" "$line" >&2
                return 1
                ;;
        esac
    done
}

# assert_output_is TEXT: $output is exactly TEXT.
assert_output_is() {
    if [ "$output" != "$1" ]; then
        printf 'expected output:\n%s\ngot:\n%s\n' "$1" "$output" >&2
        return 1
    fi
}

# assert_output_has TEXT: one line of $output is exactly TEXT.
assert_output_has() {
    local l
    while IFS= read -r l; do
        [ "$l" = "$1" ] && return 0
    done <<<"$output"
    printf 'expected a line "%s" in output:\n%s\n' "$1" "$output" >&2
    return 1
}

# assert_output_lacks TEXT: no line of $output is exactly TEXT.
assert_output_lacks() {
    local l
    while IFS= read -r l; do
        if [ "$l" = "$1" ]; then
            printf 'did not expect a line "%s" in output:\n%s\n' "$1" "$output" >&2
            return 1
        fi
    done <<<"$output"
}
