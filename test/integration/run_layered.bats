#!/usr/bin/env bats
# husk run on layered images: docker-archive and OCI layout archives made by
# make_layered.py (three layers, a whiteout, an opaque whiteout, a config).

bats_require_minimum_version 1.5.0
load helpers

setup() {
    export HUSK_STORAGE=$BATS_TEST_TMPDIR/storage
    mkdir -p "$HUSK_STORAGE"
    python3 "$BATS_TEST_DIRNAME/make_layered.py" "$IMG_BUSYBOX_OWNED" "$BATS_TEST_TMPDIR"
}

check_layers() { # check_layers IMAGE: the layers applied in order
    run -0 husk run "$1" -- sh -c 'cat /husk-image /etc/added /opt/x/new; ls /opt/x; test -e /bin/vi || echo no-vi'
    assert_output_is $'busybox\nfrom layer 2\nnew\nnew\nno-vi'
    # its config: Env and Cmd
    run -0 husk run "$1"
    assert_output_is "cmd yes"
}

@test "a docker-archive runs with its layers, whiteouts and config" {
    check_layers "$BATS_TEST_TMPDIR/docker.tar"
}

@test "an OCI layout archive runs with its layers, whiteouts and config" {
    check_layers "$BATS_TEST_TMPDIR/oci.tar"
}

@test "a blob that does not match its digest is an error, and nothing is cached" {
    run -125 husk run "$BATS_TEST_TMPDIR/oci-baddigest.tar" -- true
    assert_husk_error "does not match its digest"
    [ "${#lines[@]}" -eq 1 ]
    [ -z "$(find "$HUSK_STORAGE/cache" -mindepth 1 -maxdepth 1 -type d)" ]
}

@test "a manifest path that leaves the archive is refused" {
    run -125 husk run "$BATS_TEST_TMPDIR/docker-escape.tar" -- true
    assert_husk_error "leaves the root"
}

@test "an OCI image layout directory runs like its archive" {
    mkdir "$BATS_TEST_TMPDIR/layout"
    tar -xf "$BATS_TEST_TMPDIR/oci.tar" -C "$BATS_TEST_TMPDIR/layout"
    check_layers "$BATS_TEST_TMPDIR/layout"
    run -0 husk inspect "$BATS_TEST_TMPDIR/layout"
    [[ $output == *"kind:        oci-layout"* ]]
    # a corrupt blob in a layout directory is found as in an archive
    mkdir "$BATS_TEST_TMPDIR/bad"
    tar -xf "$BATS_TEST_TMPDIR/oci-baddigest.tar" -C "$BATS_TEST_TMPDIR/bad"
    run -125 husk run "$BATS_TEST_TMPDIR/bad" -- true
    assert_husk_error "does not match its digest"
}
