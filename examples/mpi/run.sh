#!/bin/bash
# The MPI example on one machine, with mpirun instead of Slurm.
#   examples/mpi/run.sh IMAGE.sqfs [NP]
# IMAGE.sqfs: a SquashFS image with Open MPI and /hello (the test image
# "mpi" of test/fixtures/make-images.sh). NP: ranks (default 4).
# HUSK and HUSK_BCAST name the programs (default: in PATH).
set -Eeuo pipefail
husk=${HUSK:-husk}
bcast=${HUSK_BCAST:-husk-bcast}
image=${1:?usage: run.sh IMAGE.sqfs [NP]}
np=${2:-4}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

echo "== stage the image: rank 0 reads it, each node's first rank writes it"
mpirun -np "$np" --oversubscribe "$bcast" "$image" "$work/app.sqfs"

echo "== run: the ranks of this node share one container"
mpirun -np "$np" --oversubscribe "$husk" run "$work/app.sqfs" -- \
    sh -c 'echo "ns $(readlink /proc/self/ns/pid)"; exec /hello'
