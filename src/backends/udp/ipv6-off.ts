import { setSysctl, sysctlPath } from '../sysctl.ts';

/** net.ipv6.conf.<dev>.disable_ipv6, for the network namespace of this process. */
export function disableIpv6Path(dev: string): string {
  return sysctlPath(`net/ipv6/conf/${dev}/disable_ipv6`);
}

/**
 * Turns IPv6 off on a device by writing its sysctl file (src/ never spawns sysctl). flannel0
 * carries only IPv4, but with IPv6 on the kernel gives it a link-local address and sends
 * router solicitations and MLD reports into the TUN, which the forwarder can only drop.
 *
 * Returns 'off' when IPv6 is off afterwards (also when the kernel has no IPv6 at all: the file
 * is then absent), or the errno code of the failed write (EROFS in a container with a
 * read-only /proc/sys, EACCES without privilege); the forwarder then counts those packets as
 * dropTunNotIpv4.
 */
export function disableIpv6(dev: string, path: string = disableIpv6Path(dev)): 'off' | string {
  const r = setSysctl(`net/ipv6/conf/${dev}/disable_ipv6`, '1', path);
  return r === 'ok' || r === 'absent' ? 'off' : r;
}
