import { formatCidr } from '../ip/ipv4.ts';
import type { Lease, LeaseEventType } from '../subnet/lease.ts';
import type { Logger } from './log.ts';

/*
 * Log lines for the events operators grep for, in upstream flanneld's words, so a runbook
 * written for upstream's logs finds the same lines here. The fields after the message are
 * ours (klog key=value in text mode, JSON keys in json mode).
 */

/** pkg/backend/route_network.go: `Subnet added: <subnet> via <public ip>` / `Subnet removed: <subnet>`. */
export function logLeaseChange(log: Logger, type: LeaseEventType, lease: Lease): void {
  const subnet = formatCidr(lease.subnet);
  const fields = { node: lease.node ?? '', backend: lease.attrs.backendType === '' ? 'udp' : lease.attrs.backendType };
  if (type === 'added') log.info(fields, `Subnet added: ${subnet} via ${lease.attrs.publicIp}`);
  else log.info(fields, `Subnet removed: ${subnet}`);
}

/** pkg/subnet/kube/kube.go (AcquireLease): the node's podCIDR became this node's lease. */
export function logLeaseAcquired(log: Logger, lease: Lease): void {
  const subnet = formatCidr(lease.subnet);
  log.info({ subnet, node: lease.node ?? '' }, `Creating the node lease for IPv4. This is the n.Spec.PodCIDRs: [${subnet}]`);
}
