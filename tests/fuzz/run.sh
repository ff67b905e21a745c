#!/bin/sh
# tests/fuzz/run.sh -- run lode's libFuzzer targets (called by tests/fuzz/fuzz.mk).
#
#   run.sh fuzz    BUILD_DIR SECONDS TARGET...   fuzz each target in turn for SECONDS on
#                  BUILD_DIR/corpus/TARGET (seeded from tests/fuzz/corpus/NAME/), print
#                  one summary line per target; exit 1 if any run left an artifact
#                  (crash, leak, timeout, out-of-memory)
#   run.sh regress BUILD_DIR 0 TARGET...         run each target over every file in
#                  tests/fuzz/regressions/TARGET/; exit 1 if any of them fails
#
# Environment: FUZZ_FORK=1 (default) keeps fuzzing after a crash; FUZZ_FLAGS adds
# libFuzzer flags.  Run from the top of the repository.
set -u
mode=$1 bdir=$2 secs=$3
shift 3
here=tests/fuzz

# Sanitizer settings.  Fuzzing uses the fast unwinder (about 5 times faster) and
# lsan-hdf5.supp; replaying (regress, or FUZZ_FULL_UNWIND=1) uses full stacks and the
# precise lsan.supp.  Both only leave out leaks inside HDF5 itself.
if [ "$mode" = regress ] || [ "${FUZZ_FULL_UNWIND:-0}" = 1 ]; then
	unwind=fast_unwind_on_malloc=0 supp=lsan.supp
else
	unwind=fast_unwind_on_malloc=1 supp=lsan-hdf5.supp
fi
# An allocation over 1536 MiB fails, as under lode's RLIMIT_DATA outside ASan
# (pipeline/untrusted.c), before libFuzzer's malloc limit (2048 MB) reports it.
ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:symbolize=1:$unwind:allocator_may_return_null=1:max_allocation_size_mb=1536}
LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$(pwd)/$here/$supp:print_suppressions=0}
UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export ASAN_OPTIONS LSAN_OPTIONS UBSAN_OPTIONS

target_flags() {
	case $1 in
	fuzz_manifest) echo "-dict=$here/manifest.dict -max_len=16384" ;;
	fuzz_bundle) echo "-max_len=65536" ;;
	esac
}

status=0
summary=""

# The targets write each input to a file in LODE_FUZZ_TMPDIR; a process that crashes
# leaves its file behind, so each run gets its own folder, removed at the end.
if [ -z "${LODE_FUZZ_TMPDIR:-}" ]; then
	if [ -w /dev/shm ]; then base=/dev/shm; else base=${TMPDIR:-/tmp}; fi
	LODE_FUZZ_TMPDIR=$(mktemp -d "$base/lode-fuzz.XXXXXX") || exit 1
	export LODE_FUZZ_TMPDIR
	trap 'rm -rf "$LODE_FUZZ_TMPDIR"' EXIT
	trap 'exit 130' INT TERM
fi

if [ "$mode" = regress ]; then
	for t in "$@"; do
		dir=$here/regressions/$t
		n=0 bad=0
		for f in "$dir"/*; do
			[ -f "$f" ] || continue
			case $(basename "$f") in README* | .*) continue ;; esac
			n=$((n + 1))
			# A file argument (not a folder) makes libFuzzer run just that input.
			if ! "$bdir/$t" -timeout=30 -rss_limit_mb=2048 "$f" >"$bdir/$t.regress.log" 2>&1; then
				bad=$((bad + 1))
				echo "FAIL $t $f"
				grep -E 'ERROR: |SUMMARY: |runtime error|fuzz_(bundle|manifest):|#[0-9]+ 0x' \
					"$bdir/$t.regress.log" | head -25
			fi
		done
		line="$t: $n regression input(s), $bad failed"
		echo "$line"
		[ "$bad" -eq 0 ] || status=1
	done
	exit $status
fi

for t in "$@"; do
	name=${t#fuzz_}
	corpus=$bdir/corpus/$t
	art=$bdir/artifacts/$t
	log=$bdir/$t.log
	mkdir -p "$corpus" "$art"
	# A copy of the seeds; what earlier runs found stays in the working corpus.
	cp -n "$here/corpus/$name"/* "$corpus"/ 2>/dev/null
	stamp=$bdir/$t.stamp
	: >"$stamp"
	sleep 1
	flags="-max_total_time=$secs -timeout=30 -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix=$art/"
	if [ "${FUZZ_FORK:-1}" = 1 ]; then
		flags="$flags -fork=1 -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1"
	fi
	echo "fuzzing $t for $secs s (log: $log, artifacts: $art/)"
	start=$(date +%s)
	# shellcheck disable=SC2046,SC2086
	"$bdir/$t" $flags $(target_flags "$t") ${FUZZ_FLAGS:-} "$corpus" >"$log" 2>&1
	rc=$?
	end=$(date +%s)
	# Executions: fork mode prints "#N: cov: ..."; a single process "stat::number_of_executed_units".
	execs=$(grep -E '^stat::number_of_executed_units' "$log" | awk '{s += $2} END {print s + 0}')
	forkn=$(grep -oE '^#[0-9]+: ' "$log" | tail -1 | tr -dc 0-9)
	[ -n "$forkn" ] && [ "$forkn" -gt "$execs" ] && execs=$forkn
	crashes=$(find "$art" -newer "$stamp" -type f \( -name 'crash-*' -o -name 'leak-*' \) | wc -l)
	timeouts=$(find "$art" -newer "$stamp" -type f -name 'timeout-*' | wc -l)
	ooms=$(find "$art" -newer "$stamp" -type f -name 'oom-*' | wc -l)
	corpn=$(find "$corpus" -type f | wc -l)
	line="$t: $execs executions in $((end - start)) s, $crashes crashes/leaks, $timeouts timeouts, $ooms ooms, corpus $corpn files (exit $rc)"
	summary="$summary$line
"
	if [ $((crashes + timeouts + ooms)) -gt 0 ] || { [ "$rc" -ne 0 ] && [ "${FUZZ_FORK:-1}" != 1 ]; }; then
		status=1
		echo "$t: artifacts in $art/ -- reproduce with: $bdir/$t FILE; see tests/fuzz/README.md"
	fi
done
echo "== fuzz summary =="
printf '%s' "$summary"
exit $status
