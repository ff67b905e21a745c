#!/usr/bin/python3
"""lode's cluster stages on a real single-node Slurm (tests/e2e/slurm_cluster.py).

Same runner, flags and output as test_raster.py.  Each test starts its own private
munged, slurmctld and slurmd (about half a second) and stops them at the end; when Slurm
is not installed or will not start here the test is skipped with the reason (make
slurm-deps installs the Debian packages).  Independent checks: job states from
scontrol, dataset digests read with h5py and compared with a one-process `lode run`.
"""
import glob
import json
import os
import re
import sys
import time

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from lodetest import Skip, lode, lode_ok, main, make_target, test, write_manifest  # noqa: E402
from slurm_cluster import SlurmCluster, SlurmUnavailable  # noqa: E402

import h5py  # noqa: E402

SLURM_SAMPLES = os.path.join(os.path.dirname(os.path.dirname(HERE)), "samples", "slurm")
JOB_TIMEOUT = 180   # seconds; the jobs take a few seconds when all is well


def cluster():
    c = SlurmCluster()
    try:
        c.start()
    except SlurmUnavailable as e:
        raise Skip("no Slurm cluster: %s" % " | ".join(str(e).splitlines()[:6]))
    return c


def stop_and_check(c):
    c.stop()
    left = c.leftover_pids()
    assert not left, "Slurm/munge processes still running after stop: %s" % left


def job_logs(folder, pattern="*.out", n=6):
    """The last lines of each job log, for failure messages."""
    out = []
    for p in sorted(glob.glob(os.path.join(folder, pattern))):
        lines = open(p, errors="replace").read().splitlines()
        out.append("%s: %s" % (os.path.basename(p), " / ".join(lines[-n:]) or "(empty)"))
    return " || ".join(out) or "(no job logs)"


def content_digests(path):
    """{dataset name: lode_content_sha256}, read with h5py: rasters in /NAME/NAME,
    vector layers as the root variable NAME (both carry lode_content_sha256)."""
    out = {}
    with h5py.File(path, "r") as f:
        def visit(name, obj):
            if "lode_content_sha256" in obj.attrs:
                v = obj.attrs["lode_content_sha256"]
                out[name.split("/")[-1]] = v.decode() if isinstance(v, bytes) else str(v)
        f.visititems(visit)
    return out


def survey_manifest(ctx, tdir):
    """Two rasters on a 0.00025 degree grid (about 1130 rows: three tiles of 512 rows
    each) and one vector layer."""
    aero = ctx.sample("aeromag_tmi.tif")
    geology = ctx.sample("geology_units.tif")
    deposits = ctx.sample("deposits.gpkg")
    target = make_target("EPSG:4326", [aero, geology], res=0.00025)
    rows = round((target["bounds"][3] - target["bounds"][1]) / target["resolution"])
    assert rows > 2 * 512, "test grid has only %d rows: not several tiles" % rows
    man = os.path.join(tdir, "m.yaml")
    write_manifest(man, target, [
        {"name": "aeromag", "source": aero, "resampling": "bilinear"},
        {"name": "geology_units", "source": geology, "resampling": "nearest"},
        {"name": "deposits", "source": deposits},
    ], {"allow_ballpark": True, "max_error_m": 20})
    return man


@test
def test_slurm_array_then_package(ctx, tdir):
    """samples/slurm/submit.sh on a real Slurm: lode plan, a 4-task reproject array, a
    package job after it (afterok); every job COMPLETED, the bundle verifies, and every
    dataset's content digest equals that of a one-process lode run."""
    man = survey_manifest(ctx, tdir)
    ref = os.path.join(tdir, "ref.nc")
    lode_ok(ctx, ["run", man, "-o", ref, "-q"], tdir)
    want = content_digests(ref)
    assert len(want) == 3, "reference bundle digests: %s" % want

    work = os.path.join(tdir, "work")
    bundle = os.path.join(tdir, "out", "bundle.nc")
    c = cluster()
    try:
        env = c.env(base=ctx.env(), LODE=ctx.lode, LODE_TILE_ROWS=512)
        r = c.run(["sh", os.path.join(SLURM_SAMPLES, "submit.sh"), man, work, bundle, 4],
                  env=env, cwd=tdir, timeout=120, check=False)
        assert r.returncode == 0, "submit.sh exited %d: %s %s" % (
            r.returncode, r.stdout.strip(), r.stderr.strip()[-1500:])
        ids = re.findall(r"job: (\d+)", r.stdout)
        assert len(ids) == 2, "submit.sh printed no two job ids: %r" % r.stdout
        res = c.wait(ids, timeout=JOB_TIMEOUT)
        logs = job_logs(tdir)
        assert not res.timed_out, "jobs still running after %ds: %s; %s" % (
            JOB_TIMEOUT, res.summary(), logs)
        assert len(res.states) == 5, "expected 4 array tasks and 1 package job: " + res.summary()
        assert res.all_completed(), "not every job COMPLETED: %s; %s" % (res.summary(), logs)
    finally:
        stop_and_check(c)

    assert os.path.isfile(bundle), "no bundle %s after the package job; %s" % (bundle, logs)
    lode_ok(ctx, ["verify", bundle, "-q"], tdir)
    got = content_digests(bundle)
    assert got == want, "content digests differ from lode run: slurm %s, run %s" % (got, want)
    listing = json.loads(lode_ok(ctx, ["ls", bundle, "--json"], tdir).out)
    names = sorted(d["name"] for d in listing["datasets"])
    assert names == sorted(want), "lode ls lists %s, lode run made %s" % (names, sorted(want))

    st = lode(ctx, ["status", "-w", work, "--json"], tdir)
    assert st.rc == 0, "lode status after a complete run: " + st.brief()
    json.loads(st.out)


