#!/usr/bin/env bash
# Fails if bpho_lib/ is not what nbdev-export makes of nbs/, or if a notebook is not clean (nbdev-clean).
# Works on a copy, so the work tree is never touched.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
bin="$top/.venv/bin"
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
cp -r "$top/nbs" "$top/pyproject.toml" "$top/settings.ini" "$top/bpho_lib" "$tmp/"
(cd "$tmp" && "$bin/nbdev-export" && "$bin/nbdev-clean")
status=0
if ! diff -r -x __pycache__ "$top/bpho_lib" "$tmp/bpho_lib" >"$tmp/lib.diff"; then
  echo "bpho_lib/ differs from what nbdev-export makes of nbs/: edit the notebooks, run 'make export', commit both." >&2
  head -40 "$tmp/lib.diff" >&2; status=1
fi
if ! diff -r "$top/nbs" "$tmp/nbs" >"$tmp/nbs.diff"; then
  echo "Notebooks in nbs/ are not clean: run 'make export' (nbdev-clean) and commit them." >&2
  head -20 "$tmp/nbs.diff" >&2; status=1
fi
[ $status -eq 0 ] && echo "bpho_lib/ in sync with nbs/; notebooks clean."
exit $status
