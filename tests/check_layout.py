#!/usr/bin/python3
"""check_layout.py -- lode's layering, checked from the sources (run by make check).

Lists every `#include "..."` of the library and the CLI, resolved the way the compiler
resolves it (the including file's folder, then -Ipipeline -Iformats -Iformats/base),
and fails on:

  - an include that points up a floor.  Floors, lowest first: formats/base (the error
    record and small utilities), formats (one adapter per outside library or format),
    pipeline (the stages), the CLI (pipeline/cli*.c and cli*.h).  A file may include
    headers of its own floor and of the floors below, nothing above;
  - an include cycle, between files or between modules (a module is a .c with the .h
    of the same name and X_int.h, a header private to X's files: verify.c including
    sign.h while sign.c includes verify.h is a cycle though no header includes itself);
  - a quoted include that resolves to no file, or a header name found in two folders;
  - a library header of GDAL, PROJ, HDF5, zlib, libdeflate or libyaml included above
    formats/ (pipeline/ reaches those libraries only through formats/);
  - a source file over MAX_LINES lines, or a function over MAX_FUNC lines whose
    comment above it does not say why (a line containing "Long:").

Prints the include list with -v.  Exit 0 when clean, 1 with one line per problem.
--self-test checks the checker: it copies the tree, plants each kind of violation in
the copy and requires each to be found (and the clean copy to pass).
"""
import os
import re
import sys

import shutil
import subprocess
import tempfile

TOP = os.environ.get("LODE_LAYOUT_TOP") or os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
INCLUDE_DIRS = ["pipeline", "formats", "formats/base"]
MAX_LINES = 900
MAX_FUNC = 150
LOW_LEVEL_LIBS = re.compile(
    r"^(gdal|gdal_\w+|gdalwarper|ogr_\w+|cpl_\w+|proj|proj_\w+|hdf5|hdf5_hl|H5\w*|zlib|libdeflate|yaml)\.h$")
INCLUDE = re.compile(r'^\s*#\s*include\s*([<"])([^>"]+)[>"]')


def floor_of(rel):
    """0 formats/base, 1 formats, 2 pipeline (library), 3 the CLI."""
    d, name = os.path.split(rel)
    if d == "formats/base":
        return 0
    if d == "formats":
        return 1
    if d == "pipeline":
        return 3 if name.startswith("cli") else 2
    raise ValueError(rel)


FLOOR_NAMES = ["formats/base", "formats", "pipeline", "the CLI"]


def sources():
    out = []
    for d in INCLUDE_DIRS:
        for name in sorted(os.listdir(os.path.join(TOP, d))):
            if name.endswith((".c", ".h")):
                out.append(f"{d}/{name}")
    return out


def resolve(rel, name):
    here = os.path.dirname(rel)
    for d in [here] + INCLUDE_DIRS:
        cand = os.path.normpath(f"{d}/{name}")
        if os.path.isfile(os.path.join(TOP, cand)):
            return cand
    return None


def module_of(rel):
    """A module is X.c with X.h, and X_int.h, the header PRIVATE to X's files."""
    stem = os.path.splitext(rel)[0]
    return stem[:-4] if stem.endswith("_int") else stem


def find_cycle(graph):
    """One cycle of a directed graph as a list of nodes, or None."""
    WHITE, GREY, BLACK = 0, 1, 2
    colour = {n: WHITE for n in graph}
    stack = []

    def visit(n):
        colour[n] = GREY
        stack.append(n)
        for m in sorted(graph.get(n, ())):
            if colour.get(m, WHITE) == GREY:
                return stack[stack.index(m):] + [m]
            if colour.get(m, WHITE) == WHITE:
                c = visit(m)
                if c:
                    return c
        stack.pop()
        colour[n] = BLACK
        return None

    for n in sorted(graph):
        if colour[n] == WHITE:
            c = visit(n)
            if c:
                return c
    return None


def long_functions(rel, lines):
    """(line, name, length) of functions over MAX_FUNC lines without a 'Long:' reason."""
    out = []
    start = None
    for i, line in enumerate(lines):
        if start is None and re.match(r"^[A-Za-z_][^;]*\(", line) and not line.startswith(
                ("typedef", "struct ", "enum ", "#")):
            start = i
        elif start is not None and line.startswith("{"):
            end = next((j for j in range(i, len(lines)) if lines[j].startswith("}")), len(lines) - 1)
            length = end - start + 1
            above = "\n".join(lines[max(0, start - 12):start])
            if length > MAX_FUNC and "Long:" not in above:
                out.append((start + 1, lines[start].strip(), length))
            start = None
        elif start is not None and (line.strip() == "" or line.rstrip().endswith(";")):
            start = None
    return out


