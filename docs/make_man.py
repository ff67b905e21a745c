#!/usr/bin/python3
"""make_man.py -- write docs/lode.1, lode's man page, from what lode itself says.

    docs/make_man.py build/lode > docs/lode.1

The page is made from `lode --help`, every `lode COMMAND --help` (the command table of
pipeline/cli_commands.c) and the Environment table of docs/cli.md, so it cannot say
anything the tool and the reference do not.  tests/e2e/test_conventions.py makes it
again and fails when docs/lode.1 differs: change the help or cli.md, then run this.
"""
import os
import re
import subprocess
import sys

DOCS = os.path.dirname(os.path.abspath(__file__))
# The page's date: the month of the release it documents (bump it with LODE_VERSION).
DATE = "2026-12-06"


def lode_out(lode, *args):
    return subprocess.run([lode, *args], capture_output=True, text=True, check=True).stdout


def esc(text):
    """Text for a roff line: backslashes, dashes of options, and a leading dot."""
    text = text.replace("\\", "\\e").replace("-", "\\-")
    text = "".join(c if ord(c) < 128 else "\\[u%04X]" % ord(c) for c in text)
    if text.startswith((".", "'")):
        text = "\\&" + text
    return text


def commands(lode):
    """[(name, usage)] from lode --help, in its order."""
    out = []
    for line in lode_out(lode, "--help").splitlines():
        m = re.match(r"^  lode ([a-z][a-z0-9-]*)\b(.*)$", line)
        if m and not line.startswith("  lode --"):
            out.append((m.group(1), "lode " + m.group(1) + m.group(2)))
    return out


def intro(lode):
    """The paragraph of lode --help between the usage line and "Commands:"."""
    text = lode_out(lode, "--help").split("Commands:")[0]
    return " ".join(text.split("\n\n", 1)[1].split())


def help_body(text):
    """A command's help (after its usage line) as roff: paragraphs, then options as .TP."""
    body = text.split("\n", 2)[2] if text.startswith("usage:") else text
    out = []
    para = []
    opt = None
    for line in body.splitlines() + [""]:
        m = re.match(r"^  (-\S.*?)(?:  +(\S.*))?$", line)
        if m:
            if para:
                out += [".PP", esc(" ".join(para))]
                para = []
            if opt:
                out += [".TP", ".B " + esc(opt[0]), esc(" ".join(opt[1]))]
            opt = (m.group(1).strip(), [m.group(2)] if m.group(2) else [])
        elif opt and line.startswith("      ") and line.strip():
            opt[1].append(line.strip())
        elif line.strip():
            if opt:
                out += [".TP", ".B " + esc(opt[0]), esc(" ".join(opt[1]))]
                opt = None
            para.append(line.strip())
        else:
            if opt:
                out += [".TP", ".B " + esc(opt[0]), esc(" ".join(opt[1]))]
                opt = None
            if para:
                out += [".PP", esc(" ".join(para))]
                para = []
    return out


def plain(md):
    """Markdown of a table cell as plain text."""
    md = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", md)
    return md.replace("`", "").replace("**", "").replace("*", "")


def environment():
    text = open(os.path.join(DOCS, "cli.md"), encoding="utf-8").read()
    section = text.split("\n## Environment", 1)[1].split("\n## ", 1)[0]
    out = []
    for line in section.splitlines():
        m = re.match(r"^\| `([A-Z0-9_]+)` \| (.*) \|$", line)
        if m:
            out += [".TP", ".B " + m.group(1), esc(plain(m.group(2)))]
    return out


def page(lode):
    version = lode_out(lode, "--version").splitlines()[0]
    cmds = commands(lode)
    out = ['.TH LODE 1 "%s" "%s" "User Commands"' % (DATE, esc(version)),
           ".SH NAME",
           "lode \\- package geoscience rasters and vector layers into a signed "
           "netCDF\\-4/HDF5 bundle, and check it",
           ".SH SYNOPSIS", ".nf"]
    out += [esc(u) for _, u in cmds]
    out += ["lode \\-\\-help | \\-h | help", "lode COMMAND \\-\\-help", "lode \\-\\-version", ".fi",
            ".SH DESCRIPTION", esc(intro(lode)),
            ".PP",
            esc("Every command takes -q, --quiet (no progress bar, no messages but errors) and "
                "-h, --help.  Results go to stdout; messages, errors and the progress bar "
                "(with the time elapsed and left, drawn only when stderr is a terminal) go "
                "to stderr.  The full reference is cli.md beside this page's other "
                "documents (share/doc/lode)."),
            ".SH COMMANDS"]
    for name, usage in cmds:
        out += [".SS %s" % name, ".B " + esc(usage)]
        out += help_body(lode_out(lode, name, "--help"))
    out += [".SH EXIT STATUS",
            ".TP", ".B 0", "success (verify: everything matches)",
            ".TP", ".B 1", esc("failure: bad manifest, unusable source, refused coordinate "
                               "operation, I/O error, not a bundle, damaged bundle"),
            ".TP", ".B 2", esc("usage error: unknown command or option, missing or extra "
                               "argument, an output that is an input, an option the command "
                               "does not take, a work folder without a plan"),
            ".TP", ".B 3", esc("status only: the plan has parts that are not made yet"),
            ".SH ENVIRONMENT"]
    out += environment()
    out += [".SH SEE ALSO",
            "gdalinfo(1), gdalwarp(1), ogr2ogr(1), projinfo(1), ncdump(1), h5dump(1); "
            "cli.md, manifest.md, bundle\\-format.md and cluster.md in lode's documentation.",
            ".SH LICENSE",
            "MIT; copyright the lode authors."]
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: docs/make_man.py LODE > docs/lode.1")
    sys.stdout.write(page(sys.argv[1]))
