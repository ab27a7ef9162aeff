#!/usr/bin/env bats
# The site-config example, run as the unprivileged test user on the Debian image.

@test "site-config example: the default bind appears, check shows it, a mistake is one line" {
    run "$BATS_TEST_DIRNAME/run.sh" "$IMG_DEBIAN"
    echo "$output"
    [ "$status" -eq 0 ]
    [[ "$output" == *$'== every container gets it, with no -b\nresults of last week'* ]]
    [[ "$output" =~ binds\ +/tmp/[^\ ]+/scratch:/mnt:ro\ +\(/tmp/[^\ ]+/husk.json\) ]]
    [[ "$output" =~ storage\ +/tmp/[^\ ]+/store-$USER\ +\(/tmp/[^\ ]+/husk.json\) ]]
    [[ "$output" == *'husk: error: '*'husk.json: binds[0]: "scratch": a relative path'* ]]
    [[ "$output" == *"exit status 125" ]]
    [[ "$output" != *"this does not run"* ]]
}

@test "the example husk.json is a valid site config" {
    HUSK_CONFIG=$BATS_TEST_DIRNAME/husk.json run -0 "$HUSK" check
    [[ "$output" == *"binds               /scratch, /projects:/projects:ro"* ]]
}
