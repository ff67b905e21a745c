# tests/fuzz/fuzz.mk -- libFuzzer targets for lode; included from the Makefile
# (include tests/fuzz/fuzz.mk), or used as  make -f Makefile -f tests/fuzz/fuzz.mk fuzz-ci
#
#   make fuzz           build the targets, fuzz each for FUZZ_SECONDS (default 600)
#   make fuzz-ci        the same with FUZZ_SECONDS=60, then one summary line per target
#   make fuzz-regress   run each target over tests/fuzz/regressions/TARGET/ only
#   make fuzz-build     only build build-fuzz/fuzz_manifest and build-fuzz/fuzz_bundle
#   make fuzz-clean     remove build-fuzz/
#
# Include it at the end of the Makefile: it uses the Makefile's LIB_SRC, HEADERS, WARN,
# DEP_CFLAGS, DEP_LIBS and deps target.  The library is compiled again with clang (coverage,
# ASan, UBSan) into build-fuzz/.
# See tests/fuzz/README.md.

ifndef LODE_FUZZ_MK
LODE_FUZZ_MK := 1

# The rules below name LIB_SRC and HEADERS in their prerequisites, which make expands
# as it reads them: include this file after those are defined (at the end is best).
ifeq ($(strip $(LIB_SRC)),)
$(error tests/fuzz/fuzz.mk: include it after the Makefile defines LIB_SRC and HEADERS)
endif

FUZZ_MK := $(lastword $(MAKEFILE_LIST))
FUZZ_SRC := $(patsubst %/,%,$(dir $(FUZZ_MK)))
# Every makefile read so far (the Makefile and this fragment), for the sub-make.
FUZZ_MAKEFILES := $(MAKEFILE_LIST)
FUZZ_SAVED_GOAL := $(.DEFAULT_GOAL)

FUZZ_CC ?= clang-14
FUZZ_SECONDS ?= 600
FUZZ_CI_SECONDS ?= 60
FUZZ_DIR ?= build-fuzz
# 1: keep fuzzing after a crash (libFuzzer -fork=1 -ignore_crashes=1), 0: stop at the first.
FUZZ_FORK ?= 1
# Extra libFuzzer flags for every run, e.g. FUZZ_FLAGS=-jobs=2 or -seed=1.
FUZZ_FLAGS ?=
FUZZ_TARGETS = fuzz_manifest fuzz_bundle

# Debian 12: clang-14 is the compiler, libclang-rt-14-dev has libclang_rt.fuzzer.
FUZZ_DEB_PACKAGES = clang-14 libclang-rt-14-dev

FUZZ_SAN = -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
FUZZ_CFLAGS = -std=c17 -D_GNU_SOURCE $(filter-out -Werror,$(WARN)) -O1 -g $(FUZZ_SAN) $(INCLUDES) \
	$(DEP_CFLAGS)
FUZZ_LIB_OBJ = $(LIB_SRC:%.c=$(FUZZ_DIR)/%.o)
FUZZ_BINS = $(FUZZ_TARGETS:%=$(FUZZ_DIR)/%)
# The Makefile includes this file, so a sub-make of the first makefile has every rule.
FUZZ_SUBMAKE = $(MAKE) --no-print-directory -f $(firstword $(FUZZ_MAKEFILES))

.PHONY: fuzz fuzz-ci fuzz-regress fuzz-build fuzz-deps fuzz-clean

# The Makefile's packages (libraries, headers), then clang and its libFuzzer runtime.
fuzz-deps: deps
	$(call install_missing,$(FUZZ_DEB_PACKAGES))

# Library objects: instrumented for coverage (fuzzer-no-link) and sanitized.
$(FUZZ_DIR)/%.o: %.c $(HEADERS)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c $< -o $@

$(FUZZ_BINS): $(FUZZ_DIR)/%: $(FUZZ_SRC)/%.c $(FUZZ_SRC)/fuzz_common.h $(FUZZ_LIB_OBJ) $(HEADERS)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer $< $(FUZZ_LIB_OBJ) $(DEP_LIBS) -o $@

fuzz-build: $(FUZZ_BINS)

# deps first, then a sub-make, so that pkg-config sees freshly installed packages.
fuzz: fuzz-deps
	@$(FUZZ_SUBMAKE) fuzz-build
	@FUZZ_FORK=$(FUZZ_FORK) FUZZ_FLAGS="$(FUZZ_FLAGS)" \
	 $(FUZZ_SRC)/run.sh fuzz $(FUZZ_DIR) $(FUZZ_SECONDS) $(FUZZ_TARGETS)

fuzz-ci: fuzz-deps
	@$(FUZZ_SUBMAKE) fuzz-build
	@FUZZ_FORK=$(FUZZ_FORK) FUZZ_FLAGS="$(FUZZ_FLAGS)" \
	 $(FUZZ_SRC)/run.sh fuzz $(FUZZ_DIR) $(FUZZ_CI_SECONDS) $(FUZZ_TARGETS)

fuzz-regress: fuzz-deps
	@$(FUZZ_SUBMAKE) fuzz-build
	@$(FUZZ_SRC)/run.sh regress $(FUZZ_DIR) 0 $(FUZZ_TARGETS)

fuzz-clean:
	rm -rf $(FUZZ_DIR)

# Including this file must not change the Makefile's default goal.
.DEFAULT_GOAL := $(FUZZ_SAVED_GOAL)

endif
