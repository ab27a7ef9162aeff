#!/usr/bin/env python3
"""make-seeds.py -- write the fuzz harnesses' seed inputs into test/fuzz/seeds/.

  test/fuzz/make-seeds.py [IMAGE_DIR]

Seeds are small valid inputs of each shape a harness reads, so that the
fuzzer starts from what real images look like:
  seeds/tar_layer/   layers as container tools write them: a few files from
                     IMAGE_DIR (default: the busybox fixture if it exists,
                     else made-up files), a directory, a symlink, a hard link,
                     whiteouts (.wh.NAME, .wh..wh..opq); plain, gzip
                     (one and two members), xz and bzip2.
  seeds/squashfs/    small SquashFS images (gzip and zstd, 4 KiB blocks) of
                     the same files, with a directory tree, a symlink, a
                     file of several blocks, a fragment and the image's OCI
                     config, as mksquashfs writes them (when it is installed).
  seeds/image_json/  an OCI image config; a docker-archive and an OCI layout
                     (index, manifest, config, one layer) in the harness's
                     part format (see image_json.cpp), as podman save writes
                     them.
  seeds/cdi_spec/    CDI specs: one of each version 0.3.0 to 1.1.0 with the
                     fields it added, in JSON and YAML by turns; nvidia-ctk's
                     (YAML, with its hooks) and the CDI repository's example
                     (JSON).
  seeds/site_config/ site configs: the example the project installs
                     (examples/site-config/husk.json) and one with every
                     key.
  seeds/registry_reply/ what registries send (in the harness's format: a
                     mode byte, then the text): WWW-Authenticate headers of
                     Docker Hub's and a basic realm, an OCI index of two
                     platforms, a Docker manifest list, OCI and Docker
                     manifests, and references.
  seeds/ld_cache/    ld.so.caches as ldconfig writes them: glibc's new
                     format, the new with an extension of glibc-hwcaps
                     folders (glibc 2.33 and later), and the old format
                     followed by the new (glibc before 2.32).
Deterministic: the same IMAGE_DIR gives the same bytes (mtimes fixed).
"""
import bz2
import gzip
import io
import json
import lzma
import os
import subprocess
import sys
import shutil
import tarfile
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "seeds")
MTIME = 1700000000


