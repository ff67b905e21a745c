# lode -- build, test, demo, install.
#
#   make            build build/lode and build/liblode.a
#   make check      install missing Debian packages, build, run every test, then run
#                   them all again under AddressSanitizer + UndefinedBehaviorSanitizer
#   make demo       install missing packages, build, run the sample manifest
#   make install    PREFIX=/usr/local DESTDIR=  (lode, liblode.a, headers, lode.pc, the man
#                   page lode.1, bash completion, the docs and LICENSE)
#   make format     clang-format the sources;  make format-check  fails on a diff

PREFIX ?= /usr/local
DESTDIR ?=
CC ?= cc
PYTHON ?= /usr/bin/python3
# The CF conventions checker for tests/e2e/test_cf.py: the path of a script that runs
# cfchecks on FILE.nc (../shared/tools/cfchecks/run-cfchecks.sh; .ci/run sets it when it
# exists).  Empty: those tests are skipped, saying so.
CFCHECKS ?=
export CFCHECKS

# Debian packages the build, the tests and the demo need.
DEB_PACKAGES = build-essential pkg-config libgdal-dev libproj-dev libhdf5-dev zlib1g-dev \
	libyaml-dev libsodium-dev libssl-dev libjansson-dev libcmocka-dev libdeflate-dev libxml2-dev libicu-dev gdal-bin proj-bin proj-data \
	hdf5-tools netcdf-bin python3 python3-gdal python3-numpy python3-h5py python3-netcdf4 \
	python3-xarray python3-nacl python3-jsonschema libxml2-utils time man-db groff-base mandoc \
	bash-completion bsdutils chromium python3-websocket nco python3-cftime
# tests/check_packages.py fails make check when a program or Python module the tests
# call is not provided by a package of this list.

# Debian packages for the single-node Slurm end-to-end test (tests/e2e/test_slurm.py).
SLURM_PACKAGES = slurmctld slurmd slurm-client munge

PKGS = gdal proj hdf5-serial yaml-0.1 libsodium libcrypto jansson zlib libdeflate libxml-2.0 icu-uc
# Errors of pkg-config are not hidden: the pkg-check target, which every compilation
# waits for, names the modules it cannot find and stops the build.
DEP_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null | sed 's/-I/-isystem /g')
DEP_LIBS := $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lhdf5_hl -lpthread -lm
# lode-verify's: no GDAL (a use of GDAL on verify's path is then a link error).
LIGHT_PKGS = proj hdf5-serial libsodium libcrypto jansson zlib libdeflate
LIGHT_LIBS := $(shell pkg-config --libs $(LIGHT_PKGS) 2>/dev/null) -lhdf5_hl -lpthread -lm
VERSION := $(shell sed -n 's/^\#define LODE_VERSION "\(.*\)"/\1/p' pipeline/lode.h)

WARN = -Wall -Wextra -Wpedantic -Wshadow -Wformat=2 -Wstrict-prototypes \
	-Wmissing-prototypes -Wvla
ifdef CI
WARN += -Werror
endif
# The release build (make, make install) takes Debian's flags, hardening included
# (dpkg-buildflags: -fstack-protector-strong, -D_FORTIFY_SOURCE=2, -Wformat
# -Werror=format-security, relro and bind-now), unless CFLAGS is given.
ifeq ($(origin CFLAGS),undefined)
BUILDFLAGS = DEB_BUILD_MAINT_OPTIONS=hardening=+all dpkg-buildflags --get
CFLAGS := $(or $(shell $(BUILDFLAGS) CFLAGS 2>/dev/null),-O2 -g)
CPPFLAGS ?= $(shell $(BUILDFLAGS) CPPFLAGS 2>/dev/null)
LDFLAGS ?= $(shell $(BUILDFLAGS) LDFLAGS 2>/dev/null)
endif
INCLUDES = -Ipipeline -Iformats -Iformats/base
# Where lode metadata --check finds the vendored schemas (tests/data/schemas, installed
# under PREFIX/share/lode/schemas; the source tree's copy when that is missing).
SCHEMA_DEFS = -DLODE_SCHEMA_DIR='"$(PREFIX)/share/lode/schemas"' -DLODE_SOURCE_SCHEMA_DIR='"$(CURDIR)/tests/data/schemas"'
# Where the built-in vocabularies (vocab/, issue 16) are found: installed, else the source tree's.
VOCAB_DEFS = -DLODE_VOCAB_DIR='"$(PREFIX)/share/lode/vocab"' -DLODE_SOURCE_VOCAB_DIR='"$(CURDIR)/vocab"'
# Where lode finds lode-full and lode-verify when /proc is not mounted (make install).
LIBEXEC_DEFS = -DLODE_LIBEXEC_DIR='"$(PREFIX)/libexec/lode"'
ALL_CFLAGS = -std=c17 -D_GNU_SOURCE $(WARN) $(CPPFLAGS) $(CFLAGS) $(INCLUDES) $(DEP_CFLAGS) $(SCHEMA_DEFS) \
	$(VOCAB_DEFS) $(LIBEXEC_DEFS)

