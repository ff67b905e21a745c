"""lode benchmark, issue 19: the new vector kinds (a table with list fields, XYZM lines).

Imported by tests/bench/bench.py (part "kinds"; BENCH_SKIP=kinds leaves it out).
Environment:

  BENCH_TABLE_ROWS   rows of the attribute table (no geometry)          (default 1000000)
  BENCH_XYZM_LINES   LineString ZM features (10-50 vertices each)      (default 100000)

The table is a CSV file with its .csvt (so a layer without geometry, and GDAL's CSV
reader types the JSonStringList and JSonIntegerList columns as real OGR lists; a GeoJSON
file of features with null geometries is a layer of unknown geometry type, not a table,
and a GeoPackage's JSON text is a String(JSON), not a list): an Integer id, a String, a
Real (some nulls), a Date (some nulls), a StringList of 0-4 mineral codes (some null)
and an IntegerList of 1-3 interval depths.  The lines are flight-line segments in
GDM2000 / Peninsular RSO (EPSG:3375) as a GeoPackage LineString ZM layer: Z the sensor
height in metres, M the distance along the line.

For each, alternating: `lode run` of a manifest to EPSG:4326 (as the vector part),
`ogr2ogr -f GPKG` and `ogr2ogr -f netCDF -dsco FORMAT=NC4` of the same source.  Then the
per-value figure the issue asks for ("the same per-value speed as today's columns"): lode
alone on the bench's points and polygons (bench.make_points / make_polygons, sizes
BENCH_POINTS / BENCH_POLYGONS) and on the two new sources, each alternating with
`ogr2ogr -f Memory` of the same source (what reading it through OGR costs, with -t_srs
where lode reprojects: a CSV costs more to read than a GeoPackage), as wall and CPU
seconds per million values, and lode's CPU beyond that read per million values, where a
value is one field of one feature, one item of a list (an empty or null list counts as
one value) or one coordinate (x, y, z, m) of one vertex.  Last, `lode run -j 1`, `-j 2`
and `-j 2 --max-memory 256M` of each new source must give byte-identical bundles (cmp)
that `lode verify` accepts, with their peak RSS against the bench's 256 MB target.
`ogr2ogr -f Memory` is also timed beside the other tools in the comparison.
"""

import json
import os
import time

import numpy as np

import bench as B

RSS_TARGET_MB = 256.0
MINERALS = ["py", "cpy", "gn", "sp", "asp", "mo", "au", "qz", "ca", "ser", "chl", "hem"]
FLIGHTS = ["A", "B", "C", "D", "E", "F", "T"]


def make_table(path, n):
    """n rows without geometry as CSV with its .csvt; returns (made, values)."""
    meta = path + ".json"
    if os.path.exists(path) and os.path.exists(meta):
        with open(meta) as f:
            return False, json.load(f)["values"]
    rng = np.random.default_rng([B.SEED, 3, n])
    grade = np.round(rng.lognormal(-1.0, 1.2, n), 4)
    day = rng.integers(0, 365 * 40, n)
    dates = (np.datetime64("1980-01-01") + day.astype("timedelta64[D]")).astype(str)
    nmin = rng.integers(0, 5, n)                        # 0-4 minerals
    mins = rng.integers(0, len(MINERALS), (n, 4))
    nint = rng.integers(1, 4, n)                        # 1-3 interval depths
    ints = rng.integers(0, 1500, (n, 3))
    holes = rng.integers(0, 5000, n)
    values = 0
    tmp = path[:-4] + ".tmp.csv"
    with open(tmp[:-4] + ".csvt", "w") as f:
        f.write("Integer,String,Real,Date,JSonStringList,JSonIntegerList\n")
    with open(tmp, "w") as f:
        f.write("assay_id,hole,au_ppm,assayed,minerals,depths_m\n")
        step = 100_000
        for s in range(0, n, step):
            rows = []
            for i in range(s, min(s + step, n)):
                # Every 41st grade and every 89th date is null (an empty value), every 53rd
                # mineral list too; a list is its JSON array, quoted as CSV quotes.
                ml = ("" if i % 53 == 5 else '"[' + ",".join(
                    '""%s""' % MINERALS[m] for m in mins[i, :nmin[i]]) + ']"')
                il = '"[' + ",".join(str(v) for v in ints[i, :nint[i]]) + ']"'
                values += 4 + (1 if not ml else max(1, nmin[i])) + nint[i]
                rows.append("%d,DH-%04d,%s,%s,%s,%s\n" % (
                    i + 1, holes[i], "" if i % 41 == 2 else repr(float(grade[i])),
                    "" if i % 89 == 4 else dates[i], ml, il))
            f.writelines(rows)
    os.rename(tmp[:-4] + ".csvt", path + "t")
    os.rename(tmp, path)
    with open(meta, "w") as f:
        json.dump({"rows": n, "values": int(values)}, f)
    return True, int(values)


