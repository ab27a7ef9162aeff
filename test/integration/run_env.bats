#!/usr/bin/env bats
# husk run: the command's environment (host, image config, --env-file, -e,
# --unset-env), the image's OCI config, the user inside (passwd, group,
# --uid, --fake-root) and the working directory.

bats_require_minimum_version 1.5.0
load helpers

# A busybox image of our own with an OCI config (.husk/config.json).
# with_config DIR JSON
with_config() {
    copy_busybox "$1"
    mkdir -p "$1/.husk"
    printf '%s\n' "$2" >"$1/.husk/config.json"
}

CONFIG='{"config":{"Env":["IMGVAR=img","FOO=img"],"Cmd":["/bin/sh","-c","echo from-cmd $IMGVAR"],"WorkingDir":"/etc"}}'

# show_env IMG VAR...: one line per VAR, "unset" if unset
show_env() {
    local img=$1 script='' v
    shift
    for v in "$@"; do
        script+="echo \"$v=\${$v-unset}\"; "
    done
    husk run "$img" -- sh -c "$script"
}

# --- order: host < image Env < --env-file < -e < --unset-env ---------------

@test "the host's environment passes through" {
    run -0 env FOO=host 'ODD=a b=c' "$HUSK" run "$IMG_BUSYBOX" -- sh -c 'echo "$FOO"; env | grep ^ODD='
    assert_output_is $'host\nODD=a b=c'
}

@test "debian: the host's environment passes through" {
    run -0 env FOO=host "$HUSK" run "$IMG_DEBIAN" -- printenv FOO
    assert_output_is host
}

@test "--env-file overrides the host" {
    printf 'FOO=file\n' >"$BATS_TEST_TMPDIR/env"
    run -0 env FOO=host "$HUSK" run --env-file "$BATS_TEST_TMPDIR/env" "$IMG_BUSYBOX" -- sh -c 'echo "$FOO"'
    assert_output_is file
}

@test "--env-file: comments and blank lines skipped, values literal, bare KEY takes the host's" {
    cat >"$BATS_TEST_TMPDIR/env" <<'EOF'
# a comment

A=one two
B="quoted"
C=$HOME
D=x=y
HOSTVAR
EMPTY=
EOF
    run -0 env HOSTVAR=from-host "$HUSK" run --env-file "$BATS_TEST_TMPDIR/env" "$IMG_BUSYBOX" -- \
        sh -c 'printf "%s|" "$A" "$B" "$C" "$D" "$HOSTVAR" "${EMPTY-unset}"'
    assert_output_is 'one two|"quoted"|$HOME|x=y|from-host||'
}

@test "several --env-file apply in order" {
    printf 'FOO=first\nBAR=first\n' >"$BATS_TEST_TMPDIR/env1"
    printf 'FOO=second\n' >"$BATS_TEST_TMPDIR/env2"
    run -0 husk run --env-file "$BATS_TEST_TMPDIR/env1" --env-file "$BATS_TEST_TMPDIR/env2" \
        "$IMG_BUSYBOX" -- sh -c 'echo "$FOO $BAR"'
    assert_output_is "second first"
}

@test "-e overrides --env-file" {
    printf 'FOO=file\n' >"$BATS_TEST_TMPDIR/env"
    run -0 env FOO=host "$HUSK" run --env-file "$BATS_TEST_TMPDIR/env" -e FOO=cli "$IMG_BUSYBOX" -- sh -c 'echo "$FOO"'
    assert_output_is cli
    run -0 husk run -e FOO=one -e FOO=two --env FOO2=x=y "$IMG_BUSYBOX" -- sh -c 'echo "$FOO $FOO2"'
    assert_output_is "two x=y"
}

@test "-e KEY copies the host's value over the env file's" {
    printf 'BAR=file\n' >"$BATS_TEST_TMPDIR/env"
    run -0 env BAR=hostbar "$HUSK" run --env-file "$BATS_TEST_TMPDIR/env" -e BAR "$IMG_BUSYBOX" -- sh -c 'echo "$BAR"'
    assert_output_is hostbar
}

@test "--unset-env 'SLURM_*' removes SLURM_A and SLURM_B but not OTHER" {
    run -0 env SLURM_A=1 SLURM_B=2 OTHER=3 MY_SLURM_C=4 "$HUSK" run --unset-env 'SLURM_*' "$IMG_BUSYBOX" -- env
    assert_output_lacks SLURM_A=1
    assert_output_lacks SLURM_B=2
    assert_output_has OTHER=3
    assert_output_has MY_SLURM_C=4
}

