#!/bin/bash
# registry.sh -- a local OCI registry (Debian's docker-registry, distribution
# 2.8) for husk's tests, run by an unprivileged user, on 127.0.0.1 only.
#
#   registry.sh start DIR [--tls] [--basic USER:PASS] [--token USER:PASS]
#                         [--seed SEEDDIR]
#       Starts docker-registry on a free 127.0.0.1 port with its config,
#       storage, log and pid in DIR; waits until GET /v2/ answers (200, or
#       401 with auth); prints the PORT. DIR/storage is used as it is if it
#       exists; --seed SEEDDIR first makes it a hard-linked copy of
#       SEEDDIR/storage (another stopped registry's: fast, and `corrupt`
#       replaces a file rather than writing into it).
#         --tls     HTTPS with a certificate for IP:127.0.0.1 and DNS:localhost
#                   signed by a CA made here: DIR/ca.crt (see `trust`)
#         --basic   htpasswd auth (bcrypt) with one user
#         --token   distribution's token auth: token-server.py (beside this
#                   script) on another free port, plain HTTP, checks USER:PASS
#                   on GET /token and signs RS256 JWTs; its requests are
#                   logged in DIR/token.log
#   registry.sh stop DIR
#       Stops what `start` and `proxy` started in DIR (by saved pid, checked
#       against the process's command line), removes what `trust` installed.
#       Idempotent; a DIR that does not exist is fine.
#   registry.sh port DIR
#       Prints the port.
#   registry.sh trust DIR
#       Copies DIR/ca.crt to $HOME/.config/containers/certs.d/127.0.0.1:PORT/
#       ca.crt (containers-certs.d(5)); prints that path; `stop` removes it.
#   registry.sh push DIR SRC REPO:TAG [--oci] [--all]
#       skopeo copy SRC (any skopeo transport: docker-archive:F, oci-archive:F,
#       oci:LAYOUT:REF) to docker://127.0.0.1:PORT/REPO:TAG, with the
#       registry's credentials if it has any, TLS not verified; --oci: as an
#       OCI manifest (--format oci); --all: every image of an index. Prints
#       the pushed manifest's digest.
#   registry.sh corrupt DIR DIGEST
#       Changes 4 bytes of the stored blob DIGEST (storage's
#       docker/registry/v2/blobs/sha256/XX/HEX/data), keeping its size, in a
#       new file renamed over the old one. A gzip blob gets its header's
#       MTIME field changed: it still decompresses to the same tar, so only a
#       digest check can tell (not a gzip or tar error); another blob gets 4
#       bytes in its middle inverted.
#   registry.sh gets DIR [DIGEST]
#       Prints how many GETs of blob DIGEST (of any blob without one) the
#       registry answered 200 or 206, from its access log (DIR/registry.log).
#   registry.sh manifests DIR METHOD
#       Prints how many METHOD (GET or HEAD) requests of a manifest (by tag
#       or digest) the registry answered 200, from its access log.
#   registry.sh proxy DIR [--cut-after N] [--cuts K]
#       Starts cut-proxy.py (beside this script) in front of the registry
#       (plain HTTP; the registry may be --tls): it forwards everything and
#       cuts the first K (1) blob bodies of at least 2N bytes after N (65536)
#       bytes. Prints its PORT; its log is DIR/proxy.log.
#
# Needs: docker-registry, skopeo (push), htpasswd (apache2-utils; --basic),
# openssl, python3. Everything listens on 127.0.0.1 only. Diagnostics go to stderr,
# only the answer to stdout; exit status 0, or 1 with a line
# "registry.sh: error: ..." (and the tail of a log that explains it).
set -Eeuo pipefail
umask 077
# everything here talks to 127.0.0.1 only, never through a proxy
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY no_proxy NO_PROXY

PROG=registry.sh
HERE=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
# the servers import serve.py beside them: no __pycache__ left in that folder
export PYTHONDONTWRITEBYTECODE=1
SERVICE=husk-test-registry
ISSUER=husk-test-token-issuer

die() { printf '%s: error: %s\n' "$PROG" "$*" >&2; exit 1; }
usage() { sed -n '2,/^set -E/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//' >&2; exit 2; }

