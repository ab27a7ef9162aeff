#!/usr/bin/env python3
"""Builds small layered test images from a root file system directory:
a docker-archive (as `docker save` writes) and an OCI image layout archive
(as `podman save --format oci-archive` writes), both with the same three
layers and config, exercising whiteouts and opaque whiteouts.

usage: make_layered.py ROOTFS OUTDIR
writes OUTDIR/docker.tar, OUTDIR/oci.tar and OUTDIR/oci-baddigest.tar
"""
import gzip
import hashlib
import io
import json
import sys
import tarfile

rootfs, out = sys.argv[1], sys.argv[2]


def tar_bytes(add):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        add(t)
    return buf.getvalue()


def regular(t, name, data=b""):
    i = tarfile.TarInfo(name)
    i.size = len(data)
    i.mode = 0o644
    t.addfile(i, io.BytesIO(data))


def directory(t, name):
    i = tarfile.TarInfo(name)
    i.type = tarfile.DIRTYPE
    i.mode = 0o755
    t.addfile(i)


base = tar_bytes(lambda t: t.add(rootfs, arcname="."))


def layer2(t):
    regular(t, "etc/added", b"from layer 2\n")
    regular(t, "bin/.wh.vi")  # whiteout: the base's /bin/vi goes
    directory(t, "opt/x")
    regular(t, "opt/x/old", b"old\n")


def layer3(t):
    directory(t, "opt/x")
    regular(t, "opt/x/.wh..wh..opq")  # opaque: layer 2's opt/x/old goes
    regular(t, "opt/x/new", b"new\n")


layers = [base, tar_bytes(layer2), tar_bytes(layer3)]
diff_ids = ["sha256:" + hashlib.sha256(l).hexdigest() for l in layers]
config = json.dumps({
    "architecture": "amd64", "os": "linux",
    "config": {"Env": ["PATH=/usr/bin:/bin", "FROM_IMAGE=yes"],
               "Cmd": ["/bin/sh", "-c", "echo cmd $FROM_IMAGE"]},
    "rootfs": {"type": "layers", "diff_ids": diff_ids},
}).encode()


def write_archive(path, files):
    with tarfile.open(path, "w") as t:
        for name, data in files:
            regular(t, name, data)


# docker-archive: <id>/layer.tar, <config>.json, manifest.json (last, as docker writes it)
files = [(f"l{i}/layer.tar", l) for i, l in enumerate(layers)]
files.append(("config.json", config))
files.append(("manifest.json", json.dumps([{
    "Config": "config.json", "RepoTags": ["husk/test:layered"],
    "Layers": [f"l{i}/layer.tar" for i in range(len(layers))]}]).encode()))
write_archive(f"{out}/docker.tar", files)


# OCI layout: the first layer gzip-compressed, as registries ship them
def blob(data):
    return hashlib.sha256(data).hexdigest(), data


def oci(path, corrupt=False):
    blobs = {}
    descs = []
    for i, l in enumerate(layers):
        data = gzip.compress(l) if i == 0 else l
        h, d = blob(data)
        blobs[h] = d
        descs.append({"mediaType": "application/vnd.oci.image.layer.v1.tar" + ("+gzip" if i == 0 else ""),
                      "digest": "sha256:" + h, "size": len(d)})
    ch, cd = blob(config)
    blobs[ch] = cd
    manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                           "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                      "digest": "sha256:" + ch, "size": len(cd)},
                           "layers": descs}).encode()
    mh, md = blob(manifest)
    blobs[mh] = md
    index = json.dumps({"schemaVersion": 2, "manifests": [
        {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": "sha256:" + mh,
         "size": len(md), "platform": {"os": "linux", "architecture": "amd64"}}]}).encode()
    files = [("oci-layout", b'{"imageLayoutVersion": "1.0.0"}'), ("index.json", index)]
    for h, d in blobs.items():
        if corrupt and h == descs[1]["digest"][7:]:
            d = d[:-1] + bytes([d[-1] ^ 1])  # one bit off in layer 2
        files.append((f"blobs/sha256/{h}", d))
    write_archive(path, files)


oci(f"{out}/oci.tar")
oci(f"{out}/oci-baddigest.tar", corrupt=True)

# docker-archive whose manifest points outside the archive
write_archive(f"{out}/docker-escape.tar", [("manifest.json", json.dumps([{
    "Config": "../../../../etc/passwd", "Layers": []}]).encode())])
