#!/usr/bin/env bats
# The image store: husk import, images, rm, inspect, and husk run NAME.

bats_require_minimum_version 1.5.0
load helpers

setup() {
    export HUSK_STORAGE=$BATS_TEST_TMPDIR/storage
    mkdir -p "$HUSK_STORAGE"
    tar -czf "$BATS_TEST_TMPDIR/bb.tgz" -C "$IMG_BUSYBOX_OWNED" .
}

@test "import a tarball as a directory and as SquashFS, run both by name" {
    run -0 husk import "$BATS_TEST_TMPDIR/bb.tgz" bb
    assert_output_is "bb $HUSK_STORAGE/images/bb"
    run -0 husk import --format squashfs "$BATS_TEST_TMPDIR/bb.tgz" bb-sq
    assert_output_is "bb-sq $HUSK_STORAGE/images/bb-sq.sqfs"
    run -0 husk run bb -- cat /husk-image
    assert_output_is busybox
    run -0 husk run bb-sq -- cat /husk-image
    assert_output_is busybox
    [ "$(stat -c %a "$HUSK_STORAGE/images")" = 700 ]
}

@test "import a layered image keeps its config" {
    python3 "$BATS_TEST_DIRNAME/make_layered.py" "$IMG_BUSYBOX_OWNED" "$BATS_TEST_TMPDIR"
    run -0 husk import "$BATS_TEST_TMPDIR/oci.tar" layered
    run -0 husk run layered
    assert_output_is "cmd yes"
    run -0 husk inspect --json layered
    [[ $output == *'"kind": "directory"'* ]]
    [[ $output == *'"FROM_IMAGE=yes"'* ]]
}

@test "images lists, rm removes, names are checked, duplicates refused" {
    run -0 husk import "$BATS_TEST_TMPDIR/bb.tgz" one
    run -0 husk import --format squashfs "$BATS_TEST_TMPDIR/bb.tgz" two
    run -0 husk images
    [[ ${lines[0]} == NAME*FORMAT*SIZE*CREATED ]]
    [[ ${lines[1]} == one*dir* ]]
    [[ ${lines[2]} == two*squashfs* ]]
    run -0 husk images --json
    [[ $output == *'"name": "two"'* ]]
    run -125 husk import "$BATS_TEST_TMPDIR/bb.tgz" one
    assert_husk_error "exists already"
    run -125 husk import "$BATS_TEST_TMPDIR/bb.tgz" ../escape
    assert_husk_error "image name"
    run -0 husk rm one
    run -0 husk images
    [ "${#lines[@]}" -eq 2 ]
    [ ! -e "$HUSK_STORAGE/images/one" ]
    run -125 husk rm one
    assert_husk_error "no image one"
}

@test "a path wins over a stored name; a missing name is a clear error" {
    run -0 husk import "$BATS_TEST_TMPDIR/bb.tgz" bb
    cd "$BATS_TEST_TMPDIR"
    cp -a "$IMG_BUSYBOX_OWNED" bb
    echo local >bb/husk-image
    run -0 husk run bb -- cat /husk-image
    assert_output_is local
    cd /
    run -0 husk run bb -- cat /husk-image
    assert_output_is busybox
    run -125 husk run no-such-image -- true
    assert_husk_error no-such-image "No such file or directory"
}