# free_port: a port the kernel had free a moment ago on 127.0.0.1.
free_port() {
    "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# probe URL CAFILE PIDFILE SECONDS: GETs URL (TLS verified with CAFILE
# when it is not "") every 50 ms until it answers 200 or 401, the process
# of PIDFILE is gone, or SECONDS pass; prints the last status (000: no
# answer).
probe() {
    local pid
    pid=$(cat -- "$3" 2>/dev/null) || pid=0
    "$PY" - "$1" "$2" "$pid" "$4" <<'PROBE'
import os, ssl, sys, time, urllib.error, urllib.request
url, cafile, pid, seconds = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
handlers = [urllib.request.ProxyHandler({})]  # 127.0.0.1 straight, whatever *_proxy say
if cafile:
    handlers.append(urllib.request.HTTPSHandler(context=ssl.create_default_context(cafile=cafile)))
opener = urllib.request.build_opener(*handlers)
end = time.monotonic() + seconds
code = 0
while True:
    try:
        with opener.open(url, timeout=2) as r:
            code = r.status
    except urllib.error.HTTPError as e:
        code = e.code
    except (OSError, ValueError):
        code = 0
    if code in (200, 401) or time.monotonic() > end:
        break
    try:
        with open(f"/proc/{pid}/status") as f:
            if any(l.split()[1:2] == ["Z"] for l in f if l.startswith("State:")):
                break
    except OSError:
        break
    time.sleep(0.05)
print(f"{code:03d}")
PROBE
}

# daemon LOG PIDFILE CMD...: CMD in the background with stdin /dev/null,
# stdout and stderr appended to LOG, no other descriptor (a test runner
# waits for the ones it holds), its pid in PIDFILE.
daemon() {
    local log=$1 pidfile=$2
    shift 2
    (
        for f in /proc/"$BASHPID"/fd/*; do
            fd=${f##*/}
            if [ "$fd" -gt 2 ]; then eval "exec $fd>&-" 2>/dev/null || true; fi
        done
        exec "$@"
    ) </dev/null >>"$log" 2>&1 &
    echo "$!" >"$pidfile"
}

# ours PIDFILE: the pid in PIDFILE is a live process whose command line
# names this DIR (not a recycled pid).
ours() {
    local pid
    pid=$(cat -- "$1" 2>/dev/null) || return 1
    [ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] || return 1
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$DIR/" || return 1
    local state
    state=$(awk '$1 == "State:" { print $2 }' "/proc/$pid/status" 2>/dev/null) || return 1
    [ "$state" != Z ]
}

# kill_saved PIDFILE: TERM, then KILL after 5 s, the process of PIDFILE if
# it is ours; removes PIDFILE.
kill_saved() {
    local pidfile=$1 pid i
    if ours "$pidfile"; then
        pid=$(cat -- "$pidfile")
        kill -TERM "$pid" 2>/dev/null || true
        for ((i = 0; i < 100; i++)); do
            ours "$pidfile" || break
            sleep 0.05
        done
        if ours "$pidfile"; then
            kill -KILL "$pid" 2>/dev/null || true
            for ((i = 0; i < 40; i++)); do
                ours "$pidfile" || break
                sleep 0.05
            done
        fi
    fi
    rm -f -- "$pidfile"
}

log_tail() { # log_tail FILE: its last lines on stderr
    if [ -s "$1" ]; then
        printf -- '--- last lines of %s:\n' "$1" >&2
        tail -n 15 -- "$1" >&2
    fi
}

set_dir() {
    [ -n "${1-}" ] || usage
    DIR=$(realpath -m -- "$1")
}

scheme() { cat -- "$DIR/scheme" 2>/dev/null || echo http; }

get_port() {
    [ -s "$DIR/port" ] || die "no registry started in $DIR"
    cat -- "$DIR/port"
}

# make_tls: a CA and a server certificate (EC P-256) in DIR.
make_tls() {
    [ -s "$DIR/server.crt" ] && [ -s "$DIR/ca.crt" ] && return 0
    local ext
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 7 \
        -keyout "$DIR/ca.key" -out "$DIR/ca.crt" -subj "/CN=husk test CA $$" \
        -addext 'basicConstraints=critical,CA:TRUE' \
        -addext 'keyUsage=critical,keyCertSign,cRLSign' 2>/dev/null \
        || die "openssl could not make the CA"
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
        -keyout "$DIR/server.key" -out "$DIR/server.csr" -subj '/CN=127.0.0.1' 2>/dev/null \
        || die "openssl could not make the server key"
    ext=$DIR/server.ext
    printf '%s\n' 'subjectAltName=IP:127.0.0.1,DNS:localhost' 'basicConstraints=CA:FALSE' \
        'keyUsage=critical,digitalSignature' 'extendedKeyUsage=serverAuth' >"$ext"
    openssl x509 -req -in "$DIR/server.csr" -CA "$DIR/ca.crt" -CAkey "$DIR/ca.key" \
        -set_serial "0x$(openssl rand -hex 8)" -days 7 -extfile "$ext" \
        -out "$DIR/server.crt" 2>/dev/null || die "openssl could not sign the server certificate"
    rm -f -- "$DIR/server.csr" "$ext"
    chmod 0644 -- "$DIR/ca.crt"
}

