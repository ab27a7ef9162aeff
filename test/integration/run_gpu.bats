#!/usr/bin/env bats
# The host stage's devices: --gpu on fake NVIDIA and AMD driver trees
# (test/fixtures/make-fake-gpu-tree.sh, made as root by run-as-user.sh:
# device nodes with /dev/null's major and minor, driver libraries with the
# right sonames, a linker cache from ldconfig -r), pointed at with the test
# hook HUSK_HOST_ROOT; CDI specs in JSON and YAML (--device); --dev=minimal;
# hostile images whose paths are symlinks out of the image.

bats_require_minimum_version 1.5.0
load helpers

setup() {
    : "${FAKE_NVIDIA:?}" "${FAKE_AMD:?}" "${IMG_DEBIAN_SQFS:?}"
    export HUSK_RUNTIME_DIR=$BATS_TEST_TMPDIR/run
    export HUSK_CDI_SPEC_DIRS=$BATS_TEST_TMPDIR/cdi
    mkdir -p "$HUSK_CDI_SPEC_DIRS"
    unset CUDA_VISIBLE_DEVICES NVIDIA_VISIBLE_DEVICES NVIDIA_DRIVER_CAPABILITIES
    unset ROCR_VISIBLE_DEVICES HIP_VISIBLE_DEVICES
}

# gpu ARGS...: husk run --gpu on the fake NVIDIA tree.
gpu() { HUSK_HOST_ROOT=$FAKE_NVIDIA husk run --gpu "$@"; }

# A program that links against the injected libcuda.so.1, built against the
# fake driver's library (the image has no libcuda).
cuda_app() {
    local app=$BATS_TEST_TMPDIR/cuda-app
    [ -x "$app" ] || {
        cat >"$BATS_TEST_TMPDIR/cuda-app.c" <<'EOF'
#include <stdio.h>
int cuInit(unsigned flags);
const char *husk_fake_driver(void);
int main(void) {
    printf("cuInit: %d\n", cuInit(0));
    printf("driver: %s\n", husk_fake_driver());
    return 0;
}
EOF
        cc -o "$app" "$BATS_TEST_TMPDIR/cuda-app.c" \
            -L"$FAKE_NVIDIA/usr/lib/x86_64-linux-gnu" -l:libcuda.so.1 \
            -Wl,--allow-shlib-undefined
    }
    echo "$app"
}

