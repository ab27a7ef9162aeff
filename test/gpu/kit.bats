#!/usr/bin/env bats
# The GPU machine's check (real-driver.sh, README.md here), run on the fake
# NVIDIA driver tree as the unprivileged test user: the probe image builds
# without root, every check passes with --fake, and a failing check says so.

load helpers

setup_file() {
    : "${FAKE_NVIDIA:?}"
    "$BATS_TEST_DIRNAME/make-probe-image.sh" "$BATS_FILE_TMPDIR/probe" >/dev/null
}

@test "make-probe-image.sh: a directory and a SquashFS image, with an ld.so.cache, made without root" {
    [ -x "$BATS_FILE_TMPDIR/probe/usr/local/bin/cuda-probe" ]
    [ -s "$BATS_FILE_TMPDIR/probe/etc/ld.so.cache" ]
    [ -s "$BATS_FILE_TMPDIR/probe.sqfs" ]
    # no GPU: the image runs, the probe finds no libcuda.so.1
    run -1 husk run "$BATS_FILE_TMPDIR/probe.sqfs" -- /usr/local/bin/cuda-probe --info
    [[ "$output" == "cuda-probe: libcuda.so.1: cannot open shared object file"* ]]
    run -2 husk run "$BATS_FILE_TMPDIR/probe" -- /usr/local/bin/cuda-probe --bad
    assert_output_is "usage: cuda-probe [--info]"
}

@test "real-driver.sh --fake: every check passes on the fake driver" {
    HUSK_HOST_ROOT=$FAKE_NVIDIA run -0 "$BATS_TEST_DIRNAME/real-driver.sh" --fake "$HUSK" \
        "$BATS_FILE_TMPDIR/probe"
    echo "$output"
    assert_output_has "# GPUs on the node: 2; user: $(id -un)"
    assert_output_has "ok 1 - nvidia-smi -L lists the node's 2 GPUs (directory image)"
    assert_output_has "ok 3 - cuda-probe on every GPU (SquashFS image, read-only)"
    assert_output_has "ok 5 - CUDA_VISIBLE_DEVICES=0 --dev=minimal: only /dev/nvidia0"
    assert_output_has "ok 6 - --device nvidia.com/gpu=all from husk cdi generate --gpu"
    assert_output_has "1..8"
    assert_output_has "# all 8 passed"
}

@test "real-driver.sh: a check that fails is 'not ok' with its output, exit 1" {
    # Without --fake the kernel step runs, which the fake libcuda lacks, and
    # the host's /dev has none of the fake's nodes.
    HUSK_HOST_ROOT=$FAKE_NVIDIA run -1 "$BATS_TEST_DIRNAME/real-driver.sh" "$HUSK" \
        "$BATS_FILE_TMPDIR/probe"
    echo "$output"
    assert_output_has "not ok 1 - nvidia-smi -L lists the node's 2 GPUs (directory image) (exit 0)"
    assert_output_has "not ok 2 - cuda-probe on every GPU (directory image) (exit 1)"
    [[ "$output" == *"#   cuda-probe: cuCtxCreate_v2: "*"undefined symbol: cuCtxCreate_v2"* ]]
    [[ "$output" == *"# "*" of 8 failed"* ]]
    run -2 "$BATS_TEST_DIRNAME/real-driver.sh" "$HUSK"
}
