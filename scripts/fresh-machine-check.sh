#!/bin/bash
# fresh-machine-check.sh -- prove README's two commands on a fresh Debian 12.
#
#   sudo scripts/fresh-machine-check.sh [--keep]
#
# What a newcomer does, on a machine that has nothing of ours:
#   1. a throw-away Debian 12 root: debootstrap --variant=minbase bookworm
#      with git, ca-certificates and sudo (the pristine root is cached in
#      $FRESH_CACHE, default /var/cache/husk-fresh, keyed by this recipe;
#      each check works on a copy of it);
#   2. a user "newcomer" with sudo, and a clone of this repository's HEAD
#      (committed work only, as CI clones it) in /home/newcomer/husk;
#   3. README's commands of "On a fresh Debian 12 machine", exactly as
#      written there, run by newcomer in the clone;
#   4. the .debs (cpack -G DEB in the clone's build folder: husk and
#      husk-mpi): their control fields, then both installed with apt-get on
#      a second copy of the pristine root, where an unprivileged user runs
#      the installed husk.
# Each root is entered with pivot_root(2) in a private mount and PID
# namespace, not chroot(2): the kernel refuses unprivileged user namespaces
# to a chrooted process, and husk's tests need them. The host's network is
# shared (apt downloads from debootstrap's default mirror, or $MIRROR).
# Nothing is mounted on the host; the copies are removed (--keep keeps them).
#
# Prints one PASS or FAIL line per step with its duration and writes the
# whole output to the log it names. Exit 0 only when every step passes.
# Takes about 20 minutes on 2 cores (packages, two builds, test images).
set -Eeuo pipefail
exec </dev/null
umask 022
PROG=fresh-machine-check.sh
SUITE=bookworm
MIRROR=${MIRROR:-}
CACHE=${FRESH_CACHE:-/var/cache/husk-fresh}
INCLUDE=git,ca-certificates,sudo

die() { printf '%s: error: %s\n' "$PROG" "$*" >&2; exit 2; }
keep=0
case ${1-} in
    --keep) keep=1 ;;
    '') ;;
    *) die "usage: $PROG [--keep]" ;;
esac
[ "$(id -u)" = 0 ] || die "must run as root (debootstrap, mounts, pivot_root)"
for c in debootstrap unshare git sha256sum; do
    command -v "$c" >/dev/null || die "missing command: $c"
done
repo=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && git rev-parse --show-toplevel)
head=$(git -C "$repo" rev-parse HEAD)
if [ -n "$(git -C "$repo" status --porcelain --untracked-files=no)" ]; then
    printf '%s: note: uncommitted changes in %s are not checked (the clone has HEAD %s)\n' \
        "$PROG" "$repo" "${head:0:12}" >&2
fi

# --- 1. the pristine root, cached -------------------------------------------
key=$({ sed -n '/^SUITE=/,/^INCLUDE=/p' "${BASH_SOURCE[0]}"; echo "$SUITE $INCLUDE"; } \
      | sha256sum | cut -c1-12)