# Every .c under pipeline/ and formats/ is in the library but the CLI's (pipeline/cli*.c).
# Layers, lowest first: formats/base (error record, utilities), formats (one adapter per
# outside library or format), pipeline (stages), the CLI; docs/architecture.md.
LIB_SRC = $(sort $(wildcard formats/base/*.c formats/*.c) $(filter-out pipeline/cli%.c,$(wildcard pipeline/*.c)))
# Three programs (docs/architecture.md, "Programs"): lode, the front users run (the C
# library alone), which runs lode-verify for verify (no GDAL: it starts 50 ms sooner) and
# lode-full for every other command.
FRONT_SRC = pipeline/cli_front.c
LIGHT_SRC = pipeline/cli_light.c pipeline/cli_options.c pipeline/cli_output.c pipeline/cli_progress.c \
	pipeline/cli_verify.c
CLI_SRC = $(filter-out $(FRONT_SRC) pipeline/cli_light.c,$(sort $(wildcard pipeline/cli*.c)))
UNIT_SRC = $(wildcard tests/unit/test_*.c)
HEADERS = $(wildcard pipeline/*.h formats/*.h formats/base/*.h)

# Two builds: plain in build/, sanitized in build-asan/.
B = build
LIB_OBJ = $(LIB_SRC:%.c=$(B)/%.o)
CLI_OBJ = $(CLI_SRC:%.c=$(B)/%.o)
LIGHT_OBJ = $(LIGHT_SRC:%.c=$(B)/%.o)
UNIT_BIN = $(UNIT_SRC:tests/unit/%.c=$(B)/tests/%)

SAN_FLAGS = -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined

.PHONY: all deps check check-plain check-asan demo install uninstall clean format format-check pkg-check

all: $(B)/lode $(B)/lode-full $(B)/lode-verify $(B)/liblode.a

# Every library pkg-config must find, named when it cannot (then: make deps).
pkg-check:
	@missing=""; for m in $(PKGS); do pkg-config --exists $$m || missing="$$missing $$m"; done; \
	if [ -n "$$missing" ]; then \
		pkg-config --print-errors --exists $(PKGS) 2>&1 | sed 's/^/pkg-config: /' >&2; \
		echo "lode: pkg-config cannot find the modules$$missing: install them (make deps: $(DEB_PACKAGES))" >&2; \
		exit 1; \
	fi

$(B)/%.o: %.c $(HEADERS) | pkg-check
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c $< -o $@

$(B)/liblode.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(B)/lode: $(B)/pipeline/cli_front.o
	$(CC) $(ALL_CFLAGS) $^ -o $@ $(LDFLAGS)

$(B)/lode-full: $(CLI_OBJ) $(B)/liblode.a
	$(CC) $(ALL_CFLAGS) $^ $(DEP_LIBS) -o $@ $(LDFLAGS)

$(B)/lode-verify: $(LIGHT_OBJ) $(B)/liblode.a
	$(CC) $(ALL_CFLAGS) $^ $(LIGHT_LIBS) -o $@ $(LDFLAGS)

$(B)/tests/%: tests/unit/%.c $(B)/liblode.a $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Itests/unit $< $(B)/liblode.a $(DEP_LIBS) -lcmocka -o $@ $(LDFLAGS)

# Install what is missing of a list of Debian packages, and only that (root, or sudo;
# apt-get update once first).  Shared by deps, bench-deps and fuzz-deps.
define install_missing
	@missing=""; for p in $(1); do \
		dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'install ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
		echo "Installing missing Debian packages:$$missing"; \
		if [ "$$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi; \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing; \
	fi
endef

deps:
	$(call install_missing,$(DEB_PACKAGES))

# The Slurm packages, installed with a temporary /usr/sbin/policy-rc.d that exits 101 so
# that on a systemd machine their services do not start (the test runs its own daemons).
# The file is removed afterwards, and only made when it did not exist and something is
# missing.  After deps, so that the two apt-get runs never overlap under make -j.
.PHONY: slurm-deps slurm-deps-install
slurm-deps: deps
	@if [ "$$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi; \
	n=$$(dpkg-query -W -f='$${Status}\n' $(SLURM_PACKAGES) 2>/dev/null | grep -c 'install ok installed'); \
	if [ "$$n" -eq $(words $(SLURM_PACKAGES)) ]; then exit 0; fi; \
	if [ -e /usr/sbin/policy-rc.d ]; then exec $(MAKE) --no-print-directory slurm-deps-install; fi; \
	trap '$$SUDO rm -f /usr/sbin/policy-rc.d' EXIT; trap 'exit 130' INT TERM; \
	printf '#!/bin/sh\n# made by lode make slurm-deps; removed when it ends\nexit 101\n' | \
		$$SUDO tee /usr/sbin/policy-rc.d >/dev/null && $$SUDO chmod 0755 /usr/sbin/policy-rc.d && \
		$(MAKE) --no-print-directory slurm-deps-install

slurm-deps-install:
	$(call install_missing,$(SLURM_PACKAGES))

unit: $(UNIT_BIN)

check: deps slurm-deps
	$(MAKE) check-plain
	$(MAKE) check-asan
	$(MAKE) fuzz-regress
	$(MAKE) fuzz-ci

check-plain: all unit
	@tests/run.sh $(B)

# The same suite, every binary built with ASan + UBSan.  An allocation over 1536 MiB
# fails (returns NULL) as it does in the child that reads a bundle outside ASan
# (RLIMIT_DATA, pipeline/untrusted.c: --max-memory's default 1 GiB + 512 MiB).
check-asan:
	$(MAKE) B=build-asan CFLAGS="-O1 -g $(SAN_FLAGS)" LDFLAGS="$(SAN_FLAGS)" all unit
	@ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:exitcode=99:allocator_may_return_null=1:max_allocation_size_mb=1536 \
	 LSAN_OPTIONS=suppressions=$(CURDIR)/tests/lsan.supp:print_suppressions=0 \
	 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 tests/run.sh build-asan

demo: deps
	$(MAKE) all
	@samples/demo.sh $(B)/lode

# lode.pc (from lode.pc.in, for PREFIX): the libraries liblode.a needs as Requires.private,
# but PROJ's -lproj as Libs.private: Debian's proj.pc requires libcurl privately, and
# pkg-config --static then asks for libraries of curl's that Debian installs without their
# -dev links (-lldap, -lgssapi_krb5, ...).
install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib/pkgconfig $(DESTDIR)$(PREFIX)/include \
		$(DESTDIR)$(PREFIX)/share/doc/lode $(DESTDIR)$(PREFIX)/share/man/man1 \
		$(DESTDIR)$(PREFIX)/share/bash-completion/completions
	install -m 0755 $(B)/lode $(DESTDIR)$(PREFIX)/bin/lode
	install -d $(DESTDIR)$(PREFIX)/libexec/lode
	install -m 0755 $(B)/lode-full $(B)/lode-verify $(DESTDIR)$(PREFIX)/libexec/lode/
	install -m 0644 $(B)/liblode.a $(DESTDIR)$(PREFIX)/lib/liblode.a
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@VERSION@|$(VERSION)|' \
		-e 's|@REQUIRES@|$(filter-out proj,$(PKGS))|' lode.pc.in > $(DESTDIR)$(PREFIX)/lib/pkgconfig/lode.pc
	chmod 0644 $(DESTDIR)$(PREFIX)/lib/pkgconfig/lode.pc
	install -m 0644 pipeline/lode.h formats/base/lode_error.h $(DESTDIR)$(PREFIX)/include/
	install -m 0644 docs/lode.1 $(DESTDIR)$(PREFIX)/share/man/man1/lode.1
	install -m 0644 docs/lode.bash-completion $(DESTDIR)$(PREFIX)/share/bash-completion/completions/lode
	install -m 0644 README.md LICENSE docs/*.md $(DESTDIR)$(PREFIX)/share/doc/lode/
	install -d $(DESTDIR)$(PREFIX)/share/lode
	rm -rf $(DESTDIR)$(PREFIX)/share/lode/schemas
	cp -R tests/data/schemas $(DESTDIR)$(PREFIX)/share/lode/schemas
	rm -rf $(DESTDIR)$(PREFIX)/share/lode/vocab
	install -d $(DESTDIR)$(PREFIX)/share/lode/vocab
	install -m 0644 vocab/*.csv vocab/LICENSE vocab/PROVENANCE.md $(DESTDIR)$(PREFIX)/share/lode/vocab/

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/bin/lode $(DESTDIR)$(PREFIX)/lib/liblode.a $(DESTDIR)$(PREFIX)/include/lode.h $(DESTDIR)$(PREFIX)/include/lode_error.h
	rm -f $(DESTDIR)$(PREFIX)/lib/pkgconfig/lode.pc $(DESTDIR)$(PREFIX)/share/man/man1/lode.1 \
		$(DESTDIR)$(PREFIX)/share/bash-completion/completions/lode
	rm -rf $(DESTDIR)$(PREFIX)/share/doc/lode $(DESTDIR)$(PREFIX)/share/lode $(DESTDIR)$(PREFIX)/libexec/lode

format:
	clang-format -i $(LIB_SRC) $(CLI_SRC) $(FRONT_SRC) pipeline/cli_light.c $(UNIT_SRC) $(HEADERS)

format-check:
	clang-format --dry-run --Werror $(LIB_SRC) $(CLI_SRC) $(FRONT_SRC) pipeline/cli_light.c $(UNIT_SRC) $(HEADERS)

clean:
	rm -rf build build-asan samples/generated

# make bench (not part of make check): lode against gdalwarp and ogr2ogr; see docs/performance.md
include tests/bench/bench.mk

# make fuzz / fuzz-ci / fuzz-regress: libFuzzer targets (tests/fuzz/README.md)
include tests/fuzz/fuzz.mk
