#!/usr/bin/env bats
# husk run against hostile images and privileged installs: symlinks that
# point out of the image, setuid husk, and what the command may gain.

bats_require_minimum_version 1.5.0
load helpers

setup() {
    SRC=$BATS_TEST_TMPDIR/src
    mkdir -p "$SRC"
    echo host-data >"$SRC/marker"
    # a busybox image of our own, with planted symlinks
    IMG=$BATS_TEST_TMPDIR/img
    copy_busybox "$IMG"
    CANARY=/tmp/husk-canary-$BATS_ROOT_PID-$BATS_TEST_NUMBER
    ln -s "../../../../../../../..$CANARY" "$IMG/escape1"
    ln -s "/../../../..$CANARY" "$IMG/escape2"
    ln -s "/mnt/../../../..$CANARY" "$IMG/escape3"
    ln -s ../../../../.. "$IMG/mnt/up"      # a directory link out
    ln -s escape1 "$IMG/escape4"            # a chain
    ln -s /mnt "$IMG/data"                  # stays inside: absolute
    ln -s ../mnt "$IMG/etc/data2"           # stays inside: relative
    ln -s /data/../mnt "$IMG/data3"         # stays inside through '..'
}

teardown() {
    kill_bg
    rm -rf -- "$CANARY" "$HOME/.husk-evil-$BATS_ROOT_PID"
}

# escape_test MODE TARGET: -b SRC:TARGET must fail with 125 saying the path
# leaves the root, and the host's canary stays as it was.
escape_test() {
    local mode=$1 target=$2 before
    before=$(ls -A "$CANARY" 2>/dev/null || echo absent)
    if [ "$mode" = ro ]; then
        run -125 husk run -b "$SRC:$target" "$IMG" -- true
    else
        run -125 husk run "$mode" -b "$SRC:$target" "$IMG" -- true
    fi
    assert_husk_error "$target"
    [[ $output == *"leaves the root"* ]]
    [ "${#lines[@]}" -eq 1 ]
    [ "$(ls -A "$CANARY" 2>/dev/null || echo absent)" = "$before" ]
}

@test "a bind through a relative symlink out of the image fails, nothing made on the host" {
    local mode
    for mode in ro -w --overlay; do
        escape_test "$mode" /escape1/sub
        [ ! -e "$CANARY" ]
    done
}

@test "a bind through an absolute symlink with '..' fails, nothing made on the host" {
    local mode t
    for mode in ro -w --overlay; do
        for t in /escape2/sub /escape3/sub /escape4/sub /mnt/up/tmp/sub; do
            escape_test "$mode" "$t"
            [ ! -e "$CANARY" ]
        done
    done
}

@test "a bind onto an escaping symlink whose host target exists fails, the target untouched" {
    local mode
    mkdir "$CANARY"
    echo canary >"$CANARY/file"
    for mode in ro -w --overlay; do
        escape_test "$mode" /escape1
        escape_test "$mode" /escape1/sub
        escape_test "$mode" /escape2/file
    done
    [ "$(ls -A "$CANARY")" = file ]
    [ "$(cat "$CANARY/file")" = canary ]
}

@test "a bind destination with '..' above the root fails" {
    run -125 husk run -b "$SRC:/../../mnt" "$IMG" -- true
    assert_husk_error
    [[ $output == *"leaves the root"* ]]
}

@test "a bind through a symlink that stays inside lands on its target" {
    local t
    for t in /data /etc/data2 /data3; do
        run -0 husk run -b "$SRC:$t" "$IMG" -- sh -c "cat /mnt/marker; readlink $t"
        [ "${lines[0]}" = host-data ]
        [ -n "${lines[1]}" ]
    done
    # the image is unchanged: the links are still links
    [ "$(readlink "$IMG/data")" = /mnt ]
}

@test "-w: a bind through a symlink that stays inside creates its mount point inside" {
    run -0 husk run -w -b "$SRC:/data/new" "$IMG" -- cat /mnt/new/marker
    assert_output_is host-data
    [ -d "$IMG/mnt/new" ]
}

@test "an image whose /etc/passwd is a symlink out of the image does not expose the host's" {
    rm "${IMG:?}/etc/passwd"
    ln -s ../../../../../../../../etc/shadow "$IMG/etc/passwd"
    run husk run "$IMG" -- cat /etc/passwd
    # either husk refuses (125) or it generates a passwd without the host's
    if [ "$status" -ne 125 ]; then
        [ "$status" -eq 0 ]
        assert_output_has "$(id -un):x:$(id -u):$(id -g)::$HOME:/bin/sh"
        [[ $output != *'$'* ]]
    fi
}

@test "an image whose /tmp is a symlink to /etc does not show the host's /etc" {
    # the symlink is followed inside the image: the host's /tmp may land on
    # the image's /etc, but nothing of the host's /etc appears
    [ -e /etc/debian_version ] || skip "the host has no /etc/debian_version"
    rm -r "${IMG:?}/tmp"
    ln -s /etc "$IMG/tmp"
    run husk run "$IMG" -- sh -c 'cat /etc/debian_version /tmp/debian_version; ls /etc /tmp'
    assert_output_lacks "$(cat /etc/debian_version)"
}

@test "--overlay: image symlinks cannot make husk create files in a host bind" {
    # The image's /etc leads into the host's /tmp (bound at /tmp). husk must
    # not create /etc/hosts, /etc/passwd, ... mount points there: it may
    # write only to the overlay.
    local target=$BATS_TEST_TMPDIR/evil-etc
    rm -r "${IMG:?}/etc"
    ln -s "$target" "$IMG/etc"
    run husk run --overlay "$IMG" -- true
    if [ -e "$target" ]; then
        ls -lA "$target" >&2
        echo "husk created $target on the host" >&2
        return 1
    fi
}

