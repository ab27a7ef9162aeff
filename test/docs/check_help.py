#!/usr/bin/env python3
"""check_help.py -- husk's --help texts and its man pages name the same options.

    check_help.py HUSK DOC_DIR

For husk itself and each command, the options `husk [CMD] --help` lists
must be exactly those the OPTIONS (or GLOBAL OPTIONS) section of
doc/husk[-CMD].md describes, each as a definition-list term such as
"`-b`, `--bind` *SRC*...". Every command --help lists must have its page,
and every page's SYNOPSIS must start with its command. Prints one line per
difference, naming the page, and exits 1 if there is any.
"""

import os
import re
import subprocess
import sys


def help_options(husk, args):
    out = subprocess.run([husk] + args + ["--help"], capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"check_help: {' '.join(['husk'] + args)} --help failed: {out.stderr.strip()}")
    opts, commands, section = set(), [], None
    for line in out.stdout.splitlines():
        if re.match(r"^[A-Z][a-z]+:$", line):
            section = line[:-1]
            continue
        m = re.match(r"^  (\S+)", line)
        if not m:
            continue
        if section == "Options":
            for name in m.group(1).split(","):
                opts.add(name)
        elif section == "Subcommands":
            commands.append(m.group(1))
    return opts, commands


def doc_options(path, heading):
    try:
        text = open(path, encoding="utf-8").read()
    except OSError:
        return None
    m = re.search(r"^## " + heading + r"\n(.*?)(?=^## |\Z)", text, re.S | re.M)
    opts = set()
    if m:
        for line in m.group(1).splitlines():
            if line.startswith("`-"):
                opts.update(re.findall(r"`(-[-A-Za-z0-9]+)", line))
    return opts


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: check_help.py HUSK DOC_DIR")
    husk, doc = sys.argv[1], sys.argv[2]
    problems = []
    top, commands = help_options(husk, [])
    if not commands:
        problems.append("husk --help lists no commands")
    pages = [("husk", [], "GLOBAL OPTIONS")] + [("husk-" + c, [c], "OPTIONS") for c in commands]
    for page, args, heading in pages:
        path = os.path.join(doc, page + ".md")
        documented = doc_options(path, heading)
        if documented is None:
            problems.append(f"doc/{page}.md: missing (husk --help lists '{' '.join(args)}')")
            continue
        listed = top if not args else help_options(husk, args)[0]
        for o in sorted(listed - documented):
            problems.append(f"doc/{page}.md: {o} is in husk {' '.join(args)} --help but not in "
                            f"{heading}")
        for o in sorted(documented - listed):
            problems.append(f"doc/{page}.md: {o} is in {heading} but not in husk "
                            f"{' '.join(args)} --help")
        synopsis = re.search(r"^## SYNOPSIS\n+```\n(.*?)```", open(path).read(), re.S | re.M)
        want = " ".join(["husk"] + args)
        if not synopsis or not synopsis.group(1).startswith(want):
            problems.append(f"doc/{page}.md: its SYNOPSIS does not start with '{want}'")
    for p in problems:
        print(f"check_help: {p}")
    if problems:
        return 1
    print(f"check_help: {len(pages)} pages agree with husk's --help")
    return 0


if __name__ == "__main__":
    sys.exit(main())
