#!/usr/bin/env bash
# Starts one pod on each of two different worker nodes and has each ping the other's pod IP.
# Exits non-zero when either direction fails. Cleans up its pods on exit.
. "$(dirname "$0")/common.sh"
ns=${TEST_NAMESPACE:-flannel-ts-test}
image=${TEST_IMAGE:-busybox:1.36}
mapfile -t workers < <(k get nodes -l '!node-role.kubernetes.io/control-plane' -o jsonpath='{range .items[*]}{.metadata.name}{"\n"}{end}')
[ "${#workers[@]}" -ge 2 ] || { say "need two worker nodes, found ${#workers[@]}"; exit 1; }

k create namespace "$ns" --dry-run=client -o yaml | k apply -f - >/dev/null
trap 'k delete namespace "$ns" --wait=false >/dev/null 2>&1 || true' EXIT
for i in 0 1; do
  k -n "$ns" delete pod "ping-$i" --ignore-not-found --wait=true >/dev/null
  k -n "$ns" run "ping-$i" --image="$image" --restart=Never \
    --overrides="{\"apiVersion\":\"v1\",\"spec\":{\"nodeName\":\"${workers[$i]}\"}}" -- sleep 3600 >/dev/null
done
k -n "$ns" wait --for=condition=Ready pod/ping-0 pod/ping-1 --timeout=120s >/dev/null

ip0=$(k -n "$ns" get pod ping-0 -o jsonpath='{.status.podIP}')
ip1=$(k -n "$ns" get pod ping-1 -o jsonpath='{.status.podIP}')
fail=0
check() { # from-pod to-ip
  if k -n "$ns" exec "$1" -- ping -c 3 -W 2 "$2" >/dev/null; then
    say "ok   $1 (${workers[${1#ping-}]}) -> $2"
  else
    say "FAIL $1 (${workers[${1#ping-}]}) -> $2"; fail=1
  fi
}
check ping-0 "$ip1"
check ping-1 "$ip0"
exit "$fail"
