# shellcheck shell=bash disable=SC2154  # reads bats's $output
# slurm.bash -- helpers of the Slurm tests (`load slurm`), which run as the
# test user against the cluster test/slurm/run.sh started (SLURM_CONF).

: "${SLURM_CONF:?run these tests through test/slurm/run.sh}"
export SLURM_CONF

# sbatch_wait OUT ARGS...: submits a batch job whose output goes to OUT and
# waits for it (polling squeue every 0.2 s; sbatch --wait polls every 2 to
# 10 s) at most SBATCH_WAIT_SECONDS (120), then cancels it; sets JOB and
# JOB_EXIT ("0:0": exit code and signal, from scontrol).
sbatch_wait() {
    local out=$1
    shift
    JOB=$(sbatch --parsable -o "$out" "$@") || return 1
    JOB=${JOB%%;*}
    local tries=$((${SBATCH_WAIT_SECONDS:-120} * 5))
    while [ -n "$(squeue -h -j "$JOB" -o %i 2>/dev/null)" ]; do
        tries=$((tries - 1))
        if [ "$tries" -le 0 ]; then
            echo "job $JOB did not end in ${SBATCH_WAIT_SECONDS:-120} s" >&2
            scancel "$JOB" 2>/dev/null
            return 1
        fi
        sleep 0.2
    done
    JOB_EXIT=$(scontrol show job "$JOB" | sed -n 's/.* ExitCode=\([0-9:]*\).*/\1/p')
}

# twice CMD...: runs CMD, and once more if it fails, saying so. For MPI
# launches only: Open MPI on slurmd -N nodes that share one machine (its
# host name, /dev/shm) crashes or hangs now and then, bare too (about one
# launch in fifty in test/bench/slurm); twice in a row is a real failure.
twice() {
    "$@" && return 0
    echo "# failed once; Open MPI on nodes of one machine does now and then: once more" >&3
    "$@"
}

# leftovers: the test user's processes other than this test's own (bats and
# its shells), and FUSE mounts; empty when nothing is left.
leftovers() {
    local me=$$ p
    for p in $(pgrep -u "$(id -u)"); do
        # this test's shell and its ancestors and descendants are bats's
        if [ "$p" = "$me" ] || [ "$p" = "$BASHPID" ]; then continue; fi
        case "$(cat "/proc/$p/comm" 2>/dev/null)" in
        bats* | bash | pgrep | sleep-bats | cat | sed | awk | "") continue ;;
        esac
        awk '$1 == "State:" && $2 != "Z" { found = 1 } END { exit !found }' \
            "/proc/$p/status" 2>/dev/null || continue
        echo "process $p $(tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null)"
    done
    grep " fuse" /proc/mounts | grep "user_id=$(id -u)" || true
}

# nothing_left_within SECONDS: waits until leftovers is empty.
nothing_left_within() {
    local tries=$(($1 * 5))
    while [ -n "$(leftovers)" ]; do
        tries=$((tries - 1))
        if [ "$tries" -le 0 ]; then
            echo "left behind:" >&2
            leftovers >&2
            return 1
        fi
        sleep 0.2
    done
}
