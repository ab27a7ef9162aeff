#!/usr/bin/env bats
# --mpi=host: the host's MPI library replaces the image's, after an ABI
# check, without writing the image. An image with bookworm's MPICH
# (libmpich12) and /mpich-hello, which prints the device and inode of the
# libmpich file it mapped; the host has libmpich12 too.

bats_require_minimum_version 1.5.0
load helpers

HOST_LIB=/usr/lib/x86_64-linux-gnu/libmpich.so.12.2.2

setup() {
    : "${IMG_MPICH:?}" "${IMG_MPICH_SQFS:?}"
    [ -f "$HOST_LIB" ] || { echo "the host has no $HOST_LIB (libmpich12)" >&2; return 1; }
    export HUSK_RUNTIME_DIR=$BATS_TEST_TMPDIR/run
}

# mapped_inode: the inode of the libmpich line of /mpich-hello's output.
mapped_inode() { awk '$1 == "libmpich:" { print $3 }' <<<"$output"; }

@test "without --mpi=host the image's own MPICH is loaded" {
    run -0 husk run "$IMG_MPICH" -- /mpich-hello
    assert_output_has "rank 0 of 1"
    [ "$(mapped_inode)" = "$(stat -c %i "$IMG_MPICH/usr/lib/x86_64-linux-gnu/libmpich.so.12.2.2")" ]
}

@test "--mpi=host: the host's libmpich is the one mapped, on the directory and SquashFS image" {
    local img before
    before=$(tree_state "$IMG_MPICH" | sha256sum)
    for img in "$IMG_MPICH" "$IMG_MPICH_SQFS"; do
        run -0 husk run --mpi=host "$img" -- /mpich-hello
        echo "$output"
        assert_output_has "rank 0 of 1"
        [ "$(mapped_inode)" = "$(stat -c %i "$HOST_LIB")" ]
        [[ $output == *" /usr/lib/husk-host-mpi/libmpich.so.12"* ]]
    done
    # nothing of the image was written
    [ "$(tree_state "$IMG_MPICH" | sha256sum)" = "$before" ]
}

@test "--mpi=host through the site config, and said at -v" {
    echo '{"mpi": "host"}' >"$BATS_TEST_TMPDIR/husk.json"
    HUSK_CONFIG=$BATS_TEST_TMPDIR/husk.json run -0 --separate-stderr husk -v run "$IMG_MPICH" -- /mpich-hello
    [ "$(mapped_inode)" = "$(stat -c %i "$HOST_LIB")" ]
    [[ $stderr == *"husk: --mpi=host: the host's MPICH ABI (libmpich.so.12 12.2.2) replaces the image's MPICH ABI (libmpich.so.12 12.2.2)"* ]]
}

# site_lib VERSION: a copy of the host's libmpich named as VERSION, given to
# husk as the site's MPI library.
site_lib() {
    cp "$HOST_LIB" "$BATS_TEST_TMPDIR/libmpich.so.$1"
    echo "{\"mpi_libraries\": [\"$BATS_TEST_TMPDIR/libmpich.so.$1\"]}" >"$BATS_TEST_TMPDIR/husk.json"
    export HUSK_CONFIG=$BATS_TEST_TMPDIR/husk.json
}

@test "ABI policies: a newer host passes full and fails strict; an older one passes only major" {
    site_lib 12.3.0
    run -0 husk run --mpi=host "$IMG_MPICH" -- /mpich-hello
    [ "$(mapped_inode)" = "$(stat -c %i "$BATS_TEST_TMPDIR/libmpich.so.12.3.0")" ]
    HUSK_MPI_ABI_POLICY=strict run -125 husk run --mpi=host "$IMG_MPICH" -- /mpich-hello
    assert_husk_error "--mpi=host" "the image's MPI is MPICH ABI (libmpich.so.12 12.2.2)" \
        "the host's MPICH ABI (libmpich.so.12 12.3.0)" "strict wants the very same version"
    assert_output_lacks "rank 0 of 1"
    site_lib 12.1.0
    run -125 husk run --mpi=host "$IMG_MPICH" -- /mpich-hello
    assert_husk_error "the host's is older than the image's"
    HUSK_MPI_ABI_POLICY=major run -0 husk run --mpi=host "$IMG_MPICH" -- /mpich-hello
}

@test "--mpi=host on an image of the other family, or with no MPI: one clear line" {
    run -125 husk run --mpi=host "$IMG_BUSYBOX" -- true
    assert_husk_error "--mpi=host: image" "has no MPI library"
    site_lib 12.2.2
    run -125 husk run --mpi=host "$IMG_MPI" -- true
    assert_husk_error "site config mpi_libraries: none is an MPI library of the family wanted"
}

@test "husk check --mpi IMAGE reports both MPIs and a verdict" {
    run -0 husk check --mpi "$IMG_MPICH"
    [[ $output == *"image MPI: MPICH ABI (libmpich.so.12 12.2.2)"* ]]
    [[ $output == *"host MPI: MPICH ABI (libmpich.so.12 12.2.2) at $HOST_LIB"* ]]
    [[ $output == *"verdict: ok"* ]]
    run -0 husk check --mpi "$IMG_MPI"
    [[ $output == *"image MPI: Open MPI (libmpi.so.40 40.30.4)"* ]]
    [[ $output == *"image PMIx: libpmix.so.2"* ]]
}
