/**
 * Reads subnet.env the way flannel's CNI plugin does (`loadFlannelSubnetEnv` in
 * flannel-io/cni-plugin's flannel.go): line by line, split on the first `=`, only the FLANNEL_*
 * keys it knows, no quotes, no whitespace trimming, no `export`. The lab must be exactly as
 * strict, or it would hide a daemon that writes a file the real plugin rejects.
 */
import { networkOf, parseCidr, formatCidr } from '../src/ip/ipv4.ts';
import { formatCidr6, networkOf6, parseCidr6 } from '../src/ip/ipv6.ts';

export interface FlannelSubnetEnv {
  /** FLANNEL_NETWORK entries, de-duplicated, in file order (for example `10.244.0.0/16`). */
  readonly networks: readonly string[];
  /** FLANNEL_SUBNET reduced to its network: `10.244.1.1/24` → `10.244.1.0/24`. */
  readonly subnet?: string;
  readonly ipv6Networks: readonly string[];
  /** FLANNEL_IPV6_SUBNET reduced to its network: `fd00:10:244:1::1/64` → `fd00:10:244:1::/64`. */
  readonly ipv6Subnet?: string;
  readonly mtu: number;
  /** True only if the value is exactly `true`. */
  readonly ipMasq: boolean;
}

export function parseFlannelSubnetEnv(text: string, file = 'subnet.env'): FlannelSubnetEnv {
  const networks: string[] = [];
  const ipv6Networks: string[] = [];
  let subnet: string | undefined;
  let ipv6Subnet: string | undefined;
  let mtu: number | undefined;
  let ipMasq: boolean | undefined;
  for (const line of text.split('\n')) {
    const eq = line.indexOf('=');
    if (eq < 0) continue;
    const key = line.slice(0, eq);
    const value = line.slice(eq + 1);
    switch (key) {
      case 'FLANNEL_NETWORK':
        for (const item of value.split(',')) {
          const net = v4Network(item, file, key);
          if (!networks.includes(net)) networks.push(net);
        }
        break;
      case 'FLANNEL_SUBNET':
        subnet = v4Network(value, file, key);
        break;
      case 'FLANNEL_IPV6_NETWORK':
        for (const item of value.split(',')) {
          const net = v6Network(item, file, key);
          if (!ipv6Networks.includes(net)) ipv6Networks.push(net);
        }
        break;
      case 'FLANNEL_IPV6_SUBNET':
        ipv6Subnet = v6Network(value, file, key);
        break;
      case 'FLANNEL_MTU':
        if (!/^\d+$/.test(value)) throw new Error(`${file}: FLANNEL_MTU=${value} is not an unsigned integer`);
        mtu = Number(value);
        break;
      case 'FLANNEL_IPMASQ':
        ipMasq = value === 'true';
        break;
    }
  }
  const missing: string[] = [];
  if (networks.length === 0 && ipv6Networks.length === 0) missing.push('FLANNEL_NETWORK, FLANNEL_IPV6_NETWORK');
  if (subnet === undefined && ipv6Subnet === undefined) missing.push('FLANNEL_SUBNET, FLANNEL_IPV6_SUBNET');
  if (mtu === undefined) missing.push('FLANNEL_MTU');
  if (ipMasq === undefined) missing.push('FLANNEL_IPMASQ');
  if (missing.length > 0 || mtu === undefined || ipMasq === undefined) {
    throw new Error(`${file} is missing ${missing.join(', ')}`);
  }
  return {
    networks,
    ...(subnet !== undefined ? { subnet } : {}),
    ipv6Networks,
    ...(ipv6Subnet !== undefined ? { ipv6Subnet } : {}),
    mtu,
    ipMasq,
  };
}

function v6Network(value: string, file: string, key: string): string {
  const c = parseCidr6(value);
  if (c === undefined) throw new Error(`${file}: ${key}=${value} is not an IPv6 CIDR`);
  return formatCidr6(networkOf6(c));
}

function v4Network(value: string, file: string, key: string): string {
  const c = parseCidr(value);
  if (c === undefined) throw new Error(`${file}: ${key}=${value} is not an IPv4 CIDR`);
  return formatCidr(networkOf(c));
}
