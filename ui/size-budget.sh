#!/usr/bin/env bash
# The web app's size budget: prints a wasm file's size (raw and gzipped) and fails when the
# gzipped size is over the budget. ui/build.sh runs it on the optimised wasm before it replaces
# ui/dist; `.ci/ui-e2e` checks that it does fail over the budget.
#
# Usage: ui/size-budget.sh FILE.wasm
# Env: UI_WASM_GZIP_BUDGET_KB overrides the budget (for that self-test, or to try a change).
set -euo pipefail

# The budget: gzipped wasm, in KB (1 KB = 1024 bytes). ui/README.md says why this number.
WASM_GZIP_BUDGET_KB=400

budget_kb="${UI_WASM_GZIP_BUDGET_KB:-$WASM_GZIP_BUDGET_KB}"
file="${1:?usage: ui/size-budget.sh FILE.wasm}"
raw=$(stat -c %s "$file")
gz=$(gzip -9 -n -c "$file" | wc -c)
kb() { awk -v b="$1" 'BEGIN { printf "%.1f KB", b / 1024 }'; }
echo "   wasm $(basename "$file"): $(kb "$raw") raw, $(kb "$gz") gzipped (budget $budget_kb KB gzipped)"
if [ "$gz" -gt $(( budget_kb * 1024 )) ]; then
  echo "ui-build: the gzipped wasm is $(kb "$gz"), over the budget of $budget_kb KB (ui/size-budget.sh; see ui/README.md)" >&2
  exit 1
fi
