# tests/bench/bench.mk -- `make bench`: lode against gdalwarp and ogr2ogr (issue 5).
#
# Included by the Makefile (include tests/bench/bench.mk); on its own:
#   make -f Makefile -f tests/bench/bench.mk bench
# Not part of `make check`. Sizes (defaults: the issue's) can be made small:
#   make bench BENCH_SIZES=1000,500 BENCH_REPEAT=1 BENCH_POINTS=20000 BENCH_POLYGONS=2000
# Inputs are cached in build/bench/ (delete them to regenerate); the report goes to
# stdout and build/bench/results.json. See docs/performance.md.

# Keep whatever the including Makefile's default goal is (this file defines targets).
bench_saved_default_goal := $(.DEFAULT_GOAL)

BENCH_DEB_PACKAGES = gdal-bin time coreutils openssl util-linux python3 python3-gdal python3-numpy
BENCH_DIR ?= build/bench
PYTHON ?= /usr/bin/python3
B ?= build

export BENCH_SIZES BENCH_REPEAT BENCH_POINTS BENCH_POLYGONS BENCH_SKIP BENCH_RECEIVE_SIZE
export BENCH_TABLE_ROWS BENCH_XYZM_LINES

.PHONY: bench bench-deps bench-clean

# Install what is missing, and only that (as the Makefile's deps target does).
bench-deps:
	$(call install_missing,$(BENCH_DEB_PACKAGES))

bench: deps bench-deps
	$(MAKE) all
	$(PYTHON) tests/bench/bench.py --lode $(B)/lode --workdir $(BENCH_DIR)

bench-clean:
	rm -rf $(BENCH_DIR)

.DEFAULT_GOAL := $(bench_saved_default_goal)
