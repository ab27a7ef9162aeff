#!/usr/bin/env bats
# A real layered image built by podman (RUN steps that delete files and swap
# a directory for a file and back), saved as docker-archive and oci-archive:
# husk's unpacked tree must equal podman export's flattened one.

bats_require_minimum_version 1.5.0
load helpers

setup() {
    export HUSK_STORAGE=$BATS_TEST_TMPDIR/storage
    mkdir -p "$HUSK_STORAGE"
    [ -n "${IMG_LAYERED:-}" ] && [ -f "$IMG_LAYERED/flat.tar" ]
}

flat_listing() {
    mkdir "$BATS_TEST_TMPDIR/flat"
    # as this user: device nodes cannot be made (husk skips them too)
    tar -xf "$IMG_LAYERED/flat.tar" -C "$BATS_TEST_TMPDIR/flat" --no-same-owner --same-permissions \
        --exclude='./dev/*' --exclude='dev/*' 2>/dev/null || true
    python3 "$BATS_TEST_DIRNAME/tree_listing.py" "$BATS_TEST_TMPDIR/flat" .husk dev >"$BATS_TEST_TMPDIR/flat.list"
}

compare() { # compare FORMAT
    run -0 husk import "$IMG_LAYERED/$1.tar" "layered-$1"
    python3 "$BATS_TEST_DIRNAME/tree_listing.py" "$HUSK_STORAGE/images/layered-$1" .husk dev \
        >"$BATS_TEST_TMPDIR/$1.list"
    [ "$(wc -l <"$BATS_TEST_TMPDIR/$1.list")" -gt 5000 ]
    diff "$BATS_TEST_TMPDIR/flat.list" "$BATS_TEST_TMPDIR/$1.list"
}

@test "docker-archive from podman save equals podman export" {
    flat_listing
    compare docker
}

@test "oci-archive from podman save equals podman export" {
    flat_listing
    compare oci
}

@test "the layered changes are there: deletions, a directory become a file and the reverse" {
    run -0 husk run "$IMG_LAYERED/oci.tar" -- sh -c \
        'test ! -e /usr/share/doc && cat /opt/app/lib /etc/debian_version/x /var/cache/new/f && readlink /opt/link && ls /var/cache'
    assert_output_is $'file-now\ndir-now\nfresh\n/opt/app/keep\nnew'
}
