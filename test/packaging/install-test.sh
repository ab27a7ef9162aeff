#!/bin/bash
# install-test.sh BUILD_DIR -- what an admin installs, checked as a user would
# use it:
#   1. cmake --install into a DESTDIR with prefix /usr: the layout admins
#      expect (bin/husk, one man page per doc page, bash completion, the
#      examples with the example site config, the design notes);
#   2. man -l renders every page without a groff warning (but the layout
#      hints "cannot adjust line" of narrow table cells and "table text
#      block will not fit on one page" of long tables), and shows its NAME;
#   3. cpack -G DEB: husk and husk-mpi hold exactly the installed files;
#      husk depends on libc6 alone (everything else is static; libcurl is
#      loaded when a pull begins) and recommends squashfs-tools and libcurl4, husk-mpi (husk-bcast) on husk and Open MPI;
#   4. as the unprivileged user husk-test: the installed husk runs the
#      busybox test image and imports it; the installed bash completion,
#      sourced in a non-interactive bash, completes commands, each command's
#      options exactly as its --help lists them, --format values, and image
#      names from the store.
# Runs as root (the user, the fixture image, setpriv); prints what it checked.
set -Eeuo pipefail
exec </dev/null
PROG=install-test.sh
die() { printf '%s: FAIL: %s\n' "$PROG" "$*" >&2; exit 1; }
ok() { printf '%s: ok: %s\n' "$PROG" "$*"; }

[ $# -eq 1 ] || die "usage: $PROG BUILD_DIR"
build=$(realpath -e -- "$1")
src=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/../.." && pwd)
[ "$(id -u)" = 0 ] || die "must run as root (it runs husk as the user husk-test)"
user=husk-test
id -u "$user" >/dev/null 2>&1 || useradd -m -s /bin/bash "$user"

tmp=$(mktemp -d /tmp/husk-install.XXXXXX)
trap 'rm -rf --one-file-system -- "$tmp"' EXIT
chmod 755 "$tmp"
root=$tmp/root

# --- 1. the layout ---------------------------------------------------------
DESTDIR=$root cmake --install "$build" --prefix /usr >/dev/null
[ -x "$root/usr/bin/husk" ] && [ ! -u "$root/usr/bin/husk" ] || die "usr/bin/husk missing or setuid"
expected=(usr/bin/husk usr/bin/husk-bcast usr/share/bash-completion/completions/husk
          usr/share/doc/husk/README.md usr/share/doc/husk/design.md
          usr/share/doc/husk/examples/site-config/husk.json
          usr/share/doc/husk/examples/quickstart/run.sh)
pages=()
for md in "$src"/doc/*.md; do
    if [[ $(head -n1 "$md") =~ ^#\ ([a-z][a-z0-9._-]*)\(([1-8])\)$ ]]; then
        pages+=("usr/share/man/man${BASH_REMATCH[2]}/${BASH_REMATCH[1]}.${BASH_REMATCH[2]}")
    fi
done
[ ${#pages[@]} -ge 10 ] || die "only ${#pages[@]} man pages found in doc/"
for f in "${expected[@]}" "${pages[@]}"; do
    [ -f "$root/$f" ] || die "the install lacks $f"
done
[ -x "$root/usr/share/doc/husk/examples/quickstart/run.sh" ] || die "example scripts lost their x bit"
ok "install layout: bin/husk, ${#pages[@]} man pages, completion, examples, site config example"

# --- 2. man pages ------------------------------------------------------------
for f in "${pages[@]}"; do
    name=${f##*/}
    name=${name%.*}
    out=$(LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -l "$root/$f" 2>"$tmp/man.err") \
        || die "man -l $f failed: $(cat "$tmp/man.err")"
    if grep -v -e 'cannot adjust line' -e 'will not fit on one page' "$tmp/man.err" | grep -q .; then
        die "man -l $f warns: $(cat "$tmp/man.err")"
    fi
    [[ $out == *NAME*"$name"* ]] || die "man -l $f shows no NAME section naming $name"
done
ok "man -l renders all ${#pages[@]} pages"

# --- 3. the .debs ------------------------------------------------------------
(cd "$build" && cpack -G DEB -B "$tmp/deb" >/dev/null) || die "cpack -G DEB failed"
deb=$(ls "$tmp"/deb/husk_*.deb)
deb_mpi=$(ls "$tmp"/deb/husk-mpi_*.deb)
# husk-slurm (the SPANK plugin) where the build had Slurm's header
deb_slurm=$(ls "$tmp"/deb/husk-slurm_*.deb 2>/dev/null || true)
for d in "$deb" "$deb_mpi" $deb_slurm; do
    dpkg-deb -c "$d" | awk '$1 !~ /^d/ { sub(/^\./, "", $6); print $6 }'
done | sort >"$tmp/deb.list"
(cd "$root" && find . ! -type d | sed 's/^\.//' | sort) >"$tmp/install.list"
diff -u "$tmp/install.list" "$tmp/deb.list" || die "the .debs' files differ from the install"
grep -q '^/usr/bin/husk-bcast$' <(dpkg-deb -c "$deb_mpi" | awk '{ sub(/^\./, "", $6); print $6 }') || die "husk-bcast is not in husk-mpi"
depends=$(dpkg-deb -f "$deb" Depends)
[[ $depends =~ ^libc6\ \(\>=\ [0-9.]+\)$ ]] || die "husk depends on '$depends', expected libc6 alone"
[ "$(dpkg-deb -f "$deb" Recommends)" = "squashfs-tools, libcurl4" ] ||
    die "husk recommends '$(dpkg-deb -f "$deb" Recommends)', not squashfs-tools and libcurl4"