@test "--unset-env applies last, after -e and --env-file" {
    printf 'SLURM_F=file\n' >"$BATS_TEST_TMPDIR/env"
    run -0 env OTHER=3 "$HUSK" run --env-file "$BATS_TEST_TMPDIR/env" -e SLURM_E=cli --unset-env 'SLURM_*' --unset-env OTHER \
        "$IMG_BUSYBOX" -- env
    [[ $output != *SLURM_* ]]
    assert_output_lacks OTHER=3
}

@test "HOME is the user's home" {
    run -0 show_env "$IMG_BUSYBOX" HOME
    assert_output_is "HOME=$HOME"
    # also when the host has no HOME: the passwd entry's
    run -0 env -u HOME "$HUSK" run "$IMG_BUSYBOX" -- sh -c 'echo "$HOME"'
    assert_output_is "$(getent passwd "$(id -un)" | cut -d: -f6)"
}

@test "HOME overrides the host's and the image's" {
    with_config "$BATS_TEST_TMPDIR/img" '{"config":{"Env":["HOME=/img-home"]}}'
    run -0 env HOME="$HOME" "$HUSK" run -e HOME=/cli-home "$BATS_TEST_TMPDIR/img" -- sh -c 'echo "$HOME"'
    assert_output_is /cli-home
    run -0 husk run "$BATS_TEST_TMPDIR/img" -- sh -c 'echo "$HOME"'
    assert_output_is "$HOME"
}

@test "PATH contains /usr/bin and /bin" {
    run -0 husk run "$IMG_BUSYBOX" -- sh -c 'echo "$PATH"'
    [[ :$output: == *:/usr/bin:* ]]
    [[ :$output: == *:/bin:* ]]
    # a host PATH without them gets them appended
    run -0 env PATH=/opt/x/bin "$HUSK" run "$IMG_BUSYBOX" -- sh -c 'echo "$PATH"'
    assert_output_is /opt/x/bin:/usr/bin:/bin
    # no PATH at all: a default one
    run -0 env -u PATH "$HUSK" run "$IMG_BUSYBOX" -- sh -c 'echo "$PATH"'
    [[ :$output: == *:/usr/bin:* ]]
    [[ :$output: == *:/bin:* ]]
}

@test "debian: commands are found through PATH" {
    run -0 env PATH=/nonexistent "$HUSK" run "$IMG_DEBIAN" -- dpkg-query -W -f '${Package}\n' dash
    assert_output_is dash
}

@test "an env file with a bad line gives 125 naming file and line" {
    printf 'GOOD=1\n# comment\n=bad\n' >"$BATS_TEST_TMPDIR/bad.env"
    run -125 husk run --env-file "$BATS_TEST_TMPDIR/bad.env" "$IMG_BUSYBOX" -- true
    assert_husk_error "$BATS_TEST_TMPDIR/bad.env:3"
    [ "${#lines[@]}" -eq 1 ]
    printf 'GOOD=1\nBAD KEY=1\n' >"$BATS_TEST_TMPDIR/bad2.env"
    run -125 husk run --env-file "$BATS_TEST_TMPDIR/bad2.env" "$IMG_BUSYBOX" -- true
    assert_husk_error "$BATS_TEST_TMPDIR/bad2.env:2"
}

@test "a missing env file gives 125 naming it" {
    run -125 husk run --env-file "$BATS_TEST_TMPDIR/no-such.env" "$IMG_BUSYBOX" -- true
    assert_husk_error "$BATS_TEST_TMPDIR/no-such.env"
    [ "${#lines[@]}" -eq 1 ]
}

@test "a malformed -e gives 125" {
    run -125 husk run -e =value "$IMG_BUSYBOX" -- true
    assert_husk_error '=value'
}

# --- the image's OCI config ------------------------------------------------

@test "no command: the image's Cmd runs with the image's Env" {
    with_config "$BATS_TEST_TMPDIR/img" "$CONFIG"
    run -0 husk run "$BATS_TEST_TMPDIR/img"
    assert_output_is "from-cmd img"
}

@test "no command: Entrypoint and Cmd together" {
    with_config "$BATS_TEST_TMPDIR/img" '{"config":{"Entrypoint":["/bin/echo","entry"],"Cmd":["cmd-arg"]}}'
    run -0 husk run "$BATS_TEST_TMPDIR/img"
    assert_output_is "entry cmd-arg"
    # a command given replaces both
    run -0 husk run "$BATS_TEST_TMPDIR/img" -- echo given
    assert_output_is given
}

