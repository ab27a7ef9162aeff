#!/usr/bin/env bats
# husk run on SquashFS files, served by husk's own FUSE server: the image's
# contents, exit codes, signals, nothing visible on the host, a command's
# background processes keep the image, bad files are clear errors.

bats_require_minimum_version 1.5.0
load helpers

# has_sleeper PID: husk PID has a child running `sleep 1000.$BATS_ROOT_PID`.
has_sleeper() {
    pgrep -P "$1" -f "^sleep 1000\.$BATS_ROOT_PID" >/dev/null
}

teardown() {
    kill_bg
    # what a test put in the home directory
    if [ -n "${CLEAN_PATHS:-}" ]; then
        rm -rf -- "$CLEAN_PATHS"
    fi
}

@test "gzip and zstd SquashFS images run a command only the image has" {
    local img
    for img in "$IMG_DEBIAN_SQFS" "$IMG_DEBIAN_ZSTD_SQFS"; do
        run -0 husk run "$img" -- cat /husk-image /etc/debian_version
        assert_output_has debian
        [[ $output == *$'\n12.'* ]]
    done
    run -0 husk run "$IMG_BUSYBOX_SQFS" -- cat /husk-image
    assert_output_is busybox
}

@test "the kind is found by content, not by name" {
    cp "$IMG_BUSYBOX_SQFS" "$BATS_TEST_TMPDIR/image.tar.gz"
    run -0 husk run "$BATS_TEST_TMPDIR/image.tar.gz" -- cat /husk-image
    assert_output_is busybox
}

@test "a whole tree reads back identical to the directory image" {
    run -0 husk run "$IMG_DEBIAN_ZSTD_SQFS" -- sh -c \
        'cd /usr/lib && find . -xdev -type f -print0 | sort -z | xargs -0 md5sum | md5sum'
    local sqfs=$output
    run -0 husk run "$IMG_DEBIAN" -- sh -c \
        'cd /usr/lib && find . -xdev -type f -print0 | sort -z | xargs -0 md5sum | md5sum'
    [ "$sqfs" = "$output" ]
}

@test "paths, types, modes, sizes and link targets match the directory image" {
    # everything but owners (-all-root), directory sizes (file system
    # specific) and the files husk binds or generates
    local q='find /etc /usr/bin /usr/share/doc /var -xdev \( -type d -printf "%p %y %m\n" \) -o -printf "%p %y %m %s %l\n" | grep -vE "^/etc/(passwd|group|hosts|resolv.conf) " | sort'
    run -0 husk run "$IMG_DEBIAN_SQFS" -- sh -c "$q"
    local sqfs=$output
    [ "${#lines[@]}" -gt 1000 ]
    run -0 husk run "$IMG_DEBIAN" -- sh -c "$q"
    [ "$sqfs" = "$output" ]
    run -0 husk run "$IMG_DEBIAN_SQFS" -- readlink /bin /etc/alternatives/awk
    assert_output_is $'usr/bin\n/usr/bin/mawk'
}

@test "exit codes are the same as for directory images" {
    run -0 husk run "$IMG_BUSYBOX_SQFS" -- true
    run -42 husk run "$IMG_BUSYBOX_SQFS" -- sh -c 'exit 42'
    run -127 husk run "$IMG_BUSYBOX_SQFS" -- no-such-command
    run -126 husk run "$IMG_BUSYBOX_SQFS" -- /etc/passwd
    run -143 husk run "$IMG_BUSYBOX_SQFS" -- sh -c 'kill -TERM $$'
}

@test "the image is read-only; -w is refused; --overlay writes vanish" {
    run -1 husk run "$IMG_BUSYBOX_SQFS" -- touch /x
    [[ $output == *"Read-only file system"* ]]
    run -125 husk run -w "$IMG_BUSYBOX_SQFS" -- true
    assert_husk_error "read-only" "--overlay"
    run -0 husk run --overlay "$IMG_BUSYBOX_SQFS" -- sh -c 'echo hi > /x && cat /x'
    assert_output_is hi
    run -1 husk run "$IMG_BUSYBOX_SQFS" -- test -e /x
}

@test "options work the same: binds, env, cwd, fake root, overlay mount points" {
    local src
    src=$(mktemp -d "$HOME/.husk-sq.XXXXXX")
    CLEAN_PATHS=$src
    echo data >"$src/f"
    run -0 husk run -b "$src:/mnt" -c /mnt -e FOO=bar "$IMG_DEBIAN_SQFS" -- sh -c 'cat f; pwd; echo $FOO'
    assert_output_is $'data\n/mnt\nbar'
    run -0 husk run --fake-root "$IMG_DEBIAN_SQFS" -- id -u
    assert_output_is 0
    run -125 husk run -b "$src:/new/place" "$IMG_DEBIAN_SQFS" -- true
    assert_husk_error /new/place
    run -0 husk run --overlay -b "$src:/new/place" "$IMG_DEBIAN_SQFS" -- cat /new/place/f
    assert_output_is data
}