def main():
    verbose = "-v" in sys.argv[1:]
    problems = []
    files = sources()
    seen_names = {}
    for rel in files:
        if rel.endswith(".h"):
            seen_names.setdefault(os.path.basename(rel), []).append(rel)
    for name, where in sorted(seen_names.items()):
        if len(where) > 1:
            problems.append(f"header name {name} is in several folders: {', '.join(where)}")

    file_graph = {}
    module_graph = {}
    for rel in files:
        with open(os.path.join(TOP, rel), encoding="utf-8") as f:
            lines = f.read().split("\n")
        if len(lines) - 1 > MAX_LINES:
            problems.append(f"{rel}: {len(lines) - 1} lines, over {MAX_LINES}: split it by concern")
        for ln, name, length in long_functions(rel, lines):
            problems.append(f"{rel}:{ln}: function of {length} lines (over {MAX_FUNC}) with no "
                            f"'Long:' reason above it: {name}")
        file_graph.setdefault(rel, set())
        module_graph.setdefault(module_of(rel), set())
        for ln, line in enumerate(lines, 1):
            m = INCLUDE.match(line)
            if not m:
                continue
            kind, name = m.groups()
            if kind == "<":
                if LOW_LEVEL_LIBS.match(os.path.basename(name)) and floor_of(rel) >= 2:
                    problems.append(f"{rel}:{ln}: includes <{name}>: above formats/, reach that "
                                    f"library through a formats/ module")
                continue
            target = resolve(rel, name)
            if verbose:
                print(f'{rel}:{ln}: "{name}" -> {target}')
            if target is None:
                problems.append(f'{rel}:{ln}: "{name}" is no file of pipeline/ or formats/')
                continue
            if floor_of(target) > floor_of(rel):
                problems.append(f'{rel}:{ln}: includes "{name}" ({target}): {FLOOR_NAMES[floor_of(rel)]} '
                                f"must not include {FLOOR_NAMES[floor_of(target)]}")
            file_graph[rel].add(target)
            if module_of(target) != module_of(rel):
                module_graph[module_of(rel)].add(module_of(target))

    cycle = find_cycle(file_graph)
    if cycle:
        problems.append("include cycle: " + " -> ".join(cycle))
    cycle = find_cycle(module_graph)
    if cycle:
        problems.append("module cycle (each includes the next's header): " + " -> ".join(cycle))

    for p in problems:
        print(f"check_layout: {p}")
    nincl = sum(len(v) for v in file_graph.values())
    print(f"check_layout: {len(files)} files, {nincl} includes, {len(problems)} problems")
    return 1 if problems else 0


def self_test():
    """Plant each violation in a copy of the tree; each must be reported."""
    plants = [
        ("formats/sha256.c", '#include "plan.h"\n', "formats must not include pipeline"),
        ("formats/base/util.c", '#include "bundle.h"\n', "formats/base must not include formats"),
        ("pipeline/plan.c", '#include "cli.h"\n', "pipeline must not include the CLI"),
        ("pipeline/plan.c", "#include <gdal.h>\n", "reach that library through a formats/ module"),
        # verify.c includes signature.h: signature.c including verify.h closes a circle
        ("pipeline/signature.c", '#include "verify.h"\n', "module cycle"),
        ("formats/vdata.h", '#include "bundle.h"\n', "include cycle"),
        ("pipeline/run.c", '#include "no_such_header.h"\n', "is no file of pipeline/ or formats/"),
        ("pipeline/run.c", "static int f(void)\n{\n" + "\tx();\n" * 160 + "}\n", "function of"),
        ("pipeline/run.c", "/* padding */\n" * 1000, "over 900"),
    ]
    failures = 0
    with tempfile.TemporaryDirectory() as tmp:
        for d in INCLUDE_DIRS:
            shutil.copytree(os.path.join(TOP, d), os.path.join(tmp, d), dirs_exist_ok=True)
        env = dict(os.environ, LODE_LAYOUT_TOP=tmp)
        me = os.path.abspath(__file__)
        r = subprocess.run([sys.executable, me], env=env, capture_output=True, text=True)
        if r.returncode != 0:
            print("check_layout self-test: the clean copy fails:\n" + r.stdout)
            failures += 1
        for rel, text, expect in plants:
            path = os.path.join(tmp, rel)
            with open(path, encoding="utf-8") as f:
                orig = f.read()
            with open(path, "w", encoding="utf-8") as f:
                f.write(text + orig if text.startswith("#") else orig + text)
            r = subprocess.run([sys.executable, me], env=env, capture_output=True, text=True)
            with open(path, "w", encoding="utf-8") as f:
                f.write(orig)
            ok = r.returncode == 1 and expect in r.stdout
            print("check_layout self-test: %s %s: %s" % ("caught" if ok else "MISSED", rel, expect))
            failures += 0 if ok else 1
    print("check_layout self-test: %d missed" % failures)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(self_test() if "--self-test" in sys.argv[1:] else main())
