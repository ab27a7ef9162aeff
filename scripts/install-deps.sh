#!/bin/bash
# install-deps.sh — install every Debian package husk needs to build, test,
# document, package and benchmark. Idempotent: does nothing (and needs no
# network) when all are installed. Run as root on Debian 12 (bookworm).
#
#   install-deps.sh          install what is missing
#   install-deps.sh --list   print the package list, one per line, and exit
#
# The list is the contract of the README's two commands: the test
# packaging.deps maps every file the build and the tests use to its Debian
# package and fails when that package is not here (or Essential, or pulled
# in by one that is). Add a package here in the same commit that needs it.
set -Eeuo pipefail

PACKAGES=(
    # build
    build-essential cmake pkg-config clang-format
    lld  # links husk with its start-up function order (bin/husk.order)
    libcli11-dev nlohmann-json3-dev libarchive-dev libsquashfuse-dev libfuse3-dev
    # static decompressors and hashes, for the statically linked SquashFS
    # stack and libarchive's tar reader
    libzstd-dev liblz4-dev liblzo2-dev liblzma-dev libbz2-dev zlib1g-dev nettle-dev
    googletest libgtest-dev
    # the fuzz harnesses (test/fuzz): clang and its libFuzzer runtime
    clang libclang-rt-dev
    # LLVM's binutils, which CMake takes for a clang build where they are
    # installed (llvm-ar, llvm-ranlib: one fuzz build on every machine), and
    # llvm-symbolizer, which names the functions of a fuzzer's crash report
    llvm
    # man pages from doc/*.md at build time; man to check them; file for
    # cpack -G DEB (CPackDeb runs it to find what dpkg-shlibdeps must read)
    pandoc man-db file
    # tests: fixture images, unprivileged runs, integration suite
    debootstrap busybox-static squashfs-tools bats python3
    util-linux mount passwd procps libcap2-bin
    # compressors the tests pack tarballs with (tar -z, -J, --zstd, -j, lz4)
    gzip xz-utils zstd bzip2 lz4
    podman  # builds the real layered test image (as root, chroot isolation)
    # MPI: the host's mpirun and mpicc (the MPI tests, test/bench/mpi, husk-bcast)
    openmpi-bin libopenmpi-dev
    # --mpi=host: ELF dependencies (static libelf); a host MPICH for its tests
    libelf-dev libmpich12
    # CDI specs in YAML (nvidia-ctk's default format), linked statically
    libyaml-dev
    # the Slurm SPANK plugin (spank.h) and the tests' own Slurm cluster
    # (test/slurm: munged, slurmctld, slurmd on one machine; srun, sbatch)
    libslurm-dev slurmctld slurmd slurm-client munge
    # registries (husk pull): libcurl's header (the library is loaded at
    # run time); the tests' own registry, its pushes, htpasswd and TLS
    libcurl4-openssl-dev docker-registry skopeo apache2-utils openssl
    # benchmarks: the peers, measured in the same run
    hyperfine charliecloud bubblewrap jq
)

if [ "${1-}" = --list ]; then
    printf '%s\n' "${PACKAGES[@]}"
    exit 0
fi

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
