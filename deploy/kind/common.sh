# Settings shared by the kind scripts; each can be overridden from the environment.
# shellcheck shell=bash
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
manifest="$root/deploy/kube-flannel.yml"
CLUSTER_NAME=${CLUSTER_NAME:-flannel-ts}
# The image the manifest names, so the loaded image and the deployed one cannot differ.
IMAGE=${IMAGE:-$(sed -n 's/^ *image: \(ghcr.io\/flannel-ts\/[^ ]*\)$/\1/p' "$manifest" | head -n1)}
KUBECTL=${KUBECTL:-kubectl}
ctx=(--context "kind-$CLUSTER_NAME")
k() { "$KUBECTL" "${ctx[@]}" "$@"; }
say() { printf '%s: %s\n' "$(basename "$0")" "$*" >&2; }
