#!/bin/bash
# real-driver.sh -- husk's --gpu and --device against the node's NVIDIA
# driver: the check that needs a GPU machine. Carry the husk binary and
# the image that make-probe-image.sh made; nothing is built here.
#
# Usage:  real-driver.sh [--fake] HUSK IMAGE_DIR
#
# IMAGE_DIR is make-probe-image.sh's OUT (IMAGE_DIR.sqfs beside it). Run
# as root, it makes the user husk-gpu (useradd) and runs again as that
# user, since husk's users are not root; it also makes /dev/fuse 0666 (as
# common distributions ship it) for the SquashFS step, and says so. Each
# check prints "ok N - WHAT" or "not ok N - WHAT" and the output that
# failed it:
#   1. nvidia-smi -L inside (--gpu, directory image) lists every GPU of the
#      node (/proc/driver/nvidia/gpus)
#   2. cuda-probe inside: cuInit, every GPU, and on each a kernel that the
#      driver JIT-compiles from PTX (libnvidia-ptxjitcompiler) writing
#      device memory that is read back
#   3. the same from the SquashFS image (read-only: the mount-point layer)
#   4. CUDA_VISIBLE_DEVICES=0: one GPU inside, and only /dev/nvidia0 under
#      --dev=minimal
#   5. --device nvidia.com/gpu=all from husk cdi generate --gpu's spec
#   6. --device nvidia.com/gpu=all from nvidia-ctk cdi generate's spec (its
#      hooks, interpreted), where nvidia-ctk is installed
#   7. husk cdi list of the node's own specs (/etc/cdi, /var/run/cdi),
#      where it has some
# --fake: for husk's own test of this script, on the fake driver tree of
# test/fixtures/make-fake-gpu-tree.sh named by HUSK_HOST_ROOT: cuda-probe
# --info (the fake has no kernels), --dev=minimal throughout (the fake's
# nodes are not in the host's /dev), no nvidia-ctk.
# Exit status: 0 when every check passed, 1 when one failed, 2 on bad usage.
set -uo pipefail
PROG=real-driver.sh
fake=0
if [ "${1-}" = --fake ]; then fake=1; shift; fi
[ $# -eq 2 ] || { printf 'usage: %s [--fake] HUSK IMAGE_DIR\n' "$PROG" >&2; exit 2; }
husk=$(readlink -f -- "$1")
img=$(readlink -f -- "$2")
[ -x "$husk" ] || { printf '%s: %s is not executable\n' "$PROG" "$1" >&2; exit 2; }
[ -x "$img/usr/local/bin/cuda-probe" ] || { printf '%s: %s is not the probe image\n' "$PROG" "$2" >&2; exit 2; }

if [ "$(id -u)" -eq 0 ]; then
    user="husk-gpu"
    id -u "$user" >/dev/null 2>&1 || useradd --create-home --shell /bin/bash "$user" ||
        { printf '%s: cannot create the user %s\n' "$PROG" "$user" >&2; exit 1; }
    if [ -c /dev/fuse ] && [ "$(stat -c %a /dev/fuse)" != 666 ]; then
        echo "# /dev/fuse made 0666 (as common distributions ship it) for the SquashFS check"
        chmod 0666 /dev/fuse
    fi
    # the user must reach both files: copies in a folder of its own
    work=$(mktemp -d /tmp/husk-gpu.XXXXXX)
    chmod 755 -- "$work"
    install -m 0755 -- "$husk" "$work/husk"
    cp -a -- "$img" "$work/image"
    [ -f "$img.sqfs" ] && install -m 0644 -- "$img.sqfs" "$work/image.sqfs"
    install -m 0755 -- "$0" "$work/$PROG"
    args=()
    [ "$fake" = 1 ] && args=(--fake)
    setpriv --reuid="$user" --regid="$user" --init-groups \
        env -i HOME="/home/$user" USER="$user" PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin \
        ${HUSK_HOST_ROOT:+HUSK_HOST_ROOT="$HUSK_HOST_ROOT"} \
        "$work/$PROG" "${args[@]}" "$work/husk" "$work/image"
    rc=$?
    rm -rf --one-file-system -- "$work"
    exit "$rc"
fi

root=${HUSK_HOST_ROOT:-}
tmp=$(mktemp -d)
trap 'rm -rf -- "$tmp"' EXIT
probe=(/usr/local/bin/cuda-probe)
dev=()
if [ "$fake" = 1 ]; then
    probe+=(--info)
    dev=(--dev=minimal)
fi
gpus=$(find "$root/proc/driver/nvidia/gpus" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l)
echo "# husk: $("$husk" --version 2>&1 | head -1); driver: $(head -1 "$root/proc/driver/nvidia/version" 2>/dev/null)"
echo "# GPUs on the node: $gpus; user: $(id -un)"
if [ "$gpus" -lt 1 ]; then
    echo "Bail out! no NVIDIA GPU on this node ($root/proc/driver/nvidia/gpus)"
    exit 1
fi

n=0
failures=0
# check WHAT CONDITION_SCRIPT -- COMMAND...: runs COMMAND (its output in
# $out), then CONDITION_SCRIPT with bash.
check() {
    local what=$1 cond=$2
    shift 3
    n=$((n + 1))
    out=$("$@" 2>&1)
    local rc=$?
    if [ "$rc" -eq 0 ] && bash -c "$cond" _ "$out"; then
        echo "ok $n - $what"
    else
        echo "not ok $n - $what (exit $rc)"
        sed 's/^/#   /' <<<"$out"
        failures=$((failures + 1))
    fi
}
# skip WHY: a check that cannot run here
skip() {
    n=$((n + 1))
    echo "ok $n - # SKIP $1"
}
# conditions, on the output ($1)
lists_all="[ \"\$(grep -c '^GPU [0-9]*: ' <<<\"\$1\")\" = $gpus ]"
if [ "$fake" = 1 ]; then
    probes_all="grep -qx 'devices: $gpus' <<<\"\$1\""
    probes_one="grep -qx 'devices: 1' <<<\"\$1\""
else
    probes_all="grep -qx 'devices: $gpus' <<<\"\$1\" && [ \"\$(grep -c '^device [0-9]*: kernel ok\$' <<<\"\$1\")\" = $gpus ]"
    probes_one="grep -qx 'devices: 1' <<<\"\$1\" && grep -qx 'device 0: kernel ok' <<<\"\$1\""
fi

check "nvidia-smi -L lists the node's $gpus GPUs (directory image)" "$lists_all" -- \
    "$husk" run "${dev[@]}" --gpu "$img" -- nvidia-smi -L
check "cuda-probe on every GPU (directory image)" "$probes_all" -- \
    "$husk" run "${dev[@]}" --gpu "$img" -- "${probe[@]}"
if [ -f "$img.sqfs" ]; then
    check "cuda-probe on every GPU (SquashFS image, read-only)" "$probes_all" -- \
        "$husk" run "${dev[@]}" --gpu "$img.sqfs" -- "${probe[@]}"
else
    skip "no $img.sqfs"
fi
check "CUDA_VISIBLE_DEVICES=0: one GPU inside" "$probes_one" -- \
    env CUDA_VISIBLE_DEVICES=0 "$husk" run "${dev[@]}" --gpu "$img" -- "${probe[@]}"
check "CUDA_VISIBLE_DEVICES=0 --dev=minimal: only /dev/nvidia0" \
    "grep -qx nvidia0 <<<\"\$1\" && ! grep -q '^nvidia[1-9]' <<<\"\$1\" && grep -qx nvidiactl <<<\"\$1\"" -- \
    env CUDA_VISIBLE_DEVICES=0 "$husk" run --dev=minimal --gpu "$img" -- ls /dev

# husk cdi generate --gpu's spec, then --device from it
from_husk_spec() {
    mkdir -p "$tmp/husk-cdi" &&
        "$husk" cdi generate --gpu >"$tmp/husk-cdi/nvidia.yaml" &&
        HUSK_CDI_SPEC_DIRS="$tmp/husk-cdi" "$husk" run "${dev[@]}" --device nvidia.com/gpu=all \
            "$img" -- "${probe[@]}"
}
check "--device nvidia.com/gpu=all from husk cdi generate --gpu" "$probes_all" -- from_husk_spec
if [ "$fake" = 0 ] && command -v nvidia-ctk >/dev/null; then
    mkdir -p "$tmp/ctk"
    if nvidia-ctk cdi generate --output="$tmp/ctk/nvidia.yaml" >"$tmp/err" 2>&1; then
        check "--device nvidia.com/gpu=all from nvidia-ctk cdi generate ($(nvidia-ctk --version | head -1))" \
            "$probes_all" -- \
            env HUSK_CDI_SPEC_DIRS="$tmp/ctk" "$husk" run --device nvidia.com/gpu=all "$img" -- "${probe[@]}"
    else
        skip "nvidia-ctk cdi generate failed: $(tail -1 "$tmp/err")"
    fi
else
    skip "no nvidia-ctk"
fi
if [ "$fake" = 0 ] && ls /etc/cdi/*.* /var/run/cdi/*.* >/dev/null 2>&1; then
    check "husk cdi list reads the node's own specs" "[ -n \"\$1\" ]" -- "$husk" cdi list
else
    skip "no spec in /etc/cdi or /var/run/cdi"
fi

echo "1..$n"
if [ "$failures" -gt 0 ]; then
    echo "# $failures of $n failed"
    exit 1
fi
echo "# all $n passed"
