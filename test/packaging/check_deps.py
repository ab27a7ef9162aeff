#!/usr/bin/env python3
"""check_deps.py -- every file the build uses comes from a package the
install script installs.

    check_deps.py BUILD_DIR [--also DIR]... [--packages FILE]

Reads BUILD_DIR/CMakeCache.txt and collects every absolute path CMake found
there: libraries and headers (find_library, find_package's *_DIR,
pkg_check_modules' include and library paths and .pc files), programs
(compilers, find_program results, the test programs) and CMake's own files.
Each is mapped to the Debian package that owns it (dpkg -S, trying the
resolved path and its merged-/usr twin). A package is covered when it is in
the install list (scripts/install-deps.sh --list, or FILE), is Essential, or
is pulled in by the Depends/Pre-Depends of a covered package, as
`apt-get install --no-install-recommends` of the list would pull it in.

Each --also DIR is another build of the same tree (scripts/test.sh makes
build-asan and, with clang, build-fuzz before the main build), read the same
way when it has a CMakeCache.txt and skipped when it has none: a clang build
picks up LLVM's tools (llvm-ar, llvm-ranlib) where they are installed, and
falls back to binutils' where not, so a fresh machine builds differently.

Prints one line per uncovered file,
    check_deps: CMakeCache.txt HUSK_bz2_A: /usr/lib/.../libbz2.a is from libbz2-dev, which scripts/install-deps.sh does not install
and exits 1 if there is any; a path no package owns is an error too (it was
installed by hand). Exits 0 with a summary line otherwise.
"""

import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.path.normpath(os.path.join(HERE, "..", ".."))
INSTALL_DEPS = os.path.join(SOURCE, "scripts", "install-deps.sh")

# Cache entries that name where husk would be installed, not what it uses.
SKIP_KEYS = re.compile(r"^(CMAKE_INSTALL_|_GNUInstallDirs_|CMAKE_CACHEFILE_DIR$|"
                       r"CMAKE_HOME_DIRECTORY$|CMAKE_FIND_PACKAGE_REDIRECTS_DIR$|"
                       r"husk_(SOURCE|BINARY)_DIR$|CPACK_)")


def fail(msg):
    print(f"check_deps: error: {msg}", file=sys.stderr)
    sys.exit(2)


def read_cache(build):
    """(key, path) for every existing absolute path in the cache."""
    path = os.path.join(build, "CMakeCache.txt")
    try:
        text = open(path, encoding="utf-8", errors="replace").read()
    except OSError as e:
        fail(f"{path}: {e.strerror}")
    found, modules = [], []
    for line in text.splitlines():
        m = re.match(r"^([A-Za-z0-9_.+-]+)(?::[A-Z]+)?=(.*)$", line)
        if not m:
            continue
        key, value = m.groups()
        if key.endswith("_MODULE_NAME"):
            modules.append((key, value))
            continue
        if SKIP_KEYS.match(key):
            continue
        for v in value.split(";"):
            if not v.startswith("/") or not os.path.exists(v):
                continue
            real = os.path.realpath(v)
            if any(real == d or real.startswith(d + os.sep)
                   for d in (os.path.realpath(build), SOURCE)):
                continue
            found.append((key, v))
    # pkg_check_modules does not cache the .pc file it read: ask pkg-config.
    for key, module in modules:
        r = subprocess.run(["pkg-config", "--variable=pcfiledir", module],
                           capture_output=True, text=True)
        pc = os.path.join(r.stdout.strip(), module + ".pc")
        if r.returncode == 0 and os.path.isfile(pc):
            found.append((key, pc))
    return found


def installed_packages():
    """name -> (essential, [dependency groups]); virtual name -> providers."""
    out = subprocess.run(
        ["dpkg-query", "-W", "-f",
         "${Package}\t${Status}\t${Essential}\t${Depends}, ${Pre-Depends}\t${Provides}\n"],
        capture_output=True, text=True, check=True).stdout
    pkgs, provides = {}, {}
    for line in out.splitlines():
        name, status, essential, depends, prov = (line.split("\t") + [""] * 5)[:5]
        if not status.endswith(" installed"):
            continue
        groups = []
        for group in depends.split(","):
            alts = [re.sub(r"[\s(].*$", "", a.strip()).split(":")[0]
                    for a in group.split("|")]
            alts = [a for a in alts if a]
            if alts:
                groups.append(alts)
        pkgs[name] = (essential == "yes", groups)
        for p in prov.split(","):
            p = re.sub(r"[\s(].*$", "", p.strip())
            if p:
                provides.setdefault(p, []).append(name)
    return pkgs, provides


