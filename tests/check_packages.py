#!/usr/bin/python3
"""check_packages.py -- every program and Python module the tests call comes from a
Debian package that `make deps` installs (run by make check, through tests/run.sh).

A fresh Debian has only its Essential packages; anything else a test runs must be in the
Makefile's DEB_PACKAGES (or SLURM_PACKAGES, for the Slurm test).  This script scans what
make check runs -- tests/*.py, tests/e2e/, tests/bad/, tests/run.sh, samples/ (not
tests/bench/ and tests/fuzz/, which have their own package lists) -- for:

  - programs: the first element of a list literal (["gdalinfo", ...]), a which("x"), a
    program at a command position of a shell script, that is an executable on PATH here
    or is named in PROGRAMS;
  - Python modules: every `import X` and `from X import`, also inside the Python the
    tests pass to `python3 -c`, that is not the standard library or a file of the
    repository;

maps each to its Debian package (PROGRAMS, MODULES below) and fails, naming it, when a
name is not in the maps or its package is neither Essential nor in the Makefile's lists.
It also checks the maps against this machine: a program or module installed here must
come from the package the map names (dpkg -S).  Prints one line per problem, then
"check_packages: N programs, M modules, K problems".
"""
import glob
import importlib.util
import os
import re
import shutil
import subprocess
import sys

TOP = os.environ.get("LODE_PACKAGES_TOP") or os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Debian's Essential packages, and mount (Priority: required): on every Debian system
# (debootstrap's minbase, the debian:12 image), never in an install list.
ESSENTIAL = {"base-files", "base-passwd", "bash", "bsdutils", "coreutils", "dash", "debianutils",
             "diffutils", "dpkg", "findutils", "grep", "gzip", "hostname", "init-system-helpers",
             "libc-bin", "login", "ncurses-bin", "perl-base", "sed", "sysvinit-utils", "tar",
             "util-linux", "mount"}

# program: (the package that holds it, the Makefile package that brings it).
PROGRAMS = {
    "bash": ("bash", None), "sh": ("dash", None), "true": ("coreutils", None),
    "cat": ("coreutils", None), "rm": ("coreutils", None), "mkdir": ("coreutils", None),
    "mktemp": ("coreutils", None), "dirname": ("coreutils", None), "basename": ("coreutils", None),
    "tail": ("coreutils", None), "head": ("coreutils", None), "sleep": ("coreutils", None),
    "env": ("coreutils", None), "ls": ("coreutils", None), "sed": ("sed", None),
    "grep": ("grep", None), "id": ("coreutils", None), "date": ("coreutils", None),
    "script": ("bsdutils", None), "dpkg-query": ("dpkg", None), "dpkg": ("dpkg", None),
    "mount": ("mount", None), "umount": ("mount", None), "taskset": ("util-linux", None),
    "cc": ("gcc", "build-essential"), "gcc": ("gcc", "build-essential"),
    "make": ("make", "build-essential"), "nm": ("binutils", "build-essential"),
    "dpkg-buildflags": ("dpkg-dev", "build-essential"),
    "pkg-config": ("pkgconf", "pkg-config"),
    "gdalinfo": ("gdal-bin", None), "gdalwarp": ("gdal-bin", None),
    "gdal_translate": ("gdal-bin", None), "ogr2ogr": ("gdal-bin", None),
    "ogrinfo": ("gdal-bin", None), "projinfo": ("proj-bin", None),
    "h5dump": ("hdf5-tools", None), "ncdump": ("netcdf-bin", None),
    "man": ("man-db", None), "groff": ("groff-base", None), "mandoc": ("mandoc", None),
    "python3": ("python3-minimal", "python3"), "time": ("time", None),
    "munge": ("munge", None), "munged": ("munge", None), "unmunge": ("munge", None),
    "sbatch": ("slurm-client", None), "scancel": ("slurm-client", None),
    "scontrol": ("slurm-client", None), "sinfo": ("slurm-client", None),
    "squeue": ("slurm-client", None), "slurmctld": ("slurmctld", None), "slurmd": ("slurmd", None),
    "cct": ("proj-bin", None), "cs2cs": ("proj-bin", None), "ncks": ("nco", None),
    "xmllint": ("libxml2-utils", None), "chromium": ("chromium", None),
}
# Words that look like programs where they appear but are data (names of files, keys,
# values): ["dir", ...] is a list of folder names, ["size", ...] of attribute names.
NOT_PROGRAMS = {"dir", "file", "free", "size", "view", "wall", "w", "yes", "idle", "gold", "test",
                "exec", "set", "trap", "wait", "cd", "export", "local", "read", "shift", "return",
                "exit", "continue", "break", "echo", "printf", "for", "do", "done", "if", "then",
                "else", "elif", "fi", "while", "case", "esac", "in", "until", "[", "[[", ":", "."}

