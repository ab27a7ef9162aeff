#!/bin/bash
# install-deps.sh — install the Debian packages husk needs to build, test and
# benchmark. Idempotent: does nothing (and needs no network) when all are
# installed. Run as root on Debian 12 (bookworm).
set -Eeuo pipefail

PACKAGES=(
    # build
    build-essential cmake pkg-config clang-format
    libcli11-dev nlohmann-json3-dev libarchive-dev libsquashfuse-dev libfuse3-dev
    # static decompressors, for the statically linked SquashFS stack
    libzstd-dev liblz4-dev liblzo2-dev liblzma-dev zlib1g-dev nettle-dev
    googletest libgtest-dev
    # tests: fixture images, unprivileged runs, integration suite
    debootstrap busybox-static squashfs-tools util-linux bats python3
    podman  # builds the real layered test image (as root, chroot isolation)
    # benchmarks: the peers, measured in the same run
    hyperfine charliecloud bubblewrap jq
)

missing=()
for p in "${PACKAGES[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$p")
    fi
done
if [ ${#missing[@]} -eq 0 ]; then
    echo "install-deps: all ${#PACKAGES[@]} packages present"
    exit 0
fi
if [ "$(id -u)" != 0 ]; then
    echo "install-deps: error: missing packages (${missing[*]}); run as root" >&2
    exit 1
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install-deps: done"
