#!/usr/bin/env bash
# Switches the backend live: rewrites Backend in the ConfigMap's net-conf.json (keeping the
# other fields), then waits until every node announces the new backend type.
#   deploy/kind/switch-backend.sh host-gw|vxlan|udp [--no-wait]
# flannel-ts picks the change up from the mounted file (the kubelet refreshes ConfigMap
# volumes within about a minute) without a restart. udp needs /dev/net/tun: the DaemonSet
# must run privileged, which this script sets (that restarts the pods, as for upstream).
. "$(dirname "$0")/common.sh"
type=${1:?usage: switch-backend.sh host-gw|vxlan|udp [--no-wait]}
case "$type" in vxlan|host-gw|udp) ;; *) say "unknown backend '$type' (vxlan, host-gw or udp)"; exit 2 ;; esac
node_bin="$root/node_modules/.bin/node"; [ -x "$node_bin" ] || node_bin=node

current=$(k -n kube-flannel get configmap kube-flannel-cfg -o jsonpath='{.data.net-conf\.json}')
# Build the JSON patch with node: the new net-conf.json text must be escaped as a JSON string.
patch=$(NETCONF="$current" TYPE="$type" "$node_bin" -e '
  const conf = JSON.parse(process.env.NETCONF);
  conf.Backend = { Type: process.env.TYPE };
  const text = JSON.stringify(conf, null, 2) + "\n";
  process.stdout.write(JSON.stringify([{ op: "replace", path: "/data/net-conf.json", value: text }]));
')
k -n kube-flannel patch configmap kube-flannel-cfg --type json -p "$patch" >/dev/null
say "net-conf.json Backend.Type is now $type"

if [ "$type" = udp ]; then
  k -n kube-flannel patch daemonset kube-flannel-ds --type json \
    -p '[{"op":"replace","path":"/spec/template/spec/containers/0/securityContext/privileged","value":true}]' >/dev/null
  say "set the DaemonSet privileged (udp needs /dev/net/tun)"
fi
[ "${2:-}" = --no-wait ] && exit 0

deadline=$((SECONDS + ${SWITCH_TIMEOUT:-180}))
while :; do
  types=$(k get nodes -o jsonpath='{range .items[*]}{.metadata.annotations.flannel\.alpha\.coreos\.com/backend-type}{"\n"}{end}' | sort -u)
  [ "$types" = "$type" ] && break
  [ "$SECONDS" -lt "$deadline" ] || { say "timed out: nodes announce backend types: $(echo $types)"; exit 1; }
  sleep 3
done
say "every node announces backend $type"