def make_lines(path, n):
    """n LineString ZM features of 10-50 vertices in EPSG:3375; returns (made, values)."""
    meta = path + ".json"
    if os.path.exists(path) and os.path.exists(meta):
        with open(meta) as f:
            return False, json.load(f)["values"]
    rng = np.random.default_rng([B.SEED, 4, n])
    nv = rng.integers(10, 51, n)
    margin = 20000.0
    x0 = rng.uniform(B.X0 + margin, B.X0 + B.EXTENT - margin, n)
    y0 = rng.uniform(B.Y0 - B.EXTENT + margin, B.Y0 - margin, n)
    head = rng.uniform(0.0, 2 * np.pi, n)
    csv_path = path[:-5] + ".csv"
    vertices = 0
    with open(csv_path, "w") as f:
        f.write("line_id,flight,wkt\n")
        step = 10_000
        for s in range(0, n, step):
            rows = []
            for i in range(s, min(s + step, n)):
                k = nv[i]
                d = np.concatenate(([0.0], np.cumsum(rng.uniform(80.0, 120.0, k - 1))))
                xs = x0[i] + d * np.cos(head[i]) + rng.normal(0.0, 3.0, k)
                ys = y0[i] + d * np.sin(head[i]) + rng.normal(0.0, 3.0, k)
                zs = 60.0 + rng.normal(0.0, 4.0, k)
                pts = ", ".join("%.2f %.2f %.2f %.1f" % c for c in zip(xs, ys, zs, d))
                rows.append('%d,%s%d,"LINESTRING ZM (%s)"\n' % (
                    i + 1, FLIGHTS[i % len(FLIGHTS)], 100 + i // 500, pts))
                vertices += k
            f.writelines(rows)
    B.csv_to_gpkg(csv_path, "Integer,String,WKT", path, "lines", "LINESTRINGZM", B.SRC_EPSG)
    values = 2 * n + 4 * vertices
    with open(meta, "w") as f:
        json.dump({"features": n, "vertices": int(vertices), "values": int(values)}, f)
    return True, int(values)


def vertices_of(path):
    with open(path + ".json") as f:
        return json.load(f).get("vertices")


def same_bundles(lode, man, out, label):
    """lode run -j 1, -j 2, -j 2 --max-memory 256M: identical bytes, verify, peak RSS."""
    runs, blobs = [], []
    for extra in (["-j", "1"], ["-j", "2"], ["-j", "2", "--max-memory", "256M"]):
        p = os.path.join(out, "kinds_%s_%s.nc" % (label, "_".join(extra).replace("-", "")))
        r = B.measure([lode, "run", man, "-o", p, "-q"] + extra, out_path=p)
        v = B.measure([lode, "verify", p, "-q"], check=False)
        with open(p, "rb") as f:
            blobs.append(f.read())
        runs.append({"options": " ".join(extra), "wall_s": r["wall_s"], "cpu_s": r["cpu_s"],
                     "rss_mb": r["rss_mb"], "verify_rc": v["rc"]})
        os.remove(p)
    same = all(b == blobs[0] for b in blobs)
    for r in runs:
        B.log("  %-28s %6.2f s wall %6.2f s cpu %6.1f MB peak RSS (%s), verify %s" % (
            "lode run " + r["options"], r["wall_s"], r["cpu_s"], r["rss_mb"],
            "OK" if r["rss_mb"] <= RSS_TARGET_MB else "OVER %.0f" % RSS_TARGET_MB,
            "OK" if r["verify_rc"] == 0 else "FAILED (exit %d)" % r["verify_rc"]))
    B.log("  bundles byte-identical across those runs: %s" % ("yes" if same else "NO"))
    return {"runs": runs, "identical": same,
            "rss_ok": all(r["rss_mb"] <= RSS_TARGET_MB for r in runs),
            "verify_ok": all(r["verify_rc"] == 0 for r in runs)}


def compare(lode, label, src, layer, count, repeat, out):
    """lode run against ogr2ogr -f GPKG and -f netCDF, alternating (as the vector part)."""
    man = os.path.join(B.WORK, "kinds_%s.yaml" % label)
    B.write_manifest(man, ["99.5", "0.5", "105.5", "7.5"], "0.01",
                     [(label, os.path.basename(src), [])])
    lode_out = os.path.join(out, "lode_%s.nc" % label)
    gp_out = os.path.join(out, "ogr2ogr_%s.gpkg" % label)
    nc_out = os.path.join(out, "ogr2ogr_%s.nc" % label)
    lode_cmd = [lode, "run", man, "-o", lode_out, "-q"]
    gp_cmd = ["ogr2ogr", "-q", "-f", "GPKG", "-t_srs", "EPSG:4326", "-lco", "SPATIAL_INDEX=NO",
              gp_out, src]
    nc_cmd = ["ogr2ogr", "-q", "-f", "netCDF", "-dsco", "FORMAT=NC4", "-t_srs", "EPSG:4326",
              nc_out, src]
    mem_cmd = ["ogr2ogr", "-q", "-f", "Memory", "-t_srs", "EPSG:4326", "mem", src]
    if layer is None:                       # a table: nothing to reproject
        gp_cmd = [a for a in gp_cmd if a not in ("-t_srs", "EPSG:4326", "-lco",
                                                 "SPATIAL_INDEX=NO")]
        nc_cmd = [a for a in nc_cmd if a not in ("-t_srs", "EPSG:4326")]
        mem_cmd = [a for a in mem_cmd if a not in ("-t_srs", "EPSG:4326")]
    B.log("\n== kinds %s: %d features" % (label, count))
    B.log("  lode:           %s" % " ".join(lode_cmd))
    B.log("  ogr2ogr GPKG:   %s" % " ".join(gp_cmd))
    B.log("  ogr2ogr netCDF: %s" % " ".join(nc_cmd))
    B.log("  ogr2ogr Memory: %s" % " ".join(mem_cmd))
    B.warm(src)
    load0 = B.loadavg()
    tools = [("lode", lambda: B.measure(lode_cmd, out_path=lode_out)),
             ("ogr2ogr GPKG", lambda: B.measure(gp_cmd, out_path=gp_out))]
    # GDAL 3.6's netCDF writer takes no layer without geometry: try once, time it only if
    # it works.
    probe = B.measure(nc_cmd, out_path=nc_out, check=False)
    nc_ok = probe["rc"] == 0 and os.path.exists(nc_out)
    nc_err = " ".join(ln.strip() for ln in probe["stderr"].splitlines()
                      if ln.strip() and not ln.startswith("ERROR 1: Terminating"))[:300]
    if nc_ok:
        tools.append(("ogr2ogr netCDF", lambda: B.measure(nc_cmd, out_path=nc_out)))
    else:
        B.log("  ogr2ogr -f netCDF fails (exit %d), not timed: %s" % (probe["rc"], nc_err))
    # What reading the source through OGR costs: ogr2ogr to the Memory driver (the same
    # -t_srs), which writes nothing.
    tools.append(("ogr2ogr Memory", lambda: B.measure(mem_cmd)))
    summ = B.alternate(tools, repeat)
    counts = {"lode": B.lode_counts(lode, lode_out).get(label),
              "ogr2ogr GPKG": B.ogr_count(gp_out)}
    if nc_ok:
        counts["ogr2ogr netCDF"] = B.ogr_count(nc_out)
    res = {"features": count, "figures": summ, "counts": counts, "load_before": load0,
           "load_after": B.loadavg(), "netcdf_ok": nc_ok,
           "netcdf_error": None if nc_ok else nc_err}
    B.log("\n" + B.table([B.fig_row("%s %s" % (k, label), v) for k, v in summ.items()],
                         B.FIG_HEAD))
    B.log("\n" + B.table([B.ratio_row("lode/%s" % k, summ["lode"], v)
                          for k, v in summ.items() if k != "lode"], B.RATIO_HEAD))
    B.log("  features written: %s" % ", ".join("%s %s" % kv for kv in counts.items()))
    B.log("  load average: before %s, after %s" % (load0, res["load_after"]))
    for p in (lode_out, gp_out, nc_out):
        if os.path.exists(p):
            os.remove(p)
    res["same_for_threads"] = same_bundles(lode, man, out, label)
    return man, res


def per_value(lode, cases, repeat, out):
    """lode alone on every case, alternating with ogr2ogr -f Memory of the same source (what
    reading it through OGR costs); wall and CPU per million values, and lode's CPU beyond
    that reading per million values."""
    tools = []
    for label, man, values, src, reproject in cases:
        p = os.path.join(out, "pv_%s.nc" % label)
        mem = ["ogr2ogr", "-q", "-f", "Memory"] + (["-t_srs", "EPSG:4326"] if reproject else [])
        tools.append((label, lambda man=man, p=p: B.measure([lode, "run", man, "-o", p, "-q"],
                                                            out_path=p)))
        tools.append((label + " read", lambda c=mem + ["mem", src]: B.measure(c)))
    B.log("\n== kinds: lode alone, per million values (fields, list items, coordinates); "
          "\"read\" is ogr2ogr -f Memory of the source")
    load0 = B.loadavg()
    summ = B.alternate(tools, repeat)
    rows, res = [], {}
    for label, man, values, src, reproject in cases:
        s, rd = summ[label], summ[label + " read"]
        mv = values / 1e6
        res[label] = {"values": values, "wall_s": s["wall_s"], "cpu_s": s["cpu_s"],
                      "rss_mb": s["rss_mb"], "walls": s["walls"],
                      "read_wall_s": rd["wall_s"], "read_cpu_s": rd["cpu_s"],
                      "wall_s_per_mvalue": s["wall_s"] / mv, "cpu_s_per_mvalue": s["cpu_s"] / mv,
                      "beyond_read_cpu_s_per_mvalue": (s["cpu_s"] - rd["cpu_s"]) / mv}
        p = os.path.join(out, "pv_%s.nc" % label)
        if os.path.exists(p):
            os.remove(p)
    base = [k for k in ("points", "polygons") if k in res]
    for label, r in res.items():
        r["ratios"] = {b: {"wall": r["wall_s_per_mvalue"] / res[b]["wall_s_per_mvalue"],
                           "cpu": r["cpu_s_per_mvalue"] / res[b]["cpu_s_per_mvalue"],
                           "beyond_read_cpu": r["beyond_read_cpu_s_per_mvalue"] /
                           res[b]["beyond_read_cpu_s_per_mvalue"]
                           if res[b]["beyond_read_cpu_s_per_mvalue"] > 0 else float("nan")}
                       for b in base}
        rows.append([label, "%.2f M" % (r["values"] / 1e6), "%.2f" % r["wall_s"],
                     "%.2f" % r["cpu_s"], "%.2f" % r["read_cpu_s"],
                     "%.3f" % r["wall_s_per_mvalue"], "%.3f" % r["cpu_s_per_mvalue"],
                     "%.3f" % r["beyond_read_cpu_s_per_mvalue"]] +
                    ["%.2f / %.2f / %.2f" % (r["ratios"][b]["wall"], r["ratios"][b]["cpu"],
                                             r["ratios"][b]["beyond_read_cpu"]) for b in base])
    B.log("\n" + B.table(rows, ["lode run", "values", "wall s", "CPU s", "read CPU s",
                                "wall s / M values", "CPU s / M values",
                                "CPU beyond read / M values"] +
                         ["vs %s (wall / CPU / beyond read)" % b for b in base]))
    B.log("  load average: before %s, after %s" % (load0, B.loadavg()))
    return res


def run(lode, work, out, nproc, repeat, npoints, npolys):
    rows = B.env_int("BENCH_TABLE_ROWS", 1_000_000, 1)
    nlines = B.env_int("BENCH_XYZM_LINES", 100_000, 1)
    B.WORK = work              # bench.measure's scratch files (this module imports bench anew)
    B.log("\n== kinds (issue 19): a %d-row table with list fields, %d XYZM lines" % (
        rows, nlines))
    t0 = time.monotonic()
    tab = os.path.join(work, "table_%d.csv" % rows)
    made, tab_values = make_table(tab, rows)
    B.log("  %s  %d rows, 6 fields (2 lists), no geometry, %s%s" % (
        os.path.basename(tab), rows, B.fmt_bytes(os.path.getsize(tab)),
        "  (generated in %.0f s)" % (time.monotonic() - t0) if made else ""))
    t0 = time.monotonic()
    lin = os.path.join(work, "lines_zm_%d.gpkg" % nlines)
    made, lin_values = make_lines(lin, nlines)
    nvert = vertices_of(lin)
    B.log("  %s  %d LineString ZM, %d vertices, EPSG:%d, %s%s" % (
        os.path.basename(lin), nlines, nvert, B.SRC_EPSG, B.fmt_bytes(os.path.getsize(lin)),
        "  (generated in %.0f s)" % (time.monotonic() - t0) if made else ""))
    res = {"table_rows": rows, "lines": nlines, "line_vertices": nvert}
    man_t, res["table"] = compare(lode, "table", tab, None, rows, repeat, out)
    man_l, res["lines_zm"] = compare(lode, "lines_zm", lin, "lines", nlines, repeat, out)
    res["table"]["values"], res["lines_zm"]["values"] = tab_values, lin_values
    cases = []
    if npoints:
        p = os.path.join(work, "points_%d.gpkg" % npoints)
        B.make_points(p, npoints)
        m = os.path.join(work, "kinds_points.yaml")
        B.write_manifest(m, ["99.5", "0.5", "105.5", "7.5"], "0.01",
                         [("points", os.path.basename(p), [])])
        cases.append(("points", m, npoints * 7, p, True))          # 5 fields, x, y
    if npolys:
        p = os.path.join(work, "polygons_%d.gpkg" % npolys)
        B.make_polygons(p, npolys)
        m = os.path.join(work, "kinds_polygons.yaml")
        B.write_manifest(m, ["99.5", "0.5", "105.5", "7.5"], "0.01",
                         [("polygons", os.path.basename(p), [])])
        cases.append(("polygons", m, npolys * (3 + 51 * 2), p, True))  # 3 fields, 51 x, y
    cases += [("table", man_t, tab_values, tab, False), ("lines_zm", man_l, lin_values, lin, True)]
    res["per_value"] = per_value(lode, cases, repeat, out)
    res["nproc"] = nproc
    return res
