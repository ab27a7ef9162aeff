#!/usr/bin/env python3
"""Prints a comparable listing of a directory tree, one line per entry:
path, type, mode (setuid/setgid cleared, directories u+rwx, as husk
unpacks), size and sha256 of regular files, target of symlinks, and which
paths are hard links of each other. Owners and times are left out: an
unprivileged unpack owns everything it writes.

usage: tree_listing.py DIR [EXCLUDE...]"""
import hashlib
import os
import stat
import sys

root = sys.argv[1]
exclude = set(sys.argv[2:])
inodes = {}
lines = []
for dirpath, dirnames, filenames in os.walk(root):
    for name in sorted(dirnames + filenames):
        full = os.path.join(dirpath, name)
        rel = os.path.relpath(full, root)
        if rel.split(os.sep)[0] in exclude:
            continue
        st = os.lstat(full)
        mode = stat.S_IMODE(st.st_mode) & 0o1777
        if stat.S_ISDIR(st.st_mode):
            lines.append(f"{rel} d {mode | 0o700:o}")
        elif stat.S_ISLNK(st.st_mode):
            lines.append(f"{rel} l -> {os.readlink(full)}")
        elif stat.S_ISREG(st.st_mode):
            with open(full, "rb") as f:
                digest = hashlib.sha256(f.read()).hexdigest()[:16]
            lines.append(f"{rel} f {mode:o} {st.st_size} {digest}")
            if st.st_nlink > 1:
                inodes.setdefault(st.st_ino, []).append(rel)
        else:
            lines.append(f"{rel} other")
    dirnames[:] = [d for d in dirnames if not os.path.islink(os.path.join(dirpath, d))]
for group in inodes.values():
    if len(group) > 1:
        lines.append("hardlinks " + " ".join(sorted(group)))
print("\n".join(sorted(lines)))
