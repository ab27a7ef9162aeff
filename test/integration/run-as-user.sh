#!/bin/bash
# run-as-user.sh -- run one integration test file as an unprivileged user.
#
#   run-as-user.sh HUSK FILE.bats
#
# Runs as root (CI is root) and:
#   1. creates, once, the unprivileged user husk-test (home dir, no sudo);
#   2. makes /dev/fuse mode 0666 where it is not (Debian ships it so);
#   3. builds or refreshes the fixture images (test/fixtures/make-images.sh),
#      keeps a husk-test-owned copy of the debian image, cached once per image
#      key as $CACHE/debian-owned-KEY, and makes a per-run husk-test-owned
#      copy of the busybox image;
#   3b. builds, once per version of its script, fake NVIDIA and AMD driver
#      trees (test/fixtures/make-fake-gpu-tree.sh) for the --gpu tests;
#   4. copies husk and the test files into a fresh /tmp/husk-it.XXXXXX that
#      husk-test can read (the clone may live under a 0700 /root), with a
#      setuid-root copy and a copy with file capabilities of husk in a
#      folder only husk-test can enter (the tests that check a misinstalled
#      husk refuses to do anything);
#   5. runs `bats --tap FILE` there as husk-test, with a clean environment
#      (only the tests whose names match HUSK_BATS_FILTER, a regex, if set)
#      but for SLURM_CONF and HUSK_SPANK, passed on when set (the Slurm
#      tests' cluster and plugin, test/slurm/run.sh);
#   6. removes the temporary directory and exits with bats's status.
# On success it prints nothing but bats's TAP output.
set -Eeuo pipefail
exec </dev/null
umask 022

PROG=run-as-user.sh
TEST_USER='husk-test'
CACHE=${HUSK_TEST_CACHE:-/var/cache/husk-test}

die() { printf '%s: error: %s\n' "$PROG" "$*" >&2; exit 2; }

[ $# -eq 2 ] || { printf 'usage: %s HUSK FILE.bats\n' "$PROG" >&2; exit 2; }
[ "$(id -u)" = 0 ] || die "must run as root (it creates the user $TEST_USER and the fixtures)"
husk=$(realpath -e -- "$1") || die "husk binary not found: $1"
bats_file=$(realpath -e -- "$2") || die "test file not found: $2"
[ -x "$husk" ] || die "not executable: $husk"
case $bats_file in *.bats) ;; *) die "not a .bats file: $bats_file" ;; esac
for c in bats setpriv useradd flock pgrep setcap; do
    command -v "$c" >/dev/null || die "missing command: $c"
done
here=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
make_images=$here/../fixtures/make-images.sh
[ -f "$make_images" ] || die "missing $make_images"

