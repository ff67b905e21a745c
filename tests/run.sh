#!/bin/sh
# Run every lode test against one build folder and finish with one summary line,
# "N passed, N failed" (with ", N skipped" when some were skipped).
#
#   tests/run.sh build        the plain build
#   tests/run.sh build-asan   the sanitizer build (make check-asan sets the options)
#
# Unit tests are cmocka programs in BUILD/tests/; end-to-end tests run BUILD/lode and
# check its output with gdalinfo, gdalwarp, ncdump, h5dump, h5py and xarray.
set -u
BUILD=${1:-build}
TOP=$(cd "$(dirname "$0")/.." && pwd)
PY=${PYTHON:-/usr/bin/python3}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/lode-tests.XXXXXX")
trap 'rm -rf "$WORK"' EXIT INT TERM
passed=0 failed=0 skipped=0

# The layering of the sources (tests/check_layout.py; docs/architecture.md).
out=$("$PY" "$TOP/tests/check_layout.py" 2>&1)
printf '%s\n' "$out" | tail -n 20
if printf '%s\n' "$out" | tail -n 1 | grep -q ' 0 problems$'; then
	echo "PASS check_layout"
	passed=$((passed + 1))
else
	echo "FAIL check_layout"
	failed=$((failed + 1))
fi
# ... and the checker itself: each kind of violation planted in a copy must be caught.
out=$("$PY" "$TOP/tests/check_layout.py" --self-test 2>&1)
if printf '%s\n' "$out" | tail -n 1 | grep -q ': 0 missed$'; then
	echo "PASS check_layout_self_test"
	passed=$((passed + 1))
else
	printf '%s\n' "$out"
	echo "FAIL check_layout_self_test"
	failed=$((failed + 1))
fi

# Every program and Python module the tests call comes from a package make deps installs
# (tests/check_packages.py), and the checker reports each package taken out of the list.
for arg in "" --self-test; do
	out=$("$PY" "$TOP/tests/check_packages.py" $arg 2>&1)
	printf '%s\n' "$out" | tail -n 20
	if printf '%s\n' "$out" | tail -n 1 | grep -Eq '( 0 problems| 0 missed)$'; then
		echo "PASS check_packages${arg:+ $arg}"
		passed=$((passed + 1))
	else
		echo "FAIL check_packages${arg:+ $arg}"
		failed=$((failed + 1))
	fi
done

# Unit tests: cmocka prints "[  PASSED  ] N test(s)." and "[  FAILED  ] N test(s)".
for t in "$TOP/$BUILD"/tests/test_*; do
	[ -x "$t" ] || continue
	out=$("$t" 2>&1)
	rc=$?
	printf '%s\n' "$out"
	p=$(printf '%s\n' "$out" | sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' | tail -n 1)
	f=$(printf '%s\n' "$out" | sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' | tail -n 1)
	passed=$((passed + ${p:-0}))
	failed=$((failed + ${f:-0}))
	if [ "$rc" -ne 0 ] && [ "${f:-0}" -eq 0 ]; then
		echo "FAIL $(basename "$t"): exited with status $rc"
		failed=$((failed + 1))
	fi
done

# End-to-end tests on the bundled samples (generated here, never committed).
"$PY" "$TOP/samples/make_samples.py" "$WORK/samples" >/dev/null || {
	echo "FAIL make_samples: could not generate the sample rasters"
	failed=$((failed + 1))
}
for t in "$TOP"/tests/e2e/test_*.py; do
	[ -f "$t" ] || continue
	out=$(cd "$WORK" && "$PY" "$t" --lode "$TOP/$BUILD/lode" --samples "$WORK/samples" \
		--data "$TOP/tests/data" --grids "$TOP/tests/data/grids" --realdata "$TOP/samples/data" \
		--work "$WORK/e2e-$(basename "$t" .py)" 2>&1)
	rc=$?
	printf '%s\n' "$out"
	line=$(printf '%s\n' "$out" | grep -E '^[0-9]+ passed, [0-9]+ failed' | tail -n 1)
	if [ -z "$line" ]; then
		echo "FAIL $(basename "$t"): no summary line (exit status $rc)"
		failed=$((failed + 1))
		continue
	fi
	p=$(echo "$line" | sed 's/^\([0-9]*\) passed.*/\1/')
	f=$(echo "$line" | sed 's/.* \([0-9]*\) failed.*/\1/')
	s=$(echo "$line" | sed -n 's/.* \([0-9]*\) skipped.*/\1/p')
	passed=$((passed + p))
	failed=$((failed + f))
	skipped=$((skipped + ${s:-0}))
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		echo "FAIL $(basename "$t"): exited with status $rc"
		failed=$((failed + 1))
	fi
done

echo
if [ "$skipped" -gt 0 ]; then
	echo "$passed passed, $failed failed, $skipped skipped"
else
	echo "$passed passed, $failed failed"
fi
[ "$failed" -eq 0 ]