def tar_bytes(members):
    """members: (name, kind, data/target, mode) -> a pax tar."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        for name, kind, payload, mode in members:
            i = tarfile.TarInfo(name)
            i.mtime = MTIME
            i.mode = mode
            i.uname = i.gname = "root"
            if kind == "dir":
                i.type = tarfile.DIRTYPE
                t.addfile(i)
            elif kind == "sym":
                i.type = tarfile.SYMTYPE
                i.linkname = payload
                t.addfile(i)
            elif kind == "hard":
                i.type = tarfile.LNKTYPE
                i.linkname = payload
                t.addfile(i)
            else:
                i.size = len(payload)
                t.addfile(i, io.BytesIO(payload))
    return buf.getvalue()


def from_image(image_dir):
    """A few small files of a real image, as layer members."""
    members = [("./", "dir", None, 0o755), ("./etc/", "dir", None, 0o755)]
    for rel in ("etc/passwd", "etc/group", "husk-image", "etc/os-release"):
        p = os.path.join(image_dir, rel)
        if os.path.isfile(p) and not os.path.islink(p):
            with open(p, "rb") as f:
                members.append(("./" + rel, "file", f.read()[:4096], 0o644))
    return members


def layer_members(image_dir):
    members = from_image(image_dir) if image_dir else [("./", "dir", None, 0o755)]
    members += [
        ("./usr/", "dir", None, 0o755),
        ("./usr/bin/", "dir", None, 0o755),
        ("./usr/bin/tool", "file", b"#!/bin/sh\necho tool\n", 0o755),
        ("./bin", "sym", "usr/bin", 0o777),
        ("./usr/bin/tool2", "hard", "./usr/bin/tool", 0o755),
        ("./etc/.wh.shadow", "file", b"", 0o644),
        ("./var/", "dir", None, 0o755),
        ("./var/.wh..wh..opq", "file", b"", 0o644),
    ]
    return members


def write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


def gz(data):
    return gzip.compress(data, mtime=MTIME)


# The fields each CDI version added (SPEC.md), cumulatively.
CDI_VERSIONS = ["0.3.0", "0.4.0", "0.5.0", "0.6.0", "0.7.0", "0.8.0", "1.0.0", "1.1.0"]


def cdi_spec(version):
    """A spec of `version` that uses every field it has."""
    at = CDI_VERSIONS.index(version)
    node = {"path": "/dev/vendor0", "type": "c", "major": 240, "minor": 0, "fileMode": 0o666,
            "permissions": "rw", "uid": 0, "gid": 44}
    mount = {"hostPath": "/usr/lib/libvendor.so.1", "containerPath": "/usr/lib/libvendor.so.1",
             "options": ["ro", "nosuid", "nodev", "bind"]}
    device = {"name": "gpu0", "containerEdits": {"env": ["VENDOR_DEVICE=0"], "deviceNodes": [node]}}
    spec = {"cdiVersion": version, "kind": "vendor.com/device", "devices": [device],
            "containerEdits": {
                "env": ["VENDOR=1"], "mounts": [mount],
                "hooks": [{"hookName": "createContainer", "path": "/usr/bin/nvidia-cdi-hook",
                           "args": ["nvidia-cdi-hook", "update-ldcache", "--folder", "/usr/lib"],
                           "env": ["NVIDIA_CTK_DEBUG=false"], "timeout": 10}]}}
    if at >= CDI_VERSIONS.index("0.4.0"):
        mount["type"] = "bind"
    if at >= CDI_VERSIONS.index("0.5.0"):
        node["hostPath"] = "/dev/vendor0"
        spec["devices"].append({"name": "1", "containerEdits": {"env": ["VENDOR_DEVICE=1"]}})
    if at >= CDI_VERSIONS.index("0.6.0"):
        spec["kind"] = "vendor.com/device.mig"
        spec["annotations"] = {"vendor.com/spec": "seed"}
        device["annotations"] = {"uuid": "VENDOR-0000"}
    if at >= CDI_VERSIONS.index("0.7.0"):
        device["containerEdits"]["additionalGids"] = [44]
        rdt = {"closID": "vendor", "l3CacheSchema": "L3:0=ff", "memBwSchema": "MB:0=50"}
        if at < CDI_VERSIONS.index("1.1.0"):
            rdt["enableCMT"] = True
        else:
            rdt["schemata"] = ["L2:0=f"]
            rdt["enableMonitoring"] = True
            device["containerEdits"]["netDevices"] = [{"hostInterfaceName": "ib0", "name": "ib0"}]
        device["containerEdits"]["intelRdt"] = rdt
    return spec


def yaml_of(value, indent=0):
    """Block YAML of a JSON value, strings quoted where YAML would read them
    otherwise (no yaml module needed)."""
    pad = " " * indent
    if isinstance(value, dict):
        out = ""
        for k, v in value.items():
            if isinstance(v, (dict, list)) and v:
                out += f"{pad}{k}:\n" + yaml_of(v, indent + 2)
            else:
                out += f"{pad}{k}: " + yaml_of(v, 0).lstrip()
        return out
    if isinstance(value, list):
        out = ""
        for v in value:
            inner = yaml_of(v, indent + 2)
            out += f"{pad}- " + inner.lstrip()
        return out
    if isinstance(value, bool):
        return ("true" if value else "false") + "\n"
    if isinstance(value, int):
        return f"{value}\n"
    plain = value and value[0].isalpha() and all(c.isalnum() or c in "/_.=:-" for c in value)
    return (value if plain and value.lower() not in ("true", "false", "null", "yes", "no", "on",
                                                     "off", "y", "n") else json.dumps(value)) + "\n"


NVIDIA_CTK_SPEC = """---
cdiVersion: 0.5.0
kind: nvidia.com/gpu
devices:
    - name: "0"
      containerEdits:
        deviceNodes:
            - path: /dev/nvidia0
              hostPath: /dev/nvidia0
    - name: GPU-4cf8db2d-06c0-7d70-1a51-e59b25b2c16c
      containerEdits:
        deviceNodes:
            - path: /dev/nvidia0
              hostPath: /dev/nvidia0
    - name: all
      containerEdits:
        deviceNodes:
            - path: /dev/nvidia0
              hostPath: /dev/nvidia0