# top-level module: (the package that holds it, the Makefile package that brings it).
MODULES = {
    "osgeo": ("python3-gdal", None), "osr": ("python3-gdal", None), "gdal": ("python3-gdal", None),
    "numpy": ("python3-numpy", None), "h5py": ("python3-h5py-serial", "python3-h5py"),
    "netCDF4": ("python3-netcdf4", None), "xarray": ("python3-xarray", None),
    "nacl": ("python3-nacl", None), "yaml": ("python3-yaml", None),
    "cftime": ("python3-cftime", None), "jsonschema": ("python3-jsonschema", None),
    "websocket": ("python3-websocket", None),
}


def makefile_packages(text=None):
    """The packages of DEB_PACKAGES and SLURM_PACKAGES in the Makefile (or in text)."""
    if text is None:
        text = open(os.path.join(TOP, "Makefile")).read()
    text = text.replace("\\\n", " ")
    out = set()
    for var in ("DEB_PACKAGES", "SLURM_PACKAGES"):
        m = re.search(r"^%s\s*=\s*(.*)$" % var, text, re.M)
        if m:
            out |= set(m.group(1).split())
    return out


def scanned_files():
    pats = ["tests/*.py", "tests/*.sh", "tests/e2e/*.py", "tests/bad/*.py", "samples/*.py",
            "samples/*.sh", "samples/**/*.sh", "samples/**/*.py"]
    out = set()
    for p in pats:
        out |= set(glob.glob(os.path.join(TOP, p), recursive=True))
    return sorted(out)


def shell_commands(text):
    """Words at a command position of a shell script."""
    out = set()
    for line in text.splitlines():
        line = re.sub(r"(^|\s)#.*$", "", line)
        for seg in re.split(r"\|\||&&|[;|&`]|\$\(|\bthen\b|\bdo\b|\belse\b", line):
            words = seg.split()
            while words and (re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", words[0]) or words[0] in
                             ("!", "exec", "time", "if", "while", "until", "elif", "{", "(")):
                words = words[1:]
            if words and re.match(r"^[a-z][\w.+-]*$", words[0]):
                out.add(words[0])
    return out


def programs_used(path, text):
    names = set()
    if path.endswith(".sh"):
        names |= shell_commands(text)
    names |= set(m.group(1) or m.group(2) for m in re.finditer(
        r"""\[\s*["'](?:/usr)?(?:/bin/)?([a-z][\w.+-]*)["']\s*[,\]]|which\(\s*["']([a-z][\w.+-]*)["']""",
        text))
    if "/usr/bin/python3" in text or "sys.executable" in text or path.endswith(".py"):
        names.add("python3")
    return {n for n in names - NOT_PROGRAMS if n in PROGRAMS or shutil.which(n)}


def modules_used(text):
    mods = set()
    for m in re.finditer(r"^\s*from\s+([A-Za-z_][\w.]*)\s+import\b", text, re.M):
        mods.add(m.group(1).split(".")[0])
    for m in re.finditer(r"^\s*import\s+([A-Za-z_][\w.]*(?:\s+as\s+\w+)?(?:\s*,\s*[A-Za-z_][\w.]*"
                         r"(?:\s+as\s+\w+)?)*)", text, re.M):
        for part in m.group(1).split(","):
            mods.add(part.split()[0].split(".")[0])
    return mods


OWNERS = {}


def dpkg_owners(paths):
    """Ask dpkg once which packages hold paths (each also under /bin for a merged /usr)."""
    ask = sorted({q for p in paths for q in (p, re.sub(r"^/usr/", "/", p))} - set(OWNERS))
    if ask:
        r = subprocess.run(["dpkg", "-S"] + ask, capture_output=True, text=True)
        for line in r.stdout.splitlines():
            pkgs, _, path = line.partition(": ")
            OWNERS[path.strip()] = pkgs.split(":")[0].strip() if "," not in pkgs else \
                ", ".join(x.split(":")[0].strip() for x in pkgs.split(","))
        for q in ask:
            OWNERS.setdefault(q, None)


