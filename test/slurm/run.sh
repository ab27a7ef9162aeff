#!/bin/bash
# run.sh -- run a Slurm test file (bats) against a real Slurm cluster of
# this machine, as the unprivileged test user.
#
#   test/slurm/run.sh HUSK SPANK_HUSK_SO FILE.bats
#
# As root: copies the plugin where slurmd and srun load it, starts a
# two-node cluster (munged, slurmctld and two slurmd -N on this machine,
# 4 CPUs each; cluster-up.sh) in its own folder and ports, with the plugin
# in its plugstack.conf, then runs FILE.bats through
# test/integration/run-as-user.sh (which makes the test user, the images
# and a clean environment) with SLURM_CONF and HUSK_SPANK passed in, and
# stops exactly what it started (cluster-down.sh), whatever happens.
set -Eeuo pipefail
exec </dev/null
PROG=run.sh
die() { printf '%s: error: %s\n' "$PROG" "$*" >&2; exit 2; }
[ $# -eq 3 ] || { printf 'usage: %s HUSK SPANK_HUSK_SO FILE.bats\n' "$PROG" >&2; exit 2; }
[ "$(id -u)" = 0 ] || die "must run as root (it starts slurmd and slurmctld)"
husk=$(realpath -e -- "$1") || die "husk not found: $1"
plugin=$(realpath -e -- "$2") || die "plugin not found: $2"
bats_file=$(realpath -e -- "$3") || die "test file not found: $3"
here=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
for c in munged slurmctld slurmd srun sbatch; do
    command -v "$c" >/dev/null || PATH=$PATH:/usr/sbin command -v "$c" >/dev/null ||
        die "missing $c (scripts/install-deps.sh installs Slurm and munge)"
done

dir=$(mktemp -d /tmp/husk-slurm-test.XXXXXX)
chmod 755 "$dir"
cleanup() {
    local rc=$?
    bash "$here/cluster-down.sh" -d "$dir/cluster" >/dev/null 2>&1 || true
    rm -rf --one-file-system -- "$dir"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# The plugin as an admin installs it: root's, readable by all. linger=1:
# an image server leaves a second after its last container, so that "nothing
# left" is seen soon.
install -m 0755 -- "$plugin" "$dir/spank_husk.so"
echo "required $dir/spank_husk.so linger=1" >"$dir/plugstack.conf"
# Ports of its own, apart from a cluster someone runs by hand (16817).
HUSK_SLURM_CPUS=4 HUSK_SLURM_PLUGSTACK="$dir/plugstack.conf" \
    bash "$here/cluster-up.sh" -d "$dir/cluster" -n 2 -p 17917 >/dev/null

SLURM_CONF=$dir/cluster/etc/slurm.conf HUSK_SPANK=$dir/spank_husk.so \
    bash "$here/../integration/run-as-user.sh" "$husk" "$bats_file"