pristine=$CACHE/bookworm-$key
mkdir -p "$CACHE"
exec 9>"$CACHE/.lock"
flock 9
if [ ! -d "$pristine" ]; then
    part=$CACHE/.bookworm-$key.tmp.$$
    rm -rf --one-file-system -- "$CACHE"/.bookworm-*.tmp.*
    printf '%s: debootstrap --variant=minbase --include=%s %s (once; cached in %s)\n' \
        "$PROG" "$INCLUDE" "$SUITE" "$pristine"
    debootstrap --variant=minbase --include="$INCLUDE" "$SUITE" "$part" ${MIRROR:+"$MIRROR"} \
        >"$CACHE/debootstrap.log" 2>&1 || die "debootstrap failed; see $CACHE/debootstrap.log"
    rm -rf "$part"/var/cache/apt/archives/*.deb
    mv -T "$part" "$pristine"
fi
flock -u 9

work=$(mktemp -d /var/tmp/husk-fresh.XXXXXX)
log=$work/check.log
cleanup() {
    local rc=$?
    if [ "$keep" = 0 ]; then
        rm -rf --one-file-system -- "$work/root" "$work/root2"
        printf '%s: log kept in %s\n' "$PROG" "$log" >&2
    else
        printf '%s: kept %s\n' "$PROG" "$work" >&2
    fi
    exit "$rc"
}
trap cleanup EXIT

# enter ROOT CMD...: runs CMD with ROOT as its root, entered with
# pivot_root in a new mount and PID namespace (everything dies with CMD).
cat >"$work/enter.sh" <<'EOF'
set -Eeuo pipefail
root=$1
shift
mount --bind "$root" "$root"
mount -t proc proc "$root/proc"
mount --rbind /sys "$root/sys"
mount --rbind /dev "$root/dev"
mount -t tmpfs -o mode=0755 tmpfs "$root/run"
cp /etc/resolv.conf "$root/etc/resolv.conf"
cd "$root"
mkdir -p .oldroot
pivot_root . .oldroot
cd /
umount -l /.oldroot
rmdir /.oldroot
# Not exec: this bash stays the PID namespace's first process and reaps
# the orphans a real init would.
env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root \
    LANG=C.UTF-8 TERM=dumb "$@"
EOF
enter() {
    unshare --mount --propagation private --pid --fork --kill-child \
        bash "$work/enter.sh" "$@"
}

failed=0
# step NAME CMD...: runs CMD, output to the log, and says PASS or FAIL.
step() {
    local name=$1 t0=$SECONDS rc=0
    shift
    printf '\n===== %s\n' "$name" >>"$log"
    "$@" >>"$log" 2>&1 || rc=$?
    if [ "$rc" = 0 ]; then
        printf 'PASS  %-58s %5d s\n' "$name" $((SECONDS - t0))
    else
        printf 'FAIL  %-58s %5d s  (exit %d; the end of its output:)\n' "$name" $((SECONDS - t0)) "$rc"
        tail -n 25 "$log" | sed 's/^/      | /'
        failed=1
    fi
    return "$rc"
}

printf '%s: checking %s (HEAD %s) on a fresh Debian 12; log: %s\n' \
    "$PROG" "$repo" "${head:0:12}" "$log"
root=$work/root
step "copy the pristine Debian 12 root" cp -a "$pristine" "$root"

# --- 2. the newcomer and the clone ------------------------------------------
setup_newcomer() {
    enter "$root" bash -c '
        useradd -m -s /bin/bash newcomer
        echo "newcomer ALL=(ALL) NOPASSWD: ALL" >/etc/sudoers.d/newcomer
        chmod 0440 /etc/sudoers.d/newcomer'
    git clone --quiet --no-local "$repo" "$root/home/newcomer/husk"
    git -C "$root/home/newcomer/husk" checkout --quiet "$head"
    enter "$root" chown -R newcomer:newcomer /home/newcomer/husk
}
step "user newcomer with sudo; git clone of HEAD ${head:0:12}" setup_newcomer

# --- 3. README's commands, exactly as written -------------------------------
mapfile -t commands < <(awk '
    /^## On a fresh Debian 12 machine/ { on = 1; next }
    /^## / { on = 0 }
    on && /^```/ { block = !block; next }
    on && block && NF { print }' "$repo/README.md")
[ ${#commands[@]} -ge 2 ] || die "README.md has no commands under 'On a fresh Debian 12 machine'"
for cmd in "${commands[@]}"; do
    step "README: $cmd" enter "$root" runuser -l newcomer -c "cd ~/husk && timeout 3h $cmd" \
        || break
done

# --- 4. the .deb -------------------------------------------------------------
make_deb() {
    enter "$root" bash -c 'cd /home/newcomer/husk/build && cpack -G DEB -B /tmp/deb >/dev/null'
    cp "$root"/tmp/deb/husk_*.deb "$root"/tmp/deb/husk-mpi_*.deb "$work/"
    dpkg-deb -I "$work"/husk_*.deb
    dpkg-deb -c "$work"/husk_*.deb
    dpkg-deb -I "$work"/husk-mpi_*.deb
}
install_deb() {
    local root2=$work/root2 img
    cp -a "$pristine" "$root2"
    cp "$work"/husk_*.deb "$root2/tmp/husk.deb"
    cp "$work"/husk-mpi_*.deb "$root2/tmp/husk-mpi.deb"
    img=$(ls -d "$root"/var/cache/husk-test/busybox-*/ | head -n1)
    cp -a "$img" "$root2/tmp/busybox"
    enter "$root2" bash -c '
        set -ex
        apt-get update -qq
        apt-get install -y -qq /tmp/husk.deb /tmp/husk-mpi.deb
        husk-bcast --help
        useradd -m tester
        cd /tmp
        runuser -u tester -- husk --version
        test "$(runuser -u tester -- husk run /tmp/busybox -- cat /husk-image)" = busybox
        test -f /usr/share/man/man1/husk-run.1.gz || test -f /usr/share/man/man1/husk-run.1
        test -f /usr/share/bash-completion/completions/husk
        test -f /usr/share/doc/husk/examples/site-config/husk.json
        ! test -u /usr/bin/husk'
}
if [ "$failed" = 0 ]; then
    step "the .deb: dpkg-deb -I and -c" make_deb && \
        step "the .deb installed by apt-get on a fresh root; tester runs husk" install_deb || true
fi

if [ "$failed" = 0 ]; then
    printf '%s: PASS: README'"'"'s commands and the .deb work on a fresh Debian 12 (HEAD %s)\n' \
        "$PROG" "${head:0:12}"
else
    printf '%s: FAIL (HEAD %s); see %s\n' "$PROG" "${head:0:12}" "$log"
fi
exit "$failed"
