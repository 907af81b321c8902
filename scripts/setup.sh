#!/usr/bin/env bash
# Installs what flannel-ts needs to build and test on a Debian machine, from nothing:
# kernel tools for the lab and tests, the CNI reference plugins, Node headers for the addon,
# kubectl (for kustomize),
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
# `kubectl kustomize` renders deploy/kustomize in the tests (Debian's package: kustomize v2
# syntax, which newer kubectl still reads).
command -v kubectl >/dev/null || need+=(kubernetes-client)
command -v g++ >/dev/null || need+=(g++ make)
command -v python3 >/dev/null || need+=(python3)
command -v node >/dev/null || need+=(nodejs npm)
# etcd mode's tests and `flannel-lab up --subnet-mgr etcd` start their own etcd (v3.4+: its JSON
# gateway); the TLS tests make certificates with openssl.
etcd_new=
if ! command -v etcd >/dev/null || ! command -v etcdctl >/dev/null; then
  need+=(etcd-server etcd-client)
  etcd_new=1
fi
command -v openssl >/dev/null || need+=(openssl)
# Headers for the N-API addon (node_api.h, uv.h); any Node major works (ABI-stable).
if [ ! -f /usr/include/node/node_api.h ] && [ ! -f /usr/local/include/node/node_api.h ]; then
  need+=(libnode-dev)
fi

if [ ${#need[@]} -gt 0 ]; then
  echo "setup: installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  # Debian's etcd-server starts and enables its own etcd on 2379; the tests must find that port
  # and the machine as they were. policy-rc.d 101 keeps any service from starting during the
  # install (unless a policy is already in place, as in most containers).
  policy=
  if [ -n "$etcd_new" ] && [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod 755 /usr/sbin/policy-rc.d
    policy=1
  fi
  apt-get install -y -q --no-install-recommends "${need[@]}" || { [ -z "$policy" ] || rm -f /usr/sbin/policy-rc.d; exit 1; }
  [ -z "$policy" ] || rm -f /usr/sbin/policy-rc.d
  if [ -n "$etcd_new" ]; then
    # Installed just now, so nobody relies on the package's service: leave it disabled and stopped.
    if command -v systemctl >/dev/null; then
      systemctl disable etcd.service >/dev/null 2>&1 || true
      systemctl stop etcd.service >/dev/null 2>&1 || true
    elif command -v update-rc.d >/dev/null; then
      update-rc.d etcd disable >/dev/null 2>&1 || true
    fi
  fi
fi
# The lab's pods reach each other through bridges; make sure the kernel module is there.
modprobe br_netfilter 2>/dev/null || true
echo "setup: ok (node $(node --version), $(ip -V))"
