#!/usr/bin/env bash
# Applies deploy/kube-flannel.yml and waits until every flannel-ts pod is ready (which, with
# flannel-ts's /readyz, means every peer's routes are programmed) and every node is Ready.
. "$(dirname "$0")/common.sh"
k apply -f "$manifest"
k -n kube-flannel rollout status daemonset/kube-flannel-ds --timeout=180s
k wait --for=condition=Ready nodes --all --timeout=180s
k -n kube-flannel get pods -o wide