# start_token USER:PASS: the token server; sets TOKEN_PORT.
start_token() {
    local cred=$1 i
    if [ ! -s "$DIR/token.key" ]; then
        openssl genrsa -out "$DIR/token.key" 2048 2>/dev/null || die "openssl genrsa failed"
        openssl req -x509 -new -key "$DIR/token.key" -days 7 -subj '/CN=husk test token signer' \
            -out "$DIR/token.crt" 2>/dev/null || die "openssl could not make the token certificate"
    fi
    printf '%s\n' "$cred" >"$DIR/token.users"
    rm -f -- "$DIR/token.port"
    daemon "$DIR/token.stderr" "$DIR/token.pid" "$PY" "$HERE/token-server.py" \
        --key "$DIR/token.key" --cert "$DIR/token.crt" --users "$DIR/token.users" \
        --service "$SERVICE" --issuer "$ISSUER" --port-file "$DIR/token.port" --log "$DIR/token.log"
    for ((i = 0; i < 200; i++)); do
        [ -s "$DIR/token.port" ] && break
        ours "$DIR/token.pid" || { log_tail "$DIR/token.stderr"; die "the token server exited"; }
        sleep 0.05
    done
    [ -s "$DIR/token.port" ] || { log_tail "$DIR/token.stderr"; die "the token server did not start in 10 s"; }
    TOKEN_PORT=$(cat -- "$DIR/token.port")
    : >>"$DIR/token.log"
}

write_config() { # write_config PORT
    local port=$1
    {
        printf '%s\n' 'version: 0.1' 'log:' '  level: info' '  formatter: text' \
            '  accesslog:' '    disabled: false' 'storage:' '  filesystem:' \
            "    rootdirectory: $DIR/storage" '  delete:' '    enabled: true' \
            '  maintenance:' '    uploadpurging:' '      enabled: false' \
            '  redirect:' '    disable: true' 'http:' "  addr: 127.0.0.1:$port" \
            "  secret: husk-test-secret-$$" \
            '  headers:' '    X-Content-Type-Options: [nosniff]'
        if [ "$TLS" = 1 ]; then
            printf '%s\n' '  tls:' "    certificate: $DIR/server.crt" "    key: $DIR/server.key"
        fi
        if [ -n "$BASIC" ]; then
            printf '%s\n' 'auth:' '  htpasswd:' '    realm: husk-test' "    path: $DIR/htpasswd"
        elif [ -n "$TOKEN" ]; then
            printf '%s\n' 'auth:' '  token:' "    realm: http://127.0.0.1:$TOKEN_PORT/token" \
                "    service: $SERVICE" "    issuer: $ISSUER" \
                "    rootcertbundle: $DIR/token.crt"
        fi
    } >"$DIR/config.yml"
}

