#!/usr/bin/env bats
# husk check, husk version and the help texts.

bats_require_minimum_version 1.5.0
load helpers

@test "husk check exits 0 and says the user namespace works" {
    run -0 husk check
    if ! grep -Eq '^ +ok +user namespace' <<<"$output"; then
        printf 'no "ok ... user namespace" line in:\n%s\n' "$output" >&2
        return 1
    fi
    assert_output_has "husk can run containers on this host"
    [[ $output != *FAIL* ]]
}

@test "husk check reports every step it needs for husk run as ok" {
    run -0 husk check
    local step
    for step in "user.max_user_namespaces" "mount namespace" "settings" \
        "tmpfs" "recursive bind mount" "read-only bind" "detached bind" "pivot_root"; do
        if ! grep -Eq "^ +ok +$step" <<<"$output"; then
            printf 'step "%s" is not ok in:\n%s\n' "$step" "$output" >&2
            return 1
        fi
    done
}

@test "husk check: overlayfs works wherever husk run --overlay works" {
    run husk run --overlay "$IMG_BUSYBOX" -- true
    local overlay_runs=$status
    run -0 husk check
    if [ "$overlay_runs" -eq 0 ]; then
        grep -Eq '^ +ok +overlayfs' <<<"$output"
    else
        grep -Eq '^ +no +overlayfs' <<<"$output"
    fi
}

@test "husk check leaves nothing mounted" {
    run -0 husk check
    if grep -E ' /tmp/(new|up|work|old|fuse) ' /proc/self/mountinfo; then
        echo "husk check left a mount" >&2
        return 1
    fi
}

@test "husk --version and husk version print the version and what this build supports" {
    run -0 husk --version
    [[ ${lines[0]} =~ ^husk\ [0-9]+\.[0-9]+\.[0-9]+$ ]]
    [[ $output == *$'\nimages:    directory, SquashFS file, tar archive, docker-archive, OCI image layout'* ]]
    [[ $output =~ $'\n'tar:\ +none,\ gzip,\ xz,\ zstd,\ bzip2,\ lz4,\ lzma\ \(libarchive\ [0-9.]+\ .*libzstd ]]
    [[ $output =~ $'\n'SquashFS:\ +[a-z0-9,\ ]*zstd.*libfuse\ 3\.[0-9]+ ]]
    [[ $output == *$'\noverlay:   --overlay'* ]]
    local v=$output
    run -0 husk version
    assert_output_is "$v"
}

@test "husk run --help mentions --bind and --overlay" {
    run -0 husk run --help
    [[ $output == *--bind* ]]
    [[ $output == *--overlay* ]]
    [[ $output == *--env-file* ]]
    [[ $output == *--fake-root* ]]
}

@test "husk --help lists the subcommands and the exit statuses" {
    run -0 husk --help
    [[ $output == *run* ]]
    [[ $output == *check* ]]
    [[ $output == *version* ]]
    [[ $output == *125* ]]
}

@test "husk without a subcommand gives 125 and one error line" {
    run -125 husk
    assert_husk_error
    [ "${#lines[@]}" -eq 1 ]
}

@test "husk check: FUSE is ok where this user can open /dev/fuse" {
    [ -c /dev/fuse ] && [ -r /dev/fuse ] && [ -w /dev/fuse ] || skip "/dev/fuse is not usable here"
    grep -qw fuse /proc/filesystems || skip "the kernel has no fuse filesystem"
    run -0 husk check
    grep -E '^ +(ok|no) +FUSE' <<<"$output"
    grep -Eq '^ +ok +FUSE' <<<"$output"
}