containerEdits:
    env:
        - NVIDIA_CTK_LIBCUDA_DIR=/usr/lib/x86_64-linux-gnu
        - NVIDIA_VISIBLE_DEVICES=void
    deviceNodes:
        - path: /dev/nvidia-modeset
          hostPath: /dev/nvidia-modeset
        - path: /dev/nvidia-uvm
          hostPath: /dev/nvidia-uvm
        - path: /dev/nvidiactl
          hostPath: /dev/nvidiactl
    hooks:
        - hookName: createContainer
          path: /usr/bin/nvidia-cdi-hook
          args:
            - nvidia-cdi-hook
            - create-symlinks
            - --link
            - libcuda.so.1::/usr/lib/x86_64-linux-gnu/libcuda.so
            - --link=libnvidia-ml.so.1::/usr/lib/x86_64-linux-gnu/libnvidia-ml.so
          env:
            - NVIDIA_CTK_DEBUG=false
        - hookName: createContainer
          path: /usr/bin/nvidia-cdi-hook
          args:
            - nvidia-cdi-hook
            - enable-cuda-compat
            - --host-driver-version=570.86.15
        - hookName: createContainer
          path: /usr/bin/nvidia-cdi-hook
          args: [nvidia-cdi-hook, update-ldcache, --folder, /usr/lib/x86_64-linux-gnu]
        - hookName: createContainer
          path: /usr/bin/nvidia-ctk
          args: [nvidia-ctk, hook, disable-device-node-modification]
        - hookName: createContainer
          path: /usr/bin/nvidia-cdi-hook
          args: [nvidia-cdi-hook, chmod, --mode, "755", --path, /dev/dri]
    mounts:
        - hostPath: /usr/lib/x86_64-linux-gnu/libcuda.so.570.86.15
          containerPath: /usr/lib/x86_64-linux-gnu/libcuda.so.570.86.15
          options:
            - ro
            - nosuid
            - nodev
            - rbind
            - rprivate
        - hostPath: /run/nvidia-persistenced/socket
          containerPath: /run/nvidia-persistenced/socket
          options: [ro, nosuid, nodev, rbind, rprivate, noexec]
        - hostPath: tmpfs
          containerPath: /var/run/vendor
          type: tmpfs
          options: [nosuid, size=1m]
