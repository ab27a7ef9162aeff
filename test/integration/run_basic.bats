#!/usr/bin/env bats
# husk run: the command runs in the image, and husk's exit status follows
# docker run's convention (own status, 128+N, 125, 126, 127).

bats_require_minimum_version 1.5.0
load helpers

# --- the command runs inside the image -------------------------------------

@test "busybox: runs a command and reads files of the image" {
    run -0 husk run "$IMG_BUSYBOX" -- cat /husk-image
    assert_output_is busybox
    run -0 husk run "$IMG_BUSYBOX" -- grep '^ID=' /etc/os-release
    assert_output_is ID=husk-busybox
}

@test "busybox: the command may follow IMAGE without --" {
    run -0 husk run "$IMG_BUSYBOX" cat /husk-image
    assert_output_is busybox
}

@test "busybox: arguments reach the command unchanged" {
    run -0 husk run "$IMG_BUSYBOX" -- printf '[%s]\n' 'a b' '' '--' '-c' '$HOME' '*'
    assert_output_is $'[a b]\n[]\n[--]\n[-c]\n[$HOME]\n[*]'
}

@test "busybox: the image's root is the container's root" {
    # the same top-level names as the image, nothing of the host's root
    run -0 husk run "$IMG_BUSYBOX" -- sh -c 'ls -A / | sort'
    assert_output_is "$(ls -A "$IMG_BUSYBOX" | LC_ALL=C sort)"
    run -0 husk run "$IMG_BUSYBOX" -- test ! -e /lib/x86_64-linux-gnu
}

@test "debian: runs a command and reads files of the image" {
    run -0 husk run "$IMG_DEBIAN" -- cat /husk-image
    assert_output_is debian
    run -0 husk run "$IMG_DEBIAN" -- cat /etc/debian_version
    assert_output_is "$(cat "$IMG_DEBIAN/etc/debian_version")"
    [[ $output =~ ^[0-9]+(\.[0-9]+)*$ ]]
}

@test "debian: the image's dynamic programs and libraries are used" {
    run -0 husk run "$IMG_DEBIAN" -- bash -c 'echo "$BASH_VERSION"; dpkg-query -W -f "\${Version}\n" base-files'
    [ "${#lines[@]}" -eq 2 ]
    [ -n "${lines[0]}" ]
    [[ ${lines[1]} =~ ^[0-9] ]]
}

# --- the command's own status ---------------------------------------------

@test "busybox: exit statuses 0, 1 and 42 are the command's" {
    run -0 husk run "$IMG_BUSYBOX" -- true
    run -1 husk run "$IMG_BUSYBOX" -- false
    run -42 husk run "$IMG_BUSYBOX" -- sh -c 'exit 42'
    [ -z "$output" ]
}

@test "busybox: the command's own status 125 is passed on" {
    run -125 husk run "$IMG_BUSYBOX" -- sh -c 'exit 125'
    [ -z "$output" ]
}

@test "busybox: a command killed by a signal gives 128+N" {
    run -143 husk run "$IMG_BUSYBOX" -- sh -c 'kill -TERM $$'
    run -137 husk run "$IMG_BUSYBOX" -- sh -c 'kill -KILL $$'
    run -138 husk run "$IMG_BUSYBOX" -- sh -c 'kill -USR1 $$'
}

@test "debian: exit statuses 0, 42, 143 and 137" {
    run -0 husk run "$IMG_DEBIAN" -- true
    run -42 husk run "$IMG_DEBIAN" -- bash -c 'exit 42'
    run -143 husk run "$IMG_DEBIAN" -- bash -c 'kill -TERM $$'
    run -137 husk run "$IMG_DEBIAN" -- bash -c 'kill -KILL $$'
}

# --- the command cannot be run: 126, 127 ------------------------------------

@test "busybox: a file that is not executable gives 126" {
    run -126 husk run "$IMG_BUSYBOX" -- /etc/passwd
    assert_husk_error /etc/passwd
    [ "${#lines[@]}" -eq 1 ]
}

@test "busybox: a directory as the command gives 126" {
    run -126 husk run "$IMG_BUSYBOX" -- /etc
    assert_husk_error /etc
}

@test "busybox: a command not in PATH gives 127" {
    run -127 husk run "$IMG_BUSYBOX" -- no-such-command-husk
    assert_husk_error no-such-command-husk "not found"
    [ "${#lines[@]}" -eq 1 ]
}

