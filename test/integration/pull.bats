#!/usr/bin/env bats
# shellcheck disable=SC2030,SC2031,SC2153  # per-test exports; helpers.bash sets STATUS
# husk pull and husk run docker:// against a local registry (Debian's
# docker-registry, started by test/registry/registry.sh as this user, on
# 127.0.0.1 only): tags and digests, Docker and OCI manifests, a
# multi-platform index, squashfs, basic and bearer-token auth, TLS with a
# containers-certs.d CA, a corrupted blob, a connection cut mid-blob, 16
# concurrent runs, --json, malformed references.
#
# The registry tools (test/registry: registry.sh, token-server.py,
# cut-proxy.py, make-layout.py) are looked for in $HUSK_REGISTRY_TOOLS, then
# $BATS_TEST_DIRNAME/registry (where run-as-user.sh copies them), then
# $BATS_TEST_DIRNAME/../registry (running from the source tree).
#
# Images in the registry (pushed once per file by setup_file into a seed
# registry whose storage every test hard-links into its own registry):
#   husk/layered:docker  $IMG_LAYERED/docker.tar, Docker schema 2 manifest
#   husk/layered:oci     $IMG_LAYERED/oci.tar, OCI manifest (same layers)
#   husk/small:latest    make-layout.py's image for this machine: busybox,
#                        4 MiB of data at /husk-data/blob, /husk-platform
#   husk/multi:latest    an OCI index: linux/amd64, linux/arm64, linux/arm/v7,
#                        each with /husk-platform naming its platform

bats_require_minimum_version 1.5.0
load helpers

REGTOOLS=${HUSK_REGISTRY_TOOLS:-}
for d in "$REGTOOLS" "$BATS_TEST_DIRNAME/registry" "$BATS_TEST_DIRNAME/../registry" "$BATS_TEST_DIRNAME"; do
    if [ -n "$d" ] && [ -f "$d/registry.sh" ] && [ -f "$d/make-layout.py" ]; then
        REGTOOLS=$d
        break
    fi
done

registry() { bash "$REGTOOLS/registry.sh" "$@"; }

SEED_DIR() { echo "$BATS_FILE_TMPDIR/seed"; }

# This machine's platform as husk names it by default.
host_platform() {
    case $(uname -m) in
        x86_64) echo linux/amd64 ;;
        aarch64) echo linux/arm64 ;;
        *) echo "linux/$(uname -m)" ;;
    esac
}

setup_file() {
    if [ ! -f "$REGTOOLS/registry.sh" ]; then
        echo "the registry tools (test/registry) are not beside $BATS_TEST_FILENAME;" \
            "set HUSK_REGISTRY_TOOLS" >&2
        return 1
    fi
    for c in docker-registry skopeo htpasswd openssl jq python3; do
        command -v "$c" >/dev/null || { echo "missing command: $c" >&2; return 1; }
    done
    [ -f "$IMG_LAYERED/flat.tar" ] && [ -f "$IMG_LAYERED/docker.tar" ] && [ -f "$IMG_LAYERED/oci.tar" ]
    local f=$BATS_FILE_TMPDIR seed
    seed=$(SEED_DIR)
    # make-layout.py prints "small DIGEST", "multi DIGEST", "PLATFORM DIGEST",
    # "layer:rootfs DIGEST", "layer:data DIGEST", "marker:PLATFORM DIGEST"
    python3 "$REGTOOLS/make-layout.py" "$IMG_BUSYBOX/" "$f/layout" >"$f/layout.digests"
    registry start "$seed" >/dev/null
    registry push "$seed" "docker-archive:$IMG_LAYERED/docker.tar" husk/layered:docker >"$f/digest.docker"
    registry push "$seed" "oci-archive:$IMG_LAYERED/oci.tar" husk/layered:oci --oci >"$f/digest.oci"
    registry push "$seed" "oci:$f/layout:small" husk/small:latest >"$f/digest.small"
    registry push "$seed" "oci:$f/layout:multi" husk/multi:latest --all >"$f/digest.multi"
    registry stop "$seed"
    # the expected trees: podman export's, and the data file's sum
    mkdir "$f/flat"
    tar -xf "$IMG_LAYERED/flat.tar" -C "$f/flat" --no-same-owner --same-permissions \
        --exclude='./dev/*' --exclude='dev/*' 2>/dev/null || true
    python3 "$BATS_TEST_DIRNAME/tree_listing.py" "$f/flat" .husk dev >"$f/flat.list"
    rm -rf "$f/flat"
    local data
    data=$(layout_digest layer:data)
    tar -xzOf "$f/layout/blobs/sha256/${data#sha256:}" husk-data/blob | sha256sum | cut -d' ' -f1 >"$f/data.sum"
}

