#!/usr/bin/env bash
# Creates the kind cluster (no default CNI) and adds the CNI "bridge" plugin to every node:
# flannel's CNI plugin delegates to bridge + host-local, and kind's node image ships
# host-local, portmap and loopback but not bridge.
. "$(dirname "$0")/common.sh"
CNI_PLUGINS_VERSION=${CNI_PLUGINS_VERSION:-v1.6.2}
arch=$(uname -m); case "$arch" in x86_64) arch=amd64 ;; aarch64) arch=arm64 ;; esac

if kind get clusters 2>/dev/null | grep -qx "$CLUSTER_NAME"; then
  say "cluster $CLUSTER_NAME exists; keeping it"
else
  kind create cluster --name "$CLUSTER_NAME" --config "$root/deploy/kind/kind-config.yaml"
fi

tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
url="https://github.com/containernetworking/plugins/releases/download/$CNI_PLUGINS_VERSION/cni-plugins-linux-$arch-$CNI_PLUGINS_VERSION.tgz"
say "fetching the CNI bridge plugin from $url"
curl -fsSL "$url" | tar -xz -C "$tmp" ./bridge
for node in $(kind get nodes --name "$CLUSTER_NAME"); do
  docker cp "$tmp/bridge" "$node:/opt/cni/bin/bridge"
done
say "cluster $CLUSTER_NAME is up; nodes stay NotReady until flannel-ts is deployed (deploy.sh)"
