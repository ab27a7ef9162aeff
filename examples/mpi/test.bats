#!/usr/bin/env bats
# The MPI example, run as the unprivileged test user with the host's mpirun.

@test "mpi example: staged once, four ranks in one container, allreduce ok" {
    HUSK_RUNTIME_DIR=$BATS_TEST_TMPDIR/run run "$BATS_TEST_DIRNAME/run.sh" "$IMG_MPI_SQFS" 4
    echo "$output"
    [ "$status" -eq 0 ]
    [[ "$output" == *"allreduce ok"* ]]
    [ "$(grep -c '^rank ' <<<"$output")" -eq 4 ]
    [ "$(grep '^ns ' <<<"$output" | sort -u | wc -l)" -eq 1 ]
}

@test "the sbatch script is valid bash" {
    bash -n "$BATS_TEST_DIRNAME/job.sbatch"
}