def closure(listed, pkgs, provides):
    """The packages an install of `listed` brings, plus the Essential ones."""
    covered = set()
    todo = list(listed) + [n for n, (ess, _) in pkgs.items() if ess]
    while todo:
        name = todo.pop()
        for real in [name] + provides.get(name, []):
            if real in covered or real not in pkgs:
                continue
            covered.add(real)
            for alts in pkgs[real][1]:
                todo.extend(alts)
    return covered


def merged_usr_twin(path):
    for a, b in (("/usr/lib/", "/lib/"), ("/usr/bin/", "/bin/"), ("/usr/sbin/", "/sbin/")):
        if path.startswith(a):
            return b + path[len(a):]
        if path.startswith(b):
            return a + path[len(b):]
    return None


def owners(path):
    """The packages dpkg says own `path` (or what it resolves to)."""
    candidates = []
    for p in (path, os.path.realpath(path)):
        candidates += [p, merged_usr_twin(p)]
    for p in candidates:
        if not p:
            continue
        r = subprocess.run(["dpkg-query", "-S", p], capture_output=True, text=True)
        if r.returncode != 0:
            continue
        names = set()
        for line in r.stdout.splitlines():
            if line.startswith("diversion by"):
                continue
            head, _, tail = line.rpartition(": ")
            if tail != p:
                continue
            names.update(n.strip().split(":")[0] for n in head.split(","))
        if names:
            return names
    return set()


def main():
    args = sys.argv[1:]
    if not args or args[0] in ("-h", "--help"):
        print(__doc__.strip())
        return 0 if args else 2
    builds, packages = [args[0]], None
    rest = args[1:]
    while rest:
        if len(rest) >= 2 and rest[0] == "--also":
            if os.path.isfile(os.path.join(rest[1], "CMakeCache.txt")):
                builds.append(rest[1])
        elif len(rest) >= 2 and rest[0] == "--packages":
            packages = rest[1]
        else:
            fail("usage: check_deps.py BUILD_DIR [--also DIR]... [--packages FILE]")
        rest = rest[2:]
    if packages is not None:
        listed = open(packages).read().split()
        list_name = packages
    else:
        listed = subprocess.run(["bash", INSTALL_DEPS, "--list"], capture_output=True,
                                text=True, check=True).stdout.split()
        list_name = "scripts/install-deps.sh"

    pkgs, provides = installed_packages()
    unknown = [p for p in listed if p not in pkgs and p not in provides]
    if unknown:
        fail(f"{list_name} lists packages that are not installed here: {' '.join(unknown)}")
    covered = closure(listed, pkgs, provides)

    problems, checked, seen = [], 0, set()
    used = [(os.path.basename(os.path.normpath(b)), key, path)
            for b in builds for key, path in read_cache(b)]
    for build, key, path in used:
        if path in seen:
            continue
        seen.add(path)
        checked += 1
        names = owners(path)
        if not names:
            if os.path.isdir(path):
                continue  # a folder no package claims, e.g. a prefix: nothing in it was used
            problems.append(f"{build}/CMakeCache.txt {key}: {path} belongs to no Debian package "
                            f"(installed by hand?); husk may use only packaged files")
        elif not names & covered:
            problems.append(f"{build}/CMakeCache.txt {key}: {path} is from {', '.join(sorted(names))}, "
                            f"which {list_name} does not install")
    for p in problems:
        print(f"check_deps: {p}")
    if problems:
        return 1
    print(f"check_deps: {checked} files and folders the build uses all come from packages "
          f"that {list_name} installs ({len(listed)} listed, {len(covered)} with their "
          f"dependencies and the Essential set)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
