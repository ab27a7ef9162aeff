#!/usr/bin/env bash
# link-order.sh — write bin/husk.order, the functions a husk start runs, for
# ld.lld's --symbol-ordering-file (see HUSK_LINK_ORDER in CMakeLists.txt).
#
#   scripts/link-order.sh [--husk PATH] [--runs N] [--out FILE]
#
#   --husk PATH  husk binary to sample (default: build/husk)
#   --runs N     starts sampled per kind of start (default 200)
#   --out FILE   where to write the list (default: bin/husk.order)
#
# Run as root (perf samples a command that runs as the user husk-bench,
# created if missing). It samples, with perf's cpu-clock at 40 kHz, the
# starts that matter: `husk run` on the Debian fixture image as a directory
# and as SquashFS (test/fixtures/make-images.sh), `husk run --gpu` and
# `--device` on the fake NVIDIA tree (test/fixtures/make-fake-gpu-tree.sh),
# and `husk --version`, each kind on its own. Every function of the husk
# binary that a sample hit is written, by its symbol name, one per line, in
# groups: first those of every start (static initializers, --version, a
# directory image), then those --gpu and --device add, then SquashFS's;
# sorted inside a group. The linker places them in that order, so a start
# faults in the 64 KiB windows of its own groups only.
#
# Rerun it when a change moves a start's code (a new module on the run path,
# a renamed function there): a name the binary lacks is skipped at link
# time and only costs its page fault again, so a stale list is slower, not
# wrong. test/bench/startup shows the effect.
#
# Exit status: 0 when the list was written, 1 on a failure, 2 on a usage error.
set -Eeuo pipefail

readonly BENCH_USER=husk-bench
readonly SAFE_PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin

die() { printf 'link-order: %s\n' "$*" >&2; exit 1; }
log() { printf 'link-order: %s\n' "$*" >&2; }
usage() { sed -n '4,9p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }

# The constructors every start runs (.init_array: the C++ runtime's and each
# translation unit's static initialisers, libfuse's, nettle's): some are too
# short for a sample to land in.
init_functions() {
    python3 - "$1" <<'PY'
import struct, subprocess, sys
binary = sys.argv[1]
names = {}
for line in subprocess.run(["nm", "--defined-only", binary], capture_output=True,
                           text=True, check=True).stdout.splitlines():
    parts = line.split()
    if len(parts) == 3 and parts[1] in "tT":
        names.setdefault(int(parts[0], 16), parts[2])
data = subprocess.run(["objcopy", "-O", "binary", "--only-section=.init_array", binary,
                       "/dev/stdout"], capture_output=True, check=True).stdout
for (address,) in struct.iter_unpack("<Q", data[: len(data) // 8 * 8]):
    if address in names:
        print(names[address])
PY
}

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
husk="" runs=200 out=""
while (($#)); do
    case $1 in
        --husk) husk=${2:?--husk needs a path}; shift 2 ;;
        --runs) runs=${2:?--runs needs a number}; shift 2 ;;
        --out) out=${2:?--out needs a file}; shift 2 ;;
        -h|--help) usage; exit 0 ;;
        *) usage >&2; exit 2 ;;
    esac
done
[[ $runs =~ ^[1-9][0-9]*$ ]] || { echo "link-order: --runs must be a positive integer" >&2; exit 2; }
[[ $(id -u) == 0 ]] || die "run as root (perf samples a start run as $BENCH_USER)"
for tool in perf setpriv useradd python3 nm objcopy; do
    command -v "$tool" >/dev/null 2>&1 || die "$tool not found (perf: Debian package linux-perf)"
done
husk=$(readlink -f "${husk:-$repo/build/husk}")
[[ -x $husk ]] || die "husk binary not found at $husk (build it, or pass --husk PATH)"
out=${out:-$repo/bin/husk.order}
dir=$("$repo/test/fixtures/make-images.sh" --print-path debian) \
    || die "the debian fixture image is not built: test/fixtures/make-images.sh debian"
sqfs=$dir.sqfs
[[ -f $sqfs ]] || die "$sqfs is not built: test/fixtures/make-images.sh debian"
id "$BENCH_USER" >/dev/null 2>&1 || useradd -m "$BENCH_USER"