cmd_start() {
    set_dir "${1-}"
    shift
    TLS=0 BASIC='' TOKEN='' SEED=''
    while [ $# -gt 0 ]; do
        case $1 in
            --tls) TLS=1 ;;
            --basic) BASIC=${2:?--basic USER:PASS}; shift ;;
            --token) TOKEN=${2:?--token USER:PASS}; shift ;;
            --seed) SEED=${2:?--seed SEEDDIR}; shift ;;
            *) usage ;;
        esac
        shift
    done
    [ -z "$BASIC" ] || [ -z "$TOKEN" ] || die "--basic and --token exclude each other"
    for c in docker-registry openssl; do
        command -v "$c" >/dev/null || die "missing command: $c"
    done
    mkdir -p -- "$DIR"
    if ours "$DIR/registry.pid"; then die "a registry already runs in $DIR (stop it first)"; fi
    if [ -n "$SEED" ] && [ ! -e "$DIR/storage" ]; then
        [ -d "$SEED/storage" ] || die "no registry storage in $SEED"
        cp -al -- "$SEED/storage" "$DIR/storage"
    fi
    mkdir -p -- "$DIR/storage"
    rm -f -- "$DIR/creds"
    local scheme=http cafile=''
    if [ "$TLS" = 1 ]; then
        make_tls
        scheme=https
        cafile=$DIR/ca.crt
    fi
    echo "$scheme" >"$DIR/scheme"
    if [ -n "$BASIC" ]; then
        command -v htpasswd >/dev/null || die "missing command: htpasswd (apache2-utils)"
        htpasswd -Bbn "${BASIC%%:*}" "${BASIC#*:}" >"$DIR/htpasswd" 2>/dev/null \
            || die "htpasswd failed"
        printf '%s\n' "$BASIC" >"$DIR/creds"
    fi
    if [ -n "$TOKEN" ]; then
        start_token "$TOKEN"
        printf '%s\n' "$TOKEN" >"$DIR/creds"
    fi

    local attempt port code
    for ((attempt = 1; attempt <= 5; attempt++)); do
        port=$(free_port)
        write_config "$port"
        : >"$DIR/registry.log"
        daemon "$DIR/registry.log" "$DIR/registry.pid" docker-registry serve "$DIR/config.yml"
        code=$(probe "$scheme://127.0.0.1:$port/v2/" "$cafile" "$DIR/registry.pid" 15) || code=000
        case $code in
            200 | 401)
                echo "$port" >"$DIR/port"
                echo "$port"
                return 0
                ;;
        esac
        kill_saved "$DIR/registry.pid"
        if grep -q 'address already in use' "$DIR/registry.log"; then
            continue # another process took the port meanwhile
        fi
        log_tail "$DIR/registry.log"
        cmd_stop_quiet
        die "docker-registry did not answer on $scheme://127.0.0.1:$port/v2/ (last status $code)"
    done
    cmd_stop_quiet
    die "no free port for docker-registry after 5 tries"
}

cmd_stop_quiet() {
    local f
    for f in proxy registry token; do
        kill_saved "$DIR/$f.pid"
    done
    if [ -s "$DIR/trusted" ]; then
        f=$(cat -- "$DIR/trusted")
        rm -f -- "$f"
        rmdir -- "${f%/*}" 2>/dev/null || true
        rm -f -- "$DIR/trusted"
    fi
}

cmd_stop() {
    set_dir "${1-}"
    [ -d "$DIR" ] || return 0
    cmd_stop_quiet
}

cmd_port() {
    set_dir "${1-}"
    get_port
}

cmd_trust() {
    set_dir "${1-}"
    local port dest
    port=$(get_port)
    [ -s "$DIR/ca.crt" ] || die "the registry in $DIR has no TLS (start it with --tls)"
    : "${HOME:?HOME is not set}"
    dest=$HOME/.config/containers/certs.d/127.0.0.1:$port
    mkdir -p -- "$dest"
    install -m 0644 -- "$DIR/ca.crt" "$dest/ca.crt"
    echo "$dest/ca.crt" >"$DIR/trusted"
    echo "$dest/ca.crt"
}

cmd_push() {
    set_dir "${1-}"
    local src=${2-} ref=${3-}
    if [ -z "$src" ] || [ -z "$ref" ]; then usage; fi
    shift 3
    local extra=()
    while [ $# -gt 0 ]; do
        case $1 in
            --oci) extra+=(--format oci) ;;
            --all) extra+=(--all) ;;
            *) usage ;;
        esac
        shift
    done
    command -v skopeo >/dev/null || die "missing command: skopeo"
    local port creds=(--dest-no-creds)
    port=$(get_port)
    if [ -s "$DIR/creds" ]; then
        creds=(--dest-creds "$(cat -- "$DIR/creds")")
    fi
    printf '%s\n' '{"default": [{"type": "insecureAcceptAnything"}]}' >"$DIR/policy.json"
    mkdir -p -- "$DIR/tmp"
    rm -f -- "$DIR/push.digest"
    # HOME and TMPDIR of its own: skopeo's blob-info cache and temporary
    # copies stay in DIR, and it reads none of the user's auth files
    if ! HOME=$DIR/tmp TMPDIR=$DIR/tmp skopeo --policy "$DIR/policy.json" copy -q --dest-tls-verify=false \
        "${creds[@]}" "${extra[@]}" --digestfile "$DIR/push.digest" \
        "$src" "docker://127.0.0.1:$port/$ref" >"$DIR/push.log" 2>&1; then
        log_tail "$DIR/push.log"
        die "skopeo could not push $src to 127.0.0.1:$port/$ref"
    fi
    rm -rf -- "$DIR/tmp"
    cat -- "$DIR/push.digest"
    echo
}

