#!/usr/bin/env bash
# The web app's release bundle: ui/dist, served by the `ui` module (`shell serve`, UI_DIR).
#
#   cargo build (profile wasm-release, wasm32-unknown-unknown)
#   -> wasm-bindgen --target web  -> wasm-opt -Oz (npm binaryen)  -> size budget (ui/size-budget.sh)
#   -> Tailwind CSS 4 (ui/style/app.css, minified)  -> content-hashed names under dist/assets/
#   -> a boot module (the CSP forbids inline scripts)  -> dist/index.html from ui/index.html
#   -> ui/public/* copied as is  -> .gz (gzip -9) and .br (brotli 11) siblings of every file
#
# Usage: ui/build.sh [--if-stale]
#   --if-stale   build only when ui/dist is missing or older than one of its inputs (`just dev`)
# Env: CARGO_TARGET_DIR (honoured; cargo's default `target/` otherwise), UI_DIST (default
# ui/dist), UI_WASM_GZIP_BUDGET_KB (see ui/size-budget.sh). Needs `npm ci` in ui/ and
# wasm-bindgen-cli at the version Cargo.lock pins (.ci/ui-tools installs both; ./dev and ./test
# run it).
#
# The new bundle is assembled in a temporary folder and swapped in at the end, so a failed
# build (over budget, say) leaves the previous bundle in place.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
ui="$root/ui"
dist="${UI_DIST:-$ui/dist}"
target="${CARGO_TARGET_DIR:-$root/target}"
bin="$ui/node_modules/.bin"
crate=tessera-ui  # a bin crate: cargo keeps the dash in the file name

# The inputs the bundle is made from: a change to any of them makes it stale. The Rust sources are
# the ones cargo's dep-info lists for the last wasm build (ui/src and the wire types it uses, not
# the server code of the domain crates); without one, the bundle counts as stale.
dep_info="$target/wasm32-unknown-unknown/wasm-release/$crate.d"
inputs() {
  sed 's/^[^:]*: //' "$dep_info" | tr ' ' '\n' | grep -v '^$'
  find "$ui/src" "$ui/style" "$ui/index.html" "$ui/Cargo.toml" "$ui/build.sh" "$ui/size-budget.sh" \
    "$ui/package-lock.json" "$root/Cargo.lock" "$root/Cargo.toml" \
    $( [ -d "$ui/public" ] && echo "$ui/public" ) -type f
}
# Prints the first input newer than the bundle; fails when there is none.
newer_input() {
  local f
  while IFS= read -r f; do
    if [ "$f" -nt "$dist/index.html" ]; then echo "$f"; return 0; fi
  done < <(inputs)
  return 1
}
if [ "${1:-}" = "--if-stale" ]; then
  shift
  # The dep-info must be this checkout's (a shared target folder may hold another clone's).
  if [ ! -f "$dist/index.html" ]; then
    echo "ui/dist has no bundle: building it"
  elif ! grep -q "$ui/src/" "$dep_info" 2>/dev/null; then
    echo "no dep-info of this checkout's wasm build in $target: building the bundle"
  elif changed="$(newer_input)"; then
    echo "${changed#"$root"/} is newer than the bundle: building it"
  else
    echo "ui/dist is up to date"
    exit 0
  fi