work=$(mktemp -d "${TMPDIR:-/tmp}/husk-order.XXXXXX")
# shellcheck disable=SC2064  # expand $work now
trap "rm -rf -- '$work'" EXIT
chmod 755 "$work"
install -m 755 "$husk" "$work/husk"
"$repo/test/fixtures/make-fake-gpu-tree.sh" "$work/fake" >/dev/null || die "cannot make the fake GPU tree"
install -d -m 755 "$work/cdi"
install -m 666 /dev/null "$work/starts.err"
HUSK_HOST_ROOT=$work/fake "$work/husk" cdi generate --gpu >"$work/cdi/nvidia.yaml" \
    || die "husk cdi generate --gpu failed"
# Each kind of start, sampled on its own ($runs times; the warnings, that
# the fake tree's device nodes are not in /dev, go to a file).
kinds=(version dir gpu device sqfs)
declare -A start=(
    [version]="$work/husk --version"
    [dir]="$work/husk run $dir -- /bin/true"
    [gpu]="$work/husk run --gpu $dir -- /bin/true"
    [device]="$work/husk run --device nvidia.com/gpu=0 $dir -- /bin/true"
    [sqfs]="$work/husk run $sqfs -- /bin/true"
)
home=$(getent passwd "$BENCH_USER" | cut -d: -f6)
for kind in "${kinds[@]}"; do
    cat >"$work/starts-$kind.sh" <<EOF
#!/bin/bash
exec 2>>$work/starts.err
export HUSK_HOST_ROOT=$work/fake HUSK_CDI_SPEC_DIRS=$work/cdi
for ((i = 0; i < $runs; i++)); do
    ${start[$kind]} >/dev/null || exit 1
done
EOF
    chmod 755 "$work/starts-$kind.sh"
    log "sampling $runs starts of kind $kind as $BENCH_USER"
    (cd / && perf record -q -e cpu-clock -F 40000 -o "$work/perf-$kind.data" -- \
        setpriv --reuid "$BENCH_USER" --regid "$BENCH_USER" --init-groups \
        env -i HOME="$home" USER="$BENCH_USER" PATH="$SAFE_PATH" "$work/starts-$kind.sh") \
        || { tail -n 5 "$work/starts.err" >&2; die "a sampled start failed (its last words are above)"; }
    # Lines "IP SYMBOL (DSO)"; a symbol name (not demangled) has no blank.
    perf script -i "$work/perf-$kind.data" --no-demangle -F ip,sym,dso 2>/dev/null |
        awk -v bin="($work/husk)" 'NF == 3 && $3 == bin && $2 != "[unknown]" { print $2 }' |
        LC_ALL=C sort -u >"$work/symbols-$kind"
done
# Groups, each sorted: what every start runs (the static initializers,
# --version's and a directory start's), then what --gpu and --device add,
# then SquashFS's. A start then faults in the 64 KiB windows of its own
# groups only, not windows it shares with code it never runs.
init_functions "$work/husk" | LC_ALL=C sort -u >"$work/symbols-init"
: >"$work/placed"
group() {
    LC_ALL=C sort -u "$@" | LC_ALL=C comm -23 - "$work/placed" >"$work/group"
    cat "$work/group"
    LC_ALL=C sort -u "$work/placed" "$work/group" -o "$work/placed"
}
# A function that the SquashFS starts and the GPU starts were both seen
# running, but the directory start was not (a sample misses most short
# functions), is on every start's path all the same.
LC_ALL=C sort -u "$work/symbols-gpu" "$work/symbols-device" |
    LC_ALL=C comm -12 - "$work/symbols-sqfs" >"$work/symbols-shared"
{
    group "$work/symbols-init" "$work/symbols-version" "$work/symbols-dir" "$work/symbols-shared"
    group "$work/symbols-gpu" "$work/symbols-device"
    group "$work/symbols-sqfs"
} >"$work/symbols"
n=$(wc -l <"$work/symbols")
((n > 100)) || die "only $n functions sampled: is perf allowed to sample here?"
{
    printf '# The functions a husk start runs, for ld.lld --symbol-ordering-file:\n'
    printf '# written by scripts/link-order.sh (do not edit by hand).\n'
    cat "$work/symbols"
} >"$out.tmp"
mv -f "$out.tmp" "$out"
log "wrote $n functions to $out"