@test "-w, --overlay: a user bind through an image symlink cannot create directories on the host" {
    # the image's /evil leads into the home directory, which husk binds
    local target=$HOME/.husk-evil-$BATS_ROOT_PID mode
    ln -s "$target/sub" "$IMG/evil"
    for mode in --overlay -w; do
        run husk run "$mode" -b "$SRC:/evil" "$IMG" -- true
        if [ -e "$target" ]; then
            echo "husk $mode created $target on the host" >&2
            return 1
        fi
    done
}

# --- privileges ------------------------------------------------------------

@test "husk refuses to run when setuid" {
    cp "$HUSK" "$BATS_TEST_TMPDIR/husk-suid"
    chmod u+s "$BATS_TEST_TMPDIR/husk-suid"
    [ -u "$BATS_TEST_TMPDIR/husk-suid" ]
    run -125 "$BATS_TEST_TMPDIR/husk-suid" run "$IMG_BUSYBOX" -- echo ran
    assert_husk_error setuid
    assert_output_lacks ran
}

@test "husk refuses to run when setgid" {
    cp "$HUSK" "$BATS_TEST_TMPDIR/husk-sgid"
    chmod g+s "$BATS_TEST_TMPDIR/husk-sgid"
    [ -g "$BATS_TEST_TMPDIR/husk-sgid" ]
    run -125 "$BATS_TEST_TMPDIR/husk-sgid" run "$IMG_BUSYBOX" -- echo ran
    assert_husk_error setgid
    assert_output_lacks ran
}

@test "husk check on a setuid husk stops before checking anything" {
    cp "$HUSK" "$BATS_TEST_TMPDIR/husk-suid"
    chmod u+s "$BATS_TEST_TMPDIR/husk-suid"
    run -125 "$BATS_TEST_TMPDIR/husk-suid" check
    assert_husk_error setuid
    assert_output_lacks "husk can run containers on this host"
}

# privileged_husk_does_nothing HUSK TEXT: every command of HUSK, option
# parsing included, stops at once with one error line mentioning TEXT, and
# the commands that write create nothing.
privileged_husk_does_nothing() {
    local h=$1 text=$2 args out=$BATS_TEST_TMPDIR/out store=$BATS_TEST_TMPDIR/store
    for args in --version --help version "run --help" check images "rm x" "bogus --x"; do
        # shellcheck disable=SC2086  # word splitting intended
        run -125 "$h" $args
        assert_husk_error "$text"
        [ "${#lines[@]}" -eq 1 ]
    done
    tar -czf "$BATS_TEST_TMPDIR/bb.tgz" -C "$IMG_BUSYBOX_OWNED" .
    run -125 "$h" convert "$BATS_TEST_TMPDIR/bb.tgz" "$out" --format dir
    assert_husk_error "$text"
    [ ! -e "$out" ]
    run -125 env HUSK_STORAGE="$store" "$h" import "$BATS_TEST_TMPDIR/bb.tgz" bb
    assert_husk_error "$text"
    [ ! -e "$store" ]
    run -125 env HUSK_STORAGE="$store" "$h" run "$BATS_TEST_TMPDIR/bb.tgz" -- touch "$out"
    assert_husk_error "$text"
    [ ! -e "$out" ] && [ ! -e "$store" ]
}

@test "a setuid-root husk does nothing at all, so it writes nothing as root" {
    [ -u "$HUSK_SETUID_ROOT" ] && [ "$(stat -c %u "$HUSK_SETUID_ROOT")" = 0 ]
    privileged_husk_does_nothing "$HUSK_SETUID_ROOT" "effective ids"
}

@test "a husk with file capabilities does nothing at all" {
    [ -n "$(/usr/sbin/getcap "$HUSK_CAPS")" ]
    privileged_husk_does_nothing "$HUSK_CAPS" "file capabilities"
}

@test "the command runs with no_new_privs" {
    run -0 husk run "$IMG_BUSYBOX" -- grep '^NoNewPrivs:' /proc/self/status
    [[ $output =~ ^NoNewPrivs:[[:space:]]+1$ ]]
}

@test "the command has no capabilities in the host's user namespace" {
    # it runs in a user namespace of its own, not the host's
    run -0 husk run "$IMG_BUSYBOX" -- readlink /proc/self/ns/user
    [ "$output" != "$(readlink /proc/self/ns/user)" ]
    run -0 husk run --fake-root "$IMG_BUSYBOX" -- cat /proc/self/uid_map
    read -r inside outside count <<<"$output"
    [ "$inside" = 0 ]
    [ "$outside" = "$(id -u)" ]
    [ "$count" = 1 ]
}

@test "debian: a setuid program of the image gives no privilege" {
    # the root-owned image keeps su's setuid bit; root is not mapped inside
    [ -u "$IMG_DEBIAN/bin/su" ] || [ -u "$IMG_DEBIAN/usr/bin/su" ] || skip "no setuid su in the image"
    run -0 husk run "$IMG_DEBIAN" -- sh -c 'su -c id root </dev/null 2>&1; id -u'
    assert_output_has "$(id -u)"
    assert_output_lacks 0
}

@test "--fake-root cannot write the root-owned image's files" {
    run -1 husk run --fake-root -w "$IMG_BUSYBOX" -- touch /husk-image
    [ "$(cat "$IMG_BUSYBOX/husk-image")" = busybox ]
}