@test "busybox: a missing absolute command gives 127" {
    run -127 husk run "$IMG_BUSYBOX" -- /no/such/program
    assert_husk_error /no/such/program
}

@test "busybox: a command that exists only on the host gives 127" {
    # bats runs this test, so the host has it; the image does not
    run -127 husk run "$IMG_BUSYBOX" -- bats --version
    assert_husk_error bats
}

@test "debian: not executable gives 126, not found gives 127" {
    run -126 husk run "$IMG_DEBIAN" -- /etc/passwd
    assert_husk_error /etc/passwd
    run -127 husk run "$IMG_DEBIAN" -- no-such-command-husk
    assert_husk_error no-such-command-husk
}

# --- husk itself fails: 125, one line "husk: error: ..." -------------------

@test "a missing image gives 125 and names it" {
    run -125 husk run "$BATS_TEST_TMPDIR/no-such-image" -- true
    assert_husk_error "$BATS_TEST_TMPDIR/no-such-image"
    [ "${#lines[@]}" -eq 1 ]
}

@test "an image that is a plain file gives 125 and names it" {
    echo 'not an image' >"$BATS_TEST_TMPDIR/file"
    run -125 husk run "$BATS_TEST_TMPDIR/file" -- true
    assert_husk_error "$BATS_TEST_TMPDIR/file"
    [ "${#lines[@]}" -eq 1 ]
}

@test "a bind destination missing from a read-only image gives 125 and names it" {
    run -125 husk run -b /tmp:/no-such-dir "$IMG_BUSYBOX" -- true
    assert_husk_error /no-such-dir
    [ "${#lines[@]}" -eq 1 ]
}

@test "a missing bind source gives 125 and names it" {
    run -125 husk run -b "$BATS_TEST_TMPDIR/no-such-src:/mnt" "$IMG_BUSYBOX" -- true
    assert_husk_error "$BATS_TEST_TMPDIR/no-such-src"
    [ "${#lines[@]}" -eq 1 ]
}

@test "a relative bind destination gives 125" {
    run -125 husk run -b /tmp:mnt "$IMG_BUSYBOX" -- true
    assert_husk_error "-b /tmp:mnt"
    [ "${#lines[@]}" -eq 1 ]
}

@test "a bind over the container's root gives 125" {
    run -125 husk run -b /tmp:/ "$IMG_BUSYBOX" -- true
    assert_husk_error "-b /tmp:/"
}

@test "a bad bind flag gives 125 and names it" {
    run -125 husk run -b /tmp:/mnt:rx "$IMG_BUSYBOX" -- true
    assert_husk_error rx
    [ "${#lines[@]}" -eq 1 ]
}

@test "an unknown option gives 125 and names it" {
    run -125 husk run --no-such-option "$IMG_BUSYBOX" -- true
    assert_husk_error --no-such-option
    [ "${#lines[@]}" -eq 1 ]
}

@test "an unknown subcommand gives 125" {
    # (husk says "A subcommand is required" without naming the word it got)
    run -125 husk no-such-subcommand
    assert_husk_error
    [ "${#lines[@]}" -eq 1 ]
}

@test "husk run without IMAGE gives 125" {
    run -125 husk run
    assert_husk_error IMAGE
    [ "${#lines[@]}" -eq 1 ]
}

@test "--cd to a directory missing in the image gives 125 and names it" {
    run -125 husk run --cd /nonexistent "$IMG_BUSYBOX" -- true
    assert_husk_error /nonexistent
    [ "${#lines[@]}" -eq 1 ]
}

@test "--cd with a relative path gives 125" {
    run -125 husk run --cd etc "$IMG_BUSYBOX" -- true
    assert_husk_error etc
}

@test "-w and --overlay together give 125" {
    run -125 husk run -w --overlay "$IMG_BUSYBOX_OWNED" -- true
    assert_husk_error --overlay
    [ "${#lines[@]}" -eq 1 ]
}

@test "no command and no image config gives 125" {
    run -125 husk run "$IMG_BUSYBOX"
    assert_husk_error "$IMG_BUSYBOX"
    [ "${#lines[@]}" -eq 1 ]
}

@test "--uid that is not a number gives 125" {
    run -125 husk run --uid abc "$IMG_BUSYBOX" -- true
    assert_husk_error --uid abc
}
