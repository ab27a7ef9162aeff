#!/usr/bin/env bats
# The SquashFS example, run as the unprivileged test user on the Debian image.

setup() {
    work=$(mktemp -d)
}

teardown() {
    rm -rf "$work"
}

@test "squashfs example packs, runs, and keeps the image for a background job" {
    run "$BATS_TEST_DIRNAME/run.sh" "$IMG_DEBIAN" "$work"
    echo "$output"
    [ "$status" -eq 0 ]
    [ -s "$work/image.sqfs" ]
    [[ "$output" == *$'\n12.'* ]]
    [[ "$output" == *'main exits'* ]]
    # written a second after the command exited, before husk returned
    [ "$(cat "$work/later.txt")" -gt 1 ]
    [[ "$output" == *"background wrote: $(cat "$work/later.txt")"* ]]
    ! grep -F "$work/image.sqfs" /proc/self/mountinfo
}
