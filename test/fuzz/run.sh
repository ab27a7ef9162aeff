#!/bin/bash
# run.sh -- build the libFuzzer harnesses (clang, ASan, UBSan) and run each
# for a bounded time.
#
#   test/fuzz/run.sh [SECONDS] [NAME[:SECONDS]...]
#
# SECONDS: per harness (default 60); NAME:SECONDS gives one its own. NAME:
# tar_layer, image_json, squashfs, cdi_spec, site_config, registry_reply,
# ld_cache (default: tar_layer and image_json for SECONDS; cdi_spec, whose
# inputs are small text files, and squashfs, whose every input is a whole
# tree, for half of it; site_config, one small JSON file, registry_reply, a
# registry's small replies, and ld_cache, an image's linker cache, for a
# quarter). The working corpus grows in $HUSK_FUZZ_CORPUS/NAME (default
# /var/cache/husk-test/fuzz/NAME, outside the clone, kept between runs),
# started from test/fuzz/seeds/NAME and test/fuzz/corpus/NAME. A crash,
# leak, hang or sanitizer report fails the run and names the input it
# wrote; fix the bug, then copy that input into test/fuzz/corpus/NAME/
# (the normal suite replays it from then on). See doc/fuzzing.md.
set -Eeuo pipefail
cd "$(dirname "$0")/../.."
seconds=${1:-60}
shift || true
names=("$@")
[ ${#names[@]} -gt 0 ] || names=(tar_layer image_json "cdi_spec:$(((seconds + 1) / 2))"
    "squashfs:$(((seconds + 1) / 2))" "site_config:$(((seconds + 3) / 4))"
    "registry_reply:$(((seconds + 3) / 4))" "ld_cache:$(((seconds + 3) / 4))")
cache=${HUSK_FUZZ_CORPUS:-/var/cache/husk-test/fuzz}
artifacts=$(mktemp -d "${TMPDIR:-/tmp}/husk-fuzz-findings.XXXXXX")

CC=clang CXX=clang++ cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DHUSK_FUZZ=ON >/dev/null
targets=()
for entry in "${names[@]}"; do
    targets+=("fuzz_${entry%%:*}")
done
cmake --build build-fuzz -j"$(nproc)" --target "${targets[@]}"

failed=0
for entry in "${names[@]}"; do
    n=${entry%%:*}
    secs=$seconds
    [ "$entry" = "$n" ] || secs=${entry#*:}
    mkdir -p "$cache/$n"
    echo "fuzz: $n for $secs s (corpus $cache/$n)"
    if ! build-fuzz/test/fuzz_"$n" -max_total_time="$secs" -timeout=10 \
        -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$artifacts/$n-" \
        "$cache/$n" "test/fuzz/seeds/$n" "test/fuzz/corpus/$n" 2>"$artifacts/$n.log"; then
        failed=1
        tail -n 40 "$artifacts/$n.log" >&2
        echo "fuzz: $n FOUND A BUG; the input: $(find "$artifacts" -name "$n-*" | head -n1)" >&2
    else
        grep -E '^stat::number_of_executed_units|^stat::new_units_added' "$artifacts/$n.log" |
            sed "s/^/fuzz: $n: /"
    fi
done
if [ "$failed" = 0 ]; then
    rm -rf -- "$artifacts"
    echo "fuzz: nothing found"
fi
exit "$failed"
