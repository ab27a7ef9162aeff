#!/usr/bin/env bats
# husk run: binds (-b), the image's root (read-only, -w, --overlay), /tmp
# (--private-tmp) and home (--no-home).

bats_require_minimum_version 1.5.0
load helpers

setup() {
    SRC=$BATS_TEST_TMPDIR/src
    mkdir -p "$SRC"
    echo host-data >"$SRC/marker"
}

teardown() {
    kill_bg
    # what a test put in the kept debian copy or the home directory
    if [ -n "${CLEAN_PATHS:-}" ]; then
        local p
        for p in $CLEAN_PATHS; do
            rm -rf -- "$p"
        done
    fi
}

# --- -b SRC:DST ------------------------------------------------------------

@test "busybox: -b SRC:DST shows SRC at DST" {
    run -0 husk run -b "$SRC:/mnt" "$IMG_BUSYBOX" -- cat /mnt/marker
    assert_output_is host-data
}

@test "debian: -b SRC:DST shows SRC at DST" {
    run -0 husk run -b "$SRC:/mnt" "$IMG_DEBIAN" -- cat /mnt/marker
    assert_output_is host-data
}

@test "debian: -b SRC binds at the same path, over the image's own directory" {
    # the host's bats lives in a directory the image has, without bats
    # (`command -v bats` would find bats's libexec, which bats puts in PATH)
    local dir
    for dir in /usr/local/bin /usr/bin; do
        [ -x "$dir/bats" ] && break
    done
    [ -x "$dir/bats" ] || skip "bats is neither in /usr/local/bin nor in /usr/bin"
    run -0 husk run "$IMG_DEBIAN" -- test -d "$dir"
    run -1 husk run "$IMG_DEBIAN" -- test -e "$dir/bats"
    run -0 husk run -b "$dir" "$IMG_DEBIAN" -- test -e "$dir/bats"
}

@test "-b of a single file" {
    run -0 husk run -b "$SRC/marker:/etc/hostname" "$IMG_DEBIAN" -- cat /etc/hostname
    assert_output_is host-data
}

@test "-b SRC:DST:rw is a plain bind" {
    run -0 husk run -b "$SRC:/mnt:rw" "$IMG_BUSYBOX" -- sh -c 'echo rw > /mnt/new'
    [ "$(cat "$SRC/new")" = rw ]
}

@test "several -b apply in order, the later on top" {
    mkdir "$BATS_TEST_TMPDIR/other"
    echo other >"$BATS_TEST_TMPDIR/other/marker"
    run -0 husk run -b "$SRC:/mnt" -b "$BATS_TEST_TMPDIR/other:/mnt" "$IMG_BUSYBOX" -- cat /mnt/marker
    assert_output_is other
}

@test "a plain bind lets the command write, and the writes reach the host" {
    run -0 husk run -b "$SRC:/mnt" "$IMG_BUSYBOX" -- sh -c 'echo written > /mnt/new; mkdir /mnt/d'
    [ "$(cat "$SRC/new")" = written ]
    [ -d "$SRC/d" ]
}

@test "-b SRC:DST:ro refuses writes" {
    run -1 husk run -b "$SRC:/mnt:ro" "$IMG_BUSYBOX" -- touch /mnt/new
    [[ $output == *"Read-only file system"* ]]
    [ ! -e "$SRC/new" ]
    run -0 husk run -b "$SRC:/mnt:ro" "$IMG_BUSYBOX" -- cat /mnt/marker
    assert_output_is host-data
}

@test "debian: -b SRC:DST:ro refuses writes and keeps the file" {
    run ! husk run -b "$SRC:/mnt:ro" "$IMG_DEBIAN" -- sh -c 'echo x >> /mnt/marker'
    [ "$status" -ne 125 ]
    [[ $output == *"Read-only file system"* ]]
    [ "$(cat "$SRC/marker")" = host-data ]
}

