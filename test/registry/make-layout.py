#!/usr/bin/python3
"""make-layout.py -- a small OCI image layout for husk's registry tests.

    make-layout.py ROOTFS OUTDIR

Writes OUTDIR, an OCI image layout (oci-layout, index.json, blobs/sha256),
the same bytes for the same ROOTFS on every run (sorted entries, owner
root, fixed times, gzip without a name or time), with two references:

  small  one image for this machine's platform (linux/amd64 on x86_64)
  multi  an OCI image index of three images: linux/amd64, linux/arm64 and
         linux/arm/v7, in that order

Every image has three gzip layers:
  1. ROOTFS (a busybox tree), shared by all;
  2. /husk-data/blob, 4 MiB of pseudo-random bytes (sha256 in counter mode,
     incompressible: a download long enough to cut or race), shared;
  3. /husk-platform, one line naming the image's platform ("linux/amd64",
     "linux/arm64", "linux/arm/v7"): which image was pulled;
and a config with that architecture (and variant), Env PATH, Cmd
["cat", "/husk-platform"]. The arm images' binaries are this machine's:
they are for pulling and reading, not running.

Prints, one per line, `small MANIFEST-DIGEST`, `multi INDEX-DIGEST`, then
`PLATFORM MANIFEST-DIGEST` for each platform and `layer:NAME DIGEST` for
the shared layers (rootfs, data) and each marker (marker:PLATFORM).

Python standard library only."""

import gzip
import hashlib
import io
import json
import os
import platform
import sys
import tarfile

MTIME = 1700000000
MT_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MT_INDEX = "application/vnd.oci.image.index.v1+json"
MT_CONFIG = "application/vnd.oci.image.config.v1+json"
MT_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
DATA_SIZE = 4 << 20

PLATFORMS = [("amd64", ""), ("arm64", ""), ("arm", "v7")]


def host_platform():
    m = platform.machine()
    return {"x86_64": ("amd64", ""), "aarch64": ("arm64", ""), "armv7l": ("arm", "v7")}.get(m, (m, ""))


def pstr(arch, variant):
    return "linux/" + arch + ("/" + variant if variant else "")


class Layout:
    def __init__(self, out):
        self.out = out
        os.makedirs(os.path.join(out, "blobs", "sha256"), exist_ok=True)

    def blob(self, data: bytes) -> str:
        hexd = hashlib.sha256(data).hexdigest()
        path = os.path.join(self.out, "blobs", "sha256", hexd)
        if not os.path.exists(path):
            with open(path + ".tmp", "wb") as f:
                f.write(data)
            os.rename(path + ".tmp", path)
        return "sha256:" + hexd


def norm(ti: tarfile.TarInfo) -> tarfile.TarInfo:
    ti.uid = ti.gid = 0
    ti.uname = ti.gname = "root"
    ti.mtime = MTIME
    return ti


def tar_tree(root: str) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tar:
        entries = []
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames.sort()
            for name in sorted(dirnames + filenames):
                entries.append(os.path.join(dirpath, name))
            # symlinks to directories are listed, not entered (os.walk's default)
        for full in sorted(entries, key=lambda p: os.path.relpath(p, root).split(os.sep)):
            rel = os.path.relpath(full, root)
            ti = tar.gettarinfo(full, arcname=rel)
            if ti is None or not (ti.isreg() or ti.isdir() or ti.issym() or ti.islnk()):
                continue  # sockets, device nodes: not in a test image
            norm(ti)
            if ti.isreg():
                with open(full, "rb") as f:
                    tar.addfile(ti, f)
            else:
                tar.addfile(ti)
    return buf.getvalue()


def tar_files(files) -> bytes:
    """files: [(path, bytes or None for a directory)]"""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for path, data in files:
            ti = tarfile.TarInfo(path)
            if data is None:
                ti.type = tarfile.DIRTYPE
                ti.mode = 0o755
                tar.addfile(norm(ti))
            else:
                ti.size = len(data)
                ti.mode = 0o644
                tar.addfile(norm(ti), io.BytesIO(data))
    return buf.getvalue()


