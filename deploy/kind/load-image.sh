#!/usr/bin/env bash
# Builds the flannel-ts image from this checkout and loads it into the kind nodes.
# The name is the manifest's (a placeholder registry); kind never pulls it, the nodes
# already have it. Set SKIP_BUILD=1 to load an image built elsewhere.
. "$(dirname "$0")/common.sh"
if [ "${SKIP_BUILD:-0}" != 1 ]; then
  docker build -t "$IMAGE" "$root"
fi
kind load docker-image "$IMAGE" --name "$CLUSTER_NAME"
say "loaded $IMAGE into $CLUSTER_NAME"
