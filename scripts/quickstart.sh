#!/bin/bash
# quickstart.sh — on a fresh Debian 12 machine: install the build
# dependencies, build husk, build the default image (Debian bookworm minbase
# via debootstrap, cached after the first time) and run husk in it as an
# unprivileged user, printing the image's /etc/os-release.
# Run as root (it installs packages); husk itself runs as $SUDO_USER, or as
# the user husk-demo when there is none.
set -Eeuo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)" --target husk
image=$(bash test/fixtures/make-images.sh debian | awk '$1 == "debian" {print $2}')

user=${SUDO_USER:-husk-demo}
if ! id "$user" >/dev/null 2>&1; then
    useradd -m -s /bin/bash "$user"
fi
# husk must be readable by that user even if this clone lives under /root.
bindir=$(mktemp -d /tmp/husk-quickstart.XXXXXX)
trap 'rm -rf "$bindir"' EXIT
install -m 0755 build/husk "$bindir/husk"
chmod 0755 "$bindir"

echo "+ husk run $image -- cat /etc/os-release   (as $user)"
cd /tmp
setpriv --reuid="$user" --regid="$user" --init-groups \
    env -i HOME="$(getent passwd "$user" | cut -d: -f6)" USER="$user" PATH=/usr/bin:/bin \
    "$bindir/husk" run "$image" -- cat /etc/os-release