@test "the image's OCI config inside the SquashFS file is used" {
    local tree=$BATS_TEST_TMPDIR/tree
    cp -a "$IMG_BUSYBOX_OWNED" "$tree"
    mkdir -p "$tree/.husk"
    printf '%s' '{"config":{"Env":["IMGVAR=from-image"],"Cmd":["/bin/sh","-c","echo cmd $IMGVAR"]}}' \
        >"$tree/.husk/config.json"
    mksquashfs "$tree" "$BATS_TEST_TMPDIR/cfg.sqfs" -no-progress -quiet -all-root >/dev/null
    run -0 husk run "$BATS_TEST_TMPDIR/cfg.sqfs"
    assert_output_is "cmd from-image"
}

@test "SIGTERM to husk reaches the command, which keeps its files until it exits" {
    # ch-run 0.31 unmounts on SIGTERM while the command runs on (Bus error).
    local out=$BATS_TEST_TMPDIR/out
    start_bg "$out" "$HUSK" run "$IMG_DEBIAN_SQFS" -- sh -c \
        'trap "sleep 0.3; cat /etc/debian_version; exit 7" TERM; echo ready; while :; do sleep 0.1; done'
    wait_until 10 file_has "$out" ready
    kill -TERM "$BG_PID"
    wait_status "$BG_PID"
    cat "$out"
    [ "$STATUS" -eq 7 ]
    grep -q '^12\.' "$out"
}

@test "a background process keeps reading the image after the command exits" {
    run -5 husk run "$IMG_DEBIAN_SQFS" -- sh -c \
        "(sleep 0.5; md5sum /usr/bin/dpkg > $BATS_TEST_TMPDIR/bg) & exit 5"
    # husk returned only after the background process: its file is complete
    grep -q ' /usr/bin/dpkg$' "$BATS_TEST_TMPDIR/bg"
    run -0 husk run "$IMG_DEBIAN" -- md5sum /usr/bin/dpkg
    [ "$(cat "$BATS_TEST_TMPDIR/bg")" = "$output" ]
}

@test "the mount never shows in the host's mount table, during or after" {
    start_bg "$BATS_TEST_TMPDIR/out" "$HUSK" run "$IMG_DEBIAN_SQFS" -- sleep "1000.$BATS_ROOT_PID"
    wait_until 10 has_sleeper "$BG_PID"
    assert_no_container_mounts "$IMG_DEBIAN_SQFS" fuse.husk
    kill -TERM "$BG_PID"
    wait_status "$BG_PID"
    [ "$STATUS" -eq 143 ]
    assert_no_container_mounts "$IMG_DEBIAN_SQFS" fuse.husk
}

@test "SIGKILL of husk mid-run: the command dies, nothing is left" {
    start_bg "$BATS_TEST_TMPDIR/out" "$HUSK" run "$IMG_DEBIAN_ZSTD_SQFS" -- sleep "1000.$BATS_ROOT_PID"
    wait_until 10 has_sleeper "$BG_PID"
    local cmd
    cmd=$(pgrep -P "$BG_PID" -f "^sleep 1000\.$BATS_ROOT_PID")
    kill -KILL "$BG_PID"
    wait_status "$BG_PID"
    [ "$STATUS" -eq 137 ]
    wait_until 5 dead "$cmd"
    assert_no_container_mounts "$IMG_DEBIAN_ZSTD_SQFS" fuse.husk
    ! pgrep -u "$(id -u)" -f "^sleep 1000\.$BATS_ROOT_PID"
}

@test "not SquashFS, truncated or corrupt files: one clear line, exit 125, no hang" {
    local d=$BATS_TEST_TMPDIR
    printf 'hsqs' >"$d/magic-only.sqfs"
    head -c 4096 "$IMG_DEBIAN_SQFS" >"$d/header.sqfs"
    size=$(stat -c %s "$IMG_DEBIAN_SQFS")
    head -c $((size / 2)) "$IMG_DEBIAN_SQFS" >"$d/half.sqfs"
    for f in magic-only header half; do
        run -125 timeout 20 "$HUSK" run "$d/$f.sqfs" -- true
        assert_husk_error "$d/$f.sqfs"
        [ "${#lines[@]}" -eq 1 ]
    done
    # an unsupported compression: patch the superblock's compression id (at
    # byte 20, little-endian 16 bits) to 42
    cp "$IMG_BUSYBOX_SQFS" "$d/comp.sqfs"
    printf '\x2a\x00' | dd of="$d/comp.sqfs" bs=1 seek=20 conv=notrunc status=none
    run -125 husk run "$d/comp.sqfs" -- true
    assert_husk_error "compression"
}

