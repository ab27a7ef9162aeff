#!/usr/bin/env bats
# The Slurm examples, each submitted with sbatch to the two-node cluster of
# test/slurm/run.sh, as the unprivileged test user: the `husk run` scripts
# and their SPANK plugin equivalents.

load helpers
load slurm

setup() {
    cd "$BATS_TEST_TMPDIR"
    export PATH="${HUSK%/*}:$PATH" # husk, as an admin installs it, for the jobs
    export IMAGE=$IMG_DEBIAN_SQFS
    # Inside a job an image server lingers 60 s for the next husk run of
    # the job script; here it leaves at once, so the tests after these find
    # nothing of them.
    export HUSK_LINGER=0
}

pretty=$(. "$IMG_DEBIAN/etc/os-release" && echo "$PRETTY_NAME")

@test "serial.sbatch and plugin-serial.sbatch" {
    for script in serial plugin-serial; do
        sbatch_wait out "$BATS_TEST_DIRNAME/$script.sbatch"
        cat out
        [ "$JOB_EXIT" = 0:0 ]
        [ "$(cat out)" = "serial job $JOB on n1: $pretty" ]
    done
}

@test "array.sbatch and plugin-array.sbatch: four tasks, each its own input" {
    for script in array plugin-array; do
        sbatch_wait "$script-%a.out" "$BATS_TEST_DIRNAME/$script.sbatch"
        for i in 0 1 2 3; do
            cat "$script-$i.out"
            [ "$(cat "$script-$i.out")" = "array task $i of job $JOB: $i squared is $((i * i))" ]
        done
    done
}

@test "mpi.sbatch and plugin-mpi.sbatch: four ranks on two nodes, 8 MiB allreduce" {
    mpi_job() { # it takes 2 s; a hang (see twice, slurm.bash) is cut at 60
        IMAGE=$IMG_MPI_SQFS COMMAND=/hello SBATCH_WAIT_SECONDS=60 \
            sbatch_wait out "$BATS_TEST_DIRNAME/$1.sbatch" &&
            cat out && [ "$JOB_EXIT" = 0:0 ] && [ "$(grep -c '^rank ' out)" -eq 4 ] &&
            grep -q 'allreduce ok' out
    }
    for script in mpi plugin-mpi; do
        twice mpi_job "$script"
    done
}

@test "gpu.sbatch and plugin-gpu.sbatch: the node's driver in the container (a fake driver tree; no GRES here)" {
    # This cluster has no GPUs to give (no gres.conf): the scripts without
    # their --gres line, with the SLURM_JOB_GPUS that it would set, and husk
    # pointed at a fake driver (HUSK_HOST_ROOT).
    for script in gpu plugin-gpu; do
        grep -v -- '--gres' "$BATS_TEST_DIRNAME/$script.sbatch" >$script.sbatch
        SLURM_JOB_GPUS=0 HUSK_HOST_ROOT=$FAKE_NVIDIA COMMAND=/usr/bin/nvidia-smi \
            sbatch_wait out $script.sbatch
        cat out
        [ "$JOB_EXIT" = 0:0 ]
        grep -q 'fake nvidia-smi' out
    done
}

@test "plugin-batch.sbatch: the batch script runs in the image given to sbatch" {
    sbatch_wait out --container-image="$IMG_DEBIAN_SQFS" "$BATS_TEST_DIRNAME/plugin-batch.sbatch"
    cat out
    [ "$JOB_EXIT" = 0:0 ]
    [ "$(cat out)" = "batch script of job $JOB in: $pretty" ]
}