mpi_depends=$(dpkg-deb -f "$deb_mpi" Depends)
[[ $mpi_depends == *"husk (= "* && $mpi_depends == *libopenmpi3* ]] \
    || die "husk-mpi depends on '$mpi_depends', expected husk and libopenmpi3"
if [ -n "$deb_slurm" ]; then
    [[ $(dpkg-deb -c "$deb_slurm") == *" ./usr/lib/x86_64-linux-gnu/slurm-wlm/spank_husk.so"* ]] ||
        die "spank_husk.so is not in husk-slurm where Debian's Slurm loads plugins"
    [[ $(dpkg-deb -f "$deb_slurm" Depends) == *"husk (= "*slurm-client* ]] ||
        die "husk-slurm depends on '$(dpkg-deb -f "$deb_slurm" Depends)', expected husk and slurm-client"
fi
ok "${deb##*/} and ${deb_mpi##*/}${deb_slurm:+ and ${deb_slurm##*/}}: $(wc -l <"$tmp/deb.list") files as installed;" \
    "Depends: $depends; husk-mpi: $mpi_depends"

# --- 4. the installed husk and its completion, as the user -------------------
img=$(bash "$src/test/fixtures/make-images.sh" busybox 2>/dev/null | awk '$1 == "busybox" {print $2}')
[ -d "$img" ] || die "no busybox test image"
tar -C "$img" -czf "$tmp/bb.tgz" .
chmod 644 "$tmp/bb.tgz"
mkdir -m 0700 "$tmp/store"
chown "$user:" "$tmp/store"
# an empty site config of its own: whatever the host has in /etc/husk does not count
echo '{}' >"$tmp/husk.json"
chmod 644 "$tmp/husk.json"
as_user() {
    setpriv --reuid="$user" --regid="$user" --init-groups \
        env -i HOME="$(getent passwd "$user" | cut -d: -f6)" USER="$user" \
        PATH="$root/usr/bin:/usr/bin:/bin" HUSK_STORAGE="$tmp/store" HUSK_CONFIG="$tmp/husk.json" \
        "$@"
}
got=$(cd /tmp && as_user husk run "$img" -- cat /husk-image) || die "the installed husk cannot run $img"
[ "$got" = busybox ] || die "the installed husk ran, but printed '$got'"
as_user husk import "$tmp/bb.tgz" bb-installed >/dev/null || die "the installed husk cannot import"
ok "the installed husk runs and imports the busybox image as $user"

# complete WORDS...: what the installed completion offers for the last word
cat >"$tmp/complete.bash" <<'EOF'
source "$COMPLETION"
complete_words() {
    COMP_WORDS=("$@")
    COMP_CWORD=$(($# - 1))
    COMP_LINE="$*"
    COMP_POINT=${#COMP_LINE}
    COMPREPLY=()
    _husk
    printf '%s\n' "${COMPREPLY[@]}" | sort -u
}
complete_words "$@"
EOF
chmod 644 "$tmp/complete.bash"
complete() {
    as_user env COMPLETION="$root/usr/share/bash-completion/completions/husk" \
        bash "$tmp/complete.bash" "$@"
}
expect() { # expect WANT WORDS...: the completion of WORDS is exactly WANT
    local want=$1 got
    shift
    got=$(complete "$@" | tr '\n' ' ' | sed 's/ $//')
    [ "$got" = "$want" ] || die "completing '$*' gave '$got', expected '$want'"
}
expect run husk ru
expect "images import inspect" husk i
expect "dir squashfs" husk import --format ''
expect "dir squashfs tar" husk convert --format ''
expect "generate list" husk cdi ''
expect "host minimal" husk run --dev ''
expect bb-installed husk rm bb
complete husk run bb | grep -qx bb-installed || die "husk run bb does not complete the stored image"
complete husk -v run --overlay b | grep -qx bb-installed || die "husk -v run --overlay b does not complete the stored image"
# each command's options, exactly as its --help lists them
for cmd in run check version import convert images rm inspect cdi; do
    want=$(as_user husk "$cmd" --help | awk '/^Options:/ { on = 1; next } /^[A-Z]/ { on = 0 }
        on && /^  -/ { n = split($1, a, ","); for (i = 1; i <= n; i++) print a[i] }' | sort -u)
    got=$(complete husk "$cmd" -)
    [ "$got" = "$want" ] || die "completing 'husk $cmd -' gave $(echo $got), --help lists $(echo $want)"
done
want=$(as_user husk --help | awk '/^Options:/ { on = 1; next } /^[A-Z]/ { on = 0 }
    on && /^  -/ { n = split($1, a, ","); for (i = 1; i <= n; i++) print a[i] }' | sort -u)
[ "$(complete husk -)" = "$want" ] || die "completing 'husk -' differs from husk --help"
ok "bash completion: commands, every command's options as --help lists them, --format, stored names"
