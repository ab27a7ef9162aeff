#!/bin/bash
# test.sh — the whole test suite, as CI runs it (.ci/run calls exactly this).
#   1. dependencies (scripts/install-deps.sh; a no-op when present)
#   2. formatting: clang-format on every C++ file
#   3. unit tests under AddressSanitizer + UndefinedBehaviorSanitizer (the
#      fuzz harnesses' seeds and regression corpus included), then each
#      libFuzzer harness for a bounded time (HUSK_FUZZ_SECONDS, default 60;
#      cdi_spec half of it)
#   4. release build: unit tests, then integration tests that run the real
#      husk binary as an unprivileged user on real images (busybox and
#      Debian bookworm minbase, built once and cached outside the clone in
#      /var/cache/husk-test, keyed by recipe)
# Run as root: the integration setup creates the test user and the images;
# every husk under test runs as that user.
set -Eeuo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc)

step() { printf '\n=== %s\n' "$*"; }

step "dependencies"
bash scripts/install-deps.sh

step "clang-format"
mapfile -t sources < <(git ls-files '*.cpp' '*.hpp')
clang-format --dry-run --Werror "${sources[@]}"
echo "clang-format: ${#sources[@]} files clean"

step "unit tests under ASan/UBSan"
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DHUSK_SANITIZE=ON >/dev/null
cmake --build build-asan -j"$jobs" --target husk_unit_tests
ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
    ctest --test-dir build-asan -L unit -j"$jobs" --output-on-failure

step "fuzzers, ${HUSK_FUZZ_SECONDS:-60} s each (test/fuzz, doc/fuzzing.md)"
bash test/fuzz/run.sh "${HUSK_FUZZ_SECONDS:-60}"

step "fixture images"
bash test/fixtures/make-images.sh >/dev/null

step "build, unit and integration tests"
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DHUSK_INTEGRATION=ON >/dev/null
cmake --build build -j"$jobs"
ctest --test-dir build -j"$jobs" --output-on-failure
