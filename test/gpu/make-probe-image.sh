#!/bin/bash
# make-probe-image.sh -- a small image for checking --gpu on a real NVIDIA
# driver (real-driver.sh): about 5 MB, so that it travels to a GPU machine
# with the husk binary.
#
# Usage:  make-probe-image.sh OUT
#
# Makes OUT/ (a directory image) and OUT.sqfs (the same, as SquashFS):
#   usr/bin/busybox and its applets (sh, ls, cat, ...), static
#   usr/local/bin/cuda-probe   test/gpu/cuda-probe.c (CUDA's driver API
#                              through dlopen; no CUDA toolkit needed)
#   usr/lib/x86_64-linux-gnu   this machine's C library: the libraries
#                              cuda-probe, nvidia-smi and the driver's own
#                              libraries link against (libc, libm, libdl,
#                              libpthread, librt, libgcc_s) and ld.so
#   etc/ld.so.cache            made by ldconfig -r, as real images have one
#   lib, lib64, bin, sbin      symlinks into usr (a merged /usr)
# The image has no driver: --gpu brings it.
#
# Runs as any user (ldconfig -r chroots: in a user namespace of its own,
# unshare -r, when not root). Needs cc, busybox (static), ldconfig and
# mksquashfs. OUT must not exist; it is built in OUT.tmp.PID and renamed
# into place. Exit status 0, or 1 with one line on stderr.
set -Eeuo pipefail
exec </dev/null
umask 022

PROG=make-probe-image.sh
PATH=$PATH:/usr/sbin:/sbin # ldconfig, for users whose PATH lacks them
die() { printf '%s: error: %s\n' "$PROG" "$*" >&2; exit 1; }
if [ $# -ne 1 ] || [ -z "$1" ]; then printf 'usage: %s OUT\n' "$PROG" >&2; exit 2; fi
OUT=${1%/}
[ -e "$OUT" ] || [ -L "$OUT" ] && die "$OUT exists"
[ -e "$OUT.sqfs" ] && die "$OUT.sqfs exists"
HERE=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
for t in cc busybox ldconfig mksquashfs; do
    command -v "$t" >/dev/null || die "$t is missing"
done
bb=$(command -v busybox)
file_of() { readlink -f -- "$1"; }
# a static busybox runs in an image that has no C library of its own
if ldd "$bb" >/dev/null 2>&1; then die "$bb is not static (install busybox-static)"; fi

T=$OUT.tmp.$$
trap 'rm -rf --one-file-system -- "$T"' EXIT
MA=x86_64-linux-gnu
mkdir -p -- "$T/usr/bin" "$T/usr/sbin" "$T/usr/local/bin" "$T/usr/lib/$MA" "$T/usr/lib64" \
    "$T/etc" "$T/tmp" "$T/proc" "$T/sys" "$T/dev" "$T/root" "$T/home" "$T/run"
chmod 1777 -- "$T/tmp"
for d in bin sbin lib lib64; do ln -s "usr/$d" "$T/$d"; done

install -m 0755 -- "$bb" "$T/usr/bin/busybox"
for a in $("$bb" --list); do
    [ -e "$T/usr/bin/$a" ] || ln -s busybox "$T/usr/bin/$a"
done

cc -O2 -Wall -Wextra -Werror -o "$T/usr/local/bin/cuda-probe" "$HERE/cuda-probe.c" -ldl

# the C library, from where this machine's ld.so finds it
for lib in libc.so.6 libm.so.6 libdl.so.2 libpthread.so.0 librt.so.1 libgcc_s.so.1; do
    path=$(ldconfig -p | awk -v l="$lib" '$1 == l && /x86-64/ { print $NF; exit }')
    [ -n "$path" ] || die "$lib not in this machine's linker cache"
    install -m 0755 -- "$(file_of "$path")" "$T/usr/lib/$MA/$lib"
done
install -m 0755 -- "$(file_of /lib64/ld-linux-x86-64.so.2)" "$T/usr/lib/$MA/ld-linux-x86-64.so.2"
ln -s "../lib/$MA/ld-linux-x86-64.so.2" "$T/usr/lib64/ld-linux-x86-64.so.2"

printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' \
    >"$T/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' >"$T/etc/group"
printf '/usr/lib/%s\n' "$MA" >"$T/etc/ld.so.conf"
if [ "$(id -u)" -eq 0 ]; then
    ldconfig -r "$T"
else
    unshare -r ldconfig -r "$T"
fi
[ -s "$T/etc/ld.so.cache" ] || die "ldconfig made no ld.so.cache"
"$T/usr/local/bin/cuda-probe" --help >/dev/null 2>&1 || [ $? -eq 2 ] || die "cuda-probe does not run"

mksquashfs "$T" "$OUT.sqfs.tmp.$$" -all-root -noappend -quiet >/dev/null ||
    { rm -f -- "$OUT.sqfs.tmp.$$"; die "mksquashfs failed"; }
mv -T -- "$T" "$OUT"
trap - EXIT
mv -T -- "$OUT.sqfs.tmp.$$" "$OUT.sqfs"
printf '%s\n' "$OUT"