teardown_file() {
    registry stop "$(SEED_DIR)" || true
}

setup() {
    export HUSK_STORAGE=$BATS_TEST_TMPDIR/storage
    mkdir -m 0700 "$HUSK_STORAGE"
    # a HOME of this test's own: the containers-certs.d CA and the auth files
    # it writes are seen by this test alone
    export HOME=$BATS_TEST_TMPDIR/home
    mkdir -m 0700 "$HOME"
    unset REGISTRY_AUTH_FILE XDG_RUNTIME_DIR DOCKER_CONFIG XDG_CONFIG_HOME \
        http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY
    REG=$BATS_TEST_TMPDIR/registry
}

teardown() {
    registry stop "$REG" || true
    kill_bg
}

# start_registry [registry.sh start options]: this test's registry, with
# the seed's images; sets PORT and R (127.0.0.1:PORT).
start_registry() {
    PORT=$(registry start "$REG" --seed "$(SEED_DIR)" "$@")
    R=127.0.0.1:$PORT
}

# layout_digest KEY: the digest make-layout.py printed for KEY (small, multi,
# linux/arm64, layer:rootfs, marker:linux/amd64, ...).
layout_digest() {
    awk -v k="$1" '$1 == k { print $2 }' "$BATS_FILE_TMPDIR/layout.digests"
}

# small_blobs: the config and layer digests of husk/small, one a line.
small_blobs() {
    local m hex
    m=$(layout_digest small)
    hex=${m#sha256:}
    jq -r '.config.digest, .layers[].digest' "$BATS_FILE_TMPDIR/layout/blobs/sha256/$hex"
}

# run_ok CMD...: `run --separate-stderr CMD`, which must exit 0; else its
# status, stdout and stderr are shown.
run_ok() {
    run --separate-stderr "$@"
    if [ "$status" -ne 0 ]; then
        printf 'exit status %s of: %s\n--- stdout:\n%s\n--- stderr:\n%s\n' \
            "$status" "$*" "$output" "$stderr" >&2
        return 1
    fi
}

# run_125 CMD...: `run CMD` (stdout and stderr together), which must exit
# 125; else its status and output are shown.
run_125() {
    run "$@"
    if [ "$status" -ne 125 ]; then
        printf 'expected exit status 125, got %s, of: %s\n--- output:\n%s\n' "$status" "$*" "$output" >&2
        return 1
    fi
}

# assert_one_line: $output is exactly one line.
assert_one_line() {
    if [ "${#lines[@]}" -ne 1 ]; then
        printf 'expected one line, got %d:\n%s\n' "${#lines[@]}" "$output" >&2
        return 1
    fi
}

# assert_not_stored NAME: the store has no image NAME.
assert_not_stored() {
    local names
    if [ -e "$HUSK_STORAGE/images/$1" ] || [ -e "$HUSK_STORAGE/images/$1.sqfs" ]; then
        echo "the store has $1:" >&2
        ls -la "$HUSK_STORAGE/images" >&2
        return 1
    fi
    names=$(husk images --json | jq -r '.[].name') || return 1
    if grep -qxF -- "$1" <<<"$names"; then
        printf 'husk images lists %s:\n%s\n' "$1" "$names" >&2
        return 1
    fi
}

# assert_tree_is_podmans DIR: DIR's tree equals podman export's.
assert_tree_is_podmans() {
    python3 "$BATS_TEST_DIRNAME/tree_listing.py" "$1" .husk dev >"$BATS_TEST_TMPDIR/pulled.list"
    [ "$(wc -l <"$BATS_TEST_TMPDIR/pulled.list")" -gt 5000 ]
    diff "$BATS_FILE_TMPDIR/flat.list" "$BATS_TEST_TMPDIR/pulled.list"
}

# write_auth FILE USER:PASS: a containers-auth.json / docker config.json
# with USER:PASS for this test's registry.
write_auth() {
    mkdir -p -- "$(dirname -- "$1")"
    printf '{"auths": {"%s": {"auth": "%s"}}}\n' "$R" "$(printf %s "$2" | base64 -w0)" >"$1"
    chmod 0600 -- "$1"
}

# assert_no_secret TEXT...: $output (and $stderr) mention none of TEXT.
assert_no_secret() {
    local t
    for t in "$@"; do
        case "$output${stderr-}" in
            *"$t"*)
                printf 'the output shows a secret (%s):\n%s\n' "$t" "$output${stderr-}" >&2
                return 1
                ;;
        esac
    done
}