@test ":ro applies to the submounts of the bound tree too" {
    # /dev/shm is a writable tmpfs mounted below /dev on most hosts
    if ! awk '$5 == "/dev/shm" { f = 1 } END { exit !f }' /proc/self/mountinfo ||
        ! [ -w /dev/shm ]; then
        skip "no writable mount at /dev/shm on this host"
    fi
    local name=husk-ro-$BATS_ROOT_PID
    run -0 husk run -b /dev:/mnt "$IMG_BUSYBOX" -- sh -c "touch /mnt/shm/$name && rm /mnt/shm/$name"
    run -1 husk run -b /dev:/mnt:ro "$IMG_BUSYBOX" -- touch "/mnt/shm/$name"
    [[ $output == *"Read-only file system"* ]]
    [ ! -e "/dev/shm/$name" ]
}

@test "a missing destination in a read-only image gives 125 naming it, and creates nothing" {
    run -125 husk run -b "$SRC:/no-such-dir/sub" "$IMG_BUSYBOX_OWNED" -- true
    assert_husk_error /no-such-dir/sub
    [ ! -e "$IMG_BUSYBOX_OWNED/no-such-dir" ]
    run -125 husk run -b "$SRC:/no-such-dir" "$IMG_DEBIAN" -- true
    assert_husk_error /no-such-dir
}

@test "--overlay creates a missing destination, and the image stays unchanged" {
    local before
    before=$(tree_sum "$IMG_BUSYBOX_OWNED")
    run -0 husk run --overlay -b "$SRC:/new/deep/dir" "$IMG_BUSYBOX_OWNED" -- cat /new/deep/dir/marker
    assert_output_is host-data
    [ "$(tree_sum "$IMG_BUSYBOX_OWNED")" = "$before" ]
}

@test "--overlay creates a missing destination in a root-owned image's root" {
    run -0 husk run --overlay -b "$SRC:/new-$BATS_ROOT_PID" "$IMG_BUSYBOX" -- cat "/new-$BATS_ROOT_PID/marker"
    assert_output_is host-data
    [ ! -e "$IMG_BUSYBOX/new-$BATS_ROOT_PID" ]
}

@test "--overlay creates a missing file destination" {
    local before
    before=$(tree_sum "$IMG_BUSYBOX_OWNED")
    run -0 husk run --overlay -b "$SRC/marker:/etc/husk-new-file" "$IMG_BUSYBOX_OWNED" -- cat /etc/husk-new-file
    assert_output_is host-data
    [ "$(tree_sum "$IMG_BUSYBOX_OWNED")" = "$before" ]
}

@test "--overlay: many destinations in one missing folder, through an image symlink, and past a dangling one" {
    # The overlay's upper layer gets each missing folder once; a target
    # below one found missing is not looked up again, but one past a
    # dangling symlink (whose missing parts are the link's, not the
    # target's) still is.
    ln -s /nowhere/at/all "$IMG_DEBIAN_OWNED/husk-dangling-$BATS_ROOT_PID"
    CLEAN_PATHS="$IMG_DEBIAN_OWNED/husk-dangling-$BATS_ROOT_PID"
    local before n=husk-new-$BATS_ROOT_PID
    before=$(tree_sum "$IMG_DEBIAN_OWNED")
    run -0 husk run --overlay \
        -b "$SRC/marker:/opt/$n/f1" -b "$SRC/marker:/opt/$n/f2" -b "$SRC:/opt/$n/sub/dir" \
        -b "$SRC/marker:/lib/$n/f3" -b "$SRC/marker:/usr/lib/$n/f4" \
        -b "$SRC/marker:/husk-dangling-$BATS_ROOT_PID/d/f5" \
        -b "$SRC/marker:/husk-dangling-$BATS_ROOT_PID/d/f6" \
        "$IMG_DEBIAN_OWNED" -- sh -c "cat /opt/$n/f1 /opt/$n/f2 /opt/$n/sub/dir/marker \
            /usr/lib/$n/f3 /lib/$n/f4 /nowhere/at/all/d/f5 /nowhere/at/all/d/f6 | uniq -c"
    assert_output_is "      7 host-data"
    [ "$(tree_sum "$IMG_DEBIAN_OWNED")" = "$before" ]
}

