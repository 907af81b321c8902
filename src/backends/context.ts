import type { Logger } from '../observe/log.ts';
import type { NetlinkChange, NetlinkHandle } from '../netlink/types.ts';
import type { StoredNodeInfo } from '../subnet/manager.ts';
import type { ExternalInterface, Networks } from './backend.ts';

/** A running netlink monitor (link, addr, route and neigh groups) in the backend's namespace. */
export interface DriftMonitor {
  close(): void;
}

/**
 * Opens a monitor: `onChange` per notification, `onOverflow` when the kernel dropped some
 * (ENOBUFS) and the listener must assume anything changed.
 */
export type OpenDriftMonitor = (onChange: (c: NetlinkChange) => void, onOverflow: () => void) => DriftMonitor;

/**
 * What every kernel backend is built from (createBackend's second argument). Its networks
 * (net-conf.json's Network, IPv6Network) say which families are enabled, and bound what the
 * backend owns on the external interface in each.
 */
export interface BackendContext extends Networks {
  readonly nl: NetlinkHandle;
  readonly ext: ExternalInterface;
  /** The node's own stored hints: vtepMac(V6) keep flannel.N's (flannel-v6.N's) MAC across re-creation. */
  readonly stored: StoredNodeInfo;
  readonly log: Logger;
  /** Drift notifications; absent = no monitor (the periodic resync still repairs). */
  readonly openMonitor?: OpenDriftMonitor;
  /** vxlan: tx checksum offload to keep on flannel.N (--vxlan-csum-offload); absent = as the kernel made it. */
  readonly txChecksum?: 'on' | 'off';
}