def dpkg_owner(path):
    """The package dpkg says holds path (also under /bin for a merged /usr), or None."""
    return OWNERS.get(path) or OWNERS.get(re.sub(r"^/usr/", "/", path))


def check(listed):
    """(problems, programs, modules) with listed the Makefile's packages."""
    local = {os.path.splitext(os.path.basename(f))[0] for f in
             glob.glob(os.path.join(TOP, "**", "*.py"), recursive=True)}
    stdlib = set(sys.stdlib_module_names)
    problems = []
    progs, mods = {}, {}
    for f in scanned_files():
        text = open(f, encoding="utf-8", errors="replace").read()
        rel = os.path.relpath(f, TOP)
        for p in programs_used(f, text):
            progs.setdefault(p, rel)
        for m in modules_used(text) - stdlib - local:
            mods.setdefault(m, rel)

    def needs(kind, name, where, table):
        if name not in table:
            problems.append("%s %s (used in %s) has no Debian package in tests/check_packages.py"
                            % (kind, name, where))
            return
        pkg, via = table[name]
        if pkg in ESSENTIAL or (via or pkg) in listed:
            return
        problems.append("%s %s (used in %s) comes from Debian's %s, which the Makefile does not "
                        "install: add %s to DEB_PACKAGES" % (kind, name, where, pkg, via or pkg))

    paths = []
    for p in progs:
        if shutil.which(p):
            paths += [os.path.realpath(shutil.which(p)), shutil.which(p)]
    for m in mods:
        spec = importlib.util.find_spec(m) if m in MODULES else None
        if spec and spec.origin:
            paths.append(os.path.dirname(spec.origin))
    dpkg_owners(paths)
    for p, where in sorted(progs.items()):
        needs("program", p, where, PROGRAMS)
        exe = shutil.which(p)
        if exe and p in PROGRAMS:
            owner = dpkg_owner(exe) or dpkg_owner(os.path.realpath(exe))  # /usr/bin/python3 itself, not python3.11
            if owner and owner != PROGRAMS[p][0] and not owner.startswith(PROGRAMS[p][0]):
                problems.append("program %s is in Debian's %s here, not %s as "
                                "tests/check_packages.py says" % (p, owner, PROGRAMS[p][0]))
    for m, where in sorted(mods.items()):
        needs("Python module", m, where, MODULES)
        spec = importlib.util.find_spec(m) if m in MODULES else None
        if spec and spec.origin and spec.origin.startswith("/usr/"):
            owner = dpkg_owner(os.path.dirname(spec.origin))
            if owner and MODULES[m][0] not in owner.split(", "):
                problems.append("Python module %s is in Debian's %s here, not %s as "
                                "tests/check_packages.py says" % (m, owner, MODULES[m][0]))
    return problems, progs, mods


def self_test():
    """Each package the tests need, taken out of the Makefile's list, must be reported."""
    listed = makefile_packages()
    _, progs, mods = check(listed)
    needed = {(PROGRAMS[p][1] or PROGRAMS[p][0]) for p in progs if p in PROGRAMS} | \
             {(MODULES[m][1] or MODULES[m][0]) for m in mods if m in MODULES}
    needed -= ESSENTIAL
    missed = [p for p in sorted(needed)
              if not any("add %s to" % p in line for line in check(listed - {p})[0])]
    for p in missed:
        print("self-test: %s taken out of the Makefile was not reported" % p)
    print("check_packages self-test: %d packages taken out, %d missed" % (len(needed), len(missed)))
    return 1 if missed or not needed else 0


def main():
    if "--self-test" in sys.argv:
        return self_test()
    problems, progs, mods = check(makefile_packages())
    for line in problems:
        print(line)
    if "-v" in sys.argv:
        for p, where in sorted(progs.items()):
            print("program %-16s %-16s %s" % (p, PROGRAMS.get(p, ("?",))[0], where))
        for m, where in sorted(mods.items()):
            print("module  %-16s %-16s %s" % (m, MODULES.get(m, ("?",))[0], where))
    print("check_packages: %d programs, %d modules, %d problems" % (len(progs), len(mods), len(problems)))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
