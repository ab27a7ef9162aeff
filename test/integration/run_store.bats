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

@test "convert between every shape, each result runs; DEST must be new" {
    cd "$BATS_TEST_TMPDIR"
    run -0 husk convert bb.tgz out-dir
    run -0 husk convert bb.tgz out.sqfs
    run -0 husk convert out.sqfs from-sqfs-dir
    run -0 husk convert out.sqfs from-sqfs.tar.gz
    run -0 husk convert out-dir from-dir.tar
    run -0 husk convert --format squashfs out-dir from-dir-squashfs
    local r
    for r in out-dir out.sqfs from-sqfs-dir from-sqfs.tar.gz from-dir.tar from-dir-squashfs; do
        run -0 husk run "$BATS_TEST_TMPDIR/$r" -- cat /husk-image
        assert_output_is busybox
    done
    [ "$(head -c 4 from-dir-squashfs)" = hsqs ]
    run -125 husk convert bb.tgz out-dir
    assert_husk_error "exists already"
    # nothing half-written, and no lock, is left beside the results
    [ -z "$(find . -maxdepth 1 -name '.*.tmp.*' -o -maxdepth 1 -name '*.lock')" ]
}

@test "convert of a hostile archive fails and leaves nothing" {
    cd "$BATS_TEST_TMPDIR"
    python3 -c '
import io, tarfile
with tarfile.open("bad.tgz", "w:gz") as t:
    i = tarfile.TarInfo("../escape"); i.size = 1; t.addfile(i, io.BytesIO(b"x"))'
    run -125 husk convert bad.tgz result
    assert_husk_error "bad.tgz" "'..'"
    [ ! -e result ] && [ ! -e ../escape ] && [ ! -e result.lock ]
    [ -z "$(find . -maxdepth 1 -name '.result*')" ]
}

@test "a full disk: a clear error naming the folder that filled up and the entry, and no partial image" {
    command -v unshare >/dev/null || skip "no unshare(1)"
    # a 512 KiB tmpfs as the storage (the archive unpacks to 2 MiB), in a
    # user and mount namespace of our own
    run unshare -Urm sh -c '
        mount -t tmpfs -o size=512k tmpfs "$1" &&
        HUSK_STORAGE="$1" "$2" import "$3" big; echo "status=$?"
        echo "left:$(ls -A "$1/images" | grep -v "\.lock$" | tr "\n" " ")"' \
        sh "$BATS_TEST_TMPDIR/storage" "$HUSK" "$BATS_TEST_TMPDIR/bb.tgz"
    echo "$output"
    [[ $output == *"status=125"* ]]
    [[ $output == *"husk: error: $BATS_TEST_TMPDIR/storage/images: its file system is full ($BATS_TEST_TMPDIR/bb.tgz: entry "*"); set HUSK_STORAGE"*"(No space left on device)"* ]]
    # neither a finished nor a temporary image is left in the store
    [[ $output == *$'\nleft:' ]]
}