fi
[ $# -eq 0 ] || { echo "usage: ui/build.sh [--if-stale]" >&2; exit 2; }

step() { echo "== ui-build: $*"; }
fail() { echo "ui-build: $*" >&2; exit 1; }

# --- tools -------------------------------------------------------------------------------------
want_bindgen="$(grep -A1 '^name = "wasm-bindgen"$' Cargo.lock | sed -n 's/^version = "\(.*\)"$/\1/p')"
[ -n "$want_bindgen" ] || fail "Cargo.lock names no wasm-bindgen version"
have_bindgen="$(wasm-bindgen --version 2>/dev/null | awk '{print $2}' || true)"
if [ "$have_bindgen" != "$want_bindgen" ]; then
  fail "wasm-bindgen $want_bindgen is needed (Cargo.lock), found '${have_bindgen:-none}': run
  cargo install wasm-bindgen-cli --version =$want_bindgen
(without --locked: see TOOLS.md; .ci/ui-tools does this)"
fi
for t in wasm-opt tailwindcss; do
  [ -x "$bin/$t" ] || fail "$bin/$t is missing: run 'npm ci' in ui/ (.ci/ui-tools does this)"
done
[ -f "$ui/style/app.css" ] || fail "ui/style/app.css is missing"
[ -f "$ui/index.html" ] || fail "ui/index.html (the page template) is missing"

work="$(mktemp -d "${TMPDIR:-/tmp}/tessera-ui-build.XXXXXX")"
# The new bundle is assembled next to the old one, so the swap at the end is a rename.
mkdir -p "$(dirname "$dist")"
out="$(dirname "$dist")/.$(basename "$dist").new.$$"
trap 'rm -rf "$work" "$out"' EXIT
mkdir -p "$out/assets" "$work/bindgen"

size() { stat -c %s "$1"; }
gz_size() { gzip -9 -n -c "$1" | wc -c; }
kb() { awk -v b="$1" 'BEGIN { printf "%.1f KB", b / 1024 }'; }
hash8() { sha256sum "$1" | cut -c1-8; }

# --- wasm --------------------------------------------------------------------------------------
step "cargo build -p tessera-ui (wasm32-unknown-unknown, profile wasm-release)"
cargo build -q -p tessera-ui --target wasm32-unknown-unknown --profile wasm-release --locked
raw_wasm="$target/wasm32-unknown-unknown/wasm-release/$crate.wasm"
[ -f "$raw_wasm" ] || fail "cargo wrote no $raw_wasm (is CARGO_TARGET_DIR the one cargo used?)"

step "wasm-bindgen $want_bindgen --target web"
wasm-bindgen --target web --no-typescript --out-dir "$work/bindgen" --out-name tessera "$raw_wasm"
wasm="$work/bindgen/tessera_bg.wasm"
before=$(size "$wasm") before_gz=$(gz_size "$wasm")

step "wasm-opt -Oz ($("$bin/wasm-opt" --version))"
# The features rustc's wasm32 target emits by default; without them wasm-opt refuses the module.
"$bin/wasm-opt" -Oz --enable-bulk-memory --enable-bulk-memory-opt --enable-nontrapping-float-to-int \
  --enable-reference-types --enable-sign-ext --enable-mutable-globals --enable-multivalue \
  -o "$work/opt.wasm" "$wasm"
mv "$work/opt.wasm" "$wasm"
echo "   wasm before wasm-opt: $(kb "$before") raw, $(kb "$before_gz") gzipped"

# --- names with content hashes -----------------------------------------------------------------
# wasm-bindgen's JS imports its snippets (JS the crates ship) from ./snippets/...: they move to
# a folder named by the hash of their content, and the import paths with them, so every file
# under assets/ is immutable under its name.
js="$work/bindgen/tessera.js"
if [ -d "$work/bindgen/snippets" ]; then
  snip_hash="$(cd "$work/bindgen/snippets" && find . -type f -print0 | sort -z | xargs -0 sha256sum | sha256sum | cut -c1-8)"
  mv "$work/bindgen/snippets" "$out/assets/snippets-$snip_hash"
  sed -i "s#\(['\"]\)\./snippets/#\1./snippets-$snip_hash/#g" "$js"
  # A snippet importing another one does so relatively, inside the same folder: nothing to patch.
  ! grep -q "['\"]\./snippets/" "$js" || fail "a ./snippets/ import was left unpatched in $js"
fi
wasm_name="tessera-$(hash8 "$wasm")_bg.wasm"
cp "$wasm" "$out/assets/$wasm_name"
js_name="tessera-$(hash8 "$js").js"
cp "$js" "$out/assets/$js_name"

# The boot module: loads the wasm by its hashed URL (wasm-bindgen's default is the unhashed name
# next to the JS). An external file, because the CSP allows no inline script.
cat > "$work/boot.js" <<EOF
// Generated by ui/build.sh: starts the web app (see ui/README.md).
import init from "./$js_name";

init({ module_or_path: new URL("./$wasm_name", import.meta.url) });
EOF
boot_name="boot-$(hash8 "$work/boot.js").js"
cp "$work/boot.js" "$out/assets/$boot_name"

# --- CSS ---------------------------------------------------------------------------------------
step "tailwindcss ($("$bin/tailwindcss" --help 2>/dev/null | sed -n 's/.*tailwindcss \(v[0-9.]*\).*/\1/p' | head -n1))"
"$bin/tailwindcss" --input "$ui/style/app.css" --output "$work/app.css" --minify 2> "$work/tailwind.log" \
  || { cat "$work/tailwind.log" >&2; fail "tailwindcss failed"; }
css_name="app-$(hash8 "$work/app.css").css"
cp "$work/app.css" "$out/assets/$css_name"

# --- index.html --------------------------------------------------------------------------------
# The template's placeholders: {{CSS}} {{BOOT}} {{JS}} {{WASM}} (absolute paths, so client-side
# routes such as /tasks/abc load the same files). %TESSERA_API_BASE% stays: the server fills it.
sed -e "s#{{CSS}}#/assets/$css_name#g" -e "s#{{BOOT}}#/assets/$boot_name#g" \
  -e "s#{{JS}}#/assets/$js_name#g" -e "s#{{WASM}}#/assets/$wasm_name#g" \
  "$ui/index.html" > "$out/index.html"
if grep -o '{{[A-Z_]*}}' "$out/index.html" | grep -q .; then
  fail "ui/index.html has an unknown placeholder: $(grep -o '{{[A-Z_]*}}' "$out/index.html" | sort -u | tr '\n' ' ')"
fi
grep -q "/assets/$boot_name" "$out/index.html" || fail "ui/index.html does not load {{BOOT}}"

if [ -d "$ui/public" ]; then
  cp -R "$ui/public/." "$out/"
fi

# --- budget, precompression, swap --------------------------------------------------------------
step "sizes"
"$ui/size-budget.sh" "$out/assets/$wasm_name"
echo "   js   $js_name: $(kb "$(size "$out/assets/$js_name")") raw, $(kb "$(gz_size "$out/assets/$js_name")") gzipped"
echo "   css  $css_name: $(kb "$(size "$out/assets/$css_name")") raw, $(kb "$(gz_size "$out/assets/$css_name")") gzipped"

step "precompress (.gz, .br)"
# gzip -n: no name or time in the header, so the same input gives the same bytes. Brotli comes
# with Node's zlib: no extra tool.
find "$out" -type f \( -name '*.html' -o -name '*.js' -o -name '*.css' -o -name '*.wasm' \
  -o -name '*.svg' -o -name '*.json' -o -name '*.txt' -o -name '*.ico' -o -name '*.webmanifest' \) \
  -print0 | xargs -0 -r -n1 gzip -9 -n -k
find "$out" -type f -not -name '*.gz' -print0 | node -e '
  const fs = require("fs"), zlib = require("zlib");
  const files = fs.readFileSync(0, "utf8").split("\0").filter(Boolean);
  for (const f of files) {
    if (!fs.existsSync(f + ".gz")) continue; // only what gzip took (text and wasm)
    const br = zlib.brotliCompressSync(fs.readFileSync(f), {
      params: { [zlib.constants.BROTLI_PARAM_QUALITY]: 11, [zlib.constants.BROTLI_PARAM_SIZE_HINT]: fs.statSync(f).size },
    });
    fs.writeFileSync(f + ".br", br);
  }'

old="$(dirname "$dist")/.$(basename "$dist").old.$$"
if [ -d "$dist" ]; then mv "$dist" "$old"; fi
mv "$out" "$dist"
rm -rf "$old"
step "done: $dist ($(find "$dist" -type f | wc -l) files)"