# --- tags, digests, the trees ------------------------------------------------

@test "pull by tag of a Docker schema 2 manifest: NAME PATH, and the tree equals podman export's" {
    start_registry
    run_ok husk pull "$R/husk/layered:docker"
    assert_output_is "layered $HUSK_STORAGE/images/layered"
    assert_tree_is_podmans "$HUSK_STORAGE/images/layered"
    run_ok husk images --json
    [ "$(jq -r '.[].name' <<<"$output")" = layered ]
    # it runs by its name, with the image's layered changes
    run_ok husk run layered -- sh -c 'test ! -e /usr/share/doc && cat /opt/app/lib /etc/debian_version/x'
    assert_output_is $'file-now\ndir-now'
}

@test "pull by digest of an OCI manifest (docker:// and a NAME): the tree equals podman export's" {
    start_registry
    run_ok skopeo inspect --tls-verify=false "docker://$R/husk/layered:oci"
    digest=$(jq -r .Digest <<<"$output")
    [ "$digest" = "$(cat "$BATS_FILE_TMPDIR/digest.oci")" ]
    run_ok husk pull "docker://$R/husk/layered@$digest" layered-oci
    assert_output_is "layered-oci $HUSK_STORAGE/images/layered-oci"
    assert_tree_is_podmans "$HUSK_STORAGE/images/layered-oci"
    # the Docker manifest's blobs: those the OCI one has are not fetched
    # again (skopeo compresses docker.tar's layers as podman did oci.tar's:
    # the same blobs, so far)
    run_ok skopeo inspect --raw --tls-verify=false "docker://$R/husk/layered:oci"
    oci_blobs=$(jq -r '.config.digest, .layers[].digest' <<<"$output")
    run_ok skopeo inspect --raw --tls-verify=false "docker://$R/husk/layered:docker"
    new=$(jq -r '.config.digest, .layers[].digest' <<<"$output" | grep -cvxF -- "$oci_blobs" || true)
    gets=$(registry gets "$REG")
    run_ok husk pull "$R/husk/layered:docker" layered-docker
    [ "$(registry gets "$REG")" -eq $((gets + new)) ]
    assert_tree_is_podmans "$HUSK_STORAGE/images/layered-docker"
}

@test "husk import of an OCI archive fills the blob cache: a pull of the same image fetches nothing" {
    start_registry
    run_ok husk import "$IMG_LAYERED/oci.tar" imported
    gets=$(registry gets "$REG")
    run_ok husk pull "$R/husk/layered:oci" pulled
    [ "$(registry gets "$REG")" -eq "$gets" ]
    assert_tree_is_podmans "$HUSK_STORAGE/images/pulled"
}

@test "the default tag is latest, the default name the repository's last component" {
    start_registry
    run_ok husk pull "docker://$R/husk/small"
    assert_output_is "small $HUSK_STORAGE/images/small"
    [ "$(cat "$HUSK_STORAGE/images/small/husk-platform")" = "$(host_platform)" ]
    run_ok husk run small -- sh -c 'sha256sum /husk-data/blob'
    [ "${output%% *}" = "$(cat "$BATS_FILE_TMPDIR/data.sum")" ]
    # its config's Cmd
    run_ok husk run small
    assert_output_is "$(host_platform)"
    # localhost is this machine too: plain HTTP without a flag
    run_ok husk pull "localhost:$PORT/husk/small" via-localhost
    assert_output_is "via-localhost $HUSK_STORAGE/images/via-localhost"
    # a name that is taken is refused, and the image there is left alone
    run_125 husk pull "$R/husk/small:latest"
    assert_husk_error small
    assert_one_line
    [ -f "$HUSK_STORAGE/images/small/husk-platform" ]
}