def pseudo_random(n: int) -> bytes:
    out = bytearray()
    i = 0
    while len(out) < n:
        out += hashlib.sha256(b"husk-test-data-%d" % i).digest()
        i += 1
    return bytes(out[:n])


def main():
    if len(sys.argv) != 3:
        print(__doc__.split("\n\n")[1], file=sys.stderr)
        return 2
    rootfs, out = sys.argv[1], sys.argv[2]
    lay = Layout(out)

    def layer(tar_bytes):
        gz = gzip.compress(tar_bytes, compresslevel=6, mtime=0)
        return {"diff_id": "sha256:" + hashlib.sha256(tar_bytes).hexdigest(),
                "desc": {"mediaType": MT_LAYER, "digest": lay.blob(gz), "size": len(gz)}}

    base = layer(tar_tree(rootfs))
    data = layer(tar_files([("husk-data", None), ("husk-data/blob", pseudo_random(DATA_SIZE))]))
    printed = [("layer:rootfs", base["desc"]["digest"]), ("layer:data", data["desc"]["digest"])]

    manifests = {}
    for arch, variant in PLATFORMS:
        ps = pstr(arch, variant)
        marker = layer(tar_files([("husk-platform", (ps + "\n").encode())]))
        printed.append(("marker:" + ps, marker["desc"]["digest"]))
        layers = [base, data, marker]
        config = {
            "created": "2023-11-14T22:13:20Z",
            "architecture": arch,
            "os": "linux",
            "config": {
                "Env": ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"],
                "Cmd": ["cat", "/husk-platform"],
                "WorkingDir": "/",
            },
            "rootfs": {"type": "layers", "diff_ids": [l["diff_id"] for l in layers]},
            "history": [
                {"created": "2023-11-14T22:13:20Z", "created_by": "husk test: busybox"},
                {"created": "2023-11-14T22:13:20Z", "created_by": "husk test: 4 MiB of data"},
                {"created": "2023-11-14T22:13:20Z", "created_by": "husk test: " + ps},
            ],
        }
        if variant:
            config["variant"] = variant
        cfg = json.dumps(config, sort_keys=True, separators=(",", ":")).encode()
        manifest = {
            "schemaVersion": 2,
            "mediaType": MT_MANIFEST,
            "config": {"mediaType": MT_CONFIG, "digest": lay.blob(cfg), "size": len(cfg)},
            "layers": [l["desc"] for l in layers],
        }
        mb = json.dumps(manifest, sort_keys=True, indent=2).encode()
        plat = {"architecture": arch, "os": "linux"}
        if variant:
            plat["variant"] = variant
        manifests[(arch, variant)] = {"mediaType": MT_MANIFEST, "digest": lay.blob(mb),
                                      "size": len(mb), "platform": plat}

    index = {"schemaVersion": 2, "mediaType": MT_INDEX,
             "manifests": [manifests[p] for p in PLATFORMS]}
    ib = json.dumps(index, sort_keys=True, indent=2).encode()
    index_desc = {"mediaType": MT_INDEX, "digest": lay.blob(ib), "size": len(ib)}

    host = host_platform()
    small = dict(manifests.get(host, manifests[PLATFORMS[0]]))
    small["annotations"] = {"org.opencontainers.image.ref.name": "small"}
    multi = dict(index_desc)
    multi["annotations"] = {"org.opencontainers.image.ref.name": "multi"}
    with open(os.path.join(out, "index.json"), "w") as f:
        json.dump({"schemaVersion": 2, "manifests": [small, multi]}, f, sort_keys=True, indent=2)
    with open(os.path.join(out, "oci-layout"), "w") as f:
        json.dump({"imageLayoutVersion": "1.0.0"}, f)

    print("small", small["digest"])
    print("multi", index_desc["digest"])
    for p in PLATFORMS:
        print(pstr(*p), manifests[p]["digest"])
    for name, d in printed:
        print(name, d)
    return 0


if __name__ == "__main__":
    sys.exit(main())
