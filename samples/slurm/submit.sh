#!/bin/sh
# Plan a lode run and submit it to Slurm: a reproject job array of NSHARDS tasks, then a
# package job that starts only when every task succeeded (afterok).
#
#   samples/slurm/submit.sh MANIFEST WORK BUNDLE [NSHARDS]      (NSHARDS default 4)
#
# Environment: LODE (the lode binary, default: lode on PATH), LODE_TILE_ROWS (passed to
# lode plan as --tile-rows), and Slurm's own SBATCH_* input variables (SBATCH_PARTITION,
# SBATCH_ACCOUNT, ...) for both jobs. Prints both job ids. Job logs go to the current
# folder (lode-reproject-ARRAYID_I.out, lode-package-ID.out).
set -eu
if [ $# -lt 3 ] || [ $# -gt 4 ]; then
	echo "usage: $0 MANIFEST WORK BUNDLE [NSHARDS]" >&2
	exit 2
fi
manifest=$1 work=$2 bundle=$3 nshards=${4:-4}
case $nshards in
'' | *[!0-9]* | 0) echo "$0: NSHARDS must be a whole number >= 1, not '$nshards'" >&2; exit 2 ;;
esac
here=$(cd "$(dirname "$0")" && pwd)
LODE=${LODE:-lode}
case $LODE in */*) LODE=$(cd "$(dirname "$LODE")" && pwd)/$(basename "$LODE") ;; esac

set -- plan "$manifest" -w "$work"
if [ -n "${LODE_TILE_ROWS:-}" ]; then set -- "$@" --tile-rows "$LODE_TILE_ROWS"; fi
"$LODE" "$@"

# Absolute paths: the jobs may start in another folder or on another node.
mkdir -p "$(dirname "$bundle")"
LODE_WORK=$(cd "$work" && pwd)
LODE_BUNDLE=$(cd "$(dirname "$bundle")" && pwd)/$(basename "$bundle")
export LODE LODE_WORK LODE_BUNDLE

array_id=$(sbatch --parsable --export=ALL --array="0-$((nshards - 1))" "$here/reproject.sbatch")
array_id=${array_id%%;*}
package_id=$(sbatch --parsable --export=ALL --dependency="afterok:$array_id" "$here/package.sbatch")
package_id=${package_id%%;*}
echo "reproject array job: $array_id (shards 0-$((nshards - 1)) of $nshards)"
echo "package job: $package_id (after every shard succeeded; writes $LODE_BUNDLE)"
echo "progress: $LODE status -w $LODE_WORK    queue: squeue -j $array_id,$package_id"
