import { formatAnyCidr } from '../ip/cidr.ts';
import { IP_FAMILIES } from '../ip/cidr.ts';
import { leaseHalf, leaseSubnets, type Lease, type LeaseEventType } from '../subnet/lease.ts';
import type { Logger } from './log.ts';

/*
 * Log lines for the events operators grep for, in upstream flanneld's words, so a runbook
 * written for upstream's logs finds the same lines here. The fields after the message are
 * ours (klog key=value in text mode, JSON keys in json mode).
 */

/** pkg/backend/route_network.go: `Subnet added: <subnet> via <public ip>` / `Subnet removed: <subnet>`, per family. */
export function logLeaseChange(log: Logger, type: LeaseEventType, lease: Lease): void {
  const fields = { node: lease.node ?? '', backend: lease.attrs.backendType === '' ? 'udp' : lease.attrs.backendType };
  for (const family of IP_FAMILIES) {
    const half = leaseHalf(lease, family);
    if (half === undefined) continue;
    const subnet = formatAnyCidr(half.subnet);
    if (type === 'added') log.info(fields, `Subnet added: ${subnet} via ${half.publicIp ?? ''}`);
    else log.info(fields, `Subnet removed: ${subnet}`);
  }
}

/** pkg/subnet/kube/kube.go (AcquireLease): the node's podCIDRs became this node's lease, one line per family. */
export function logLeaseAcquired(log: Logger, lease: Lease): void {
  const cidrs = leaseSubnets(lease).split(',').join(' ');
  for (const family of IP_FAMILIES) {
    const half = leaseHalf(lease, family);
    if (half === undefined) continue;
    const subnet = formatAnyCidr(half.subnet);
    log.info({ subnet, node: lease.node ?? '' }, `Creating the node lease for ${family === 'ipv4' ? 'IPv4' : 'IPv6'}. This is the n.Spec.PodCIDRs: [${cidrs}]`);
  }
}