@test "-q prints NAME PATH and nothing on stderr" {
    start_registry
    run_ok husk pull -q "$R/husk/small" quiet
    assert_output_is "quiet $HUSK_STORAGE/images/quiet"
    [ -z "$stderr" ]
    run_ok husk pull --quiet "$R/husk/small" quiet2
    assert_output_is "quiet2 $HUSK_STORAGE/images/quiet2"
    [ -z "$stderr" ]
    # husk's own -q, before the command
    run_ok husk -q pull "$R/husk/small" quiet3
    assert_output_is "quiet3 $HUSK_STORAGE/images/quiet3"
    [ -z "$stderr" ]
}

# --- the blob cache ---------------------------------------------------------------

@test "the blob cache: each blob in blobs/sha256 once, and a second pull of them fetches none" {
    start_registry
    run_ok husk pull "$R/husk/small" one
    for d in $(small_blobs); do
        f=$HUSK_STORAGE/blobs/sha256/${d#sha256:}
        [ -f "$f" ]
        [ "sha256:$(sha256sum <"$f" | cut -d' ' -f1)" = "$d" ]
        [ "$(registry gets "$REG" "$d")" -eq 1 ]
    done
    [ "$(registry gets "$REG")" -eq 4 ]
    # the same image again, and the index's entry for this machine: no blob
    run_ok husk pull "$R/husk/small" two
    run_ok husk pull "$R/husk/multi" three
    [ "$(registry gets "$REG")" -eq 4 ]
    [ "$(cat "$HUSK_STORAGE/images/three/husk-platform")" = "$(host_platform)" ]
    # another platform: only its config and its marker layer
    run_ok husk pull --platform linux/arm64 "$R/husk/multi" four
    [ "$(registry gets "$REG")" -eq 6 ]
    [ "$(registry gets "$REG" "$(layout_digest marker:linux/arm64)")" -eq 1 ]
    # no partial or stray file is left in the cache
    run -0 find "$HUSK_STORAGE/blobs/sha256" -type f -name '*.part'
    [ -z "$output" ]
}

@test "husk run docker:// pulls on first use, then runs from the cache" {
    start_registry
    run_ok husk run "docker://$R/husk/small" -- cat /husk-platform
    assert_output_is "$(host_platform)"
    [ "$(registry gets "$REG")" -eq 4 ]
    run_ok husk run "docker://$R/husk/small:latest" -- cat /husk-platform
    assert_output_is "$(host_platform)"
    [ "$(registry gets "$REG")" -eq 4 ]
    # its config's Cmd; the layered image's whiteouts
    run_ok husk run "docker://$R/husk/small"
    assert_output_is "$(host_platform)"
    run_ok husk run "docker://$R/husk/layered:oci" -- sh -c \
        'test ! -e /usr/share/doc && cat /opt/app/lib /etc/debian_version/x /var/cache/new/f && readlink /opt/link'
    assert_output_is $'file-now\ndir-now\nfresh\n/opt/app/keep'
    # not stored under a name
    run_ok husk images --json
    [ "$(jq length <<<"$output")" -eq 0 ]
}

@test "a run of a cached tag asks for its manifest by HEAD only (no pull by Docker Hub's count); a moved tag is pulled" {
    start_registry
    # a tag of this test's own (pushing over a seeded one would write the
    # seed's files, which this registry's storage hard-links): the index
    local f=$BATS_FILE_TMPDIR i
    registry push "$REG" "oci:$f/layout:multi" husk/moving:latest --all >/dev/null
    run_ok husk run "docker://$R/husk/moving" -- cat /husk-platform
    assert_output_is "$(host_platform)"
    [ "$(registry manifests "$REG" GET)" -eq 2 ] # the index, then this platform's manifest
    [ "$(registry manifests "$REG" HEAD)" -eq 1 ]
    for i in 1 2 3; do
        run_ok husk run "docker://$R/husk/moving" -- cat /husk-platform
        assert_output_is "$(host_platform)"
    done
    [ "$(registry manifests "$REG" GET)" -eq 2 ]
    [ "$(registry manifests "$REG" HEAD)" -eq 4 ]
    # by the index's digest: at hand, so no request at all
    run_ok husk run "docker://$R/husk/moving@$(cat "$f/digest.multi")" -- cat /husk-platform
    assert_output_is "$(host_platform)"
    [ "$(registry manifests "$REG" GET)" -eq 2 ]
    [ "$(registry manifests "$REG" HEAD)" -eq 4 ]
    # the tag moved to another image: HEAD says so, the next run pulls it,
    # and the one after does not
    registry push "$REG" "oci-archive:$IMG_LAYERED/oci.tar" husk/moving:latest --oci >/dev/null
    for i in 1 2; do
        run_ok husk run "docker://$R/husk/moving" -- cat /opt/app/lib
        assert_output_is file-now
        [ "$(registry manifests "$REG" GET)" -eq 3 ]
    done
    [ "$(registry manifests "$REG" HEAD)" -eq 6 ]
}

@test "16 concurrent husk run docker:// download each blob once" {
    start_registry
    local pids=() i
    for i in $(seq 16); do
        start_bg "$BATS_TEST_TMPDIR/out.$i" "$HUSK" run "docker://$R/husk/small" -- cat /husk-platform
        pids+=("$BG_PID")
    done
    for i in $(seq 16); do
        wait_status "${pids[$((i - 1))]}"
        if [ "$STATUS" -ne 0 ] || ! file_has "$BATS_TEST_TMPDIR/out.$i" "$(host_platform)"; then
            echo "run $i: exit status $STATUS, output:" >&2
            cat "$BATS_TEST_TMPDIR/out.$i" >&2
            return 1
        fi
    done
    for d in $(small_blobs); do
        n=$(registry gets "$REG" "$d")
        if [ "$n" -ne 1 ]; then
            echo "blob $d was downloaded $n times" >&2
            grep -F "$d" "$REG/registry.log" | grep -F '"GET ' >&2
            return 1
        fi
    done
}

# --- platforms -------------------------------------------------------------------

@test "a multi-platform index: this machine's platform by default, --platform picks another" {
    start_registry
    run_ok husk pull "$R/husk/multi"
    assert_output_is "multi $HUSK_STORAGE/images/multi"
    [ "$(cat "$HUSK_STORAGE/images/multi/husk-platform")" = "$(host_platform)" ]
    run_ok husk pull --platform linux/arm64 "$R/husk/multi" multi-arm64
    [ "$(cat "$HUSK_STORAGE/images/multi-arm64/husk-platform")" = linux/arm64 ]
    run_ok husk pull --platform linux/arm/v7 "docker://$R/husk/multi:latest" multi-armv7
    [ "$(cat "$HUSK_STORAGE/images/multi-armv7/husk-platform")" = linux/arm/v7 ]
    # one the index does not have: one line naming it, nothing stored
    run_125 husk pull --platform linux/s390x "$R/husk/multi" multi-s390x
    assert_husk_error linux/s390x
    assert_one_line
    assert_not_stored multi-s390x
    # not OS/ARCH
    run_125 husk pull --platform amd64 "$R/husk/multi" multi-bad
    assert_husk_error amd64
    assert_one_line
    assert_not_stored multi-bad
}

# --- formats and output -------------------------------------------------------------

@test "--format squashfs stores NAME.sqfs, which runs" {
    start_registry
    run_ok husk pull --format squashfs "$R/husk/small"
    assert_output_is "small $HUSK_STORAGE/images/small.sqfs"
    [ "$(head -c4 "$HUSK_STORAGE/images/small.sqfs")" = hsqs ]
    # the tree it packed is not left in the unpack cache (no one would reuse it)
    [ -z "$(ls -A "$HUSK_STORAGE/cache")" ]
    run_ok husk run small -- sh -c 'cat /husk-platform; sha256sum /husk-data/blob'
    [ "${lines[0]}" = "$(host_platform)" ]
    [ "${lines[1]%% *}" = "$(cat "$BATS_FILE_TMPDIR/data.sum")" ]
    run_ok husk images --json
    [ "$(jq -r '.[] | select(.name == "small") | .format' <<<"$output")" = squashfs ]
}

# check_pull_json FILE NAME PATH REFERENCE DIGEST OS/ARCH[/VARIANT]: FILE
# holds husk pull --json's object with these fields (the reference may be
# written out further; the platform may be a string or an object).
check_pull_json() {
    python3 - "$@" <<'EOF'
import json, sys
path, name, where, ref, digest, platform = sys.argv[1:]
o = json.load(open(path))
assert isinstance(o, dict), o
assert o.get("name") == name, o
assert o.get("path") == where, o
assert ref in str(o.get("reference")), (ref, o)
assert o.get("digest") == digest, (digest, o)
p = o.get("platform")
if isinstance(p, dict):
    p = "/".join(x for x in (p.get("os"), p.get("architecture"), p.get("variant")) if x)
assert p == platform, (platform, o)
EOF
}

@test "--json prints name, path, reference, digest and platform" {
    start_registry
    run_ok husk pull --json "$R/husk/small"
    printf '%s\n' "$output" >"$BATS_TEST_TMPDIR/small.json"
    check_pull_json "$BATS_TEST_TMPDIR/small.json" small "$HUSK_STORAGE/images/small" \
        "$R/husk/small:latest" "$(layout_digest small)" "$(host_platform)"
    # of an index: the digest of the platform's manifest
    run_ok husk pull --json --platform linux/arm64 "docker://$R/husk/multi" m
    printf '%s\n' "$output" >"$BATS_TEST_TMPDIR/multi.json"
    check_pull_json "$BATS_TEST_TMPDIR/multi.json" m "$HUSK_STORAGE/images/m" \
        "$R/husk/multi:latest" "$(layout_digest linux/arm64)" linux/arm64
}

# --- authentication -------------------------------------------------------------------

@test "basic auth: credentials from REGISTRY_AUTH_FILE; none or wrong ones are one line without the password" {
    start_registry --basic alice:Open-Sesame-1234
    # none
    run_125 husk pull "$R/husk/small"
    assert_husk_error "$R"
    assert_one_line
    assert_not_stored small
    # wrong
    export REGISTRY_AUTH_FILE=$BATS_TEST_TMPDIR/auth.json
    write_auth "$REGISTRY_AUTH_FILE" alice:Wrong-Guess-5678
    run_125 husk pull "$R/husk/small"
    assert_husk_error
    assert_one_line
    assert_no_secret Wrong-Guess-5678 "$(printf %s alice:Wrong-Guess-5678 | base64 -w0)"
    assert_not_stored small
    # right
    write_auth "$REGISTRY_AUTH_FILE" alice:Open-Sesame-1234
    run_ok husk pull "$R/husk/small"
    assert_output_is "small $HUSK_STORAGE/images/small"
    assert_no_secret Open-Sesame-1234 "$(printf %s alice:Open-Sesame-1234 | base64 -w0)"
    [ "$(cat "$HUSK_STORAGE/images/small/husk-platform")" = "$(host_platform)" ]
    # husk run docker:// too
    run_ok husk run "docker://$R/husk/small" -- cat /husk-platform
    assert_output_is "$(host_platform)"
}

@test "credentials from each auth file in turn: XDG_RUNTIME_DIR, ~/.config/containers, ~/.docker" {
    start_registry --basic bob:Pass-Word-42
    # $XDG_RUNTIME_DIR/containers/auth.json
    export XDG_RUNTIME_DIR=$BATS_TEST_TMPDIR/run
    mkdir -m 0700 "$XDG_RUNTIME_DIR"
    write_auth "$XDG_RUNTIME_DIR/containers/auth.json" bob:Pass-Word-42
    run_ok husk pull "$R/husk/small" from-xdg
    rm "$XDG_RUNTIME_DIR/containers/auth.json"
    # ~/.config/containers/auth.json
    write_auth "$HOME/.config/containers/auth.json" bob:Pass-Word-42
    run_ok husk pull "$R/husk/small" from-config
    rm "$HOME/.config/containers/auth.json"
    # ~/.docker/config.json
    write_auth "$HOME/.docker/config.json" bob:Pass-Word-42
    run_ok husk pull "$R/husk/small" from-docker
    # REGISTRY_AUTH_FILE comes first: right there, wrong in ~/.docker
    write_auth "$HOME/.docker/config.json" bob:Not-It
    export REGISTRY_AUTH_FILE=$BATS_TEST_TMPDIR/auth.json
    write_auth "$REGISTRY_AUTH_FILE" bob:Pass-Word-42
    run_ok husk pull "$R/husk/small" from-env
    assert_output_is "from-env $HUSK_STORAGE/images/from-env"
}

@test "bearer token: husk gets a pull token from the token server with the credentials" {
    start_registry --token carol:Token-Pass-99
    # no credentials
    run_125 husk pull "$R/husk/small"
    assert_husk_error
    assert_one_line
    assert_not_stored small
    # wrong ones
    export REGISTRY_AUTH_FILE=$BATS_TEST_TMPDIR/auth.json
    write_auth "$REGISTRY_AUTH_FILE" carol:Bad-Token-Pass
    run_125 husk pull "$R/husk/small"
    assert_husk_error
    assert_one_line
    assert_no_secret Bad-Token-Pass "$(printf %s carol:Bad-Token-Pass | base64 -w0)"
    assert_not_stored small
    grep -qE '^GET /token user=carol .*status=401$' "$REG/token.log"
    # right ones
    write_auth "$REGISTRY_AUTH_FILE" carol:Token-Pass-99
    run_ok husk pull "$R/husk/small"
    assert_output_is "small $HUSK_STORAGE/images/small"
    assert_no_secret Token-Pass-99
    grep -qE '^GET /token user=carol scopes=([^ ]*,)?repository:husk/small:pull(,[^ ]*)? status=200$' \
        "$REG/token.log" || { cat "$REG/token.log" >&2; false; }
    [ "$(cat "$HUSK_STORAGE/images/small/husk-platform")" = "$(host_platform)" ]
    # an index through the token too
    run_ok husk pull --platform linux/arm64 "$R/husk/multi" multi
    [ "$(cat "$HUSK_STORAGE/images/multi/husk-platform")" = linux/arm64 ]
}

# --- TLS ---------------------------------------------------------------------------------

@test "TLS: a CA in ~/.config/containers/certs.d is trusted; without it a clear error; --insecure skips the check" {
    start_registry --tls
    # the CA not trusted: an error about the certificate, no plain-HTTP retry
    run_125 husk pull "$R/husk/small"
    assert_husk_error "$R"
    assert_one_line
    if ! grep -qiE 'certificate|tls|ssl|verif' <<<"$output"; then
        echo "expected the error to say the certificate is not trusted, got: $output" >&2
        return 1
    fi
    assert_not_stored small
    # --insecure
    run_ok husk pull --insecure "$R/husk/small" insecure
    [ "$(cat "$HUSK_STORAGE/images/insecure/husk-platform")" = "$(host_platform)" ]
    # the CA in containers-certs.d(5)
    run_ok registry trust "$REG"
    [ "$output" = "$HOME/.config/containers/certs.d/$R/ca.crt" ]
    run_ok husk pull "$R/husk/small"
    assert_output_is "small $HUSK_STORAGE/images/small"
    run_ok husk run "docker://$R/husk/small" -- cat /husk-platform
    assert_output_is "$(host_platform)"
}

# --- failures ---------------------------------------------------------------------------

@test "a corrupted blob: digest mismatch naming the layer, nothing stored or cached" {
    start_registry
    layer=$(layout_digest layer:rootfs)
    # its gzip header's MTIME changed: it still decompresses to the same
    # tar, only its digest tells
    registry corrupt "$REG" "$layer"
    run_125 husk pull "$R/husk/small"
    assert_husk_error "digest mismatch" "${layer#sha256:}"
    assert_one_line
    assert_not_stored small
    [ ! -e "$HUSK_STORAGE/blobs/sha256/${layer#sha256:}" ]
    run_125 husk run "docker://$R/husk/small" -- true
    assert_husk_error "digest mismatch" "${layer#sha256:}"
    assert_one_line
    [ ! -e "$HUSK_STORAGE/blobs/sha256/${layer#sha256:}" ]
    # the other images are still fine
    run_ok husk pull "$R/husk/layered:oci"
}

@test "a connection cut mid-blob: the download resumes, or one line and nothing stored" {
    start_registry
    pport=$(registry proxy "$REG" --cut-after 262144)
    run husk pull "127.0.0.1:$pport/husk/small"
    cat "$REG/proxy.log" >&2 # shown if the test fails
    grep -q ' CUT$' "$REG/proxy.log"
    if [ "$status" -eq 0 ]; then
        assert_output_is "small $HUSK_STORAGE/images/small"
        [ "$(sha256sum <"$HUSK_STORAGE/images/small/husk-data/blob" | cut -d' ' -f1)" = \
            "$(cat "$BATS_FILE_TMPDIR/data.sum")" ]
        [ "$(cat "$HUSK_STORAGE/images/small/husk-platform")" = "$(host_platform)" ]
        for d in $(small_blobs); do
            f=$HUSK_STORAGE/blobs/sha256/${d#sha256:}
            [ "sha256:$(sha256sum <"$f" | cut -d' ' -f1)" = "$d" ]
        done
    else
        [ "$status" -eq 125 ]
        assert_husk_error
        assert_one_line
        assert_not_stored small
    fi
}

@test "a connection cut in every blob download: resumed to the end, or one line and nothing stored" {
    start_registry
    # 64 KiB a try: the 4 MiB data layer needs 64 of them
    pport=$(registry proxy "$REG" --cut-after 65536 --cuts 100000)
    run husk pull "127.0.0.1:$pport/husk/small" cut
    cat "$REG/proxy.log" >&2 # shown if the test fails
    if [ "$status" -eq 0 ]; then
        assert_output_is "cut $HUSK_STORAGE/images/cut"
        [ "$(sha256sum <"$HUSK_STORAGE/images/cut/husk-data/blob" | cut -d' ' -f1)" = \
            "$(cat "$BATS_FILE_TMPDIR/data.sum")" ]
    else
        [ "$status" -eq 125 ]
        assert_husk_error
        assert_one_line
        assert_not_stored cut
    fi
    # then from the registry itself: the image, whole
    run_ok husk pull "$R/husk/small" whole
    [ "$(sha256sum <"$HUSK_STORAGE/images/whole/husk-data/blob" | cut -d' ' -f1)" = \
        "$(cat "$BATS_FILE_TMPDIR/data.sum")" ]
    for d in $(small_blobs); do
        f=$HUSK_STORAGE/blobs/sha256/${d#sha256:}
        [ "sha256:$(sha256sum <"$f" | cut -d' ' -f1)" = "$d" ]
    done
}

@test "a missing tag, repository or registry is one line naming it, nothing stored" {
    start_registry
    run_125 husk pull "$R/husk/small:no-such-tag"
    assert_husk_error no-such-tag
    assert_one_line
    assert_not_stored small
    run_125 husk pull "$R/husk/no-such-repo"
    assert_husk_error husk/no-such-repo
    assert_one_line
    assert_not_stored no-such-repo
    run_125 husk pull "$R/husk/small@sha256:$(printf '0%.0s' $(seq 64))"
    assert_husk_error
    assert_one_line
    assert_not_stored small
    # nothing listening: the port of a registry that was stopped
    registry stop "$REG"
    run_125 husk pull "$R/husk/small"
    assert_husk_error "$R"
    assert_one_line
    assert_not_stored small
}

@test "a malformed reference is one line, and no request is made" {
    start_registry
    local ref
    for ref in "$R/husk/UPPER:latest" "$R/husk/small:bad:tag" "$R/husk/small@sha256:1234" \
        "$R//husk/small" "$R/husk/small:-dash" "$R/husk/small@md5:0123456789abcdef" \
        "$R/husk/sm all" "docker://"; do
        run_125 husk pull "$ref"
        assert_husk_error
        assert_one_line
    done
    run_125 husk pull "$R/husk/UPPER:latest"
    assert_husk_error "husk/UPPER"
    run_125 husk run "docker://$R/husk/small@sha256:1234" -- true
    assert_husk_error "sha256:1234"
    assert_one_line
    # the registry saw no request but registry.sh's own GET /v2/
    if grep 'manifests' "$REG/registry.log" >&2; then
        echo "the registry was asked for a manifest" >&2
        return 1
    fi
    run_ok husk images --json
    [ "$(jq length <<<"$output")" -eq 0 ]
}
