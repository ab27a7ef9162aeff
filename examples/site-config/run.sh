#!/bin/bash
# Try a site config without installing it.
#   examples/site-config/run.sh IMAGE
# IMAGE: a directory image with a /mnt folder (e.g. the Debian image of
# `sudo scripts/quickstart.sh`). HUSK names the husk binary (default: husk).
set -Eeuo pipefail
husk=${HUSK:-husk}
image=${1:?usage: run.sh IMAGE}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir "$work/scratch"
echo "results of last week" > "$work/scratch/data.txt"

echo "== a site config with a default bind"
cat > "$work/husk.json" <<CONF
{
  "binds": ["$work/scratch:/mnt:ro"],
  "storage": "$work/store-\${USER}"
}
CONF
cat "$work/husk.json"
export HUSK_CONFIG=$work/husk.json

echo "== every container gets it, with no -b"
"$husk" run "$image" -- cat /mnt/data.txt

echo "== husk check says where each setting came from"
"$husk" check | sed -n '/^settings/,$p'

echo "== a mistake is one line, and nothing runs"
echo '{"binds": ["scratch"]}' > "$work/husk.json"
if "$husk" run "$image" -- echo "this does not run"; then
    exit 1
else
    echo "exit status $?"
fi
