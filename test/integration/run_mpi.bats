#!/usr/bin/env bats
# MPI launches with the host's Open MPI (mpirun) and an image holding the
# same Open MPI: ranks on a node share one container (one user, mount and
# PID namespace) and one SquashFS server; no process outlives its
# container; --join for any group of tasks.

bats_require_minimum_version 1.5.0
load helpers

setup() {
    : "${IMG_MPI:?}" "${IMG_MPI_SQFS:?}"
    export HUSK_RUNTIME_DIR=$BATS_TEST_TMPDIR/run
    export HUSK_STORAGE=$BATS_TEST_TMPDIR/storage
}

# mpi NP ARGS...: mpirun -np NP --oversubscribe husk ARGS..., bounded in time.
mpi() {
    local np=$1
    shift
    timeout -k 5 120 mpirun -np "$np" --oversubscribe --mca btl_vader_single_copy_mechanism cma \
        "$HUSK" "$@"
}

# count NAME: this user's live processes named NAME (husk-holder,
# husk-sqfs, husk-init, sleep). Zombies do not count: a server's parent is
# whatever init adopts it, and not every container runtime's pid 1 reaps.
count() { ps -u "$USER" -o stat=,comm= | awk -v n="$1" '$1 !~ /^Z/ && $2 == n' | wc -l; }

# live NAME: the pids of this user's live processes named NAME.
live() { ps -u "$USER" -o pid=,stat=,comm= | awk -v n="$1" '$2 !~ /^Z/ && $3 == n { print $1 }'; }

# count_is N NAME: count NAME is N (for wait_until, which runs it again).
count_is() { [ "$(count "$2")" -eq "$1" ]; }

# nothing_left: no holder, server or init of this user, no socket in the
# runtime folder, no husk mount in our mount table.
nothing_left() {
    [ "$(count husk-holder)" -eq 0 ] && [ "$(count husk-sqfs)" -eq 0 ] &&
        [ "$(count husk-init)" -eq 0 ] &&
        [ -z "$(ls -A "$HUSK_RUNTIME_DIR" 2>/dev/null)" ] &&
        ! grep -q 'fuse.husk' /proc/self/mountinfo
}

# left: what nothing_left finds (printed when a test fails).
left() {
    echo "# left: processes:"
    ps -u "$USER" -o pid=,ppid=,stat=,comm=,wchan:20=,args= | sed 's/^/#   /'
    echo "# left: runtime folder:"
    find "$HUSK_RUNTIME_DIR" -mindepth 1 2>/dev/null | sed 's/^/#   /'
    grep 'fuse.husk' /proc/self/mountinfo | sed 's/^/#   /'
}

teardown() {
    if [ -z "${BATS_TEST_COMPLETED:-}" ]; then
        left >&3
    fi
    kill_bg
}

@test "mpirun -np 4: hello and an 8 MiB allreduce pass in one shared container" {
    run -0 mpi 4 run "$IMG_MPI" -- sh -c 'echo "ns $(readlink /proc/self/ns/pid)"; exec /hello'
    echo "$output"
    assert_output_has "allreduce ok"
    [ "$(grep -c '^rank ' <<<"$output")" -eq 4 ]
    # one PID namespace for the four ranks, not four
    [ "$(grep '^ns ' <<<"$output" | sort -u | wc -l)" -eq 1 ]
    wait_until 10 nothing_left
}

@test "mpirun -np 4 on the SquashFS image: one FUSE server and one holder for all ranks" {
    local out=$BATS_TEST_TMPDIR/out
    start_bg "$out" timeout -k 5 120 mpirun -np 4 --oversubscribe "$HUSK" run "$IMG_MPI_SQFS" \
        -- /hello 0 --linger 2
    wait_until 60 file_has "$out" "allreduce ok"
    [ "$(count husk-sqfs)" -eq 1 ]
    [ "$(count husk-holder)" -eq 1 ]
    [ "$(count husk-init)" -eq 1 ]
    # the container's init keeps nothing of the holder's but its control
    # socket: no copy of the holder's listening socket, SquashFS lease or
    # runtime folder that would outlive a killed holder
    local init
    init=$(live husk-init)
    [ "$(find "/proc/$init/fd" -lname 'socket:*' | wc -l)" -eq 1 ]
    [ "$(find "/proc/$init/fd" -lname "$HUSK_RUNTIME_DIR*" | wc -l)" -eq 0 ]
    wait_status "$BG_PID"
    cat "$out"
    [ "$STATUS" -eq 0 ]
    wait_until 10 nothing_left
}

