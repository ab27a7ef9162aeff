#!/usr/bin/env bats
# husk-bcast under the host's mpirun: one read of SRC, one writer per node
# (two "nodes" on this machine through HUSK_BCAST_TEST_NODES), checked by
# sha256, no partial file on any failure.

bats_require_minimum_version 1.5.0
load helpers

setup() {
    [ -x "${HUSK_BCAST:-}" ] || { echo "husk-bcast was not built beside husk" >&2; return 1; }
    SRC=$BATS_TEST_TMPDIR/src.bin
    head -c 40000000 /dev/urandom >"$SRC"
    mkdir "$BATS_TEST_TMPDIR/dest"
    export HUSK_BCAST_TEST_NODES=2
}

bcast() {
    timeout -k 5 120 mpirun -np 4 --oversubscribe "$HUSK_BCAST" "$@"
}

@test "4 ranks on two nodes: each node gets a copy equal to the source" {
    run -0 bcast "$SRC" "$BATS_TEST_TMPDIR/dest/app"
    [[ $output == *"copied to $BATS_TEST_TMPDIR/dest/app on 2 nodes"* ]]
    local want
    want=$(sha256sum <"$SRC")
    [ "$(sha256sum <"$BATS_TEST_TMPDIR/dest/app.node0")" = "$want" ]
    [ "$(sha256sum <"$BATS_TEST_TMPDIR/dest/app.node1")" = "$want" ]
    [ "$(ls "$BATS_TEST_TMPDIR/dest" | wc -l)" -eq 2 ]
    # and again: an older copy is replaced
    head -c 1000 /dev/urandom >"$SRC"
    run -0 bcast "$SRC" "$BATS_TEST_TMPDIR/dest/app"
    [ "$(stat -c %s "$BATS_TEST_TMPDIR/dest/app.node1")" -eq 1000 ]
}

@test "a failing writer fails every rank and leaves nothing on any node" {
    mkdir "$BATS_TEST_TMPDIR/dest/app.node1" # node 1 cannot put its copy in place
    run -1 bcast "$SRC" "$BATS_TEST_TMPDIR/dest/app"
    [[ $output == *"husk-bcast: cannot rename"*"(Is a directory)"* ]]
    [ "$(ls "$BATS_TEST_TMPDIR/dest")" = app.node1 ]
    [ -z "$(ls -A "$BATS_TEST_TMPDIR/dest/app.node1")" ]
}

@test "an unreadable source: one line, every rank fails, nothing written" {
    run -1 bcast "$BATS_TEST_TMPDIR/missing" "$BATS_TEST_TMPDIR/dest/app"
    [[ $output == *"husk-bcast: cannot open $BATS_TEST_TMPDIR/missing (No such file or directory)"* ]]
    [ -z "$(ls -A "$BATS_TEST_TMPDIR/dest")" ]
}

@test "a node whose folder is missing: every rank fails, the other node keeps nothing" {
    run -1 env HUSK_BCAST_TEST_NODES=2 timeout 60 mpirun -np 2 --oversubscribe "$HUSK_BCAST" \
        "$SRC" "$BATS_TEST_TMPDIR/nowhere/app"
    [[ $output == *"cannot create $BATS_TEST_TMPDIR/nowhere/app.node"* ]]
    [ ! -e "$BATS_TEST_TMPDIR/nowhere" ]
}

@test "husk-bcast without its two arguments: usage, 125" {
    run -125 "$HUSK_BCAST" only-one
    [[ $output == *"usage: husk-bcast SRC DEST"* ]]
    run -0 "$HUSK_BCAST" --help
}
