#!/bin/bash
# Quick start: run commands in a Debian image as an ordinary user.
#   examples/quickstart/run.sh IMAGE [SCRATCH]
# IMAGE: a directory image (e.g. the one `sudo scripts/quickstart.sh` built);
# SCRATCH: a writable directory standing in for /scratch/$USER (default: a
# temporary one). HUSK names the husk binary (default: husk in PATH).
set -Eeuo pipefail
husk=${HUSK:-husk}
image=${1:?usage: run.sh IMAGE [SCRATCH]}
scratch=${2:-$(mktemp -d)}

echo "== what the image is"
"$husk" run "$image" -- cat /etc/os-release

echo "== a job step on scratch data: bind, working directory, environment"
printf 'alpha\nbeta\ngamma\n' > "$scratch/input.txt"
cat > "$scratch/analysis.sh" <<'SCRIPT'
#!/bin/sh
# Runs inside the container: counts lines, reports its environment.
wc -l < input.txt > result.txt
echo "threads=$OMP_NUM_THREADS slurm_vars=$(env | grep -c '^SLURM_')" >> result.txt
SCRIPT
chmod +x "$scratch/analysis.sh"
SLURM_JOB_ID=42 SLURM_NTASKS=1 \
    "$husk" run -b "$scratch:/mnt" -c /mnt -e OMP_NUM_THREADS=4 --unset-env 'SLURM_*' \
    "$image" -- ./analysis.sh
cat "$scratch/result.txt"

echo "== try something without changing the image"
"$husk" run --overlay --fake-root "$image" -- sh -c 'id -u; touch /tried-it && ls /tried-it'
test ! -e "$image/tried-it" && echo "image unchanged"
