#!/usr/bin/env bats
# The quick-start example, run as the unprivileged test user on the Debian image.

setup() {
    scratch=$(mktemp -d)
}

teardown() {
    rm -rf "$scratch"
}

@test "quickstart example runs and each step does what it says" {
    run "$BATS_TEST_DIRNAME/run.sh" "$IMG_DEBIAN" "$scratch"
    echo "$output"
    [ "$status" -eq 0 ]
    [[ "$output" == *'ID=debian'* ]]
    [[ "$output" == *'VERSION_CODENAME=bookworm'* ]]
    # wc -l of three lines, OMP set, every SLURM_ variable gone
    [ "$(sed -n 1p "$scratch/result.txt")" = 3 ]
    [ "$(sed -n 2p "$scratch/result.txt")" = "threads=4 slurm_vars=0" ]
    [[ "$output" == *$'\n0\n/tried-it\nimage unchanged'* ]]
}
