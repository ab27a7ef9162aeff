#!/bin/bash
# Keep an image as one SquashFS file and run it as an ordinary user.
#   examples/squashfs/run.sh IMAGE_DIR [WORKDIR]
# Packs IMAGE_DIR (an unpacked root file system) with mksquashfs into
# WORKDIR/image.sqfs (default: a temporary folder), then runs commands in
# it. HUSK names the husk binary (default: husk in PATH).
set -Eeuo pipefail
husk=${HUSK:-husk}
dir=${1:?usage: run.sh IMAGE_DIR [WORKDIR]}
work=${2:-$(mktemp -d)}

echo "== pack the image into one file (what sites keep on the parallel file system)"
mksquashfs "$dir" "$work/image.sqfs" -noappend -all-root -comp zstd -no-progress -quiet >/dev/null
ls -s --block-size=M "$work/image.sqfs" | cut -d' ' -f1

echo "== run from the file: no root, no fusermount, nothing in the host's mount table"
"$husk" run "$work/image.sqfs" -- cat /etc/debian_version

echo "== a background job keeps the image until it ends"
"$husk" run -b "$work:/mnt" "$work/image.sqfs" -- \
    sh -c '(sleep 1; wc -l < /etc/passwd > /mnt/later.txt) & echo main exits'
echo "background wrote: $(cat "$work/later.txt")"