@test "-w creates a missing destination in the user's own image" {
    local dst=/husk-mnt-$BATS_ROOT_PID
    CLEAN_PATHS="$IMG_DEBIAN_OWNED$dst"
    run -0 husk run -w -b "$SRC:$dst/sub" "$IMG_DEBIAN_OWNED" -- cat "$dst/sub/marker"
    assert_output_is host-data
    # the mount point stays in the image, empty
    [ -d "$IMG_DEBIAN_OWNED$dst/sub" ]
    [ -z "$(ls -A "$IMG_DEBIAN_OWNED$dst/sub")" ]
}

# --- the image's root ------------------------------------------------------

@test "busybox: the image is read-only by default" {
    run -1 husk run "$IMG_BUSYBOX_OWNED" -- touch /x
    [[ $output == *"Read-only file system"* ]]
    [ ! -e "$IMG_BUSYBOX_OWNED/x" ]
}

@test "debian: the image is read-only by default" {
    run -1 husk run "$IMG_DEBIAN_OWNED" -- touch /x
    [[ $output == *"Read-only file system"* ]]
    [ ! -e "$IMG_DEBIAN_OWNED/x" ]
    run -1 husk run "$IMG_DEBIAN" -- touch /etc/x
    [[ $output == *"Read-only file system"* ]]
}

@test "busybox: -w writes persist in the user's own image" {
    run -0 husk run -w "$IMG_BUSYBOX_OWNED" -- sh -c 'echo persisted > /new-file && mkdir /new-dir'
    [ "$(cat "$IMG_BUSYBOX_OWNED/new-file")" = persisted ]
    [ -d "$IMG_BUSYBOX_OWNED/new-dir" ]
    run -0 husk run "$IMG_BUSYBOX_OWNED" -- cat /new-file
    assert_output_is persisted
    rm -r "$IMG_BUSYBOX_OWNED/new-file" "$IMG_BUSYBOX_OWNED/new-dir"
}

@test "debian: -w writes persist in the user's own image" {
    local f=/etc/husk-w-$BATS_ROOT_PID
    CLEAN_PATHS="$IMG_DEBIAN_OWNED$f"
    run -0 husk run -w "$IMG_DEBIAN_OWNED" -- sh -c "echo persisted > $f"
    [ "$(cat "$IMG_DEBIAN_OWNED$f")" = persisted ]
}

@test "busybox: --overlay allows writes inside and leaves the image unchanged" {
    local before
    before=$(tree_sum "$IMG_BUSYBOX_OWNED")
    run -0 husk run --overlay "$IMG_BUSYBOX_OWNED" -- sh -c \
        'touch /new-file && echo changed > /husk-image && rm /etc/os-release && mkdir /bin/newdir && cat /husk-image && ls /new-file'
    assert_output_is $'changed\n/new-file'
    [ "$(tree_sum "$IMG_BUSYBOX_OWNED")" = "$before" ]
    # and the next run starts afresh
    run -0 husk run --overlay "$IMG_BUSYBOX_OWNED" -- sh -c 'cat /husk-image; test ! -e /new-file'
    assert_output_is busybox
}

@test "debian: --overlay allows writes inside and leaves the image unchanged" {
    local before
    before=$(tree_state "$IMG_DEBIAN_OWNED")
    run -0 husk run --overlay "$IMG_DEBIAN_OWNED" -- sh -c \
        'touch /new-file && echo x >> /etc/debian_version && rm /etc/hostname && ls /new-file'
    assert_output_is /new-file
    [ "$(tree_state "$IMG_DEBIAN_OWNED")" = "$before" ]
}

@test "debian: --overlay on the root-owned image allows writes at its top" {
    local before
    before=$(tree_state "$IMG_DEBIAN")
    run -0 husk run --overlay "$IMG_DEBIAN" -- sh -c 'touch /new-file && ls /new-file'
    assert_output_is /new-file
    [ "$(tree_state "$IMG_DEBIAN")" = "$before" ]
}

# --- /tmp ------------------------------------------------------------------

@test "the host's /tmp is shared by default" {
    local f
    f=$(mktemp /tmp/husk-tmp-test.XXXXXX)
    echo shared >"$f"
    CLEAN_PATHS=$f
    run -0 husk run "$IMG_BUSYBOX" -- cat "$f"
    assert_output_is shared
    run -0 husk run "$IMG_BUSYBOX" -- sh -c "echo back > $f.2"
    CLEAN_PATHS="$f $f.2"
    [ "$(cat "$f.2")" = back ]
}

