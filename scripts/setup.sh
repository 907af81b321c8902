#!/usr/bin/env bash
# Installs what flannel-ts needs to build and test on a Debian machine, from nothing:
# kernel tools for the lab and tests, the CNI reference plugins, Node headers for the addon,
# and a Node new enough to run npm (Node 24 itself then comes from the npm registry).
# Idempotent: installs only what is missing. Needs root.
set -euo pipefail

need=()
command -v ip >/dev/null || need+=(iproute2)
command -v iptables-restore >/dev/null || need+=(iptables)
command -v nft >/dev/null || need+=(nftables)
command -v iperf3 >/dev/null || need+=(iperf3)
command -v curl >/dev/null || need+=(curl)
# The lab's connectivity matrix and tests ping between pod namespaces.
command -v ping >/dev/null || need+=(iputils-ping)
# Tests read flannel.1's checksum offload the way operators do (ethtool -k).
command -v ethtool >/dev/null || need+=(ethtool)
[ -x /usr/lib/cni/bridge ] || need+=(containernetworking-plugins)
command -v g++ >/dev/null || need+=(g++ make)
command -v python3 >/dev/null || need+=(python3)
command -v node >/dev/null || need+=(nodejs npm)
# Headers for the N-API addon (node_api.h, uv.h); any Node major works (ABI-stable).
if [ ! -f /usr/include/node/node_api.h ] && [ ! -f /usr/local/include/node/node_api.h ]; then
  need+=(libnode-dev)
fi

if [ ${#need[@]} -gt 0 ]; then
  echo "setup: installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${need[@]}"
fi
# The lab's pods reach each other through bridges; make sure the kernel module is there.
modprobe br_netfilter 2>/dev/null || true
echo "setup: ok (node $(node --version), $(ip -V))"