@test "--gpu: libraries, tools and device nodes in a directory image; a program links against the injected libcuda" {
    local app before
    app=$(cuda_app)
    before=$(tree_state "$IMG_DEBIAN" | sha256sum)
    run -0 gpu --dev=minimal -b "$app:/cuda-app" "$IMG_DEBIAN" -- sh -c '
        ls /usr/lib/husk-gpu; ls /dev | grep nvidia; /usr/bin/nvidia-smi; /cuda-app;
        echo "LD_LIBRARY_PATH=$LD_LIBRARY_PATH"; /sbin/ldconfig -p'
    echo "$output"
    assert_output_has libcuda.so.1
    assert_output_has libnvidia-ml.so.1
    assert_output_has nvidia0
    assert_output_has nvidia1
    assert_output_has nvidiactl
    assert_output_has "fake nvidia-smi"
    assert_output_has "cuInit: 0"
    assert_output_has "driver: fake 550.54.15"
    # the dynamic linker finds the libraries through the container's
    # ld.so.cache (the image's, with them added), not LD_LIBRARY_PATH
    assert_output_has "LD_LIBRARY_PATH="
    [[ $output == *"libcuda.so.1 (libc6,x86-64) => /usr/lib/husk-gpu/libcuda.so.1"* ]]
    [[ $output == *"libc.so.6 (libc6,x86-64) => /lib/x86_64-linux-gnu/libc.so.6"* ]]
    # the image is unchanged: new mount points live in a layer of husk's
    # own, under which the root stays read-only, as without --gpu; the
    # user's passwd entry and the cache are written whole in that layer
    [ "$(tree_state "$IMG_DEBIAN" | sha256sum)" = "$before" ]
    run -0 gpu -vv "$IMG_DEBIAN" -- sh -c 'touch /probe 2>&1; touch /usr/lib/probe 2>&1;
        grep -c "^$(id -un):" /etc/passwd'
    echo "$output"
    [ "$(grep -c 'Read-only file system' <<<"$output")" -eq 2 ]
    assert_output_has "husk: wrote /etc/passwd in the mount-point layer"
    assert_output_has "husk: wrote /etc/ld.so.cache in the mount-point layer"
    [ "${lines[-1]}" = 1 ]
    # under the host's /dev (the default) the fake tree's nodes, which the
    # host's /dev lacks, cannot be shown: one warning each, the rest works
    run -0 gpu "$IMG_DEBIAN" -- sh -c 'ls /usr/lib/husk-gpu; ls /dev/nvidia0 2>&1; true'
    [ "$(grep -c "is not in the host's /dev, where husk creates nothing" <<<"$output")" -eq 4 ]
    assert_output_has libcuda.so.1
}

@test "--gpu: the same in a SquashFS image" {
    local app
    app=$(cuda_app)
    run -0 gpu --dev=minimal -b "$app:/cuda-app" "$IMG_DEBIAN_SQFS" -- sh -c '
        ls /usr/lib/husk-gpu; /usr/bin/nvidia-smi; env -u LD_LIBRARY_PATH /cuda-app'
    echo "$output"
    assert_output_has libcuda.so.1
    assert_output_has "fake nvidia-smi"
    assert_output_has "driver: fake 550.54.15"
}

@test "--gpu: an image without ld.so.cache gets LD_LIBRARY_PATH instead, and says so at -v" {
    run -0 gpu -v "$IMG_BUSYBOX" -- sh -c 'echo "LD_LIBRARY_PATH=$LD_LIBRARY_PATH"'
    echo "$output"
    assert_output_has "LD_LIBRARY_PATH=/usr/lib/husk-gpu"
    [[ $output == *"has no /etc/ld.so.cache; LD_LIBRARY_PATH names the folders /usr/lib/husk-gpu"* ]]
}

@test "--gpu on an image the user owns: ldconfig inside still works under --overlay; -w uses LD_LIBRARY_PATH" {
    local before img=$BATS_TEST_TMPDIR/owned
    before=$(tree_sum "$IMG_DEBIAN_OWNED")
    # the cache is written into the overlay, not bound: ldconfig can replace it
    run -0 gpu --overlay --fake-root "$IMG_DEBIAN_OWNED" -- sh -c '
        /sbin/ldconfig -p | grep -c husk-gpu; /sbin/ldconfig && echo ldconfig-ok'
    echo "$output"
    assert_output_has 2
    assert_output_has ldconfig-ok
    [ "$(tree_sum "$IMG_DEBIAN_OWNED")" = "$before" ]
    # -w changes the image (here a copy): its cache is left alone
    copy_busybox "$img"
    cp "$IMG_DEBIAN/etc/ld.so.cache" "$img/etc/ld.so.cache"
    run -0 gpu -v -w "$img" -- sh -c 'echo "LD_LIBRARY_PATH=$LD_LIBRARY_PATH"'
    echo "$output"
    assert_output_has "LD_LIBRARY_PATH=/usr/lib/husk-gpu"
    [[ $output == *"the image is writable (-w)"* ]]
    cmp "$IMG_DEBIAN/etc/ld.so.cache" "$img/etc/ld.so.cache"
}

@test "--gpu -w: the mount points husk made in the image are gone when it ends; -b's and the program's stay" {
    local img=$BATS_TEST_TMPDIR/writable before
    copy_busybox "$img"
    before=$(cd "$img" && find . | sort)
    run -0 gpu -w "$img" -- sh -c 'test -s /usr/bin/nvidia-smi && ls /usr/lib/husk-gpu /lib/firmware/nvidia/*'
    echo "$output"
    assert_output_has libcuda.so.1
    assert_output_has gsp_ga10x.bin
    [ "$(cd "$img" && find . | sort)" = "$before" ]
    # A file the program wrote keeps its folders; -b's mount point stays,
    # as ch-run -w keeps it.
    run -0 gpu -w -b "$BATS_TEST_TMPDIR:/data" "$img" -- sh -c 'echo x > /usr/lib/husk-gpu/mine'
    [ -f "$img/usr/lib/husk-gpu/mine" ]
    [ ! -e "$img/usr/lib/husk-gpu/libcuda.so.1" ]
    [ ! -e "$img/usr/bin/nvidia-smi" ]
    [ -d "$img/data" ]
}

@test "--device: a library mounted under its file name (as nvidia-ctk mounts them) is found by its soname" {
    local app real
    app=$(cuda_app)
    real=$(readlink -f "$FAKE_NVIDIA/usr/lib/x86_64-linux-gnu/libcuda.so.1")
    spec ctk.yaml "---
cdiVersion: 0.5.0
kind: example.com/ctk
devices:
- name: gpu
  containerEdits:
    env: [CTK=1]
containerEdits:
  mounts:
  - hostPath: $real
    containerPath: /usr/lib/x86_64-linux-gnu/${real##*/}
    options: [ro, nosuid, nodev, bind]
  hooks:
  - hookName: createContainer
    path: /usr/bin/nvidia-cdi-hook
    args: [nvidia-cdi-hook, update-ldcache, --folder, /usr/lib/x86_64-linux-gnu]"
    [[ ${real##*/} == libcuda.so.550.54.15 ]]
    run -0 husk run --device example.com/ctk=gpu -b "$app:/cuda-app" "$IMG_DEBIAN" -- sh -c '
        /sbin/ldconfig -p | grep libcuda; /cuda-app'
    echo "$output"
    [[ $output == *"libcuda.so.1 (libc6,x86-64) => /usr/lib/x86_64-linux-gnu/libcuda.so.550.54.15"* ]]
    assert_output_has "driver: fake 550.54.15"
}

@test "--gpu: CUDA_VISIBLE_DEVICES and NVIDIA_VISIBLE_DEVICES select the GPU nodes" {
    CUDA_VISIBLE_DEVICES=1 run -0 gpu --dev=minimal "$IMG_BUSYBOX" -- ls /dev
    echo "$output"
    assert_output_has nvidia1
    assert_output_lacks nvidia0
    assert_output_has nvidiactl
    NVIDIA_VISIBLE_DEVICES=none run -0 gpu --dev=minimal "$IMG_BUSYBOX" -- ls /dev
    assert_output_lacks nvidia0
    assert_output_lacks nvidia1
    assert_output_has nvidiactl
    CUDA_VISIBLE_DEVICES=7 run -125 gpu --dev=minimal "$IMG_BUSYBOX" -- true
    assert_husk_error CUDA_VISIBLE_DEVICES 7
}

@test "--gpu: NVIDIA_DRIVER_CAPABILITIES selects library groups" {
    NVIDIA_DRIVER_CAPABILITIES=compute run -0 gpu "$IMG_BUSYBOX" -- ls /usr/lib/husk-gpu
    echo "$output"
    assert_output_has libcuda.so.1
    assert_output_lacks libnvidia-ml.so.1
    NVIDIA_DRIVER_CAPABILITIES=bogus run -125 gpu "$IMG_BUSYBOX" -- true
    assert_husk_error NVIDIA_DRIVER_CAPABILITIES
}

@test "--gpu: NVIDIA_DRIVER_CAPABILITIES as the command sees it: the image config's Env, then -e" {
    # CUDA images declare what they need in their config (NGC's: "compute,
    # utility,video"); the container's value wins over the host's, as the
    # environment's order has it, and libnvidia-container reads it there.
    local img=$BATS_TEST_TMPDIR/img
    copy_busybox "$img"
    mkdir -p "$img/.husk"
    printf '%s\n' '{"config":{"Env":["NVIDIA_DRIVER_CAPABILITIES=utility"]}}' >"$img/.husk/config.json"
    NVIDIA_DRIVER_CAPABILITIES=compute run -0 gpu "$img" -- sh -c \
        'ls /usr/lib/husk-gpu; echo "caps=$NVIDIA_DRIVER_CAPABILITIES"'
    echo "$output"
    assert_output_has libnvidia-ml.so.1
    assert_output_lacks libcuda.so.1
    assert_output_has caps=utility
    run -0 gpu -e NVIDIA_DRIVER_CAPABILITIES=compute "$img" -- ls /usr/lib/husk-gpu
    assert_output_has libcuda.so.1
    assert_output_lacks libnvidia-ml.so.1
    # --unset-env leaves the default, compute and utility
    run -0 gpu --unset-env NVIDIA_DRIVER_CAPABILITIES "$img" -- ls /usr/lib/husk-gpu
    assert_output_has libcuda.so.1
    assert_output_has libnvidia-ml.so.1
}

@test "--gpu on a node without a GPU: one line, exit 125" {
    HUSK_HOST_ROOT=$BATS_TEST_TMPDIR run -125 husk run --gpu "$IMG_BUSYBOX" -- true
    assert_husk_error "--gpu" "no NVIDIA GPU"
}

@test "--gpu=amd: /dev/kfd, the render nodes ROCR_VISIBLE_DEVICES selects, /opt/rocm" {
    ROCR_VISIBLE_DEVICES=1 HUSK_HOST_ROOT=$FAKE_AMD run -0 husk run --gpu=amd --dev=minimal \
        "$IMG_BUSYBOX" -- sh -c 'ls /dev /dev/dri; ls /opt/rocm'
    echo "$output"
    assert_output_has kfd
    assert_output_has renderD129
    assert_output_lacks renderD128
    [ -n "$(ls "$FAKE_AMD/opt/rocm")" ]
    assert_output_has "$(ls "$FAKE_AMD/opt/rocm" | head -1)"
}

@test "--dev=minimal: only the standard nodes, pts and shm; they work" {
    run -0 husk run --dev=minimal "$IMG_BUSYBOX" -- sh -c '
        ls /dev; echo x >/dev/null && echo null-ok; head -c 4 /dev/zero | wc -c;
        ls -d /dev/pts; readlink /dev/ptmx; readlink /dev/fd'
    echo "$output"
    for n in null zero full random urandom tty pts shm ptmx fd stdin stdout stderr; do
        assert_output_has "$n"
    done
    assert_output_has null-ok
    assert_output_has 4
    assert_output_has pts/ptmx
    assert_output_has /proc/self/fd
    # nothing else of the host's /dev
    assert_output_lacks fuse
    assert_output_lacks kmsg
}

# spec FILE TEXT: a CDI spec in the test's spec folder.
spec() { printf '%s\n' "$2" >"$HUSK_CDI_SPEC_DIRS/$1"; }

@test "--device: a JSON spec's env, device nodes, mounts and hooks" {
    mkdir -p "$BATS_TEST_TMPDIR/data" && echo hello >"$BATS_TEST_TMPDIR/data/file"
    spec vendor.json "{
  \"cdiVersion\": \"0.6.0\", \"kind\": \"example.com/card\",
  \"devices\": [
    {\"name\": \"a\", \"containerEdits\": {
       \"env\": [\"CARD=a\"],
       \"deviceNodes\": [{\"path\": \"/dev/card-a\", \"hostPath\": \"$FAKE_NVIDIA/dev/nvidia0\",
                          \"type\": \"c\", \"major\": 1, \"minor\": 3}]}},
    {\"name\": \"b\", \"containerEdits\": {
       \"deviceNodes\": [{\"path\": \"/dev/card-b\", \"hostPath\": \"$FAKE_NVIDIA/dev/nvidia1\"}]}}
  ],
  \"containerEdits\": {
    \"env\": [\"CARD_SPEC=1\"],
    \"mounts\": [{\"hostPath\": \"$BATS_TEST_TMPDIR/data\", \"containerPath\": \"/opt/card\",
                  \"options\": [\"ro\", \"nosuid\", \"nodev\", \"bind\"]}],
    \"hooks\": [{\"hookName\": \"createContainer\", \"path\": \"/usr/bin/nvidia-cdi-hook\",
                 \"args\": [\"nvidia-cdi-hook\", \"create-symlinks\", \"--link\", \"/opt/card/file::/opt/card-link\"]},
                {\"hookName\": \"createContainer\", \"path\": \"/usr/bin/nvidia-ctk\",
                 \"args\": [\"nvidia-ctk\", \"hook\", \"update-ldcache\", \"--folder\", \"/opt/card\"]}]
  }
}"
    run -0 husk run --dev=minimal --device example.com/card=a "$IMG_BUSYBOX" -- sh -c '
        echo "CARD=$CARD CARD_SPEC=$CARD_SPEC"; ls /dev; cat /opt/card/file /opt/card-link;
        echo "LD_LIBRARY_PATH=$LD_LIBRARY_PATH"; echo w >/opt/card/new || echo read-only'
    echo "$output"
    assert_output_has "CARD=a CARD_SPEC=1"
    assert_output_has card-a
    assert_output_lacks card-b
    [ "$(grep -c '^hello$' <<<"$output")" = 2 ]
    assert_output_has "LD_LIBRARY_PATH=/opt/card"
    assert_output_has read-only
    # =all: both
    run -0 husk run --dev=minimal --device example.com/card=all "$IMG_BUSYBOX" -- ls /dev
    assert_output_has card-a
    assert_output_has card-b
}

@test "--device: a YAML spec (nvidia-ctk's format) works the same" {
    spec nvidia.yaml "---
cdiVersion: 0.5.0
kind: nvidia.com/gpu
devices:
- name: \"0\"
  containerEdits:
    deviceNodes:
    - path: /dev/nvidia0
      hostPath: $FAKE_NVIDIA/dev/nvidia0
- name: \"1\"
  containerEdits:
    deviceNodes:
    - path: /dev/nvidia1
      hostPath: $FAKE_NVIDIA/dev/nvidia1
    - path: /dev/dri/renderD128
      hostPath: $FAKE_NVIDIA/dev/nvidia1
    hooks:
    - hookName: createContainer
      path: /usr/bin/nvidia-cdi-hook
      args: [nvidia-cdi-hook, create-symlinks, --link, ../renderD128::/dev/dri/by-path/pci-0000:3b:00.0-render]
    - hookName: createContainer
      path: /usr/bin/nvidia-cdi-hook
      args: [nvidia-cdi-hook, chmod, --mode, \"755\", --path, /dev/dri]
containerEdits:
  env:
  - NVIDIA_VISIBLE_DEVICES=void
  deviceNodes:
  - path: /dev/nvidiactl
    hostPath: $FAKE_NVIDIA/dev/nvidiactl
  hooks:
  - hookName: createContainer
    path: /usr/bin/nvidia-cdi-hook
    args: [nvidia-cdi-hook, enable-cuda-compat, --host-driver-version=550.54.15]
  - hookName: createContainer
    path: /usr/bin/nvidia-cdi-hook
    args: [nvidia-cdi-hook, disable-device-node-modification]"
    run -0 husk run --dev=minimal --device nvidia.com/gpu=1 "$IMG_BUSYBOX" -- sh -c 'ls /dev; env'
    echo "$output"
    assert_output_has nvidia1
    assert_output_lacks nvidia0
    assert_output_has nvidiactl
    assert_output_has NVIDIA_VISIBLE_DEVICES=void
    # nvidia-ctk 1.13 to 1.17 add a chmod hook for /dev/dri: nothing to do,
    # the folder is the user's own.
    run -0 husk run -v --dev=minimal --device nvidia.com/gpu=1 "$IMG_BUSYBOX" -- \
        sh -c 'test -c /dev/dri/renderD128 && test -c /dev/dri/by-path/pci-0000:3b:00.0-render &&
               test -r /dev/dri && test -x /dev/dri && echo dri-ok'
    echo "$output"
    assert_output_has dri-ok
    [[ "$output" == *"nvidia.com/gpu=1 ($HUSK_CDI_SPEC_DIRS/nvidia.yaml): hook chmod: nothing done"* ]]
    run -0 husk cdi list
    assert_output_has "nvidia.com/gpu=0  $HUSK_CDI_SPEC_DIRS/nvidia.yaml"
}

@test "--device: unknown names, mismatched nodes and unknown hooks are one line, exit 125" {
    spec a.json "{\"cdiVersion\": \"0.5.0\", \"kind\": \"example.com/x\", \"devices\": [
        {\"name\": \"one\", \"containerEdits\": {\"deviceNodes\": [{\"path\": \"/dev/x\",
          \"hostPath\": \"$FAKE_NVIDIA/dev/nvidia0\", \"type\": \"c\", \"major\": 195, \"minor\": 0}]}},
        {\"name\": \"two\", \"containerEdits\": {\"hooks\": [{\"hookName\": \"createContainer\",
          \"path\": \"/usr/local/bin/evil\", \"args\": [\"evil\"]}]}}]}"
    run -125 husk run --device example.com/x=three "$IMG_BUSYBOX" -- true
    assert_husk_error "example.com/x=three" one two
    run -125 husk run --device example.com/x=one "$IMG_BUSYBOX" -- true
    assert_husk_error "$HUSK_CDI_SPEC_DIRS/a.json" 195
    run -125 husk run --device example.com/x=two "$IMG_BUSYBOX" -- true
    assert_husk_error "$HUSK_CDI_SPEC_DIRS/a.json" /usr/local/bin/evil
    run -125 husk run --device not-qualified "$IMG_BUSYBOX" -- true
    assert_husk_error "--device not-qualified"
    # A spec that does not parse is skipped, as CDI's reference skips it: the
    # other specs' devices work, with a warning; its own are named missing,
    # with the reason.
    spec bad.yaml "cdiVersion: 9.9.9
kind: example.com/y
devices: [{name: one, containerEdits: {env: [Y=1]}}]"
    spec ok.json '{"cdiVersion": "0.5.0", "kind": "example.com/z", "devices": [
        {"name": "one", "containerEdits": {"env": ["Z=1"]}}]}'
    run -0 husk run --device example.com/z=one "$IMG_BUSYBOX" -- sh -c 'echo Z=$Z'
    assert_output_has Z=1
    [[ "$output" == *"husk: warning: $HUSK_CDI_SPEC_DIRS/bad.yaml: "*9.9.9*" (skipped)"* ]]
    run -125 husk run --device example.com/y=one "$IMG_BUSYBOX" -- true
    assert_husk_error "--device example.com/y=one: no CDI spec of the node offers kind" \
        "skipped: $HUSK_CDI_SPEC_DIRS/bad.yaml" 9.9.9
}

@test "--dev=host: a device not assigned is hidden, the assigned one works" {
    spec dev.json '{"cdiVersion": "0.3.0", "kind": "example.com/dev", "devices": [
        {"name": "full", "containerEdits": {"deviceNodes": [{"path": "/dev/full"}]}},
        {"name": "zero", "containerEdits": {"deviceNodes": [{"path": "/dev/zero"}]}}]}'
    run -0 husk run --device example.com/dev=full "$IMG_BUSYBOX" -- sh -c '
        head -c 1 /dev/zero >/dev/null 2>&1 && echo zero-open || echo zero-hidden;
        echo x 2>/dev/null >/dev/full || echo full-is-full'
    echo "$output"
    assert_output_has zero-hidden
    assert_output_has full-is-full
}

@test "husk cdi generate --gpu: a spec that husk run --device applies the same" {
    HUSK_HOST_ROOT=$FAKE_NVIDIA run -0 husk cdi generate --gpu
    printf '%s\n' "$output" >"$HUSK_CDI_SPEC_DIRS/nvidia.yaml"
    [[ $output == *"kind: nvidia.com/gpu"* ]]
    HUSK_HOST_ROOT=$FAKE_NVIDIA run -0 husk cdi generate --gpu --format json
    jq -e '.kind == "nvidia.com/gpu" and (.devices | length) == 2' <<<"$output"
    run -0 husk cdi list --json
    jq -e 'map(.name) | index("nvidia.com/gpu=1") != null' <<<"$output"
    run -0 husk run --dev=minimal --device nvidia.com/gpu=0 "$IMG_BUSYBOX" -- sh -c '
        ls /dev /usr/lib/husk-gpu; /usr/bin/nvidia-smi'
    echo "$output"
    assert_output_has nvidia0
    assert_output_lacks nvidia1
    assert_output_has libcuda.so.1
    assert_output_has "fake nvidia-smi"
}

@test "hostile images: /usr/lib/husk-gpu, /usr/bin, /lib/firmware and /dev symlinked out change nothing outside" {
    local img=$BATS_TEST_TMPDIR/hostile out=$BATS_TEST_TMPDIR/outside before
    copy_busybox "$img"
    mkdir -p "$out/lib" "$out/fw" "$out/dev" "$img/usr/lib" "$img/lib" "$img/etc"
    rm -rf "$img/dev" "$img/usr/lib/husk-gpu" "$img/lib/firmware"
    ln -s "$out/lib" "$img/usr/lib/husk-gpu"
    ln -s "$out/fw" "$img/lib/firmware"
    ln -s "$out/dev" "$img/dev"
    ln -sf "$out/ld.so.cache" "$img/etc/ld.so.cache"
    before=$(tree_state "$out" | sha256sum)
    # the mount-point layer writes nothing through the image's symlinks
    # either: an /etc that leads out of the image gets no passwd there
    local etc=$BATS_TEST_TMPDIR/etc-image
    copy_busybox "$etc"
    mkdir -p "$out/etc"
    rm -rf "$etc/etc"
    ln -s "$out/etc" "$etc/etc"
    for dev in minimal host; do
        run gpu --dev=$dev "$etc" -- true
        echo "$output"
        [ "$status" -eq 0 ] || [ "$status" -eq 125 ]
        [ -z "$(ls -A "$out/etc")" ]
    done
    before=$(tree_state "$out" | sha256sum)
    for dev in minimal host; do
        run gpu --dev=$dev "$img" -- sh -c 'ls /usr/lib/husk-gpu /dev; /usr/bin/nvidia-smi'
        echo "$output"
        [ "$status" -eq 0 ] || [ "$status" -eq 125 ]
        [ "$(tree_state "$out" | sha256sum)" = "$before" ]
    done
    # The links resolve inside the container, where $out is under the host's
    # /tmp (a bind: husk creates nothing there, and says so); over a
    # private /tmp they lead into husk's own tmpfs, and the libraries are there.
    run -125 gpu --dev=minimal "$img" -- true
    assert_husk_error "not part of the image"
    run -0 gpu --dev=minimal --private-tmp "$img" -- ls /usr/lib/husk-gpu
    assert_output_has libcuda.so.1
    [ -z "$(ls -A "$out/lib")" ]
    [ "$(tree_state "$out" | sha256sum)" = "$before" ]
}

@test "the site config's devices: every container gets them, before --device" {
    spec dev.json "{\"cdiVersion\": \"0.5.0\", \"kind\": \"example.com/fake\", \"devices\": [
        {\"name\": \"0\", \"containerEdits\": {\"env\": [\"SITE_DEVICE=yes\"],
          \"deviceNodes\": [{\"path\": \"/dev/fake0\", \"hostPath\": \"$FAKE_NVIDIA/dev/nvidia0\"}]}},
        {\"name\": \"1\", \"containerEdits\": {
          \"deviceNodes\": [{\"path\": \"/dev/fake1\", \"hostPath\": \"$FAKE_NVIDIA/dev/nvidia1\"}]}}]}"
    printf '{"devices": ["example.com/fake=0"]}\n' >"$BATS_TEST_TMPDIR/site.json"
    HUSK_CONFIG=$BATS_TEST_TMPDIR/site.json run -0 husk run --dev=minimal "$IMG_BUSYBOX" -- \
        sh -c 'ls /dev; echo "SITE_DEVICE=$SITE_DEVICE"'
    echo "$output"
    assert_output_has fake0
    assert_output_lacks fake1
    assert_output_has SITE_DEVICE=yes
    HUSK_CONFIG=$BATS_TEST_TMPDIR/site.json run -0 husk run --dev=minimal \
        --device example.com/fake=1 "$IMG_BUSYBOX" -- ls /dev
    assert_output_has fake0
    assert_output_has fake1
    HUSK_CONFIG=$BATS_TEST_TMPDIR/site.json run -0 husk check
    [[ $output == *"devices             example.com/fake=0  ($BATS_TEST_TMPDIR/site.json)"* ]]
    printf '{"devices": ["example.com/fake=9"]}\n' >"$BATS_TEST_TMPDIR/site.json"
    HUSK_CONFIG=$BATS_TEST_TMPDIR/site.json run -125 husk run "$IMG_BUSYBOX" -- true
    assert_husk_error "example.com/fake=9"
}
