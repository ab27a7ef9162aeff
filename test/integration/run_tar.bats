#!/usr/bin/env bats
# husk run on tar archives: unpacked once into $HUSK_STORAGE's cache, shared
# by concurrent runs, safe against hostile archives.

bats_require_minimum_version 1.5.0
load helpers

setup() {
    export HUSK_STORAGE=$BATS_TEST_TMPDIR/storage
    mkdir -p "$HUSK_STORAGE"
}

@test "tarballs in every compression run, from one unpack" {
    # every compression doc/husk-run.md names: none gzip xz zstd bzip2 lz4 lzma
    local c
    for c in none gzip xz zstd bzip2 lz4 lzma; do
        case $c in
            none) tar -cf "$BATS_TEST_TMPDIR/bb.$c" -C "$IMG_BUSYBOX_OWNED" . ;;
            lz4) tar -c -I lz4 -f "$BATS_TEST_TMPDIR/bb.$c" -C "$IMG_BUSYBOX_OWNED" . ;;
            # GNU tar's --lzma writes xz; the legacy .lzma format is xz's alone
            lzma) tar -c -I 'xz --format=lzma' -f "$BATS_TEST_TMPDIR/bb.$c" -C "$IMG_BUSYBOX_OWNED" . ;;
            *) tar -c --"$c" -f "$BATS_TEST_TMPDIR/bb.$c" -C "$IMG_BUSYBOX_OWNED" . ;;
        esac
        run -0 husk run "$BATS_TEST_TMPDIR/bb.$c" -- cat /husk-image
        assert_output_is busybox
    done
    [ "$(find "$HUSK_STORAGE/cache" -mindepth 1 -maxdepth 1 -type d | wc -l)" -eq 7 ]
    run -0 husk -v run "$BATS_TEST_TMPDIR/bb.gzip" -- true
    [[ $output == *"unpacked before"* ]]
    [[ $output != *"unpacking"* ]]
}

@test "the Debian image as a tar.gz, with its /usr/bin intact" {
    tar -czf "$BATS_TEST_TMPDIR/debian.tar.gz" -C "$IMG_DEBIAN" . 2>/dev/null || true
    run -0 husk run "$BATS_TEST_TMPDIR/debian.tar.gz" -- sh -c 'cat /etc/debian_version; ls /usr/bin | wc -l'
    [[ ${lines[0]} == 12.* ]]
    [ "${lines[1]}" -eq "$(ls "$IMG_DEBIAN/usr/bin" | wc -l)" ]
}

@test "a changed archive is unpacked again" {
    tar -czf "$BATS_TEST_TMPDIR/bb.tgz" -C "$IMG_BUSYBOX_OWNED" .
    run -0 husk run "$BATS_TEST_TMPDIR/bb.tgz" -- true
    touch -d '2001-01-01' "$BATS_TEST_TMPDIR/bb.tgz"
    run -0 husk -v run "$BATS_TEST_TMPDIR/bb.tgz" -- true
    [[ $output == *"unpacking"* ]]
}

@test "16 concurrent runs on an uncached archive: one unpack, all succeed" {
    tar -czf "$BATS_TEST_TMPDIR/bb.tgz" -C "$IMG_BUSYBOX_OWNED" .
    local i pids=()
    for i in $(seq 16); do
        "$HUSK" -v run "$BATS_TEST_TMPDIR/bb.tgz" -- cat /husk-image >"$BATS_TEST_TMPDIR/out.$i" 2>&1 &
        pids+=($!)
    done
    local failed=0
    for i in "${pids[@]}"; do
        wait "$i" || failed=$((failed + 1))
    done
    [ "$failed" -eq 0 ]
    [ "$(cat "$BATS_TEST_TMPDIR"/out.* | grep -c '^busybox$')" -eq 16 ]
    [ "$(cat "$BATS_TEST_TMPDIR"/out.* | grep -c 'husk: unpacking')" -eq 1 ]
}

@test "a writer killed half way leaves nothing that counts, and its leftovers go" {
    tar -czf "$BATS_TEST_TMPDIR/bb.tgz" -C "$IMG_BUSYBOX_OWNED" .
    run -0 husk run "$BATS_TEST_TMPDIR/bb.tgz" -- true
    local entry
    entry=$(find "$HUSK_STORAGE/cache" -mindepth 1 -maxdepth 1 -type d)
    # as if the unpack had been killed: no finished tree, a half one beside it
    mv "$entry" "$entry.tmp.999999"
    run -0 husk -v run "$BATS_TEST_TMPDIR/bb.tgz" -- cat /husk-image
    [[ $output == *"did not finish"* ]]
    [ ! -e "$entry.tmp.999999" ]
    [ -d "$entry" ]
}

