#!/usr/bin/env bash
# Builds the files of the flannel-ts container image into a directory, the same way the
# Dockerfile's build stage does, so it runs (and is tested) on a machine without Docker.
#
#   scripts/build-image.sh --out dist/image [--entry src/cli/flanneld.ts] [--rebuild-native]
#
# Produces, under <out>:
#   opt/bin/flanneld                 launcher: runs the bundle with node (ENTRYPOINT)
#   opt/bin/install-conf             launcher: atomic CNI config copy (install-cni init container)
#   opt/flannel-ts/flanneld.mjs      esbuild bundle of the entry point and every dependency
#   opt/flannel-ts/install-conf.mjs  esbuild bundle of src/deploy/install-conf-main.ts
#   opt/flannel-ts/flannel_native.node  the N-API addon, beside the bundle where
#                                    src/native/load.ts looks for it
#   opt/flannel-ts/LICENSE, THIRD-PARTY-LICENSES  ours, and every bundled package's licence text
#   debug/                           source maps and esbuild metafiles (not in the image)
# Needs node_modules (npm ci); builds the addon when it is missing.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
out=""
entry="${FLANNEL_ENTRY:-src/cli/flanneld.ts}"
rebuild_native=false
while [ $# -gt 0 ]; do
  case "$1" in
    --out) out="${2:?--out needs a directory}"; shift 2 ;;
    --out=*) out="${1#--out=}"; shift ;;
    --entry) entry="${2:?--entry needs a file}"; shift 2 ;;
    --entry=*) entry="${1#--entry=}"; shift ;;
    --rebuild-native) rebuild_native=true; shift ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    *) echo "build-image.sh: unknown argument '$1' (try --help)" >&2; exit 2 ;;
  esac
done
[ -n "$out" ] || { echo "build-image.sh: --out <dir> is required" >&2; exit 2; }
cd "$root"
[ -f "$entry" ] || { echo "build-image.sh: entry point $entry does not exist (set --entry or FLANNEL_ENTRY)" >&2; exit 1; }
esbuild="$root/node_modules/.bin/esbuild"
node="$root/node_modules/.bin/node"
[ -x "$esbuild" ] && [ -x "$node" ] || { echo "build-image.sh: node_modules is incomplete; run 'npm ci' first" >&2; exit 1; }

addon="$root/native/build/Release/flannel_native.node"
if $rebuild_native || [ ! -f "$addon" ]; then
  echo "build-image.sh: building the native addon"
  "$node" native/build.mjs
fi

lib="$out/opt/flannel-ts"
bin="$out/opt/bin"
rm -rf "$lib" "$bin"
mkdir -p "$lib" "$bin"

# ESM bundle for Node 24, every dependency inside; the options and why are in scripts/bundle.mjs.
# Source maps and metafiles go to <out>/debug, which the Dockerfile does not copy: the runtime
# image carries no source maps (copy them beside the bundle to debug with --enable-source-maps).
debug="$out/debug"
rm -rf "$debug"
mkdir -p "$debug"
bundle() {
  "$node" "$root/scripts/bundle.mjs" "$1" "$2" "$debug/$(basename "$2").meta.json"
  (cd "$lib" && find . -name '*.map' -print0 | while IFS= read -r -d '' m; do
    mkdir -p "$debug/$(dirname "$m")" && mv "$m" "$debug/$m"
  done)
}
bundle "$entry" "$lib/flanneld.mjs"
bundle src/deploy/install-conf-main.ts "$lib/install-conf.mjs"
cp "$addon" "$lib/flannel_native.node"
# Our licence, and the licence text of every npm package inside the bundles (from the metafiles).
cp "$root/LICENSE" "$lib/LICENSE"
"$node" "$root/scripts/third-party-licenses.mjs" "$lib/THIRD-PARTY-LICENSES" "$debug"/*.meta.json

# The launchers find the bundle relative to themselves, so the tree works wherever it is
# unpacked; FLANNEL_NODE picks another node binary (tests use the project's Node 24).
# No --enable-source-maps: parsing the map costs ~0.4 s and ~28 MB RSS at every start
# (bench/daemon-footprint.ts); the bundle is not minified, so stack traces still name our
# functions, and NODE_OPTIONS=--enable-source-maps maps them to src/ when debugging.
# V8 flags for the long-running daemon (measured with 5000 peers, RSS at idle): a 1 MiB
# semi-space instead of 16 MiB keeps the young generation from growing to ~50 MiB during the
# initial list, and --optimize-for-size makes the old generation grow and get collected for
# size; together ~150 → ~105 MiB RSS, start-up unchanged within noise. FLANNEL_NODE_FLAGS
# replaces them (empty: none).
launcher() {
  cat > "$bin/$1" <<LAUNCHER
#!/bin/sh
# $1 of flannel-ts: runs the bundle with Node.js (24 or newer).
flags='$3'
exec "\${FLANNEL_NODE:-node}" \${FLANNEL_NODE_FLAGS-\$flags} "\$(dirname "\$0")/../flannel-ts/$2" "\$@"
LAUNCHER
  chmod 0755 "$bin/$1"
}
launcher flanneld flanneld.mjs '--max-semi-space-size=1 --optimize-for-size'
launcher install-conf install-conf.mjs ''

echo "build-image.sh: built $(cd "$out" && find opt -type f | sort | tr '\n' ' ')"