cmd_corrupt() {
    set_dir "${1-}"
    local digest=${2-}
    [[ $digest =~ ^sha256:[0-9a-f]{64}$ ]] || die "not a sha256 digest: $digest"
    local hex=${digest#sha256:} data
    data=$DIR/storage/docker/registry/v2/blobs/sha256/${hex:0:2}/$hex/data
    [ -f "$data" ] || die "no blob $digest in $DIR/storage"
    "$PY" - "$data" <<'EOF' || die "could not corrupt $data"
import os, sys
path = sys.argv[1]
with open(path, "rb") as f:
    b = bytearray(f.read())
if len(b) >= 18 and b[0] == 0x1F and b[1] == 0x8B:
    # gzip: its MTIME field, in no checksum
    for i in range(4, 8):
        b[i] ^= 0x5A
else:
    mid = max(0, len(b) // 2 - 2)
    for i in range(mid, min(len(b), mid + 4)):
        b[i] ^= 0xFF
tmp = path + ".corrupt"
with open(tmp, "wb") as f:
    f.write(b)
os.chmod(tmp, os.stat(path).st_mode & 0o7777)
os.rename(tmp, path)
EOF
}

# sync_log: the registry logs a request once it has answered it, a moment
# after its client may have gone on: a request of our own, once logged,
# says those before it are too. Nothing when the registry is not running.
sync_log() {
    local port mark i cafile=''
    ours "$DIR/registry.pid" || return 0
    port=$(get_port)
    mark=husk-sync-$$-$RANDOM
    [ "$(scheme)" = https ] && cafile=$DIR/ca.crt
    probe "$(scheme)://127.0.0.1:$port/v2/?$mark" "$cafile" "$DIR/registry.pid" 5 >/dev/null || true
    for ((i = 0; i < 100; i++)); do
        grep -qF "GET /v2/?$mark " "$DIR/registry.log" && return 0
        sleep 0.02
    done
}

count_requests() { # count_requests ERE: access log lines matching it, once the log is current
    [ -f "$DIR/registry.log" ] || die "no registry log in $DIR"
    sync_log
    grep -cE "$1" "$DIR/registry.log" || true
}

cmd_gets() {
    set_dir "${1-}"
    local digest=${2-'sha256:[0-9a-f]{64}'}
    count_requests "\"GET /v2/[^ ]+/blobs/$digest HTTP/[0-9.]+\" (200|206) "
}

cmd_manifests() {
    set_dir "${1-}"
    local method=${2:?}
    count_requests "\"$method /v2/[^ ]+/manifests/[^ ]+ HTTP/[0-9.]+\" 200 "
}

cmd_proxy() {
    set_dir "${1-}"
    shift
    local cut=65536 cuts=1 port i tls=()
    while [ $# -gt 0 ]; do
        case $1 in
            --cut-after) cut=${2:?}; shift ;;
            --cuts) cuts=${2:?}; shift ;;
            *) usage ;;
        esac
        shift
    done
    port=$(get_port)
    [ "$(scheme)" = https ] && tls=(--upstream-tls)
    kill_saved "$DIR/proxy.pid"
    rm -f -- "$DIR/proxy.port"
    : >>"$DIR/proxy.log"
    daemon "$DIR/proxy.stderr" "$DIR/proxy.pid" "$PY" "$HERE/cut-proxy.py" \
        --upstream "127.0.0.1:$port" "${tls[@]}" --port-file "$DIR/proxy.port" \
        --log "$DIR/proxy.log" --cut-after "$cut" --cuts "$cuts"
    for ((i = 0; i < 200; i++)); do
        [ -s "$DIR/proxy.port" ] && break
        ours "$DIR/proxy.pid" || { log_tail "$DIR/proxy.stderr"; die "the proxy exited"; }
        sleep 0.05
    done
    [ -s "$DIR/proxy.port" ] || die "the proxy did not start in 10 s"
    cat -- "$DIR/proxy.port"
}

[ $# -ge 1 ] || usage
cmd=$1
shift
case $cmd in
    start) cmd_start "$@" ;;
    stop) cmd_stop "$@" ;;
    port) cmd_port "$@" ;;
    trust) cmd_trust "$@" ;;
    push) cmd_push "$@" ;;
    corrupt) cmd_corrupt "$@" ;;
    gets) cmd_gets "$@" ;;
    manifests) cmd_manifests "$@" ;;
    proxy) cmd_proxy "$@" ;;
    -h | --help | help) usage ;;
    *) usage ;;
esac