@test "corrupt data blocks give EIO inside, not a hang or a crash" {
    local d=$BATS_TEST_TMPDIR size
    cp "$IMG_DEBIAN_SQFS" "$d/bad.sqfs"
    size=$(stat -c %s "$d/bad.sqfs")
    # scribble over the middle third, where file data lives (tables are at the end)
    python3 - "$d/bad.sqfs" "$size" <<'PY' 2>/dev/null || perl -e '
        open(my $f, "+<", $ARGV[0]) or die; my $s = $ARGV[1];
        for (my $o = int($s/3); $o < int(2*$s/3); $o += 4093) { seek($f, $o, 0); print $f "\xde\xad\xbe\xef" x 8; }' "$d/bad.sqfs" "$size"
import sys
f = open(sys.argv[1], "r+b"); s = int(sys.argv[2])
for o in range(s // 3, 2 * s // 3, 4093):
    f.seek(o); f.write(b"\xde\xad\xbe\xef" * 8)
PY
    run timeout 60 "$HUSK" run "$d/bad.sqfs" -- /bin/sh -c 'cat /usr/bin/* /usr/lib/x86_64-linux-gnu/*.so* > /dev/null'
    # not a hang (timeout's 124) and not a crash of husk (128+N)
    [ "$status" -ne 124 ] && [ "$status" -lt 128 ]
    # the reads failed, and said why
    [ "$status" -ne 0 ]
    [[ $output == *"Input/output error"* ]]
}

@test "a corrupt block: EIO for its file, the other file reads whole, one warning from husk" {
    local d=$BATS_TEST_TMPDIR
    mkdir "$d/root"
    # two compressible files, no fragments: a.bin's blocks come first after
    # the superblock (96 bytes), so scribbling at byte 300 breaks a.bin only
    python3 - "$d/root" <<'PY'
import random, sys
random.seed(5)
words = [b"alpha", b"beta", b"gamma", b"delta", b"epsilon", b"zeta", b"eta", b"theta"]
for name in ("a.bin", "b.bin"):
    with open(f"{sys.argv[1]}/{name}", "wb") as f:
        f.write(b" ".join(random.choice(words) for _ in range(200000)))
PY
    mksquashfs "$d/root" "$d/img.sqfs" -noappend -all-root -no-progress -quiet -comp gzip \
        -no-fragments >/dev/null
    printf '\xde\xad\xbe\xef%.0s' 1 2 3 4 5 6 7 8 |
        dd of="$d/img.sqfs" bs=1 seek=300 conv=notrunc status=none
    run -0 "$HUSK" run --overlay -b /bin/busybox:/busybox -b "$d/root:/orig" "$d/img.sqfs" -- \
        /busybox sh -c '/busybox cat /a.bin >/dev/null; echo "a=$?"; /busybox cmp /b.bin /orig/b.bin && echo b=same'
    [[ $output == *"Input/output error"* ]]
    [[ $output == *"a=1"* ]]
    [[ $output == *"b=same"* ]]
    # husk's stderr: the server's one warning (the kernel asks again; said once)
    [ "$(grep -c "husk: warning: image $d/img.sqfs is corrupt: reading the file of inode number" <<<"$output")" -eq 1 ]
}

@test "a server request that spins is stopped: one line, exit 125, nothing left waiting" {
    # HUSK_TEST_FUSE_SPIN (a test hook) makes the server loop on a lookup of
    # that name, as libsquashfuse would on a crafted image. Without the
    # watchdog, cat would wait in the kernel for ever, even past SIGKILL.
    local d=$BATS_TEST_TMPDIR
    cp "$IMG_BUSYBOX_SQFS" "$d/spin.sqfs" # a server of its own
    HUSK_TEST_FUSE_SPIN=spin-here HUSK_FUSE_CPU_LIMIT=1 \
        run -125 timeout 60 "$HUSK" run "$d/spin.sqfs" -- cat /spin-here
    assert_husk_error "the SquashFS server of $d/spin.sqfs stopped (a FUSE lookup request used more than 1 s of CPU"
    [ "${#lines[@]}" -eq 1 ]
    # neither the server (forked from husk, so its command line names the
    # image) nor cat is left, in any state but a zombie's (whose command
    # line is empty) under a pid 1 that does not reap; [.] keeps the
    # pattern from matching this very command line
    wait_until 10 bash -c "! pgrep -u $(id -u) -f 'spin[.]sqfs|^cat /spin-here' >/dev/null"
    assert_no_container_mounts "$d/spin.sqfs" fuse.husk
    # the same image serves again, and a sound request is never stopped
    run -0 "$HUSK" run "$d/spin.sqfs" -- cat /etc/passwd
}

@test "husk check reports whether unprivileged FUSE mounts work" {
    run -0 husk check
    grep -E '^ +ok +FUSE mount in a user namespace' <<<"$output"
}