@test
def test_slurm_failed_shard_stops_package(ctx, tdir):
    """Array tasks that fail (shards 4/4 and 5/4 are usage errors; no task has a plan to
    work on) leave the afterok package job PENDING with DependencyNeverSatisfied: the
    harness reports that within seconds instead of waiting, cancels it, and the package
    job never runs."""
    work = os.path.join(tdir, "work-unplanned")
    os.makedirs(work)
    bundle = os.path.join(tdir, "never.nc")
    c = cluster()
    try:
        env = c.env(base=ctx.env(), LODE=ctx.lode, LODE_WORK=work, LODE_BUNDLE=bundle)
        array = c.sbatch(["--array=2-5", "--output", os.path.join(tdir, "r-%A_%a.out")],
                         os.path.join(SLURM_SAMPLES, "reproject.sbatch"), env=env, cwd=tdir)
        package = c.sbatch(["--dependency=afterok:" + array,
                            "--output", os.path.join(tdir, "p-%j.out")],
                           os.path.join(SLURM_SAMPLES, "package.sbatch"), env=env, cwd=tdir)
        res = c.wait([array, package], timeout=60)
        assert not res.timed_out, "the harness waited out its timeout: " + res.summary()
        assert res.seconds < 30, "took %.1fs to see the dependency fail" % res.seconds
        assert res.never_satisfied == [package], \
            "package job not reported as never satisfied: " + res.summary()
        tasks = {k: v for k, v in res.states.items() if k.startswith(array + "_")}
        assert sorted(tasks) == ["%s_%d" % (array, i) for i in range(2, 6)], res.summary()
        assert all(s == "FAILED" for s in tasks.values()), \
            "array tasks did not all fail: %s; %s" % (res.summary(), job_logs(tdir, "r-*"))
        deadline = time.time() + 5   # the harness cancelled it; scontrol may lag a little
        while True:
            after = [r.get("JobState") for r in c.job_records(package)]
            if after == ["CANCELLED"] or time.time() > deadline:
                break
            time.sleep(0.2)
        assert after == ["CANCELLED"], "package job after the harness cancelled it: %s" % after
    finally:
        stop_and_check(c)
    assert not glob.glob(os.path.join(tdir, "p-*.out")), "the package job ran"
    assert not os.path.exists(bundle), "a bundle was written"


@test
def test_slurm_array_task_count(ctx, tdir):
    """The harness itself, and what samples/slurm/reproject.sbatch relies on: a 4-task
    array sees SLURM_ARRAY_TASK_ID 0..3 and SLURM_ARRAY_TASK_COUNT 4, and an afterok job
    runs only after all four (it reads their outputs)."""
    script = os.path.join(tdir, "task.sh")
    with open(script, "w") as f:
        f.write("#!/bin/sh\necho \"$SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT\"\n")
    after = os.path.join(tdir, "after.sh")
    with open(after, "w") as f:
        f.write("#!/bin/sh\ncat %s/task-*.out | sort > %s/all.txt\n" % (tdir, tdir))
    c = cluster()
    try:
        a = c.sbatch(["--array=0-3", "--output", os.path.join(tdir, "task-%a.out")], script,
                     cwd=tdir)
        b = c.sbatch(["--dependency=afterok:" + a, "--output", "/dev/null"], after, cwd=tdir)
        res = c.wait([a, b], timeout=60)
        assert res.all_completed() and len(res.states) == 5, res.summary()
    finally:
        stop_and_check(c)
    got = open(os.path.join(tdir, "all.txt")).read().split()
    assert got == ["%d/4" % i for i in range(4)], "array tasks saw %s" % got


if __name__ == "__main__":
    main()
