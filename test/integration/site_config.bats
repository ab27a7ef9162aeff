#!/usr/bin/env bats
# The site config (/etc/husk/husk.json, or HUSK_CONFIG): default binds,
# storage, and one clear line for every kind of bad file.

bats_require_minimum_version 1.5.0
load helpers

setup() {
    CONF=$BATS_TEST_TMPDIR/husk.json
    export HUSK_CONFIG=$CONF
    unset HUSK_STORAGE
}

@test "a default bind of the site config appears in the container; -b still wins" {
    mkdir -p "$BATS_TEST_TMPDIR/site" "$BATS_TEST_TMPDIR/mine"
    echo from-site >"$BATS_TEST_TMPDIR/site/marker"
    echo from-me >"$BATS_TEST_TMPDIR/mine/marker"
    cat >"$CONF" <<EOF2
{"binds": ["$BATS_TEST_TMPDIR/site:/mnt:ro", "/no/such/dir/on/this/node"]}
EOF2
    run -0 husk run "$IMG_BUSYBOX" -- sh -c 'cat /mnt/marker; touch /mnt/x 2>/dev/null || echo read-only'
    assert_output_is $'from-site\nread-only'
    run -0 husk run -b "$BATS_TEST_TMPDIR/mine:/mnt" "$IMG_BUSYBOX" -- cat /mnt/marker
    assert_output_is from-me
    # a missing source is skipped, and said so at -v
    run -0 husk -v run "$IMG_BUSYBOX" -- true
    [[ $output == *"site bind /no/such/dir/on/this/node ($CONF): not on this node, skipped"* ]]
}

@test "a default bind the image has no mount point for is skipped with a warning" {
    mkdir -p "$BATS_TEST_TMPDIR/site"
    echo "{\"binds\": [\"$BATS_TEST_TMPDIR/site:/scratch\"]}" >"$CONF"
    run -0 --separate-stderr husk run "$IMG_BUSYBOX" -- echo ran
    assert_output_is ran
    [[ $stderr == "husk: warning: "*"site bind $BATS_TEST_TMPDIR/site"* ]]
    # with --overlay the mount point can be made
    run -0 husk run --overlay "$IMG_BUSYBOX" -- ls -d /scratch
    assert_output_is /scratch
}

@test "the site's storage folder is used; HUSK_STORAGE wins over it" {
    echo "{\"storage\": \"$BATS_TEST_TMPDIR/site-\${USER}\"}" >"$CONF"
    tar -czf "$BATS_TEST_TMPDIR/bb.tgz" -C "$IMG_BUSYBOX_OWNED" .
    run -0 husk import "$BATS_TEST_TMPDIR/bb.tgz" bb
    [ -d "$BATS_TEST_TMPDIR/site-$USER/images/bb" ]
    run -0 husk images
    [[ $output == *bb* ]]
    mkdir "$BATS_TEST_TMPDIR/env"
    HUSK_STORAGE=$BATS_TEST_TMPDIR/env run -0 husk images
    [[ $output != *bb* ]]
    # listing an empty store creates nothing
    [ -z "$(ls -A "$BATS_TEST_TMPDIR/env")" ]
}

@test "husk check prints the effective settings and where each came from" {
    echo "{\"binds\": [\"/tmp\"], \"max_unpack_entries\": 99}" >"$CONF"
    HUSK_MAX_UNPACK_ENTRIES=7 run husk check
    [[ $output == *"ok    settings: $CONF read"* ]]
    [[ $output =~ binds\ +/tmp\ +\($CONF\) ]]
    [[ $output =~ max_unpack_entries\ +7\ +\(HUSK_MAX_UNPACK_ENTRIES\) ]]
    [[ $output =~ storage\ +/var/tmp/$USER/husk\ +\(built-in\) ]]
}

# bad_config TEXT WHAT...: with the site config TEXT, husk run and husk
# images fail with one line naming the file and every WHAT, exit 125.
bad_config() {
    local text=$1 cmd
    shift
    printf '%s' "$text" >"$CONF"
    for cmd in "run $IMG_BUSYBOX -- echo ran" images; do
        # shellcheck disable=SC2086  # word splitting intended
        run -125 husk $cmd
        [ "${#lines[@]}" -eq 1 ]
        assert_husk_error "$CONF: " "$@"
    done
}

@test "bad site configs: one line naming the file, the key and the reason, exit 125" {
    bad_config '{"binds": ["/a",]}' "not valid JSON" "line 1"
    bad_config '{"bindz": []}' 'unknown key "bindz"'
    bad_config '{"binds": "/scratch"}' "binds: not an array"
    bad_config '{"max_unpack_bytes": "lots"}' "max_unpack_bytes: not a positive integer"
    bad_config '{"binds": ["scratch:/scratch"]}' 'binds[0]: "scratch:/scratch": a relative path'
    bad_config '{"storage": "var/tmp"}' 'storage: "var/tmp" is not an absolute path'
    # and husk check reports it as a failed step instead of settings
    run -1 husk check
    [[ $output == *"FAIL  settings: $CONF: storage"* ]]
}

@test "HUSK_CONFIG naming a missing file is an error; the default path may be absent" {
    run -125 husk images
    assert_husk_error "HUSK_CONFIG=$CONF: cannot read it"
    unset HUSK_CONFIG
    [ ! -e /etc/husk/husk.json ] || skip "this host has a site config"
    HUSK_STORAGE=$BATS_TEST_TMPDIR/s run -0 husk images
}