@test "--private-tmp hides the host's /tmp behind an empty, writable tmpfs" {
    local f
    f=$(mktemp /tmp/husk-tmp-test.XXXXXX)
    CLEAN_PATHS="$f $f.2"
    cd "$HOME"
    run -0 husk run --private-tmp "$IMG_BUSYBOX" -- sh -c "test ! -e $f && ls -A /tmp && touch $f.2 && ls /tmp"
    assert_output_is "${f##*/}.2"
    [ ! -e "$f.2" ]
}

@test "debian: --private-tmp hides the host's /tmp" {
    local f
    f=$(mktemp /tmp/husk-tmp-test.XXXXXX)
    CLEAN_PATHS=$f
    cd "$HOME"
    run -1 husk run --private-tmp "$IMG_DEBIAN" -- test -e "$f"
    run -0 husk run "$IMG_DEBIAN" -- test -e "$f"
}

@test "--private-tmp: a bind destination under the private /tmp is created there" {
    local src
    src=$(mktemp -d "$HOME/.husk-src.XXXXXX")
    CLEAN_PATHS=$src
    echo inside >"$src/file"
    local dst=/tmp/husk-private-$BATS_ROOT_PID/b
    run -0 husk run --private-tmp -b "$src:$dst" "$IMG_BUSYBOX" -- cat "$dst/file"
    assert_output_is inside
    [ ! -e "${dst%/b}" ] # made in the private tmpfs, not in the host's /tmp
}

@test "--overlay: a bind destination inside a host bind is refused, not created on the host" {
    local src
    src=$(mktemp -d "$HOME/.husk-src.XXXXXX")
    CLEAN_PATHS=$src
    run -125 husk run --overlay -b "$src:$HOME/.husk-new-$BATS_ROOT_PID" "$IMG_BUSYBOX" -- true
    assert_husk_error "not part of the image"
    [ ! -e "$HOME/.husk-new-$BATS_ROOT_PID" ]
}

@test "without mount_setattr (kernels before 5.12): the image and :ro binds are read-only too" {
    # HUSK_LEGACY_MOUNTS=1 takes the path of older kernels: a bind remount
    # of each mount, found in mountinfo
    [ -d /dev/shm ] || skip "no /dev/shm on this host"
    run -1 env HUSK_LEGACY_MOUNTS=1 "$HUSK" run "$IMG_BUSYBOX" -- touch /x
    [[ $output == *"Read-only file system"* ]]
    run -1 env HUSK_LEGACY_MOUNTS=1 "$HUSK" run -b /dev:/mnt:ro "$IMG_BUSYBOX" -- touch "/mnt/shm/husk-$BATS_ROOT_PID"
    [[ $output == *"Read-only file system"* ]]
    [ ! -e "/dev/shm/husk-$BATS_ROOT_PID" ]
    run -0 env HUSK_LEGACY_MOUNTS=1 "$HUSK" run -w "$IMG_BUSYBOX_OWNED" -- sh -c 'touch /legacy-w && rm /legacy-w && echo ok'
    assert_output_is ok
}

# --- home ------------------------------------------------------------------

@test "the home directory is bound by default, read-write" {
    local m=$HOME/.husk-home-marker-$BATS_ROOT_PID
    CLEAN_PATHS="$m $m.2"
    echo home >"$m"
    run -0 husk run "$IMG_BUSYBOX" -- cat "$m"
    assert_output_is home
    run -0 husk run "$IMG_DEBIAN" -- sh -c "cat $m && echo back > $m.2"
    assert_output_is home
    [ "$(cat "$m.2")" = back ]
}

@test "--no-home does not bind the home directory" {
    local m=$HOME/.husk-home-marker-$BATS_ROOT_PID
    CLEAN_PATHS=$m
    echo home >"$m"
    run -1 husk run --no-home "$IMG_BUSYBOX" -- test -e "$m"
    run -1 husk run --no-home "$IMG_DEBIAN" -- test -e "$m"
}