"""

CDI_EXAMPLE = {
    "cdiVersion": "0.6.0", "kind": "vendor.com/device",
    "devices": [{"name": "myDevice", "containerEdits": {"deviceNodes": [
        {"hostPath": "/vendorroot/dev/card1", "path": "/dev/card1"}, {"path": "/dev/card2"}]}}],
    "containerEdits": {
        "env": ["FOO=CDI_SPEC", "BAR=BARVALUE1"],
        "deviceNodes": [{"path": "/dev/vendorctl", "uid": 1000, "gid": 1000}],
        "mounts": [{"hostPath": "/bin/vendorBin", "containerPath": "/bin/vendorBin"},
                   {"hostPath": "/usr/lib/libVendor.so.0",
                    "containerPath": "/usr/lib/libVendor.so.0"}],
        "hooks": [{"hookName": "createContainer", "path": "/bin/vendor-hook"},
                  {"hookName": "startContainer", "path": "/usr/bin/ldconfig"}]}}


def write_cdi_seeds():
    cs = os.path.join(OUT, "cdi_spec")
    for i, v in enumerate(CDI_VERSIONS):
        name = "v" + v.replace(".", "_")
        if i % 2 == 0:
            write(os.path.join(cs, name + ".json"), json.dumps(cdi_spec(v), indent=2).encode())
        else:
            write(os.path.join(cs, name + ".yaml"), ("---\n" + yaml_of(cdi_spec(v))).encode())
    write(os.path.join(cs, "nvidia-ctk.yaml"), NVIDIA_CTK_SPEC.encode())
    write(os.path.join(cs, "cdi-example.json"), json.dumps(CDI_EXAMPLE, indent=2).encode())


# Every key of husk.json(5), each with a value of its kind.
EVERY_KEY = {
    "storage": "/local/${USER}-${UID}/husk",
    "binds": ["/scratch", "/projects:/p:ro", "/data:/data:rw"],
    "cdi_spec_dirs": ["/etc/cdi", "/var/run/cdi"],
    "devices": ["nvidia.com/gpu=all"],
    "max_unpack_bytes": 68719476736,
    "max_unpack_entries": 10000000,
    "runtime_dir": "/run/user/${UID}/husk",
    "linger": 60,
    "fuse_cpu_limit": 30,
    "mpi": "host",
    "mpi_abi_policy": "strict",
    "mpi_libraries": ["/usr/lib/x86_64-linux-gnu/libmpich.so.12"],
    "legacy_mounts": False,
}


def write_site_config_seeds():
    sc = os.path.join(OUT, "site_config")
    os.makedirs(sc, exist_ok=True)
    example = os.path.join(HERE, "..", "..", "examples", "site-config", "husk.json")
    with open(example, "rb") as f:
        write(os.path.join(sc, "example.json"), f.read())
    write(os.path.join(sc, "every-key.json"), (json.dumps(EVERY_KEY, indent=2) + "\n").encode())


def write_registry_reply_seeds():
    rr = os.path.join(OUT, "registry_reply")
    os.makedirs(rr, exist_ok=True)
    a, b, c = "a" * 64, "b" * 64, "c" * 64
    write(os.path.join(rr, "bearer.bin"), b"\x00" + b'Bearer realm="https://auth.docker.io/token",'
          b'service="registry.docker.io",scope="repository:library/ubuntu:pull"')
    write(os.path.join(rr, "basic.bin"), b"\x00" + b'Basic realm="Registry Realm"')
    index = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
             "manifests": [
                 {"mediaType": "application/vnd.oci.image.manifest.v1+json",
                  "digest": "sha256:" + a, "size": 500,
                  "platform": {"architecture": "amd64", "os": "linux"}},
                 {"mediaType": "application/vnd.oci.image.manifest.v1+json",
                  "digest": "sha256:" + b, "size": 500,
                  "platform": {"architecture": "arm64", "os": "linux", "variant": "v8"}}]}
    write(os.path.join(rr, "oci-index.bin"), b"\x01" + json.dumps(index, indent=2).encode())
    mlist = dict(index, mediaType="application/vnd.docker.distribution.manifest.list.v2+json")
    write(os.path.join(rr, "docker-list.bin"), b"\x01" + json.dumps(mlist).encode())
    manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                           "digest": "sha256:" + a, "size": 1200},
                "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                            "digest": "sha256:" + b, "size": 30000000},
                           {"mediaType": "application/vnd.oci.image.layer.v1.tar+zstd",
                            "digest": "sha256:" + c, "size": 1000}]}
    write(os.path.join(rr, "oci-manifest.bin"), b"\x02" + json.dumps(manifest, indent=2).encode())
    docker = dict(manifest, mediaType="application/vnd.docker.distribution.manifest.v2+json")
    write(os.path.join(rr, "docker-manifest.bin"), b"\x02" + json.dumps(docker).encode())
    for i, ref in enumerate(["ubuntu", "docker://127.0.0.1:5000/group/app:1.2",
                             "ghcr.io/org/tool:v1@sha256:" + a]):
        write(os.path.join(rr, f"reference-{i}.bin"), b"\x03" + ref.encode())


def ld_cache(entries, hwcaps=(), old=False):
    """entries: (flags, soname, path, hwcap) -> an ld.so.cache as glibc's
    ldconfig lays it out (dl-cache.h): the new header, its entries, the
    strings, then an extension (generator, glibc-hwcaps folders); with
    old=True, the old table ("ld.so-1.7.0") first, as ldconfig -c compat.
    String offsets count from the new header; the extension's offsets
    from the start of the file."""
    import struct
    n = len(entries)
    oldhead = 16 + 12 * n
    pad = -oldhead % 8
    start = oldhead + pad if old else 0  # where the new header is
    head = 48 + 24 * n
    strings = b""
    offsets = {}

    def intern(text):
        nonlocal strings
        if text not in offsets:
            offsets[text] = head + len(strings)
            strings += text.encode() + b"\0"
        return offsets[text]

    table = b"".join(struct.pack("<iIIIQ", f, intern(k), intern(v), 0, h)
                     for f, k, v, h in entries)
    hw = [intern(h) for h in hwcaps]
    body = table + strings
    body += b"\0" * (-(48 + len(body)) % 4)
    ext = start + 48 + len(body)
    gen = b"ldconfig (seed)"
    count = 2 if hw else 1
    data = ext + 8 + 16 * count
    sections = struct.pack("<IIII", 0, 0, data, len(gen))
    tail = gen + b"\0" * (-(data + len(gen)) % 4)
    if hw:
        sections += struct.pack("<IIII", 1, 0, data + len(tail), 4 * len(hw))
        tail += b"".join(struct.pack("<I", o) for o in hw)
    new = (b"glibc-ld.so.cache1.1" + struct.pack("<IIB3xI12x", n, len(strings), 2, ext) +
           body + struct.pack("<II", 0xeaa42174, count) + sections + tail)
    if not old:
        return new
    # The old table's offsets count from the end of its own entries.
    oldtab = b"".join(struct.pack("<iII", f & 0xffff, pad + intern(k), pad + intern(v))
                      for f, k, v, _ in entries)
    return b"ld.so-1.7.0\0" + struct.pack("<I", n) + oldtab + b"\0" * pad + new


def write_ld_cache_seeds():
    lc = os.path.join(OUT, "ld_cache")
    libs = [(0x303, "libz.so.1", "/lib/x86_64-linux-gnu/libz.so.1", 0),
            (0x303, "libm.so.6", "/lib/x86_64-linux-gnu/libm.so.6", 0),
            (0x003, "libm.so.6", "/lib/i386-linux-gnu/libm.so.6", 0),
            (0x303, "libc.so.6", "/lib/x86_64-linux-gnu/libc.so.6", 0)]
    write(os.path.join(lc, "new.cache"), ld_cache(libs))
    hw = [(0x303, "libz.so.1", "/lib/x86_64-linux-gnu/glibc-hwcaps/x86-64-v3/libz.so.1",
           (1 << 62) | 0)] + libs
    write(os.path.join(lc, "hwcaps.cache"), ld_cache(hw, hwcaps=["x86-64-v3"]))
    write(os.path.join(lc, "compat.cache"), ld_cache(libs, old=True))
    write(os.path.join(lc, "compat-hwcaps.cache"), ld_cache(hw, hwcaps=["x86-64-v3"], old=True))


def main():
    image_dir = sys.argv[1] if len(sys.argv) > 1 else None
    if image_dir is None:
        try:
            image_dir = subprocess.run(
                [os.path.join(HERE, "..", "fixtures", "make-images.sh"), "--print-path", "busybox"],
                capture_output=True, text=True, check=True).stdout.strip()
        except (OSError, subprocess.CalledProcessError):
            image_dir = None
        if image_dir and not os.path.isdir(image_dir):
            image_dir = None
    layer = tar_bytes(layer_members(image_dir))
    half = len(layer) // 2
    tl = os.path.join(OUT, "tar_layer")
    write(os.path.join(tl, "plain.tar"), layer)
    write(os.path.join(tl, "gzip.tar.gz"), gz(layer))
    write(os.path.join(tl, "gzip-two-members.tar.gz"), gz(layer[:half]) + gz(layer[half:]))
    write(os.path.join(tl, "xz.tar.xz"), lzma.compress(layer))
    write(os.path.join(tl, "bzip2.tar.bz2"), bz2.compress(layer))

    config = {
        "architecture": "amd64", "os": "linux",
        "config": {"Env": ["PATH=/usr/local/bin:/usr/bin:/bin", "LANG=C.UTF-8"],
                   "Entrypoint": ["/bin/sh", "-c"], "Cmd": ["echo hello"],
                   "WorkingDir": "/root", "User": "1000:1000"},
        "rootfs": {"type": "layers", "diff_ids": ["@D2"]},
    }
    ij = os.path.join(OUT, "image_json")
    cfg = json.dumps(config, indent=1).encode()
    write(os.path.join(ij, "config.json.bin"), b"\x00" + cfg)
    sep = b"\n@@\n"
    docker_manifest = json.dumps(
        [{"Config": "p1", "RepoTags": ["localhost/seed:latest"], "Layers": ["p2"]}]).encode()
    write(os.path.join(ij, "docker-archive.bin"),
          b"\x01" + docker_manifest + sep + cfg + sep + layer)
    oci_config = json.dumps(dict(config, rootfs={"type": "layers", "diff_ids": ["@D3"]})).encode()
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": "@D2", "size": "@S2"},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                    "digest": "@D3", "size": "@S3"}]}).encode()
    index = json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
                       "digest": "@D1", "size": "@S1",
                       "platform": {"architecture": "amd64", "os": "linux"}}]}).encode()
    # sizes are numbers in JSON: drop the quotes around the placeholders
    manifest = manifest.replace(b'"@S2"', b"@S2").replace(b'"@S3"', b"@S3")
    index = index.replace(b'"@S1"', b"@S1")
    write(os.path.join(ij, "oci-layout.bin"),
          b"\x02" + index + sep + manifest + sep + oci_config + sep + gz(layer))
    if shutil.which("mksquashfs"):
        sq = os.path.join(OUT, "squashfs")
        os.makedirs(sq, exist_ok=True)
        with tempfile.TemporaryDirectory() as tree:
            with tarfile.open(fileobj=io.BytesIO(layer)) as t:
                for m in t.getmembers():
                    if not m.name.split("/")[-1].startswith(".wh."):
                        t.extract(m, tree, set_attrs=False)
            os.makedirs(os.path.join(tree, ".husk"), exist_ok=True)
            with open(os.path.join(tree, ".husk", "config.json"), "wb") as f:
                f.write(cfg)
            with open(os.path.join(tree, "usr", "blocks"), "wb") as f:
                f.write(b"".join(b"block %06d\n" % i for i in range(1500)))
            for dirpath, dirnames, filenames in os.walk(tree):
                for n in dirnames + filenames:
                    os.utime(os.path.join(dirpath, n), (MTIME, MTIME), follow_symlinks=False)
            for comp in ("gzip", "zstd"):
                out = os.path.join(sq, f"{comp}.sqfs")
                if os.path.exists(out):
                    os.unlink(out)
                subprocess.run(["mksquashfs", tree, out, "-noappend", "-all-root", "-comp", comp,
                                "-b", "4096", "-quiet", "-no-progress", "-mkfs-time", str(MTIME),
                                "-all-time", str(MTIME), "-no-xattrs"],
                               check=True, stdout=subprocess.DEVNULL)
    write_cdi_seeds()
    write_site_config_seeds()
    write_registry_reply_seeds()
    write_ld_cache_seeds()
    print(f"make-seeds: wrote {OUT}")


if __name__ == "__main__":
    main()