@test "rank 0 ending first does not break the others (the holder is no rank)" {
    run -0 mpi 4 run "$IMG_MPI_SQFS" -- /hello 1024 --linger 1
    echo "$output"
    [ "$(grep -c 'read the image after rank 0 left' <<<"$output")" -eq 3 ]
    wait_until 10 nothing_left
}

@test "--no-join: every rank builds its own container, in PID namespaces of its own" {
    run -0 mpi 2 run --no-join "$IMG_MPI" -- sh -c 'readlink /proc/self/ns/pid'
    [ "$(sort -u <<<"$output" | wc -l)" -eq 2 ]
}

@test "SIGKILL of one rank's husk mid-run: the job ends, nothing is left" {
    local out=$BATS_TEST_TMPDIR/out
    start_bg "$out" timeout -k 5 120 mpirun -np 3 --oversubscribe "$HUSK" run "$IMG_MPI_SQFS" \
        -- sh -c 'sleep 1000'
    wait_until 30 count_is 3 sleep
    # the oldest rank: a child of mpirun (zombies of earlier runs may share the name)
    local mpirun rank
    mpirun=$(pgrep -P "$BG_PID" -x mpirun)
    rank=$(pgrep -o -P "$mpirun" -x husk)
    [ -n "$rank" ]
    kill -KILL "$rank"
    wait_status "$BG_PID"
    [ "$STATUS" -ne 0 ]
    wait_until 20 nothing_left
    [ "$(count sleep)" -eq 0 ]
}

@test "SIGKILL of every husk and the holder: no process, no mount, no socket left" {
    local out=$BATS_TEST_TMPDIR/out
    start_bg "$out" timeout -k 5 120 mpirun -np 3 --oversubscribe "$HUSK" run "$IMG_MPI_SQFS" \
        -- sh -c 'setsid sleep 1001 & sleep 1000'
    wait_until 30 count_is 6 sleep
    pkill -KILL -u "$USER" -x husk-holder
    wait_status "$BG_PID"
    wait_until 20 nothing_left
    [ "$(count sleep)" -eq 0 ]
}

@test "--join=TAG: tasks started apart share one container; each keeps its env and cwd" {
    local i
    mkdir -p "$BATS_TEST_TMPDIR/d1" "$BATS_TEST_TMPDIR/d2"
    for i in 1 2; do
        (cd "$BATS_TEST_TMPDIR/d$i" &&
            MINE=$i "$HUSK" run --join=t"$BATS_ROOT_PID" --join-count 2 "$IMG_BUSYBOX" -- \
                sh -c 'echo "$(readlink /proc/self/ns/pid) $MINE $PWD"; sleep 1' \
                >"$BATS_TEST_TMPDIR/out$i") &
    done
    wait
    cat "$BATS_TEST_TMPDIR"/out*
    [ "$(cut -d' ' -f1 "$BATS_TEST_TMPDIR"/out* | sort -u | wc -l)" -eq 1 ]
    file_has "$BATS_TEST_TMPDIR/out1" "$(cut -d' ' -f1 "$BATS_TEST_TMPDIR/out1") 1 $BATS_TEST_TMPDIR/d1"
    file_has "$BATS_TEST_TMPDIR/out2" "$(cut -d' ' -f1 "$BATS_TEST_TMPDIR/out2") 2 $BATS_TEST_TMPDIR/d2"
    wait_until 40 nothing_left
}

@test "--join=TAG with another image or other binds: one clear error, the first runs on" {
    local out=$BATS_TEST_TMPDIR/out
    start_bg "$out" "$HUSK" run --join=x"$BATS_ROOT_PID" "$IMG_BUSYBOX" -- sleep 3
    wait_until 10 count_is 1 husk-holder
    run -125 "$HUSK" run --join=x"$BATS_ROOT_PID" "$IMG_DEBIAN" -- true
    assert_husk_error "--join" "differ from those of the container it would join"
    run -125 "$HUSK" run --join=x"$BATS_ROOT_PID" -b /etc:/mnt "$IMG_BUSYBOX" -- true
    assert_husk_error "differ"
    wait_status "$BG_PID"
    [ "$STATUS" -eq 0 ]
}

