/**
 * Upstream's masquerade and forward rules as iptables/ip6tables print them (e2e/rules.go checks
 * the same lines; pkg/trafficmngr/iptables/iptables.go makes them): one source for the traffic
 * tests and the lab tests, for both families.
 */

/** The jump and the FLANNEL-POSTRTG rules, `-A …` lines in order; `multicast` is 224.0.0.0/4 or ff00::/8. */
export function masqRuleLines(pod: string, cluster: string, multicast: string, randomFully = true): string[] {
  const rf = randomFully ? ' --random-fully' : '';
  return [
    '-A POSTROUTING -m comment --comment "flanneld masq" -j FLANNEL-POSTRTG',
    '-A FLANNEL-POSTRTG -m mark --mark 0x4000/0x4000 -m comment --comment "flanneld masq" -j RETURN',
    `-A FLANNEL-POSTRTG -s ${pod} -d ${cluster} -m comment --comment "flanneld masq" -j RETURN`,
    `-A FLANNEL-POSTRTG -s ${cluster} -d ${pod} -m comment --comment "flanneld masq" -j RETURN`,
    `-A FLANNEL-POSTRTG ! -s ${cluster} -d ${pod} -m comment --comment "flanneld masq" -j RETURN`,
    `-A FLANNEL-POSTRTG -s ${cluster} ! -d ${multicast} -m comment --comment "flanneld masq" -j MASQUERADE${rf}`,
    `-A FLANNEL-POSTRTG ! -s ${cluster} -d ${cluster} -m comment --comment "flanneld masq" -j MASQUERADE${rf}`,
  ];
}

/** The jump and the FLANNEL-FWD rules. */
export function forwardRuleLines(cluster: string): string[] {
  return [
    '-A FORWARD -m comment --comment "flanneld forward" -j FLANNEL-FWD',
    `-A FLANNEL-FWD -s ${cluster} -m comment --comment "flanneld forward" -j ACCEPT`,
    `-A FLANNEL-FWD -d ${cluster} -m comment --comment "flanneld forward" -j ACCEPT`,
  ];
}
