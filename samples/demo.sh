#!/bin/sh
# make demo: generate the synthetic Malaysian sample rasters, run lode on the demo
# manifest, verify the bundle and show what it holds and how to open it.
set -eu
LODE=${1:-build/lode}
TOP=$(cd "$(dirname "$0")/.." && pwd)
OUT="$TOP/build/demo"
mkdir -p "$OUT"
/usr/bin/python3 "$TOP/samples/make_samples.py" "$TOP/samples/generated"
echo
echo "== lode run samples/malaysia.yaml"
"$LODE" run "$TOP/samples/malaysia.yaml" -o "$OUT/malaysia.nc"
echo
echo "== lode verify"
"$LODE" verify "$OUT/malaysia.nc"
echo
echo "== lode ls"
"$LODE" ls "$OUT/malaysia.nc"
echo
echo "== lode metadata (ISO 19139 for MyGDI, FGDC for USGS, STAC), each checked offline, and lode report"
"$LODE" report "$OUT/malaysia.nc" -o "$OUT/malaysia.report.html"
for f in iso19139:xml fgdc:xml stac:json; do
	"$LODE" metadata "$OUT/malaysia.nc" --format "${f%%:*}" -o "$OUT/malaysia.${f%%:*}.${f#*:}"
	"$LODE" metadata --check "$OUT/malaysia.${f%%:*}.${f#*:}"
done
echo
echo "== lode run samples/deposits.yaml (deposit records harmonized: docs/harmonize.md)"
"$LODE" run "$TOP/samples/deposits.yaml" -o "$OUT/deposits.nc"
"$LODE" verify "$OUT/deposits.nc"
"$LODE" ls "$OUT/deposits.nc"
echo
echo "The bundle is $OUT/malaysia.nc. Open it with, for example:"
echo "  gdalinfo NETCDF:\"$OUT/malaysia.nc\":/aeromag_tmi/aeromag_tmi"
echo "  ncdump -h $OUT/malaysia.nc"
echo "  $LODE extract $OUT/malaysia.nc -o $OUT/geotiff"
echo "  $LODE extract $OUT/deposits.nc -o $OUT/deposits    (GeoPackages of the harmonized sites)"