@test "Slurm's variables alone make the tasks of a step on a node join" {
    local i
    for i in 0 1; do
        SLURM_JOB_ID=77$BATS_ROOT_PID SLURM_STEP_ID=0 SLURM_STEP_TASKS_PER_NODE='2(x2),1' \
            SLURM_NODEID=1 SLURM_PROCID=$i "$HUSK" run "$IMG_BUSYBOX" -- \
            sh -c 'readlink /proc/self/ns/pid; sleep 1' >"$BATS_TEST_TMPDIR/s$i" &
    done
    wait
    [ "$(cat "$BATS_TEST_TMPDIR"/s* | sort -u | wc -l)" -eq 1 ]
    wait_until 40 nothing_left
}

@test "a SquashFS server is shared by separate runs and lingers with --linger" {
    local out=$BATS_TEST_TMPDIR/out
    start_bg "$out" "$HUSK" run "$IMG_MPI_SQFS" -- sleep 2
    wait_until 10 count_is 1 husk-sqfs
    run -0 "$HUSK" run "$IMG_MPI_SQFS" -- cat /husk-image
    assert_output_is mpi
    [ "$(count husk-sqfs)" -eq 1 ]
    wait_status "$BG_PID"
    wait_until 10 nothing_left
    run -0 "$HUSK" run --linger 2 "$IMG_MPI_SQFS" -- true
    [ "$(count husk-sqfs)" -eq 1 ] # still there, for the next run
    wait_until 10 nothing_left
    # a --linger of a later run extends a server another run started
    start_bg "$out" "$HUSK" run "$IMG_MPI_SQFS" -- sleep 1
    wait_until 10 count_is 1 husk-sqfs
    run -0 "$HUSK" run --linger 3 "$IMG_MPI_SQFS" -- true
    wait_status "$BG_PID"
    sleep 1
    [ "$(count husk-sqfs)" -eq 1 ]
    wait_until 10 nothing_left
}

@test "the PMIx server's folder is bound at its host path where nothing shows it" {
    local dir=/var/tmp/husk-pmix-test.$BATS_ROOT_PID
    mkdir -p "$dir"
    echo rendezvous >"$dir/server.uri"
    PMIX_SERVER_TMPDIR=$dir run -0 "$HUSK" run "$IMG_BUSYBOX" -- cat "$dir/server.uri"
    rm -rf "$dir"
    assert_output_is rendezvous
    # under /tmp, the host's /tmp shows it already: no bind of its own
    mkdir -p "$BATS_TEST_TMPDIR/pmix"
    PMIX_SERVER_TMPDIR=$BATS_TEST_TMPDIR/pmix run -0 "$HUSK" run "$IMG_BUSYBOX" -- \
        sh -c "grep -c ' $BATS_TEST_TMPDIR/pmix ' /proc/self/mountinfo || true"
    assert_output_is 0
}

@test "a container that cannot be built: every joining task fails with the same clear line, none hangs" {
    local i pid pids=()
    for i in 1 2 3; do
        timeout 30 "$HUSK" run --join=bad"$BATS_ROOT_PID" --join-count 3 \
            -b /etc:/no-such-dir-in-busybox "$IMG_BUSYBOX" -- true \
            >"$BATS_TEST_TMPDIR/out$i" 2>&1 &
        pids+=("$!")
    done
    # by pid: `jobs -p` no longer lists a task that has already ended
    local rc=0 n=0
    for pid in "${pids[@]}"; do
        wait "$pid" || rc=$?
        [ "$rc" -eq 125 ] || { echo "a task exited $rc" >&2; return 1; }
        n=$((n + 1))
    done
    [ "$n" -eq 3 ]
    for i in 1 2 3; do
        cat "$BATS_TEST_TMPDIR/out$i"
        grep -q "husk: error: -b /etc:/no-such-dir-in-busybox: destination /no-such-dir-in-busybox does not exist in the image" \
            "$BATS_TEST_TMPDIR/out$i"
    done
    wait_until 10 nothing_left
}