tmp=
# shellcheck disable=SC2317  # run by the trap
cleanup() {
    local rc=$?
    if [ -n "$tmp" ] && [ -d "$tmp" ]; then
        rm -rf --one-file-system -- "$tmp"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

mkdir -p "$CACHE"
chmod a+rx "$CACHE"

# --- shared setup, one runner at a time (ctest -j runs several files) -------
# Not $CACHE/.lock: make-images.sh takes that one itself.
exec 8>"$CACHE/.setup.lock"
flock 8

# 1. the test user
if ! id -u "$TEST_USER" >/dev/null 2>&1; then
    useradd -m -s /bin/bash "$TEST_USER" >/dev/null
fi
user_home=$(getent passwd "$TEST_USER" | cut -d: -f6)
[ -n "$user_home" ] || die "user $TEST_USER has no home directory in passwd"
if [ ! -d "$user_home" ]; then
    mkdir -p -- "$user_home"
    chown "$TEST_USER:$TEST_USER" -- "$user_home"
    chmod 755 -- "$user_home"
fi

# 2. /dev/fuse, for SquashFS images and `husk check`
if [ -c /dev/fuse ] && [ "$(stat -c %a /dev/fuse)" != 666 ]; then
    printf 'test setup: chmod 0666 /dev/fuse (Debian ships it 0666; this machine has %04o)\n' \
        "$((8#$(stat -c %a /dev/fuse)))"
    chmod 0666 /dev/fuse
fi

# 3. fixture images; their log goes to stderr only when something fails
log=$(mktemp)
if ! images=$("$make_images" busybox debian layered mpi mpich 2>"$log"); then
    cat -- "$log" >&2
    rm -f -- "$log"
    die "building the fixture images failed"
fi
rm -f -- "$log"
img_busybox=$(awk '$1 == "busybox" { print $2 }' <<<"$images")
img_debian=$(awk '$1 == "debian" { print $2 }' <<<"$images")
img_layered=$(awk '$1 == "layered" { print $2 }' <<<"$images")
img_busybox_sqfs=$(awk '$1 == "busybox.sqfs" { print $2 }' <<<"$images")
img_debian_sqfs=$(awk '$1 == "debian.sqfs" { print $2 }' <<<"$images")
img_debian_zstd_sqfs=$(awk '$1 == "debian.zstd.sqfs" { print $2 }' <<<"$images")
img_mpi=$(awk '$1 == "mpi" { print $2 }' <<<"$images")
img_mpi_sqfs=$(awk '$1 == "mpi.zstd.sqfs" { print $2 }' <<<"$images")
img_mpich=$(awk '$1 == "mpich" { print $2 }' <<<"$images")
img_mpich_sqfs=$(awk '$1 == "mpich.zstd.sqfs" { print $2 }' <<<"$images")
[ -f "$img_busybox_sqfs" ] && [ -f "$img_debian_sqfs" ] && [ -f "$img_debian_zstd_sqfs" ] \
    || die "make-images.sh printed no SquashFS paths"
if [ ! -d "$img_busybox" ] || [ ! -d "$img_debian" ]; then
    die "make-images.sh printed no image paths"
fi

# A husk-test-owned copy of debian for -w and --overlay, made once per image
# key (keyed by the name of the resolved image directory).
img_debian=$(realpath -e -- "$img_debian")
key=${img_debian##*/}
key=${key#debian-}
img_debian_owned=$CACHE/debian-owned-$key
shopt -s nullglob
for t in "$CACHE"/.debian-owned-*.partial.*; do
    rm -rf --one-file-system -- "$t"
done
shopt -u nullglob
if [ -d "$img_debian_owned" ] && [ "$(stat -c %U -- "$img_debian_owned")" != "$TEST_USER" ]; then
    # the user was re-created with another uid: give the copy to the new one
    chown -R -h "$TEST_USER:$TEST_USER" -- "$img_debian_owned"
fi
if [ ! -d "$img_debian_owned" ]; then
    part=$CACHE/.debian-owned-$key.partial.$$
    cp -a -- "$img_debian" "$part"
    chown -R -h "$TEST_USER:$TEST_USER" -- "$part"
    mv -T -- "$part" "$img_debian_owned"
fi

# 3b. fake NVIDIA and AMD driver trees for --gpu and --device (device nodes
# need root to make), cached once per version of their script and sources
fake_gpu=$here/../fixtures/make-fake-gpu-tree.sh
fake_key=$(cat -- "$fake_gpu" "$here"/../fixtures/fake-gpu/* | sha256sum | cut -c1-12)
fake_nvidia=$CACHE/fake-nvidia-$fake_key
fake_amd=$CACHE/fake-amd-$fake_key
for kind in nvidia amd; do
    dest=$CACHE/fake-$kind-$fake_key
    [ -d "$dest" ] && continue
    rm -rf --one-file-system -- "$dest.partial"
    flag=()
    [ "$kind" = amd ] && flag=(--amd)
    log=$(mktemp)
    if ! "$fake_gpu" "${flag[@]}" "$dest.partial" >"$log" 2>&1; then
        cat -- "$log" >&2
        rm -f -- "$log"
        die "building the fake $kind driver tree failed"
    fi
    rm -f -- "$log"
    mv -T -- "$dest.partial" "$dest"
done

flock -u 8
exec 8>&-

# 4. a directory the test user can read: husk, the tests, a busybox copy
tmp=$(mktemp -d /tmp/husk-it.XXXXXX)
chmod 755 -- "$tmp"
install -m 0755 -- "$husk" "$tmp/husk"
# husk-bcast, built beside husk
if [ -x "${husk%/*}/husk-bcast" ]; then
    install -m 0755 -- "${husk%/*}/husk-bcast" "$tmp/husk-bcast"
fi
for f in "$here"/*.bats "$here"/*.bash; do
    [ -f "$f" ] && install -m 0644 -- "$f" "$tmp/"
done
# the test's own folder too (an example's scripts beside its test.bats)
for f in "${bats_file%/*}"/*; do
    [ -f "$f" ] || continue
    if [ -x "$f" ]; then install -m 0755 -- "$f" "$tmp/"; else install -m 0644 -- "$f" "$tmp/"; fi
done
# the registry tools of pull.bats (test/registry), in registry/
if [ -d "$here/../registry" ]; then
    mkdir -m 0755 -- "$tmp/registry"
    for f in "$here"/../registry/*; do
        [ -f "$f" ] && install -m 0755 -- "$f" "$tmp/registry/"
    done
fi
# a setuid-root copy of husk and one with file capabilities, as a careless
# admin might install it, for the tests that check such a husk does nothing;
# in a folder only husk-test can enter
mkdir -m 0750 -- "$tmp/privileged"
chown "root:$TEST_USER" -- "$tmp/privileged"
install -m 4755 -o root -g root -- "$husk" "$tmp/privileged/husk-setuid-root"
install -m 0755 -o root -g root -- "$husk" "$tmp/privileged/husk-caps"
setcap cap_dac_override+ep "$tmp/privileged/husk-caps"
cp -a -- "$img_busybox" "$tmp/busybox-owned"
chown -R -h "$TEST_USER:$TEST_USER" -- "$tmp/busybox-owned"

# 5. bats as the test user, clean environment
cd -- "$tmp"
rc=0
setpriv --reuid="$TEST_USER" --regid="$TEST_USER" --init-groups \
    env -i HOME="$user_home" USER="$TEST_USER" LOGNAME="$TEST_USER" \
    PATH=/usr/local/bin:/usr/bin:/bin \
    HUSK="$tmp/husk" HUSK_BCAST="$tmp/husk-bcast" \
    HUSK_SETUID_ROOT="$tmp/privileged/husk-setuid-root" HUSK_CAPS="$tmp/privileged/husk-caps" \
    IMG_BUSYBOX="$img_busybox" IMG_DEBIAN="$img_debian" \
    IMG_BUSYBOX_OWNED="$tmp/busybox-owned" IMG_DEBIAN_OWNED="$img_debian_owned" \
    IMG_BUSYBOX_SQFS="$img_busybox_sqfs" IMG_DEBIAN_SQFS="$img_debian_sqfs" \
    IMG_DEBIAN_ZSTD_SQFS="$img_debian_zstd_sqfs" IMG_LAYERED="$img_layered" \
    IMG_MPI="$img_mpi" IMG_MPI_SQFS="$img_mpi_sqfs" \
    IMG_MPICH="$img_mpich" IMG_MPICH_SQFS="$img_mpich_sqfs" \
    HUSK_TEST_CACHE="$CACHE" FAKE_NVIDIA="$fake_nvidia" FAKE_AMD="$fake_amd" \
    ${SLURM_CONF:+SLURM_CONF="$SLURM_CONF"} ${HUSK_SPANK:+HUSK_SPANK="$HUSK_SPANK"} \
    bats --tap ${HUSK_BATS_FILTER:+--filter "$HUSK_BATS_FILTER"} "$tmp/${bats_file##*/}" || rc=$?

# 6. cleanup (trap) and bats's status
cd /
exit "$rc"