@test "the image's Env beats the host's; --env-file and -e beat the image's" {
    with_config "$BATS_TEST_TMPDIR/img" "$CONFIG"
    run -0 env FOO=host "$HUSK" run "$BATS_TEST_TMPDIR/img" -- sh -c 'echo "$FOO $IMGVAR"'
    assert_output_is "img img"
    printf 'FOO=file\n' >"$BATS_TEST_TMPDIR/env"
    run -0 env FOO=host "$HUSK" run --env-file "$BATS_TEST_TMPDIR/env" "$BATS_TEST_TMPDIR/img" -- sh -c 'echo "$FOO"'
    assert_output_is file
    run -0 env FOO=host "$HUSK" run --env-file "$BATS_TEST_TMPDIR/env" -e FOO=cli "$BATS_TEST_TMPDIR/img" -- sh -c 'echo "$FOO"'
    assert_output_is cli
    run -0 husk run --unset-env 'IMG*' "$BATS_TEST_TMPDIR/img" -- sh -c 'echo "${IMGVAR-unset}"'
    assert_output_is unset
}

@test "the image's WorkingDir is used when the current directory is not in the image" {
    with_config "$BATS_TEST_TMPDIR/img" "$CONFIG"
    # the host's /usr/share is not in busybox
    cd /usr/share
    run -0 husk run "$BATS_TEST_TMPDIR/img" -- pwd
    assert_output_is /etc
    run -0 husk run "$IMG_BUSYBOX" -- pwd
    assert_output_is /
}

@test "a malformed config.json gives 125 naming the file" {
    with_config "$BATS_TEST_TMPDIR/img" '{"config": {"Env": ['
    run -125 husk run "$BATS_TEST_TMPDIR/img" -- true
    assert_husk_error "$BATS_TEST_TMPDIR/img/.husk/config.json"
    [ "${#lines[@]}" -eq 1 ]
}

@test "a config.json of the wrong shape gives 125 naming the file and field" {
    with_config "$BATS_TEST_TMPDIR/img" '{"config":{"Env":"FOO=1"}}'
    run -125 husk run "$BATS_TEST_TMPDIR/img" -- true
    assert_husk_error "$BATS_TEST_TMPDIR/img/.husk/config.json" Env
    with_config "$BATS_TEST_TMPDIR/img2" '{"config":{"Env":["NOEQUALS"]}}'
    run -125 husk run "$BATS_TEST_TMPDIR/img2" -- true
    assert_husk_error "$BATS_TEST_TMPDIR/img2/.husk/config.json" NOEQUALS
}

@test "an image config with 100,000 Env entries: linear, the last one wins" {
    copy_busybox "$BATS_TEST_TMPDIR/img"
    mkdir -p "$BATS_TEST_TMPDIR/img/.husk"
    seq 100000 | awk 'BEGIN { printf "{\"config\":{\"Env\":[" }
        { printf "%s\"V%d=%d\"", (NR > 1 ? "," : ""), $1 % 50000, $1 }
        END { print "]}}" }' >"$BATS_TEST_TMPDIR/img/.husk/config.json"
    # quadratic took a minute; linear takes a fraction of a second
    run -0 timeout 30 "$HUSK" run "$BATS_TEST_TMPDIR/img" -- sh -c 'echo "$V1 $V49999"; env | grep -c "^V"'
    assert_output_is "$(printf '50001 99999\n50000')"
}

@test "an image config larger than 16 MiB is refused, naming it, without reading it whole" {
    copy_busybox "$BATS_TEST_TMPDIR/img"
    mkdir -p "$BATS_TEST_TMPDIR/img/.husk"
    { printf '{"config":{},"pad":"'; head -c $((17 << 20)) /dev/zero | tr '\0' x; printf '"}\n'; } \
        >"$BATS_TEST_TMPDIR/img/.husk/config.json"
    run -125 husk run "$BATS_TEST_TMPDIR/img" -- true
    assert_husk_error "$BATS_TEST_TMPDIR/img/.husk/config.json" "16777216"
}

# --- the user inside -------------------------------------------------------

@test "busybox: /etc/passwd and /etc/group inside have the user" {
    local uid gid name
    uid=$(id -u) gid=$(id -g) name=$(id -un)
    run -0 husk run "$IMG_BUSYBOX" -- grep "^$name:" /etc/passwd
    [ "${#lines[@]}" -eq 1 ]
    IFS=: read -r n _ u g _ h _ <<<"$output"
    [ "$n:$u:$g:$h" = "$name:$uid:$gid:$HOME" ]
    run -0 husk run "$IMG_BUSYBOX" -- grep "^$(id -gn):" /etc/group
    [[ $output == "$(id -gn):x:$gid:"* ]]
    # the image's own entries are kept
    run -0 husk run "$IMG_BUSYBOX" -- grep -c -e '^root:' -e '^nobody:' /etc/passwd
    assert_output_is 2
}

