#!/usr/bin/env bash
# Regenerates the golden facts of the shared CDA corpus:
#   tests/golden/corpus-facts.tsv         verdict and facts per section, every file
#   tests/golden/corpus-facts-sample.tsv  codes and values of every fact, 20 files
#
# These tables are the reference that tests/e2e/test_golden.py holds
# `cdxgw validate --json` to.  They are NOT refreshed by the build or the
# tests: run this script only when a change to parsing, validation,
# mappings or extraction is meant to change what the corpus yields, then
# review `git diff tests/golden/` row by row (every changed count or code
# must be explained by that change) and commit the tables with it.
#
#   tests/golden/regen.sh [CDXGW_BINARY] [CORPUS_DIR]
# defaults: build/default/cdxgw and ../shared/corpus (or $CDX_CORPUS_DIR).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
bin=${1:-$root/build/default/cdxgw}
corpus=${2:-${CDX_CORPUS_DIR:-$root/../shared/corpus}}
if [ ! -x "$bin" ]; then echo "regen.sh: no cdxgw binary at $bin (build first)" >&2; exit 2; fi
if [ ! -d "$corpus/ccda" ]; then echo "regen.sh: no corpus at $corpus/ccda" >&2; exit 2; fi
python3 "$here/corpus_facts.py" "$bin" "$corpus" "$here"
git -C "$root" --no-pager diff --stat -- tests/golden/ || true
