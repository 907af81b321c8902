import { cidrEqualsAny, type IpCidr } from '../ip/cidr.ts';
import type { NetConf } from '../config/types.ts';

/**
 * The net-conf.json fields that a running daemon cannot change live: the networks (every pod
 * address and the lease depend on them), the subnet sizing, the IP families and the rule engine.
 * Only the Backend section switches live. Returns the names of the fields that differ.
 */
export function restartOnlyChanges(running: NetConf, next: NetConf): string[] {
  const changed: string[] = [];
  if (!sameNetwork(running.network, next.network)) changed.push('Network');
  if (running.subnetLen !== next.subnetLen) changed.push('SubnetLen');
  if (running.subnetMin !== next.subnetMin) changed.push('SubnetMin');
  if (running.subnetMax !== next.subnetMax) changed.push('SubnetMax');
  if (running.enableIPv4 !== next.enableIPv4) changed.push('EnableIPv4');
  if (running.enableIPv6 !== next.enableIPv6) changed.push('EnableIPv6');
  if (!sameNetwork(running.ipv6Network, next.ipv6Network)) changed.push('IPv6Network');
  if (running.ipv6SubnetLen !== next.ipv6SubnetLen) changed.push('IPv6SubnetLen');
  if (running.ipv6SubnetMin !== next.ipv6SubnetMin) changed.push('IPv6SubnetMin');
  if (running.ipv6SubnetMax !== next.ipv6SubnetMax) changed.push('IPv6SubnetMax');
  if (running.enableNFTables !== next.enableNFTables) changed.push('EnableNFTables');
  return changed;
}

function sameNetwork(a: IpCidr | undefined, b: IpCidr | undefined): boolean {
  return a === undefined || b === undefined ? a === b : cidrEqualsAny(a, b);
}