@test "busybox: id shows the user's name, ids and group" {
    run -0 husk run "$IMG_BUSYBOX" -- sh -c 'id -un; id -u; id -g; id -gn'
    assert_output_is "$(id -un)"$'\n'"$(id -u)"$'\n'"$(id -g)"$'\n'"$(id -gn)"
}

@test "debian: /etc/passwd inside has the user, and whoami works" {
    run -0 husk run "$IMG_DEBIAN" -- sh -c 'whoami; getent passwd "$(id -u)"; getent passwd root | cut -d: -f1'
    [ "${lines[0]}" = "$(id -un)" ]
    [ "${lines[1]}" = "$(id -un):x:$(id -u):$(id -g)::$HOME:/bin/sh" ]
    [ "${lines[2]}" = root ]
}

@test "--fake-root: uid 0, named root" {
    run -0 husk run --fake-root "$IMG_BUSYBOX" -- sh -c 'id -u; id -un; id -g'
    assert_output_is $'0\nroot\n0'
    run -0 husk run --fake-root "$IMG_DEBIAN" -- sh -c 'id -u; whoami'
    assert_output_is $'0\nroot'
}

@test "--uid 1234 --gid 1234" {
    run -0 husk run --uid 1234 --gid 1234 "$IMG_BUSYBOX" -- sh -c 'id -u; id -g; id -un'
    assert_output_is $'1234\n1234\n'"$(id -un)"
    run -0 husk run --uid 1234 "$IMG_DEBIAN" -- sh -c 'id -u; id -g'
    assert_output_is $'1234\n'"$(id -g)"
}

@test "files the user owns on the host are owned by the user inside" {
    touch "$BATS_TEST_TMPDIR/mine"
    run -0 husk run "$IMG_BUSYBOX" -- stat -c '%u %g' "$BATS_TEST_TMPDIR/mine"
    assert_output_is "$(id -u) $(id -g)"
    run -0 husk run --fake-root "$IMG_BUSYBOX" -- stat -c '%u %g' "$BATS_TEST_TMPDIR/mine"
    assert_output_is "0 0"
}

@test "--fake-root with a different --uid gives 125" {
    run -125 husk run --fake-root --uid 5 "$IMG_BUSYBOX" -- true
    assert_husk_error
}

# --- working directory -----------------------------------------------------

@test "the current directory is kept when it exists inside: /tmp" {
    cd /tmp
    run -0 husk run "$IMG_BUSYBOX" -- pwd
    assert_output_is /tmp
}

@test "the current directory is kept when it exists inside: home" {
    cd "$HOME"
    run -0 husk run "$IMG_BUSYBOX" -- pwd
    assert_output_is "$HOME"
    run -0 husk run "$IMG_DEBIAN" -- pwd
    assert_output_is "$HOME"
}

@test "the current directory by the name the shell uses" {
    mkdir "$BATS_TEST_TMPDIR/real"
    ln -s real "$BATS_TEST_TMPDIR/link"
    cd "$BATS_TEST_TMPDIR/link"
    # the shell's pwd is logical; the pwd program is physical
    run -0 husk run "$IMG_BUSYBOX" -- sh -c 'pwd; pwd -P'
    assert_output_is "$BATS_TEST_TMPDIR/link"$'\n'"$BATS_TEST_TMPDIR/real"
}

@test "a current directory missing inside gives /" {
    cd /usr/share
    run -0 husk run "$IMG_BUSYBOX" -- pwd
    assert_output_is /
}

@test "-c/--cd DIR starts in DIR" {
    run -0 husk run -c /etc "$IMG_BUSYBOX" -- pwd
    assert_output_is /etc
    run -0 husk run --cd /usr/share "$IMG_DEBIAN" -- pwd
    assert_output_is /usr/share
}

@test "PWD in the environment names the directory the command starts in" {
    cd /usr/share
    # kept: the current directory exists inside
    run -0 husk run "$IMG_DEBIAN" -- printenv PWD
    assert_output_is /usr/share
    run -0 husk run -c /etc "$IMG_DEBIAN" -- printenv PWD
    assert_output_is /etc
    # not in busybox: husk starts in /
    run -0 husk run "$IMG_BUSYBOX" -- sh -c 'env | grep ^PWD='
    assert_output_is PWD=/
}