@test "hostile archives: one error line naming archive and entry, 125, nothing outside, no cache entry" {
    local d=$BATS_TEST_TMPDIR canary=$BATS_TEST_TMPDIR/canary
    mkdir -p "$canary"
    echo keep >"$canary/keep"
    python3 - "$d" "$canary" <<'PY'
import io, sys, tarfile
d, canary = sys.argv[1], sys.argv[2]
def tar(name, members):
    with tarfile.open(f"{d}/{name}", "w:gz") as t:
        for m, data in members:
            t.addfile(m, io.BytesIO(data) if data is not None else None)
def f(name, data=b"x"):
    i = tarfile.TarInfo(name); i.size = len(data); return (i, data)
def sym(name, target):
    i = tarfile.TarInfo(name); i.type = tarfile.SYMTYPE; i.linkname = target; return (i, None)
def hard(name, target):
    i = tarfile.TarInfo(name); i.type = tarfile.LNKTYPE; i.linkname = target; return (i, None)
tar("dotdot.tgz", [f("bin/sh"), f("../../../../" + canary.lstrip("/") + "/evil")])
tar("symlink.tgz", [sym("escape", canary), f("escape/evil")])
tar("hardlink.tgz", [f("a"), hard("h", "../../../../" + canary.lstrip("/") + "/keep")])
tar("whiteout.tgz", [f("a/.wh.")])
PY
    local t
    for t in dotdot symlink hardlink whiteout; do
        run -125 husk run "$d/$t.tgz" -- true
        assert_husk_error "$d/$t.tgz" "entry"
        [ "${#lines[@]}" -eq 1 ]
    done
    [ "$(ls -A "$canary")" = keep ]
    [ "$(cat "$canary/keep")" = keep ]
    # neither a finished entry nor a temporary one is left
    [ -z "$(find "$HUSK_STORAGE/cache" -mindepth 1 -maxdepth 1 -type d)" ]
}

@test "a decompression bomb stops at the limit the user set" {
    head -c 20000000 /dev/zero >"$BATS_TEST_TMPDIR/zeros"
    tar -czf "$BATS_TEST_TMPDIR/bomb.tgz" -C "$BATS_TEST_TMPDIR" zeros
    run -125 env HUSK_MAX_UNPACK_BYTES=1000000 "$HUSK" run "$BATS_TEST_TMPDIR/bomb.tgz" -- true
    assert_husk_error HUSK_MAX_UNPACK_BYTES
}

@test "a storage folder that is not the user's is refused" {
    tar -czf "$BATS_TEST_TMPDIR/bb.tgz" -C "$IMG_BUSYBOX_OWNED" .
    run -125 env HUSK_STORAGE=/var/tmp "$HUSK" run "$BATS_TEST_TMPDIR/bb.tgz" -- true
    assert_husk_error /var/tmp "not by you"
    run -125 husk run -w "$BATS_TEST_TMPDIR/bb.tgz" -- true
    assert_husk_error -w --overlay
}

@test "where user namespaces are refused, an archive is not unpacked: one line, 125" {
    tar -czf "$BATS_TEST_TMPDIR/bb.tar.gz" -C "$IMG_BUSYBOX_OWNED" .
    # A user namespace of our own whose limit of nested ones is 0: husk
    # inside it meets a host with user namespaces off.
    run -125 unshare -Ur sh -c 'echo 0 >/proc/sys/user/max_user_namespaces && exec "$@"' sh \
        "$HUSK" run "$BATS_TEST_TMPDIR/bb.tar.gz" -- true
    assert_husk_error "cannot create the container's user, mount and PID namespaces" \
        "user.max_user_namespaces"
    [ "${#lines[@]}" -eq 1 ]
    [ -z "$(find "$HUSK_STORAGE" -mindepth 2 2>/dev/null)" ]
}

@test "a tar.gz whose gzip CRC is wrong is refused (gzip -t agrees), nothing cached" {
    tar -czf "$BATS_TEST_TMPDIR/bb.tar.gz" -C "$IMG_BUSYBOX_OWNED" .
    # flip one byte of the trailer's CRC-32 (the last 8 bytes: CRC-32, length)
    local size byte
    size=$(stat -c %s "$BATS_TEST_TMPDIR/bb.tar.gz")
    byte=$(od -An -tu1 -j $((size - 8)) -N1 "$BATS_TEST_TMPDIR/bb.tar.gz")
    # shellcheck disable=SC2059  # the format is the octal escape of the byte
    printf "\\$(printf %03o $((byte ^ 0x5a)))" |
        dd of="$BATS_TEST_TMPDIR/bb.tar.gz" bs=1 seek=$((size - 8)) conv=notrunc status=none
    run ! gzip -t "$BATS_TEST_TMPDIR/bb.tar.gz"
    run -125 husk run "$BATS_TEST_TMPDIR/bb.tar.gz" -- true
    assert_husk_error "$BATS_TEST_TMPDIR/bb.tar.gz: " "corrupt gzip data (incorrect data check)"
    [ "${#lines[@]}" -eq 1 ]
    [ -z "$(find "$HUSK_STORAGE" -mindepth 2 -not -name '*.lock' 2>/dev/null)" ]
}
